"""Exchanges, returns and item changes on tau2-bench's retail: tools that take lists of a user's
ordered items (and, for an exchange, their replacements) are bound to the items of one of the
user's orders, named by product and option the way a shopper names them, found the way an agent
finds them (the order's details, then the product's options), and the reference passes the grader."""

from __future__ import annotations

import random
import re
from functools import cache

import pytest

from scaleenv_mcp.engine import execute, seed_state
from scaleenv_mcp.spec.load import load_blueprint
from scaleenv_mcp.spec.model import DomainSpec
from scaleenv_mcp.spec.task import TaskSpec
from scaleenv_mcp.tasks.generation.acceptance import id_looked_up, minimal, no_internal_id
from scaleenv_mcp.tasks.generation.assembly import assemble, checks, word
from scaleenv_mcp.tasks.generation.draft import Draft, Order
from scaleenv_mcp.tasks.generation.goals.action import add_write
from scaleenv_mcp.tasks.grader import evaluate_checks

from ..conftest import ROOT


@cache
def tau2_retail() -> DomainSpec:
    return load_blueprint(ROOT / "examples" / "tau2" / "tau2_retail.yaml")


def _generated(tool: str, status: str) -> tuple[Draft, TaskSpec]:
    """The first user (in order id order) with an order in ``status`` for whom the action goal binds
    ``tool``, as a draft whose reference found the user by email, and the task assembled from it."""
    spec = tau2_retail()
    initial = seed_state(spec)
    work = initial.fork()
    work.track()
    for order in sorted(initial.find("order", {"status": status}), key=lambda o: str(o["id"])):
        user = initial.get("user", order["user_id"])
        assert user is not None
        work.reset()
        draft = Draft(spec, work, random.Random(0), "user", user, Order(kind="action", strategy="action"),
                      "find_user_id_by_email", initial=initial)  # fmt: skip
        assert draft.run("find_user_id_by_email", {"email": user["email"]}) is not None
        if add_write(draft, tool, set()):
            return draft, assemble(draft, word(draft), checks(draft))
    raise AssertionError(f"no user's order binds {tool}")


def _passes(spec: DomainSpec, task: TaskSpec) -> bool:
    state = seed_state(spec)  # the domain's own seed, the one the draft was made on
    state.track()
    for call in task.solution:
        assert execute(state, call.tool, call.arguments).ok, call
    return evaluate_checks(task.checks, state.changes(), state).success


def test_an_exchange_names_the_users_items_and_their_replacements_and_its_reference_passes() -> None:
    spec = tau2_retail()
    draft, task = _generated("exchange_delivered_order_items", "delivered")
    tools = [c.tool for c in task.solution]
    assert tools[-1] == "exchange_delivered_order_items"
    assert tools.index("get_order_details") < tools.index("get_product_details") < len(tools) - 1  # found as an agent would
    call = task.solution[-1].arguments
    order = draft.initial.get("order", call["order_id"]) if draft.initial else None
    assert order is not None and order["user_id"] == draft.persona["id"] and order["status"] == "delivered"
    state = seed_state(spec)
    for old, new in zip(call["item_ids"], call["new_item_ids"], strict=True):
        was, becomes = state.get("variant", old), state.get("variant", new)
        assert was is not None and becomes is not None
        assert state.find("order_item", {"order_id": order["id"], "item_id": old})  # one of the order's items
        assert becomes["product_id"] == was["product_id"] and becomes["options"] != was["options"] and becomes["available"]
        product = state.get("product", was["product_id"])
        assert product is not None
        assert f"the {product['name']} ({was['options']}" in task.instruction  # named by product and option
        assert f"({becomes['options']}" in task.instruction
    assert "exchange" in task.instruction and no_internal_id(task.instruction) is None
    assert not re.search(r"\b(ORD|ITM|PRD)-\d", task.instruction)
    assert minimal(draft, task) is None and id_looked_up(draft, task) is None
    assert _passes(spec, task)
    untouched = seed_state(spec)
    untouched.track()
    assert not evaluate_checks(task.checks, untouched.changes(), untouched).success  # not met before the agent acts


@pytest.mark.parametrize(("tool", "status"), [("return_delivered_order_items", "delivered"), ("modify_pending_order_items", "pending")])
def test_returns_and_item_changes_are_bound_to_the_users_own_order_and_their_references_pass(tool: str, status: str) -> None:
    spec = tau2_retail()
    draft, task = _generated(tool, status)
    call = task.solution[-1]
    assert call.tool == tool and "get_order_details" in [c.tool for c in task.solution]
    order = seed_state(spec).get("order", call.arguments["order_id"])
    assert order is not None and order["user_id"] == draft.persona["id"]
    assert no_internal_id(task.instruction) is None and minimal(draft, task) is None
    assert _passes(spec, task)
