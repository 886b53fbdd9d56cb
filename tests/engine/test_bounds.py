"""Bounds before work: what a call costs does not grow with what it sends, and nothing it sends can crash it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaleenv_mcp.engine.bounds import MAX_ARGUMENT_DEPTH, argument_problem, bounded_copy
from scaleenv_mcp.engine.runtime import ToolResult, execute
from scaleenv_mcp.engine.seed import seed_state
from scaleenv_mcp.engine.state import State

from ..conftest import shipped_spec


@pytest.fixture(scope="module")
def airline() -> State:
    return seed_state(shipped_spec("airline"))


def booking(state: State, passengers: int, payments: int = 1) -> dict[str, Any]:
    return {
        "customer_id": state.head("customer", 1)[0]["id"],
        "flight_ids": [state.head("flight", 1)[0]["id"]],
        "cabin": "economy",
        "passengers": [{"first_name": f"Ann{i}", "last_name": "Lee", "date_of_birth": "1990-01-01"} for i in range(passengers)],
        "payment_method_ids": [state.head("payment_method", 1)[0]["id"]] * payments,
    }


def fastest(run: Callable[[], object], times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def refused(result: ToolResult) -> str:
    assert not result.ok and result.error is not None and result.error.code == "invalid_arguments", result
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")  # every transport can carry the answer
    return result.error.message


def test_a_list_far_past_its_max_items_costs_what_a_short_one_does(airline: State) -> None:
    for long, short in (
        (booking(airline, 40_000), booking(airline, 6)),
        (booking(airline, 2, payments=40_000), booking(airline, 2, payments=4)),
        ({"flight_ids": ["FLT-0001"] * 40_000, "cabin": "economy", "passengers": 1},
         {"flight_ids": ["FLT-0001"] * 6, "cabin": "economy", "passengers": 1}),
    ):  # fmt: skip
        tool = "quote_trip" if "customer_id" not in long else "book_reservation"
        assert "40,000 items; at most" in refused(execute(airline, tool, long))
        # was about a second per call (every item validated before the length); now the length is read first
        assert fastest(partial(execute, airline, tool, long)) < 5 * fastest(partial(execute, airline, tool, short)) + 0.002


def test_oversized_arguments_are_refused_on_a_budget_not_walked_whole(airline: State) -> None:
    huge = {"customer_id": ["x"] * 1_000_000}  # a list where text belongs: counting stops at the limit
    assert "1,000,000 items; the arguments hold at most 10,000 values" in refused(execute(airline, "get_customer", huge))
    scattered = {"customer_id": [list(range(5_000)) for _ in range(200)]}  # a million values, no list over the limit
    assert "more than 10,000 values" in refused(execute(airline, "get_customer", scattered))
    assert fastest(lambda: execute(airline, "get_customer", scattered), 2) < 0.05
    extra = {f"k{i}": i for i in range(50_000)}
    assert "values" in refused(execute(airline, "get_customer", extra))
    text = {"customer_id": "x" * 60_000, "note": "y" * 60_000}
    assert "100,000 characters" in refused(execute(airline, "get_customer", text))


@pytest.mark.parametrize(
    ("arguments", "where"),
    [
        ({"customer_id": "CUS-\ud800"}, "customer_id"),
        ({"customer_id": "\udfff tail"}, "customer_id"),
        ({"\ud800": 1}, "arguments"),
    ],
)
def test_a_lone_surrogate_anywhere_is_invalid_arguments_not_a_crash(airline: State, arguments: dict[str, Any], where: str) -> None:
    message = refused(execute(airline, "get_customer", arguments))
    assert message.startswith(where) and "not valid Unicode" in message and "\\u" in message


def test_a_lone_surrogate_inside_a_list_item_is_named_by_its_path(airline: State) -> None:
    arguments = booking(airline, 2)
    arguments["passengers"][1]["last_name"] = "Lee\ud83d"
    before = airline.dump()
    message = refused(execute(airline, "book_reservation", arguments))
    assert message.startswith("passengers[1].last_name: text that is not valid Unicode")
    assert airline.dump() == before


def test_deep_nesting_and_values_json_cannot_carry_are_refused(airline: State) -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(100_000):  # far past any recursion limit: the check is not recursive
        inner["a"] = {}
        inner = inner["a"]
    assert f"nested more than {MAX_ARGUMENT_DEPTH} levels deep" in refused(execute(airline, "get_customer", {"customer_id": deep}))
    assert "a set is not a JSON value" in refused(execute(airline, "get_customer", {"customer_id": {"a", "b"}}))
    assert "names must be text" in refused(execute(airline, "get_customer", {"customer_id": {1: "x"}}))


def test_an_unknown_tool_named_with_a_lone_surrogate_is_reported_encodably(airline: State) -> None:
    result = execute(airline, "get\ud800" + "x" * 10_000, {})
    assert result.error is not None and result.error.code == "unknown_tool"
    assert len(result.error.message) < 2_000
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_bounded_copy_is_small_shallow_and_encodable() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(300):
        inner.append([])
        inner = inner[0]
    value = {"deep": deep, "long": list(range(40_000)), "text": "\ud800" + "x" * 50_000, "nan": float("nan"), "set": {1}}
    copy = bounded_copy(value)
    text = json.dumps(copy, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    assert len(text) < 2_000 and "40,000 items" in text and "50,001 chars" in text and "\\ud800" in text
    assert bounded_copy({"a": [1, "b", None, 2.5]}) == {"a": [1, "b", None, 2.5]}


_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=5), st.sampled_from(["é", "\ud800", "a\udfffb", "x" * 1_200, "😀"]),
)  # fmt: skip
_JSON = st.recursive(
    _LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3) | st.just("\ud801"), inner, max_size=4),
    max_leaves=16,
)  # fmt: skip


def within_bounds(value: Any, depth: int = 0) -> bool:
    """The bounds as documented, written plainly: JSON types, names that are text, valid Unicode,
    containers nested less than MAX_ARGUMENT_DEPTH deep (totals are far below their limits here)."""
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if value is None or isinstance(value, bool | int | float):
        return True
    if depth >= MAX_ARGUMENT_DEPTH:
        return False
    if isinstance(value, list):
        return all(within_bounds(v, depth + 1) for v in value)
    return all(within_bounds(k) and within_bounds(v, depth + 1) for k, v in value.items())


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _JSON, max_size=4))
def test_the_bounds_refuse_exactly_what_they_document(arguments: dict[str, Any]) -> None:
    assert (argument_problem(arguments) is None) == within_bounds(arguments)
