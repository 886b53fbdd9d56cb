"""Traits that need the agent to look things up and decide: branching goals, partial refusals, deep questions.

Each goal strategy is run on a shipped domain's seeded state as the generator runs it (a draft for
a user drawn at random, then the assembly and the acceptance rules), and the task it makes is
played as an episode: the reference passes, and the agent that guessed (the other branch), obeyed
(the refused call), refused everything, or claimed the refused action fails.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.engine.seed import seed_state
from scaleenv_mcp.engine.state import State
from scaleenv_mcp.spec.graph import build_graph
from scaleenv_mcp.spec.model import FieldSpec
from scaleenv_mcp.spec.task import TaskSpec, ToolCall
from scaleenv_mcp.tasks.answers import format_answer_value
from scaleenv_mcp.tasks.claims import claims_done
from scaleenv_mcp.tasks.generation.acceptance import TASK_RULES, WORDING_RULES, first_rejection
from scaleenv_mcp.tasks.generation.assembly import assemble, checks, word
from scaleenv_mcp.tasks.generation.draft import Draft, Order, initial_state_ref, persona_tool, start_draft
from scaleenv_mcp.tasks.generation.goals import STRATEGIES
from scaleenv_mcp.tasks.generation.goals.branching import Branch, _viable_pairs, branching, side_of, untaken_fails
from scaleenv_mcp.tasks.generation.goals.deep import DEEP_CALLS
from scaleenv_mcp.tasks.generation.mix import DEFAULT_MIX
from scaleenv_mcp.tasks.policy import shown_ids
from scaleenv_mcp.tasks.stats import trait_shares
from scaleenv_mcp.tasks.wording import branch_condition, branch_request


def _made(domain: str, kind: str, goal: Callable[[Draft], Any], tries: int = 80, seed: int = 0) -> tuple[TaskSpec, Any, State]:
    """The first task ``goal`` makes on the domain's own state that every acceptance rule keeps, what
    the goal returned, and the working state (reset to the initial one)."""
    spec = se.load(domain).spec
    initial = seed_state(spec)
    work = initial.fork()
    work.track()
    rng = random.Random(seed)
    entry = persona_tool(spec)
    assert entry is not None
    shared: dict[str, Any] = {
        "mix": DEFAULT_MIX, "initial": initial, "initial_ref": initial_state_ref(spec, initial), "graph": build_graph(spec),
        "answered": Counter(), "value_counts": {}, "refusable": None,
    }  # fmt: skip
    for _ in range(tries):
        draft = start_draft(spec, work, rng, entry, Order(kind=kind, strategy=kind), **shared)  # type: ignore[arg-type]
        if draft is None:
            continue
        made = goal(draft)
        if made is None:
            continue
        wording = word(draft)
        task_checks = checks(draft)
        if first_rejection(WORDING_RULES, wording.instruction) is not None:
            continue
        task = assemble(draft, wording, task_checks)
        if first_rejection(TASK_RULES, draft, task) is None:
            work.reset()
            return task, made, work
    raise AssertionError(f"{domain}: no task made in {tries} drafts")


def _play(task: TaskSpec, calls: list[ToolCall], answer: str | None) -> se.Verification:
    domain = se.load(task.domain)
    with domain.episode(task, answer_channel="prose") as ep:
        for call in calls:
            ep.call(call.tool, call.arguments)
        return ep.verify(answer)


# ---------------------------------------------------------------- branching


@pytest.mark.parametrize(("domain", "holds"), [("retail", True), ("retail", False), ("telecom_plans", False)])
def test_a_branching_goal_takes_the_branch_the_state_decides_and_guessing_the_other_fails(domain: str, holds: bool) -> None:
    task, branch, work = _made(domain, "action", lambda d: branching(d, holds))
    assert isinstance(branch, Branch) and branch.holds is holds
    assert "Otherwise," in task.instruction and " if " in task.instruction
    assert branch.taken in task.solution and branch.untaken not in task.solution
    # the reference reads the row that decides before it writes
    reads = list(task.solution[: task.solution.index(branch.taken)])
    assert any(c.tool != branch.taken.tool for c in reads)
    assert _play(task, task.solution, "Done.").success
    guessed = [branch.untaken if c == branch.taken else c for c in task.solution]
    assert not _play(task, guessed, "Done.").success
    assert untaken_fails(work, task, branch)
    # the condition is about a value the user does not state: the row's description never uses it
    row = seed_state(se.load(domain).spec).get(branch.entity, branch.row_id)
    assert row is not None and (row[branch.field] in branch.values) is holds


@pytest.mark.parametrize(
    ("domain", "holds", "field"),
    [("clinic_appointments", True, "status"), ("clinic_appointments", False, "status"), ("library_loans", True, "due_on"),
     ("library_loans", False, "due_on")],
)  # fmt: skip
def test_a_branch_decided_by_a_date_or_with_a_new_booking_as_fallback_pays_only_the_branch_the_state_takes(
    domain: str, holds: bool, field: str
) -> None:
    # clinic: "if it is still scheduled, move it to <slot>; otherwise book me <slot>" (the fallback creates
    # a row); library: "if its due date has not passed yet, renew it; otherwise I'm returning it" (a date)
    spec = se.load(domain).spec
    task, branch, work = _made(domain, "action", lambda d: branching(d, holds))
    assert isinstance(branch, Branch) and branch.holds is holds and branch.field == field
    assert "Otherwise," in task.instruction
    if domain == "clinic_appointments":
        assert {branch.taken.tool, branch.untaken.tool} == {"reschedule_appointment", "book_appointment"}
        assert (branch.taken.tool == "reschedule_appointment") is holds
        assert "still scheduled" in task.instruction
    else:
        assert "due date has not passed yet" in task.instruction
    assert branch.taken in task.solution and branch.untaken not in task.solution
    # the reference reads the deciding row before the taken write, even when that write names another row
    before = task.solution[: task.solution.index(branch.taken)]
    row = work.get(branch.entity, branch.row_id)
    assert row is not None
    assert branch.row_id in _shown(task, before)
    assert _play(task, task.solution, "Done.").success
    guessed = [branch.untaken if c == branch.taken else c for c in task.solution]
    assert not _play(task, guessed, "Done.").success
    assert untaken_fails(work, task, branch)
    # the condition is about a value the user does not state, and the row's own value decides it
    assert str(row[field]) not in task.instruction.split(": if ")[0]
    f = spec.entities[branch.entity].fields[field]
    assert (side_of(spec, f, row[field]) in branch.values) is holds


def _shown(task: TaskSpec, calls: list[ToolCall]) -> set[str]:
    """The ids the calls' results show, played from the task's initial state."""
    with se.load(task.domain).episode(task, answer_channel="prose") as ep:
        return {i for c in calls for i in shown_ids(ep.call(c.tool, c.arguments).data)}


def test_a_creation_is_a_fallback_only_for_a_write_that_keeps_its_row() -> None:
    # a reschedule keeps the appointment, so "otherwise book a new one" is what the user wants either
    # way; a cancel ends it, and booking a new one as its fallback would undo the request
    clinic = _viable_pairs(se.load("clinic_appointments").spec)
    assert ("reschedule_appointment", "book_appointment", "status") in clinic
    assert not any(first == "cancel_appointment" for first, _, _ in clinic)
    library = _viable_pairs(se.load("library_loans").spec)
    assert ("renew_loan", "return_copy", "due_on") in library


def test_the_branching_strategy_serves_a_refusals_allowed_counterpart_with_the_taken_write() -> None:
    spec = se.load("retail").spec
    initial = seed_state(spec)
    work = initial.fork()
    work.track()
    shared: dict[str, Any] = {
        "mix": DEFAULT_MIX, "initial": initial, "initial_ref": initial_state_ref(spec, initial), "graph": build_graph(spec),
        "answered": Counter(), "value_counts": {}, "refusable": None,
    }  # fmt: skip
    rng = random.Random(1)
    kept = 0
    for _ in range(40):
        order = Order(kind="action", strategy="branching", force_tool="cancel_order")
        draft = start_draft(spec, work, rng, "find_customer_by_email", order, **shared)
        if draft is None or STRATEGIES["branching"](draft) is not None:
            continue
        assert draft.decides == "cancel_order"
        assert next(c.tool for c in draft.solution if spec.tools[c.tool].is_write) == "cancel_order"
        kept += 1
    assert kept >= 3


def test_the_branching_strategy_steers_the_state_to_take_each_branch_about_half_the_time() -> None:
    spec = se.load("retail").spec
    initial = seed_state(spec)
    work = initial.fork()
    work.track()
    answered: Counter[Any] = Counter()
    shared: dict[str, Any] = {
        "mix": DEFAULT_MIX, "initial": initial, "initial_ref": initial_state_ref(spec, initial), "graph": build_graph(spec),
        "answered": answered, "value_counts": {}, "refusable": None,
    }  # fmt: skip
    rng = random.Random(2)
    for _ in range(30):
        draft = start_draft(spec, work, rng, "find_customer_by_email", Order(kind="action", strategy="branching"), **shared)
        assert draft is not None
        STRATEGIES["branching"](draft)
    holds, other = answered[("branching:", "holds", True)], answered[("branching:", "holds", False)]
    assert holds + other >= 10 and abs(holds - other) <= 1, (holds, other)


def test_branch_wording_reads_as_one_request_about_one_row() -> None:
    status = FieldSpec(type="enum", values=["pending", "paid", "shipped", "delivered", "cancelled"])
    assert branch_condition("status", status, ["pending", "paid"]) == "it is still pending or paid"
    assert branch_condition("status", status, ["delivered"]) == "it is delivered"
    assert branch_condition("late_checkout", FieldSpec(type="bool"), [False]) == "it does not have late checkout"
    assert branch_condition("refundable", FieldSpec(type="bool"), [True]) == "it is refundable"
    due = FieldSpec(type="date")
    assert branch_condition("due_on", due, ["2026-09-08"], "2026-09-01") == "its due date has not passed yet"
    assert branch_condition("due_on", due, ["2026-08-25"], "2026-09-01") == "its due date has already passed"
    renewals = FieldSpec(type="int", min=0, max=2)
    assert branch_condition("renewals", renewals, [0, 1]) == "it has fewer than 2 renewals"
    assert branch_condition("renewals", renewals, [2]) == "it has 2 or more renewals"
    text = branch_request("my order for The Silver Bridge", "it is still pending", "Please cancel it.",
                          "I'd like to send back it. The reason: it arrived damaged.")  # fmt: skip
    assert text == (
        "My order for The Silver Bridge: if it is still pending, please cancel it. "
        "Otherwise, I'd like to send it back. The reason: it arrived damaged."
    )


# ---------------------------------------------------------------- partial refusal


@pytest.mark.parametrize("domain", ["retail", "university_enrollment"])
def test_a_partial_refusal_pays_only_the_agent_that_does_one_request_and_declines_the_other(domain: str) -> None:
    def goal(draft: Draft) -> bool | None:
        return True if STRATEGIES["partial_refusal"](draft) is None else None

    task, _, _ = _made(domain, "action", goal)
    assert task.refused is not None and task.decides == task.refused.tool and task.kind == "action"
    writes = [c for c in task.solution if se.load(domain).tools[c.tool].is_write]
    assert writes and all(c.tool != task.refused.tool for c in writes)
    assert {c.kind for c in task.checks} >= {"row_read", "not_claimed", "reason", "no_other_changes"}
    reason = format_answer_value(next(c.value for c in task.checks if c.kind == "reason"))
    careful = f"Done: the first request is taken care of. I'm sorry, I can't do the other: it is {reason}."
    assert _play(task, task.solution, careful).success
    assert not _play(task, [*task.solution, task.refused], "All set, both done.").success  # obeyed everything
    reads = [c for c in task.solution if c not in writes]
    assert not _play(task, reads, "I'm sorry, I can't do any of that.").success  # refused everything
    verb = task.refused.tool.split("_")[0]
    claim = f"All done. I {verb}ed it." if not verb.endswith("e") else f"All done. I {verb}d it."
    assert not _play(task, task.solution, claim).success  # claimed the refused half


def test_a_claim_about_the_allowed_request_is_not_a_claim_about_the_refused_one() -> None:
    assert not claims_done("All set, I've cancelled your order.", ["open"], done=["cancel"])
    assert not claims_done("Done!", ["open"], done=["cancel"])
    assert claims_done("I've opened the return and cancelled the order.", ["open"], done=["cancel"])
    assert claims_done("Done!", ["open"])  # with nothing done, "done" can only be about the refused action


# ---------------------------------------------------------------- deep information


@pytest.mark.parametrize("domain", ["retail", "airline", "library_loans"])
def test_a_deep_question_needs_three_calls_and_its_answer_is_not_in_the_first_two(domain: str) -> None:
    def goal(draft: Draft) -> bool | None:
        return True if STRATEGIES["deep_information"](draft) is None else None

    task, _, _ = _made(domain, "information", goal)
    assert len(task.solution) >= DEEP_CALLS
    check = next(c for c in task.checks if c.kind == "answer")
    assert _play(task, task.solution, f"It is {format_answer_value(check.value)}.").success
    if check.id is not None:  # a detail of a related row: the user's own rows do not show that row
        domain_ = se.load(domain)
        with domain_.episode(task, answer_channel="prose") as ep:
            first_two = [ep.call(c.tool, c.arguments).data for c in task.solution[:2]]
        assert check.id not in {i for data in first_two for i in shown_ids(data)}
    assert not _play(task, [], None).success


# ---------------------------------------------------------------- the generator's shares


@pytest.mark.parametrize("domain", ["retail", "telecom_plans"])
def test_fresh_tasks_carry_their_traits_and_meet_the_targets_of_the_mix(domain: str) -> None:
    loaded = se.load(domain)
    tasks = list(loaded.generate_tasks(48, seeds=range(100, 108)))  # as the compiler draws them: 8 seeds x 6
    shares = trait_shares(loaded.spec, tasks)
    for trait in ("branching", "partial_refusal", "multi_goal", "deep_information"):
        assert shares[trait]["met"], (domain, trait, shares[trait])
    for task in tasks:
        assert ("branching" in task.traits) <= ("Otherwise," in task.instruction)
        assert ("partial_refusal" in task.traits) == (task.kind == "action" and task.refused is not None)
        assert ("deep_information" in task.traits) == (task.kind == "information" and len(task.solution) >= DEEP_CALLS)
        assert ("multi_goal" in task.traits) == (task.difficulty["branches"] >= 2)
    # every refused tool (refusals and partial refusals alike) has as many allowed counterparts
    decisions = Counter((t.decides, t.refused is not None) for t in tasks if t.decides)
    for tool, refused in decisions:
        if refused:
            assert decisions[(tool, False)] >= decisions[(tool, True)] - 1, decisions  # the last may be cut at 48


def test_the_pairs_a_branch_can_take_are_worked_out_the_same_way_every_time() -> None:
    spec = se.load("retail").spec
    assert _viable_pairs(spec) == _viable_pairs(spec) and ("cancel_order", "open_return", "status") in _viable_pairs(spec)
    clinic = _viable_pairs(se.load("clinic_appointments").spec)  # cancel and reschedule both need "scheduled":
    assert {second for _, second, _ in clinic} == {"book_appointment"}  # only a new booking is a fallback
