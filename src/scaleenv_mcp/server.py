"""A domain as an MCP server: tools, resources and prompts, all views of the spec.

What a server *is* (its domain, its initial state) is fixed by :func:`build_server`;
how it is *served* is :func:`serve_stdio` or :func:`serve_http`. Every tool call goes
through :func:`scaleenv_mcp.runtime.execute`; this module only translates between MCP
messages and the runtime.

State per client: on stdio one process is one session, and the in-memory client runs
the lifespan once per connection, so each gets one fresh state from the initial
snapshot. Over streamable HTTP the lifespan runs once per process, so states are keyed
by an explicit ``scaleenv/episode`` value in the request ``_meta`` or, failing that,
the ``mcp-session-id`` header; requests that carry neither share one state.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from .runtime import execute, output_schema
from .seed import seed_state
from .spec import DomainSpec, ToolSpec
from .state import State

__all__ = ["EPISODE_META_KEY", "Sessions", "build_server", "serve_http", "serve_stdio", "tool_definitions"]

logger = logging.getLogger("scaleenv_mcp.server")

EPISODE_META_KEY = "scaleenv/episode"
"""``_meta`` key an HTTP client sets to get its own state (one per episode)."""


@dataclass
class Sessions:
    """States of the clients of one server process, each forked from the initial snapshot."""

    spec: DomainSpec
    initial: bytes
    max_states: int = 4096
    states: dict[str, State] = field(default_factory=dict)

    def state_for(self, key: str) -> State:
        state = self.states.get(key)
        if state is None:
            if len(self.states) >= self.max_states:
                oldest = next(iter(self.states))
                self.states.pop(oldest).close()
            state = State.from_snapshot(self.spec, self.initial)
            self.states[key] = state
        return state


def _session_key(ctx: ServerRequestContext[Sessions, Any]) -> str:
    meta = ctx.meta or {}
    episode = meta.get(EPISODE_META_KEY) if isinstance(meta, dict) else None
    if isinstance(episode, str) and episode:
        return f"episode:{episode}"
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is not None:
        sid = headers.get("mcp-session-id")
        if sid:
            return f"session:{sid}"
    return "default"


def tool_definitions(spec: DomainSpec) -> list[types.Tool]:
    """MCP tool definitions (input and output schemas, annotations) for every tool."""
    return [_tool_definition(spec, name, tool) for name, tool in spec.tools.items()]


def _tool_definition(spec: DomainSpec, name: str, tool: ToolSpec) -> types.Tool:
    changes_existing = any(isinstance(e, str) or hasattr(e, "delete") for e in tool.effects)
    return types.Tool(
        name=name,
        title=name.replace("_", " ").capitalize(),
        description=tool.description,
        input_schema=tool.input_schema(),
        output_schema=output_schema(spec, tool),
        annotations=types.ToolAnnotations(
            read_only_hint=not tool.is_write,
            destructive_hint=tool.is_write and changes_existing,
            idempotent_hint=not tool.is_write,
            open_world_hint=False,
        ),
    )


def _text(data: Any) -> types.TextContent:
    return types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False, sort_keys=False))


def build_server(spec: DomainSpec, *, initial: bytes | None = None) -> Server[Sessions]:
    """An MCP server for one domain; every client starts from ``initial`` (default: the seeded state)."""
    initial_image = initial if initial is not None else seed_state(spec).snapshot()
    tools = tool_definitions(spec)
    schema_uri = f"scaleenv://{spec.name}/schema"
    policy_uri = f"scaleenv://{spec.name}/policy"
    schema_doc = {
        "domain": spec.name,
        "title": spec.title,
        "description": spec.description,
        "entities": {
            name: {"description": e.description, "schema": e.json_schema()} for name, e in spec.entities.items()
        },
    }

    @asynccontextmanager
    async def lifespan(_: Server[Sessions]) -> AsyncIterator[Sessions]:
        sessions = Sessions(spec, initial_image)
        try:
            yield sessions
        finally:
            for state in sessions.states.values():
                state.close()

    async def list_tools(
        ctx: ServerRequestContext[Sessions, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Sessions, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        state = ctx.lifespan_context.state_for(_session_key(ctx))
        try:
            result = execute(state, params.name, params.arguments or {})
        except Exception as exc:  # boundary: a bug in a tool must not kill the server
            logger.exception("tool %s crashed", params.name)
            return types.CallToolResult(content=[_text({"error": f"internal error: {exc}"})], is_error=True)
        if result.ok:
            return types.CallToolResult(content=[_text(result.data)], structured_content=result.data)
        assert result.error is not None
        message = f"{result.error.code}: {result.error.message}"
        payload = {"error": result.error.code, "message": result.error.message, **result.error.details}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=message), _text(payload)], is_error=True
        )

    async def list_resources(
        ctx: ServerRequestContext[Sessions, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    name="schema", uri=schema_uri, mime_type="application/json",
                    description=f"Entities and fields of the {spec.title} domain (JSON Schema per entity).",
                ),
                types.Resource(
                    name="policy", uri=policy_uri, mime_type="text/markdown",
                    description=f"Rules an agent must follow in the {spec.title} domain.",
                ),
            ]
        )  # fmt: skip

    async def read_resource(
        ctx: ServerRequestContext[Sessions, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == schema_uri:
            text, mime = json.dumps(schema_doc, indent=2), "application/json"
        elif uri == policy_uri:
            text, mime = f"# {spec.title} policy\n\n{spec.policy}", "text/markdown"
        else:
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown resource {uri!r}; try {schema_uri} or {policy_uri}")
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])

    async def list_prompts(
        ctx: ServerRequestContext[Sessions, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(
            prompts=[types.Prompt(name="policy", description=f"The {spec.title} policy, as a system-style brief.")]
        )

    async def get_prompt(
        ctx: ServerRequestContext[Sessions, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name != "policy":
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {params.name!r}; available: policy")
        text = f"{spec.description}\n\nFollow this policy:\n{spec.policy}"
        return types.GetPromptResult(
            description=f"{spec.title} policy",
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))],
        )

    return Server(
        spec.name,
        version=spec.version,
        title=spec.title,
        description=spec.description,
        instructions=spec.policy,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client on stdin/stdout (logs go to stderr)."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def serve_http(server: Server[Any], *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until interrupted."""
    import uvicorn

    print(f"serving {server.name} on http://{host}:{port}/mcp", file=sys.stderr)
    uvicorn.run(server.streamable_http_app(host=host), host=host, port=port, log_level="warning")
