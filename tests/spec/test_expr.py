from __future__ import annotations

import pickle
import re
from typing import Any

import pytest

from scaleenv_mcp.spec.expr import ExprError, parse, parse_assignment


class Env:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def lookup(self, name: str) -> Any:
        return self.values[name]

    def query(self, entity: str, where: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [{"status": "active", "due": "2026-01-02"}, {"status": "active", "due": "2026-03-01"}]
        return [r for r in rows if all(r.get(k.split("__")[0]) == v for k, v in where.items() if "__" not in k)]


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "order.__class__",
        "order.customer.name",
        "(lambda: 1)()",
        "[x for x in range(3)]",
        "open('/etc/passwd')",
        "order.status.upper()",
        "a if b else {}",
    ],
)
def test_expressions_outside_the_language_are_rejected_at_parse_time(text: str) -> None:
    with pytest.raises(ExprError):
        parse(text)


def test_rules_evaluate_over_rows_params_and_queries() -> None:
    env = Env(order={"status": "paid", "total": 40.0}, quantity=3, today="2026-03-16")
    assert parse("order.status in ['pending', 'paid'] and quantity <= 3").evaluate(env) is True
    assert parse("order.total * 0.8").evaluate(env) == 32.0
    assert parse("days_between('2026-03-01', today)").evaluate(env) == 15
    assert parse("add_days(today, 21)").evaluate(env) == "2026-04-06"
    assert parse("count('loan', status='active') < 3").evaluate(env) is True


def test_time_arithmetic_to_the_hour_and_minute() -> None:
    """"Within 24 hours of departure" is checkable to the minute, not only to the day."""
    env = Env(now="2026-03-16T09:00:00", flight={"departs_at": "2026-03-17T08:30:00"})
    assert parse("hours_between(now, flight.departs_at)").evaluate(env) == 23.5
    assert parse("hours_between(now, flight.departs_at) < 24").evaluate(env) is True
    assert parse("minutes_between(now, flight.departs_at)").evaluate(env) == 1410
    assert parse("add_hours(now, 2.5)").evaluate(env) == "2026-03-16T11:30:00"
    assert parse("add_minutes(flight.departs_at, -45)").evaluate(env) == "2026-03-17T07:45:00"
    assert parse("add_hours('2026-03-16', 1)").evaluate(env) == "2026-03-16T01:00:00"  # a date is its midnight
    with pytest.raises(ExprError, match="date-time"):
        parse("add_hours('soon', 1)").evaluate(env)
    with pytest.raises(ExprError, match="within 19 years"):
        parse("add_minutes(now, 100000000)").evaluate(env)


def test_reading_a_missing_field_is_an_error_not_a_silent_none() -> None:
    with pytest.raises(ExprError, match="no field 'stok'"):
        parse("product.stok > 0").evaluate(Env(product={"stock": 1}))


def test_assignments_parse_into_target_operator_and_value() -> None:
    a = parse_assignment("product.stock -= order.quantity")
    assert (a.var, a.field, a.op, a.value.text) == ("product", "stock", "-=", "order.quantity")
    with pytest.raises(ExprError):
        parse_assignment("x = 1")
    with pytest.raises(ExprError):
        parse_assignment("product.stock *= 2")


_FLIGHTS = {"F1": {"id": "F1", "origin": "Lisbon", "destination": "Madrid"}, "F2": {"id": "F2", "origin": "Madrid", "destination": "Oslo"}}


class _Lists:
    """Names and rows for the list functions: flights by id, a trip's flights, payment items."""

    def lookup(self, name: str) -> object:
        return {"legs": ["F1", "F2"], "payments": [{"amount": 20.5}, {"amount": 9.5}, {}], "ids": ["a", "b", "a"]}[name]

    def query(self, entity: str, where: dict[str, object]) -> list[dict[str, object]]:
        if "id__in" in where:
            return [r for i, r in _FLIGHTS.items() if i in where["id__in"]]  # type: ignore[operator]
        return [r for r in reversed(_FLIGHTS.values()) if all(r[k] == v for k, v in where.items())]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("sum(values(payments, 'amount'))", 30.0),  # a sum over a list's items (a missing one counts 0)
        ("count_of(ids, 'a')", 2),
        ("each('flight', 'origin', legs)", ["Lisbon", "Madrid"]),
        ("each('flight', 'origin', legs)[0]", "Lisbon"),  # order within a list: the first, the last
        ("each('flight', 'destination', legs)[-1]", "Oslo"),
        ("each('flight', 'origin', legs)[1:] == each('flight', 'destination', legs)[:-1]", True),  # each leg leaves where the last landed
        ("each('flight', 'origin', ['F2', 'F1', 'F2'])", ["Madrid", "Lisbon", "Madrid"]),  # in the list's order, duplicates kept
        ("column('flight', 'destination')", ["Madrid", "Oslo"]),  # every matching row, in id order
        ("column('flight', 'id', origin='Madrid')", ["F2"]),
        ("count_same(legs, ['F1', 'F3'])", 1),  # positions holding the same value
    ],
)
def test_list_functions_and_indexing(text: str, value: object) -> None:
    assert parse(text).evaluate(_Lists()) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("legs[n]", "a list is indexed by a whole number ([0], [-1]) or sliced by them ([1:], [:-1])"),
        ("legs[::2]", "a list is indexed by a whole number"),
        ("each('flight', legs)", "each() needs an entity and a field name in quotes, then a list of ids"),
    ],
)
def test_list_indexing_and_each_are_refused_in_other_forms(text: str, message: str) -> None:
    with pytest.raises(ExprError, match=re.escape(message)):
        parse(text)


def test_an_index_past_the_end_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExprError, match="no item 5 in a list of 2"):
        parse("legs[5]").evaluate(_Lists())


def test_an_evaluated_expression_pickles_and_evaluates_the_same_after() -> None:
    """A spec crosses processes as data (synth --jobs, Ray workers): its expressions, once evaluated,
    carry compiled closures that must not travel, and must compile again on the other side."""
    expr = parse("order.total * 2 if order.status in ['paid', 'shipped'] and count('loan', status='active') >= 2 else -1")
    paid, new = Env(order={"total": 10.5, "status": "paid"}), Env(order={"total": 1, "status": "new"})
    assert expr.evaluate(paid) == 21.0
    copy = pickle.loads(pickle.dumps(expr))
    assert copy == expr
    assert (copy.evaluate(paid), copy.evaluate(new)) == (21.0, -1)


def test_evaluation_errors_name_the_expression_and_nulls_compare_as_before() -> None:
    with pytest.raises(ExprError, match=r"cannot evaluate 'a \+ b'"):
        parse("a + b").evaluate(Env(a=1, b="x"))
    with pytest.raises(ExprError, match="order is not set"):
        parse("order.total > 1").evaluate(Env(order=None))
    with pytest.raises(ExprError, match="unknown name 'c'"):
        parse("c > 1").evaluate(Env())
    assert parse("a < b").evaluate(Env(a=None, b=1)) is False  # an ordering with a null does not hold
    assert parse("a == b").evaluate(Env(a=None, b=None)) is True
    assert parse("1 < a <= 3 != b").evaluate(Env(a=3, b=2)) is True
    assert parse("1 < a <= 3 != b").evaluate(Env(a=3, b=3)) is False
