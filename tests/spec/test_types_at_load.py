"""Every expression is type-checked when the blueprint loads, against the fields, parameters and
local values in scope: rules, effects, ``let``, ``derive``, ``when`` and ``compute``. A type error
is one problem with the offending part's offsets, before any gate run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from scaleenv_mcp.spec import BlueprintError, parse_blueprint

from .test_first_domain import tutorial_blueprint


def data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(tutorial_blueprint())
    return loaded


def cancel(d: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = d["tools"]["cancel_appointment"]
    return tool


def book(d: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = d["tools"]["book_appointment"]
    return tool


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str, str]] = [
    ("let", lambda d: cancel(d).update(let={"late": "hours_between(now, appointment.starts_at) < '24'"}),
     "tools.cancel_appointment.let.late", "hours_between(now, appointment.starts_at) is a number but '24' is text; compare like with like, "
     "in \"hours_between(now, appointment.starts_at) < '24'\"", "'24'"),
    ("a let's kind carries to the rules", lambda d: (cancel(d).update(let={"late": "hours_between(now, appointment.starts_at) < 24"}),
                                                     cancel(d)["requires"].append({"check": "late + 1 > 0", "error": "x"})),
     "tools.cancel_appointment.requires[1].check", "adds true/false and a number; arithmetic needs numbers (+ also joins two texts), "
     "in 'late + 1 > 0'", "late + 1"),
    ("when", lambda d: book(d)["effects"][0].update(when="dentist.name"),
     "tools.book_appointment.effects[0].when", "'when' must give true/false, but 'dentist.name' gives text", "dentist.name"),
    ("compute", lambda d: d["tools"].update(quote_fee={"description": "Quote the late fee of an appointment.",
                                                       "params": {"appointment_id": {"type": "ref", "ref": "appointment"}},
                                                       "compute": {"fee": "appointment.fee - appointment.treatment"}}),
     "tools.quote_fee.compute.fee", "subtracts a number and text; arithmetic needs numbers (+ also joins two texts), "
     "in 'appointment.fee - appointment.treatment'", "appointment.fee - appointment.treatment"),
    ("function argument", lambda d: cancel(d)["requires"].append({"check": "add_days(appointment.starts_at, '2') > now", "error": "x"}),
     "tools.cancel_appointment.requires[1].check", "add_days() needs a number as argument 2, not text, "
     "in \"add_days(appointment.starts_at, '2') > now\"", "'2'"),
    ("count filter", lambda d: book(d)["requires"].append({"check": "count('appointment', dentist_id=dentist.id, fee='0') < 8", "error": "x"}),
     "tools.book_appointment.requires[2].check", "appointment.fee is a number but fee= gives text, "
     "in \"count('appointment', dentist_id=dentist.id, fee='0') < 8\"", "'0'"),
    ("in a number", lambda d: book(d)["requires"].append({"check": "treatment in 3", "error": "x"}),
     "tools.book_appointment.requires[2].check", "'in' needs a list or text on its right; this is a number, in 'treatment in 3'", "3"),
    ("a list of the wrong kind", lambda d: book(d)["requires"].append({"check": "dentist.active in ['yes', 'no']", "error": "x"}),
     "tools.book_appointment.requires[2].check", "true/false can never be in a list of text values, in \"dentist.active in ['yes', 'no']\"", "'yes'"),
    ("derive", lambda d: d["entities"]["appointment"]["fields"]["fee"].update(derive="treatment"),
     "entities.appointment.fields.fee.derive", "the derive of appointment.fee (money) must give a number, but 'treatment' gives text", "treatment"),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "path", "message", "part"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_type_error_is_one_problem_at_load(edit: Callable[[dict[str, Any]], None], path: str, message: str, part: str) -> None:
    d = data()
    edit(d)
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(d, "dental_clinic.yaml")
    (problem,) = caught.value.problems
    assert (problem.path, problem.message) == (path, message)
    assert problem.expr is not None and problem.start is not None and problem.end is not None
    assert problem.expr[problem.start : problem.end] == part


def test_well_typed_expressions_of_every_kind_load() -> None:
    d = data()
    cancel(d).update(let={"hours": "hours_between(now, appointment.starts_at)"})
    cancel(d)["requires"].append({"check": "hours > -1000 and appointment.treatment in ['checkup', 'crown'] and len(appointment.treatment) > 2",
                                  "error": "x"})  # fmt: skip
    book(d)["effects"][0].update(when="dentist.active and count('appointment', dentist_id=dentist.id, starts_at=starts_at) == 0")
    parse_blueprint(d, "dental_clinic.yaml")
