"""Rules the agent keeps: the tool accepts the call, the policy monitor records the breach, the
grader zeroes the reward, and validation ties each rule to the policy the agent reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scaleenv_mcp.engine import execute, seed_state
from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.spec import parse_blueprint
from scaleenv_mcp.spec.model import DomainSpec
from scaleenv_mcp.spec.problems import BlueprintError
from scaleenv_mcp.tasks.policy import PolicyMonitor

ROOT = Path(__file__).resolve().parents[2]
RULE = "An order can be cancelled only while it is pending or paid."


def retail_with(rule: dict[str, Any], policy_line: str | None = RULE) -> DomainSpec:
    data = yaml.safe_load((ROOT / "synthesis" / "domains" / "retail.yaml").read_text())
    data["tools"]["cancel_order"]["requires"] = [rule]
    if policy_line is not None:
        data["policy"] += f"- {policy_line}\n"
    return parse_blueprint(data, "retail-test")


def agent_kept() -> DomainSpec:
    return retail_with({"check": "order.status in ['pending', 'paid']", "error": RULE, "kept_by": "agent"})


def test_the_tool_accepts_a_call_that_breaks_an_agent_kept_rule_and_says_nothing_of_it() -> None:
    spec = agent_kept()
    state = seed_state(spec)
    shipped = next(o for o in state.rows("order") if o["status"] == "shipped")
    result = execute(state, "cancel_order", {"order_id": shipped["id"]})
    assert result.ok and result.breaches == (RULE,)
    assert "breaches" not in result.to_dict() and RULE not in str(result.to_dict())  # the agent is not told
    assert state.get("order", shipped["id"])["status"] == "cancelled"


def test_a_call_within_the_rule_breaks_nothing() -> None:
    spec = agent_kept()
    state = seed_state(spec)
    pending = next(o for o in state.rows("order") if o["status"] == "pending")
    result = execute(state, "cancel_order", {"order_id": pending["id"]})
    assert result.ok and result.breaches == ()


def test_breaking_an_agent_kept_rule_is_a_violation_that_zeroes_every_reward_mode() -> None:
    spec = agent_kept()
    coordinator = Coordinator(spec)
    episode = coordinator.start()
    state = episode.state
    shipped = next(o for o in state.rows("order") if o["status"] == "shipped")
    email = state.get("customer", shipped["customer_id"])["email"]
    assert coordinator.call(episode.id, "find_customer_by_email", {"email": email}).ok
    assert coordinator.call(episode.id, "cancel_order", {"order_id": shipped["id"]}).ok
    violations = episode.policy.violations
    assert [v.rule for v in violations] == ["agent_rule"] and RULE in violations[0].message


def test_any_write_before_the_user_is_identified_is_a_violation_and_so_is_reading_their_records() -> None:
    spec = agent_kept()
    state = seed_state(spec)
    monitor = PolicyMonitor(spec)
    order = next(o for o in state.rows("order") if o["status"] == "pending")
    before = monitor.touched_before(state, "get_order", {"order_id": order["id"]})
    monitor.observe(state, "get_order", execute(state, "get_order", {"order_id": order["id"]}), before)
    assert [v.rule for v in monitor.violations] == ["identify_first"]
    assert order["id"] in monitor.read  # the monitor remembers what the agent was shown
    product = state.rows("product")[0]
    catalogue = PolicyMonitor(spec)
    catalogue.observe(state, "get_product", execute(state, "get_product", {"product_id": product["id"]}), [])
    assert catalogue.violations == []  # nobody's records: reading the catalogue needs nobody identified


def test_an_agent_kept_rule_the_policy_does_not_state_is_refused_with_the_line_to_add() -> None:
    unstated = "Staff may cancel an order only on the day it was placed."
    with pytest.raises(BlueprintError) as caught:
        retail_with({"check": "order.placed_on == today", "error": unstated, "kept_by": "agent"}, policy_line=None)
    problem = next(p for p in caught.value.problems if "agent-kept" in p.message)
    assert problem.path == "tools.cancel_order.requires[0].error" and unstated in problem.message


def test_a_read_tool_cannot_have_an_agent_kept_rule() -> None:
    data = yaml.safe_load((ROOT / "synthesis" / "domains" / "retail.yaml").read_text())
    data["tools"]["get_order"]["requires"] = [{"check": "order.total > 0", "error": RULE, "kept_by": "agent"}]
    data["policy"] += f"- {RULE}\n"
    with pytest.raises(BlueprintError) as caught:
        parse_blueprint(data, "retail-test")
    assert any(p.path == "tools.get_order.requires[0].kept_by" for p in caught.value.problems)
