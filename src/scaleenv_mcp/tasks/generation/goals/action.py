"""Action goals: the user asks for one, two or three writes on their own rows (or a catalogue's).

Each goal picks a write tool (first one no kept task uses yet, then preferably one the dependency
graph links to the previous goal's tool, so the goals tell one story), binds its arguments to
rows the user can name, discovers those rows the way an agent would, and runs the write on the
working state. The checks come later, from what actually changed (see :mod:`..assembly`).
"""

from __future__ import annotations

from ..acceptance import Rejection
from ..changes import changes_since, journal_mark
from ..draft import Draft
from .common import Read, bind_rows, candidates, open_details, persona_params, request_text, succeeds

__all__ = ["add", "add_write"]

_TRIES = 3
"""tools tried for one goal (a goal whose tool cannot be bound tries another), and tries of a forced write"""
_FOLLOW_SHARE = 0.6
"""how often a later goal takes a write the previous goal's tool leads to in the graph"""


def add(draft: Draft) -> Rejection | None:
    """The order's goals as writes; ``no_binding`` when none could be bound (or the forced one)."""
    spec, rng, order = draft.spec, draft.rng, draft.order
    if order.force_tool is not None:  # the allowed counterpart of a refusal: that one write
        if not any(add_write(draft, order.force_tool, draft.touched | set(draft.known)) for _ in range(_TRIES)):
            return Rejection.NO_BINDING
        draft.decides = order.force_tool
        if order.goals > 1:  # a second goal when the order asks for more (two-goal conversations), if one binds
            others = [w for w in spec.write_tools() if w != order.force_tool]
            rng.shuffle(others)
            any(add_write(draft, tool, set()) for tool in others[:_TRIES])
        return None
    assert draft.graph is not None
    writes = [w for w in spec.write_tools() if not spec.tools[w].goodwill]  # a gesture is a decision: see .compensation
    if not writes:
        return Rejection.NO_BINDING
    last: str | None = None
    for _ in range(order.goals):
        follow = [b for b in draft.graph.successors(last) if b in writes] if last else []
        for attempt in range(_TRIES):  # a goal whose tool cannot be bound tries another tool
            fresh = [w for w in writes if w not in order.covered]
            if fresh and not last and attempt == 0:  # write tools no kept task uses yet go first
                tool = rng.choice(fresh)
            else:
                tool = rng.choice(follow) if follow and rng.random() < _FOLLOW_SHARE else rng.choice(writes)
            if add_write(draft, tool, draft.touched | set(draft.known)):
                last = tool
                break
    return None if draft.phrases else Rejection.NO_BINDING


def add_write(draft: Draft, tool_name: str, prefer: set[str], avoid: frozenset[str] = frozenset()) -> bool:
    """Bind, describe and run one write; False (and no change) if no good binding exists. ``avoid``:
    rows the write must not name (a branching goal's row, already decided: renew it, then return it
    is no second request)."""
    spec = draft.spec
    tool = spec.tools[tool_name]
    params = persona_params(draft, tool_name)
    made = {row_id for ids in draft.created.values() for row_id in ids} | avoid
    calls = candidates(draft, tool_name, params)
    if made:  # a row this task made is not changed again (create, then change it: see acceptance.change_then_undo)
        calls = [a for a in calls if not made & {x for v in a.values() for x in (v if isinstance(v, list) else [v]) if isinstance(x, str)}]
    calls.sort(key=lambda a: -sum(1 for v in a.values() for x in (v if isinstance(v, list) else [v]) if isinstance(x, str) and x in prefer))
    for args in calls[:40]:
        reads: list[Read] = []
        bound = bind_rows(draft, tool_name, args, params, reads)
        if bound is None:
            continue
        phrases, rows = bound
        if not succeeds(draft.state, tool_name, args):
            continue
        mark = draft.checkpoint()
        if any(draft.run(read, read_args) is None for read, read_args in reads):  # the search that finds a pair
            draft.rollback(mark)
            continue
        if not all(draft.discover(entity, row) and open_details(draft, entity, row, rows) for entity, row in rows):
            draft.rollback(mark)
            continue
        mark_rows = journal_mark(draft.state)
        if draft.run(tool_name, args) is None:
            draft.rollback(mark)
            continue
        added, changed, _removed = changes_since(draft.state, mark_rows)
        for entity, row_id in sorted(added):
            draft.created.setdefault(entity, []).append(row_id)
        draft.touched.update(row_id for _, row_id in added)
        draft.touched.update(row_id for _, row_id in changed)
        draft.rules += len(tool.requires)
        text = request_text(draft, tool_name, args, phrases, params)
        draft.say(text, draft.facts[mark[2] :])
        return True
    return False

