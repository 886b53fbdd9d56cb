"""The task mix: what share of a domain's tasks each kind, goal count and family gets.

One frozen value instead of module constants, so a caller (a trainer wanting more refusals, a
test forcing every row to be named by a condition) can ask for another mix without patching the
module, and the generator's knobs are read in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...spec.task import TRAITS, TaskKind, Trait

__all__ = ["DEFAULT_MIX", "FAMILIES", "TaskMix"]

FAMILIES = ("refusal_or_condition", "hidden")
"""The documented families of :attr:`TaskMix.family_min` (``tasks --stats`` reports each)."""


def _kinds() -> dict[TaskKind, float]:
    return {"action": 0.6, "information": 0.2, "refusal": 0.2}


def _goals() -> dict[int, float]:
    return {1: 0.35, 2: 0.35, 3: 0.3}


def _family_min() -> dict[str, float]:
    return {"refusal_or_condition": 0.2, "hidden": 0.2}


def _trait_targets() -> dict[Trait, float]:
    return {
        "branching": 0.25, "partial_refusal": 0.10, "change_of_mind": 0.10, "push_back": 0.10,
        "hidden_facts": 0.30, "multi_goal": 0.30, "deep_information": 0.60,
    }  # fmt: skip


@dataclass(frozen=True)
class TaskMix:
    """The shares a generation aims at. Order matters where shares tie: the first kind (and goal
    count) listed is drawn first, so the same mix always yields the same tasks."""

    kinds: Mapping[TaskKind, float] = field(default_factory=_kinds)
    """the share of each kind of task a domain gets, where the domain can yield it"""
    goals: Mapping[int, float] = field(default_factory=_goals)
    """the share of action tasks asking for one, two and three things (a goal that cannot be bound
    is dropped, so the kept tasks lean a little shorter)"""
    family_min: Mapping[str, float] = field(default_factory=_family_min)
    """at least these shares of a domain's tasks are refusals or name a row by a condition
    (``refusal_or_condition``), and hold a fact back (``hidden``), where the domain can yield them"""
    condition_share: float = 0.5
    """how often a user's row is named by a condition that only it meets, rather than by its name"""
    hidden_share: float = 0.35
    """how often the user holds back how to find them (an email) until the agent asks"""
    aggregate_share: float = 0.5
    """the share of information tasks that ask for a count, a total or a latest/earliest date"""
    distractor_share: float = 0.6
    """how often a row with a near duplicate is described without its unique code, so the twin is a trap"""
    trait_targets: Mapping[Trait, float] = field(default_factory=_trait_targets)
    """at least these shares of a domain's tasks have each trait, where the domain can yield it
    (``deep_information``: of its information tasks). While a trait lags, every candidate is asked
    for it (:attr:`.draft.Order.want`). ``compensation`` has no share: a domain has a goodwill tool
    or it does not, and where it does the trait comes with its refusals and counterparts."""

    def __post_init__(self) -> None:
        if not self.kinds or any(share <= 0 for share in self.kinds.values()):
            raise ValueError(f"a task mix needs at least one kind, each with a share above 0 (got {dict(self.kinds)})")
        if not self.goals or any(n < 1 or share <= 0 for n, share in self.goals.items()):
            raise ValueError(f"goal counts must be at least 1, each with a share above 0 (got {dict(self.goals)})")
        if set(self.family_min) != set(FAMILIES):
            raise ValueError(f"family minima must name exactly {', '.join(FAMILIES)} (got {', '.join(self.family_min)})")
        shares = {
            **{f"family_min[{k}]": v for k, v in self.family_min.items()},
            "condition_share": self.condition_share, "hidden_share": self.hidden_share,
            "aggregate_share": self.aggregate_share, "distractor_share": self.distractor_share,
        }  # fmt: skip
        unknown = set(self.trait_targets) - set(TRAITS)
        if unknown:
            raise ValueError(f"unknown traits {', '.join(sorted(unknown))}; the traits are {', '.join(TRAITS)}")
        shares.update({f"trait_targets[{k}]": v for k, v in self.trait_targets.items()})
        for name, share in shares.items():
            if not 0 <= share <= 1:
                raise ValueError(f"{name} must be a share from 0 to 1 (got {share})")


DEFAULT_MIX = TaskMix()
"""The mix the shipped task sets are generated with."""
