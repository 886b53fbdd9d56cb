"""The argument binder draws what the rules say goes together, seen through the gate (the procedural
tests the compile runs): object list items whose rows must be the user's, a lookup by several fields
of one row, two lists that go together position by position, a parameter tied to a list's rows, a
sum over a list's items, order within a list and three-leg trips. Each tool of the fixture succeeds
only when its arguments are drawn together; drawn one by one, almost none of its calls would."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaleenv_mcp.compiler.proctest import DomainReport
from scaleenv_mcp.compiler.proctest import test_domain as run_procedural_tests
from scaleenv_mcp.engine.binding import candidate_calls
from scaleenv_mcp.engine.runtime import execute
from scaleenv_mcp.engine.seed import seed_state
from scaleenv_mcp.spec import parse_blueprint

FIXTURE = Path(__file__).parents[1] / "fixtures/binder_together.yaml"


def blueprint() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    return data


@pytest.fixture(scope="module")
def report() -> DomainReport:
    return run_procedural_tests(parse_blueprint(blueprint()), calls_per_tool=24, walk_steps=6)


def test_the_domain_whose_arguments_must_go_together_passes_the_gate(report: DomainReport) -> None:
    assert report.passed, report.reasons()


def test_a_lookup_by_first_name_last_name_and_zip_takes_all_three_from_one_row(report: DomainReport) -> None:
    found = report.tools["find_customer_by_name_zip"]
    assert found.succeeded >= 10  # names and zip codes drawn one by one name nobody


def test_object_list_items_take_the_users_own_payment_methods_and_amounts_that_add_up(report: DomainReport) -> None:
    paid = report.tools["pay_order"]
    assert paid.succeeded >= 3  # a {payment_method_id, amount} item: the customer's own card, the amounts summing to the total


def test_replacements_follow_their_items_position_by_position(report: DomainReport) -> None:
    exchanged = report.tools["exchange_items"]
    assert exchanged.succeeded >= 3  # as many new items, each of the same product as the item at its position


def test_a_trips_ends_come_from_its_flights_and_its_legs_chain(report: DomainReport) -> None:
    booked = report.tools["book_trip"]
    assert booked.succeeded >= 5  # origin from the first flight, destination from the last, each leg leaving where the last landed


def test_a_list_starts_and_ends_where_the_rules_name_from_other_rows(report: DomainReport) -> None:
    assert report.tools["change_trip"].succeeded >= 4
    state = seed_state(parse_blueprint(blueprint()))
    drawn = list(candidate_calls(state, "change_trip", random.Random(3), 100))
    kept = sum(execute(state, "change_trip", args).ok for args in drawn)
    assert kept >= 40  # flights from the trip's origin to its destination; drawn at random, 7 in 100 are


def test_a_text_parameter_takes_the_values_a_rule_compares_it_with() -> None:
    state = seed_state(parse_blueprint(blueprint()))
    reasons = {args.get("reason") for args in candidate_calls(state, "cancel_order", random.Random(4), 60)}
    assert {"no longer needed", "ordered by mistake"} <= reasons  # free text drawn at random would never be one


def test_three_leg_trips_are_drawn_and_booked() -> None:
    state = seed_state(parse_blueprint(blueprint()))
    legs: Counter[int] = Counter()
    for args in candidate_calls(state, "book_trip", random.Random(2), 120):
        with state.trial():
            if execute(state, "book_trip", args).ok:
                legs[len(args["flight_ids"])] += 1
    assert legs[3] >= 3 and legs[2] >= 3  # two-stop trips, not only the pairs a one-stop search finds


def test_a_search_takes_a_list_and_a_literal(report: DomainReport) -> None:
    assert report.tools["list_flights"].succeeded >= 3
    state = seed_state(parse_blueprint(blueprint()))
    found = execute(state, "list_flights", {"numbers": ["qk2", "QK7", "QK9"]})
    assert found.ok and found.data is not None
    assert [f["number"] for f in found.data["items"]] == ["QK2", "QK7"]  # case aside, in departure order
    state.update("flight", "FLT-0002", {"origin": "Atlantis"})
    found = execute(state, "list_flights", {"numbers": ["QK2", "QK7"]})
    assert found.ok and found.data is not None and [f["number"] for f in found.data["items"]] == ["QK7"]  # origin != 'Atlantis'
    data = blueprint()
    data["tools"]["list_flights"]["search"]["where"] = ["number == numbers"]
    with pytest.raises(ValueError, match="'numbers' is a list; only 'in' filters by a list"):
        parse_blueprint(data)


def test_never_succeeds_names_the_binder_when_rows_exist_but_it_cannot_draw_them_together() -> None:
    data = blueprint()
    data["tools"]["pay_order"]["requires"].append(
        {"check": "len(values(payments, 'amount')) == 3 and values(payments, 'amount')[0] == 7.77", "error": "Pay 7.77 first."}
    )
    report = run_procedural_tests(parse_blueprint(data), calls_per_tool=4, walk_steps=0)
    (found,) = [v for v in report.defects if v.kind == "never_succeeds"]
    assert found.tool == "pay_order"
    assert "the binder could not draw arguments that meet the rules together" in found.message
    assert "no order row meets" not in found.message  # not a rule or the seed: the binder


def test_a_derive_reads_through_a_derived_reference() -> None:
    state = seed_state(parse_blueprint(blueprint()))
    lines = state.rows("line")
    assert lines
    for line in lines:
        variant = state.get("variant", line["variant_id"])
        assert variant is not None and line["product_id"] == variant["product_id"]
        product = state.get("product", line["product_id"])
        assert product is not None and line["name"] == product["name"]
