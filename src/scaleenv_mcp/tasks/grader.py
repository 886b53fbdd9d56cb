"""The grader: a task's checks evaluated on what the agent did, as a reward.

Checks are data evaluated by this module (never code from a blueprint or an LLM). A trainer
optimises exactly what this pays, so the reward is decided by what the agent did (the end state,
the rows it was shown, the answer it submitted) and pays nothing for doing nothing, for
collateral damage or for words alone:

- The *goal* checks say what must be true at the end (a field, a new row with its links, a
  removed row, the answer, the row that decides a refusal was read).
- "Nothing else changed", "the reply does not claim a refused action was done" and the policy
  (no write to another user's rows, none before the user is identified, no rule the agent keeps
  broken) are *gates*: when one fails, every reward mode pays 0.
- ``reason`` checks (a refusal's reply names the value that blocks it) are reported, never
  scored: paying for the words would pay a guess.

The answer of an information task arrives on one of two channels, and the verdict says which
decided: ``typed`` (the value the agent submitted through the task's answer tool, compared by
equality) or ``prose`` (the final message, read by the hardened parser in :mod:`.answers`).

Reward modes, all reported, one chosen (``fraction`` unless the caller names another):

- ``fraction`` (default): the share of goal checks that pass, times the gates. Partial credit
  gives a dense signal for RL while the gates keep a shortcut from paying.
- ``binary``: 1 when every check passes and there is no violation, else 0.
- ``product``: τ²-style, the product over components (state changes, answer, rows read) of each
  component's share, times the gates: partial credit within a component, none for a missed one.

``success`` is the same in every mode: every goal and gate passes and there is no violation.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any, Final

from pydantic import BaseModel

from ..engine.diff import StateDiff, diff
from ..engine.state import State
from ..spec.task import REWARD_MODES, AnswerChannel, CheckSpec, RewardMode, TextCompare
from .answers import answer_matches, format_answer_value, typed_answer_matches
from .claims import claims_done
from .policy import PolicyViolation

__all__ = ["NOT_SUBMITTED", "CheckResult", "Evidence", "Verification", "evaluate_checks", "format_answer_value", "verify_states"]

DEFAULT_MODE: RewardMode = "fraction"
_GATES = ("no_other_changes", "not_claimed")
_REPORTED = ("reason",)


class _NotSubmitted:
    def __repr__(self) -> str:
        return "NOT_SUBMITTED"


NOT_SUBMITTED: Final = _NotSubmitted()
"""No value came through the answer tool (``None`` is a value an agent can submit)."""


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
    channel: AnswerChannel | None = None
    """which channel decided the answer checks (None: the task has none)"""
    components: dict[str, float] = {}
    """each component's share of passed checks (state, answer, read, gates) and the reported reason"""


class Evidence(BaseModel):
    """What the agent did besides changing the state: its final message, the value it submitted
    through the answer tool, and the rows its calls showed it."""

    model_config = {"arbitrary_types_allowed": True}

    message: str | None = None
    submitted: Any = NOT_SUBMITTED
    read: Collection[str] = ()
    channel: AnswerChannel | None = None
    """``typed``: only a submitted value answers; ``prose``: only the message; None: a submitted value if any"""


def _text_same(actual: str, expected: str, how: TextCompare) -> bool:
    if how == "exact":
        return actual == expected
    a, e = (" ".join(t.casefold().split()).rstrip(" .!;:") for t in (actual, expected))
    return e in a if how == "contains" else a == e


def _same(actual: Any, expected: Any, how: TextCompare = "exact") -> bool:
    """Type-aware equality: a bool is not a number, money compares to the cent, text as the field says."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(actual, expected, abs_tol=0.005)
    if isinstance(expected, str) and isinstance(actual, str):
        return _text_same(actual, expected, how)
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
        if not all(k in row and _same(row[k], v, check.compare.get(k, "exact")) for k, v in check.where.items()):
            continue
        if not all(matched.get(target) is not None and row.get(f) == matched[target] for f, target in check.links.items()):
            continue
        matched[index] = row["id"]
        used.add(row["id"])
        return True, ""
    links = f" linked to the new rows of checks {sorted(set(check.links.values()))}" if check.links else ""
    return False, f"no new {entity} with {check.where}{links}"


def _answer(check: CheckSpec, evidence: Evidence) -> tuple[bool, str, AnswerChannel]:
    """The answer check on the channel the episode uses: one submitted value, or the final message."""
    kind = check.answer_type or "text"
    submitted = evidence.submitted is not NOT_SUBMITTED
    if evidence.channel == "typed" or (evidence.channel is None and submitted):
        if not submitted:
            return False, "no answer was submitted through the answer tool", "typed"
        passed, detail = typed_answer_matches(evidence.submitted, check.value, kind)
        return passed, detail, "typed"
    passed, detail = answer_matches(evidence.message, check.value, kind, choices=check.choices, subject=check.subject)
    return passed, detail, "prose"


def _evaluate(check: CheckSpec, final: State, changes: StateDiff, evidence: Evidence) -> tuple[bool, str]:
    if check.kind == "reason":
        return answer_matches(evidence.message, check.value, "enum", choices=check.choices, subject=check.subject)
    if check.kind == "row_read":
        seen = str(check.id) in evidence.read
        return seen, "" if seen else f"the agent was never shown {check.entity} {check.id}"
    if check.kind == "not_claimed":
        claimed = claims_done(evidence.message, check.subject, done=[str(v) for v in check.choices])
        return not claimed, "the reply claims the refused action was done" if claimed else ""
    entity = str(check.entity)
    if check.kind == "row_absent":
        row = final.get(entity, check.id)
        return row is None, "" if row is None else f"{entity} {check.id} still exists"
    row = final.get(entity, check.id)
    if row is None:
        return False, f"{entity} {check.id} does not exist"
    actual = row.get(str(check.field))
    if check.kind == "field_equals":
        ok = _same(actual, check.value, check.compare.get(str(check.field), "exact"))
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
    evidence: Evidence | None = None,
) -> Verification:
    """Evaluate checks given what changed (from a journal or a full diff), the end state and what the
    agent did (``evidence``; ``answer`` alone is a final message on the prose channel)."""
    if mode not in REWARD_MODES:
        raise ValueError(f"unknown reward mode {mode!r}; modes: {', '.join(REWARD_MODES)}")
    evidence = evidence if evidence is not None else Evidence(message=answer)
    results: list[CheckResult] = []
    matched: dict[int, str] = {}
    used: set[str] = set()
    channel: AnswerChannel | None = None
    for index, check in enumerate(checks):
        if check.kind == "no_other_changes":
            problems = _unexplained(checks, changes)
            passed, detail = not problems, "; ".join(problems[:5])
        elif check.kind == "row_exists":
            passed, detail = _row_exists(index, check, changes, matched, used)
        elif check.kind == "answer":
            passed, detail, channel = _answer(check, evidence)
        else:
            passed, detail = _evaluate(check, final, changes, evidence)
        results.append(CheckResult(description=check.description, kind=check.kind, passed=passed, detail=detail))
    gates = [r for r in results if r.kind in _GATES]
    goals = [r for r in results if r.kind not in _GATES and r.kind not in _REPORTED]
    gate = 1.0 if all(r.passed for r in gates) and not violations else 0.0
    parts = {
        "state": [r for r in goals if r.kind not in ("answer", "row_read")],
        "answer": [r for r in goals if r.kind == "answer"],
        "read": [r for r in goals if r.kind == "row_read"],
    }
    shares = {name: _share(part) for name, part in parts.items() if part}
    success = bool(goals) and all(r.passed for r in [*goals, *gates]) and not violations
    rewards = {
        "fraction": round(gate * _share(goals), 4) if goals else 0.0,
        "binary": 1.0 if success else 0.0,
        "product": round(gate * math.prod(shares.values()), 4) if goals else 0.0,
    }
    reported = {r.kind: float(r.passed) for r in results if r.kind in _REPORTED}
    return Verification(
        reward=rewards[mode],
        mode=mode,
        rewards=rewards,
        success=success,
        checks=results,
        policy_violations=[v.message for v in violations],
        diff=changes.summary(),
        channel=channel,
        components={**shares, "gates": gate, **reported},
    )


def verify_states(
    checks: Sequence[CheckSpec], initial: State, final: State, answer: str | None = None, *, mode: RewardMode = DEFAULT_MODE
) -> Verification:
    """Evaluate checks by comparing two whole states (for states that do not track changes)."""
    return evaluate_checks(checks, diff(initial, final), final, answer, mode=mode)
