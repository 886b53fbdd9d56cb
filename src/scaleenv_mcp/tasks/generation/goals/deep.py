"""Deep information: questions whose answer is a chain of calls away from the user.

An information task that finds the user and reads one list of their rows is answered in two
calls, and an agent learns little from it. These goals ask about a row reached *through* the
user's row, so the agent must follow the reference the way a person's question leads:

- a detail of a related row: "How was my order placed on 2026-02-27 paid?" (the order's one
  payment, read with a call of its own), "What is the price of the product on whichever of my
  orders is pending?" (the order's product, when the description does not name it);
- a count over the user's rows by a detail of their related rows: "How many of my orders are for
  a product whose category is books?" (each order's product must be read).

Each needs at least three calls (the user, their rows, the related rows); the generator asks for
them while a domain's share of such tasks lags (see ``deep_information``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ....spec.model import DomainSpec
from ....spec.task import CheckSpec
from ...answers import answer_type_for, format_answer_value
from ...wording import entity_noun, field_phrase, plural, question, value_phrase, words
from ..acceptance import Rejection
from ..draft import AGGREGATE_KEY, Draft
from .common import fair_question

__all__ = ["DEEP_CALLS", "add", "deep_aggregate", "deep_question", "show"]

DEEP_CALLS = 3
"""calls an information task's reference needs to count as deep"""
_ASKED = ("enum", "money", "int", "date", "bool")
_AGGREGATE_ROWS = 12
"""a count is asked over at most this many of the user's rows (a person can count them)"""


def add(draft: Draft) -> Rejection | None:
    """A question three or more calls away: a count over related rows where the user's rows allow one
    (the set's aggregate questions come from here too), else a related row's detail or a total over a
    row's children; ``no_binding`` when the user's rows lead to none."""
    check = deep_aggregate(draft) or deep_question(draft)  # a count first: the set needs aggregates too
    if check is None:
        return Rejection.NO_BINDING
    draft.checks = [check]
    draft.answer = format_answer_value(check.value)
    return None


def show(draft: Draft, entity: str, row: dict[str, Any]) -> bool:
    """Add a call that shows ``row`` itself (its fields, not only its id in another row's reference):
    a get by id, a search by a known reference, or the parent that joins it; False if none does."""
    if row["id"] in draft.read:
        return True
    spec: DomainSpec = draft.spec
    for _, name in sorted((_preference(spec, name, entity), name) for name in spec.tools):
        tool = spec.tools[name]
        args: dict[str, Any] | None = None
        joins = [j for j in tool.include.values() if j.entity == entity]
        if spec.view(name).returns == entity and len(tool.params) == 1 and len(tool.ref_params) == 1:
            (pname,) = tool.ref_params.values()
            args = {pname: row["id"]} if row["id"] in draft.known else None
        elif joins:
            args = draft._fill_joined(name, joins[0], row)
        elif spec.view(name).returns == entity and tool.search:
            args = draft._fill(name, entity, row)
            if args is not None and not all(v in draft.known for v in args.values()):
                args = None  # a search by what the user would have to say (a name): not a chain from their row
            if args is None and not any(p.required for p in tool.params.values()):
                args = {}  # the whole list (a clinic's doctors), where the row shows among them
        if args is None:
            continue
        if draft.run(name, args) is not None:
            if row["id"] in draft.read:
                return True
            draft.solution.pop()
    return False


def _preference(spec: DomainSpec, name: str, entity: str) -> int:
    """Reads in the order an agent would try them to see one row: a get by id, the parent that joins
    it, a search by a reference, a whole listing; 4 for tools that cannot show it (writes, computed answers)."""
    tool = spec.tools[name]
    if tool.is_write or tool.compute:
        return 4
    if spec.view(name).returns == entity and len(tool.params) == 1:
        return 0
    if any(j.entity == entity for j in tool.include.values()):
        return 1
    return 2 if any(p.required for p in tool.params.values()) else 3  # a whole listing last


def _first_level(draft: Draft) -> list[str]:
    """The user's own things, in random order: entities that reference the user directly (an order,
    a reservation), the rows a person's question starts from (not a payment of an order)."""
    spec: DomainSpec = draft.spec
    out = [e for e, s in spec.entities.items() if e != draft.persona_entity
           and any(f.type == "ref" and f.ref == draft.persona_entity for f in s.fields.values())]  # fmt: skip
    draft.rng.shuffle(out)
    return out


def _related(draft: Draft, entity: str, row: dict[str, Any]) -> list[tuple[str, dict[str, Any], str, str]]:
    """The rows one step from ``row`` a question can be about: (entity, row, "parent"/"child", the
    reference field); a child when it is ``row``'s only one of its kind, else ("children": ``row``
    itself) a total over its few children."""
    spec: DomainSpec = draft.spec
    out: list[tuple[str, dict[str, Any], str, str]] = []
    for fname, f in spec.entities[entity].fields.items():
        if f.type == "ref" and f.ref != draft.persona_entity and row.get(fname) is not None:
            parent = draft.state.get(str(f.ref), row[fname])
            if parent is not None:
                out.append((str(f.ref), parent, "parent", fname))
    for other, e in spec.entities.items():
        for fname, f in e.fields.items():
            if f.type == "ref" and f.ref == entity and other != draft.persona_entity:
                children = draft.state.find(other, {fname: row["id"]}, limit=_AGGREGATE_ROWS + 1)
                if len(children) == 1:
                    out.append((other, children[0], "child", fname))
                elif 2 <= len(children) <= _AGGREGATE_ROWS:
                    out.append((other, row, "children", fname))  # a total over them (see _children_total)
    return out


def _describe(draft: Draft, entity: str, row: dict[str, Any]) -> str | None:
    """The user's row, named by a condition when one singles it out ("whichever of my orders is
    delivered"), so its related row is not named with it ("my order for The Silver Bridge")."""
    order = draft.order
    draft.order = replace(order, condition_share=1.0)
    try:
        return draft.describe(entity, row)
    finally:
        draft.order = order


def _children_total(draft: Draft, entity: str, row: dict[str, Any], other: str, via: str, text: str) -> CheckSpec | None:
    """What the rows of ``other`` under the user's ``row`` add up to ("What do the charges for my
    reservation arriving on 2026-07-09 come to in total?"): the user, their row, then its list."""
    spec: DomainSpec = draft.spec
    fields = spec.entities[other].fields
    children = draft.state.find(other, {via: row["id"]}, limit=_AGGREGATE_ROWS + 1)
    money = [n for n, f in fields.items() if f.type == "money" and all(c.get(n) is not None for c in children)]
    if not money:
        return None
    fname = draft.rng.choice(money)
    mark = draft.checkpoint()
    if not draft.discover(entity, row) or not all(show(draft, other, c) for c in children) or len(draft.solution) < DEEP_CALLS:
        draft.rollback(mark)
        return None
    noun, phrase = entity_noun(other, spec.entities[other]), field_phrase(fname, fields[fname])
    rows = f"the {plural(noun)} for {text}"
    amount = "total" in phrase.split() or phrase in ("price", "amount", "cost")
    asked = f"What do {rows} come to in total?" if amount else f"What is the total {phrase} of {rows}?"
    value = round(sum(c[fname] for c in children), 2)
    draft.say(asked, draft.facts[mark[2] :])
    draft.aggregates += 1
    return CheckSpec(
        kind="answer",
        description=f"the answer gives {format_answer_value(value)}: the {fname} of {entity} {row['id']}'s {len(children)} {other} rows",
        entity=other, field=fname, value=value, answer_type="money", subject=words(fname).split(),
    )  # fmt: skip


def deep_question(draft: Draft) -> CheckSpec | None:
    """Ask for one fact of a row related to one of the user's (its parent or its only child), found
    through the user's row: the reference needs the user, their row and the related row."""
    spec: DomainSpec = draft.spec
    entities = _first_level(draft)
    for entity in entities:
        rows = draft.owned_rows(entity)
        if not rows:
            continue
        row = draft.rng.choice(rows)
        related = _related(draft, entity, row)
        draft.rng.shuffle(related)
        for other, target, relation, via in related:
            text = _describe(draft, entity, row)
            if text is None:
                break
            if relation == "children":
                total = _children_total(draft, entity, row, other, via, text)
                if total is not None:
                    return total
                continue
            if relation == "parent" and via in draft.described.get(row["id"], []):
                continue  # the user names the related row ("my order for X"): it can be looked up directly
            fields = spec.entities[other].fields
            options = [
                n for n, f in fields.items()
                if f.type in _ASKED and not f.identifying and target.get(n) is not None and target[n] not in row.values()
            ]  # fmt: skip (a value the user's row shows too needs no second call)
            if not options:
                continue
            fname = draft.rng.choice(options)
            if not fair_question(draft, other, fname, target[fname]):
                continue
            mark = draft.checkpoint()
            if not draft.discover(entity, row) or not show(draft, other, target) or len(draft.solution) < DEEP_CALLS:
                draft.rollback(mark)
                continue
            noun = entity_noun(other, spec.entities[other])
            it = f"the {noun} {'on' if relation == 'parent' else 'for'} {text}"
            draft.say(question(fname, fields[fname], it), draft.facts[mark[2] :])
            answer_type = answer_type_for(fields[fname].type, fields[fname].sample)
            return CheckSpec(
                kind="answer",
                description=f"the answer gives {other} {target['id']}.{fname} = {format_answer_value(target[fname])} "
                f"(the {relation} of {entity} {row['id']})",
                entity=other, id=target["id"], field=fname, value=target[fname], answer_type=answer_type,
                choices=list(fields[fname].values or []) if answer_type == "enum" else [], subject=words(fname).split(),
            )  # fmt: skip
    return None


def deep_aggregate(draft: Draft) -> CheckSpec | None:
    """Ask how many of the user's rows have a related row with a value ("How many of my orders are for
    a product whose category is books?", "How many of my appointments are for a doctor whose specialty
    is cardiology?", the doctor of each appointment's slot): every row, and each row on the way to
    its related one, must be read."""
    spec: DomainSpec = draft.spec
    for entity in _first_level(draft):
        rows = draft.owned_rows(entity)
        if not 2 <= len(rows) <= _AGGREGATE_ROWS:
            continue
        paths = _paths(draft, entity)
        draft.rng.shuffle(paths)
        for path in paths:
            chains = [_follow(draft, row, path) for row in rows]
            if any(chain is None for chain in chains):
                continue
            other = path[-1][1]
            fields = spec.entities[other].fields
            ends = [chain[-1] for chain in chains if chain]
            options = [(n, v) for n, f in fields.items() if f.type == "enum" and not f.identifying
                       for v in sorted({str(e[n]) for e in ends if e.get(n) is not None})]  # fmt: skip
            draft.rng.shuffle(options)
            for fname, value in options:
                count = sum(1 for end in ends if end.get(fname) == value)
                if not 0 < count < len(rows):
                    continue  # "all of them" or "none": a guess from the list alone
                if draft.answered[(AGGREGATE_KEY, "count", count)] > min(
                    draft.answered[(AGGREGATE_KEY, "count", n)] for n in range(1, min(len(rows), 4))
                ):
                    continue  # small counts spread evenly, as the other counts do
                mark = draft.checkpoint()
                if not all(draft.discover(entity, r) for r in rows) or len(draft.facts) > mark[2]:
                    draft.rollback(mark)
                    break
                shown = all(show(draft, e, r) for chain in chains if chain for (_, e), r in zip(path, chain, strict=True))
                if not shown or len(draft.solution) < DEEP_CALLS:
                    draft.rollback(mark)
                    break
                noun, end_noun = entity_noun(entity, spec.entities[entity]), entity_noun(other, spec.entities[other])
                phrase = field_phrase(fname, fields[fname])
                text = f"How many of my {plural(noun)} are for a {end_noun} whose {phrase} is {value_phrase(fields[fname], value)}?"
                draft.say(text, [])
                draft.aggregates += 1
                draft.conditions.add(text)
                return CheckSpec(
                    kind="answer",
                    description=f"the answer gives {count}: {text} (over the user's {len(rows)} {entity} rows and their {other} rows)",
                    entity=other, field=fname, value=count, answer_type="number", subject=words(fname).split(),
                )  # fmt: skip
    return None


def _paths(draft: Draft, entity: str) -> list[list[tuple[str, str]]]:
    """The references a count can follow from the user's rows: one step (an order's product) or two
    (an appointment's slot, then its doctor), never back to the user; each a list of (field, entity)."""
    spec: DomainSpec = draft.spec

    def refs(of: str) -> list[tuple[str, str]]:
        return [(n, str(f.ref)) for n, f in spec.entities[of].fields.items() if f.type == "ref" and f.ref != draft.persona_entity]

    out: list[list[tuple[str, str]]] = []
    for step in refs(entity):
        out.append([step])
        out.extend([step, nxt] for nxt in refs(step[1]) if nxt[1] != entity)
    return out


def _follow(draft: Draft, row: dict[str, Any], path: list[tuple[str, str]]) -> list[dict[str, Any]] | None:
    """The rows ``path`` leads to from ``row``, in order; None when a reference is empty."""
    chain: list[dict[str, Any]] = []
    at = row
    for via, entity in path:
        if at.get(via) is None:
            return None
        nxt = draft.state.get(entity, at[via])
        if nxt is None:
            return None
        chain.append(nxt)
        at = nxt
    return chain
