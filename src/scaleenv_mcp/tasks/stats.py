"""What a domain's task set covers: the mix of kinds, how hard, which write tools it exercises.

A trainer reads these before spending compute on a domain: a set of easy single-write tasks, or
one that never touches half the write tools, teaches little however many episodes it runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..spec.model import DomainSpec
from ..spec.task import TRAITS, TaskSpec
from .generation.mix import DEFAULT_MIX

__all__ = ["Difficulty", "difficulty_label", "task_stats"]

Difficulty = Literal["easy", "medium", "hard"]


def difficulty_label(task: TaskSpec) -> Difficulty:
    """A label from what the task takes: calls, writes, rules to respect, a refusal to judge, conditions to resolve.

    Points: one per step, two per write beyond the first, one per rule the writes must pass, three
    for a refusal (the agent must find the reason and not act), two per row named by a condition
    (the agent must compare the user's rows), two per fact held back (the agent must ask), two per
    aggregate (every row must be read and combined), two per row with a near duplicate (a careless
    lookup finds the wrong one). easy <= 4 < medium <= 9 < hard.
    """
    d = task.difficulty
    points = (
        d.get("steps", 0) + 2 * max(0, d.get("writes", 0) - 1) + d.get("rules", 0) + 3 * d.get("refusals", 0)
        + 2 * d.get("conditions", 0) + 2 * d.get("hidden", 0) + 2 * d.get("aggregates", 0) + 2 * d.get("distractors", 0)
    )  # fmt: skip
    return "easy" if points <= 4 else "medium" if points <= 9 else "hard"


def task_stats(spec: DomainSpec, tasks: Sequence[TaskSpec], *, rejected: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Kinds (count and share), difficulty labels, the write tools the reference solutions use, the
    policy decisions per tool (refusals on agent-kept rules and their allowed counterparts), and
    ``rejected``: the candidates each acceptance rule rejected while the set was made, as the
    manifest records them (None when it does not), most frequent first."""
    kinds = Counter(t.kind for t in tasks)
    labels = Counter(difficulty_label(t) for t in tasks)
    used = Counter(c.tool for t in tasks for c in t.solution if spec.tools[c.tool].is_write)
    writes = spec.write_tools()
    total = len(tasks) or 1
    return {
        "domain": spec.name,
        "tasks": len(tasks),
        "kinds": {k: {"count": kinds[k], "share": round(kinds[k] / total, 3)} for k in ("action", "information", "refusal")},
        "difficulty": {k: labels[k] for k in ("easy", "medium", "hard")},
        "mean_steps": round(sum(t.difficulty.get("steps", 0) for t in tasks) / total, 2),
        "with_conditions": sum(1 for t in tasks if t.difficulty.get("conditions", 0)),
        "with_hidden_facts": sum(1 for t in tasks if t.hidden),
        "with_aggregates": sum(1 for t in tasks if t.difficulty.get("aggregates", 0)),
        "with_distractors": sum(1 for t in tasks if t.difficulty.get("distractors", 0)),
        "mix": {
            family: {"count": n, "share": round(n / total, 3), "at_least": DEFAULT_MIX.family_min[family], "met": n / total >= DEFAULT_MIX.family_min[family]}
            for family, n in (
                ("refusal_or_condition", sum(1 for t in tasks if t.kind == "refusal" or t.difficulty.get("conditions", 0))),
                ("hidden", sum(1 for t in tasks if t.hidden)),
            )
        },
        "write_tools": {"covered": sum(1 for w in writes if used[w]), "total": len(writes), "uses": {w: used[w] for w in writes}},
        "never_used": [w for w in writes if not used[w]],
        "decisions": _decisions(tasks),
        "traits": trait_shares(spec, tasks),
        "mean_calls": round(sum(len(t.solution) for t in tasks) / total, 2),
        "mean_writes": round(sum(1 for t in tasks for c in t.solution if spec.tools[c.tool].is_write) / total, 2),
        "mean_distinct_tools": round(sum(len({c.tool for c in t.solution}) for t in tasks) / total, 2),
        "with_persona_and_reason": sum(1 for t in tasks if t.script is not None and t.script.persona and t.script.reason),
        "rejected": None if rejected is None else dict(sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def trait_shares(spec: DomainSpec, tasks: Sequence[TaskSpec]) -> dict[str, dict[str, Any]]:
    """Per trait: how many tasks have it, their share (``deep_information``: of the information tasks),
    the target of the default mix, and whether it is met. ``compensation`` has a target only where the
    domain has a goodwill tool (then at least one task)."""
    counts = Counter(t for task in tasks for t in task.traits)
    information = sum(1 for t in tasks if t.kind == "information")
    goodwill = any(getattr(tool, "goodwill", False) for tool in spec.tools.values())
    out: dict[str, dict[str, Any]] = {}
    for trait in TRAITS:
        base = information if trait == "deep_information" else len(tasks)
        share = counts[trait] / base if base else 0.0
        target: float | None = DEFAULT_MIX.trait_targets.get(trait)
        if trait == "compensation":
            target = 1 / len(tasks) if goodwill and tasks else None
        out[trait] = {
            "count": counts[trait], "share": round(share, 3), "of": "information tasks" if trait == "deep_information" else "tasks",
            "target": target, "met": None if target is None else share >= target - 1e-9,
        }  # fmt: skip
    return out


def _decisions(tasks: Sequence[TaskSpec]) -> dict[str, dict[str, int]]:
    """Per write tool with an agent-kept rule put to the agent: refusals and their allowed counterparts.
    Equal counts mean an agent that always refuses, or always obeys, earns half of that tool's decisions."""
    out: dict[str, dict[str, int]] = {}
    for task in tasks:
        if task.decides is not None:
            tally = out.setdefault(task.decides, {"refused": 0, "allowed": 0})
            tally["refused" if task.refused is not None else "allowed"] += 1  # a partial refusal refuses its tool too
    return dict(sorted(out.items()))
