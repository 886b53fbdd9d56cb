"""Change of mind: the user asks for one thing, then takes it back and asks for another.

An agent that acts on the first request before the user has confirmed it, or does both, fails:
the end state is the final request's, and the ``no_other_changes`` gate pays nothing for an extra
change. The goal is drafted twice on the same user. The first request is bound and run inside a
trial (so its calls, the abandoned ones, are known and the state is left as it was); then the final
request is bound for real: the same tool on another row or with another value ("cancel my other
order instead"), or another tool on the same row ("rather than cancelling it, change the
quantity"). Both requests are ones the policy allows (the binder keeps only calls within it); that
the abandoned calls fail the checks is an acceptance rule (:func:`..acceptance.abandoned_calls_fail`),
since the checks exist only once the task is assembled.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ....engine.runtime import execute
from ....spec.task import ToolCall
from ..acceptance import Rejection
from ..draft import Draft, TakenBack
from .action import add_write

__all__ = ["add"]

_TOOLS = 3
"""write tools tried for the first request"""
_SAME_ROW_TOOLS = 2
"""other tools tried on the first request's row for the final one"""
_DRAFT_FIELDS = (
    "known", "solution", "created", "touched", "phrases", "requests", "details", "facts", "described",
    "conditions", "names", "rules", "distractors", "aggregates", "read",
)  # fmt: skip
"""what a draft accumulates as goals are added (the rest is shared by the whole generation)"""
_NESTED = frozenset({"details", "created"})
"""fields holding lists in a dict: copied deep"""


def add(draft: Draft) -> Rejection | None:
    """One goal the user first asks for in another form, then the order's other goals (as an action
    task's); ``no_binding`` when no two different requests the policy allows can be bound."""
    spec = draft.spec
    tools = [w for w in spec.write_tools() if not spec.tools[w].goodwill]  # a gesture is the policy's decision
    draft.rng.shuffle(tools)
    for tool in tools[:_TOOLS]:
        first = _first_request(draft, tool)
        if first is None:
            continue
        same_row = [t for t in tools if t != tool and _takes_rows_of(draft, t, first.abandoned)]
        draft.rng.shuffle(same_row)
        finals: list[tuple[str, set[str]]] = [(tool, set())]  # the same tool, another row or value
        finals += [(t, _ids(first.abandoned)) for t in same_row[:_SAME_ROW_TOOLS]]  # another tool, the same row
        if draft.rng.random() < 0.5:
            finals.reverse()
        for final_tool, prefer in finals:
            at, start = len(draft.phrases), len(draft.solution)
            if _final_request(draft, final_tool, prefer | draft.touched | set(draft.known), first):
                final = _writes(draft, draft.solution[start:])
                draft.taken_back = TakenBack(first.first, first.first_request, first.abandoned, final, at)
                draft.traits.add("change_of_mind")
                _more_goals(draft, final_tool, tools, draft.order.goals - 1)
                return None
    return Rejection.NO_BINDING


def _more_goals(draft: Draft, last: str, tools: list[str], goals: int) -> None:
    """The order's other goals, after the one the user changes their mind about: each a write the
    previous goal's tool leads to in the graph when there is one (one story), else any; a goal that
    cannot be bound is dropped, as an action task's is. The user asks for them in the opening, before
    the change of mind, so none may act on a row the first or the final request names or changed,
    and none names its row by a condition (which of their rows is "the latest" may depend on the
    final request)."""
    assert draft.graph is not None and draft.taken_back is not None
    taken = _ids(draft.taken_back.abandoned) | _ids(draft.taken_back.final) | draft.touched
    taken.discard(str(draft.persona["id"]))
    order = draft.order
    draft.order = replace(order, condition_share=0.0)
    try:
        for _ in range(goals):
            follow = [b for b in draft.graph.successors(last) if b in tools]
            for _attempt in range(_TOOLS):
                tool = draft.rng.choice(follow) if follow and draft.rng.random() < 0.6 else draft.rng.choice(tools)
                if _other_goal(draft, tool, taken):
                    last = tool
                    break
    finally:
        draft.order = order


def _other_goal(draft: Draft, tool: str, taken: set[str]) -> bool:
    """Add one more write to the draft, unless it acts on a row in ``taken``."""
    touched = set(draft.touched)

    def on_taken(start: int) -> bool:
        return bool(_ids(_writes(draft, draft.solution[start:])) & taken or (draft.touched - touched) & taken)

    return _add_unless(draft, tool, set(draft.known) - taken, on_taken)


def _saved(draft: Draft) -> dict[str, Any]:
    """A copy of what the draft has accumulated, to put back when a request is undone."""
    return {name: (copy.deepcopy if name in _NESTED else copy.copy)(getattr(draft, name)) for name in _DRAFT_FIELDS}


def _restore(draft: Draft, saved: dict[str, Any]) -> None:
    for name, value in saved.items():
        setattr(draft, name, value)
    draft.owned_cache.clear()  # the rows the user owns may have changed with the undone write


def _writes(draft: Draft, calls: list[ToolCall]) -> list[ToolCall]:
    return [c for c in calls if draft.spec.tools[c.tool].is_write]


def _ids(calls: list[ToolCall]) -> set[str]:
    """Every id the calls name (a ref, or each of a list of refs)."""
    found: set[str] = set()
    for call in calls:
        for value in call.arguments.values():
            found.update(item for item in (value if isinstance(value, list) else [value]) if isinstance(item, str))
    return found


def _first_request(draft: Draft, tool: str) -> TakenBack | None:
    """Bind, say and run one request inside a trial: what it said and called, the draft left as it was."""
    saved = _saved(draft)
    start = len(draft.solution)
    taken: TakenBack | None = None
    with draft.state.trial():
        if add_write(draft, tool, draft.touched | set(draft.known)):
            taken = TakenBack(draft.phrases[-1], draft.requests[-1], _writes(draft, draft.solution[start:]), [], -1)
    _restore(draft, saved)
    return taken if taken is not None and taken.abandoned else None


def _final_request(draft: Draft, tool: str, prefer: set[str], first: TakenBack) -> bool:
    """Add the final request to the draft, unless it is the first one again (the same calls or words)."""

    def again(start: int) -> bool:
        same_calls = _writes(draft, draft.solution[start:]) == first.abandoned
        return same_calls or draft.requests[-1] == first.first_request or draft.phrases[-1] == first.first

    return _add_unless(draft, tool, prefer, again)


def _add_unless(draft: Draft, tool: str, prefer: set[str], unwanted: Callable[[int], bool]) -> bool:
    """Add one write to the draft unless ``unwanted`` (given where its calls start in the reference)
    says so. It is tried inside a trial, so an unwanted one leaves the state as it was; a kept one
    is then run again for real (the same calls on the same state make the same rows and ids)."""
    saved = _saved(draft)
    start = len(draft.solution)
    after: dict[str, Any] | None = None
    with draft.state.trial():
        if add_write(draft, tool, prefer) and not unwanted(start):
            after = _saved(draft)
    _restore(draft, saved)
    if after is None:
        return False
    for call in after["solution"][start:]:
        execute(draft.state, call.tool, call.arguments)
    _restore(draft, after)
    return True


def _takes_rows_of(draft: Draft, tool: str, calls: list[ToolCall]) -> bool:
    """Whether ``tool`` takes a row of a kind ``calls`` acted on (a ref parameter to the same entity,
    the user themself aside), so it can be asked for on that same row."""
    spec = draft.spec
    entities = {
        str(param.ref)
        for call in calls
        for pname, param in spec.tools[call.tool].params.items()
        if param.type == "ref" and param.ref is not None and pname in call.arguments and param.ref != draft.persona_entity
    }
    return any(p.type == "ref" and p.ref in entities for p in spec.tools[tool].params.values())
