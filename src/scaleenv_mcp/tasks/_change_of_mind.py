"""Change of mind: the user asks for one thing, then takes it back and asks for another.

An agent that acts on the first request before the user has confirmed it, or does both, fails:
the end state is the final request's, and the ``no_other_changes`` gate pays nothing for an extra
change. The goal is drafted twice on the same user: the first request is bound and run inside a
trial (so its calls, the abandoned ones, are known and the state is left as it was), then the final
request is bound for real, either the same tool on another row or with another value ("cancel my
other order instead"), or another tool on the same row ("rather than cancelling it, change the
quantity"). Both requests are ones the policy allows (the binder only keeps calls within it); that
the abandoned calls fail the checks is verified once the checks exist (:func:`abandoned_fails`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..engine.runtime import execute
from ..engine.state import State
from ..spec.model import DomainSpec
from ..spec.task import TaskSpec, ToolCall
from .grader import evaluate_checks

__all__ = ["TakenBack", "abandoned_fails", "draft_change_of_mind"]

_DRAFT_FIELDS = (
    "known", "solution", "created", "touched", "phrases", "requests", "details", "facts", "described",
    "conditions", "rules", "distractors", "aggregates", "read", "names",
)  # fmt: skip
"""what a draft accumulates as goals are added (the rest is shared by the whole generation)"""


@dataclass(frozen=True)
class TakenBack:
    """The request the user makes first and takes back: as said (with the facts that find its rows),
    without those facts (for an opening that holds them back), and the write calls it would take."""

    first: str
    first_request: str
    abandoned: list[ToolCall]


class _Undo(Exception):
    """Raised inside ``State.atomic`` to undo a final request that does not differ from the first."""


def _saved(build: Any) -> dict[str, Any]:
    """A copy of what the draft has accumulated (lists of lists deep, the rest one level)."""
    deep = {"details", "created"}
    return {name: (copy.deepcopy if name in deep else copy.copy)(getattr(build, name)) for name in _DRAFT_FIELDS}


def _restore(build: Any, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        setattr(build, name, value)
    build.owned_cache.clear()  # the rows the user owns may have changed with the undone write


def _writes(spec: DomainSpec, calls: list[ToolCall]) -> list[ToolCall]:
    return [c for c in calls if spec.tools[c.tool].is_write]


def _ids(calls: list[ToolCall]) -> set[str]:
    found: set[str] = set()
    for call in calls:
        for value in call.arguments.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    found.add(item)
    return found


def draft_change_of_mind(build: Any, tools: list[str], action_goal: Any) -> TakenBack | None:
    """Draft a goal the user first asks for in another form: ``tools`` are the write tools to try,
    in order; ``action_goal(build, tool, prefer)`` binds, says and runs one write (the generator's
    action goal). On success the final request is in the draft like any goal and the first request
    is returned; on failure the draft is as it was."""
    spec: DomainSpec = build.spec
    for tool in tools:
        first = _first_request(build, tool, action_goal)
        if first is None:
            continue
        rows = _ids(first.abandoned)
        same_row = [t for t in spec.write_tools() if t != tool and _names_rows_of(spec, t, first, build.state)]
        build.rng.shuffle(same_row)
        finals: list[tuple[str, set[str]]] = [(tool, set())]  # the same tool on another row or with another value
        finals += [(t, rows) for t in same_row[:2]]  # another tool on the same row
        if build.rng.random() < 0.5:
            finals.reverse()
        for final_tool, prefer in finals:
            if _final_request(build, final_tool, prefer | build.touched | set(build.known), first, action_goal):
                return first
    return None


def _first_request(build: Any, tool: str, action_goal: Any) -> TakenBack | None:
    """Bind, say and run one request inside a trial: what it said and called, the draft left as it was."""
    saved = _saved(build)
    start = len(build.solution)
    taken: TakenBack | None = None
    with build.state.trial():
        if action_goal(build, tool, build.touched | set(build.known)):
            taken = TakenBack(build.phrases[-1], build.requests[-1], _writes(build.spec, build.solution[start:]))
    _restore(build, saved)
    return taken if taken is not None and taken.abandoned else None


def _final_request(build: Any, tool: str, prefer: set[str], first: TakenBack, action_goal: Any) -> bool:
    """Add the final request to the draft, unless it is the first one again (the same calls or words)."""
    saved = _saved(build)
    start = len(build.solution)
    try:
        with build.state.atomic():
            if not action_goal(build, tool, prefer):
                raise _Undo
            final = _writes(build.spec, build.solution[start:])
            if final == first.abandoned or build.requests[-1] == first.first_request or build.phrases[-1] == first.first:
                raise _Undo
    except _Undo:
        _restore(build, saved)
        return False
    return True


def _names_rows_of(spec: DomainSpec, tool: str, first: TakenBack, state: State) -> bool:
    """Whether ``tool`` takes a row of the kind the first request's write acted on (a ref parameter
    to the same entity), so it can be asked for on that same row."""
    entities: set[str] = set()
    for call in first.abandoned:
        for pname, param in spec.tools[call.tool].params.items():
            if param.type == "ref" and param.ref is not None and pname in call.arguments and param.ref != _actor(spec):
                entities.add(str(param.ref))
    return any(p.type == "ref" and p.ref in entities for p in spec.tools[tool].params.values())


def _actor(spec: DomainSpec) -> str | None:
    return spec.actor.entity if spec.actor else None


def abandoned_fails(spec: DomainSpec, work: State, task: TaskSpec, abandoned: list[ToolCall]) -> bool:
    """Whether an agent that did the first request fails the task: its calls run instead of the
    reference's writes fail the checks, and run besides them (after the reference) fail them too,
    unless the tool then refuses them (an order cancelled after its quantity changed is still a
    change; a row already gone cannot be changed twice, and that call changes nothing)."""
    try:
        work.reset()
        if not all(execute(work, c.tool, c.arguments).ok for c in abandoned):
            return False  # the first request could not even be done: it tests nothing
        if evaluate_checks(task.checks, work.changes(), work).success:
            return False
        work.reset()
        for call in task.solution:
            execute(work, call.tool, call.arguments)
        results = [execute(work, c.tool, c.arguments) for c in abandoned]
        if all(r.ok for r in results) and evaluate_checks(task.checks, work.changes(), work).success:
            return False
    finally:
        work.reset()
    return True
