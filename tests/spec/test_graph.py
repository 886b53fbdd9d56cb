from __future__ import annotations

import json

import pytest

from scaleenv_mcp.cli import main
from scaleenv_mcp.spec.graph import build_graph, entry_tools, graph_facts
from scaleenv_mcp.spec.model import DomainSpec

from ..conftest import ROOT, SHIPPED, shipped_spec


def test_edges_say_why_a_tool_can_follow_another(retail: DomainSpec) -> None:
    graph = build_graph(retail)
    assert graph.edges["find_customer_by_email", "list_customer_orders"]["data"] == ["customer_id <- customer.id"]
    assert "order_id <- order.id" in graph.edges["list_customer_orders", "cancel_order"]["data"]
    # paying changes order.status, which cancel_order's rule reads
    assert any("order.status" in r for r in graph.edges["pay_order", "cancel_order"]["enables"])
    assert not graph.has_edge("get_product", "find_customer_by_email")


def test_entry_tools_need_no_internal_ids(retail: DomainSpec) -> None:
    assert entry_tools(retail) == ["find_customer_by_email", "search_products"]


@pytest.mark.parametrize("domain", SHIPPED)
def test_every_shipped_tool_is_reachable_from_an_entry_tool(domain: str) -> None:
    facts = graph_facts(shipped_spec(domain))
    assert facts["entry_tools"] and facts["unreachable_tools"] == []
    assert facts["longest_chain"] >= 4


def test_graph_command_prints_json_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "graph", "hotel", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"from", "to", "data", "enables"} <= set(data["edges"][0])
    assert data["facts"]["entry_tools"][0] == "find_guest_by_email"
    assert main(["--root", str(ROOT), "graph", "hotel", "--dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "hotel"') and '"make_reservation" [shape=box]' in dot


def test_manifest_records_graph_and_quality() -> None:
    manifest = json.loads((ROOT / "manifests/retail.json").read_text())
    assert manifest["graph"]["facts"]["entry_tools"] == ["find_customer_by_email", "search_products"]
    assert manifest["quality"]["passed"] is True and manifest["quality"]["min_calls_per_tool"] >= 20
