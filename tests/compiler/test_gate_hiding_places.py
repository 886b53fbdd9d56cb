"""The gate looks where bugs hide: values existing rows hold, the edges of time rules and bounds,
effect branches nothing takes, and the seed data itself before calling a tool hopeless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scaleenv_mcp.compiler.pipeline import GateFailed, compile_spec
from scaleenv_mcp.compiler.proctest import gate
from scaleenv_mcp.compiler.proctest import test_domain as run_procedural_tests
from scaleenv_mcp.engine.binding import bound_edge_values, time_edge_values
from scaleenv_mcp.spec import parse_blueprint

from ..conftest import ROOT

DENTAL = Path(__file__).parents[1] / "fixtures/dental_missing_rule.yaml"


def dental() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DENTAL.read_text())
    return data


def test_a_missing_already_booked_rule_fails_the_gate_with_a_reproduce_line() -> None:
    report = gate(parse_blueprint(dental()), seeds=1)
    assert not report.passed
    (found,) = {(v.kind, v.tool) for v in report.violations}
    assert found == ("effect_broke_constraint", "book_appointment")
    first = report.violations[0]
    assert first.state_prefix == []  # on the seeded state itself, by a call drawn to collide, not by a lucky walk
    assert report.tools["book_appointment"].calls_by_category["collision"] >= 1
    (line,) = report.reasons()
    assert line.startswith("effect_broke_constraint in book_appointment: the change would duplicate a value that must be unique "
                           "(appointment.dentist_id, appointment.starts_at) [reproduce: book_appointment({")  # fmt: skip
    assert "on the seeded state of gate seed 0, snapshot " in line


def test_with_the_rule_the_dental_clinic_passes() -> None:
    data = dental()
    data["tools"]["book_appointment"]["requires"].append(
        {"check": "not exists('appointment', dentist_id=dentist.id, starts_at=starts_at)", "error": "The dentist is already booked then."}
    )
    report = run_procedural_tests(parse_blueprint(data), calls_per_tool=12, walk_steps=8)
    assert report.passed, report.reasons()


def test_datetimes_at_the_edges_of_a_time_rule_and_numbers_at_a_fields_bounds() -> None:
    spec = parse_blueprint(dental())
    assert time_edge_values(spec, "book_appointment") == {
        "starts_at": ["2026-04-21T08:29:00", "2026-04-21T08:30:00", "2026-04-21T08:31:00"]  # now + 24 h, and a minute either side
    }
    retail = parse_blueprint(yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text()))
    assert bound_edge_values(retail, "change_order_quantity")["quantity"] == [0, 1, 2, 19, 20, 21]  # order.quantity: min 1, max 20
    airline = parse_blueprint(yaml.safe_load((ROOT / "synthesis/domains/airline.yaml").read_text()))
    assert bound_edge_values(airline, "add_bag") == {"weight_kg": [0, 1, 2, 31, 32, 33]}  # a new bag's weight_kg: min 1, max 32


def test_an_effect_branch_nothing_takes_fails_the_compile() -> None:
    data = dental()
    data["tools"]["book_appointment"]["requires"].append(
        {"check": "not exists('appointment', dentist_id=dentist.id, starts_at=starts_at)", "error": "The dentist is already booked then."}
    )
    report = gate(parse_blueprint(data), seeds=1)
    late_fee = ("cancel_appointment: effects[1] (patient.balance += 25 if hours_between(now, appointment.starts_at) < 24 else 0): "
                "the condition hours_between(now, appointment.starts_at) < 24 is never taken when true")  # fmt: skip
    assert report.passed and report.uncovered == [late_fee]  # the gate alone: reported, not failed
    with pytest.raises(GateFailed) as failed:
        compile_spec(parse_blueprint(data), tasks=0, report=report)  # no task takes it either
    assert any(d.kind == "branch_never_taken" for d in failed.value.report.defects)
    assert "the condition hours_between(now, appointment.starts_at) < 24 is never taken when true" in str(failed.value)


def test_never_succeeds_names_the_rule_no_row_meets_and_the_seed_keys() -> None:
    data = dental()
    data["entities"]["dentist"]["fields"]["active"]["weights"] = [0, 1]  # read as [true, false]: nobody is active
    report = gate(parse_blueprint(data), seeds=1)
    (defect,) = [d for d in report.defects if d.kind == "never_succeeds"]
    assert defect.tool == "book_appointment"
    assert ("no dentist row meets the rule 'dentist.active' (This dentist is not taking appointments.); seed keys that would "
            "supply one: entities.dentist.fields.active.weights (read as [true, false]) now false: 30, entities.dentist.count") in defect.message  # fmt: skip


def test_an_agent_kept_rule_no_seeded_row_can_keep_is_a_defect() -> None:
    data = dental()
    data["policy"] += "- Only patients with no balance can cancel.\n"
    data["tools"]["cancel_appointment"]["requires"].append(
        {"check": "patient.balance < 0", "error": "Only patients with no balance can cancel.", "kept_by": "agent"}
    )
    report = run_procedural_tests(parse_blueprint(data), calls_per_tool=12, walk_steps=4)
    (defect,) = [d for d in report.defects if d.kind == "policy_never_kept"]
    assert defect.tool == "cancel_appointment"
    assert defect.message.startswith("every call breaks the policy: no call from the seed data keeps the agent's rule "
                                     "'Only patients with no balance can cancel.'; no appointment row meets the rule 'patient.balance < 0'")  # fmt: skip
    assert "entities.patient.fields.balance.range" in defect.message


def test_arguments_meeting_every_rule_are_searched_for_in_the_rows_before_never_succeeds() -> None:
    data = dental()
    data["entities"]["patient"]["count"] = 3000
    data["entities"]["patient"]["fields"]["balance"]["range"] = [5, 400]
    data["entities"]["patient"]["rows"] = [{"balance": 0}]  # the one patient of 3,000 who owes nothing
    data["tools"]["book_appointment"]["requires"].insert(0, {"check": "patient.balance < 1", "error": "Settle your balance first."})
    data["tools"]["book_appointment"]["requires"].append(
        {"check": "not exists('appointment', dentist_id=dentist.id, starts_at=starts_at)", "error": "The dentist is already booked then."}
    )
    spec = parse_blueprint(data)
    report = run_procedural_tests(spec, calls_per_tool=12, walk_steps=0)
    stats = report.tools["book_appointment"]
    assert report.passed, report.reasons()
    assert stats.calls_by_category.get("search") == 1 and stats.succeeded == 1  # only the search found the rare patient
