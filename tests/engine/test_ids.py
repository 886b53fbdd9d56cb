"""Row ids are never handed out twice in one state, even after the newest row is deleted."""

from __future__ import annotations

from typing import Any

import yaml

from scaleenv_mcp.compiler.proctest import test_domain as run_procedural_tests
from scaleenv_mcp.engine import execute, seed_state
from scaleenv_mcp.spec import parse_blueprint
from scaleenv_mcp.spec.model import DomainSpec

from ..conftest import ROOT


def reopening_retail() -> DomainSpec:
    """Retail with a tool that replaces a return request by a new one in the same call."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    data["tools"]["reopen_return"] = {
        "description": "Withdraw a return request and file it again with the same reason.",
        "params": {"return_request_id": {"type": "ref", "ref": "return_request"}},
        "effects": [
            {"delete": "return_request"},
            {"create": "return_request", "as": "renewed", "values": {"order_id": "return_request.order_id", "reason": "return_request.reason"}},
        ],
        "returns": "renewed",
    }
    return parse_blueprint(data)


def newest(state: Any, entity: str) -> str:
    return str(max(r["id"] for r in state.rows(entity)))


def test_a_row_created_after_deleting_the_newest_in_the_same_call_gets_a_new_id() -> None:
    spec = reopening_retail()
    state = seed_state(spec)
    state.track()
    last = newest(state, "return_request")
    result = execute(state, "reopen_return", {"return_request_id": last})
    assert result.ok and result.data is not None
    assert result.data["id"] != last and result.data["id"] > last
    table = state.changes().tables["return_request"]
    assert [r["id"] for r in table.removed] == [last] and [r["id"] for r in table.added] == [result.data["id"]]
    assert table.changed == []


def test_ids_are_not_reused_across_calls_and_a_reset_hands_out_the_fresh_states_ids() -> None:
    spec = reopening_retail()
    fresh = seed_state(spec)
    first = execute(fresh.fork(), "reopen_return", {"return_request_id": newest(fresh, "return_request")})
    state = fresh.fork()
    state.track()
    once = execute(state, "reopen_return", {"return_request_id": newest(state, "return_request")})
    twice = execute(state, "reopen_return", {"return_request_id": newest(state, "return_request")})
    assert once.data and twice.data and twice.data["id"] > once.data["id"]  # the second never takes the first's old id
    state.reset()
    again = execute(state, "reopen_return", {"return_request_id": newest(state, "return_request")})
    assert again.data and first.data and again.data["id"] == first.data["id"]


def test_the_gate_reports_no_false_undeclared_change_for_a_replacing_tool() -> None:
    report = run_procedural_tests(reopening_retail(), calls_per_tool=12, walk_steps=4)
    assert not [v for v in report.violations if v.kind == "undeclared_change"], report.reasons()


def test_a_one_statement_write_refused_by_the_schema_changes_nothing_and_leaves_no_trace() -> None:
    """A tool whose one effect changes one row runs without a savepoint (SQLite undoes a failed
    statement itself); a refused write must still leave the state, its diff and a reset as if the
    call had never been made."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    data["tools"]["change_email"] = {
        "description": "Change a customer's email.",
        "params": {"customer_id": {"type": "ref", "ref": "customer"}, "email": {"type": "string", "max_length": 80}},
        "effects": ["customer.email = email"],
        "returns": "customer",
    }
    state = seed_state(parse_blueprint(data))
    state.track()
    first, second = state.head("customer", 2)
    before, rows = state.snapshot(), state.dump()
    taken = execute(state, "change_email", {"customer_id": first["id"], "email": second["email"]})
    assert not taken.ok and taken.error is not None and taken.error.code == "constraint_violation"
    assert state.snapshot() == before and state.changes().is_empty() and state.journal() == {}
    moved = execute(state, "change_email", {"customer_id": first["id"], "email": "new.address@example.com"})
    assert moved.ok and state.get("customer", first["id"])["email"] == "new.address@example.com"  # type: ignore[index]
    state.reset()
    assert state.dump() == rows and state.changes().is_empty()
