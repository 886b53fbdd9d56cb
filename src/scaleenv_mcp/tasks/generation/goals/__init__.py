"""Goal strategies: what the user of a draft wants, one module per strategy.

A strategy is one function, ``add(draft) -> Rejection | None``: it adds the goals to the draft
(requests the user says, the reference calls that meet them, and for a reply the checks and the
expected answer) or returns why it could not. The balancing loop picks a strategy by name from
:data:`STRATEGIES` (an order's ``strategy``), so a new kind of goal (a branching goal, a partial
refusal, a change of mind) is a new module with an ``add`` and one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ....spec.task import TaskKind, Trait
from ..acceptance import Rejection
from ..draft import Draft
from . import action, aggregate, branching, change_of_mind, compensation, deep, information, partial_refusal, refusal

__all__ = ["COUNTERPART_TRAITS", "OWING_TRAITS", "STRATEGIES", "TRAIT_STRATEGIES", "GoalStrategy"]

GoalStrategy = Callable[[Draft], Rejection | None]
"""Adds a draft's goals, or says why it cannot (the draft is then dropped)."""

STRATEGIES: Mapping[str, GoalStrategy] = {
    "action": action.add,  # one to three writes the user asks for (or a refusal's allowed counterpart)
    "information": information.add,  # a question about a row, or over all the user's rows
    "aggregate": aggregate.add,  # a question only all of the user's rows together answer
    "refusal": refusal.add,  # a write an agent-kept rule forbids on the user's own row
    "change_of_mind": change_of_mind.add,  # a write the user first asks for in another form, then takes back
    "compensation": compensation.add,  # a goodwill gesture asked for with a complaint, withheld by the policy
    "branching": branching.add,  # a write decided by a field of the user's row they do not state
    "partial_refusal": partial_refusal.add,  # an allowed write and a refused one in one conversation
    "deep_information": deep.add,  # a question whose answer is three or more calls away
}

TRAIT_STRATEGIES: Mapping[Trait, tuple[TaskKind, str]] = {
    "branching": ("action", "branching"),
    "partial_refusal": ("action", "partial_refusal"),
    "change_of_mind": ("action", "change_of_mind"),
    "deep_information": ("information", "deep_information"),
    "compensation": ("refusal", "compensation"),
}
"""Trait -> (the kind of task, the strategy in :data:`STRATEGIES`) that makes a task with it. While a
trait lags its target, a candidate of that kind is made by its strategy (the first lagging trait in
:data:`~scaleenv_mcp.spec.task.TRAITS` order). Traits the assembly gives (facts held back, a push back)
or derives (two goals, a deep question) need no entry: they read :attr:`.draft.Order.want`."""

COUNTERPART_TRAITS: frozenset[Trait] = frozenset({"branching"})
"""Traits whose strategy can also make a refusal's allowed counterpart (it honours the order's
``force_tool``: a branching task whose state takes the branch that runs the refused tool), so a
lagging trait is served by the counterparts a refusal owes too."""

OWING_TRAITS: frozenset[Trait] = frozenset({"partial_refusal"})
"""Traits whose task refuses a tool, so it owes an allowed counterpart like a refusal does: asked for
only while the set has room for both."""
