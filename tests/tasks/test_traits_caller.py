"""The caller's traits a generated task carries: a persona and a reason in every task, several facts
held back (each revealed when asked for), a change of mind whose abandoned calls fail the task, a
push back after every refusal, and a goodwill gesture asked for with a complaint and decided by
the policy. Each is checked through the generator's output and the grader, on shipped blueprints
and on a small shop written here."""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaleenv_mcp.compiler.pipeline import seeded_tasks
from scaleenv_mcp.engine import execute, seed_state
from scaleenv_mcp.harness import EvalPlan, OracleAgent
from scaleenv_mcp.harness.runner import run_eval_episode
from scaleenv_mcp.harness.users import ScriptedUser
from scaleenv_mcp.spec import parse_blueprint
from scaleenv_mcp.spec.load import load_blueprint
from scaleenv_mcp.spec.model import DomainSpec
from scaleenv_mcp.spec.problems import BlueprintError
from scaleenv_mcp.spec.task import TaskSpec
from scaleenv_mcp.tasks.generation import DEFAULT_MIX, TaskMix, generate_tasks
from scaleenv_mcp.tasks.grader import evaluate_checks
from scaleenv_mcp.tasks.policy import PolicyMonitor
from scaleenv_mcp.tasks.script import SITUATIONS, TONES, tool_reasons

ROOT = Path(__file__).resolve().parents[2]
CREDIT_RULE = "Store credit is a goodwill gesture for a delayed order only."


@cache
def shipped(domain: str) -> DomainSpec:
    return load_blueprint(ROOT / "synthesis" / "domains" / f"{domain}.yaml")


@cache
def generated(domain: str) -> tuple[TaskSpec, ...]:
    """48 tasks as the compiler draws them, 6 from each of 8 seeded states (trait shares are aimed at
    over the whole stream, as over a shipped set)."""
    return tuple(seeded_tasks(shipped(domain), range(8), 6))


def shop_data() -> dict[str, Any]:
    """Retail, with orders that can be delayed and a goodwill credit the agent may grant only for one."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "synthesis" / "domains" / "retail.yaml").read_text())
    order = data["entities"]["order"]["fields"]
    order["status"] = {"type": "enum", "values": ["pending", "paid", "shipped", "delayed", "delivered", "cancelled"],
                       "weights": [2, 2, 2, 3, 3, 1]}  # fmt: skip
    data["entities"]["payment"]["count"] = 10  # fewer orders are paid for: as many payments as they allow
    order["credited"] = {"type": "bool", "weights": [0, 1], "default": False}
    data["policy"] += f"- {CREDIT_RULE}\n"
    data["tools"]["issue_store_credit"] = {
        "description": "Add 10 of store credit to a customer's account as a goodwill gesture for one of their orders.",
        "goodwill": True,
        "reasons": ["my order is over a week late", "my parcel still hasn't arrived"],
        "phrasings": ["Could you give me some store credit for {order_id}?"],
        "params": {"order_id": {"type": "ref", "ref": "order"}},
        "bind": {"customer": "order.customer_id"},
        "requires": [
            {"check": "not order.credited", "error": "This order has already been credited."},
            {"check": "order.status == 'delayed'", "error": CREDIT_RULE, "kept_by": "agent"},
        ],
        "effects": ["customer.store_credit += 10", "order.credited = True"],
        "returns": "customer",
    }
    return data


@cache
def shop() -> DomainSpec:
    return parse_blueprint(shop_data(), "shop-with-credit")


def replay(spec: DomainSpec, task: TaskSpec, calls: Any) -> Any:
    """The verdict of the task's checks after ``calls`` run on its initial state."""
    state = seed_state(spec, seed=task.initial_state["seed"])
    state.track()
    for call in calls:
        execute(state, call.tool, call.arguments)
    return evaluate_checks(task.checks, state.changes(), state)


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_every_task_has_a_persona_with_the_users_name_and_a_reason_said_in_its_first_words(domain: str) -> None:
    spec = shipped(domain)
    for task in generated(domain):
        assert task.script is not None, task.id
        name = task.user.get("name")
        assert name and task.script.persona.startswith(f"{name}, "), task.script.persona
        assert any(s in task.script.persona for s in SITUATIONS) and any(t in task.script.persona for t in TONES)
        first = task.opening or task.instruction
        reason = task.script.reason
        assert reason[1:] in first, (task.id, reason, first)  # said (its first letter may be capitalised)
        asked = [task.refused.tool] if task.refused else [c.tool for c in task.solution if spec.tools[c.tool].is_write]
        if task.script.change_of_mind:
            asked = [c.tool for c in task.script.change_of_mind.abandoned]
        if asked:
            assert reason in tool_reasons(spec, asked[0]), (task.id, reason)  # fits what they ask for


def test_personas_vary_and_the_same_draw_gives_the_same_script() -> None:
    tasks = generated("retail")
    assert len({t.script.persona.split(", ", 1)[1] for t in tasks if t.script}) >= 20
    again = list(seeded_tasks(shipped("retail"), range(2), 6))
    assert [t.script for t in again] == [t.script for t in tasks[: len(again)]]


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_several_facts_are_held_back_in_at_least_three_tasks_in_ten_and_each_comes_when_asked(domain: str) -> None:
    spec = shipped(domain)
    tasks = generated(domain)
    held = [t for t in tasks if len(t.hidden) >= 2]
    assert len(held) >= 0.3 * len(tasks), (domain, len(held))
    for task in held:
        assert "hidden_facts" in task.traits
        assert task.opening is not None
        user = ScriptedUser(task, spec)
        assert asyncio.run(user(None)) == task.opening
        for subject, sentence in task.hidden.items():
            said = sentence.removeprefix("It's ").removeprefix("My ").rstrip(".")
            assert said not in task.opening, (task.id, subject)  # not said before it is asked for
            assert asyncio.run(user(f"Could you tell me your {subject}?")) == sentence, (task.id, subject)


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_a_change_of_mind_is_verified_the_abandoned_calls_fail_and_the_final_request_passes(domain: str) -> None:
    spec = shipped(domain)
    tasks = generated(domain)
    changed = [t for t in tasks if t.script and t.script.change_of_mind]
    assert len(changed) >= 0.1 * len(tasks), (domain, len(changed))
    for task in changed:
        change = task.script.change_of_mind  # type: ignore[union-attr]
        assert change is not None and change.abandoned and change.turn == 2 and "change_of_mind" in task.traits
        assert task.opening is not None and change.first in task.opening and change.then not in task.opening
        final = [c for c in task.solution if spec.tools[c.tool].is_write]
        assert final and final != change.abandoned and final[0].tool != "" and change.then.strip()
        assert replay(spec, task, task.solution).success
        assert not replay(spec, task, change.abandoned).success  # doing what was first asked fails
        reads = [c for c in task.solution if not spec.tools[c.tool].is_write]
        assert not replay(spec, task, [*reads, *change.abandoned]).success
        both = replay(spec, task, [*task.solution, *change.abandoned])
        assert not both.success or not all(  # doing both fails, unless the tool then refuses the first
            execute(_after(spec, task), c.tool, c.arguments).ok for c in change.abandoned
        )
        monitor = PolicyMonitor(spec, actor_id=task.actor)  # the first request was one the policy allows
        state = seed_state(spec, seed=task.initial_state["seed"])
        for call in [*reads, *change.abandoned]:
            before = monitor.touched_before(state, call.tool, call.arguments)
            monitor.observe(state, call.tool, execute(state, call.tool, call.arguments), before)
        assert not [v for v in monitor.violations if v.rule == "agent_rule"], (task.id, monitor.violations)


def _after(spec: DomainSpec, task: TaskSpec) -> Any:
    state = seed_state(spec, seed=task.initial_state["seed"])
    for call in task.solution:
        execute(state, call.tool, call.arguments)
    return state


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_every_refusal_pushes_back_once_with_its_reason_and_grading_is_unchanged(domain: str) -> None:
    spec = shipped(domain)
    tasks = generated(domain)
    refusals = [t for t in tasks if t.kind == "refusal"]
    assert refusals and len(refusals) >= 0.1 * len(tasks)
    lines = set()
    for task in refusals:
        assert task.script is not None and task.script.push_back and "push_back" in task.traits
        assert task.script.reason[1:] in task.script.push_back  # the reason again, in their words
        lines.add(task.script.push_back.replace(task.script.reason, "").replace(task.script.reason.capitalize(), ""))
        obeyed = replay(spec, task, [*task.solution, task.refused])  # giving in still fails, as before
        assert task.refused is not None and not obeyed.success
    assert len(lines) >= 3  # varied
    assert all(t.script is not None and (t.script.push_back is None) is (t.refused is None) for t in tasks if t.kind != "refusal")


def test_a_goodwill_gesture_is_granted_where_the_policy_allows_it_and_withheld_where_it_does_not() -> None:
    spec = shop()
    mix = TaskMix(trait_targets={**DEFAULT_MIX.trait_targets, "compensation": 0.1})  # the default mix sets no share
    tasks = [t for seed in range(4) for t in generate_tasks(spec, 6, seed=seed, state_seed=seed, mix=mix)]
    gestures = [t for t in tasks if "compensation" in t.traits]
    granted = [t for t in gestures if any(c.tool == "issue_store_credit" for c in t.solution)]
    withheld = [t for t in gestures if t.refused is not None and t.refused.tool == "issue_store_credit"]  # a refusal, or its refused part
    assert granted and withheld, Counter(t.kind for t in gestures)
    for task in gestures:
        assert task.script is not None and task.script.reason in spec.tools["issue_store_credit"].reasons  # a complaint
        assert task.script.reason[1:] in (task.opening or task.instruction)
    for task in granted:
        credit = next(c for c in task.solution if c.tool == "issue_store_credit")
        state = seed_state(spec, seed=task.initial_state["seed"])
        assert (state.get("order", credit.arguments["order_id"]) or {}).get("status") == "delayed"
        assert replay(spec, task, task.solution).success
    for task in withheld:
        assert task.refused is not None and task.refused.tool == "issue_store_credit"
        state = seed_state(spec, seed=task.initial_state["seed"])
        assert (state.get("order", task.refused.arguments["order_id"]) or {}).get("status") not in (None, "delayed")
        assert execute(state, "issue_store_credit", task.refused.arguments).breaches == (CREDIT_RULE,)
    for task in tasks:  # never a gesture without a complaint
        uses = [c for c in task.solution if c.tool == "issue_store_credit"] + ([task.refused] if task.refused else [])
        if any(c.tool == "issue_store_credit" for c in uses):
            assert "compensation" in task.traits, task.id


def test_reasons_and_goodwill_are_checked_when_the_blueprint_loads() -> None:
    data = shop_data()
    data["tools"]["get_order"]["reasons"] = ["I want to see it"]
    data["tools"]["get_order"]["goodwill"] = True
    data["tools"]["cancel_order"]["reasons"] = ["my plans changed.", "no {slot} here", "my plans changed."]
    with pytest.raises(BlueprintError) as raised:
        parse_blueprint(data, "bad-reasons")
    messages = {(p.path, p.message.split(";")[0]) for p in raised.value.problems}
    assert ("tools.get_order.reasons", "only a write tool (one with effects) has reasons") in messages
    assert ("tools.get_order.goodwill", "only a write tool (one with effects) can be a goodwill gesture") in messages
    assert any(path == "tools.cancel_order.reasons[0]" and "closing punctuation" in m for path, m in messages)
    assert any(path == "tools.cancel_order.reasons[1]" and "no slots" in m for path, m in messages)


def test_a_tool_without_reasons_gets_one_from_its_verb_and_object() -> None:
    data = shop_data()
    del data["tools"]["cancel_order"]["reasons"]
    del data["tools"]["issue_store_credit"]["reasons"]
    spec = parse_blueprint(data, "no-reasons")
    assert tool_reasons(spec, "cancel_order") == ["my plans changed and I don't need the order any more"]
    assert tool_reasons(spec, "issue_store_credit") == ["something went wrong with my order"]  # a complaint


async def test_the_oracle_plays_every_generated_script_to_success(tmp_path: Path) -> None:
    """The oracle and the scripted user (no LLM) on every retail task of four states with a change of
    mind, a push back or several facts held back: each reaches reward 1, so each task can be won by
    an agent that asks, listens and holds."""
    scripted = [t for t in generated("retail") if {"change_of_mind", "push_back", "hidden_facts"} & set(t.traits)]
    assert {"change_of_mind", "push_back", "hidden_facts"} <= {trait for t in scripted for trait in t.traits}
    for task in scripted:
        plan = EvalPlan(root=ROOT, tasks=[task], agent=OracleAgent({task.id: task}))
        record = await run_eval_episode(plan, task, 1, tmp_path)
        assert record.success and record.reward == 1.0, (task.id, task.traits, record.checks)
