"""Partial refusal: two requests in one conversation, one the policy allows and one it forbids.

"Please cancel my order for The Silver Bridge. I'd also like to return my order for The Open Forest:
it arrived damaged." If the second order was never delivered, a rule the agent keeps forbids the
return: the agent must do the first, look at the second order, decline it and say why. An agent
that refuses everything fails the first request's checks; one that obeys everything breaks the
``no_other_changes`` gate (and the policy). The refused half is the refusal goal strategy's (the
tool would accept the call; one field of a row decides), so the reason spreads over its values
like a refusal's; the allowed half is an ordinary action goal on other rows.

The two requests use different verbs, so the ``not_claimed`` gate can tell "I've cancelled the
first order" (allowed) from a claim that the refused return was opened: it lists the done
request's verbs in ``choices``, and only the refused action's own completed forms count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ....spec.task import CheckSpec, ToolCall
from ...answers import format_answer_value
from ...claims import action_verbs
from ..acceptance import Rejection
from ..draft import Draft
from .action import add_write
from .common import trial
from .refusal import refusal

__all__ = ["PartialRefusal", "add", "partial_refusal"]


@dataclass(frozen=True)
class PartialRefusal:
    """The refused half of a partial refusal: its checks (row read, not claimed, reason) and its call,
    and the allowed half's write tool."""

    checks: list[CheckSpec]
    refused: ToolCall
    allowed: str


def add(draft: Draft) -> Rejection | None:
    """A refused write and an allowed one (tried over the write tools no kept task uses first, in
    random order); the task
    records the refused call and its tool, which a partial refusal decides like a refusal does."""
    tools = list(draft.spec.write_tools())
    draft.rng.shuffle(tools)
    tools.sort(key=lambda t: t in draft.order.covered)  # write tools no kept task uses yet go first
    found = partial_refusal(draft, tools)
    if found is None:
        return Rejection.NO_BINDING
    draft.checks, draft.refused, draft.decides = found.checks, found.refused, found.refused.tool
    draft.traits.add("partial_refusal")
    draft.answer = f"Done. I'm sorry, I can't do the other part: it is {format_answer_value(found.checks[-1].value)}, and the policy does not allow it then."
    return None


def partial_refusal(draft: Draft, tools: list[str]) -> PartialRefusal | None:
    """Ask, in one conversation, for a write a rule the agent keeps forbids and for another that is
    allowed (one of ``tools``, tried in order, each with a verb the refused one does not share); the
    allowed write runs on the draft's state. None when no such pair can be bound (the draft is then
    discarded by the caller: the refusal's phrase may already be said)."""
    found = refusal(draft)
    if found is None:
        return None
    checks, refused = found
    verbs = set(action_verbs(refused.tool))
    blocked = _ids(refused.arguments)
    for tool in tools:
        if set(action_verbs(tool)) & verbs:
            continue  # "I've cancelled one order" would read as a claim that the refused cancel was done
        if add_write(draft, tool, draft.touched | set(draft.known)):
            named = _ids(draft.solution[-1].arguments) | draft.touched
            if (named & blocked) - {str(draft.persona["id"])}:
                return None  # both requests about one row ("return it; and cancel it"): not two things
            after = trial(draft.state, refused.tool, refused.arguments)
            if not after.ok or not after.breaches:
                return None  # the allowed write changed what decides it: the tool, not the agent, would now refuse
            done = sorted(set(action_verbs(tool)))
            checks = [c.model_copy(update={"choices": done}) if c.kind == "not_claimed" else c for c in checks]
            if draft.rng.random() < 0.5:  # either request may come first
                draft.phrases[-2:] = draft.phrases[-2:][::-1]
                draft.requests[-2:] = draft.requests[-2:][::-1]
            return PartialRefusal(checks, refused, tool)
    return None


def _ids(arguments: dict[str, Any]) -> set[str]:
    """The string values of a call's arguments (ids among them), lists included."""
    return {v for value in arguments.values() for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)}
