"""Aggregate questions: something only all of the user's rows together answer.

How many of my orders are pending, what my bookings add up to, when my latest appointment is: the
reference must read every row, so an agent that stops at the first one fails. Small counts are
spread evenly across a task set, so always answering "1" is worth no more than chance.
"""

from __future__ import annotations

from typing import Any

from ....spec.task import AnswerType, CheckSpec
from ...answers import format_answer_value
from ...wording import count_question, entity_noun, extreme_date_question, total_question, value_phrase, words
from ..acceptance import Rejection
from ..draft import AGGREGATE_KEY, Draft

__all__ = ["add", "question"]

_AGGREGATE_ROWS = 12
"""an aggregate is asked over at most this many of the user's rows (a person can count them)"""


def add(draft: Draft) -> Rejection | None:
    """One aggregate question as the task's goal; ``no_binding`` when the user's rows allow none."""
    check = question(draft)
    if check is None:
        return Rejection.NO_BINDING
    draft.checks = [check]
    draft.answer = format_answer_value(check.value)
    return None


def question(draft: Draft) -> CheckSpec | None:
    """Ask for something only all of the user's rows together answer: how many are in a state, what
    their amounts add up to, the latest or earliest date. The chain's reads must show every row."""
    spec = draft.spec
    entities = [e for e in spec.entities if e != draft.persona_entity and draft.ownable(e)]
    draft.rng.shuffle(entities)
    for entity in entities:
        rows = draft.owned_rows(entity)
        if not 2 <= len(rows) <= _AGGREGATE_ROWS:
            continue
        options = _options(draft, entity, rows)
        if not options:
            continue
        text, fname, value, answer_type, filtered = draft.rng.choice(options)
        if answer_type == "number" and draft.answered[(AGGREGATE_KEY, "count", value)] > min(
            draft.answered[(AGGREGATE_KEY, "count", n)] for n in range(1, min(len(rows), 4))
        ):
            continue  # small counts spread evenly: always answering "1" is worth no more than chance
        mark = draft.checkpoint()
        if not all(draft.discover(entity, r) for r in rows) or len(draft.facts) > mark[2]:
            draft.rollback(mark)  # every row must be found from the user alone, with nothing more said
            continue
        draft.say(text, [])
        draft.aggregates += 1
        if filtered:
            draft.conditions.add(text)
        return CheckSpec(
            kind="answer",
            description=f"the answer gives {format_answer_value(value)}: {text} (over the user's {len(rows)} {entity} rows)",
            entity=entity, field=fname, value=value, answer_type=answer_type, subject=words(fname).split(),
        )  # fmt: skip
    return None


def _options(draft: Draft, entity: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, Any, AnswerType, bool]]:
    """(question, field, answer, answer type, whether it filters by a condition) over ``rows``."""
    spec_entity = draft.spec.entities[entity]
    noun = entity_noun(entity, spec_entity)
    out: list[tuple[str, str, Any, AnswerType, bool]] = []
    statuses = [n for n, f in spec_entity.fields.items() if n == "status" and f.type == "enum"]
    for fname, f in spec_entity.fields.items():
        if f.identifying or any(r.get(fname) is None for r in rows):
            continue
        values: list[Any] = [r[fname] for r in rows]
        if f.type == "enum":
            for v in sorted(set(values), key=str):
                if values.count(v) < len(rows):
                    out.append((count_question(noun, fname, f, value_phrase(f, v)), fname, values.count(v), "number", True))
        elif f.type == "money":
            out.append((total_question(noun, fname, f, None), fname, round(sum(values), 2), "money", False))
            for status in statuses:
                field_spec = spec_entity.fields[status]
                for v in sorted({r[status] for r in rows}, key=str):
                    chosen = [r[fname] for r in rows if r[status] == v]
                    if 2 <= len(chosen) < len(rows):
                        text = total_question(noun, fname, f, value_phrase(field_spec, v))
                        out.append((text, fname, round(sum(chosen), 2), "money", True))
        elif f.type in ("date", "datetime"):
            days = [str(v)[:10] for v in values]
            for latest in (True, False):
                target = max(days) if latest else min(days)
                question_text = extreme_date_question(noun, fname, f, latest=latest)
                if question_text is not None and days.count(target) == 1:
                    out.append((question_text, fname, target, "date", False))
    return out

