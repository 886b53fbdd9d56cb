"""The caller of an assembled task: their script (persona, reason, push back, change of mind), the
rows they hold back until asked, and the traits those make.

Assembly calls this once the goals are drafted and the checks derived: which reason fits depends
on what was asked (the refused write, a goodwill gesture's complaint, the first write, or a question),
and which rows can be held back on which of the task's words name them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from ..spec.model import DomainSpec
from ..spec.task import ChangeOfMind, TaskKind, ToolCall, Trait, UserScript
from ._change_of_mind import TakenBack
from .script import INFORMATION_REASONS, change_of_mind_line, persona, push_back_line, reason_sentence, script_rng, tool_reasons
from .wording import entity_noun, plural

__all__ = ["Caller", "caller", "hold_back_rows"]


@dataclass(frozen=True)
class Caller:
    """A task's script, the sentence that says the reason (for the opening and the instruction), and
    the traits the script gives the task."""

    script: UserScript
    reason_sentence: str
    traits: list[Trait]


def caller(
    spec: DomainSpec,
    *,
    kind: TaskKind,
    name: str | None,
    key: str,
    writes: Sequence[str],
    refused: ToolCall | None,
    taken_back: TakenBack | None = None,
    final_request: str | None = None,
) -> Caller:
    """The script of a task of ``kind`` whose reference makes ``writes`` (tool names, in order) or
    which refuses ``refused``; ``key`` is what the task is (its user and request), so the same task
    always gets the same script. A goodwill gesture is asked for with a complaint; a refusal gets a
    push back; a goal the user takes back gets its lines (``final_request`` is what they say instead)."""
    rng = script_rng(spec.name, key)
    asked = [refused.tool] if refused is not None else list(writes)
    if taken_back is not None:  # the opening asks for the first request: the reason is for that one
        asked = [c.tool for c in taken_back.abandoned]
    gesture = next((t for t in asked if spec.tools[t].goodwill), None)
    tool = gesture or (asked[0] if asked else None)
    reason = rng.choice(tool_reasons(spec, tool) if tool is not None else list(INFORMATION_REASONS))
    traits: list[Trait] = []
    push_back = None
    if kind == "refusal":
        push_back = push_back_line(reason, rng)
        traits.append("push_back")
    change = None
    if taken_back is not None and final_request is not None:
        change = ChangeOfMind(first=taken_back.first, then=change_of_mind_line(final_request, rng), turn=2,
                              abandoned=taken_back.abandoned)  # fmt: skip
        traits.append("change_of_mind")
    if gesture is not None:
        traits.append("compensation")
    script = UserScript(persona=persona(name, rng), reason=reason, change_of_mind=change, push_back=push_back)
    return Caller(script=script, reason_sentence=reason_sentence(reason, rng), traits=traits)


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
