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


def test_an_example_naming_a_row_the_seed_lacks_without_its_fields_or_two_outcomes_is_refused() -> None:
    data = retail_data()
    data["tools"]["cancel_order"]["examples"][0]["given"] = {"ORD-9999": {}}
    assert next(p[3] for p in example_problems(parse_blueprint(data))) == (
        "tools.cancel_order.examples[0] (a paid order's total comes back as store credit, and its stock returns): "
        "given: ORD-9999 is a new row (the seed did not draw it), so it must set customer_id, placed_on, product_id, quantity, status, total"
    )
    data = retail_data()
    data["tools"]["cancel_order"]["examples"][2]["changes"] = {"ORD-0001": {"status": "cancelled"}}
    with pytest.raises(BlueprintError, match="an example expects either an error or changes"):
        parse_blueprint(data)


def library_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "synthesis/domains/library_loans.yaml").read_text())
    return data


def test_an_example_that_leans_on_the_seed_holds_under_its_name_and_fails_under_another() -> None:
    """The seed draws from the domain's name, so ``scaleenv test --renamed`` finds the example that
    only held because TTL-0019 happened to have no copy on the shelf."""
    data = library_data()
    example = data["tools"]["place_hold"]["examples"][0]
    example.pop("given")
    example["call"]["title_id"] = "TTL-0019"
    example["created"]["hold"][0]["title_id"] = "TTL-0019"
    spec = parse_blueprint(data)
    assert example_problems(spec) == []
    problems = example_problems(spec.model_copy(update={"name": "other_library_loans"}))
    assert [(tool, index) for tool, index, _, _ in problems] == [("place_hold", 0)]
    assert "check it out instead of placing a hold" in problems[0][3]


def test_an_example_brings_rows_of_its_own_and_a_new_row_must_set_every_field_it_needs() -> None:
    spec = load_blueprint(ROOT / "synthesis/domains/library_loans.yaml")
    for name in ("library_loans", "other_library_loans"):  # the shipped example brings its own title: it holds under both
        assert example_problems(spec.model_copy(update={"name": name})) == []
    data = library_data()
    data["tools"]["place_hold"]["examples"][0]["given"] = {"TTL-9001": {"name": "The Quiet Harbour"}}
    (problem,) = example_problems(parse_blueprint(data))
    assert problem[3] == (
        "tools.place_hold.examples[0] (a title with no copy on the shelf (a title of its own, so the example holds whatever "
        "the seed drew)): given: TTL-9001 is a new row (the seed did not draw it), so it must set author, genre"
    )
    data["tools"]["place_hold"]["examples"][0]["given"] = {"XYZ-0001": {}}
    (problem,) = example_problems(parse_blueprint(data))
    assert "given: XYZ-0001 is not the id of any entity" in problem[3]
