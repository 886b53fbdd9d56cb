"""The grader: a task's checks evaluated on an end state and a final answer, as a reward.

Checks are data evaluated by this module (never code from a blueprint or an LLM). A trainer
optimises exactly what this pays, so it pays nothing for doing nothing and nothing for
collateral damage:

- The *goal* checks say what must be true at the end (a field, a new row with its links, a
  removed row, a typed answer).
- "Nothing else changed" and the policy (no write to another user's rows, none before the user
  is identified) are *gates*: when either fails, every reward mode pays 0.

Reward modes, all reported, one chosen (``fraction`` unless the caller names another):

- ``fraction`` (default): the share of goal checks that pass, times the gates. Partial credit
  gives a dense signal for RL while the gates keep a shortcut from paying.
- ``binary``: 1 when every check passes and there is no violation, else 0.
- ``product``: τ²-style, the product over components (state changes, answer, gates) of each
  component's share: partial credit within a component, none for a missed component.

``success`` is the same in every mode: every check passes and there is no violation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from ..engine.diff import StateDiff, diff
from ..engine.state import State
from ..spec.task import REWARD_MODES, CheckSpec, RewardMode
from .answers import answer_matches, format_answer_value
from .policy import PolicyViolation

__all__ = ["CheckResult", "Verification", "evaluate_checks", "format_answer_value", "verify_states"]

DEFAULT_MODE: RewardMode = "fraction"
_GATES = ("no_other_changes",)


class CheckResult(BaseModel):
    description: str
    kind: str
    passed: bool
    detail: str = ""


class Verification(BaseModel):
    """The verdict on an episode: the reward in the chosen mode, every mode's reward, and why."""

    reward: float
    mode: RewardMode
    rewards: dict[str, float]
    success: bool
    checks: list[CheckResult]
    policy_violations: list[str] = []
    diff: dict[str, dict[str, int]]


def _same(actual: Any, expected: Any) -> bool:
    """Type-aware equality: a bool is not a number, money compares to the cent, text exactly."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(actual, expected, abs_tol=0.005)
    return type(actual) is type(expected) and actual == expected


def _new_rows(changes: StateDiff, entity: str) -> list[dict[str, Any]]:
    table = changes.tables.get(entity)
    return list(table.added) if table else []


def _row_exists(index: int, check: CheckSpec, changes: StateDiff, matched: dict[int, str], used: set[str]) -> tuple[bool, str]:
    """Match a new row by content and by its links to the new rows earlier checks matched."""
    entity = str(check.entity)
    for row in _new_rows(changes, entity):
        if row["id"] in used:
            continue
        if not all(k in row and _same(row[k], v) for k, v in check.where.items()):
            continue
        if not all(matched.get(target) is not None and row.get(f) == matched[target] for f, target in check.links.items()):
            continue
        matched[index] = row["id"]
        used.add(row["id"])
        return True, ""
    links = f" linked to the new rows of checks {sorted(set(check.links.values()))}" if check.links else ""
    return False, f"no new {entity} with {check.where}{links}"


def _evaluate(check: CheckSpec, final: State, changes: StateDiff, answer: str | None) -> tuple[bool, str]:
    if check.kind == "answer":
        return answer_matches(answer, check.value, check.answer_type or "text", choices=check.choices, subject=check.subject)
    entity = str(check.entity)
    if check.kind == "row_absent":
        row = final.get(entity, check.id)
        return row is None, "" if row is None else f"{entity} {check.id} still exists"
    row = final.get(entity, check.id)
    if row is None:
        return False, f"{entity} {check.id} does not exist"
    actual = row.get(str(check.field))
    if check.kind == "field_equals":
        ok = _same(actual, check.value)
        return ok, "" if ok else f"{entity} {check.id}.{check.field} is {actual!r}, expected {check.value!r}"
    table = changes.tables.get(entity)
    change = next((c for c in table.changed if c.id == check.id), None) if table else None
    start = change.fields[str(check.field)][0] if change and str(check.field) in change.fields else actual
    if not isinstance(actual, int | float) or not isinstance(start, int | float) or isinstance(actual, bool):
        return False, f"{entity} {check.id}.{check.field} is not a number"
    moved = round(actual - start, 2)
    ok = abs(moved - float(check.delta or 0)) < 0.005
    return ok, "" if ok else f"{entity} {check.id}.{check.field} changed by {moved}, expected {check.delta}"


def _unexplained(checks: Sequence[CheckSpec], changes: StateDiff) -> list[str]:
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


def _share(results: list[CheckResult]) -> float:
    return sum(r.passed for r in results) / len(results) if results else 1.0


def evaluate_checks(
    checks: Sequence[CheckSpec],
    changes: StateDiff,
    final: State,
    answer: str | None = None,
    *,
    violations: Sequence[PolicyViolation] = (),
    mode: RewardMode = DEFAULT_MODE,
) -> Verification:
    """Evaluate checks given what changed (from a journal or a full diff), the end state and the answer."""
    if mode not in REWARD_MODES:
        raise ValueError(f"unknown reward mode {mode!r}; modes: {', '.join(REWARD_MODES)}")
    results: list[CheckResult] = []
    matched: dict[int, str] = {}
    used: set[str] = set()
    for index, check in enumerate(checks):
        if check.kind == "no_other_changes":
            problems = _unexplained(checks, changes)
            passed, detail = not problems, "; ".join(problems[:5])
        elif check.kind == "row_exists":
            passed, detail = _row_exists(index, check, changes, matched, used)
        else:
            passed, detail = _evaluate(check, final, changes, answer)
        results.append(CheckResult(description=check.description, kind=check.kind, passed=passed, detail=detail))
    gates = [r for r in results if r.kind in _GATES]
    goals = [r for r in results if r.kind not in _GATES]
    gate = 1.0 if all(r.passed for r in gates) and not violations else 0.0
    state_goals = [r for r in goals if r.kind != "answer"]
    answer_goals = [r for r in goals if r.kind == "answer"]
    components = [_share(part) for part in (state_goals, answer_goals) if part]
    success = bool(goals) and all(r.passed for r in results) and not violations
    rewards = {
        "fraction": round(gate * _share(goals), 4) if goals else 0.0,
        "binary": 1.0 if success else 0.0,
        "product": round(gate * math.prod(components), 4) if goals else 0.0,
    }
    return Verification(
        reward=rewards[mode],
        mode=mode,
        rewards=rewards,
        success=success,
        checks=results,
        policy_violations=[v.message for v in violations],
        diff=changes.summary(),
    )


def verify_states(
    checks: Sequence[CheckSpec], initial: State, final: State, answer: str | None = None, *, mode: RewardMode = DEFAULT_MODE
) -> Verification:
    """Evaluate checks by comparing two whole states (for states that do not track changes)."""
    return evaluate_checks(checks, diff(initial, final), final, answer, mode=mode)
