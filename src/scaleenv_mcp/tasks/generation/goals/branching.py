"""Branching goals: the user's request is decided by a field of their own row that they do not state.

"My order for The Ancient Archive: if it is still pending or paid, please cancel it. Otherwise, I
want to return it: it arrived damaged." The user does not say the order's status, so the agent
must look it up before it knows which write to make. This is where an agent's judgment lives in
a support conversation: the condition is a field the rules read (a status, a tier), chosen by
execution, not by name: the first write is allowed (the tool accepts it and no rule the agent
keeps forbids it) for the values in the condition and not for some others, and the second write
is allowed for at least one value outside it, so the "otherwise" branch is a request that policy
could grant.

The condition may also be a date compared with today ("if its due date has not passed yet, renew
it; otherwise I'm returning it") or a small count ("fewer than 2 renewals"), and where a row's own
writes split no field, the "otherwise" may make a new row in its place ("if it is still scheduled,
move it to the 10:00 slot; otherwise book me that slot"), but only after a write that keeps its row
(a reschedule, never a cancel). Both branches are about one row, so the sentence reads as one request. Only the branch the state
decides runs in the reference solution (its checks come from its diff, as for any action goal);
the other is kept as :attr:`Branch.untaken`, and :func:`untaken_fails` replays it in place of the
taken one to prove that an agent who guessed the branch fails the checks. Which branch the state
takes is steered by the caller (``holds``), so across a domain's tasks the condition holds in
about half of them and "always take the first branch" is worth no more than chance.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ....engine.binding import candidate_calls
from ....engine.runtime import execute
from ....engine.seed import seed_state
from ....engine.state import State
from ....spec.memo import per_spec
from ....spec.model import CreateEffect, DomainSpec, FieldSpec
from ....spec.task import TaskSpec, ToolCall
from ....spec.types import ref_var
from ...derive import checks_from_diff
from ...grader import evaluate_checks
from ...wording import branch_condition, branch_request
from ..acceptance import Rejection
from ..changes import changes_since, journal_mark
from ..draft import Draft
from .action import add_write
from .common import bind_rows, candidates, persona_params, request_text, succeeds

__all__ = ["Branch", "add", "branch_verdicts", "branching", "probe_values", "side_of", "untaken_fails"]


@dataclass(frozen=True)
class Branch:
    """A branching goal as made: the condition (a field of one row and the values it holds for),
    whether it held in the task's state, and the two calls (the one the reference ran, the other)."""

    entity: str
    row_id: str
    field: str
    values: tuple[Any, ...]
    holds: bool
    taken: ToolCall
    untaken: ToolCall


def branch_verdicts(state: State, tool: str, args: dict[str, Any], entity: str, row: dict[str, Any], fname: str) -> dict[Any, bool]:
    """For each value the field could hold: whether the call would then be allowed (the tool accepts
    it and breaks no rule the agent keeps). The state (and its journal) is left as it was; a value
    the row cannot hold (a unique pair) is left out."""
    import sqlite3

    spec = state.spec
    values = probe_values(spec, spec.entities[entity].fields[fname])
    verdicts: dict[Any, bool] = {}
    for value in values:
        with state.trial():
            try:
                state.update(entity, row["id"], {fname: value})
            except sqlite3.IntegrityError:
                continue
            outcome = execute(state, tool, args)
            verdicts[value] = outcome.ok and not outcome.breaches
    return verdicts


def probe_values(spec: DomainSpec, f: FieldSpec) -> Sequence[Any]:
    """The values a condition on the field is decided over: an enum's values, yes and no, every count
    of a small int field (0 to 2 renewals), and for a date one a week before and one a week after
    today (the condition is then "its due date has passed" or "has not passed yet")."""
    if f.type == "enum":
        return f.values or []
    if f.type == "bool":
        return [True, False]
    if f.type == "int" and f.min is not None and f.max is not None and f.max - f.min <= _INT_SPAN:
        return list(range(int(f.min), int(f.max) + 1))
    if f.type == "date":
        today = dt.date.fromisoformat(spec.today)
        return [(today - dt.timedelta(days=_DATE_PROBE)).isoformat(), (today + dt.timedelta(days=_DATE_PROBE)).isoformat()]
    return []


def side_of(spec: DomainSpec, f: FieldSpec, value: Any) -> Any:
    """The probe value that stands for a row's actual value (which side of the condition it is on):
    the value itself for an enum, yes/no or count field, a date's probe on the same side of today;
    None for a date of today itself or a count outside the probes (too near the line to phrase)."""
    if f.type != "date":
        return value if value in probe_values(spec, f) else None
    if not isinstance(value, str) or value[:10] == spec.today:
        return None
    past, future = probe_values(spec, f)
    return past if value[:10] < spec.today else future


def _splits(f: FieldSpec, allowed: Sequence[Any], verdicts: dict[Any, bool]) -> bool:
    """Whether the values a write is allowed for make a condition a person would say: for an enum one
    or two of its values (not all); for a count a threshold ("fewer than 2"); for yes/no or a date, one side."""
    if not allowed or len(allowed) == len(verdicts):
        return False
    if f.type == "int":
        denied = [v for v in verdicts if v not in allowed]
        return bool(max(allowed) < min(denied) or min(allowed) > max(denied))
    return len(allowed) <= 2


def _main_param(spec: DomainSpec, tool: str, persona_entity: str) -> tuple[str, str] | None:
    """The tool's first reference parameter that is not the user: (parameter, entity)."""
    entities = spec.view(tool).entities
    for pname, param in spec.tools[tool].params.items():
        if param.type == "ref" and param.ref != persona_entity:
            return pname, entities[ref_var(pname)]
    return None


_KEY = "branching:"
"""Prefix of the shared tally of which side the condition took (kept apart from answers)."""


def add(draft: Draft) -> Rejection | None:
    """A branching goal, the side the state takes steered to whichever has been taken less in this
    generation (a tie drawn at random), then, when the order asks for more goals, one more write on
    another row; ``no_binding`` when the user's rows offer no branch. With the order's ``force_tool``
    (a refusal's allowed counterpart), the state takes the branch that runs that tool."""
    tally = draft.answered
    sides = [tally[(_KEY, "holds", True)], tally[(_KEY, "holds", False)]]
    holds = sides[0] < sides[1] if sides[0] != sides[1] else draft.rng.random() < 0.5
    found = branching(draft, holds) or (branching(draft, not holds) if draft.order.force_tool is None else None)
    if found is None:
        return Rejection.NO_BINDING
    tally[(_KEY, "holds", found.holds)] += 1
    draft.traits.add("branching")
    if draft.order.force_tool is not None:
        draft.decides = draft.order.force_tool  # a refusal's allowed counterpart: the rule allows the taken write
    if draft.order.goals > 1:
        tools = list(draft.spec.write_tools())
        draft.rng.shuffle(tools)
        kind = draft.spec.entities[found.entity].fields[found.field].type
        # a row decided by a date or a count takes either write after the other (renew, then return the
        # same loan): its further goal is another row; a state the taken write moved rules that out already
        avoid = frozenset() if kind in ("enum", "bool") else frozenset({found.row_id})
        for tool in tools[:_TRIES_MORE]:
            if add_write(draft, tool, set(), avoid):
                break
    return None


def branching(draft: Draft, holds: bool | None = None) -> Branch | None:
    """Bind, describe and run one branching goal on a row of the user's; None (and no change) if the
    domain offers none here. ``holds``: the side the state must take (None: either).

    ``draft`` is the generator's draft of a task (its rows, reads and phrases); the taken write runs
    on its state like any action goal's, and the sentence goes to its phrases."""
    spec: DomainSpec = draft.spec
    main = {t: m for t in spec.write_tools() if (m := _main_param(spec, t, draft.persona_entity)) is not None}
    by_entity: dict[str, list[str]] = {}
    for tool, (_, entity) in main.items():
        if draft.ownable(entity):
            by_entity.setdefault(entity, []).append(tool)
    pairs = [(entity, tools) for entity, tools in by_entity.items() if len(tools) >= 2]
    draft.rng.shuffle(pairs)
    pairs.sort(key=lambda g: all(t in draft.order.covered for t in g[1]))  # rows with a write no kept task uses first
    viable = per_spec(spec, _VIABLE, _viable_pairs)
    fallbacks = _fallback_groups(spec, by_entity, viable)  # "otherwise book me a new one": after the same-row pairs
    if fallbacks:
        draft.rng.shuffle(fallbacks)
    groups: list[tuple[str, list[str], list[str]]] = [(entity, tools, []) for entity, tools in pairs] + fallbacks
    drawn: dict[str, list[dict[str, Any]]] = {}  # each write's candidate calls, drawn once
    force = draft.order.force_tool
    for entity, tools, creators in groups:
        if force is not None and force not in tools and force not in creators:
            continue
        firsts = list(tools)
        draft.rng.shuffle(firsts)
        firsts.sort(key=lambda t: t in draft.order.covered)
        rows = draft.owned_rows(entity)
        draft.rng.shuffle(rows)
        for tool_a in firsts:
            seconds_of = [t for t in [*tools, *creators] if t != tool_a and (force in (None, tool_a) or t == force)]
            if not any((tool_a, b, f) in viable for b in seconds_of for f in _deciding_fields(spec, tool_a, entity)):
                continue  # its rules read no state a condition could name, or no other write is its fallback
            param_a = main[tool_a][0]
            persona_a = persona_params(draft, tool_a)
            templates = _drawn(draft, tool_a, drawn)
            wanted = holds if force is None else force == tool_a
            for row in rows[: _TRIES if templates else 0]:
                args_a = {**templates[0], param_a: row["id"]}  # its other arguments (a reason, a quantity) as drawn
                if creators:  # a write that keeps its row takes arguments that fit it (a new slot with its doctor)
                    fit = next(iter(candidate_calls(draft.state, tool_a, draft.rng, 1, pools={param_a: [row]})), None)
                    args_a = {**args_a, **(fit or {}), **dict.fromkeys(persona_a, draft.persona["id"])}
                if wanted is not None and succeeds(draft.state, tool_a, args_a) != wanted:
                    continue  # the state takes the other side: one trial call, not a verdict per value
                seconds: list[tuple[str, str | None, list[dict[str, Any]]]] = [(t, None, _shared(spec, tool_a, args_a, t, _drawn(draft, t, drawn))) if t in creators
                           else (t, main[t][0], _drawn(draft, t, drawn)) for t in seconds_of]  # fmt: skip
                found = _branch_on(draft, entity, row, tool_a, args_a, seconds, wanted)
                if found is None:
                    continue
                (tool_b, args_b), fname, values, holds_here = found
                first, second = ToolCall(tool=tool_a, arguments=args_a), ToolCall(tool=tool_b, arguments=args_b)
                taken, untaken = (first, second) if holds_here else (second, first)
                if not succeeds(draft.state, taken.tool, taken.arguments) or not _untaken_fails_here(draft.state, taken, untaken):
                    continue
                persona_b = persona_params(draft, tool_b)
                bound_a = bind_rows(draft, tool_a, args_a, persona_a)
                if bound_a is None or fname in draft.described.get(row["id"], []):
                    continue  # a row that cannot be named, or named by the condition itself ("whichever is pending")
                described = draft.described.get(row["id"], [])
                bound_b = bind_rows(draft, tool_b, args_b, persona_b)  # its row is "it": only its other rows are named
                draft.described[row["id"]] = described
                if bound_b is None:
                    continue
                said = dict(bound_a[0]).get(param_a)
                if said is None:
                    continue
                mark = draft.checkpoint()
                found_rows = all(draft.discover(e, r) for e, r in (bound_a if holds_here else bound_b)[1])
                if found_rows and row["id"] not in draft.read and not holds_here and tool_b in creators:
                    found_rows = all(draft.discover(e, r) for e, r in bound_a[1])  # a new booking: the row it replaces is still read first
                if not found_rows or row["id"] not in draft.read:
                    draft.rollback(mark)
                    continue  # the reference must look at the row that decides
                if not _run_taken(draft, taken):
                    draft.rollback(mark)
                    continue
                it_a = [(p, "it" if p == param_a else t) for p, t in bound_a[0]]
                it_b = [(p, "it" if tool_b not in creators and p == main[tool_b][0] else t) for p, t in bound_b[0]]
                text = branch_request(
                    said, branch_condition(fname, spec.entities[entity].fields[fname], values, spec.today),
                    request_text(draft, tool_a, args_a, it_a, persona_a), request_text(draft, tool_b, args_b, it_b, persona_b),
                )  # fmt: skip
                draft.say(text, draft.facts[mark[2] :])
                draft.rules += len(spec.tools[taken.tool].requires)
                draft.conditions.add(text)  # the agent must check it, as it checks "whichever of my orders is pending"
                return Branch(entity, str(row["id"]), fname, tuple(values), holds_here, taken, untaken)
    return None


def _branch_on(
    draft: Draft,
    entity: str,
    row: dict[str, Any],
    tool_a: str,
    args_a: dict[str, Any],
    others: list[tuple[str, str | None, list[dict[str, Any]]]],
    holds: bool | None,
) -> tuple[tuple[str, dict[str, Any]], str, list[Any], bool] | None:
    """A field of ``row`` that decides between ``tool_a`` and another write on the same row (or a
    creation, its ``param`` None: "otherwise book me a new one"):
    ((the other tool, its arguments), the field, the values for which ``tool_a`` is allowed, whether
    the row's value is one of them), or None."""
    viable = per_spec(draft.spec, _VIABLE, _viable_pairs)
    kinds = draft.spec.entities[entity].fields
    fields = [
        n for n in _deciding_fields(draft.spec, tool_a, entity)
        if row.get(n) is not None and (kinds[n].type in ("enum", "bool") or any(v[0] == tool_a and v[2] == n for v in viable))
    ]  # a date or a count only where some pair splits on it (a state field is tried as it always was)
    draft.rng.shuffle(fields)
    for fname in fields:
        f = draft.spec.entities[entity].fields[fname]
        side = side_of(draft.spec, f, row[fname])
        if side is None:
            continue  # a date of today, a count outside the probes: too near the line to phrase
        verdicts_a = branch_verdicts(draft.state, tool_a, args_a, entity, row, fname)
        allowed_a = [v for v, ok in verdicts_a.items() if ok]
        if not _splits(f, allowed_a, verdicts_a):
            continue  # the field does not decide, or the condition would be a long list
        in_a = side in allowed_a
        if holds is not None and in_a != holds:
            continue
        for tool_b, param_b, drawn in others:
            if (tool_a, tool_b, fname) not in viable:
                continue
            for cand in drawn:
                args_b = cand if param_b is None else {**cand, param_b: row["id"]}  # a creation names no row of the user's
                verdicts_b = branch_verdicts(draft.state, tool_b, args_b, entity, row, fname)
                only_b = [v for v, ok in verdicts_b.items() if ok and v not in allowed_a]
                if not only_b:
                    continue  # with these arguments the other write is never the fallback on this field
                if not in_a and side not in only_b:
                    continue
                if _toggles(draft.state, entity, row, fname, (tool_a, args_a, allowed_a), (tool_b, args_b, only_b)):
                    break  # "if it is active, suspend it; otherwise reactivate it": a switch flipped, not a choice
                return (tool_b, args_b), fname, allowed_a, in_a
    return None


def _viable_pairs(spec: DomainSpec) -> frozenset[tuple[str, str, str]]:
    """(first write, second write, field) for which some row of the domain's own seeded state splits
    the field's values: the first write allowed for one or two of them, the second for another. Worked
    out once per spec with its own random stream (so a generation does not depend on what ran before),
    and a domain that offers no branch (a clinic's cancel and reschedule both need a scheduled
    appointment) costs this probe, not a search per candidate."""
    state = seed_state(spec)
    rng = random.Random(f"branching:{spec.name}")
    mains = {t: m for t in spec.write_tools() if (m := _main_param(spec, t, spec.actor.entity if spec.actor else "")) is not None}
    out: set[tuple[str, str, str]] = set()
    try:
        for tool_a, (param_a, entity) in mains.items():
            fields = _deciding_fields(spec, tool_a, entity)
            seconds = [(t, p) for t, (p, e) in mains.items() if e == entity and t != tool_a]
            if not fields or not seconds:
                continue
            for row in state.sample(entity, rng, _PROBES):
                calls = {t: list(candidate_calls(state, t, rng, _SECONDS, pools={p: [row]}))  # the other arguments fit this row
                         for t, p in [(tool_a, param_a), *seconds]}  # fmt: skip
                for fname in fields:
                    if row.get(fname) is None or not calls[tool_a]:
                        continue
                    verdicts = branch_verdicts(state, tool_a, calls[tool_a][0], entity, row, fname)
                    allowed = [v for v, ok in verdicts.items() if ok]
                    if not _splits(spec.entities[entity].fields[fname], allowed, verdicts):
                        continue
                    for tool_b, _ in seconds:
                        if (tool_a, tool_b, fname) in out:
                            continue
                        for call in calls[tool_b]:
                            other = branch_verdicts(state, tool_b, call, entity, row, fname)
                            if any(ok and v not in allowed for v, ok in other.items()):
                                out.add((tool_a, tool_b, fname))
                                break
        _viable_creations(spec, state, mains, out)
    finally:
        state.close()
    return frozenset(out)


def _viable_creations(
    spec: DomainSpec, state: State, mains: dict[str, tuple[str, str]], out: set[tuple[str, str, str]]
) -> None:
    """Adds to ``out`` (first write, creation, field) where a creation is the fallback: the first write
    allowed for one side of the field, the creation for the other. Its own random stream, so the
    same-row pairs found before do not change."""
    rng = random.Random(f"branching-create:{spec.name}")
    persona = spec.actor.entity if spec.actor else ""
    for tool_a, (param_a, entity) in mains.items():
        creators = [t for t in _creators(spec, entity, persona) if t != tool_a and mains.get(t, ("", ""))[1] != entity]
        fields = _keeping_fields(spec, tool_a, entity)
        if not creators or not fields:
            continue
        for row in state.sample(entity, rng, 2 * _PROBES):  # a write that keeps its row is rarer: probe more
            firsts = list(candidate_calls(state, tool_a, rng, _SECONDS, pools={param_a: [row]}))
            if not firsts:
                continue
            for fname in fields:
                if row.get(fname) is None:
                    continue
                verdicts = branch_verdicts(state, tool_a, firsts[0], entity, row, fname)
                allowed = [v for v, ok in verdicts.items() if ok]
                if not _splits(spec.entities[entity].fields[fname], allowed, verdicts):
                    continue
                for tool_b in creators:
                    if (tool_a, tool_b, fname) in out:
                        continue
                    for call in candidate_calls(state, tool_b, rng, _SECONDS):
                        if any(ok and v not in allowed for v, ok in branch_verdicts(state, tool_b, call, entity, row, fname).items()):
                            out.add((tool_a, tool_b, fname))
                            break


def _creators(spec: DomainSpec, entity: str, persona_entity: str) -> list[str]:
    """Write tools that make a new row of ``entity`` for the user (book an appointment): the fallback
    when the row they have cannot take the first write ("otherwise book me a new one")."""
    out = []
    for name in spec.write_tools():
        tool = spec.tools[name]
        mine = any(p.type == "ref" and p.ref == persona_entity for p in tool.params.values())
        if mine and any(isinstance(e, CreateEffect) and e.create == entity for e in tool.effects):
            out.append(name)
    return out


def _fallback_groups(
    spec: DomainSpec, by_entity: dict[str, list[str]], viable: frozenset[tuple[str, str, str]]
) -> list[tuple[str, list[str], list[str]]]:
    """(entity, its writes, writes that create one) for the user's entities whose own writes split no
    field with each other but some write splits one against a creation (a clinic's reschedule needs a
    scheduled appointment; a new booking does not). Same-row pairs are tried first, so a domain that has
    them keeps the tasks it made."""
    persona = spec.actor.entity if spec.actor else ""
    out = []
    for entity, tools in sorted(by_entity.items()):
        creators = [t for t in _creators(spec, entity, persona) if t not in tools]
        if not creators or any((a, b, f) in viable for a in tools for b in tools for f in _deciding_fields(spec, a, entity)):
            continue
        if any((a, b, f) in viable for a in tools for b in creators for f in _keeping_fields(spec, a, entity)):
            out.append((entity, list(tools), creators))
    return out


def _keeping_fields(spec: DomainSpec, tool: str, entity: str) -> list[str]:
    """The deciding fields a creation can be the fallback on: those the first write leaves as they are.
    "If it is still scheduled, move it; otherwise book me a new one" keeps the appointment (a person
    wants one either way); "if it is still waiting, cancel it; otherwise reserve another" ends the row,
    and a new one as its fallback undoes what the user asked for."""
    written = spec.view(tool).writes.get(entity, frozenset())
    fields = spec.entities[entity].fields
    if "*" in written or any(fields[f].type in ("enum", "bool") for f in written if f in fields):
        return []  # it ends the row or moves its state (cancels it, drops it): no new one is its fallback
    return [f for f in _deciding_fields(spec, tool, entity) if f not in written]


def _shared(spec: DomainSpec, tool_a: str, args_a: dict[str, Any], tool_b: str, drawn: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The second write's candidate calls, first one that reuses the first write's other rows where
    it takes the same kind ("move it to the 10:00 slot; otherwise book me that slot")."""
    refs_a = {spec.tools[tool_a].params[p].ref: v for p, v in args_a.items() if p in spec.tools[tool_a].params
              and spec.tools[tool_a].params[p].type == "ref"}  # fmt: skip
    if not drawn:
        return drawn
    params_b = spec.tools[tool_b].params
    same = {p: refs_a[params_b[p].ref] for p in drawn[0] if p in params_b and params_b[p].type == "ref" and params_b[p].ref in refs_a}
    same = {p: v for p, v in same.items() if drawn[0][p] != v}
    return [{**drawn[0], **same}, *drawn] if same else drawn


def _toggles(
    state: State, entity: str, row: dict[str, Any], fname: str, first: tuple[str, dict[str, Any], list[Any]],
    second: tuple[str, dict[str, Any], list[Any]],
) -> bool:
    """Whether each write puts the row where the other applies (suspend and reactivate a line)."""
    after = []
    for (tool, args, allowed), (_, _, other) in ((first, second), (second, first)):
        with state.trial():
            state.update(entity, row["id"], {fname: allowed[0]})
            execute(state, tool, args)
            now = state.get(entity, row["id"])
            after.append(now is not None and now.get(fname) in other)
    return all(after)


def _deciding_fields(spec: DomainSpec, tool: str, entity: str) -> list[str]:
    """The row's fields the tool's rules read that a condition can name: a state (enum, yes/no), a
    date compared with today ("if it is not overdue yet") or a small count ("fewer than 2 renewals")."""
    read = spec.view(tool).reads.get(entity, frozenset())
    fields = spec.entities[entity].fields
    return [n for n in sorted(read) if n in fields and not fields[n].identifying and probe_values(spec, fields[n])]


def _drawn(draft: Draft, tool: str, cache: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """A few candidate calls of a write (its other arguments: a reason, a quantity), drawn once per
    goal; its row is replaced by the one the condition is about."""
    if tool not in cache:
        cache[tool] = candidates(draft, tool, persona_params(draft, tool), limit=_SECONDS)
    return cache[tool]


_VIABLE = "branching.viable"
"""the per-spec memo of :func:`_viable_pairs`"""
_PROBES = 8
"""rows of an entity probed per first write when a spec's viable pairs are worked out"""
_INT_SPAN = 5
"""an int field is a condition only when it spans at most this many steps (a count, not an amount)"""
_DATE_PROBE = 7
"""days before and after today a date field is probed at"""
_TRIES_MORE = 3
"""write tools tried for a branching task's further goal"""
_TRIES = 8
"""rows of the user's tried with each first write before another is tried"""
_SECONDS = 3
"""candidate calls drawn per write (the first is the first write's template)"""


def _run_taken(draft: Draft, call: ToolCall) -> bool:
    """Run the branch the state decides, as an action goal's write runs (its new and changed rows noted)."""
    mark_rows = journal_mark(draft.state)
    if draft.run(call.tool, call.arguments) is None:
        return False
    added, changed, _removed = changes_since(draft.state, mark_rows)
    for entity, row_id in sorted(added):
        draft.created.setdefault(entity, []).append(row_id)
    draft.touched.update(row_id for _, row_id in added)
    draft.touched.update(row_id for _, row_id in changed)
    return True


def _untaken_fails_here(state: State, taken: ToolCall, untaken: ToolCall) -> bool:
    """Whether the checks the taken branch's diff gives fail when the untaken branch runs instead,
    both tried from the draft's state and undone (a branch is kept only when guessing it fails)."""
    with state.trial():
        execute(state, taken.tool, taken.arguments)
        checks = checks_from_diff(state.spec, state.changes())
    with state.trial():
        execute(state, untaken.tool, untaken.arguments)
        return not evaluate_checks(checks, state.changes(), state).success


def untaken_fails(work: State, task: TaskSpec, branch: Branch) -> bool:
    """Whether an agent that took the other branch fails: the reference replayed from the task's
    initial state with the untaken call in place of the taken one must not pass the checks (its
    writes change what the checks do not name, or leave undone what they do)."""
    work.reset()
    try:
        for call in task.solution:
            chosen = branch.untaken if call == branch.taken else call
            execute(work, chosen.tool, chosen.arguments)
        return not evaluate_checks(task.checks, work.changes(), work).success
    finally:
        work.reset()
