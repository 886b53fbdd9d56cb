"""Each shipped domain, driven as an MCP client would drive it."""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from scaleenv_mcp.engine.binding import find_successful_call
from scaleenv_mcp.engine.runtime import execute
from scaleenv_mcp.engine.seed import seed_state
from scaleenv_mcp.engine.state import State
from scaleenv_mcp.serving import build_server
from scaleenv_mcp.spec.model import DomainSpec

from ..conftest import ROOT, SHIPPED, shipped_spec


def get_tool_for(spec: DomainSpec, entity: str) -> str | None:
    """A read tool that returns one row of ``entity`` given its id."""
    for name, tool in spec.tools.items():
        params = list(tool.params.values())
        if not tool.is_write and not tool.search and not tool.lookup and len(params) == 1 and params[0].ref == entity:
            return name
    return None


def write_scenario(spec: DomainSpec) -> tuple[str, dict[str, Any], str, str]:
    """(write tool, valid arguments, read tool, row id): a write that changes an existing row we can read back."""
    state = seed_state(spec)
    for name, tool in spec.tools.items():
        if not tool.is_write or tool.search:
            continue
        entity = spec.view(name).entities.get(str(tool.result_var))
        reader = get_tool_for(spec, entity) if entity else None
        found = find_successful_call(state, name) if reader else None
        if found and state.get(str(entity), found[1]["id"]) is not None and _changes_the_row(state, name, found[0], str(entity), found[1]["id"]):
            return name, found[0], str(reader), found[1]["id"]
    raise AssertionError(f"{spec.name}: no write tool that updates a readable row")


def _changes_the_row(state: State, tool: str, arguments: dict[str, Any], entity: str, row_id: str) -> bool:
    """Whether the call changes the row it returns (a profile set to the values it holds changes nothing to read back)."""
    trial = state.fork()
    try:
        return execute(trial, tool, arguments).ok and trial.get(entity, row_id) != state.get(entity, row_id)
    finally:
        trial.close()


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


@pytest.mark.parametrize("domain", SHIPPED)
async def test_domain_over_an_mcp_session(domain: str) -> None:
    spec = shipped_spec(domain)
    write, args, read, row_id = write_scenario(spec)
    id_param = next(iter(spec.tools[read].params))
    with anyio.fail_after(20):
        async with Client(build_server(spec)) as client:
            listed = (await client.list_tools()).tools
            assert [t.name for t in listed] == list(spec.tools)
            for tool in listed:
                assert tool.description and tool.input_schema["type"] == "object" and tool.output_schema
                assert tool.annotations is not None
                assert tool.annotations.read_only_hint == (not spec.tools[tool.name].is_write)

            before = structured(await client.call_tool(read, {id_param: row_id}))
            written = structured(await client.call_tool(write, args))
            after = structured(await client.call_tool(read, {id_param: row_id}))
            assert {k: after[k] for k in written} == written and after != before  # a read may join more rows in

            bad = await client.call_tool(write, {**args, "unexpected": 1})
            assert bad.is_error
            assert "invalid_arguments: unexpected argument(s) 'unexpected'" in bad.content[0].text
            missing = await client.call_tool(write, {})
            assert missing.is_error and "missing required argument" in missing.content[0].text
            assert structured(await client.call_tool(read, {id_param: row_id})) == after

            unknown = await client.call_tool("no_such_tool", {})
            assert unknown.is_error and "unknown tool 'no_such_tool'" in unknown.content[0].text


async def test_resources_and_policy_prompt(retail: DomainSpec) -> None:
    async with Client(build_server(retail)) as client:
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        assert uris == ["scaleenv://retail/schema", "scaleenv://retail/policy"]
        schema = json.loads((await client.read_resource("scaleenv://retail/schema")).contents[0].text)
        assert set(schema["entities"]) == set(retail.entities)
        policy = (await client.read_resource("scaleenv://retail/policy")).contents[0].text
        assert "Identify the customer by email" in policy
        prompt = await client.get_prompt("policy")
        assert "shipped orders cannot be cancelled" in prompt.messages[0].content.text


async def test_each_client_session_starts_from_a_fresh_state(retail: DomainSpec) -> None:
    server = build_server(retail)
    order = next(o for o in seed_state(retail).rows("order") if o["status"] == "pending")
    async with Client(server) as first:
        assert structured(await first.call_tool("cancel_order", {"order_id": order["id"]}))["status"] == "cancelled"
    async with Client(server) as second:
        assert structured(await second.call_tool("get_order", {"order_id": order["id"]}))["status"] == "pending"


@pytest.mark.e2e
async def test_a_domain_over_a_real_stdio_subprocess() -> None:
    spec = shipped_spec("library_loans")
    write, args, read, row_id = write_scenario(spec)
    id_param = next(iter(spec.tools[read].params))
    params = StdioServerParameters(command=sys.executable, args=["-m", "scaleenv_mcp", "serve", "library_loans"], cwd=str(ROOT))
    with anyio.fail_after(30):
        async with Client(params) as client:
            assert len((await client.list_tools()).tools) == len(spec.tools)
            before = structured(await client.call_tool(read, {id_param: row_id}))
            after = structured(await client.call_tool(write, args))
            assert after != before
            bad = await client.call_tool(write, dict.fromkeys(args, 12345))
            assert bad.is_error and "is not of type" in bad.content[0].text
            assert structured(await client.call_tool(read, {id_param: row_id})) == after


async def test_resource_templates_are_listed_and_an_unknown_resource_is_32002(retail: DomainSpec) -> None:
    from mcp.shared.exceptions import MCPError

    async with Client(build_server(retail)) as client:
        assert (await client.list_resource_templates()).resource_templates == []
        with pytest.raises(MCPError) as info:
            await client.read_resource("scaleenv://retail/nothing")
        assert info.value.error.code == -32002


async def test_null_for_an_optional_argument_means_absent_and_nan_is_refused(retail: DomainSpec) -> None:
    customer = seed_state(retail).rows("customer")[0]
    async with Client(build_server(retail)) as client:
        both = structured(await client.call_tool("list_customer_orders", {"customer_id": customer["id"], "status": None}))
        plain = structured(await client.call_tool("list_customer_orders", {"customer_id": customer["id"]}))
        assert both == plain
        product = seed_state(retail).rows("product")[0]
        nan = await client.call_tool("place_order", {"customer_id": customer["id"], "product_id": product["id"], "quantity": float("nan")})
        assert nan.is_error and "invalid_arguments" in nan.content[0].text


async def test_a_huge_bad_value_is_echoed_once_and_short(retail: DomainSpec) -> None:
    async with Client(build_server(retail)) as client:
        result = await client.call_tool("get_order", {"order_id": "x" * 1_000_000})
        text = "".join(c.text for c in result.content if hasattr(c, "text"))
        assert result.is_error and len(text) < 2_000
