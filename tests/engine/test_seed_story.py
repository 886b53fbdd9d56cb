"""Seeds that tell one consistent story: fixed rows a task can rely on, counts per parent, and
references correlated with the row being built (a booking's card belongs to the booking's user)."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from scaleenv_mcp.engine.seed import SeedError, seed_state
from scaleenv_mcp.spec import BlueprintError, parse_blueprint

BLUEPRINT: dict[str, Any] = {
    "name": "travel_story",
    "title": "Travel",
    "description": "Users with cards book trips paid by one of their own cards.",
    "policy": "Identify the user by email. Only act on the user's own bookings and cards, never on anyone else's.",
    "entities": {
        "user": {"id_prefix": "USR", "label": "name", "count": 12, "fields": {
            "name": {"type": "string", "sample": "person_name", "identifying": True},
            "email": {"type": "string", "sample": "email", "unique": True, "identifying": True},
            "tier": {"type": "enum", "values": ["basic", "gold"]},
        }, "rows": [{"name": "Ada Lovelace", "email": "ada@example.com", "tier": "gold"}]},
        "card": {"id_prefix": "CRD", "per_parent": {"field": "user_id", "min": 1, "max": 3}, "fields": {
            "user_id": {"type": "ref", "ref": "user"},
            "last4": {"type": "string", "sample": "digits", "max_length": 4},
        }},
        "booking": {"id_prefix": "BKG", "count": 40, "fields": {
            "user_id": {"type": "ref", "ref": "user"},
            "card_id": {"type": "ref", "ref": "card", "ref_where": "user_id == row.user_id"},
            "price": {"type": "money", "range": [50, 900]},
        }},
    },
    "tools": {"find_user_by_email": {"description": "Find a user by email address.",
                                     "params": {"email": {"type": "string", "max_length": 200}},
                                     "lookup": {"entity": "user", "by": {"email": "email"}}}},
}  # fmt: skip


def test_fixed_rows_come_first_as_given_and_counts_follow_each_parent() -> None:
    state = seed_state(parse_blueprint(copy.deepcopy(BLUEPRINT)))
    users = state.rows("user")
    assert len(users) == 12 and users[0] == {"id": "USR-0001", "name": "Ada Lovelace", "email": "ada@example.com", "tier": "gold"}
    per_user = Counter(c["user_id"] for c in state.rows("card"))
    assert set(per_user) == {u["id"] for u in users} and all(1 <= n <= 3 for n in per_user.values())
    assert len(set(per_user.values())) > 1  # drawn per parent, not one fixed number


def test_a_correlated_reference_points_at_a_row_of_the_same_owner() -> None:
    state = seed_state(parse_blueprint(copy.deepcopy(BLUEPRINT)))
    cards = {c["id"]: c for c in state.rows("card")}
    bookings = state.rows("booking")
    assert len(bookings) == 40 and all(cards[b["card_id"]]["user_id"] == b["user_id"] for b in bookings)


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [
        (lambda d: d["entities"]["card"]["per_parent"].__setitem__("field", "last4"), "entities.card.per_parent.field",
         "'last4' is not a ref field of card"),
        (lambda d: d["entities"]["card"]["per_parent"].update({"min": 4, "max": 2}), "entities.card.per_parent",
         "min 4 is greater than max 2"),
        (lambda d: d["entities"]["user"]["rows"][0].__setitem__("tier", "platinum"), "entities.user.rows[0].tier",
         "platinum"),
        (lambda d: d["entities"]["user"]["rows"][0].__setitem__("nickname", "Ada"), "entities.user.rows[0].nickname",
         "unknown field"),
        (lambda d: d["entities"]["booking"]["fields"]["card_id"].__setitem__("ref_where", "user_id == row.price"),
         "entities.booking.fields.card_id.ref_where", "row.price is not drawn before card_id"),
        (lambda d: d["entities"]["booking"]["fields"]["card_id"].__setitem__("ref_where", "user_id == row.owner"),
         "entities.booking.fields.card_id.ref_where", "unknown field 'owner'"),
    ],
)  # fmt: skip
def test_broken_seed_keys_are_refused_with_their_path(edit: Any, path: str, message: str) -> None:
    data = copy.deepcopy(BLUEPRINT)
    edit(data)
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data)
    assert any(p.path == path and message in p.message for p in caught.value.problems), caught.value.problems


def test_a_fixed_row_pointing_at_a_missing_parent_is_one_line() -> None:
    data = copy.deepcopy(BLUEPRINT)
    data["entities"]["booking"]["rows"] = [{"user_id": "USR-0999", "card_id": "CRD-0001", "price": 100}]
    with pytest.raises(SeedError, match=r"booking.rows\[0\].user_id: no user 'USR-0999'"):
        seed_state(parse_blueprint(data))


def with_payment_methods() -> dict[str, Any]:
    data = copy.deepcopy(BLUEPRINT)
    data["entities"]["method"] = {"id_prefix": "PM", "count": 30, "fields": {
        "user_id": {"type": "ref", "ref": "user"},
        "kind": {"type": "enum", "values": ["card", "gift_card"]},
        "last4": {"type": "string", "sample": "digits", "max_length": 4, "nullable": True, "applies_when": "kind == 'card'"},
        "balance": {"type": "money", "range": [5, 200], "nullable": True, "applies_when": "kind == 'gift_card'"},
    }}  # fmt: skip
    data["tools"]["add_card"] = {
        "description": "Add a card to a user's payment methods.",
        "params": {"user_id": {"type": "ref", "ref": "user"}, "last4": {"type": "string", "max_length": 4}},
        "effects": [{"create": "method", "values": {"user_id": "user.id", "kind": "'card'", "last4": "last4"}}],
        "returns": "method",
    }
    data["tools"]["add_gift_card_badly"] = {
        "description": "Add a gift card, wrongly giving it card digits.",
        "params": {"user_id": {"type": "ref", "ref": "user"}},
        "effects": [{"create": "method", "values": {"user_id": "user.id", "kind": "'gift_card'", "last4": "'1234'", "balance": 50}}],
        "returns": "method",
    }
    return data


def test_a_field_group_chosen_by_an_enum_holds_in_the_seed_and_in_every_write() -> None:
    from scaleenv_mcp.engine import execute

    spec = parse_blueprint(with_payment_methods())
    state = seed_state(spec)
    methods = state.rows("method")
    assert {m["kind"] for m in methods} == {"card", "gift_card"}
    assert all((m["last4"] is not None) == (m["kind"] == "card") and (m["balance"] is not None) == (m["kind"] == "gift_card")
               for m in methods)  # fmt: skip
    ok = execute(state, "add_card", {"user_id": "USR-0001", "last4": "4242"})
    assert ok.ok and ok.data is not None and ok.data["last4"] == "4242" and ok.data["balance"] is None
    before = state.dump()
    bad = execute(state, "add_gift_card_badly", {"user_id": "USR-0001"})
    assert not bad.ok and bad.error is not None and bad.error.code == "constraint_violation"
    assert "method.last4 applies only when kind == 'card'" in bad.error.message and state.dump() == before


def test_a_field_group_must_be_nullable_and_read_the_rows_own_fields() -> None:
    data = with_payment_methods()
    data["entities"]["method"]["fields"]["last4"]["nullable"] = False
    data["entities"]["method"]["fields"]["balance"]["applies_when"] = "sort == 'gift_card'"
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data)
    found = {(p.path, p.message) for p in caught.value.problems}
    assert ("entities.method.fields.last4.applies_when", "a field that applies only sometimes must be nullable") in found
    assert any(p == "entities.method.fields.balance.applies_when" and "unknown name 'sort'" in m for p, m in found), found


def test_fresh_codes_by_pattern_in_the_seed_and_on_every_create() -> None:
    import re

    from scaleenv_mcp.engine import execute

    data = copy.deepcopy(BLUEPRINT)
    data["entities"]["booking"]["fields"]["reference"] = {"type": "string", "pattern": "PNR-AA999", "unique": True, "identifying": True}
    data["tools"]["book"] = {
        "description": "Book a trip for a user, paid with one of their cards.",
        "params": {"card_id": {"type": "ref", "ref": "card"}, "price": {"type": "money", "min": 1, "max": 5000}},
        "bind": {"user": "card.user_id"},
        "effects": [{"create": "booking", "values": {"user_id": "user.id", "card_id": "card.id", "price": "price"}}],
        "returns": "booking",
    }  # fmt: skip
    spec = parse_blueprint(data)
    state = seed_state(spec)
    shape = re.compile(r"PNR-[A-HJ-NP-Z]{2}\d{3}")
    assert all(shape.fullmatch(b["reference"]) for b in state.rows("booking"))
    made = [execute(state, "book", {"card_id": "CRD-0001", "price": 120}) for _ in range(3)]
    codes = [m.data["reference"] for m in made if m.ok and m.data]
    assert len(codes) == 3 and all(shape.fullmatch(c) for c in codes) and len(set(codes)) == 3
    again = seed_state(spec)
    assert execute(again, "book", {"card_id": "CRD-0001", "price": 120}).data == made[0].data  # the same state, the same code

    data["entities"]["booking"]["fields"]["price"]["pattern"] = "999"
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data)
    assert any(p.path == "entities.booking.fields.price.pattern" and "text fields" in p.message for p in caught.value.problems)


def test_a_correlated_reference_on_a_large_seed_stops_at_its_limit_with_one_line() -> None:
    data = copy.deepcopy(BLUEPRINT)
    data["entities"]["user"]["count"] = 3000
    data["entities"]["booking"]["count"] = 3000
    with pytest.raises(SeedError, match=r"booking.card_id: ref_where tested more than 1,000,000 rows"):
        seed_state(parse_blueprint(data))


def test_a_correlated_exists_filter_seeds_a_large_state_with_the_same_rows_a_full_scan_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airline pays each reservation with a card of the reservation's own customer (``exists(...)`` in a
    ref_where): the candidates are narrowed through an index, so 5,000 rows seed in a fraction of a
    second (the full scan took minutes), and the rows picked are
    exactly those the full scan picks."""
    import hashlib

    from scaleenv_mcp.engine import seed as seed_module

    from ..conftest import shipped_spec

    spec = shipped_spec("airline")
    state = seed_state(spec, scale=12)
    assert sum(state.counts().values()) > 5_000
    reservations = {r["id"]: r for r in state.rows("reservation")}
    methods = {m["id"]: m for m in state.rows("payment_method")}
    for payment in state.rows("payment"):
        assert methods[payment["payment_method_id"]]["customer_id"] == reservations[payment["reservation_id"]]["customer_id"]
    narrowed = hashlib.sha256(seed_state(spec, seed=5, scale=3).snapshot()).hexdigest()
    monkeypatch.setattr(seed_module, "_link", lambda *_: None)  # every candidate tested, as before the index
    assert hashlib.sha256(seed_state(spec, seed=5, scale=3).snapshot()).hexdigest() == narrowed


def test_a_unique_text_field_with_few_values_seeds_a_table_far_larger_than_its_sample_space(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unique city (25 cities) over 3,000 rows: a value that collides is numbered ("Osaka 4"), and
    after a few draws by the row's place, so every row costs a bounded number of draws however large
    the table (numbered by the draw alone, each row tried the filled spaces in turn, and past 60 of
    them seeding failed)."""
    from scaleenv_mcp.engine import seed as seed_module

    data = copy.deepcopy(BLUEPRINT)
    data["entities"]["depot"] = {"id_prefix": "DEP", "label": "name", "count": 3000, "fields": {
        "name": {"type": "string", "sample": "city", "unique": True, "identifying": True}}}  # fmt: skip
    draws = Counter[str]()
    one_row = seed_module._one_row

    def counted(spec: Any, name: str, *rest: Any) -> dict[str, Any]:
        draws[name] += 1
        return one_row(spec, name, *rest)

    monkeypatch.setattr(seed_module, "_one_row", counted)
    state = seed_state(parse_blueprint(data))
    names = [d["name"] for d in state.rows("depot")]
    assert len(names) == 3000 and len(set(names)) == 3000
    assert draws["depot"] <= 3000 * (seed_module.FRESH_AFTER + 1)
