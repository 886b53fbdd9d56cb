"""Assembly: a draft whose goals are added becomes a TaskSpec.

Three things are decided here, after the goals and before acceptance: the checks (a reply's
checks from the goal strategy; an action's from what the writes actually changed), the words
(the user introduces themself with the facts that identify them, then says each request), and
which facts the user holds back until the agent asks (an opening without them, and the hidden
sentences that give each one), so an agent that never asks cannot find the user or their rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...spec.task import TRAITS, CheckSpec, TaskSpec, Trait
from ..derive import checks_from_diff
from ..wording import field_phrase
from .caller import Caller, caller, held_back
from .draft import Draft

__all__ = ["Wording", "assemble", "checks", "derived_traits", "word"]


@dataclass(frozen=True)
class Wording:
    """What the user says: the instruction, and the facts they know about themself."""

    instruction: str
    intro: str
    """how the user opens ("Hi, I'm Ada Park")"""
    facts: dict[str, Any]
    """field -> value: the user's name (the persona's label) and the keys the entry lookup needs"""
    label: str | None
    """the persona's naming field, said in the intro rather than as a fact"""
    caller: Caller
    """the user's script, the sentence that gives their reason, and their requests in order"""


def checks(draft: Draft) -> list[CheckSpec]:
    """The task's checks: a reply's goal checks and that nothing changed; an action's, derived from the
    diff, then any goal checks it has (a partial refusal's row read, not claimed and reason)."""
    if draft.order.kind != "action":
        return [*draft.checks, CheckSpec(kind="no_other_changes", description="nothing in the state changed")]
    return [*checks_from_diff(draft.spec, draft.state.changes()), *draft.checks]  # a partial refusal's refused half


def word(draft: Draft) -> Wording:
    """The instruction: the user's introduction with what identifies them, then every request."""
    spec, persona = draft.spec, draft.persona
    entity = spec.entities[draft.persona_entity]
    lookup = spec.tools[draft.entry_tool].lookup
    assert lookup is not None
    facts = {f: persona[f] for f in lookup.by}
    label = entity.label
    if label:
        facts = {label: persona[label], **facts}
    intro = f"Hi, I'm {persona[label]}" if label else "Hi"
    known = ", ".join(f"my {field_phrase(f, entity.fields[f])} is {v}" for f, v in facts.items() if f != label)
    who = caller(draft)
    instruction = f"{intro}; {known}. {who.reason_sentence} " + " ".join(who.story)
    return Wording(instruction=instruction, intro=intro, facts=facts, label=label, caller=who)


def derived_traits(task: TaskSpec) -> set[Trait]:
    """The traits a task has by its shape, whatever strategy made it: two or three goals (requests
    the user makes), two or more facts held back, an information task whose reference needs at least
    three calls."""
    traits: set[Trait] = set()
    if task.difficulty.get("branches", 0) >= 2:
        traits.add("multi_goal")
    if len(task.hidden) >= 2:
        traits.add("hidden_facts")
    if task.kind == "information" and len(task.solution) >= 3:
        traits.add("deep_information")
    return traits


def assemble(draft: Draft, wording: Wording, checks: list[CheckSpec]) -> TaskSpec:
    """The TaskSpec (its id is given when it is kept). By the order's hidden share, the user names
    themself and asks, and says how to find them and their rows only when asked (one random draw)."""
    spec, persona, kind = draft.spec, draft.persona, draft.order.kind
    facts = wording.facts
    opening, hidden = held_back(draft, wording.intro, facts, wording.label, wording.caller)
    task = TaskSpec(
        id="",
        domain=spec.name,
        kind=kind,
        instruction=wording.instruction,
        user=facts,
        initial_state=draft.initial_ref,
        checks=checks,
        solution=draft.solution,
        difficulty={
            "steps": len(draft.solution),
            "writes": sum(1 for c in draft.solution if spec.tools[c.tool].is_write),
            "branches": len(draft.phrases),
            "rules": draft.rules,
            "refusals": int(draft.refused is not None),  # a refusal, or the refused half of a partial one
            "conditions": sum(1 for p in draft.phrases if any(c in p for c in draft.conditions)),
            "hidden": len(hidden),
            "aggregates": draft.aggregates,
            "distractors": len(draft.distractors),
        },
        actor=str(persona["id"]),
        opening=opening,
        hidden=hidden,
        decides=draft.decides,
        refused=draft.refused,
        script=wording.caller.script,
    )
    traits = draft.traits | wording.caller.traits | derived_traits(task)
    return task.model_copy(update={"traits": [t for t in TRAITS if t in traits]})
