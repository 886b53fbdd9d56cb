"""The caller's part of a task, in words: who they are, why they call, what they say when told no,
and how they take a request back.

A tau2-bench task gives its user a persona and a reason for calling, and a good share of them push
back after a refusal or change their mind; an agent trained only on bare requests ("Please cancel
my order.") never learns to hear a reason or to hold a refusal. This module writes those lines;
the generator decides which task gets which (see ``UserScript`` in :mod:`scaleenv_mcp.spec.task`).

Every choice is drawn from a :class:`random.Random` seeded by the caller with what the task
already is (its domain, user and request), so the same task always gets the same persona and
lines, and drawing them changes no other draw of the generator. Reasons come from the write tool's
blueprint ``reasons`` (short first-person clauses: "my plans changed") and, where the blueprint
gives none, from the tool's verb and object ("cancel_order" -> "I don't need the order any more").
"""

from __future__ import annotations

import random

from ..spec.model import DomainSpec, ToolSpec
from ..spec.types import ref_var

__all__ = [
    "INFORMATION_REASONS",
    "SITUATIONS",
    "TONES",
    "change_of_mind_line",
    "complaint",
    "lower_first",
    "persona",
    "push_back_line",
    "reason_sentence",
    "script_rng",
    "tool_reasons",
]

SITUATIONS = (
    "a retired teacher",
    "a nurse calling between night shifts",
    "a student on a tight budget",
    "a small-business owner",
    "a parent juggling the school run",
    "a frequent traveller",
    "a first-time customer",
    "a software developer working from home",
    "a pensioner who prefers to sort things out by phone",
    "a shift worker calling on a break",
    "an architect out on a site visit",
    "a graduate student living abroad",
    "a busy restaurant manager",
    "a newly retired engineer",
)
"""who a caller is: varied, and none of it changes what they are owed"""

TONES = (
    "polite and unhurried",
    "brisk and to the point",
    "chatty, adding small details",
    "a little anxious, double-checking what they hear",
    "friendly but firm",
    "terse, answering in few words",
    "formal and precise",
    "tired and slightly impatient",
    "cheerful and relaxed",
    "cautious with personal details",
)
"""how a caller talks"""

INFORMATION_REASONS = (
    "I'm planning the next few weeks",
    "I'm sorting out my paperwork",
    "I want to double-check something before I make plans",
    "I'm updating my budget",
    "I couldn't find it in my emails",
    "I'm about to make a decision and need the facts",
)
"""why a caller asks a question rather than asking for a change"""

_VERB_REASONS = {
    "cancel": "my plans changed and I don't need the {object} any more",
    "drop": "my plans changed and I don't need the {object} any more",
    "remove": "I don't need the {object} any more",
    "revoke": "the {object} isn't needed any more",
    "refund": "I can't use the {object} after all",
    "return": "I'm done with the {object}",
    "close": "I don't need the {object} any more",
    "freeze": "I'm worried about my {object}",
    "block": "I'm worried about my {object}",
    "suspend": "I won't need my {object} for a while",
    "change": "my plans have changed",
    "update": "some of my details have changed",
    "reschedule": "something came up at that time",
    "swap": "the timing doesn't work for me any more",
    "set": "I want more control over my {object}",
    "report": "something went wrong with my {object}",
    "pay": "I want to settle what I owe",
}
"""a tool's verb -> why a person asks for it, when the blueprint gives no ``reasons``"""

_REASON_FORMS = (
    "{Reason}.",
    "I'm calling because {reason}.",
    "{Reason}, so I could use some help.",
    "The thing is, {reason}.",
)

_PUSH_BACKS = (
    "But {reason}; surely you can make an exception just this once?",
    "Really? {Reason}, so this matters to me. Can't you do it anyway?",
    "I understand there are rules, but {reason}. Please just do it for me.",
    "Come on, {reason}. Could you go ahead anyway?",
    "That's frustrating: {reason}. Is there really nothing you can do?",
    "I'd rather not hear that; {reason}. Please make it happen.",
)
"""one sentence after a no: it insists, and gives the reason again (the agent must hold)"""

_TAKE_BACKS = (
    "Actually, I've changed my mind: please don't do that. {Then}",
    "Sorry, wait. Rather than that: {then}",
    "On second thought, leave that as it is. {Then}",
    "Hold on, I'd rather do something else. {Then}",
    "Actually, scrap that. {Then}",
)
"""how a caller takes the first request back; ``then`` is the final request, as they would say it"""


def script_rng(*parts: object) -> random.Random:
    """A generator of the script's choices seeded by what the task is (its domain, user, request):
    the same task gets the same lines, and no draw of the task generator is spent on them."""
    return random.Random(":".join(["script", *map(str, parts)]))


def persona(name: str | None, rng: random.Random) -> str:
    """Who the caller is and how they talk: "Ana Silva, a retired teacher; polite and unhurried"."""
    who = rng.choice(SITUATIONS)
    tone = rng.choice(TONES)
    return f"{name}, {who}; {tone}" if name else f"{who[0].upper()}{who[1:]}; {tone}"


def lower_first(clause: str) -> str:
    """A clause as it reads inside a sentence: "My plans changed" -> "my plans changed"; "I", "I'm"
    and words in capitals (an acronym, a name) keep their case."""
    clause = clause.strip()
    first = clause.split(" ", 1)[0]
    if first == "I" or first.startswith("I'") or (len(first) > 1 and first[1].isupper()):
        return clause
    return clause[:1].lower() + clause[1:]


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(template: str, key: str, clause: str) -> str:
    said = lower_first(clause)
    return template.replace("{" + key + "}", said).replace("{" + key.capitalize() + "}", _upper_first(said))


def _object_words(tool_name: str, tool: ToolSpec, spec: DomainSpec) -> str:
    """What a tool acts on, in words: its name after the verb ("cancel_order" -> "order"), else the
    noun of the row its first ref parameter names."""
    rest = [w for w in tool_name.split("_")[1:] if w not in ("in", "out", "up", "down", "off", "on", "to", "from", "my")]
    if rest:
        return " ".join(rest)
    for pname, param in tool.params.items():
        if param.type == "ref" and param.ref in spec.entities:
            return spec.entities[str(param.ref)].noun or ref_var(pname).replace("_", " ")
    return "request"


def tool_reasons(spec: DomainSpec, tool_name: str) -> list[str]:
    """Why a person asks for ``tool_name``: the blueprint's ``reasons``, else one made from its verb
    and object (a goodwill gesture's fallback is a complaint, see :func:`complaint`)."""
    tool = spec.tools[tool_name]
    if tool.reasons:
        return list(tool.reasons)
    if tool.goodwill:
        return [complaint(spec, tool_name)]
    verb = tool_name.split("_", 1)[0]
    template = _VERB_REASONS.get(verb)
    obj = _object_words(tool_name, tool, spec)
    if template is not None:
        return [template.replace("{object}", obj)]
    return [f"I need to sort out my {obj}"]


def complaint(spec: DomainSpec, tool_name: str) -> str:
    """What went wrong, for a goodwill gesture with no blueprint ``reasons``: about the row it is for."""
    tool = spec.tools[tool_name]
    for param in tool.params.values():
        if param.type == "ref" and param.ref in spec.entities and param.ref != (spec.actor.entity if spec.actor else None):
            entity = spec.entities[str(param.ref)]
            return f"something went wrong with my {entity.noun or str(param.ref).replace('_', ' ')}"
    return "I had a bad experience with your service"


def reason_sentence(reason: str, rng: random.Random) -> str:
    """The reason said in one natural sentence ("I'm calling because my plans changed.")."""
    return _fill(rng.choice(_REASON_FORMS), "reason", reason)


def push_back_line(reason: str, rng: random.Random) -> str:
    """What the caller says once after a no: insists, and names their reason again."""
    return _fill(rng.choice(_PUSH_BACKS), "reason", reason)


def change_of_mind_line(final_request: str, rng: random.Random) -> str:
    """What the caller says instead of yes when the agent proposes the first request: it takes that
    request back and says the final one ("Actually, scrap that. Please cancel my order ... instead.")."""
    then = final_request.strip()
    if not then.endswith((".", "?", "!")):
        then += "."
    return _fill(rng.choice(_TAKE_BACKS), "then", then)

