"""Compensation: the user complains and asks for a goodwill gesture (a credit, a voucher), and the
policy decides whether they get it.

A tool the blueprint marks ``goodwill: true`` is never a plain goal (an agent that hands out credit
to whoever asks must not be paid for it, see :func:`.action.add`). It is asked for only as a decision
the policy's agent-kept rules make: withheld in a refusal (this strategy: the refusal strategy on the
gesture tools alone) and granted in that refusal's allowed counterpart, so always granting, or
always withholding, earns half of a gesture's decisions. Either way the user states a complaint,
the gesture tool's ``reasons`` (see :mod:`..caller`), and the task has the ``compensation`` trait.
Refusals drawn by the refusal strategy itself may land on a gesture tool too; this strategy is what
a mix with a ``compensation`` target asks for while that trait lags.
"""

from __future__ import annotations

from ..acceptance import Rejection
from ..draft import Draft
from . import refusal

__all__ = ["add", "gestures"]


def gestures(draft: Draft) -> list[str]:
    """The domain's write tools marked as goodwill gestures."""
    return [w for w in draft.spec.write_tools() if draft.spec.tools[w].goodwill]


def add(draft: Draft) -> Rejection | None:
    """A gesture the user asks for with a complaint, withheld by an agent-kept rule; ``no_binding``
    when the domain has no gesture or none of the user's rows would have it refused."""
    tools = set(gestures(draft))
    if draft.refusable is not None:
        tools &= draft.refusable
    if not tools:
        return Rejection.NO_BINDING
    draft.refusable = tools
    rejection = refusal.add(draft)
    if rejection is None:
        draft.traits.add("compensation")
    return rejection
