"""Intent examples: a tool's stated behaviour is checked at compile time, with a diff when it does not hold."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scaleenv_mcp.compiler.examples import example_problems
from scaleenv_mcp.compiler.proctest import gate
from scaleenv_mcp.spec import parse_blueprint
from scaleenv_mcp.spec.load import load_blueprint
from scaleenv_mcp.spec.problems import BlueprintError

from ..conftest import ROOT


def retail_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    return data


@pytest.mark.parametrize("domain", ["airline", "retail", "library_loans"])
def test_every_write_tool_of_three_shipped_domains_carries_examples_that_hold(domain: str) -> None:
    spec = load_blueprint(ROOT / f"synthesis/domains/{domain}.yaml")  # the blueprint, not the compiled manifest
    assert [t for t in spec.write_tools() if not spec.tools[t].examples] == []
    assert example_problems(spec) == []


def test_a_refund_of_the_quantity_instead_of_the_total_fails_with_a_diff() -> None:
    data = retail_data()
    effects = data["tools"]["cancel_order"]["effects"]
    effects[0] = "customer.store_credit += order.quantity if order.status == 'paid' else 0"
    spec = parse_blueprint(data)
    (problem,) = [p for p in example_problems(spec) if p[0] == "cancel_order"]
    tool, index, call, message = problem
    assert (tool, index, call) == ("cancel_order", 0, {"order_id": "ORD-0001"})
    assert message == (
        "tools.cancel_order.examples[0] (a paid order's total comes back as store credit, and its stock returns): "
        "CUS-0001.store_credit: expected 35.0, got 12.0"
    )
    report = gate(spec, seeds=1, calls_per_tool=6)  # the invariants alone do not see it; the example does
    assert not report.passed and [v.kind for v in report.violations] == []
    assert [line for line in report.reasons() if line.startswith("example_failed")] == [
        f"example_failed in cancel_order: {message} [call: cancel_order({{'order_id': 'ORD-0001'}}) on the seeded state]"
    ]


def test_unexpected_changes_missing_rows_and_wrong_errors_are_each_named() -> None:
    data = retail_data()
    tools = data["tools"]
    tools["update_customer_city"]["effects"].append("customer.tier = 'gold'")
    tools["update_customer_city"]["examples"][1]["error"] = {"code": "not_found", "message": "too short"}
    tools["open_return"]["examples"][0]["created"]["return_request"][0]["reason"] = "wrong_item"
    messages = [p[3] for p in example_problems(parse_blueprint(data))]
    assert any(m.startswith("tools.update_customer_city.examples[0]: CUS-0001.tier: changed ") and m.endswith("-> 'gold', not expected") for m in messages), messages
    assert "tools.update_customer_city.examples[1]: expected error not_found ('too short'), got precondition_failed: City name is too short." in messages
    assert any(m.startswith("tools.open_return.examples[0]: return_request: expected a new row with {'order_id': 'ORD-0001', 'reason': 'wrong_item'") for m in messages)


def test_an_example_naming_a_row_the_seed_lacks_or_two_outcomes_is_refused() -> None:
    data = retail_data()
    data["tools"]["cancel_order"]["examples"][0]["given"] = {"ORD-9999": {}}
    assert next(p[3] for p in example_problems(parse_blueprint(data))) == "tools.cancel_order.examples[0] (a paid order's total comes back as store credit, and its stock returns): given: no row ORD-9999 in the seeded state"
    data = retail_data()
    data["tools"]["cancel_order"]["examples"][2]["changes"] = {"ORD-0001": {"status": "cancelled"}}
    with pytest.raises(BlueprintError, match="an example expects either an error or changes"):
        parse_blueprint(data)
