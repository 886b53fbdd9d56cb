"""Refusal goals: the user asks for a write that a rule the agent keeps forbids on their own row.

The agent succeeds by reading the row that decides it and making no write; the task records the
refused call and the tool it decides (so the balancing loop can match it with an allowed
counterpart: an agent that always refuses, or always obeys, earns half of that tool's decisions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from ....engine.runtime import execute
from ....engine.state import State
from ....spec.task import CheckSpec, ToolCall
from ....spec.types import ref_var
from ...answers import format_answer_value
from ...claims import action_verbs
from ...wording import entity_noun, words
from ..acceptance import Rejection
from ..draft import REFUSAL_KEY, Draft
from .common import bind_rows, candidates, fair_question, persona_params, request_text, trial

__all__ = ["add", "refusal"]


def add(draft: Draft) -> Rejection | None:
    """A refused write as the task's goal, with the reply that refuses it; ``no_binding`` when no
    write of the user's can be refused for one field's value."""
    found = refusal(draft)
    if found is None:
        return Rejection.NO_BINDING
    draft.checks, draft.refused = found
    draft.decides = draft.refused.tool
    draft.answer = (
        f"I'm sorry, I can't do that: the policy does not allow it, since it is {format_answer_value(draft.checks[-1].value)}."
    )
    return None


def refusal(draft: Draft) -> tuple[list[CheckSpec], ToolCall] | None:
    """Ask for a write a rule the agent keeps forbids on the user's own row, because of one field's value.

    The tool would accept the call (the rule is the agent's to keep, so relaying a tool error cannot
    solve it); the reason is found by execution: the call breaks the rule now and keeps it when only
    that field holds another of its values. The agent succeeds by reading the row that decides it and
    making no write, and must not tell the user it was done; naming the reason is reported, not paid
    (returns the checks and the refused tool).
    """
    spec = draft.spec
    tools = [t for t in spec.write_tools() if any(r.kept_by == "agent" for r in spec.tools[t].requires)]
    tools = [t for t in tools if t in draft.refusable] if draft.refusable is not None else tools
    draft.rng.shuffle(tools)
    for tool_name in tools:
        params = persona_params(draft, tool_name)
        for args in _refusal_candidates(draft, tool_name, params):
            bound = bind_rows(draft, tool_name, args, params)
            if bound is None or not bound[1]:
                continue
            result = trial(draft.state, tool_name, args)
            if not result.ok or not result.breaches:
                continue  # refused by the tool itself (integrity), or allowed: not the agent's judgment
            own = (draft.persona_entity, draft.state.get(draft.persona_entity, str(draft.persona["id"])) or draft.persona)
            blocking = _blocking_field(draft.state, tool_name, args, [*bound[1], own])  # the user's own row may decide (a tier)
            if blocking is None:
                continue
            entity, row, fname, disallowed = blocking
            if fname in draft.described.get(row["id"], []):
                continue  # the request itself would say the reason ("cancel whichever of my bookings is cancelled")
            if not fair_question(draft, entity, fname, row[fname], family=REFUSAL_KEY, among=disallowed):
                continue  # reasons spread like answers do: guessing the commonest is worth no more than chance
            mark = draft.checkpoint()
            if not all(draft.discover(e, r) for e, r in bound[1]) or row["id"] not in draft.read:
                draft.rollback(mark)
                continue
            text = request_text(draft, tool_name, args, bound[0], params)
            draft.say(text, draft.facts[mark[2] :])
            draft.rules += 1
            noun = entity_noun(entity, spec.entities[entity])
            checks = [
                CheckSpec(kind="row_read", entity=entity, id=row["id"],
                          description=f"the agent looked up the {noun} that decides it ({entity} {row['id']})"),
                CheckSpec(kind="not_claimed", subject=action_verbs(tool_name),
                          description=f"the reply does not claim that {tool_name} was done"),
                CheckSpec(
                    kind="reason", entity=entity, id=row["id"], field=fname, value=row[fname], choices=disallowed,
                    subject=words(fname).split(),
                    description=(f"reported, not scored: the reply names the reason {tool_name} is not allowed: "
                                 f"{entity} {row['id']}.{fname} is {format_answer_value(row[fname])}"),
                ),
            ]  # fmt: skip
            return checks, ToolCall(tool=tool_name, arguments=args)
    return None


def _refusal_candidates(draft: Draft, tool_name: str, persona_params: list[str]) -> Iterator[dict[str, Any]]:
    """Calls on the user's own rows whatever their state: the binder looks for calls that succeed,
    so each of its calls is tried again with every row of the user's in place of its main row."""
    entities = draft.spec.view(tool_name).entities
    refs = [p for p, s in draft.spec.tools[tool_name].params.items() if s.type == "ref" and p not in persona_params]
    for args in candidates(draft, tool_name, persona_params)[:5]:
        yield args
        for pname in refs[:1]:
            entity = entities[ref_var(pname)]
            if not draft.ownable(entity):
                continue
            rows = draft.owned_rows(entity)
            draft.rng.shuffle(rows)
            for row in rows[:12]:
                if row["id"] != args.get(pname):
                    yield {**args, pname: row["id"]}


def _blocking_field(
    state: State, tool_name: str, args: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any], str, list[Any]] | None:
    """(entity, row, enum field, the values for which the policy forbids a call the tool would accept)
    for the first field whose value alone decides whether the call is allowed; None when no single
    field does. A value the tool itself refuses (an order cancelled twice) is no reason the agent keeps."""
    spec = state.spec
    for entity, row in rows:
        for fname, fspec in spec.entities[entity].fields.items():
            if fspec.type != "enum" or not fspec.values or row.get(fname) is None:
                continue
            verdicts: dict[Any, str] = {}
            for value in fspec.values:
                with state.trial():
                    try:
                        state.update(entity, row["id"], {fname: value})
                    except sqlite3.IntegrityError:  # a value this row cannot hold (a unique pair): not a reason
                        continue
                    outcome = execute(state, tool_name, args)
                    verdicts[value] = "tool" if not outcome.ok else "agent" if outcome.breaches else "allowed"
            if verdicts.get(row[fname]) == "agent" and "allowed" in verdicts.values():
                return entity, row, fname, [v for v, verdict in verdicts.items() if verdict == "agent"]
    return None

