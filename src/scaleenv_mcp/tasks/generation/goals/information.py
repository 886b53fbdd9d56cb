"""Information goals: the user asks for one fact about a row of theirs (or, by the mix's aggregate
share, for something only all their rows together answer: see :mod:`.aggregate`).

The answer must not be guessable: a question is asked about a value only while it has been the
answer no more often than any other value of its field (:func:`.common.fair_question`), and never
about a field the question itself uses to name the row.
"""

from __future__ import annotations

from typing import Any

from ....spec.task import CheckSpec
from ...answers import answer_type_for, format_answer_value
from ...wording import question as question_text
from ...wording import words
from ..acceptance import Rejection
from ..draft import Draft
from . import aggregate
from .common import fair_question

__all__ = ["add", "question"]


def add(draft: Draft) -> Rejection | None:
    """An aggregate question (by the mix's share) or else a question about one row; ``no_binding``
    when neither can be asked."""
    check = aggregate.question(draft) if draft.rng.random() < draft.mix.aggregate_share else None
    check = check or question(draft)
    if check is None:
        return Rejection.NO_BINDING
    draft.checks = [check]
    draft.answer = format_answer_value(check.value)
    return None


def question(draft: Draft) -> CheckSpec | None:
    """Ask for one fact about a row the user owns, found by the chain's reads."""
    spec = draft.spec
    entities = [e for e in spec.entities if draft.ownable(e)]
    draft.rng.shuffle(entities)
    for entity in entities:
        rows = draft.owned_rows(entity)
        if not rows:
            continue
        row = draft.rng.choice(rows)
        text = draft.describe(entity, row)
        if text is None:
            continue
        described = set(draft.described.get(row["id"], []))
        options = [
            f for f, s in spec.entities[entity].fields.items()
            if s.type in ("enum", "money", "int", "date", "bool") and f not in described and row.get(f) is not None
        ]  # fmt: skip
        if not options:
            continue
        fname = draft.rng.choice(options)
        field_spec = spec.entities[entity].fields[fname]
        if not fair_question(draft, entity, fname, row[fname]):
            continue
        mark = draft.checkpoint()
        if not draft.discover(entity, row):
            draft.rollback(mark)
            continue
        draft.say(question_text(fname, field_spec, text), draft.facts[mark[2] :])
        answer_type = answer_type_for(field_spec.type, field_spec.sample)
        choices: list[Any] = list(field_spec.values or []) if answer_type == "enum" else []
        return CheckSpec(
            kind="answer",
            description=f"the answer gives {entity} {row['id']}.{fname} = {format_answer_value(row[fname])} (and nothing else)",
            entity=entity, id=row["id"], field=fname, value=row[fname], answer_type=answer_type, choices=choices,
            subject=words(fname).split(),
        )  # fmt: skip
    return None

