"""The procedural tests and the gate in ``scaleenv synth``: shipped domains pass, real defects are caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from scaleenv_mcp.cli import main
from scaleenv_mcp.compiler.proctest import test_domain as run_procedural_tests
from scaleenv_mcp.engine import diff, execute, seed_state
from scaleenv_mcp.spec import parse_blueprint

from ..conftest import ROOT, SHIPPED, shipped_spec


def retail_data() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())


@pytest.mark.e2e
def test_every_shipped_domain_passes_with_at_least_20_calls_per_tool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "test", "--all", "--json", "--seeds", "1"]) == 0  # synth gates on 3 seeds
    reports = json.loads(capsys.readouterr().out)["domains"]
    assert sorted(r["domain"] for r in reports) == sorted(SHIPPED)
    for report in reports:
        assert report["passed"] and report["violations"] == [] and report["defects"] == []
        for tool, stats in report["tools"].items():
            assert stats["calls"] >= 20, (report["domain"], tool)
            assert stats["succeeded"] >= 1, (report["domain"], tool)
            categories = set(stats["calls_by_category"])
            assert {"valid", "missing", "wrong_type", "extra", "boundary"} <= categories or not stats["calls_by_category"].get("missing")


def test_an_effect_that_breaks_a_constraint_is_caught_with_a_reproduction() -> None:
    data = retail_data()
    # the rule allows any quantity up to the stock + 5, but stock may not go below 0
    data["tools"]["place_order"]["requires"][1]["check"] = "product.stock + 5 >= quantity"
    report = run_procedural_tests(parse_blueprint(data))
    assert not report.passed
    broken = [v for v in report.violations if v.kind == "effect_broke_constraint"]
    assert broken and all(v.tool == "place_order" for v in broken)
    assert "product.stock would be" in broken[0].message and "below its minimum 0" in broken[0].message
    assert broken[0].arguments["quantity"] > 0 and broken[0].state_snapshot
    assert any(line.startswith("effect_broke_constraint in place_order") for line in report.reasons())


def test_a_rule_the_seed_data_can_never_satisfy_is_caught() -> None:
    data = retail_data()
    # kept by the tool, so every call fails on it (a rule the agent keeps never stops a call)
    data["tools"]["open_return"]["requires"][1].update(check="days_between(order.delivered_on, today) <= -1", kept_by="tool")
    report = run_procedural_tests(parse_blueprint(data))
    (defect,) = report.defects
    assert (defect.kind, defect.tool) == ("never_succeeds", "open_return")
    assert "within 30 days of delivery" in defect.message and defect.arguments["order_id"].startswith("ORD-")


def unreachable_blueprint() -> dict[str, Any]:
    data = retail_data()
    data["entities"]["gift_card"] = {
        "description": "A prepaid card.",
        "id_prefix": "GFT",
        "count": 5,
        "fields": {"balance": {"type": "money", "min": 0, "range": [10, 50]}},
    }
    data["tools"]["void_gift_card"] = {
        "description": "Set a gift card's balance to zero.",
        "params": {"gift_card_id": {"type": "ref", "ref": "gift_card"}},
        "effects": ["gift_card.balance = 0"],
    }
    return data


def test_a_write_tool_no_entry_tool_reaches_is_caught() -> None:
    report = run_procedural_tests(parse_blueprint(unreachable_blueprint()))
    assert [(d.kind, d.tool) for d in report.defects] == [("unreachable_write_tool", "void_gift_card")]
    assert report.graph["unreachable_write_tools"] == ["void_gift_card"]


def test_synth_gate_rejects_a_failing_domain_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(ROOT / "synthesis", tmp_path / "synthesis")
    blueprint = tmp_path / "gift.yaml"
    data = unreachable_blueprint()
    data["name"] = "gift_shop"
    blueprint.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["--root", str(tmp_path), "synth", "--blueprint", str(blueprint)]) == 1
    err = capsys.readouterr().err
    assert "gift_shop: procedural tests failed:" in err and "unreachable_write_tool in void_gift_card" in err
    assert "1 domain(s) rejected by the gate; nothing written for them" in err
    assert not (tmp_path / "servers/gift_shop").exists()
    assert main(["--root", str(tmp_path), "synth", "--blueprint", str(blueprint), "--allow-failing"]) == 0
    manifest = json.loads((tmp_path / "manifests/gift_shop.json").read_text())
    assert manifest["quality"]["passed"] is False
    assert manifest["quality"]["defects"] == ["unreachable_write_tool: void_gift_card"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("domain", ["retail", "hotel"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_arguments_never_crash_and_failures_change_nothing(domain: str, data: st.DataObject) -> None:
    spec = shipped_spec(domain)
    state = seed_state(spec)
    tool_name = data.draw(st.sampled_from(list(spec.tools)))
    tool = spec.tools[tool_name]
    ids = {name: [r["id"] for r in state.rows(str(p.ref))] for name, p in tool.params.items() if p.type == "ref"}
    arguments = {}
    for name in tool.params:
        if data.draw(st.booleans()):
            real = st.sampled_from(ids[name]) if ids.get(name) else st.nothing()
            arguments[name] = data.draw(real | JSON_VALUES)
    if data.draw(st.booleans()):
        arguments[data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
    before = state.fork()
    result = execute(state, tool_name, arguments)
    changes = diff(before, state)
    if result.ok:
        assert not list(Draft202012Validator(spec.view(tool_name).output_schema).iter_errors(result.data))
        if not tool.is_write:
            assert changes.is_empty()
    else:
        assert result.error is not None and result.error.message
        assert changes.is_empty()
    assert state.integrity_problems() == []
