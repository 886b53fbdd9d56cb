"""The generator's stages seen from outside: named rejections, the report, the typed mix."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import yaml

from scaleenv_mcp.engine.runtime import execute
from scaleenv_mcp.engine.seed import seed_state
from scaleenv_mcp.spec.load import parse_blueprint
from scaleenv_mcp.spec.task import TaskKind, TaskSpec
from scaleenv_mcp.tasks.generation import DEFAULT_MIX, GenerationReport, Rejection, TaskMix, generate_tasks
from scaleenv_mcp.tasks.generation.acceptance import (
    change_then_undo,
    id_looked_up,
    minimal,
    no_internal_id,
    parent_named,
    split_request,
)
from scaleenv_mcp.tasks.generation.assembly import assemble, checks, word
from scaleenv_mcp.tasks.generation.draft import Draft, Order
from scaleenv_mcp.tasks.generation.goals import STRATEGIES

from ..conftest import ROOT, shipped_spec


def test_every_candidate_not_kept_is_counted_under_the_rule_that_rejected_it() -> None:
    report = GenerationReport()
    tasks = generate_tasks(shipped_spec("car_rental"), count=8, report=report)
    assert sum(report.kept.values()) == len(tasks) == 8
    assert report.kept == {t: sum(1 for x in tasks if x.kind == t) for t in ("action", "information", "refusal")}
    assert sum(report.rejected.values()) > 0  # some candidates fail: each is counted under a named reason
    assert set(report.rejected) <= set(Rejection)
    assert report.rejected_json() == {r.value: n for r, n in report.rejected.items() if n}
    again = GenerationReport()
    assert generate_tasks(shipped_spec("car_rental"), count=8, report=again) == tasks
    assert again == report  # the same seed rejects the same candidates for the same reasons


def test_one_report_adds_up_several_generations() -> None:
    report = GenerationReport()
    generate_tasks(shipped_spec("hotel"), count=4, seed=0, report=report)
    first = sum(report.rejected.values())
    generate_tasks(shipped_spec("hotel"), count=4, seed=1, report=report)
    assert sum(report.kept.values()) == 8 and sum(report.rejected.values()) >= first


def test_an_internal_id_in_the_words_is_its_own_rejection() -> None:
    assert no_internal_id("Please cancel order ORD-0042 for me.") is Rejection.INTERNAL_ID_IN_INSTRUCTION
    assert no_internal_id("Please cancel my order of the blue kettle.") is None


def test_the_mix_decides_the_kinds_and_the_default_mix_is_the_shipped_one() -> None:
    only_questions = TaskMix(kinds={"information": 1.0})
    report = GenerationReport()
    tasks = generate_tasks(shipped_spec("hotel"), count=4, mix=only_questions, report=report)
    assert tasks and {t.kind for t in tasks} == {"information"}
    # questions are capped at a quarter of the set each, so the rest are rejected by that rule
    assert report.rejected[Rejection.TOOL_CAP] > 0
    assert generate_tasks(shipped_spec("hotel"), count=4) == generate_tasks(shipped_spec("hotel"), count=4, mix=DEFAULT_MIX)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kinds": {}}, "at least one kind"),
        ({"goals": {0: 1.0}}, "goal counts must be at least 1"),
        ({"hidden_share": 1.5}, "hidden_share must be a share from 0 to 1"),
        ({"family_min": {"hidden": 0.2}}, "family minima must name exactly"),
    ],
)
def test_a_mix_that_cannot_be_aimed_at_is_refused_in_one_line(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        TaskMix(**change)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_each_kind_of_task_has_a_goal_strategy() -> None:
    assert set(DEFAULT_MIX.kinds) <= set(STRATEGIES)


# ---------------------------------------------------------------- phase 2: degenerate or incoherent tasks


def _hotel_draft(kind: TaskKind = "action", condition_share: float = 0.0) -> tuple[Draft, dict[str, Any]]:
    """A draft for a hotel guest with a booked reservation the policy lets them change and cancel,
    found the way an agent finds it (the guest by email, then their reservations)."""
    spec = shipped_spec("hotel")
    initial = seed_state(spec)
    work = initial.fork()
    work.track()
    for reservation in initial.find("reservation", {"status": "booked"}):
        with work.trial():
            shorter = execute(work, "change_nights", {"reservation_id": reservation["id"], "nights": 1})
        if shorter.ok and not shorter.breaches and reservation["nights"] != 1:
            break
    guest = initial.get("guest", reservation["guest_id"])
    assert guest is not None
    order = Order(kind=kind, strategy=kind, condition_share=condition_share)
    draft = Draft(spec, work, random.Random(0), "guest", guest, order, "find_guest_by_email", initial=initial)
    assert draft.run("find_guest_by_email", {"email": guest["email"]}) is not None
    assert draft.run("list_guest_reservations", {"guest_id": guest["id"]}) is not None
    return draft, reservation


def _task(draft: Draft) -> TaskSpec:
    return assemble(draft, word(draft), checks(draft))


def test_one_request_cut_in_two_is_rejected_as_a_split_request() -> None:
    draft, reservation = _hotel_draft()
    assert draft.run("change_nights", {"reservation_id": reservation["id"], "nights": 1}) is not None
    assert split_request(draft) is None
    assert draft.run("change_nights", {"reservation_id": reservation["id"], "nights": 3}) is not None
    assert split_request(draft) is Rejection.SPLIT_REQUEST


def test_a_row_changed_and_then_cancelled_is_rejected_as_change_then_undo() -> None:
    draft, reservation = _hotel_draft()
    assert draft.run("change_nights", {"reservation_id": reservation["id"], "nights": 1}) is not None
    assert change_then_undo(draft, _task(draft)) is None
    assert draft.run("cancel_reservation", {"reservation_id": reservation["id"]}) is not None
    assert change_then_undo(draft, _task(draft)) is Rejection.CHANGE_THEN_UNDO
    assert minimal(draft, _task(draft)) is None  # its own reason: the minimality rule no longer says it


def test_a_value_set_back_to_what_it_was_is_rejected_as_change_then_undo() -> None:
    draft, reservation = _hotel_draft()
    assert draft.run("change_nights", {"reservation_id": reservation["id"], "nights": 1}) is not None
    assert draft.run("change_nights", {"reservation_id": reservation["id"], "nights": reservation["nights"]}) is not None
    assert change_then_undo(draft, _task(draft)) is Rejection.CHANGE_THEN_UNDO


def test_two_orders_of_one_product_cancelled_together_are_no_change_then_undo() -> None:
    """Both cancellations move the product's stock: a number several writes may move, not a change taken back."""
    spec = shipped_spec("retail")
    initial = seed_state(spec)
    for order_id in ("ORD-0001", "ORD-0034"):  # two orders of one customer for one product, made cancellable
        initial.update("order", order_id, {"status": "pending"})
    work = initial.fork()
    work.track()
    customer = initial.get("customer", "CUS-0005")
    assert customer is not None
    draft = Draft(spec, work, random.Random(0), "customer", customer, Order(kind="action", strategy="action"),
                  "find_customer_by_email", initial=initial)  # fmt: skip
    assert draft.run("find_customer_by_email", {"email": customer["email"]}) is not None
    assert draft.run("list_customer_orders", {"customer_id": customer["id"]}) is not None
    for order_id in ("ORD-0001", "ORD-0034"):
        assert draft.run("cancel_order", {"order_id": order_id}) is not None
    task = _task(draft)
    assert split_request(draft) is None and change_then_undo(draft, task) is None and id_looked_up(draft, task) is None


def test_an_id_no_earlier_call_showed_is_rejected_as_id_not_looked_up() -> None:
    draft, reservation = _hotel_draft()
    assert draft.run("change_nights", {"reservation_id": reservation["id"], "nights": 1}) is not None
    assert id_looked_up(draft, _task(draft)) is None
    del draft.solution[1]  # no listing of the guest's reservations: the id comes from nowhere
    assert id_looked_up(draft, _task(draft)) is Rejection.ID_NOT_LOOKED_UP


def test_a_room_is_named_with_its_hotel_and_a_room_named_without_it_is_rejected() -> None:
    draft, _ = _hotel_draft()
    hotels = {h["id"]: h["name"] for h in draft.state.find("hotel", {})}
    for room in draft.state.find("room", {})[:10]:
        text = draft.describe("room", room)
        assert text is not None and hotels[room["hotel_id"]] in text, text
        assert set(draft.described[room["id"]]) >= {"number", "hotel_id"}
    assert parent_named(draft) is None
    draft.described[room["id"]] = ["number"]  # the way the generator named rooms before: by number alone
    assert parent_named(draft) is Rejection.NAMED_WITHOUT_PARENT


def test_a_goodwill_credit_with_no_reason_behind_it_is_never_kept() -> None:
    data = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    data["tools"]["issue_goodwill_credit"] = {
        "description": "Add store credit to a customer's account as a goodwill gesture.",
        "params": {"customer_id": {"type": "ref", "ref": "customer"}, "amount": {"type": "money", "min": 1, "max": 100}},
        "effects": ["customer.store_credit += amount"],
        "returns": "customer",
    }
    spec = parse_blueprint(data, "retail with a goodwill credit")
    report = GenerationReport()
    tasks = generate_tasks(spec, count=8, report=report)
    assert report.rejected[Rejection.UNJUSTIFIED_COMPENSATION] > 0
    assert tasks and not any(c.tool == "issue_goodwill_credit" for t in tasks for c in t.solution)


_UNDOING = ("cancel", "delete", "remove", "void", "revoke", "withdraw", "drop")


@pytest.mark.parametrize("domain", ["hotel", "retail", "car_rental"])
def test_generated_tasks_break_none_of_the_coherence_rules(domain: str) -> None:
    """Read from the tasks alone, independently of the rules' code: no write tool twice on the same
    rows, no write on a row an earlier write created, no cancelling a row an earlier write acted on,
    every id a call takes shown by an earlier call's result, and every room named with its hotel."""
    spec = shipped_spec(domain)
    tasks = generate_tasks(spec, count=16)
    assert len(tasks) == 16
    for task in tasks:
        state = seed_state(spec)
        shown: set[str] = set()
        created: set[str] = set()
        acted_on: set[str] = set()
        asked: set[str] = set()
        for call in task.solution:
            tool = spec.tools[call.tool]
            named = {row_id for p, param in tool.params.items() for _, row_id in param.named_ids(call.arguments.get(p))}
            assert named <= shown, (task.id, call)  # every id was shown before it is used
            result = execute(state, call.tool, call.arguments)
            assert result.ok, (task.id, call)
            if tool.is_write:
                mine = named - {task.actor}
                key = json.dumps([call.tool, sorted(named)])
                assert key not in asked, (task.id, task.instruction)  # one thing asked for once
                assert not mine & created, (task.id, task.instruction)  # nothing made and then changed
                assert not (any(v in call.tool for v in _UNDOING) and mine & acted_on), (task.id, task.instruction)
                asked.add(key)
                acted_on |= mine
                new = result.data.get("id") if isinstance(result.data, dict) else None
                if isinstance(new, str) and new not in shown:
                    created.add(new)
            shown |= _ids(result.data)
        state.close()
        if domain == "hotel":
            initial = seed_state(spec)
            for call in task.solution:
                if call.tool == "make_reservation":
                    room = initial.get("room", call.arguments["room_id"])
                    hotel = initial.get("hotel", room["hotel_id"]) if room else None
                    assert hotel is not None and hotel["name"] in task.instruction, task.instruction
            initial.close()


def _ids(data: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if (key == "id" or key.endswith("_id")) and isinstance(value, str):
                found.add(value)
            elif isinstance(value, dict | list):
                found |= _ids(value)
    elif isinstance(data, list):
        for item in data:
            found |= _ids(item)
    return found
