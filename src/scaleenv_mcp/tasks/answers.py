"""Typed answers: what a final answer asserts, parsed for the type the task expects.

A substring match pays for hedging: "I don't know" contains "no", a list of every allowed value
contains the right one, "It is not $12.50" contains $12.50. Here the answer is read the way a
careful person reads it: for the expected type, every *mention* of a candidate is found (every
date, every amount, every allowed enum value, yes and no), each mention is read in its clause
to decide whether the answer *asserts* it, and the answer passes only when it asserts exactly
one candidate, that candidate is the expected value, and nothing in it hedges.

How a mention is read (one rule for every type):

- **Sentences and clauses.** The answer is cut into sentences (``. ! ? ;`` and new lines) and
  clauses (commas, colons, dashes, brackets, and before ``and or but so because which if when
  while unless once ...``). A clause that holds only mentions and joining words ("or cancelled",
  ", 1,234.50") inherits the reading of the clause before it, so "It is A or B" asserts both and
  "it is not A or B" denies both.
- **Negated**: a negation governs the mention ("It is not $1,679.94", "The status isn't
  delivered", "Not 2026-03-07", "no longer pending", "rather than X", "X is not right"). A
  negated expected value fails the answer.
- **Bounded**: a bound or an approximation sits next to it ("at least X", "more than X", "up to
  X", "under X", "X or more", "no more than X", "before X", "about X", "between X and Y"). Any
  bounded mention fails the answer: a bound is not a value.
- **Hedged**: the answer hedges anywhere ("not sure", "I don't know", "maybe", "perhaps",
  "possibly", "probably", "I think", "I guess", "I believe", "it seems"), or a mention is
  governed by an epistemic modal ("it might/may/could be X"). A hedge fails the answer.
- **Questioned**: a mention in a sentence that ends with ``?`` is asked, not stated; it counts
  as a rival candidate (so "It's A. Or is it B?" fails) and never as the answer on its own.
- **Neutral** (ignored): the mention is a condition ("when it is pending"), a former value
  ("originally pending"), or, for an enum, an action rather than a state (below). A neutral
  mention can never make an answer pass, so reading one as neutral costs no shortcut: it only
  spares a correct answer that mentions a rival while explaining a rule.
- **Asserted**: everything else, for dates, amounts, numbers, codes and text.

Enum values are often verbs too ("cancelled", "booked", "paid"), so an enum value counts as
asserted only when it is *predicated of the subject* or *stands alone*:

- predicated: the nearest verb before it is a copula or a status verb (is, are, was, 's, has
  been, became, remains, shows, says, marked, listed, status ...) with no modal, no ``to`` and
  no negation in its auxiliary chain: "It's delivered", "Your order has been cancelled",
  "It shows as shipped", "status: PAID";
- standing alone: nothing but determiners and filler words (or the user, "you") before it in
  its clause: "Delivered.", "'delivered'", "you've already checked in", "pending, paid,
  shipped" (three values: it fails);
- not asserted: after a modal or an infinitive ("can't be cancelled", "cannot be cancelled",
  "can no longer be cancelled", "will be delivered", "to be cancelled"), after the agent acting
  ("I have cancelled the other one", "we cancelled it"), after "from" ("from pending to
  shipped"), or with a content word before it and no status verb ("the airline cancelled the
  flight").

So "It's delivered, so it can no longer be cancelled" asserts ``delivered`` only, while "It's
delivered or cancelled" asserts both and fails.

Sentences that assert nothing of the expected kind do not count against an answer: "Your order
is paid. Your reservation is not insured." is a correct yes to "is it paid?"; only another
candidate of the same field (or a hedge) cancels a correct one.

Accepted forms, per type:

- ``date``: ``2026-01-26``, ``2026/01/26``, ``January 26, 2026``, ``26 January 2026``,
  ``Jan 26 2026``, ``Monday, Jan. 26, 2026``; ``01/26/2026`` and ``26/01/2026`` when only one
  reading is a real date or both readings agree.
- ``datetime``: one date as above and one time (``14:30``, ``2:30 PM``, ``2026-01-26T14:30:00``).
- ``money`` and ``number``: digits with an optional sign, currency sign or code, thousands
  separators (``1,234.50``, ``1 234,50``) and a decimal comma (``12,50``); money compares to
  the cent. Identifiers that contain digits are not numbers (``CS101``, ``FLT-0999``,
  ``+1-555-584-4006``, ``#12``), nor are times and dates. For money, amounts marked with a
  currency are the candidates, and so are unmarked amounts with cents or joined to a marked one
  ("1679.94 or 1,234.50 dollars" gives two); for a number, unmarked numbers and counts in words
  ("two orders", "none", "zero", "no orders", "a dozen"; "one" only as a count, not "the one").
- ``boolean``: yes/no words (yes, yeah, correct, true, confirmed / no, not, never, false, isn't
  ...) in clauses about the question, or the question's own word with or without a negation
  ("You are subscribed", "It is inactive"). Clauses about other things, questions and actions
  ("you can't subscribe again") say nothing. Uncertainty ("I don't know", "not sure", "cannot
  tell") asserts nothing.
- ``enum``: the allowed values, case-insensitive, ``_`` and ``-`` read as a space, US and UK
  spellings alike (canceled/cancelled, enroled/enrolled, -ise/-ize, -our/-or, -re/-er).
- ``text``: the expected text, compared normalised (case, spacing, punctuation, quotes, the
  spellings above), alone or as a whole phrase read as above; offering alternatives ("A or B")
  fails.
- ``code``: letters and digits only, ignoring case and separators (``AB-1234`` = ``ab1234``);
  other codes of the same shape are rivals. Phone numbers compare by their digits.
- ``list``: every expected item asserted (any order), and no other known item.

Values in quotes of any kind ('x', "x", ‘x’, “x”, `x`, «x») read as the value.

A second, typed channel needs no reading at all: :func:`answer_schema` is the JSON Schema of an
answer tool's ``answer`` property for a type, and :func:`typed_answer_matches` grades the one
value such a tool receives by equality after normalising its type.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from ..spec.task import AnswerType

__all__ = ["answer_matches", "answer_schema", "answer_type_for", "format_answer_value", "typed_answer_matches"]

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
         ("december", "dec")]
    )
    for name in names
}  # fmt: skip
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
_ISO = re.compile(
    r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_MDY_NAME = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DMY_NAME = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b", re.I)
_SLASHED = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")
_DAY_OF_MONTH = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?![a-z])", re.I
)
_YEAR = re.compile(r"(?<=\b(?:in|of) )(?:19|20)\d\d\b|(?<=\bsince )(?:19|20)\d\d\b", re.I)
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?(?![\d/.-])", re.I)
_CLOCK = re.compile(
    r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:am|pm|a\.m\.|p\.m\.))?|\b\d{1,2}\s*(?:am|pm|a\.m\.|p\.m\.)(?![a-z])", re.I
)

MAX_ANSWER = 10_000
"""characters in a final answer: a page of text is an answer, a dump of the database is a hedge"""

_CURRENCY = r"(?:[$€£¥]|\busd\b|\beur\b|\bgbp\b|\bdollars?\b|\beuros?\b|\bpounds?\b)"
_NUMBER = re.compile(
    rf"(?P<pre>{_CURRENCY}\s?)?(?P<sign>[-−])?(?P<num>\d{{1,3}}(?:[ ,.\u00a0\u202f]\d{{3}})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)(?P<post>\s?{_CURRENCY})?",
    re.I,
)
_IDENTIFIER = re.compile(r"(?<![\w$€£¥])(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[A-Za-z0-9]+(?:[-_/][A-Za-z0-9]+)*")
"""a token with letters and digits (CS101, FLT-0999, 10GB, 3rd): a name, not a number"""
_PHONE = re.compile(r"\+\d[\d\s().-]{6,}\d|\(?\b\d{3}\)?[-.\s]\d{3}[-.]\d{4}\b")
_EMAIL = re.compile(r"\S+@\S+")
_HASH_NUMBER = re.compile(r"#\s?\d+")
_PHONE_RUN = re.compile(r"\+?\d[\d\s().-]{5,}\d")

# ---------------------------------------------------------------- words that govern a mention

_NEGATIONS = {"not", "never", "no", "neither", "nor", "cannot", "nothing", "without", "non"}
_MODALS = {"can", "could", "will", "would", "shall", "should", "must", "may", "might", "able", "unable", "cannot", "going"}
_MODAL_NEGATIONS = {"can't", "cannot", "couldn't", "won't", "wouldn't", "shouldn't", "mustn't", "shan't", "unable"}
_HEDGE_MODALS = {"might", "may", "could", "perhaps", "maybe", "possibly", "probably", "likely", "seems", "seem", "seemed",
                 "appears", "appear", "appeared", "apparently", "presumably", "supposedly", "guess", "think", "believe",
                 "suppose", "assume"}  # fmt: skip
_CONDITIONS = {"if", "when", "whenever", "while", "unless", "once", "whether"}
_FORMER = {"previously", "formerly", "originally", "initially", "earlier"}
"""a value the row had, not has ("originally pending"); a bound right before a value is read by _BOUND_BEFORE"""
_CONTRAST = {"than", "instead", "except", "unlike", "besides", "excluding"}
_COPULAS = {"is", "are", "was", "were", "am", "be", "been", "being", "become", "became", "becomes", "remains", "remain",
            "remained", "stays", "stay", "stayed", "get", "gets", "got", "gotten", "shows", "show", "showed", "shown",
            "showing", "reads", "says", "say", "marked", "listed", "set", "flagged", "status", "state", "labelled",
            "labeled", "recorded", "went", "gone", "moved", "changed", "updated", "switched", "turned"}  # fmt: skip
_PERFECT = {"has", "have", "had"}
_PERSONS = {"i", "we"}
"""the agent acting ("I have cancelled it"); "you've checked in" says what state the user's row is in"""
_RELATIVES = {"who", "whom", "whose"}
_CHAIN = {"be", "been", "being", "is", "are", "was", "were", "am", "has", "have", "had", "to", "not", "never", "no", "longer",
          "already", "now", "still", "also", "just", "currently", "only", "yet", "again", "really", "actually", "officially",
          "then", "therefore", "thus", "fully", "successfully", "even", "any", "more"} | _MODALS | _MODAL_NEGATIONS  # fmt: skip
_FILLERS = {"the", "a", "an", "your", "my", "its", "it", "their", "our", "this", "that", "these", "those", "status", "state",
            "current", "currently", "now", "already", "still", "just", "also", "answer", "value", "result", "simply",
            "officially", "both", "and", "or", "but", "so", "yet", "nor", "either", "then", "plus", "as", "well", "is",
            "final", "short", "in", "brief", "ok", "okay", "here", "there", "sure", "certainly", "definitely", "indeed",
            "yes", "right", "correct", "exactly", "precisely", "you"}  # fmt: skip
_JOINERS = {"or", "and", "nor", "either", "also", "then", "even", "plus", "as", "well", "the", "a", "an", "both"}
_SPLITS = {"and", "or", "but", "so", "because", "since", "though", "although", "whereas", "yet", "nor", "however",
           "therefore", "which", "who", "where", "meaning", "thus", "hence"} | _CONDITIONS  # fmt: skip
_POST_DENIALS = {"wrong", "incorrect", "false", "inaccurate", "invalid"}

_HEDGES = re.compile(
    r"\b(?:not (?:entirely |completely |totally |quite |fully |100% |a hundred percent )?(?:sure|certain|positive)|unsure|"
    r"uncertain|don'?t know|do not know|doesn'?t know|no idea|can'?t tell|cannot tell|can'?t be (?:sure|certain)|"
    r"cannot be (?:sure|certain)|hard to (?:say|tell)|difficult to (?:say|tell)|"
    r"i (?:guess|think|believe|suppose|assume|reckon|imagine)|i'?m guessing|my (?:best )?guess|i'?d (?:say|guess)|"
    r"maybe|perhaps|possibly|probably|presumably|likely|apparently|seemingly|supposedly|it (?:seems|appears)|"
    r"(?:seems|appears) to be|not 100%|give or take|not necessarily|it depends|depending on|sort of|kind of)\b",
    re.I,
)
"""hedges that make a whole answer uncertain, wherever they stand"""
_UNSURE = re.compile(
    r"\b(don'?t know|do not know|not sure|unsure|no idea|can'?t tell|cannot tell|unable to|couldn'?t find|could not find|"
    r"can'?t (?:find|see|check|access|help|tell|say)|cannot (?:find|see|check|access|help|tell|say)|unknown|uncertain|"
    r"maybe|perhaps|not able|won'?t be able|either)\b",
    re.I,
)
"""for yes/no: an answer that cannot or will not tell says neither yes nor no"""

_BOUND_BEFORE = re.compile(
    r"(?:\b(?:at\s+(?:the\s+)?(?:very\s+)?(?:least|most|minimum|maximum)|(?:a\s+)?(?:minimum|maximum)\s+of|more\s+than|less\s+than|"
    r"fewer\s+than|greater\s+than|higher\s+than|lower\s+than|bigger\s+than|larger\s+than|smaller\s+than|over|under|above|"
    r"below|beyond|exceeding|exceeds|up\s+to|upwards?\s+of|in\s+excess\s+of|nearly|almost|approximately|approx\.?|about|"
    r"around|roughly|circa|close\s+to|before|after|earlier\s+than|later\s+than|prior\s+to|on\s+or\s+(?:before|after)|"
    r"between|within|min\.?|max\.?)|[<>≤≥~≈]=?)\s*[\"'‘’“”`«(]*\s*$",
    re.I,
)
_BOUND_AFTER = re.compile(
    r"^\s*[\"'‘’“”`»)]*\s*(?:or\s+(?:more|less|fewer|greater|higher|lower|above|below|over|under|earlier|later|before|after|so|"
    r"thereabouts|something|sooner)\b|and\s+(?:up|upwards?|above|over|more|beyond|below|under|later|earlier)\b|"
    r"at\s+(?:the\s+)?(?:least|most|latest|earliest|minimum|maximum)\b|max(?:imum)?\b|min(?:imum)?\b|tops\b|-?ish\b|"
    r"\+(?=\s*(?:[.,;!?)]|$))|plus\b|give\s+or\s+take\b)",
    re.I,
)

# ---------------------------------------------------------------- boolean words

_YES_PURE = {"yes", "yeah", "yep", "yup", "aye"}
_NO_PURE = {"no", "nope", "nah"}
_YES = _YES_PURE | {"correct", "true", "indeed", "affirmative", "confirmed", "verified", "certainly", "definitely",
                    "absolutely", "right", "course"}  # fmt: skip
_NO_WORDS = _NO_PURE | _NEGATIONS | {"false", "incorrect", "negative", "wrong", "unverified", "inactive"}
_FUNCTION = {"it", "it's", "that", "that's", "this", "is", "are", "was", "were", "i", "i'm", "you", "you're", "we", "we're",
             "they", "they're", "he", "she", "am", "be", "been", "do", "does", "did", "has", "have", "had", "so", "at", "all",
             "the", "answer", "there", "there's", "afraid", "sorry", "unfortunately", "currently", "still", "now", "actually",
             "really", "of", "quite", "sure", "i'd", "say", "both", "to", "a", "an", "short", "in"}  # fmt: skip


# ---------------------------------------------------------------- formatting and types


def format_answer_value(value: Any) -> str:
    """How an expected value reads in a reference answer (and in instructions)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}" if value != int(value) else f"{int(value)}"
    if isinstance(value, list):
        return ", ".join(format_answer_value(v) for v in value)
    return str(value)


def answer_type_for(field_type: str, sample: str | None = None) -> AnswerType:
    """The answer type of a field's value."""
    if field_type in ("date", "datetime", "money", "enum"):
        return field_type  # type: ignore[return-value]
    if field_type in ("int", "float"):
        return "number"
    if field_type == "bool":
        return "boolean"
    if sample == "phone":
        return "phone"
    if sample in ("code", "plate", "digits", "email"):
        return "code"
    return "text"


# ---------------------------------------------------------------- mentions and how the answer reads them

_Reading = Literal["asserted", "negated", "neutral", "hedged", "bounded", "questioned"]


@dataclass(frozen=True)
class _Mention:
    """A candidate value the answer names, at ``text[start:end]``."""

    start: int
    end: int
    value: Hashable


@dataclass
class _Clause:
    lead: str | None  # the joining word that opened it ("or", "when", ...), None after punctuation
    items: list[str | tuple[int, ...]] = field(default_factory=list)  # words, and mentions (indices sharing a span)


_TOKEN = re.compile(
    r"(?P<word>[a-z0-9]+(?:'[a-z]+)*)|(?P<end>[.!?]+(?=[\s\"')\]»”’]|$)|[;\n])|(?P<cut>,(?!\d)|:(?!\d)|[()\[\]]|\s[-–—]+\s|[–—])"
)


def _fold(text: str) -> str:
    """Lower case, straight apostrophes, ``_`` as a space: the same length as ``text``, so spans carry over."""
    folded = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return folded.replace("’", "'").replace("‘", "'").replace("_", " ")


def _blank(text: str, patterns: Sequence[re.Pattern[str]], keep: Sequence[_Mention] = ()) -> str:
    """``text`` with every match of ``patterns`` (outside ``keep``) replaced by spaces of the same length."""
    chars = list(text)
    for pattern in patterns:
        for m in pattern.finditer(text):
            if any(k.start < m.end() and m.start() < k.end for k in keep):
                continue
            chars[m.start() : m.end()] = " " * (m.end() - m.start())
    return "".join(chars)


def _sentences(text: str, mentions: Sequence[_Mention]) -> list[tuple[bool, list[_Clause]]]:
    """The answer as sentences (whether each is a question) of clauses of words and mentions."""
    folded = _blank(_fold(text), [_MDY_NAME, _DMY_NAME], keep=mentions)  # "May 3" is a date, not a modal
    spans: dict[tuple[int, int], list[int]] = {}
    for i, mention in enumerate(mentions):
        spans.setdefault((mention.start, mention.end), []).append(i)
    ordered: list[tuple[int, int]] = []
    for span in sorted(spans):
        if ordered and span[0] < ordered[-1][1]:
            continue  # overlapping mentions: the first one read stands for the text
        ordered.append(span)
    events: list[tuple[str, Any]] = []
    pos = 0
    for piece in [*ordered, None]:  # None: the text after the last mention
        for token in _TOKEN.finditer(folded, pos, len(folded) if piece is None else piece[0]):
            if token.group("word"):
                events.append(("word", token.group("word")))
            elif token.group("end"):
                events.append(("end", "?" in token.group("end")))
            else:
                events.append(("cut", None))
        if piece is not None:
            events.append(("mention", tuple(spans[piece])))
            pos = piece[1]
    sentences: list[tuple[bool, list[_Clause]]] = []
    clauses = [_Clause(None)]
    for kind, value in [*events, ("end", False)]:
        if kind == "word" and value in _SPLITS and clauses[-1].items:
            clauses.append(_Clause(value))
        if kind in ("word", "mention"):
            clauses[-1].items.append(value)
        elif kind == "cut" and clauses[-1].items:
            clauses.append(_Clause(None))
        elif kind == "end":
            kept = [c for c in clauses if c.items]
            if kept:
                sentences.append((bool(value), kept))
            clauses = [_Clause(None)]
    return sentences


def _bounded(text: str, m: _Mention) -> bool:
    return bool(_BOUND_BEFORE.search(text[max(0, m.start - 40) : m.start]) or _BOUND_AFTER.search(text[m.end : m.end + 30]))


def _read(text: str, mentions: Sequence[_Mention], *, enum: bool, subject: Sequence[str] = ()) -> list[_Reading]:
    """How the answer reads each mention (see the module docstring)."""
    readings: list[_Reading] = ["neutral"] * len(mentions)
    bounded = {i for i, m in enumerate(mentions) if _bounded(text, m)}
    fillers = _FILLERS | {w.lower() for w in subject}
    for question, clauses in _sentences(text, mentions):
        previous: _Reading | None = None
        for clause in clauses:
            words = [w for w in clause.items if isinstance(w, str)]
            if not any(isinstance(x, tuple) for x in clause.items):
                previous = None
                continue
            bare = all(w in _JOINERS for w in words)
            inherit = previous if bare and clause.lead in (None, "or", "and", "nor") else None
            for position, item in enumerate(clause.items):
                if isinstance(item, str):
                    continue
                if inherit is not None:
                    reading = inherit
                elif clause.lead in _CONDITIONS:
                    reading = "neutral"
                else:
                    reading = _scan(clause.items[:position][::-1], clause.items[position + 1 :], enum=enum, fillers=fillers)
                if any(i in bounded for i in item):
                    reading = "bounded"
                previous = reading
                for i in item:
                    readings[i] = "questioned" if question and reading == "asserted" else reading
    return readings


def _negative(word: str) -> bool:
    return word in _NEGATIONS or word.endswith("n't")


def _chain(words: Sequence[str]) -> list[str]:
    """The auxiliary words before a verb ("can no longer" of "can no longer be")."""
    out: list[str] = []
    for w in words:
        if w not in _CHAIN and not w.endswith("n't"):
            break
        out.append(w)
    return out


def _scan(
    before: Sequence[str | tuple[int, ...]], after: Sequence[str | tuple[int, ...]], *, enum: bool, fillers: set[str]
) -> _Reading:
    """Read one mention from the words before it (nearest first) and just after it, in its clause."""
    next_words = [w for w in after if isinstance(w, str)][:3]
    if next_words and (
        next_words[0].endswith("n't")
        or (next_words[0] in _COPULAS and len(next_words) > 1 and (_negative(next_words[1]) or next_words[1] in _POST_DENIALS))
    ):
        return "negated"  # "X is not right", "X isn't it", "X is wrong"
    words = [w for w in before if isinstance(w, str)]
    for i, w in enumerate(words):
        if _negative(w):
            modal = w in _MODAL_NEGATIONS or any(x in _MODALS for x in _chain(words[i + 1 :]))
            return "neutral" if enum and modal else "negated"
        if w in _FORMER:
            return "neutral"
        if w in _CONTRAST:
            return "negated"
        if w in _HEDGE_MODALS:
            return "hedged"
        if w in _COPULAS or w in _PERFECT or w.endswith(("'s", "'re", "'m", "'ve")):
            chain = _chain(words[i + 1 :])
            if any(_negative(x) for x in chain):
                return "neutral" if enum and any(x in _MODALS or x in _MODAL_NEGATIONS for x in chain) else "negated"
            if any(x in _HEDGE_MODALS for x in chain):
                return "hedged"
            if enum and any(x in _MODALS or x == "to" for x in chain):
                return "neutral"  # "can be cancelled", "will be delivered", "to be cancelled": an action
            actor = words[i + 1 + len(chain)] if i + 1 + len(chain) < len(words) else ""
            if enum and ((w in _PERFECT and actor in _PERSONS) or (w.endswith("'ve") and w[:-3] in _PERSONS)):
                return "neutral"  # "I have cancelled it": what someone did, not what it is
            return "asserted"
        if enum and (w in _PERSONS or w in _RELATIVES or (w == "from" and i == 0)):
            return "neutral"  # "you cancelled it", "from pending (to shipped)"
    if not enum:
        return "asserted"
    return "asserted" if all(w in fillers for w in words) else "neutral"


def _decide(
    mentions: Sequence[_Mention], readings: Sequence[_Reading], expected: Hashable, want: str, what: str
) -> tuple[bool, str]:
    """Pass when the answer asserts ``expected``, only it, and hedges nothing."""
    if "hedged" in readings:
        return False, f"the answer hedges (might, may, could); a final answer states one {what}"
    if "bounded" in readings:
        return False, f"the answer gives a bound or an estimate, not a {what}; expected {want}"
    said = {
        kind: {m.value for m, r in zip(mentions, readings, strict=True) if r == kind}
        for kind in ("asserted", "negated", "questioned")
    }
    if expected in said["negated"]:
        return False, f"the answer says it is not {want}"
    if not said["asserted"] and said["questioned"]:
        return False, f"the answer asks rather than states; expected {want}"
    found = said["asserted"] | said["questioned"]
    if found != {expected}:
        return False, _reason(found, want, what)
    return True, ""


def _reason(found: set[Any], want: str, what: str) -> str:
    if not found:
        return f"the answer gives no {what}; expected {want}"
    if len(found) > 1:
        return f"the answer gives {len(found)} different {what}s; expected only {want}"
    return f"the answer gives {next(iter(found))}, expected {want}"


# ---------------------------------------------------------------- candidates per type


def _real_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _date_mentions(text: str) -> list[_Mention]:
    found: list[_Mention] = []
    taken: list[tuple[int, int]] = []

    def add(start: int, end: int, days: Sequence[dt.date | None]) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        real = {d for d in days if d}
        if real:
            taken.append((start, end))
            found.extend(_Mention(start, end, d) for d in real)

    for m in _ISO.finditer(text):
        add(m.start(), m.end(3), [_real_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))])
    for m in _MDY_NAME.finditer(text):
        add(m.start(), m.end(), [_real_date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))])
    for m in _DMY_NAME.finditer(text):
        add(m.start(), m.end(), [_real_date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))])
    for m in _SLASHED.finditer(text):
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        add(m.start(), m.end(), [_real_date(year, a, b), _real_date(year, b, a)])  # 03/04: both readings
    return found


def _time_mentions(text: str) -> list[_Mention]:
    found: list[_Mention] = []
    for m in _ISO.finditer(text):
        if m.group(4):
            found.append(_Mention(m.start(4), m.end(), (int(m.group(4)), int(m.group(5)))))
    stripped = _blank(text, [_ISO, _MDY_NAME, _DMY_NAME, _SLASHED])
    for m in _TIME.finditer(stripped):
        hour, minute, half = int(m.group(1)), m.group(2), (m.group(3) or "").lower().replace(".", "")
        if minute is None and not half:
            continue  # a bare number is not a time
        if half:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if half == "pm" else 0)
        if hour < 24 and int(minute or 0) < 60:
            found.append(_Mention(m.start(), m.end(), (hour, int(minute or 0))))
    return found


def _parse_number(raw: str) -> float | None:
    """``1,234.50``, ``1.234,50``, ``1 234,5``, ``12,50`` -> a float (None when it is not one number)."""
    text = raw.replace("\u00a0", " ").replace("\u202f", " ")
    groups = re.split(r"[ ,.]", text)
    seps = re.findall(r"[ ,.]", text)
    if not seps:
        return float(text)
    last = seps[-1]
    tail = groups[-1]
    if len(seps) == 1 and last in ",." and len(tail) != 3:
        return float(text.replace(",", "."))  # one separator, not a thousands group: a decimal point or comma
    if len(set(seps[:-1])) > 1:
        return None
    if last != (seps[0] if len(seps) > 1 else last) and len(tail) != 3:
        return float("".join(groups[:-1]) + "." + tail)  # 1.234,50 / 1,234.50
    if all(len(g) == 3 for g in groups[1:]):
        return float("".join(groups))  # thousands separators only
    return None


_COUNT_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
)} | {"none": 0, "dozen": 12}  # fmt: skip
_COUNT_WORD = re.compile(rf"\b(?:a\s+)?({'|'.join(_COUNT_WORDS)})\b(?!-)", re.I)
_NO_COUNT = re.compile(
    r"\bno\b(?=\s+(?!(?:longer|more|less|later|earlier|fewer|one|idea|than|way|problem|doubt|need|matter|it|i|you|we|they|"
    r"that|this|there|not|further|other)\b)[a-z])",
    re.I,
)
"""'You have no pending orders': a count of zero ('no longer', 'no more than', 'No, it ...' are not)"""
_NOT_A_COUNT_BEFORE = {"the", "that", "this", "which", "each", "any", "every", "no", "another", "other", "first", "second",
                       "third", "last", "next", "latest", "earliest", "newest", "oldest", "same", "a", "an", "its"}  # fmt: skip


def _number_mentions(text: str, *, money: bool) -> list[_Mention]:
    """The amounts (``money``) or the counts an answer names, each at its span."""
    cleaned = _blank(
        text, [_ISO, _MDY_NAME, _DMY_NAME, _SLASHED, _DAY_OF_MONTH, _YEAR, _EMAIL, _PHONE, _CLOCK, _IDENTIFIER, _HASH_NUMBER]
    )
    found: list[tuple[_Mention, bool, str]] = []
    for m in _NUMBER.finditer(cleaned):
        value = _parse_number(m.group("num"))
        if value is None:
            continue
        marked = bool(m.group("pre") or m.group("post"))
        found.append((_Mention(m.start(), m.end(), round(-value if m.group("sign") else value, 2)), marked, m.group("num")))
    if money:
        if not any(marked for _, marked, _ in found):
            return [m for m, _, _ in found]
        joined = re.compile(r"\s*(?:,|/|-|–|or|and|to|,\s*or)\s*", re.I)
        out: list[_Mention] = []
        for i, (amount, marked, raw) in enumerate(found):
            near = [found[j][0] for j in (i - 1, i + 1) if 0 <= j < len(found) and found[j][1]]
            beside = any(joined.fullmatch(cleaned[min(amount.end, n.end) : max(amount.start, n.start)]) for n in near)
            if marked or re.search(r"[.,]\d{2}$", raw) or beside:
                out.append(amount)  # an amount: marked, with cents, or offered beside a marked one
        return out
    plain = [m for m, marked, _ in found if not marked]
    words: list[_Mention] = []
    weak: list[_Mention] = []
    for counted in _COUNT_WORD.finditer(cleaned):
        word = counted.group(1).lower()
        before = re.findall(r"[a-z]+", cleaned[max(0, counted.start() - 12) : counted.start()].lower())
        if word == "one" and before and before[-1] in _NOT_A_COUNT_BEFORE:
            continue  # "the one you booked"
        mention = _Mention(counted.start(), counted.end(), float(_COUNT_WORDS[word]))
        (weak if word == "one" and re.match(r"\s+(?:of|another)\b", cleaned[counted.end() :], re.I) else words).append(mention)
    words += [_Mention(none.start(), none.end(), 0.0) for none in _NO_COUNT.finditer(cleaned)]
    counts = plain + words
    if not counts:
        counts = weak or [m for m, _, _ in found]  # "only one of them", or amounts when nothing else is a number
    return counts


_SPELLINGS = [
    (re.compile(r"(?<=[a-z]{2})ll(?=(?:ed|ing|ment|ments|er|ers)?$)"), "l"),  # cancelled, enrolled, enroll
    (re.compile(r"(?<=[a-z]{3})is(?=(?:e|ed|es|ing|ation|ations)$)"), "iz"),  # authorised
    (re.compile(r"(?<=[a-z]{3})ys(?=(?:e|ed|es|ing)$)"), "yz"),  # analysed
    (re.compile(r"(?<=[a-z]{2})our(?=(?:s|ed|ing|ite|ites|able)?$)"), "or"),  # colour, favourite
    (re.compile(r"(?<=[a-z]{3})tre(?=s?$)"), "ter"),  # centre
]


def _spelling(word: str) -> str:
    """One spelling for US and UK forms: cancelled/canceled -> canceled, colour/color -> color."""
    for pattern, repl in _SPELLINGS:
        word = pattern.sub(repl, word)
    return word


def _phrase_words(text: str, *, spell: bool = True) -> list[tuple[str, int, int]]:
    return [(_spelling(m.group()) if spell else m.group(), m.start(), m.end()) for m in re.finditer(r"[a-z0-9]+", _fold(text))]


def _phrase_mentions(text: str, values: Sequence[Any]) -> list[_Mention]:
    """Where each of ``values`` appears as a whole phrase (longest first; spellings unified unless that merges two values)."""
    keys = {str(v): [w for w, _, _ in _phrase_words(str(v))] for v in values}
    spell = len({tuple(k) for k in keys.values()}) == len(
        {tuple(w for w, _, _ in _phrase_words(str(v), spell=False)) for v in values}
    )
    if not spell:
        keys = {str(v): [w for w, _, _ in _phrase_words(str(v), spell=False)] for v in values}
    tokens = _phrase_words(text, spell=spell)
    taken = [False] * len(tokens)
    found: list[_Mention] = []
    for value, words in sorted(keys.items(), key=lambda kv: -len(kv[1])):
        n = len(words)
        for i in range(len(tokens) - n + 1) if n else ():
            if not any(taken[i : i + n]) and [t[0] for t in tokens[i : i + n]] == words:
                found.append(_Mention(tokens[i][1], tokens[i + n - 1][2], value))
                taken[i : i + n] = [True] * n
    return found


def _polarity(text: str, subject: Sequence[str]) -> set[bool]:
    """The yes/no values an answer asserts (empty when it asserts none, both when it hedges)."""
    if _UNSURE.search(text.replace("’", "'")):
        return set()
    stems = {s.lower()[:5] for s in subject if len(s) >= 4}
    said: set[bool] = set()
    for question, clauses in _sentences(text, []):
        if not question:
            for clause in clauses:
                said |= _clause_polarity([w for w in clause.items if isinstance(w, str)], stems)
    return said


def _clause_polarity(words: list[str], stems: set[str]) -> set[bool]:
    """What one clause says about the question: nothing when it is about something else."""

    def about(w: str) -> bool:
        return bool(stems) and w[:5] in stems

    def negated_word(w: str) -> bool:  # "inactive", "unverified", "unsubscribed" for "active", "verified", "subscribed"
        return any(w.startswith(p) and about(w[len(p) :]) for p in ("un", "in", "non", "dis", "not"))

    yes_pure = any(w in _YES_PURE for w in words)
    no_pure = any(
        w in _NO_PURE and (i == len(words) - 1 or words[i + 1] in _FUNCTION or words[i + 1] in _NO_WORDS)
        for i, w in enumerate(words)
    )
    topical = any(about(w) or negated_word(w) for w in words)
    elliptical = len(words) <= 5 and all(w in _FUNCTION or w in _YES or w in _NO_WORDS or w.endswith("n't") for w in words)
    if not (topical or yes_pure or no_pure or elliptical):
        return set()  # "Your reservation is not insured" says nothing about whether it is paid
    if topical and not (yes_pure or no_pure) and any(w in _MODALS or w in _MODAL_NEGATIONS for w in words):
        return set()  # "you can't subscribe again": an action, not the state asked about
    negation = no_pure or any(negated_word(w) or (w in _NO_WORDS - _NO_PURE) or w.endswith("n't") for w in words)
    said: set[bool] = set()
    if yes_pure or (not negation and (topical or any(w in _YES for w in words))):
        said.add(True)
    if negation:
        said.add(False)
    return said


def _norm_text(text: str) -> str:
    return " ".join(w for w, _, _ in _phrase_words(text))


def _offers_alternatives(text: str, mentions: Sequence[_Mention]) -> bool:
    """Whether a sentence that names the value also offers another with "or" ("Lisbon or Porto"), or a
    sentence opens with one ("It is Lisbon. Or is it Porto?")."""
    return any(
        clauses[0].items[0] == "or"
        or (
            any(isinstance(x, tuple) for c in clauses for x in c.items)
            and any(x in ("or", "either") for c in clauses for x in c.items)
        )
        for _, clauses in _sentences(text, mentions)
    )


def _code_key(value: str, email: bool) -> str:
    return re.sub(r"[^a-z0-9@.]" if email else r"[^a-z0-9]", "", value.lower()).strip(".")


def _shape(key: str) -> str:
    return re.sub(r"[a-z]", "a", re.sub(r"\d", "9", key))


# ---------------------------------------------------------------- the match


def answer_matches(
    answer: str | None,
    expected: Any,
    answer_type: AnswerType,
    *,
    choices: Sequence[Any] = (),
    subject: Sequence[str] = (),
) -> tuple[bool, str]:
    """Whether ``answer`` asserts exactly ``expected`` (and nothing else of its type); a reason when not.

    ``choices`` are the other values the answer could assert (an enum's values, a list's
    known items); ``subject`` the words of what was asked (for yes/no in a sentence).
    """
    if not answer or not answer.strip():
        return False, "there is no answer"
    if len(answer) > MAX_ANSWER:
        return False, f"the answer has {len(answer):,} characters; a final answer has at most {MAX_ANSWER:,}"
    text = answer.strip()
    want = format_answer_value(expected)
    hedge = _HEDGES.search(text.replace("’", "'"))
    if answer_type == "boolean":
        if hedge:
            return False, f"the answer hedges ({hedge.group(0)!r}); it does not say yes or no"
        said = _polarity(text, subject)
        if said != {bool(expected)}:
            return False, "the answer does not say yes or no" if not said else f"the answer does not say {want} (alone)"
        return True, ""
    if hedge:
        return False, f"the answer hedges ({hedge.group(0)!r}); a final answer states one value"
    if answer_type in ("date", "datetime"):
        dates = _date_mentions(text)
        ok, reason = _decide(dates, _read(text, dates, enum=False), dt.date.fromisoformat(str(expected)[:10]), want, "date")
        if not ok or answer_type == "date":
            return ok, reason
        clock = dt.datetime.fromisoformat(str(expected))
        times = _time_mentions(text)
        return _decide(times, _read(text, times, enum=False), (clock.hour, clock.minute), want, "time")
    if answer_type in ("money", "number"):
        numbers = _number_mentions(text, money=answer_type == "money")
        return _decide(numbers, _read(text, numbers, enum=False), round(float(expected), 2), want, "number")
    if answer_type == "enum":
        values = [str(c) for c in choices] or [str(expected)]
        mentions = _phrase_mentions(text, [*values, str(expected)] if str(expected) not in values else values)
        return _decide(mentions, _read(text, mentions, enum=True, subject=subject), str(expected), want, "value")
    if answer_type == "phone":
        digits = re.sub(r"\D", "", str(expected))
        phones = []
        for m in _PHONE_RUN.finditer(text):
            run = re.sub(r"\D", "", m.group())
            same = run == digits or (len(run) >= 10 and digits.endswith(run))  # a national number without its country code
            phones.append(_Mention(m.start(), m.end(), digits if same else run))
        return _decide(phones, _read(text, phones, enum=False), digits, want, "phone number")
    if answer_type == "code":
        email = "@" in str(expected)
        code = _code_key(str(expected), email)
        rivals = bool(re.search(r"\d", code)) and (bool(re.search(r"[a-z]", code)) or len(code) >= 4) and not email
        codes = []
        for m in re.finditer(r"[^\s,;:()\[\]\"'‘’“”`«»]+", text):
            end = m.end() - (len(m.group()) - len(m.group().rstrip(".!?")))
            key = _code_key(text[m.start() : end], email)
            if key and (key == code or (rivals and _shape(key) == _shape(code)) or (email and "@" in key)):
                codes.append(_Mention(m.start(), end, key))
        return _decide(codes, _read(text, codes, enum=False), code, want, "code")
    if answer_type == "list":
        items = [str(v) for v in (expected if isinstance(expected, list) else [expected])]
        known = list(dict.fromkeys([*items, *(str(c) for c in choices)]))
        mentions = _phrase_mentions(text, known)
        readings = _read(text, mentions, enum=False)
        if "hedged" in readings or "bounded" in readings or _offers_alternatives(text, mentions):
            return False, "the answer hedges or offers alternatives; a final answer states the items"
        asserted = {m.value for m, r in zip(mentions, readings, strict=True) if r in ("asserted", "questioned")}
        denied = {m.value for m, r in zip(mentions, readings, strict=True) if r == "negated"} & set(items)
        missing = [i for i in items if i not in asserted or i in denied]
        extra = [str(c) for c in known if c not in items and c in asserted]
        if missing or extra:
            return False, f"missing {missing}, not asked for {extra}"
        return True, ""
    target = _norm_text(str(expected))
    if target and _norm_text(text) == target:
        return True, ""
    mentions = _phrase_mentions(text, [str(expected)])
    if _offers_alternatives(text, mentions):
        return False, f"the answer offers alternatives; expected only {want!r}"
    ok, _ = _decide(mentions, _read(text, mentions, enum=False), str(expected), want, "text")
    return (True, "") if ok else (False, f"the answer does not give {want!r}")


# ---------------------------------------------------------------- the typed channel

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
MAX_TEXT = 500
"""characters in one typed text answer"""
MAX_ITEMS = 100
"""items in one typed list answer"""


def answer_schema(answer_type: AnswerType, choices: Sequence[Any] = ()) -> dict[str, Any]:
    """The JSON Schema of an answer tool's ``answer`` property, for an answer of ``answer_type``.

    The schema is the channel's contract: a model that calls the tool must give one value of
    the type, so grading is an equality (:func:`typed_answer_matches`) and a hedge cannot be
    written. ``choices`` are an enum field's values.
    """
    text = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
    if answer_type == "date":
        return {
            "type": "string",
            "format": "date",
            "pattern": _ISO_DATE,
            "description": "one date, ISO form YYYY-MM-DD (e.g. 2026-03-07)",
        }
    if answer_type == "datetime":
        return {
            "type": "string",
            "pattern": _ISO_DATETIME,
            "description": "one date and time, ISO form YYYY-MM-DDTHH:MM[:SS] (e.g. 2026-03-07T14:30:00)",
        }
    if answer_type == "money":
        return {"type": "number", "description": "one amount as a plain number, no currency sign or separators (e.g. 1234.5)"}
    if answer_type == "number":
        return {"type": "number", "description": "one number (e.g. 3)"}
    if answer_type == "boolean":
        return {"type": "boolean", "description": "true for yes, false for no"}
    if answer_type == "enum":
        values = list(dict.fromkeys(str(c) for c in choices))
        if not values:
            return {**text, "description": "one value of the field, exactly as the tools show it"}
        return {
            "type": "string",
            "enum": values,
            "description": "one of the field's values, exactly as written: " + ", ".join(values),
        }
    if answer_type == "list":
        return {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}, "maxItems": MAX_ITEMS,
                "description": "every item asked for, one string each, in any order"}  # fmt: skip
    what = {"code": "one code or identifier, as the tools show it", "phone": "one phone number (separators optional)"}
    return {**text, "description": what.get(answer_type, "the answer as short text")}


def _kind(value: Any) -> str:
    """What a JSON value is, for a message: 'a string "12"', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})" if len(repr(value)) <= 40 else "a number"
    if isinstance(value, str):
        return f"a string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, list):
        return f"an array of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _cents(value: float | int | str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def typed_answer_matches(submitted: Any, expected: Any, answer_type: AnswerType) -> tuple[bool, str]:
    """Whether one typed answer equals ``expected`` after normalising its type; a reason when not.

    Money compares to the cent, dates and datetimes as ISO values (a datetime by its wall-clock
    time), codes ignoring case and separators, phones by their digits, text normalised (case,
    spacing, punctuation, quotes, spelling), a list as a set of normalised items. A boolean must
    be a JSON boolean and a number must not be one. Never raises on any JSON value.
    """
    try:
        return _typed(submitted, expected, answer_type)
    except (ValueError, TypeError, ArithmeticError, InvalidOperation, RecursionError) as exc:
        return False, f"the answer cannot be compared with the expected {answer_type}: {exc}"


def _typed(submitted: Any, expected: Any, answer_type: AnswerType) -> tuple[bool, str]:
    want = format_answer_value(expected)

    def wrong(noun: str) -> tuple[bool, str]:
        return False, f"expected {noun}, got {_kind(submitted)}"

    def equal(same: bool) -> tuple[bool, str]:
        return (True, "") if same else (False, f"the answer is {format_answer_value(submitted)}, expected {want}")

    if answer_type in ("money", "number"):
        if isinstance(submitted, bool) or not isinstance(submitted, int | float):
            return wrong("a number")
        if isinstance(submitted, float) and not math.isfinite(submitted):
            return wrong("a finite number")
        if answer_type == "money":
            return equal(_cents(submitted) == _cents(expected))
        if isinstance(submitted, int) and isinstance(expected, int) and not isinstance(expected, bool):
            return equal(submitted == expected)
        return equal(math.isclose(float(submitted), float(expected), rel_tol=1e-9, abs_tol=1e-9))
    if answer_type == "boolean":
        return equal(submitted is bool(expected)) if isinstance(submitted, bool) else wrong("a boolean")
    if answer_type == "list":
        if not isinstance(submitted, list) or not all(isinstance(i, str) for i in submitted):
            return wrong("an array of strings")
        items = expected if isinstance(expected, list) else [expected]
        given, asked = {_norm_text(i) for i in submitted}, {_norm_text(format_answer_value(i)) for i in items}
        if given == asked:
            return True, ""
        return False, f"missing {sorted(asked - given)}, not asked for {sorted(given - asked)}"
    if not isinstance(submitted, str):
        return wrong({"date": "a date (YYYY-MM-DD)", "datetime": "a datetime (YYYY-MM-DDTHH:MM)"}.get(answer_type, "a string"))
    if answer_type == "date":
        if not re.fullmatch(_ISO_DATE, submitted.strip()):
            return False, f"expected a date in the form YYYY-MM-DD, got {_kind(submitted)}"
        return equal(dt.date.fromisoformat(submitted.strip()) == dt.date.fromisoformat(str(expected)[:10]))
    if answer_type == "datetime":
        if not re.fullmatch(_ISO_DATETIME, submitted.strip()):
            return False, f"expected a datetime in the form YYYY-MM-DDTHH:MM[:SS], got {_kind(submitted)}"
        moment = dt.datetime.fromisoformat(submitted.strip()).replace(tzinfo=None)
        return equal(moment == dt.datetime.fromisoformat(str(expected)).replace(tzinfo=None))
    if answer_type == "enum":
        return equal(_norm_text(submitted).replace(" ", "") == _norm_text(str(expected)).replace(" ", ""))
    if answer_type == "phone":
        got, need = re.sub(r"\D", "", submitted), re.sub(r"\D", "", str(expected))
        return equal(bool(got) and (got == need or (len(got) >= 10 and need.endswith(got))))
    if answer_type == "code":
        email = "@" in str(expected)
        return equal(_code_key(submitted, email) == _code_key(str(expected), email))
    if answer_type == "text":
        return equal(_norm_text(submitted) == _norm_text(str(expected)))
    return False, f"unknown answer type {answer_type!r}"
