"""Acceptance: the rules a candidate must pass to be kept, each returning a named reason.

A task is kept only if its reference solution is sound: every request said once, the state
changed by an action and left alone by a question, no internal id in the words, checks that pass
on the end state and fail on the initial one, every write needed, and no rule of the policy
broken. Each rule is a named function returning a :class:`Rejection` (or None), so a rejected
candidate leaves a trace: the generator counts them by reason (:class:`.generator.GenerationReport`)
and ``scaleenv tasks DOMAIN --stats`` prints the counts.

The rules run in three stages, because the assembly draws from the random stream between them
(the held-back facts) and a rule that rejects earlier must not consume a draw:

- :data:`DRAFT_RULES`, on the draft once its goals are added;
- :data:`WORDING_RULES`, on the instruction, before the facts held back are drawn;
- :data:`TASK_RULES`, on the assembled task.

A new rule is a function here and one line in its stage's list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import StrEnum

from ...engine.diff import StateDiff
from ...engine.runtime import execute
from ...spec.task import TaskSpec
from ..grader import Evidence, evaluate_checks
from ..policy import PolicyMonitor
from .changes import call_changes
from .draft import Draft

__all__ = [
    "DRAFT_RULES",
    "TASK_RULES",
    "WORDING_RULES",
    "DraftRule",
    "Rejection",
    "TaskRule",
    "WordingRule",
    "first_rejection",
]


class Rejection(StrEnum):
    """Why a candidate was not kept (the value is what reports and the manifest show)."""

    PERSONA_NOT_FOUND = "persona_not_found"
    """the entry lookup did not find the user drawn (the draft could not start)"""
    NO_BINDING = "no_binding"
    """the goal strategy could bind no goal to rows the user can name"""
    REPEATED_REQUEST = "repeated_request"
    """a request is said twice word for word"""
    NO_CHANGE = "no_change"
    """an action task whose writes left the state as it was"""
    INTERNAL_ID_IN_INSTRUCTION = "internal_id_in_instruction"
    """the instruction gives an internal id (ORD-0042) no person would know"""
    CHECKS_FAIL_AT_END = "checks_fail_at_end"
    """the reference solution does not pass the task's own checks"""
    CHECKS_PASS_AT_START = "checks_pass_at_start"
    """the checks already pass before the agent does anything"""
    NOT_MINIMAL = "not_minimal"
    """a write changes nothing, is undone by a later one, or is not needed to pass the checks"""
    BREAKS_POLICY = "breaks_policy"
    """the reference solution breaks a rule of the policy (it could never be paid)"""
    CONDITION_WANTED = "condition_wanted"
    """the mix lacks tasks naming a row by a condition, and this one names none (and brings no new tool)"""
    DUPLICATE_OF_KEPT = "duplicate_of_kept"
    """the same writes (or, for a reply, the same instruction) as a task already kept"""
    TOOL_CAP = "tool_cap"
    """its first write tool already leads its share of the kept tasks"""
    TRAIT_WANTED = "trait_wanted"
    """made by a lagging trait's strategy, but the task came out without that trait"""


DraftRule = Callable[[Draft], Rejection | None]
WordingRule = Callable[[str], Rejection | None]
TaskRule = Callable[[Draft, TaskSpec], Rejection | None]

_INTERNAL_ID = re.compile(r"\b[A-Z][A-Z0-9]{0,5}-\d{4,}\b")


def repeated_request(draft: Draft) -> Rejection | None:
    """A request said twice word for word reads as a mistake, and its second copy asks for nothing."""
    return Rejection.REPEATED_REQUEST if len(set(draft.phrases)) < len(draft.phrases) else None


def changes_state(draft: Draft) -> Rejection | None:
    """An action task's checks come from what changed: with no change there is nothing to check."""
    if draft.order.kind == "action" and draft.state.changes().is_empty():
        return Rejection.NO_CHANGE
    return None


def no_internal_id(instruction: str) -> Rejection | None:
    """A user knows names, dates and emails, not the row ids a database gives; an id in the words
    would also hand the agent what it should find."""
    return Rejection.INTERNAL_ID_IN_INSTRUCTION if _INTERNAL_ID.search(instruction) else None


def checks_pass_at_end(draft: Draft, task: TaskSpec) -> Rejection | None:
    """The reference solution (its calls and its reply) passes the task's checks: else no agent could."""
    verdict = evaluate_checks(
        task.checks, draft.state.changes(), draft.state, evidence=Evidence(message=draft.answer, read=draft.read)
    )
    return None if verdict.success else Rejection.CHECKS_FAIL_AT_END


def checks_fail_at_start(draft: Draft, task: TaskSpec) -> Rejection | None:
    """Doing nothing fails the checks: else a task pays an agent that did not act."""
    assert draft.initial is not None
    verdict = evaluate_checks(task.checks, StateDiff(), draft.initial, evidence=Evidence())
    return Rejection.CHECKS_PASS_AT_START if verdict.success else None


def minimal(draft: Draft, task: TaskSpec) -> Rejection | None:
    """Every write of an action's reference is needed, changes something, and is not undone by a later one.

    A write that changes nothing (a value already held), a field set twice (Lisbon, then
    Austin), a new row changed again (create, then cancel): each makes a task whose checks do not
    say what the request says. And when dropping any one write still passes every check, the
    task pays for less than it asks. Numbers that several writes move (stock, a balance) may
    move more than once: each move is part of what was asked.
    """
    if draft.order.kind != "action":
        return None
    spec, work = draft.spec, draft.state
    writes = [i for i, call in enumerate(task.solution) if spec.tools[call.tool].is_write]
    work.reset()
    set_fields: set[tuple[str, str, str]] = set()
    created: set[tuple[str, str]] = set()
    try:
        for i, call in enumerate(task.solution):
            if i not in writes:
                execute(work, call.tool, call.arguments)
                continue
            added, changed, removed = call_changes(work, call.tool, call.arguments)
            if not (added or changed or removed):
                return Rejection.NOT_MINIMAL
            for (entity, row_id), fields in changed.items():
                if (entity, row_id) in created:
                    return Rejection.NOT_MINIMAL
                for fname in fields:
                    key = (entity, row_id, fname)
                    if spec.entities[entity].fields[fname].kind != "number" and key in set_fields:
                        return Rejection.NOT_MINIMAL
                    set_fields.add(key)
            if removed & created:
                return Rejection.NOT_MINIMAL
            created |= added
    finally:
        work.reset()
    for skip in writes:
        try:
            for i, call in enumerate(task.solution):
                if i != skip:
                    execute(work, call.tool, call.arguments)
            if evaluate_checks(task.checks, work.changes(), work).success:
                return Rejection.NOT_MINIMAL
        finally:
            work.reset()
    return None


def within_policy(draft: Draft, task: TaskSpec) -> Rejection | None:
    """The reference solution, replayed as an episode is watched, breaks no rule of the policy:
    the grader gates every reward on it, so a task whose own solution breaks it could never pay."""
    spec, work = draft.spec, draft.state
    if spec.actor is None:
        return None
    monitor = PolicyMonitor(spec, actor_id=task.actor)
    work.reset()
    try:
        for call in task.solution:
            before = monitor.touched_before(work, call.tool, call.arguments)
            monitor.observe(work, call.tool, execute(work, call.tool, call.arguments), before)
    finally:
        work.reset()
    return Rejection.BREAKS_POLICY if monitor.violations else None


DRAFT_RULES: Sequence[DraftRule] = (repeated_request, changes_state)
"""Rules on the draft, once its goals are added (before the checks are derived)."""
WORDING_RULES: Sequence[WordingRule] = (no_internal_id,)
"""Rules on the instruction, before the facts held back are drawn."""
TASK_RULES: Sequence[TaskRule] = (checks_pass_at_end, checks_fail_at_start, minimal, within_policy)
"""Rules on the assembled task, in order (the later ones replay the solution: the costly ones last)."""


def first_rejection(rules: Sequence[Callable[..., Rejection | None]], *subject: object) -> Rejection | None:
    """The first rule of ``rules`` that rejects ``subject``, or None when all accept it."""
    for rule in rules:
        rejection = rule(*subject)
        if rejection is not None:
            return rejection
    return None
