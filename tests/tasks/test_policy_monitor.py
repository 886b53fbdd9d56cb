"""The policy monitor reads rows before a write only when the write can name a personal row, and
finds owners through each row once per call; neither may drop a check."""

from __future__ import annotations

import pytest

from scaleenv_mcp.engine import execute, seed_state
from scaleenv_mcp.engine.binding import find_successful_call
from scaleenv_mcp.tasks.policy import PolicyMonitor, owners_of, shown_ids

from ..conftest import shipped_spec


def test_rows_named_by_a_write_are_read_before_it_only_when_they_can_be_personal() -> None:
    spec = shipped_spec("airline")
    state = seed_state(spec)
    monitor = PolicyMonitor(spec)
    reservation = state.rows("reservation")[0]
    before = monitor.touched_before(state, "cancel_reservation", {"reservation_id": reservation["id"]})
    assert before == [("reservation", reservation)]
    flight = state.rows("flight")[0]
    assert "flight" not in spec.personal_entities
    for name, tool in spec.tools.items():
        if tool.is_write:
            arguments = {p: flight["id"] for p, param in tool.params.items() if param.type == "ref" and param.ref == "flight"}
            if arguments and not any(param.type == "ref" and param.ref in spec.personal_entities for param in tool.params.values()):
                assert monitor.touched_before(state, name, arguments) == []


def test_owners_found_with_a_shared_memo_are_the_owners_found_alone() -> None:
    spec = shipped_spec("airline")
    state = seed_state(spec)
    memo: dict[tuple[str, str, int], set[str]] = {}
    reservations = {r["id"]: r for r in state.rows("reservation")}
    for entity in ("segment", "payment", "bag", "passenger", "reservation", "payment_method"):
        for row in state.rows(entity):
            alone = owners_of(state, entity, row)
            assert alone and owners_of(state, entity, row, memo=memo) == alone
            if "reservation_id" in row:
                assert alone == {reservations[row["reservation_id"]]["customer_id"]}


@pytest.mark.parametrize("domain", ["airline", "retail", "express_logistics", "secondhand_marketplace", "university_enrollment"])
def test_the_rows_a_result_shows_are_the_rows_a_walk_of_it_finds(domain: str) -> None:
    """The monitor takes the ids a result shows from the engine, which knows how it built the result
    (a row and its joined rows, a search's items, pairs); a walk of the result must find the same ids,
    in the same order, for every tool that has a successful call (searches and pairs included)."""
    spec = shipped_spec(domain)
    state = seed_state(spec)
    compared = 0
    for name in spec.tools:
        found = find_successful_call(state, name, seed=0, limit=60)
        if found is None:
            continue
        with state.trial():
            result = execute(state, name, found[0])
        assert result.ok and result.data is not None
        if result.shown is not None:
            assert list(result.shown) == list(shown_ids(result.data)), name
            compared += 1
    assert compared >= len(spec.tools) // 2
