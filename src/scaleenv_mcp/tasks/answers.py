"""Typed answers: what a final answer asserts, parsed for the type the task expects.

A substring match pays for hedging: "I don't know" contains "no", a list of every allowed value
contains the right one. Here the answer is read the way a careful person reads it: for the
expected type, every candidate the answer asserts is extracted (every date, every amount, every
allowed enum value, yes and no), and the answer passes only when it asserts exactly one
candidate and that candidate is the expected value. Correct answers in the usual written forms
pass: ``January 26, 2026`` for a date, ``$1,234.50`` or ``1.234,50 €`` for money, ``Yes, it
is.`` or ``You are subscribed.`` for yes, a phone number with or without separators.

Accepted forms, per type:

- ``date``: ``2026-01-26``, ``2026/01/26``, ``January 26, 2026``, ``26 January 2026``,
  ``Jan 26 2026``, ``Monday, Jan. 26, 2026``; ``01/26/2026`` and ``26/01/2026`` when only one
  reading is a real date or both readings agree.
- ``datetime``: one date as above and one time (``14:30``, ``2:30 PM``, ``2026-01-26T14:30:00``).
- ``money`` and ``number``: digits with an optional sign, currency sign or code, thousands
  separators (``1,234.50``, ``1 234,50``) and a decimal comma (``12,50``); amounts marked with a
  currency are the candidates when there are any, and for a number those without one (or, with
  no digits at all, a count in words: "two orders"); money compares to the cent.
- ``boolean``: yes/no words (yes, yeah, correct, true, confirmed, verified / no, not, never,
  false, isn't ...), or the question's own word without a negation ("You are subscribed").
  Uncertainty ("I don't know", "not sure", "cannot tell") asserts nothing.
- ``enum``: the allowed values, case-insensitive, ``_`` read as a space; exactly one may appear.
- ``text``: the expected text as a whole phrase, ignoring case, spacing and surrounding punctuation.
- ``code``: letters and digits only, ignoring case and separators (``AB-1234`` = ``ab1234``);
  phone numbers compare by their digits.
- ``list``: every expected item appears (any order), and no other known item does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

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
_ISO = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::\d{2})?)?\b")
_MDY_NAME = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DMY_NAME = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b", re.I)
_SLASHED = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?(?::\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?(?![\d/.-])", re.I)

MAX_ANSWER = 10_000
"""characters in a final answer: a page of text is an answer, a dump of the database is a hedge"""

_YES = {
    "yes",
    "yeah",
    "yep",
    "yup",
    "correct",
    "true",
    "indeed",
    "affirmative",
    "confirmed",
    "verified",
    "certainly",
    "definitely",
}
_NO = {"no", "nope", "not", "never", "false", "none", "negative", "isn't", "aren't", "wasn't", "doesn't", "don't", "hasn't",
       "haven't", "isnt", "arent", "doesnt", "dont", "cannot", "can't", "nor", "neither", "unverified", "inactive"}  # fmt: skip
_UNSURE = re.compile(
    r"\b(don'?t know|do not know|not sure|unsure|no idea|can'?t tell|cannot tell|unable to|couldn'?t find|could not find|"
    r"can'?t (?:find|see|check|access|help|tell|say)|cannot (?:find|see|check|access|help|tell|say)|unknown|uncertain|"
    r"maybe|perhaps|not able|won'?t be able|either)\b",
    re.I,
)
_CURRENCY = r"(?:[$€£¥]|usd|eur|gbp|dollars?|euros?|pounds?)"
_NUMBER = re.compile(
    rf"(?P<pre>{_CURRENCY}\s?)?(?P<sign>[-−])?(?P<num>\d{{1,3}}(?:[ ,.\u00a0\u202f]\d{{3}})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)(?P<post>\s?{_CURRENCY})?",
    re.I,
)


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


# ---------------------------------------------------------------- candidates per type


def _real_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _dates(text: str) -> set[dt.date]:
    found: set[dt.date] = set()
    for m in _ISO.finditer(text):
        day = _real_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if day:
            found.add(day)
    for m in _MDY_NAME.finditer(text):
        day = _real_date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
        if day:
            found.add(day)
    for m in _DMY_NAME.finditer(text):
        day = _real_date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
        if day:
            found.add(day)
    for m in _SLASHED.finditer(text):
        a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        found |= {r for r in (_real_date(year, a, b), _real_date(year, b, a)) if r}  # 03/04: both readings
    return found


def _times(text: str) -> set[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    for m in _ISO.finditer(text):
        if m.group(4):
            found.add((int(m.group(4)), int(m.group(5))))
    stripped = _ISO.sub(" ", text)
    for m in _TIME.finditer(stripped):
        hour, minute, half = int(m.group(1)), m.group(2), (m.group(3) or "").lower().replace(".", "")
        if minute is None and not half:
            continue  # a bare number is not a time
        if half:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if half == "pm" else 0)
        if hour < 24 and int(minute or 0) < 60:
            found.add((hour, int(minute or 0)))
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


def _numbers(text: str, *, currency_first: bool) -> list[float]:
    cleaned = _ISO.sub(" ", text)
    cleaned = _MDY_NAME.sub(" ", _DMY_NAME.sub(" ", _SLASHED.sub(" ", cleaned)))
    cleaned = re.sub(r"\b[A-Z][A-Z0-9]{0,5}-\d+\b|\S+@\S+|\b\d{1,2}:\d{2}\b", " ", cleaned)
    marked: list[float] = []
    plain: list[float] = []
    for m in _NUMBER.finditer(cleaned):
        value = _parse_number(m.group("num"))
        if value is None:
            continue
        if m.group("sign"):
            value = -value
        (marked if (m.group("pre") or m.group("post")) else plain).append(value)
    if currency_first and marked:
        return marked
    if not currency_first and plain:
        return plain  # a count or a quantity: amounts marked as money are something else the answer mentions
    if not currency_first and not marked:  # "You have two pending orders": a count in words
        return [float(_COUNT_WORDS[m.group(1).lower()]) for m in _COUNT_WORD.finditer(cleaned)]
    return marked + plain


_COUNT_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
)}  # fmt: skip
_COUNT_WORD = re.compile(rf"(?<!\bthe )(?<!\bthat )(?<!\bthis )(?<!\bwhich )(?<!\beach )(?<!\bany )\b({'|'.join(_COUNT_WORDS)})\b", re.I)
"""a number in words, not the pronoun "one" ("the one you booked")"""


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def _phrase(text: str) -> str:
    return " ".join(_words(text.replace("_", " ")))


def _polarity(text: str, subject: Sequence[str]) -> set[bool]:
    """The yes/no values an answer asserts (empty when it asserts none, both when it hedges)."""
    if _UNSURE.search(text):
        return set()
    words = _words(text)
    said: set[bool] = set()
    if any(w in _YES for w in words):
        said.add(True)
    negated = any(w in _NO or w.endswith("n't") for w in words)
    if negated:
        said.add(False)
    stems = {s[:5] for s in subject if len(s) >= 4}
    if not negated and stems and any(w[:5] in stems for w in words):
        said.add(True)  # "You are subscribed." answers "Am I subscribed?"
    return said


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
    if answer_type in ("date", "datetime"):
        found = _dates(text)
        day = dt.date.fromisoformat(str(expected)[:10])
        if found != {day}:
            return False, _reason(found, want, "date")
        if answer_type == "datetime":
            clock = dt.datetime.fromisoformat(str(expected))
            times = _times(text)
            if times != {(clock.hour, clock.minute)}:
                return False, _reason(times, want, "time")
        return True, ""
    if answer_type in ("money", "number"):
        values = {round(v, 2) for v in _numbers(text, currency_first=answer_type == "money")}
        target = round(float(expected), 2)
        if values != {target}:
            return False, _reason(values, want, "number")
        return True, ""
    if answer_type == "boolean":
        said = _polarity(text, subject)
        if said != {bool(expected)}:
            return False, "the answer does not say yes or no" if not said else f"the answer does not say {want} (alone)"
        return True, ""
    if answer_type == "enum":
        phrase = f" {_phrase(text)} "
        mentioned = {str(c) for c in choices if f" {_phrase(str(c))} " in phrase}
        if mentioned != {str(expected)}:
            return False, _reason(mentioned, want, "value")
        return True, ""
    if answer_type == "phone":
        digits = re.sub(r"\D", "", str(expected))
        runs = {re.sub(r"\D", "", m) for m in re.findall(r"\+?\d[\d\s().-]{5,}\d", text)}
        only = next(iter(runs)) if len(runs) == 1 else ""
        ok = only == digits or (len(only) >= 10 and digits.endswith(only))  # a national number without its country code
        return (True, "") if ok else (False, _reason(runs, want, "phone number"))
    if answer_type == "code":
        code = re.sub(r"[^a-z0-9@.]", "", str(expected).lower())
        tokens = {re.sub(r"[^a-z0-9@.]", "", t.lower()).strip(".") for t in re.split(r"[\s,;:()\"']+", text)}
        return (True, "") if code in tokens else (False, f"the answer does not give {want!r}")
    if answer_type == "list":
        phrase = f" {_phrase(text)} "
        items = [str(v) for v in (expected or [])]
        missing = [i for i in items if f" {_phrase(i)} " not in phrase]
        extra = [str(c) for c in choices if str(c) not in items and f" {_phrase(str(c))} " in phrase]
        if missing or extra:
            return False, f"missing {missing}, not asked for {extra}"
        return True, ""
    target_phrase = _phrase(str(expected))
    if target_phrase and f" {target_phrase} " in f" {_phrase(text)} ":
        return True, ""
    return False, f"the answer does not give {want!r}"


def _reason(found: set[Any], want: str, what: str) -> str:
    if not found:
        return f"the answer gives no {what}; expected {want}"
    if len(found) > 1:
        return f"the answer gives {len(found)} different {what}s; expected only {want}"
    return f"the answer gives {next(iter(found))}, expected {want}"


# ---------------------------------------------------------------- the typed channel


def answer_schema(answer_type: AnswerType, choices: Sequence[Any] = ()) -> dict[str, Any]:
    """The JSON Schema of a typed answer: what the task's answer tool accepts as ``answer``."""
    if answer_type == "date":
        return {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "a date, YYYY-MM-DD"}
    if answer_type == "datetime":
        return {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$", "description": "a date and time, YYYY-MM-DDTHH:MM"}
    if answer_type in ("money", "number"):
        return {"type": "number", "description": "a number (money in the currency's units, e.g. 12.5)"}
    if answer_type == "boolean":
        return {"type": "boolean", "description": "true or false"}
    if answer_type == "enum" and choices:
        return {"type": "string", "enum": [str(c) for c in choices], "description": "one of the allowed values"}
    if answer_type == "list":
        return {"type": "array", "items": {"type": "string", "maxLength": 500}, "maxItems": 100, "description": "every item, once"}
    return {"type": "string", "maxLength": 500, "description": "the value, as text"}


def _typed_norm(value: Any, answer_type: AnswerType) -> Any:
    if answer_type in ("code",):
        return re.sub(r"[^0-9a-z]", "", str(value).lower())
    if answer_type == "phone":
        return re.sub(r"\D", "", str(value))
    if isinstance(value, str):
        return " ".join(value.casefold().split()).strip(" .'\"")
    return value


def typed_answer_matches(submitted: Any, expected: Any, answer_type: AnswerType) -> tuple[bool, str]:
    """Exact equality of the one submitted value with the expected one, after type normalisation."""
    if answer_type in ("money", "number"):
        if isinstance(submitted, bool) or not isinstance(submitted, int | float) or not isinstance(expected, int | float):
            return False, f"expected a number, got {type(submitted).__name__}"
        ok = abs(float(submitted) - float(expected)) < 0.005
        return ok, "" if ok else f"submitted {submitted}, expected another value"
    if answer_type == "boolean":
        if not isinstance(submitted, bool):
            return False, f"expected true or false, got {type(submitted).__name__}"
        return submitted == expected, "" if submitted == expected else "submitted the other value"
    if answer_type == "list":
        if not isinstance(submitted, list) or not isinstance(expected, list):
            return False, "expected a list"
        got = {_typed_norm(v, "text") for v in submitted}
        want = {_typed_norm(v, "text") for v in expected}
        return got == want and len(submitted) == len(expected), "" if got == want else "the items differ"
    if not isinstance(submitted, str):
        return False, f"expected text, got {type(submitted).__name__}"
    ok = _typed_norm(submitted, answer_type) == _typed_norm(expected, answer_type)
    return ok, "" if ok else "submitted another value"
