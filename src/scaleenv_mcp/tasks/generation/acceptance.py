"""Acceptance: the rules a candidate must pass to be kept, each returning a named reason.

A task is kept only if its reference solution is sound: every request said once, the state
changed by an action and left alone by a question, no internal id in the words, checks that pass
on the end state and fail on the initial one, every write needed, and no rule of the policy
broken. It must also be what a person would ask: one thing asked for once (not cut in parts), no
change taken back in the same breath, every row named the way a person names it (a room with its
hotel), every id the reference uses found from what the user said, and no goodwill gesture
without a reason behind it. Each rule is a named function returning a :class:`Rejection` (or None), so a rejected
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
    SPLIT_REQUEST = "split_request"
    """one thing asked for in parts: the same write tool on the same rows twice ("order 2 of X ... order 4 of X")"""
    CHANGE_THEN_UNDO = "change_then_undo"
    """a row changed and then changed back, changed again or cancelled by a later write (modify, then cancel)"""
    NAMED_WITHOUT_PARENT = "named_without_parent"
    """a row named by what is unique only within its parent, without the parent (a room number without its hotel)"""
    ID_NOT_LOOKED_UP = "id_not_looked_up"
    """a call of the reference uses an id no earlier call showed: an agent could only have guessed it"""
    UNJUSTIFIED_COMPENSATION = "unjustified_compensation"
    """a goodwill write (a credit, a certificate, a refund of a free amount) with no stated reason behind it"""
    CONDITION_WANTED = "condition_wanted"
    """the mix lacks tasks naming a row by a condition, and this one names none (and brings no new tool)"""
    DUPLICATE_OF_KEPT = "duplicate_of_kept"
    """the same writes (or, for a reply, the same instruction) as a task already kept"""
    TOOL_CAP = "tool_cap"
    """its first write tool already leads its share of the kept tasks"""
    TRAIT_WANTED = "trait_wanted"
    """made by a lagging trait's strategy, but the task came out without that trait"""
    ABANDONED_PASSES = "abandoned_passes"
    """a change of mind whose first request, done instead of the final one or besides it, still passes"""


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


def split_request(draft: Draft) -> Rejection | None:
    """One thing is asked for once: the same write tool on the same rows twice ("order 2 of The
    Ancient Archive ... order 4 of The Ancient Archive") is one request cut in parts, or the same
    request in other words; a person asks for 6, or for it once."""
    spec, seen = draft.spec, set()
    for call in draft.solution:
        tool = spec.tools[call.tool]
        if not tool.is_write:
            continue
        rows = sorted(pair for p, param in tool.params.items() for pair in param.named_ids(call.arguments.get(p)))
        key = (call.tool, tuple(rows))
        if key in seen:
            return Rejection.SPLIT_REQUEST
        seen.add(key)
    return None


_UNDOING = re.compile(r"cancel|delete|remove|void|revoke|withdraw|drop", re.IGNORECASE)
"""write tools whose name says they take back what a row stands for (an order cancelled, a bag removed)"""


def change_then_undo(draft: Draft, task: TaskSpec) -> Rejection | None:
    """No row of an action is changed and then taken back: a field set twice (Lisbon, then Austin),
    a field set back to what it was, a new row changed or removed again (create, then cancel), or a
    row changed and then cancelled (modify an order, then cancel it). Each asks the agent for work
    the end state does not show, and no person asks for both in one breath. Numbers that several
    writes move (stock, a balance) may move more than once: each move is part of what was asked."""
    if draft.order.kind != "action":
        return None
    spec, work = draft.spec, draft.state
    work.reset()
    set_fields: set[tuple[str, str, str]] = set()
    created: set[tuple[str, str]] = set()
    modified: set[tuple[str, str]] = set()
    try:
        for call in task.solution:
            if not spec.tools[call.tool].is_write:
                execute(work, call.tool, call.arguments)
                continue
            added, changed, removed = call_changes(work, call.tool, call.arguments)
            if removed & (created | modified):
                return Rejection.CHANGE_THEN_UNDO
            for (entity, row_id), fields in changed.items():
                plain = {f for f in fields if spec.entities[entity].fields[f].kind != "number"}  # a stock moved is no change of mind
                if (entity, row_id) in created or (plain and _UNDOING.search(call.tool) and (entity, row_id) in modified):
                    return Rejection.CHANGE_THEN_UNDO
                if any((entity, row_id, f) in set_fields for f in plain):
                    return Rejection.CHANGE_THEN_UNDO
                set_fields |= {(entity, row_id, f) for f in fields}
                if plain:
                    modified.add((entity, row_id))
            created |= added
        assert draft.initial is not None
        for entity, row_id, fname in set_fields:  # a field changed and then set back to what it was
            before, after = draft.initial.get(entity, row_id), work.get(entity, row_id)
            if before is not None and after is not None and before.get(fname) == after.get(fname):
                return Rejection.CHANGE_THEN_UNDO
    finally:
        work.reset()
    return None


def minimal(draft: Draft, task: TaskSpec) -> Rejection | None:
    """Every write of an action's reference changes something and is needed: a write that changes
    nothing (a value already held) makes a task whose checks do not say what the request says, and
    when dropping any one write still passes every check, the task pays for less than it asks."""
    if draft.order.kind != "action":
        return None
    spec, work = draft.spec, draft.state
    writes = [i for i, call in enumerate(task.solution) if spec.tools[call.tool].is_write]
    work.reset()
    try:
        for i, call in enumerate(task.solution):
            if i not in writes:
                execute(work, call.tool, call.arguments)
                continue
            added, changed, removed = call_changes(work, call.tool, call.arguments)
            if not (added or changed or removed):
                return Rejection.NOT_MINIMAL
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


def id_looked_up(draft: Draft, task: TaskSpec) -> Rejection | None:
    """Every id a call of the reference passes was shown by an earlier call's result (the user's
    lookup, a search by the name the user gave, a listing of their rows): the reference finds each
    row from what the user said, as an agent must, and never uses an id it could only have guessed."""
    spec, work = draft.spec, draft.state
    shown: set[str] = set()
    work.reset()
    try:
        for call in task.solution:
            tool = spec.tools[call.tool]
            for pname, param in tool.params.items():
                if any(row_id not in shown for _, row_id in param.named_ids(call.arguments.get(pname))):
                    return Rejection.ID_NOT_LOOKED_UP
            result = execute(work, call.tool, call.arguments)
            if result.ok and result.data is not None:
                _ids_in(result.data, shown)
    finally:
        work.reset()
    return None


def _ids_in(data: object, found: set[str], depth: int = 0) -> None:
    """Every id a result shows an agent: its rows' ids and the ids they refer to (``customer_id``)."""
    if depth > 4:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if (key == "id" or key.endswith("_id")) and isinstance(value, str):
                found.add(value)
            elif isinstance(value, dict | list):
                _ids_in(value, found, depth + 1)
    elif isinstance(data, list):
        for item in data:
            _ids_in(item, found, depth + 1)


def parent_named(draft: Draft) -> Rejection | None:
    """A row whose name is unique only within its parent is named with the parent: "room XK1779 at
    the Harbor Inn", not "room XK1779" (room numbers repeat across hotels; the blueprint says so with
    ``unique_together``), since a person names a room with its hotel even when, by luck, the
    number alone is unique in the seeded data."""
    prefixes = {e.id_prefix: name for name, e in draft.spec.entities.items() if e.id_prefix}
    for row_id, used in draft.described.items():
        entity = prefixes.get(row_id.rsplit("-", 1)[0])
        if entity is not None and draft.parent_unsaid(entity, used):
            return Rejection.NAMED_WITHOUT_PARENT
    return None


_GOODWILL = re.compile(r"compensat|credit|certificate|goodwill|voucher|refund|gesture", re.IGNORECASE)
"""words that mark a write as a goodwill gesture when it also takes an amount of the agent's choosing"""


def compensation_justified(draft: Draft, task: TaskSpec) -> Rejection | None:
    """A goodwill write (a tool whose name or description speaks of compensation, credit, a
    certificate, a voucher or a refund, and that takes an amount of money rather than a row's) is
    only asked for in a task with the ``compensation`` trait and a stated reason: an agent that hands
    out credit to whoever calls is what a policy test must catch, not what a task should reward."""
    if "compensation" in task.traits and task.script is not None and task.script.reason:
        return None
    spec = draft.spec
    for call in task.solution:
        tool = spec.tools[call.tool]
        free_amount = any(p.type in ("money", "float", "int") and "amount" in name for name, p in tool.params.items())
        if tool.is_write and free_amount and (_GOODWILL.search(call.tool) or _GOODWILL.search(tool.description or "")):
            return Rejection.UNJUSTIFIED_COMPENSATION
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


def abandoned_calls_fail(draft: Draft, task: TaskSpec) -> Rejection | None:
    """An agent that did what the user first asked, and took back, fails: the abandoned calls run
    in place of the final request's writes fail the checks, and so do they run after the whole
    reference, unless the tool then refuses them (a row already gone cannot be changed again, and
    that call changes nothing)."""
    if draft.taken_back is None:
        return None
    abandoned, final, work = draft.taken_back.abandoned, draft.taken_back.final, draft.state
    at = next(i for i, c in enumerate(task.solution) if c in final)
    instead = [*(c for c in task.solution[:at] if c not in final), *abandoned, *(c for c in task.solution[at:] if c not in final)]
    try:
        work.reset()
        results = [(c in abandoned, execute(work, c.tool, c.arguments).ok) for c in instead]
        if not all(ok for was_abandoned, ok in results if was_abandoned):
            return Rejection.ABANDONED_PASSES  # the first request cannot even be done: it tests nothing
        if evaluate_checks(task.checks, work.changes(), work).success:
            return Rejection.ABANDONED_PASSES
        work.reset()
        for call in task.solution:
            execute(work, call.tool, call.arguments)
        done = [execute(work, c.tool, c.arguments).ok for c in abandoned]
        if all(done) and evaluate_checks(task.checks, work.changes(), work).success:
            return Rejection.ABANDONED_PASSES
    finally:
        work.reset()
    return None



DRAFT_RULES: Sequence[DraftRule] = (repeated_request, changes_state, split_request, parent_named)
"""Rules on the draft, once its goals are added (before the checks are derived)."""
WORDING_RULES: Sequence[WordingRule] = (no_internal_id,)
"""Rules on the instruction, before the facts held back are drawn."""
TASK_RULES: Sequence[TaskRule] = (
    checks_pass_at_end, checks_fail_at_start, compensation_justified, id_looked_up, change_then_undo, minimal, within_policy,
    abandoned_calls_fail,
)
"""Rules on the assembled task, in order (the later ones replay the solution: the costly ones last)."""


def first_rejection(rules: Sequence[Callable[..., Rejection | None]], *subject: object) -> Rejection | None:
    """The first rule of ``rules`` that rejects ``subject``, or None when all accept it."""
    for rule in rules:
        rejection = rule(*subject)
        if rejection is not None:
            return rejection
    return None
