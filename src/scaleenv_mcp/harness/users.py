"""A scripted user: no LLM, the same replies every run, so every task runs end to end without a model.

It stands in for a person who knows what they asked for and nothing else, so it answers the two
things a policy-following agent asks before it acts:

- **Held-back facts.** ``task.hidden`` maps a subject ("email", "card number") to the sentence that
  gives it. A message that asks about a subject (a question or a request sentence that names it as
  whole words: the phrase, its last word, plurals, "e-mail" / "email address" for email) gets that
  one sentence. A message naming several subjects gets only the first it names: an agent cannot
  collect every fact with one list of generic nouns, and "online" never reveals "line".
- **Confirmations.** A question that proposes a write ("Shall I cancel your order ORD-0032?",
  "Do you want me to add the bag?") is answered from data: the requested actions are the write
  calls of the reference solution (tool and arguments), or for a refusal task the write the policy
  refuses (named by its answer check). A question is read for the domain's write tools by their
  own action words (``cancel_order`` -> cancel; ``add_bag`` -> add + bag when several tools add;
  ``check_in_guest`` -> check ... in) in their usual forms (cancel, cancels, cancelling,
  cancellation). It gets :data:`NO` when it names a write verb no requested action has, when it
  names an unrequested tool outright, or when the ids it names are not the requested call's
  (``ORD-0033`` for a cancel of ``ORD-0032``); otherwise :data:`YES`. A bare "Shall I go ahead?"
  names nothing and gets yes. Past forms ("the order you placed") describe, a form after "the" or
  "your" names a thing ("the return date", "your booking"), and text in double quotes is the agent
  quoting: none of them proposes anything.

A task with a script (``task.script``) is played as written:

- **Opening.** The first message is :func:`~scaleenv_mcp.spec.task.opening_message`: the opening
  (else the instruction) with the reason for calling said in it, the same text an MCP agent's
  ``task`` prompt shows.
- **Change of mind.** While it is pending, a confirmation question that proposes the first request
  (names the action of one of its ``abandoned`` calls, or their ids, and nothing else) gets
  ``then`` instead of yes; so does the user's ``turn``-th message (the opening is the first) if no
  proposal came by then (after the fact asked for, when that message asks for one), and a reply
  that would end the talk first, since a person does not hang up with the change unsaid. It is
  said once; from then on the requested calls are the reference's, so proposing the first
  request again gets :data:`NO`.
- **Push back.** The first time the agent declines (an explicit "I can't", "unable", "not
  allowed", ... or, when the user asked for a write, a reply without a question that does not claim
  it done), the user says ``push_back`` instead of stopping; at the next decline it stops,
  accepting the answer. An agent that gives in and proposes the refused write gets yes, and is
  graded on having done it.

The user stops (:data:`STOP`) when the agent replies without a question (done, or refused), when
it only asks whether there is anything else, and after :data:`CONFIRMATIONS` answered questions.
Evaluations without ``--user-sim`` and :func:`~scaleenv_mcp.harness.episode.run_episode` without a
simulator use it on every task; the oracle and the tests do too. A model playing the user
(``--user-sim``) gets the same script as its instructions: :func:`user_brief`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..spec.model import DomainSpec
from ..spec.task import TaskSpec, ToolCall, opening_message
from ..tasks.claims import claims_done
from .loop import STOP

__all__ = [
    "CONFIRMATIONS",
    "NO",
    "YES",
    "Action",
    "ScriptedUser",
    "action_words",
    "declines",
    "domain_actions",
    "named_subject",
    "plain_brief",
    "requested_tools",
    "user_brief",
]

YES = "Yes, please go ahead."
NO = "No, that's not what I asked for."
CONFIRMATIONS = 6
"""Questions (confirmations and go-aheads) answered at most; the next one ends the conversation."""

ID = re.compile(r"\b[A-Z][A-Z0-9]{0,5}-\d{3,}\b")
"""How ids look in every shipped domain (ORD-0032, CUS-0001): the user compares them with the request's."""

_SYNONYMS = {"email": ("e-mail", "email address", "e-mail address")}
_STOPWORDS = frozenset({"a", "an", "the", "to", "by", "of", "for", "and", "between", "with", "from", "my", "your"})
_PARTICLES = frozenset({"in", "out", "up", "down", "off", "on", "over"})
_ASKING = re.compile(
    r"\b(please|provide|share|tell me|give me|let me know|send me|need your|need the|what is|what's|which)\b", re.IGNORECASE
)
_ASKS_OUTRIGHT = re.compile(
    r"^\W*(which|what)\b|\b(provide|share|tell me|give me|let me know|send me|need your|need the)\b", re.IGNORECASE
)
"""a question that asks for something while it proposes a write ("Which bag shall I remove?"); a
relative "which" inside a proposal ("removing bag BAG-0010, which you added?") does not"""
_CLOSING = re.compile(r"\b(anything|something) else\b|\bany other (questions?|requests?|things?)\b", re.IGNORECASE)
_DETERMINER = re.compile(r"(?<![\w-])(a|an|the|your|my|this|that|its|their|our|his|her)\s+$", re.IGNORECASE)
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")
_DECLINE = re.compile(
    r"\b(can't|cannot|can not|could not|couldn't|unable|not able|not allowed|not permitted|isn't possible|"
    r"is not possible|not eligible|won't be able|am afraid|i'm afraid)\b",
    re.IGNORECASE,
)
"""the words of an explicit refusal: a reply that says them declines, whatever else it says"""


def _plurals(word: str) -> list[str]:
    forms = [word, word + "s"]
    if word.endswith(("s", "sh", "ch", "x", "z")):
        forms.append(word + "es")
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        forms.append(word[:-1] + "ies")
    return forms


def _verb_forms(verb: str, nouns: frozenset[str]) -> list[str]:
    """The forms of a verb that propose the action: base, -s, -ing (cancelling, canceling, making), and
    for a verb in -l its -ation (cancellation); never a derived word that names a thing of the domain.
    (-ation in general is left out: "reservation" is a thing far more often than a reserving.)"""
    stem = verb[:-1] if verb.endswith("e") and not verb.endswith("ee") else verb
    derived = {stem + "ing", verb + verb[-1] + "ing"}
    if verb.endswith("l"):
        derived |= {verb + "ation", verb + "lation"}
    return sorted({verb, verb + "s", verb + "es", *(d for d in derived if d not in nouns)}, key=len, reverse=True)


def _phrase_pattern(forms: Iterable[str]) -> re.Pattern[str]:
    """Whole-word forms (a hyphen is part of a word: "e-mail" is not "mail"); spaces match any spacing."""
    alternatives = "|".join(r"\s+".join(map(re.escape, f.split())) for f in sorted(set(forms), key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


def named_subject(text: str, subjects: Iterable[str]) -> str | None:
    """The subject among ``subjects`` that ``text`` names first (whole words: the phrase, its last word,
    their plurals, and usual synonyms), or None."""
    first: tuple[int, str] | None = None
    for subject in subjects:
        words = subject.lower().split()
        forms = [*_plurals(" ".join(words)), *_plurals(words[-1]), *_SYNONYMS.get(subject.lower(), ())]
        found = _phrase_pattern(forms).search(text)
        if found and (first is None or found.start() < first[0]):
            first = (found.start(), subject)
    return first[1] if first else None


@dataclass(frozen=True)
class Action:
    """How a message names one write tool: its verb phrase, and the words that tell it from other
    write tools with the same verb (``add_bag`` among add_bag, add_card, add_insurance: bag)."""

    tool: str
    verb: str
    verb_pattern: re.Pattern[str]
    marks: re.Pattern[str] | None
    """None when the verb alone names the tool (no other write tool of the domain has it)"""

    def verb_named(self, text: str) -> bool:
        """Whether the verb is used as a verb: "the return date", "your booking" name things."""
        return any(not _DETERMINER.search(text, 0, found.start()) for found in self.verb_pattern.finditer(text))

    def named(self, text: str) -> bool:
        return self.verb_named(text) and (self.marks is None or bool(self.marks.search(text)))


def action_words(tool: str) -> tuple[str, list[str]]:
    """A tool's verb phrase and object words: ``check_in_guest`` -> ("check in", ["guest"]),
    ``upgrade_to_business`` -> ("upgrade", ["business"])."""
    words = tool.split("_")
    verb, rest = words[0], words[1:]
    if rest and rest[0] in _PARTICLES:
        verb, rest = f"{verb} {rest[0]}", rest[1:]
    return verb, [w for w in rest if w not in _STOPWORDS and w not in _PARTICLES]


def domain_actions(spec: DomainSpec) -> list[Action]:
    """Every write tool of the domain, as a message would name it."""
    nouns = frozenset(w for name in spec.entities for w in name.split("_"))
    split = {tool: action_words(tool) for tool in spec.write_tools()}
    actions = []
    for tool, (verb, objects) in split.items():
        others = [o for t, (v, o) in split.items() if v == verb and t != tool]
        head, *particle = verb.split()
        forms = _verb_forms(head, nouns)
        if particle:  # "check in", "check the guest in": the particle may follow a word or two later
            alternatives = "|".join(map(re.escape, forms))
            pattern = re.compile(
                rf"(?<![\w-])(?:{alternatives})(?:\s+[\w-]+){{0,2}}?\s+{re.escape(particle[0])}(?![\w-])", re.IGNORECASE
            )
        else:
            pattern = _phrase_pattern(forms)
        marks = None
        if others:
            own = [w for w in objects if not any(w in o for o in others)] or objects
            marks = _phrase_pattern(p for w in own for p in _plurals(w)) if own else None
        actions.append(Action(tool, verb, pattern, marks))
    return actions


def requested_tools(task: TaskSpec, spec: DomainSpec) -> set[str]:
    """The write tools the user asked for: the reference solution's writes; for a refusal, the refused
    write (the task's ``refused`` call, else every write the request names by its action words)."""
    writes = set(spec.write_tools())
    tools = {c.tool for c in task.solution if c.tool in writes}
    if task.kind == "refusal":
        if task.refused is not None and task.refused.tool in writes:
            tools.add(task.refused.tool)
        else:
            tools |= {a.tool for a in domain_actions(spec) if a.named(task.instruction)}
    return tools


def _ids(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from ID.findall(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ids(item)


def _by_kind(ids: Iterable[str]) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for one in ids:
        kinds.setdefault(one.split("-")[0], set()).add(one)
    return kinds


def _sentences(text: str) -> list[str]:
    """Sentences, a trailing parenthesis kept with the sentence before it ("Shall I ...? (cancel order)")."""
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    merged: list[str] = []
    for part in parts:
        if merged and part.startswith("("):
            merged[-1] += " " + part
        else:
            merged.append(part)
    return merged


def _plain(text: str) -> str:
    """What a question proposes: without what it quotes ("..."). A hyphened word stays one word:
    "the check-in date" and "a top-up" are things, "check in" and "top up" are actions."""
    return _QUOTED.sub(" ", text)


def _is_question(sentence: str) -> bool:
    return "?" in sentence


def _calls(calls: Iterable[ToolCall], writes: set[str]) -> list[tuple[str, dict[str, set[str]]]]:
    """Write calls as a question is compared with them: the tool and the ids of its arguments, by kind."""
    return [(c.tool, _by_kind(_ids(c.arguments))) for c in calls if c.tool in writes]


def declines(text: str, verbs: Iterable[str]) -> bool:
    """Whether a reply declines: it says an explicit refusal ("I can't", "unable", "not allowed"),
    or, given the ``verbs`` of the writes the user asked for, it asks nothing and claims none of them
    (nor anything) done. With no write asked for (a question), only an explicit refusal declines: an
    answer is neither."""
    plain = _plain(text).replace("’", "'")
    if _DECLINE.search(plain):
        return True
    verbs = list(verbs)
    return bool(verbs) and "?" not in plain and not claims_done(plain, verbs)


class ScriptedUser:
    """The user of one task: opens with the request, answers from the task's data, plays the task's
    script (a change of mind, one push back), then stops."""

    def __init__(self, task: TaskSpec, spec: DomainSpec) -> None:
        if spec.name != task.domain:
            raise ValueError(f"task {task.id} is of domain {task.domain}, not {spec.name}")
        self.task = task
        self.revealed: list[str] = []
        self.answered = 0
        self.replies = 0
        """replies to the agent so far: the reply being made is the user's message number ``replies + 1``, the
        opening being the first (whether this user said it or the agent's task prompt showed it)"""
        self.actions = domain_actions(spec)
        self.requested = requested_tools(task, spec)
        writes = set(spec.write_tools())
        self.calls = _calls(task.solution, writes)
        script = task.script
        self.change = script.change_of_mind if script is not None else None
        self.first = _calls(self.change.abandoned, writes) if self.change is not None else []
        self.changed = False
        """whether the user has taken the first request back"""
        self.push_back = script.push_back if script is not None and script.push_back else None
        self.pushed = False
        """whether the user has pushed back on a refusal"""

    async def __call__(self, agent_text: str | None) -> str:
        if agent_text is None:
            return opening_message(self.task)
        self.replies += 1
        sentences = _sentences(agent_text)
        questions = [s for s in sentences if _is_question(s)]
        # a question that proposes a write ("Shall I remove bag BAG-0010?") asks for a yes or no, not for
        # a fact, though it names a held-back subject; one that also asks outright ("which bag ...") asks
        proposing = {q for q in questions if any(a.verb_named(q) for a in self.actions) and not _ASKS_OUTRIGHT.search(q)}
        asking = " ".join(s for s in sentences if s not in proposing and (_is_question(s) or _ASKING.search(s)))
        about = named_subject(asking, [s for s in self.task.hidden if s not in self.revealed])
        fact = None
        if about is not None:
            self.revealed.append(about)
            fact = self.task.hidden[about]
        if self.change is not None and not self.changed:
            proposed = bool(questions) and self.proposes_first(" ".join(questions))
            ending = fact is None and (not questions or self.closing(questions))
            if proposed or ending or self.replies + 1 >= self.change.turn:
                self.changed = True
                return f"{fact} {self.change.then}" if fact is not None else self.change.then
        if fact is not None:
            return fact
        if self.push_back is not None and not self.pushed and declines(agent_text, self.verbs()):
            self.pushed = True
            return self.push_back
        if self.pushed and declines(agent_text, ()):
            return STOP  # refused again after the push back: the user accepts the answer
        if not questions or self.answered >= CONFIRMATIONS or self.closing(questions):
            return STOP
        self.answered += 1
        return YES if self.agrees(" ".join(questions)) else NO

    def verbs(self) -> list[str]:
        """The verbs of the writes the user asked for (what a reply claiming them done would say)."""
        return sorted({a.verb.split()[0] for a in self.actions if a.tool in self.requested})

    def closing(self, questions: list[str]) -> bool:
        """Whether the agent only asks if there is anything else (the user has nothing more to ask for)."""
        text = _plain(" ".join(questions))
        return all(_CLOSING.search(q) for q in questions) and not any(a.verb_named(text) for a in self.actions)

    def agrees(self, question: str) -> bool:
        """Whether a question proposes only what was asked for (a question that names no write does)."""
        return self.matches(question, self.requested, self.calls)

    def proposes_first(self, question: str) -> bool:
        """Whether a question proposes the request the user will take back: it names the action of one of
        the abandoned calls or their ids, and nothing the first request would not do."""
        tools = {tool for tool, _ in self.first}
        text = _plain(question)
        verbs = {a.verb for a in self.actions if a.verb_named(text) and a.tool in tools}
        ids = _by_kind(ID.findall(text))
        names = bool(verbs) or any(ids[k] & kinds[k] for _, kinds in self.first for k in ids.keys() & kinds.keys())
        return names and self.matches(question, tools, self.first)

    def matches(self, question: str, tools: set[str], calls: list[tuple[str, dict[str, set[str]]]]) -> bool:
        """Whether a question proposes only writes among ``tools``, on the rows of one of ``calls``."""
        text = _plain(question)
        verbs = {a.verb for a in self.actions if a.verb_named(text)}
        wanted = {a.verb for a in self.actions if a.tool in tools}
        if verbs - wanted:
            return False  # a write no request of the user's is done by
        named = {a.tool for a in self.actions if a.named(text)}
        if named - tools:
            return False  # another write with the same verb ("add insurance" when a bag was asked for)
        meant = named or {a.tool for a in self.actions if a.verb in verbs and a.tool in tools}
        ids = _by_kind(ID.findall(text))
        chosen = [kinds for tool, kinds in calls if tool in meant]
        if not ids or not chosen:
            return True
        return any(all(ids[k] & kinds[k] for k in ids.keys() & kinds.keys()) for kinds in chosen)


def plain_brief(instruction: str) -> str:
    """The system prompt of a simulated user who has only a request: what it wants, to reveal facts
    only when asked, and to confirm only what it asked for (as the scripted user does)."""
    return (
        "You are a user contacting customer service. This is what you want, and everything you know:\n"
        f"{instruction}\n\n"
        "Rules: open with your request in one or two sentences, without every detail. Give a fact "
        "(your name, email, dates, names of things) only when the agent asks for it. Never invent "
        "facts you were not given. When the agent asks whether to go ahead with something you asked for, "
        "say yes; when it proposes something you did not ask for, say no. "
        "When everything you wanted is done, or the agent cannot help, "
        f"reply with exactly {STOP}."
    )


def user_brief(task: TaskSpec) -> str:
    """The system prompt of a model playing the user of ``task`` (``--user-sim``): the task's script as
    instructions, the same turns the scripted user plays. Who they are and why they call; what to say
    first (the opening the agent would be shown); each held-back fact, to give only when asked; the
    change of mind (the first request, what to say instead, and when); the push back, said once after
    the first refusal and then accepted; and the stop token. A task without a script or held-back
    facts gets :func:`plain_brief`'s rules with its opening."""
    script = task.script
    if script is None and not task.hidden and task.opening is None:
        return plain_brief(task.instruction)
    lines = ["You are a user contacting customer service."]
    if script is not None:
        lines.append(f"Who you are: {script.persona}. Talk the way this person talks.")
        lines.append(f"Why you are calling: {script.reason}. Say it in your first message.")
    lines += ["", "This is what you want, and everything you know:", task.instruction, ""]
    lines.append(f'Your first message (say it in your own words, in one or two sentences): "{opening_message(task)}"')
    if task.hidden:
        lines.append("Facts you hold back: give each one only when the agent asks for it, one at a time, never before:")
        lines += [f"- {about}: {fact}" for about, fact in task.hidden.items()]
    change = script.change_of_mind if script is not None else None
    if change is not None:
        lines.append(
            f'You change your mind. You first ask for this: "{change.first}". When the agent proposes doing it '
            f"(asks you to confirm it), or by your message number {change.turn} (your first message is number 1) "
            f'if it has not proposed it by then, do not say yes; say instead: "{change.then}". Say it once. From then '
            "on you want only that; if the agent proposes the first request again, say no."
        )
    if script is not None and script.push_back:
        lines.append(
            "The first time the agent declines something you asked for, push back once, saying: "
            f'"{script.push_back}". If it declines again, accept its answer and do not push back again.'
        )
    lines += [
        "",
        "Rules: never invent facts you were not given. When the agent asks whether to go ahead with something you "
        "want, say yes; when it proposes something you did not ask for, say no. When everything you wanted is done, "
        f"or the agent cannot help, reply with exactly {STOP}.",
    ]
    return "\n".join(lines)
