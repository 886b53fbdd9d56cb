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

from ..spec.task import CheckSpec, ToolCall
from .claims import action_verbs

__all__ = ["PartialRefusal", "partial_refusal_goals"]


@dataclass(frozen=True)
class PartialRefusal:
    """The refused half of a partial refusal: its checks (row read, not claimed, reason) and its call,
    and the allowed half's write tool."""

    checks: list[CheckSpec]
    refused: ToolCall
    allowed: str


def partial_refusal_goals(build: Any, tools: list[str]) -> PartialRefusal | None:
    """Ask, in one conversation, for a write a rule the agent keeps forbids and for another that is
    allowed (one of ``tools``, tried in order, each with a verb the refused one does not share); the
    allowed write runs on ``build``'s state. None when no such pair can be bound (the draft is then
    discarded by the caller: the refusal's phrase may already be said)."""
    from .generate import _action_goal, _refusal_goal

    refusal = _refusal_goal(build)
    if refusal is None:
        return None
    checks, refused = refusal
    verbs = set(action_verbs(refused.tool))
    blocked = _ids(refused.arguments)
    for tool in tools:
        if set(action_verbs(tool)) & verbs:
            continue  # "I've cancelled one order" would read as a claim that the refused cancel was done
        if _action_goal(build, tool, build.touched | set(build.known)):
            named = _ids(build.solution[-1].arguments) | build.touched
            if (named & blocked) - {str(build.persona["id"])}:
                return None  # both requests about one row ("return it; and cancel it"): not two things
            done = sorted(set(action_verbs(tool)))
            checks = [c.model_copy(update={"choices": done}) if c.kind == "not_claimed" else c for c in checks]
            if build.rng.random() < 0.5:  # either request may come first
                build.phrases[-2:] = build.phrases[-2:][::-1]
                build.requests[-2:] = build.requests[-2:][::-1]
            return PartialRefusal(checks, refused, tool)
    return None


def _ids(arguments: dict[str, Any]) -> set[str]:
    """The string values of a call's arguments (ids among them), lists included."""
    return {v for value in arguments.values() for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)}
