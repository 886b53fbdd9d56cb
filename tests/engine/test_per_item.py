"""List parameters and per-item rules and effects: one call books several travellers on several
flights, paid from several payment methods, and a cancellation refunds each payment."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scaleenv_mcp.engine import execute, seed_state
from scaleenv_mcp.engine.state import State
from scaleenv_mcp.spec import BlueprintError, parse_blueprint
from scaleenv_mcp.spec.model import DomainSpec

from ..conftest import ROOT

BLUEPRINT = """
name: trips
title: Trips
description: A tiny travel desk to exercise list parameters and per-item effects.
policy: Book only flights that are open; pay gift cards first, then the card. Refund each payment on cancellation.
clock: "2026-05-04T08:00:00"
entities:
  customer:
    id_prefix: CUS
    count: 3
    fields:
      name: {type: string, sample: person_name}
  method:
    id_prefix: PM
    count: 0
    rows:
      - {customer_id: CUS-0001, kind: card, balance: null}
      - {customer_id: CUS-0001, kind: gift_card, balance: 100}
      - {customer_id: CUS-0002, kind: card, balance: null}
    fields:
      customer_id: {type: ref, ref: customer}
      kind: {type: enum, values: [card, gift_card]}
      balance: {type: money, nullable: true, min: 0, applies_when: "kind == 'gift_card'"}
  flight:
    id_prefix: FLT
    count: 0
    rows:
      - {number: QK1, seats: 5, price: 120, status: scheduled}
      - {number: QK2, seats: 1, price: 80, status: scheduled}
      - {number: QK3, seats: 9, price: 50, status: cancelled}
    fields:
      number: {type: string, unique: true}
      seats: {type: int, min: 0}
      price: {type: money, min: 0}
      status: {type: enum, values: [scheduled, cancelled]}
  booking:
    id_prefix: BKG
    count: 0
    fields:
      customer_id: {type: ref, ref: customer}
      total: {type: money, min: 0}
      travellers: {type: int, min: 1}
      status: {type: enum, values: [confirmed, cancelled]}
  segment:
    id_prefix: SEG
    count: 0
    fields:
      booking_id: {type: ref, ref: booking}
      flight_id: {type: ref, ref: flight}
  traveller:
    id_prefix: TRV
    count: 0
    fields:
      booking_id: {type: ref, ref: booking}
      first_name: {type: string}
      last_name: {type: string}
      date_of_birth: {type: date, nullable: true}
  payment:
    id_prefix: PAY
    count: 0
    fields:
      booking_id: {type: ref, ref: booking}
      method_id: {type: ref, ref: method}
      amount: {type: money}
      kind: {type: enum, values: [charge, refund]}
tools:
  book_trip:
    description: Book several travellers on several flights, paid from several payment methods.
    params:
      customer_id: {type: ref, ref: customer}
      flight_ids: {type: list, items: {type: ref, ref: flight}, max_items: 4}
      travellers:
        type: list
        max_items: 5
        fields:
          first_name: {type: string, max_length: 40}
          last_name: {type: string, max_length: 40}
          date_of_birth: {type: date, required: false}
      method_ids: {type: list, items: {type: ref, ref: method}, max_items: 3}
    let:
      fare: "total('flight', 'price', id__in=flight_ids) * len(travellers)"
    requires:
      - {check: "count('flight', id__in=flight_ids) == len(flight_ids)", error: "A flight is listed twice."}
      - check: "flight.status == 'scheduled' and flight.seats >= len(travellers)"
        error: "Every flight must be open with a seat for each traveller."
        for_each: flight_ids
        as: flight
      - check: "method.customer_id == customer.id"
        error: "Pay only with your own payment methods."
        for_each: method_ids
        as: method
      - {check: "exists('method', id__in=method_ids, kind='card') or total('method', 'balance', id__in=method_ids) >= fare", error: "Not enough to pay."}
    effects:
      - create: booking
        values: {customer_id: customer.id, total: fare, travellers: len(travellers), status: "'confirmed'"}
      - for_each: flight_ids
        as: flight
        do:
          - create: segment
            values: {booking_id: booking.id, flight_id: flight.id}
          - "flight.seats -= len(travellers)"
      - for_each: travellers
        as: person
        do:
          - create: traveller
            values: {booking_id: booking.id, first_name: person.first_name, last_name: person.last_name, date_of_birth: person.date_of_birth}
      - for_each: method_ids
        as: method
        when: "method.kind == 'gift_card' and booking.total > total('payment', 'amount', booking_id=booking.id)"
        do:
          - create: payment
            values: {booking_id: booking.id, method_id: method.id, kind: "'charge'", amount: "min(method.balance, booking.total - total('payment', 'amount', booking_id=booking.id))"}
          - "method.balance -= payment.amount"
      - for_each: method_ids
        as: method
        when: "method.kind == 'card' and booking.total > total('payment', 'amount', booking_id=booking.id)"
        do:
          - create: payment
            values: {booking_id: booking.id, method_id: method.id, kind: "'charge'", amount: "booking.total - total('payment', 'amount', booking_id=booking.id)"}
    returns: booking
  release_seats:
    description: Give a seat back on each flight listed (a flight listed twice gets two).
    params:
      customer_id: {type: ref, ref: customer}
      flight_ids: {type: list, items: {type: ref, ref: flight}, max_items: 4}
    effects:
      - for_each: flight_ids
        as: flight
        do:
          - "flight.seats += 1"
  cancel_booking:
    description: Cancel a booking; every payment goes back to the method it came from.
    params:
      booking_id: {type: ref, ref: booking}
    requires:
      - {check: "booking.status == 'confirmed'", error: "Already cancelled."}
    effects:
      - "booking.status = 'cancelled'"
      - for_each: {entity: payment, by: {booking_id: booking.id, kind: "'charge'"}}
        as: charge
        bind: {method: charge.method_id}
        do:
          - create: payment
            as: refund
            values: {booking_id: booking.id, method_id: method.id, kind: "'refund'", amount: charge.amount}
      - for_each: {entity: payment, by: {booking_id: booking.id, kind: "'charge'"}}
        as: charge
        bind: {method: charge.method_id}
        when: "method.kind == 'gift_card'"
        do:
          - "method.balance += charge.amount"
      - for_each: {entity: segment, by: {booking_id: booking.id}}
        as: segment
        bind: {flight: segment.flight_id}
        do:
          - "flight.seats += booking.travellers"
"""


@pytest.fixture(scope="module")
def trips() -> DomainSpec:
    return parse_blueprint(yaml.safe_load(BLUEPRINT))


def _rows(state: State, entity: str, **where: Any) -> list[dict[str, Any]]:
    return state.find(entity, where)


ANNA = {"first_name": "Anna", "last_name": "Berg", "date_of_birth": "1990-02-03"}
OLE = {"first_name": "Ole", "last_name": "Berg"}


def test_one_call_books_every_traveller_on_every_flight_and_splits_the_payment(trips: DomainSpec) -> None:
    state = seed_state(trips)
    args = {"customer_id": "CUS-0001", "flight_ids": ["FLT-0001", "FLT-0002"], "travellers": [ANNA], "method_ids": ["PM-0002", "PM-0001"]}
    result = execute(state, "book_trip", args)
    assert result.ok, result.error
    booking = result.data
    assert booking is not None and booking["total"] == 200 and booking["travellers"] == 1
    assert sorted(s["flight_id"] for s in _rows(state, "segment", booking_id=booking["id"])) == ["FLT-0001", "FLT-0002"]
    assert [t["first_name"] for t in _rows(state, "traveller", booking_id=booking["id"])] == ["Anna"]
    charges = {p["method_id"]: p["amount"] for p in _rows(state, "payment", booking_id=booking["id"])}
    assert charges == {"PM-0002": 100, "PM-0001": 100}  # the gift card first, the rest on the card
    assert state.get("method", "PM-0002")["balance"] == 0
    assert state.get("flight", "FLT-0001")["seats"] == 4 and state.get("flight", "FLT-0002")["seats"] == 0


def test_an_object_item_leaves_an_optional_field_empty(trips: DomainSpec) -> None:
    state = seed_state(trips)
    args = {"customer_id": "CUS-0001", "flight_ids": ["FLT-0001"], "travellers": [ANNA, OLE], "method_ids": ["PM-0001"]}
    result = execute(state, "book_trip", args)
    assert result.ok and result.data is not None and result.data["total"] == 240
    ole = _rows(state, "traveller", booking_id=result.data["id"], first_name="Ole")
    assert ole and ole[0]["date_of_birth"] is None


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"flight_ids": []}, "invalid_arguments", "flight_ids"),
        ({"flight_ids": ["FLT-0001"] * 5}, "invalid_arguments", "flight_ids"),
        ({"travellers": [{"first_name": "Anna"}]}, "invalid_arguments", "travellers[0]: missing required field 'last_name'"),
        ({"travellers": [{**ANNA, "seat": "1A"}]}, "invalid_arguments", "travellers[0]: Additional properties are not allowed ('seat'"),
        ({"travellers": [{**ANNA, "date_of_birth": "1990-02-30"}]}, "invalid_arguments", "travellers[0].date_of_birth"),
        ({"flight_ids": "FLT-0001"}, "invalid_arguments", "flight_ids"),
        ({"flight_ids": ["FLT-0001", "FLT-0999"]}, "not_found", "flight_ids: no flight with id 'FLT-0999'"),
        ({"flight_ids": ["FLT-0001", "FLT-0001"]}, "precondition_failed", "A flight is listed twice."),
        ({"flight_ids": ["FLT-0003"]}, "precondition_failed", "Every flight must be open"),
        ({"flight_ids": ["FLT-0002"], "travellers": [ANNA, OLE]}, "precondition_failed", "Every flight must be open"),
        ({"method_ids": ["PM-0003"]}, "precondition_failed", "Pay only with your own payment methods."),
        ({"method_ids": ["PM-0002"], "flight_ids": ["FLT-0001"]}, "precondition_failed", "Not enough to pay."),
    ],
)
def test_a_bad_list_fails_with_a_clear_error_and_changes_nothing(trips: DomainSpec, change: dict[str, Any], code: str, message: str) -> None:
    state = seed_state(trips)
    before = state.snapshot()
    args = {"customer_id": "CUS-0001", "flight_ids": ["FLT-0001"], "travellers": [ANNA], "method_ids": ["PM-0001"], **change}
    result = execute(state, "book_trip", args)
    assert result.error is not None, change
    assert result.error.code == code and message in result.error.message, result.error
    assert state.snapshot() == before


def test_a_per_item_rule_says_which_item_failed(trips: DomainSpec) -> None:
    state = seed_state(trips)
    args = {"customer_id": "CUS-0001", "flight_ids": ["FLT-0001", "FLT-0003"], "travellers": [ANNA], "method_ids": ["PM-0001"]}
    result = execute(state, "book_trip", args)
    assert result.error is not None and result.error.details["item"] == 1
    assert result.error.details["values"]["flight.status"] == "cancelled"


def test_cancelling_refunds_each_payment_to_its_own_method(trips: DomainSpec) -> None:
    state = seed_state(trips)
    args = {"customer_id": "CUS-0001", "flight_ids": ["FLT-0001", "FLT-0002"], "travellers": [ANNA], "method_ids": ["PM-0001", "PM-0002"]}
    booking = execute(state, "book_trip", args).data
    assert booking is not None
    result = execute(state, "cancel_booking", {"booking_id": booking["id"]})
    assert result.ok, result.error
    refunds = {p["method_id"]: p["amount"] for p in _rows(state, "payment", booking_id=booking["id"], kind="refund")}
    assert refunds == {"PM-0002": 100, "PM-0001": 100}
    assert state.get("method", "PM-0002")["balance"] == 100  # the gift card is whole again
    assert state.get("flight", "FLT-0001")["seats"] == 5 and state.get("flight", "FLT-0002")["seats"] == 1


def test_each_item_sees_what_the_items_before_it_changed(trips: DomainSpec) -> None:
    state = seed_state(trips)
    result = execute(state, "release_seats", {"customer_id": "CUS-0001", "flight_ids": ["FLT-0001", "FLT-0001", "FLT-0002"]})
    assert result.ok, result.error
    assert state.get("flight", "FLT-0001")["seats"] == 7 and state.get("flight", "FLT-0002")["seats"] == 2


def test_the_input_schema_bounds_every_list(trips: DomainSpec) -> None:
    schema = trips.view("book_trip").input_schema["properties"]
    assert schema["flight_ids"]["type"] == "array" and schema["flight_ids"]["maxItems"] == 4 and schema["flight_ids"]["minItems"] == 1
    item = schema["travellers"]["items"]
    assert item["required"] == ["first_name", "last_name"] and item["additionalProperties"] is False
    assert trips.view("book_trip").writes["payment"] == frozenset({"*"})
    assert trips.view("cancel_booking").writes["flight"] == frozenset({"seats"})


def _broken(path: list[str | int], value: Any) -> str:
    data = yaml.safe_load(BLUEPRINT)
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["tools", "book_trip", "params", "flight_ids", "max_items"], None, "tools.book_trip.params.flight_ids: a list needs 'max_items'"),
        (["tools", "book_trip", "params", "flight_ids", "fields"], {"x": {"type": "int"}}, "exactly one of 'items'"),
        (["tools", "book_trip", "params", "flight_ids", "items"], {"type": "list", "max_items": 2, "items": {"type": "int"}}, "an item cannot be a list"),
        (["tools", "book_trip", "params", "flight_ids", "items", "ref"], "plane", "unknown entity 'plane'"),
        (["tools", "book_trip", "params", "customer_id", "max_items"], 3, "tools.book_trip.params.customer_id.max_items: 'max_items' is for type 'list'"),
        (["tools", "book_trip", "requires", 1, "for_each"], "travellerz", "tools.book_trip.requires[1].for_each: 'travellerz' is not a list parameter"),
        (["tools", "book_trip", "requires", 1, "as"], "customer", "tools.book_trip.requires[1].as: 'customer' is already a name"),
        (["tools", "book_trip", "effects", 2, "do", 0, "values", "first_name"], "person.given_name", "unknown field 'given_name' of an item"),
        (["tools", "cancel_booking", "effects", 1, "for_each", "entity"], "payments", "tools.cancel_booking.effects[1].for_each.entity: unknown entity"),
        (["tools", "cancel_booking", "effects", 1, "bind", "method"], "charge.amount", "tools.cancel_booking.effects[1].bind.method"),
        (["tools", "cancel_booking", "effects", 3, "do", 0], "plane.seats += 1", "tools.cancel_booking.effects[3].do[0]: 'plane' is not a row"),
        (["tools", "cancel_booking", "effects", 1, "do", 0, "values", "amount"], "charge.total", "unknown field 'total' on entity 'payment'"),
    ],
)
def test_a_broken_list_or_per_item_form_is_refused_with_its_path(path: list[str | int], value: Any, message: str) -> None:
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(yaml.safe_load(_broken(path, value)))
    assert message in str(caught.value), str(caught.value)


def test_a_for_each_inside_a_for_each_is_refused() -> None:
    data = yaml.safe_load(BLUEPRINT)
    loop = data["tools"]["cancel_booking"]["effects"][3]
    loop["do"] = [{"for_each": "x", "as": "y", "do": ["flight.seats += 1"]}]
    with pytest.raises(BlueprintError):
        parse_blueprint(data)


AIRLINE = ROOT / "synthesis" / "domains" / "airline.yaml"


def test_a_pairs_search_returns_each_flight_with_its_connections() -> None:
    spec = parse_blueprint(yaml.safe_load(AIRLINE.read_text()))
    state = seed_state(spec)
    found = execute(state, "search_connections", {"origin": "oslo", "destination": "Porto"})
    assert found.ok and found.data is not None
    pairs = [(p["first"]["number"], p["second"]["number"]) for p in found.data["items"]]
    assert ("QK520", "QK633") in pairs and ("QK520", "QK634") in pairs
    for pair in found.data["items"]:  # every pair keeps the join: it connects, 1 to 6 hours later
        first, second = pair["first"], pair["second"]
        assert first["origin"] == "Oslo" and second["destination"] == "Porto" and second["origin"] == first["destination"]
        assert first["arrives_at"] < second["departs_at"] <= f"{first['arrives_at'][:11]}23:59"
    assert found.data["count"] == len(pairs) and not found.data["truncated"]
    schema = spec.view("search_connections").output_schema["properties"]["items"]["items"]
    assert schema["required"] == ["first", "second"]
    none = execute(state, "search_connections", {"origin": "Lisbon", "destination": "Porto"})
    assert none.ok and none.data == {"items": [], "count": 0, "truncated": False}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"entity": "plane"}, "tools.search_connections.search.pairs.entity: unknown entity 'plane'"),
        ({"where": ["arrival == destination"]}, "tools.search_connections.search.pairs.where[0]: unknown field 'arrival'"),
        ({"where": ["destination == dest"]}, "unknown parameter 'dest'"),
        ({"join": "second.departs_at > first.arrives_at"}, "the join needs one 'second.<field> == first.<field>'"),
        ({"join": "second.origin == third.destination"}, "unknown name 'third'"),
        ({"phrase": "the trip from {origin} to {dest}"}, "tools.search_connections.search.pairs.phrase: unknown slot {dest}"),
    ],
)
def test_a_broken_pairs_search_is_refused_with_its_path(change: dict[str, Any], message: str) -> None:
    data = yaml.safe_load(AIRLINE.read_text())
    data["tools"]["search_connections"]["search"]["pairs"].update(change)
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data)
    assert message in str(caught.value), str(caught.value)
