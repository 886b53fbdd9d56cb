"""The generator: draft -> goal strategy -> assembly -> acceptance, in a loop that balances the mix.

Each candidate is made for a user drawn at random (:func:`.draft.start_draft`), given goals by the
strategy its order names (:data:`.goals.STRATEGIES`), assembled into a TaskSpec
(:mod:`.assembly`) and kept only if every acceptance rule passes (:mod:`.acceptance`). The loop
decides each candidate's order from what the set kept so far lacks: the kind furthest below its
share of the mix, the goal count furthest below its share, a row named by a condition or a fact
held back while those families lag, and the allowed counterpart of every refusal kept. Every
candidate not kept is counted by its reason in a :class:`GenerationReport`.

One random stream drives every draw in a fixed order, so a seed gives the same tasks every time.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...engine.seed import seed_state
from ...engine.state import State
from ...spec.graph import build_graph
from ...spec.model import DomainSpec
from ...spec.task import TRAITS, TaskKind, TaskSpec, Trait
from ..distractors import add_distractors
from .acceptance import DRAFT_RULES, TASK_RULES, WORDING_RULES, Rejection, first_rejection
from .assembly import assemble, checks, word
from .draft import AGGREGATE_KEY, REFUSAL_KEY, Order, initial_state_ref, persona_tool, start_draft
from .goals import COUNTERPART_TRAITS, OWING_TRAITS, STRATEGIES, TRAIT_STRATEGIES
from .mix import DEFAULT_MIX, FAMILIES, TaskMix

__all__ = ["GenerationReport", "generate_tasks"]

_SOMETIMES: dict[Trait, float] = {"deep_information": 0.85}
"""Traits asked of only this share of the tasks they could be asked of while they lag: a batch
of six tasks has one information task, and a deep question every time would leave no room for the
plain aggregates a set needs too (so the share of deep ones aims above the target, not at all)."""
_COUNTERPART_TRIES = 3
"""misses of a trait's strategy at one tool's allowed counterpart before that tool's are plain ones"""
_GIVE_UP = 15
"""Candidates of one kind that fail in a row before the domain is taken not to yield that kind."""


@dataclass
class GenerationReport:
    """What one or more generations made: tasks kept per kind, candidates rejected per reason.

    Pass one to :func:`generate_tasks` (several calls may share one: the counts add up), so a
    caller sees which rules cost the most candidates without changing what it returns."""

    kept: Counter[str] = field(default_factory=Counter)
    """tasks kept, per kind"""
    rejected: Counter[Rejection] = field(default_factory=Counter)
    """candidates not kept, per reason"""

    def rejected_json(self) -> dict[str, int]:
        """The rejections as ``{reason: count}``, in the order :class:`Rejection` lists them."""
        return {reason.value: self.rejected[reason] for reason in Rejection if self.rejected[reason]}


def candidate(
    order: Order, spec: DomainSpec, work: State, rng: random.Random, entry_tool: str, **shared: Any
) -> TaskSpec | Rejection:
    """One candidate task for ``order``, for a user drawn at random: the task, or why it was not kept."""
    draft = start_draft(spec, work, rng, entry_tool, order, **shared)
    if draft is None:
        return Rejection.PERSONA_NOT_FOUND
    rejection = STRATEGIES[order.strategy](draft) or first_rejection(DRAFT_RULES, draft)
    if rejection is not None:
        return rejection
    task_checks = checks(draft)
    wording = word(draft)
    rejection = first_rejection(WORDING_RULES, wording.instruction)
    if rejection is not None:
        return rejection
    task = assemble(draft, wording, task_checks)
    rejection = first_rejection(TASK_RULES, draft, task)
    if rejection is not None:
        return rejection
    # rows near the ones the task names, added to its own initial state (verified again there)
    return add_distractors(spec, shared["initial"], task, described=draft.described, twins=draft.distractors)


def _drawn(sometimes: dict[Trait, bool], trait: Trait, rng: random.Random) -> bool:
    """Whether the next task is asked for ``trait`` (one of :data:`_SOMETIMES`), drawn once until a task is kept."""
    if trait not in sometimes:
        sometimes[trait] = rng.random() < _SOMETIMES[trait]
    return sometimes[trait]


def _lagging_traits(mix: TaskMix, tasks: list[TaskSpec], kept: Counter[Trait], unyielding: set[Trait]) -> frozenset[Trait]:
    """The traits below their target share in the set kept so far (counting the next task), except
    those this domain cannot give; ``deep_information`` is a share of the information tasks."""
    information = sum(1 for t in tasks if t.kind == "information")
    return frozenset(
        t for t, target in mix.trait_targets.items()
        if t not in unyielding and kept[t] < target * ((information if t == "deep_information" else len(tasks)) + 1)
    )  # fmt: skip


def generate_tasks(
    spec: DomainSpec,
    count: int = 32,
    seed: int = 0,
    initial: State | None = None,
    on_task: Callable[[TaskSpec], None] | None = None,
    *,
    state_seed: int | None = None,
    id_prefix: str | None = None,
    mix: TaskMix = DEFAULT_MIX,
    report: GenerationReport | None = None,
    before: Sequence[TaskSpec] = (),
) -> list[TaskSpec]:
    """``count`` verified tasks (fewer only if the domain cannot yield them), reproducible by seed.

    ``seed`` drives the draw of tasks; ``state_seed`` says which seeded state they start from (the
    domain's own seed by default; ``initial``, when given, must be that state) and is recorded in
    each task. Ids are ``<id_prefix>-<nnn>`` (the domain's name by default), so tasks of several
    states can share one set. ``on_task`` hears of each task as it is kept (a progress bar, say);
    ``mix`` sets the shares aimed at; ``report``, when given, counts the tasks kept per kind and
    the candidates rejected per reason. ``before``: the tasks already in the set these join (other
    seeds' draws): trait shares are aimed at over the whole set, since a draw of six tasks has no
    room for every trait (its refusal and counterparts alone take three)."""
    report = report if report is not None else GenerationReport()
    initial = initial if initial is not None else seed_state(spec, seed=state_seed)
    tool = persona_tool(spec)
    if tool is None:
        return []
    work = initial.fork()  # one working copy, reset between candidates by its undo journal
    work.track()
    rng = random.Random(f"tasks:{spec.name}:{seed}")
    refusable = {t for t in spec.write_tools() if any(r.kept_by == "agent" for r in spec.tools[t].requires)}
    shared: dict[str, Any] = {
        "mix": mix,
        "initial": initial,
        "initial_ref": initial_state_ref(spec, initial, state_seed),  # hashed once: every task starts from it
        "graph": build_graph(spec),
        "answered": Counter(),  # (entity, field, value) -> kept tasks answering it: answers spread evenly
        "value_counts": {},  # (entity, field) -> rows per value in the initial state
        "refusable": refusable,
    }
    answered: Counter[tuple[str, str, Any]] = shared["answered"]
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    per_tool: dict[str, int] = {}
    cap = count // max(1, len(spec.write_tools())) + 2  # keep easy writes from crowding out the rest
    kinds: dict[TaskKind, float] = dict(mix.kinds) if spec.write_tools() else {"information": 1.0}
    misses: Counter[str] = Counter()
    covered: set[str] = set()
    branches: Counter[int] = Counter()
    made: Counter[str] = Counter()
    mixed = dict.fromkeys(FAMILIES, 0)  # kept tasks in the documented mix's two families
    wanting = dict.fromkeys(FAMILIES, True)
    family_misses: Counter[str] = Counter()
    owed: Counter[str] = Counter()
    """refusals of a tool not yet matched by an allowed counterpart"""
    forced_misses: Counter[str] = Counter()
    traits_kept: Counter[Trait] = Counter(t for task in before for t in task.traits)
    """traits of the set so far: the tasks kept before this generation (other seeds') and this one's"""
    trait_misses: Counter[Trait] = Counter()
    unyielding: set[Trait] = set()
    """traits whose strategy failed too often in a row: this domain cannot give them"""
    sometimes: dict[Trait, bool] = {}
    """per trait of :data:`_SOMETIMES`: whether the next kept task is asked for it (drawn once per task, not per try)"""
    unserved: Counter[tuple[Trait, str]] = Counter()
    """(trait, refused tool) -> times that trait's strategy could not make this tool's allowed counterpart"""
    for _ in range(count * 12 + _GIVE_UP * len(kinds)):
        if len(tasks) >= count and not +owed:
            break
        # the kind furthest below its share of the mix; a kind this domain cannot yield drops out
        kind = min(kinds, key=lambda k: (made[k] / kinds[k], list(kinds).index(k)))
        # action tasks spread over one, two and three goals as the mix says, whatever the luck of the draw
        goals = min(mix.goals, key=lambda g: (branches[g] / mix.goals[g], rng.random()))
        # a family below its minimum share is asked of every candidate until it catches up
        lagging = {f for f in mixed if wanting[f] and mixed[f] < mix.family_min[f] * (len(tasks) + 1)}
        want_condition = "refusal_or_condition" in lagging and kind != "refusal"
        force = next(iter(sorted(+owed)), None)  # a refusal is matched by its allowed counterpart before anything else
        if force is not None:
            kind = "action"
        elif kind == "refusal" and len(tasks) + 2 > count:
            kind = "action" if "action" in kinds else "information"  # no room left for a refusal and its counterpart
        elif len(tasks) >= count:
            break
        want = _lagging_traits(mix, [*before, *tasks], traits_kept, unyielding)
        if "multi_goal" in want and goals < 2 and any(g >= 2 for g in mix.goals):
            goals = min((g for g in mix.goals if g >= 2), key=lambda g: (branches[g] / mix.goals[g], g))
        # a lagging trait with a strategy of its own for this kind makes this candidate (so the kinds keep
        # their shares), the one furthest below its target first (so a small batch still gets each); a
        # refusal's counterpart is made by a strategy that can make one whenever it can (a branch whose
        # state runs the allowed tool is a decision too), unless it could not serve that tool before
        if force is None:
            eligible = [t for t in TRAITS if t in want and t in TRAIT_STRATEGIES and TRAIT_STRATEGIES[t][0] == kind
                        and len(tasks) + (2 if t in OWING_TRAITS else 1) <= count
                        and (t not in _SOMETIMES or _drawn(sometimes, t, rng))]  # fmt: skip
        else:
            eligible = [t for t in TRAITS if t in COUNTERPART_TRAITS and t not in unyielding and unserved[(t, force)] < _COUNTERPART_TRIES]
        trait = min(eligible, key=lambda t: (traits_kept[t] / mix.trait_targets.get(t, 1.0), TRAITS.index(t)), default=None)
        strategy: str = kind
        if trait is not None:
            kind, strategy = TRAIT_STRATEGIES[trait]
        order = Order(
            kind=kind, strategy=strategy, goals=goals, covered=frozenset(covered), force_tool=force,
            condition_share=1.0 if want_condition else mix.condition_share,
            hidden_share=1.0 if "hidden" in lagging else mix.hidden_share, want=want,
        )  # fmt: skip
        task = candidate(order, spec, work, rng, tool, **shared)
        if trait is not None:
            if isinstance(task, Rejection) or trait not in task.traits:
                if force is not None:
                    unserved[(trait, force)] += 1  # after a few misses, that tool's counterparts are plain ones
                trait_misses[trait] += 1
                if trait_misses[trait] >= 2 * _GIVE_UP:  # (not more: a small set must still fill its budget)
                    unyielding.add(trait)
                if isinstance(task, Rejection):
                    report.rejected[task] += 1
                else:
                    report.rejected[Rejection.TRAIT_WANTED] += 1
                continue
            trait_misses[trait] = 0
        if force is not None and isinstance(task, Rejection):
            report.rejected[task] += 1
            forced_misses[force] += 1
            if forced_misses[force] >= 3 * _GIVE_UP:  # no allowed counterpart can be made: that tool's refusals go
                tasks = [t for t in tasks if not (t.kind == "refusal" and t.decides == force)]
                tasks = [t.model_copy(update={"decides": None}) if t.decides == force else t for t in tasks]
                refusable.discard(force)
                del owed[force]
            continue
        if isinstance(task, Rejection):
            report.rejected[task] += 1
            misses[kind] += 1
            if misses[kind] >= _GIVE_UP and len(kinds) > 1:
                del kinds[kind]
            continue
        new_tools = {c.tool for c in task.solution if spec.tools[c.tool].is_write} - covered
        if want_condition and not task.difficulty.get("conditions") and not new_tools:
            report.rejected[Rejection.CONDITION_WANTED] += 1
            family_misses["refusal_or_condition"] += 1
            if family_misses["refusal_or_condition"] >= 8 * _GIVE_UP:
                wanting["refusal_or_condition"] = False  # this domain has too few rows a condition can single out
            continue
        misses[kind] = 0
        key = json.dumps([c.model_dump() for c in task.solution if spec.tools[c.tool].is_write] or task.instruction,
                         sort_keys=True)  # fmt: skip
        if key in seen:
            report.rejected[Rejection.DUPLICATE_OF_KEPT] += 1
            continue
        lead = next((c.tool for c in task.solution if spec.tools[c.tool].is_write), f"({task.kind})")
        if force is None and per_tool.get(lead, 0) >= (cap if task.kind == "action" else count // 4 + 1):
            report.rejected[Rejection.TOOL_CAP] += 1
            misses[kind] += 1
            continue
        made[task.kind] += 1
        mixed["refusal_or_condition"] += int(task.kind == "refusal" or bool(task.difficulty.get("conditions")))
        mixed["hidden"] += int(bool(task.hidden))
        if task.kind == "action":
            branches[goals] += 1
        per_tool[lead] = per_tool.get(lead, 0) + 1
        covered.update(c.tool for c in task.solution if spec.tools[c.tool].is_write)
        seen.add(key)
        if task.decides is not None:
            owed[task.decides] += 1 if task.refused is not None else -1  # a partial refusal owes a counterpart too
            forced_misses[task.decides] = 0
        tasks.append(task)
        traits_kept.update(task.traits)
        sometimes.clear()  # the next task's draws
        for check in task.checks:
            if check.kind == "answer" and task.difficulty.get("aggregates"):
                if check.answer_type == "number":
                    answered[(AGGREGATE_KEY, "count", check.value)] += 1
            elif check.kind == "answer":  # questions and refusal reasons are balanced separately
                family = REFUSAL_KEY if task.kind == "refusal" else ""
                answered[(f"{family}{check.entity}", str(check.field), check.value)] += 1
        if on_task is not None:
            on_task(tasks[-1])
    report.kept.update(task.kind for task in tasks)
    prefix = spec.name if id_prefix is None else id_prefix
    return [task.model_copy(update={"id": f"{prefix}-{i:03d}"}) for i, task in enumerate(tasks, 1)]
