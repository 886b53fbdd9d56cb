"""How a task reads: rows, fields, values and calls in a user's words.

A blueprint may say how people phrase things: an entity's ``noun`` ("booking"), a field's
``phrase`` ("delivery date") and ``question`` ("When was {it} placed?"), an enum's
``value_phrases``, and a tool's ``phrasings`` ("please cancel {order_id}"), several of them
so tasks vary by seed. Where it says nothing, the defaults here still make sentences: no
column names, no snake_case values, no "with city Austin". A request never quotes an internal
id; rows are named the way their owner would name them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..spec.model import EntitySpec, FieldSpec, ParamSpec, ToolSpec
from .answers import format_answer_value

__all__ = [
    "branch_condition",
    "branch_request",
    "cheapest",
    "condition",
    "count_question",
    "describing_fields",
    "entity_noun",
    "extreme",
    "extreme_date_question",
    "fact",
    "field_phrase",
    "plural",
    "question",
    "request",
    "row_description",
    "row_part",
    "superlative",
    "total_question",
    "value_phrase",
    "words",
]

_UNITS = {"kg", "km", "g", "lb", "cm", "mm", "m", "l", "ml", "mb", "gb", "tb", "min", "mins", "kwh", "pct", "eur", "usd"}
_SORTS = {"kind", "type", "category", "tier", "cabin", "class", "plan", "sort"}
"""enum fields that say what sort of thing a row is: their value reads before the noun"""
_SLOT = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def words(name: str) -> str:
    """``customer_id`` -> ``customer``, ``placed_on`` -> ``placed on``."""
    return name.removesuffix("_id").replace("_", " ")


def entity_noun(name: str, entity: EntitySpec) -> str:
    return entity.noun or words(name)


def field_phrase(name: str, f: FieldSpec | ParamSpec | None) -> str:
    """The noun phrase for a field: its blueprint ``phrase``, else its name in words (units spelled out)."""
    if isinstance(f, FieldSpec) and f.phrase:
        return f.phrase
    tokens = name.removesuffix("_id").split("_")
    if len(tokens) > 1 and tokens[-1] in _UNITS:
        return f"{' '.join(tokens[:-1])} in {tokens[-1]}"
    return " ".join(tokens)


def value_phrase(f: FieldSpec | ParamSpec | None, value: Any) -> str:
    """How a value reads in a request: an enum's blueprint phrase, else its words; numbers and dates as written."""
    if isinstance(f, FieldSpec) and f.value_phrases and isinstance(value, str) and value in f.value_phrases:
        return f.value_phrases[value]
    if f is not None and f.type == "enum" and isinstance(value, str):
        return value.replace("_", " ")
    if f is not None and f.type == "datetime" and isinstance(value, str) and "T" in value:
        return value.replace("T", " at ")[:-3] if value.count(":") == 2 else value.replace("T", " at ")
    return format_answer_value(value)


def _event(name: str, f: FieldSpec) -> tuple[str, str] | None:
    """A date field named for the event it records, as (how it follows a noun, its question):
    ``placed_on`` -> ("placed on", "When was {it} placed?"), ``starts_at`` -> ("starting at", "When does {it} start?")."""
    match = re.fullmatch(r"([a-z]+(?:_[a-z]+)*)_(on|at)", name)
    if f.type not in ("date", "datetime") or match is None:
        return None
    verb, prep = match.group(1).replace("_", " "), match.group(2)
    if verb.endswith("s") and not verb.endswith("ss") and " " not in verb:  # starts, expires: a verb, not a participle
        stem = verb[:-1]
        ing = (stem[:-1] if stem.endswith("e") else stem) + "ing"
        return f"{ing} {prep}", f"When does {{it}} {stem}?"
    return f"{verb} {prep}", f"When was {{it}} {verb}?"


def row_part(name: str, f: FieldSpec, value_text: str, *, label: bool = False) -> str:
    """One thing that singles a row out, as it follows the row's noun ("my order ..." + this)."""
    if f.mention:
        return f.mention.replace("{value}", value_text)
    if f.type == "ref":
        return f"for {value_text}"
    if label and f.type == "string":
        return f"called {value_text}"
    event = _event(name, f)
    if event:
        return f"{event[0]} {value_text}"
    return f"whose {field_phrase(name, f)} is {value_text}"


def plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def condition(noun: str, name: str, f: FieldSpec, value_text: str) -> str:
    """A row named by a value only it has among the user's: "whichever of my orders is pending"."""
    if name == "status":
        return f"whichever of my {plural(noun)} is {value_text}"
    if name in _SORTS and value_text.lower() != noun.lower():
        return f"my {value_text} {noun}"  # "my checking account": only one of the user's is of that sort
    return f"whichever of my {plural(noun)} has {value_text} as its {field_phrase(name, f)}"


def branch_condition(name: str, f: FieldSpec, values: Sequence[Any], today: str = "") -> str:
    """The "if" of a branching request, about the row called "it": "it is still pending or paid"
    (a status early in its lifecycle), "its cabin is economy", "it is refundable", "it doesn't have
    late checkout", "its due date has not passed yet" (a date: ``values`` holds a date on the side
    of ``today`` the condition names), "it has fewer than 2 renewals" (a count: the values below a line)."""
    phrase = field_phrase(name, f)
    if f.type == "bool":
        if phrase.split()[-1].endswith(_ADJECTIVE):
            return f"it is {'' if values[0] else 'not '}{phrase}"
        return f"it {'has' if values[0] else 'does not have'} {phrase}"
    if f.type == "date":  # values: the probe on the side the first write is allowed for (before or after today)
        future = bool(values) and str(values[0])[:10] > today
        return f"its {_date_noun(name, f)} {'has not passed yet' if future else 'has already passed'}"
    if f.type == "int" and f.min is not None and f.max is not None:
        counts = sorted(int(v) for v in values)
        below = counts[0] == int(f.min)
        line = counts[-1] + 1 if below else counts[0]
        if phrase.endswith("s"):
            return f"it has {'fewer than ' if below else ''}{line}{'' if below else ' or more'} {phrase}"
        return f"its {phrase} is {'below ' if below else ''}{line}{'' if below else ' or more'}"
    said = " or ".join(value_phrase(f, v) for v in values)
    if name == "status":
        order = list(f.values or [])
        early = all(v in order and order.index(v) < len(order) / 2 for v in values)
        return f"it is {'still ' if early else ''}{said}"
    return f"its {phrase} is {said}"


def _date_noun(name: str, f: FieldSpec) -> str:
    """A date field as a noun: its blueprint phrase, else "due date" for ``due_on``, "expiry date" for
    ``expires_on``, "start date" for ``starts_at``."""
    if f.phrase:
        return f.phrase
    stem = name.removesuffix("_on").removesuffix("_at").replace("_", " ")
    return _DATE_NOUNS.get(stem, f"{stem} date")


_DATE_NOUNS = {"due": "due date", "expires": "expiry date", "starts": "start date", "ends": "end date", "returned": "return date"}
"""date field stems whose noun is not the stem followed by "date"."""

_ADJECTIVE = ("ed", "able", "ible", "ive", "ful", "ent", "ant", "ous", "al", "ic", "open", "due")
"""endings of a bool field's phrase that read as a state ("it is refundable"), not a thing it has"""
_PARTICLE = re.compile(r"\b(send|give|bring|take|hand|pick|check|sign|call|cancel|top) (back|up|out|off|in|down|over) it\b")


def branch_request(row: str, condition_text: str, first: str, otherwise: str) -> str:
    """A branching request on one row: "My order for X: if it is still pending, please cancel it.
    Otherwise, I want to return it: it arrived damaged." (``first`` and ``otherwise`` are sentences)."""
    text = f"{sentence_case(row)[:-1]}: if {condition_text}, {_lower_first(first)} Otherwise, {_lower_first(otherwise)}"
    return _PARTICLE.sub(r"\1 it \2", text)  # "send back it" -> "send it back"


def _lower_first(text: str) -> str:
    """A sentence continued after a comma: its first word lower-cased, unless it is "I" ("I'd like ...")."""
    head = re.match(r"[A-Za-z]+", text)
    if head is None or head.group(0) == "I" or (head.group(0).isupper() and len(head.group(0)) > 1):
        return text
    return text[0].lower() + text[1:]


def _verb(name: str, f: FieldSpec) -> tuple[str, bool] | None:
    """The verb a date field records and whether it is in the past: ``placed_on`` -> ("placed", True),
    ``expires_on`` -> ("expire", False); None for a field not named for an event."""
    event = _event(name, f)
    if event is None:
        return None
    first = event[0].split()[0]
    if first.endswith("ed"):
        return event[0].rsplit(" ", 1)[0], True  # "checked in on" -> "checked in"
    if first.endswith("ing"):
        stem = event[1].removeprefix("When does {it} ").removesuffix("?")
        return stem, False
    return None


def superlative(noun: str, name: str, f: FieldSpec, *, latest: bool) -> str | None:
    """A row named by being the latest or earliest of the user's: "my most recently placed order",
    "whichever of my prescriptions expires first"."""
    verb = _verb(name, f)
    if verb is None:
        return None
    if verb[1] and noun[:4] == verb[0][:4]:  # a booking booked: its own date is what "latest" means
        return f"my {'latest' if latest else 'earliest'} {noun}"
    if verb[1]:  # who did it is not said: the user placed an order, the shop delivered it
        return f"my most recently {verb[0]} {noun}" if latest else f"the first of my {plural(noun)} to be {verb[0]}"
    return f"whichever of my {plural(noun)} {_third_person(verb[0])} {'last' if latest else 'first'}"


def _third_person(verb: str) -> str:
    head, _, rest = verb.partition(" ")
    head = head + ("es" if head.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{head} {rest}".strip()


def extreme(noun: str, name: str, f: FieldSpec, *, highest: bool) -> str:
    """A row named by the largest or smallest amount among the user's: "whichever of my orders has the highest total"."""
    return f"whichever of my {plural(noun)} has the {'highest' if highest else 'lowest'} {field_phrase(name, f)}"


def cheapest(noun: str, parts: Sequence[str]) -> str:
    """A catalogue row chosen by price among its like: "the cheapest seat on flight LX12 whose cabin is business"."""
    return f"the cheapest {noun} " + ", ".join(p for p in parts if p.strip())


def count_question(noun: str, name: str, f: FieldSpec, value_text: str) -> str:
    """An aggregate: how many of the user's rows hold a value ("How many of my orders are pending?")."""
    if name == "status":
        return f"How many of my {plural(noun)} are {value_text}?"
    return f"How many of my {plural(noun)} have {value_text} as their {field_phrase(name, f)}?"


def total_question(noun: str, name: str, f: FieldSpec, status_text: str | None) -> str:
    """An aggregate: the sum of an amount over the user's rows, all or those in one status."""
    rows = f"my {status_text} {plural(noun)}" if status_text else f"all my {plural(noun)}"
    phrase = field_phrase(name, f)
    if "total" in phrase.split() or phrase in ("price", "amount", "cost"):
        return f"What do {rows} come to in total?"
    return f"What do the {plural(phrase)} of {rows} come to in total?"


def extreme_date_question(noun: str, name: str, f: FieldSpec, *, latest: bool) -> str | None:
    """An aggregate: the latest or earliest date among the user's rows ("When was my most recent order placed?")."""
    verb = _verb(name, f)
    if verb is None:
        return None
    if verb[1]:
        return f"When was my {'most recent' if latest else 'first'} {noun} {verb[0]}?"
    return f"Of all my {plural(noun)}, when does the {'last' if latest else 'first'} one {verb[0]}?"


def row_description(noun: str, mine: bool, parts: Sequence[str]) -> str:
    return f"{'my' if mine else 'the'} {noun} " + ", ".join(p for p in parts if p.strip())


def question(name: str, f: FieldSpec, it: str) -> str:
    """The user's question about one field of the row ``it`` names."""
    if f.question and ("{it}" in f.question or it == "my profile"):  # without {it}: a question about the user themself
        return f.question.replace("{it}", it)
    event = _event(name, f)
    if event:
        return event[1].replace("{it}", it)
    phrase = field_phrase(name, f)
    if f.type == "bool":
        return f"Is {it} {phrase}?"
    if it == "my profile":
        return f"What is my {phrase}?"
    return f"What is the {phrase} of {it}?"


def fact(noun: str, said: Sequence[tuple[str, str]]) -> str:
    """What the user adds so a row can be found: "the title's name is X and its author is Y"."""
    first, *rest = said
    text = f"the {noun}'s {first[0]} is {first[1]}"
    return text + "".join(f" and its {phrase} is {value}" for phrase, value in rest)


def sentence_case(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


def request(
    tool_name: str,
    tool: ToolSpec,
    args: Mapping[str, Any],
    rows: Mapping[str, str],
    skip: Sequence[str],
    *,
    persona_noun: str | None,
    field_of: Mapping[str, FieldSpec],
    rng: random.Random,
) -> str:
    """One request for one call: a blueprint phrasing (chosen by ``rng``) or the default wording.

    ``rows`` gives each ref parameter's row description, ``skip`` the parameters that are the
    user themselves, ``field_of`` the field a parameter sets (for its phrase and value words).
    """
    fill: dict[str, str] = {}
    for pname, param in tool.params.items():
        if pname not in args or pname in skip:
            continue
        if pname in rows:
            fill[pname] = rows[pname]
        elif param.type == "list":
            fill[pname] = items_phrase(param, args[pname])
        elif param.type != "ref":
            fill[pname] = value_phrase(field_of.get(pname) or param, args[pname])
    usable = [t for t in tool.phrasings if set(_SLOT.findall(t)) <= set(fill)]
    if usable:
        template = rng.choice(usable)
        used = set(_SLOT.findall(template))
        text = sentence_case(_ONE_OF_MANY.sub(_singular, fill_slots(template, fill)))
    else:
        used = set()
        text = words(tool_name)
        if persona_noun:
            text = f" {text} ".replace(f" {persona_noun} ", " my ", 1).strip()
        for pname, description in rows.items():
            if pname not in fill:
                continue
            noun = words(pname)
            if f" {noun}" in f" {text}":
                text = f" {text} ".replace(f" {noun} ", f" {description} ", 1).strip()
            else:
                text += f" for {description}"
            used.add(pname)
        text = sentence_case(text)
    for pname, value in fill.items():
        if pname in used or not value.strip():  # an empty optional value is not said ("should be .")
            continue
        if pname in rows:
            text += f" It's {value}."
        elif tool.params[pname].type == "bool" and pname not in field_of:  # a yes or no the call takes: "No insurance, please."
            phrase = field_phrase(pname, tool.params[pname])
            text += f" Please include {phrase}." if args[pname] is True else f" No {phrase}, please."
        else:
            text += f" The {field_phrase(pname, field_of.get(pname) or tool.params[pname])} should be {value}."
    return text


_EMPTY_SLOT = "\x00"


def fill_slots(template: str, fill: Mapping[str, str]) -> str:
    """A phrasing with its slots filled; a slot whose value is empty (an optional address line) goes
    with one comma next to it, so "{street}, {line2}, {city}" reads "198 Maple Street, Osaka"."""
    text = _SLOT.sub(lambda m: fill[m.group(1)] if fill[m.group(1)].strip() else _EMPTY_SLOT, template)
    text = re.sub(r",\s*\x00|\x00\s*,\s*", "", text).replace(_EMPTY_SLOT, "")
    return re.sub(r"  +", " ", text).strip()


def series(parts: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def items_phrase(param: ParamSpec, items: Sequence[Any]) -> str:
    """How a list of values or objects reads: "Anna Berg (date of birth 1990-02-03) and Ole Berg"; an
    object's text values run together as a name, its other values follow in brackets."""
    parts = []
    for item in items:
        if not isinstance(item, Mapping):
            parts.append(value_phrase(param.items, item))
            continue
        fields = param.fields or {}
        named = name_fields(fields)
        given = {f: v for f, v in item.items() if v is not None and str(v).strip()}  # an empty optional field says nothing
        name = " ".join(str(given[f]) for f in named if f in given)
        rest = [f"{field_phrase(f, s)} {value_phrase(s, given[f])}" for f, s in fields.items() if f in given and f not in named]
        parts.append(f"{name} ({', '.join(rest)})" if name and rest else name or ", ".join(rest))
    return series(parts) if parts else "nothing"


def name_fields(fields: Mapping[str, ParamSpec]) -> list[str]:
    """The plain text fields of an object item: together they name it (a first and a last name)."""
    return [f for f, s in fields.items() if s.kind == "string" and s.type not in ("enum", "date", "datetime", "ref")]


_ONE_OF_MANY = re.compile(r"(?<![\d.,])\b1 ([a-z]{2,}?)(ies|s)\b")


def _singular(match: re.Match[str]) -> str:
    """"1 guests" -> "1 guest", "1 copies" -> "1 copy": a phrasing written for many, filled with one."""
    stem, ending = match.group(1), match.group(2)
    if ending == "s" and (len(stem) < 3 or stem.endswith(("s", "u"))):
        return match.group(0)  # "1 gas", "1 bus": not a plural
    return f"1 {stem}{'y' if ending == 'ies' else ''}"


def describing_fields(entity: EntitySpec) -> list[str]:
    """Fields in the order a person would use them to single out a row."""
    order = [n for n, f in entity.fields.items() if f.identifying]
    if entity.label and entity.label not in order:
        order.append(entity.label)
    order += [n for n, f in entity.fields.items() if f.type == "ref" and n not in order]
    order += [n for n, f in entity.fields.items() if f.type in ("date", "datetime") and n not in order]
    order += [n for n, f in entity.fields.items() if f.type in ("enum", "string") and n not in order]
    order += [n for n, f in entity.fields.items() if f.type in ("int", "money", "float") and n not in order]
    return order
