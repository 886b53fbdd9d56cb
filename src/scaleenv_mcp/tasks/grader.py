"""Evaluating a task's checks on an end state: reward = fraction passed, success = all passed.

Checks are data evaluated by this module (never code from a blueprint or an LLM). They
name what must have changed, plus "nothing else changed", so a correct agent is not
failed by a harmless difference (a new row's generated id) and a careless one is not
passed for doing extra damage on the side.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from ..engine.diff import StateDiff, diff
from ..engine.state import State
from ..spec.task import CheckSpec

__all__ = ["CheckResult", "Verification", "evaluate_checks", "format_answer_value", "verify_states"]


class CheckResult(BaseModel):
    description: str
    kind: str
    passed: bool
    detail: str = ""


class Verification(BaseModel):
    reward: float
    success: bool
    checks: list[CheckResult]
    diff: dict[str, dict[str, int]]


def format_answer_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}" if value != int(value) else f"{int(value)}"
    return str(value)


def _answer_mentions(answer: str | None, value: Any) -> bool:
    if answer is None:
        return False
    text = answer.lower().replace(",", "")
    wanted = format_answer_value(value).lower()
    if isinstance(value, int | float) and not isinstance(value, bool):
        numbers = {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)}
        return float(value) in numbers
    variants = {wanted, wanted.replace("_", " ")}
    return any(v in text for v in variants)


def _new_rows(changes: StateDiff, entity: str) -> list[dict[str, Any]]:
    table = changes.tables.get(entity)
    return list(table.added) if table else []


def _evaluate(check: CheckSpec, final: State, changes: StateDiff, answer: str | None) -> tuple[bool, str]:
    if check.kind == "answer_contains":
        ok = _answer_mentions(answer, check.value)
        return ok, "" if ok else f"the answer does not mention {format_answer_value(check.value)!r}"
    if check.kind == "no_other_changes":
        return True, ""  # decided in evaluate_checks, which sees every other check
    entity = str(check.entity)
    if check.kind == "row_exists":
        rows = [r for r in _new_rows(changes, entity) if all(r.get(k) == v for k, v in check.where.items())]
        return bool(rows), "" if rows else f"no new {entity} with {check.where}"
    if check.kind == "row_absent":
        row = final.get(entity, check.id)
        return row is None, "" if row is None else f"{entity} {check.id} still exists"
    row = final.get(entity, check.id)
    if row is None:
        return False, f"{entity} {check.id} does not exist"
    actual = row.get(str(check.field))
    if check.kind == "field_equals":
        ok = actual == check.value or (
            isinstance(actual, float | int) and isinstance(check.value, float | int) and abs(actual - check.value) < 0.005
        )
        return ok, "" if ok else f"{entity} {check.id}.{check.field} is {actual!r}, expected {check.value!r}"
    table = changes.tables.get(entity)
    change = next((c for c in table.changed if c.id == check.id), None) if table else None
    start = change.fields[str(check.field)][0] if change and str(check.field) in change.fields else actual
    if not isinstance(actual, int | float) or not isinstance(start, int | float):
        return False, f"{entity} {check.id}.{check.field} is not a number"
    moved = round(actual - start, 2)
    ok = abs(moved - float(check.delta or 0)) < 0.005
    return ok, "" if ok else f"{entity} {check.id}.{check.field} changed by {moved}, expected {check.delta}"


def _unexplained(checks: list[CheckSpec], changes: StateDiff) -> list[str]:
    """Changes no check of the task names: what "no other changes" forbids."""
    named_fields = {(c.entity, c.id, c.field) for c in checks if c.kind in ("field_equals", "field_changed_by")}
    removed_ok = {(c.entity, c.id) for c in checks if c.kind == "row_absent"}
    expected_new: dict[str, int] = {}
    for c in checks:
        if c.kind == "row_exists":
            expected_new[str(c.entity)] = expected_new.get(str(c.entity), 0) + 1
    problems = []
    for entity, table in changes.tables.items():
        for row in table.changed:
            extra = [f for f in row.fields if (entity, row.id, f) not in named_fields]
            if extra:
                problems.append(f"{entity} {row.id} changed {', '.join(extra)}")
        for gone in table.removed:
            if (entity, gone["id"]) not in removed_ok:
                problems.append(f"{entity} {gone['id']} was removed")
        if len(table.added) > expected_new.get(entity, 0):
            problems.append(f"{len(table.added) - expected_new.get(entity, 0)} unexpected new {entity} row(s)")
    return problems


def evaluate_checks(checks: list[CheckSpec], changes: StateDiff, final: State, answer: str | None = None) -> Verification:
    """Evaluate checks given what changed (from a journal or a full diff) and the end state."""
    results = []
    for check in checks:
        if check.kind == "no_other_changes":
            problems = _unexplained(checks, changes)
            results.append(CheckResult(description=check.description, kind=check.kind, passed=not problems,
                                       detail="; ".join(problems[:5])))  # fmt: skip
            continue
        passed, detail = _evaluate(check, final, changes, answer)
        results.append(CheckResult(description=check.description, kind=check.kind, passed=passed, detail=detail))
    passing = sum(r.passed for r in results)
    return Verification(
        reward=round(passing / len(results), 4) if results else 0.0,
        success=bool(results) and passing == len(results),
        checks=results,
        diff=changes.summary(),
    )


def verify_states(checks: list[CheckSpec], initial: State, final: State, answer: str | None = None) -> Verification:
    """Evaluate checks by comparing two whole states (for states that do not track changes)."""
    return evaluate_checks(checks, diff(initial, final), final, answer)
