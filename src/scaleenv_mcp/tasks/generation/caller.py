"""The caller of an assembled task: their script (persona, reason, push back, change of mind), what
they say first, and what they hold back until the agent asks.

The assembly calls this once the goals are drafted. Which reason fits depends on what is asked: a
goodwill gesture is asked for with a complaint (its tool's reasons), a refusal with the reason for
the refused write, a change of mind with the reason for the first request (the one the opening
makes), an action with its first write's, a question with a reason for asking. The script's choices
come from a generator seeded with the task itself (:func:`..script.script_rng`), so they spend no
draw of the generation's stream and a task always gets the same lines.

Held back, when the order's hidden share draws it: the facts that identify the user (an email), the
facts that find their rows (a product's name), and which of their rows they mean ("one of my
orders", then "It's my order placed on 2026-03-02." when asked), so the agent must ask for each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from ...spec.model import DomainSpec
from ...spec.task import ChangeOfMind, Trait, UserScript
from ..script import INFORMATION_REASONS, change_of_mind_line, persona, push_back_line, reason_sentence, script_rng, tool_reasons
from ..wording import entity_noun, field_phrase, plural
from .draft import Draft, TakenBack

__all__ = ["Caller", "caller", "held_back", "hold_back_rows"]


@dataclass(frozen=True)
class Caller:
    """A task's script, what the caller says in order (the instruction's sentences after their
    introduction), and the traits the script gives the task."""

    script: UserScript
    reason_sentence: str
    """the reason, said in one sentence ("I'm calling because my plans changed.")"""
    story: list[str]
    """the requests as the whole conversation has them: each goal, or the first request and the change of mind"""
    traits: set[Trait]


def caller(draft: Draft) -> Caller:
    """The script of the drafted task (see the module's docstring for which reason it gives)."""
    spec = draft.spec
    name = draft.persona.get(spec.entities[draft.persona_entity].label or "")
    rng = script_rng(spec.name, draft.persona["id"], " ".join(draft.phrases))
    asked = [c.tool for c in draft.solution if spec.tools[c.tool].is_write]
    if draft.refused is not None:
        asked = [draft.refused.tool, *asked]
    if draft.taken_back is not None:  # the opening makes the first request: the reason is for that one
        asked = [c.tool for c in draft.taken_back.abandoned]
    gesture = next((t for t in asked if spec.tools[t].goodwill), None)
    tool = gesture or (asked[0] if asked else None)
    reason = rng.choice(tool_reasons(spec, tool) if tool is not None else list(INFORMATION_REASONS))
    traits: set[Trait] = set()
    push_back = None
    if draft.refused is not None:  # a refusal (or a refused part): said once after the no
        push_back = push_back_line(reason, rng)
        traits.add("push_back")
    change = None
    story = list(draft.phrases)
    if draft.taken_back is not None:
        first = draft.taken_back
        change = ChangeOfMind(first=first.first, then=change_of_mind_line(draft.phrases[first.at], rng), turn=2,
                              abandoned=first.abandoned)  # fmt: skip
        story = [*_opening_requests(draft.phrases, first), change.then]
        traits.add("change_of_mind")
    if gesture is not None:
        traits.add("compensation")
    script = UserScript(persona=persona(str(name) if name else None, rng), reason=reason, change_of_mind=change, push_back=push_back)
    return Caller(script=script, reason_sentence=reason_sentence(reason, rng), story=story, traits=traits)


def held_back(draft: Draft, intro: str, facts: Mapping[str, Any], label: str | None, who: Caller) -> tuple[str | None, dict[str, str]]:
    """The opening and the facts held back until asked (subject -> the sentence that gives it), by
    one draw of the order's hidden share (always, while the set lacks tasks holding several back);
    (None, {}) when the user says everything at once. A change of mind must open with the first
    request alone, so it always has an opening; its final request says its own facts."""
    spec = draft.spec
    fields = spec.entities[draft.persona_entity].fields
    share = 1.0 if "hidden_facts" in draft.order.want else draft.order.hidden_share
    first = draft.taken_back
    if draft.rng.random() < share:
        if first is None:
            requests, hidden = hold_back_rows(spec, draft.names, draft.requests, draft.persona_entity)
        else:  # the first request is said whole; what finds the final one's rows comes with it
            requests, hidden = _opening_requests(draft.phrases, first), {}
        opening = f"{intro}. {who.reason_sentence} " + " ".join(requests)
        said = {field_phrase(f, fields[f]): f"My {field_phrase(f, fields[f])} is {v}." for f, v in facts.items() if f != label}
        hidden = {**said, **{noun: s for noun, s in hidden.items() if noun not in said}}
        if first is None:
            hidden.update({noun: " ".join(sentences) for noun, sentences in draft.details.items() if noun not in hidden})
        if hidden and not any(str(v) in opening for f, v in facts.items() if f != label):
            return opening, hidden
    if first is not None:  # the agent hears the first request, never the final one
        known = ", ".join(f"my {field_phrase(f, fields[f])} is {v}" for f, v in facts.items() if f != label)
        return f"{intro}; {known}. {who.reason_sentence} " + " ".join(_opening_requests(draft.phrases, first)), {}
    return None, {}


def _opening_requests(phrases: Sequence[str], first: TakenBack) -> list[str]:
    """What a user who changes their mind asks for at first: the first request in the place of the
    one they say instead, and their other requests as they are."""
    return [first.first if i == first.at else p for i, p in enumerate(phrases)]


def hold_back_rows(
    spec: DomainSpec, names: Mapping[str, tuple[str, str]], requests: Sequence[str], persona_entity: str
) -> tuple[list[str], dict[str, str]]:
    """The requests with each row they name said vaguely ("one of my orders", "a product"), and per
    noun the sentence that names it when the agent asks ("It's my order placed on 2026-03-02.", "It's
    whichever of my orders is pending."). A noun two named rows share stays as it was (one answer
    could not tell which is meant), and so do the user's own profile and a row the task just made."""
    said: dict[str, set[str]] = {}
    for entity, text in names.values():
        if entity == persona_entity or text.startswith("the new ") or not any(_mention(text).search(r) for r in requests):
            continue
        said.setdefault(entity_noun(entity, spec.entities[entity]), set()).add(text)
    out = list(requests)
    hidden: dict[str, str] = {}
    for noun, texts in sorted(said.items()):
        if len(texts) != 1:
            continue
        (text,) = texts
        vague = f"one of my {plural(noun)}" if text.startswith("my ") or " my " in f" {text}" else f"a {noun}"
        if sum(len(_mention(text).findall(r)) for r in out) != 1 or any(vague in r.lower() for r in out):
            continue
        out = [_mention(text).sub(partial(_cased, vague), r) for r in out]
        hidden[noun] = f"It's {text}."
    return out, hidden


def _cased(vague: str, match: re.Match[str]) -> str:
    """``vague`` in the case of the words it replaces (capitalised when they open a sentence)."""
    return vague if match.group(0)[0].islower() else vague.capitalize()


def _mention(text: str) -> re.Pattern[str]:
    """``text`` as a whole phrase, its first letter in either case (it may open a sentence)."""
    head = re.escape(text[:1].lower()) + re.escape(text[:1].upper()) if text[:1].isalpha() else re.escape(text[:1])
    return re.compile(rf"(?<!\w)[{head}]" + re.escape(text[1:]) + r"(?!\w)")
