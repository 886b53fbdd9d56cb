"""A domain as an MCP server: tools, resources and prompts, all views of the spec.

What a server *is* (its domain, its initial state) is fixed by :func:`build_server`;
how it is *served* is :func:`serve_stdio` or :func:`serve_http`. Every tool call goes
through :func:`scaleenv_mcp.runtime.execute`; this module only translates between MCP
messages and the runtime.

State per client: every client is an episode of a :class:`Coordinator`. On stdio one
process is one session, and the in-memory client runs the lifespan once per connection,
so each gets one fresh episode from the initial snapshot. Over streamable HTTP the lifespan runs once per process, so states are keyed
by an explicit ``scaleenv/episode`` value in the request ``_meta`` or, failing that,
the ``mcp-session-id`` header; requests that carry neither share one state.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError

from ..episodes.control import DEFAULT_EPISODE, ControlError, claim_socket_path, serve_control
from ..episodes.coordinator import Coordinator
from ..spec.catalog import load_domain_tasks
from ..spec.model import DomainSpec, ToolSpec
from ..spec.paths import project_paths
from ..spec.task import TaskSpec
from .options import add_serve_options

__all__ = [
    "EPISODE_META_KEY",
    "DomainServer",
    "ServeError",
    "ServeOptions",
    "add_serve_options",
    "build_server",
    "serve",
    "serve_http",
    "serve_main",
    "serve_stdio",
    "tool_definitions",
]

RESOURCE_NOT_FOUND = -32002
"""the MCP specification's error code for a resource URI the server does not have"""

DomainServer = Server[Coordinator]
"""An MCP server for one domain; its lifespan context is the connection's coordinator."""

logger = logging.getLogger("scaleenv_mcp.server")

EPISODE_META_KEY = "scaleenv/episode"
"""``_meta`` key an HTTP client sets to get its own state (one per episode)."""


def _session_key(ctx: ServerRequestContext[Coordinator, Any]) -> str:
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
    return DEFAULT_EPISODE


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
        output_schema=spec.view(name).output_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=not tool.is_write,
            destructive_hint=tool.is_write and changes_existing,
            idempotent_hint=not tool.is_write,
            open_world_hint=False,
        ),
    )


def _text(data: Any) -> types.TextContent:
    return types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False, sort_keys=False))


def build_server(
    spec: DomainSpec,
    *,
    tasks: list[TaskSpec] | None = None,
    task_id: str | None = None,
    control_path: str | Path | None = None,
    initial: bytes | None = None,
) -> DomainServer:
    """An MCP server for one domain.

    Every client starts an episode on the domain's seeded state, or on ``task_id``'s
    initial state, whose instruction is then offered as the ``task`` prompt. With
    ``control_path`` the harness can verify episodes over a separate Unix socket; the
    agent's MCP surface never shows checks, solutions or rewards.
    """
    task_list = list(tasks or [])
    task = next((t for t in task_list if t.id == task_id), None)
    if task_id is not None and task is None:
        sample = ", ".join(t.id for t in task_list[:5]) or "none (run `scaleenv synth`)"
        raise LookupError(f"unknown task {task_id!r} for {spec.name}; e.g. {sample}")
    template = Coordinator(spec, task_list, initial=initial)  # seeds once (unless given the image) and checks the tasks
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
    async def lifespan(_: Server[Coordinator]) -> AsyncIterator[Coordinator]:
        coordinator = template.fresh()
        if task_id is not None:
            coordinator.start(task_id, DEFAULT_EPISODE)  # the task's episode exists before the first call
        async with anyio.create_task_group() as tg:
            if control_path is not None:
                await tg.start(serve_control, control_path, coordinator, task_id)
            try:
                yield coordinator
            finally:
                tg.cancel_scope.cancel()
                for episode_id in list(coordinator.episodes):
                    coordinator.end(episode_id)

    def episode_for(ctx: ServerRequestContext[Coordinator, Any]) -> str:
        coordinator = ctx.lifespan_context
        meta = ctx.meta or {}
        if task is not None and isinstance(meta, dict) and EPISODE_META_KEY in meta:
            # On a task session the agent acts in the task's episode only: choosing another through
            # _meta would give it a private copy to try writes in, then act with hindsight.
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"this session serves task {task.id}; '{EPISODE_META_KEY}' cannot select another episode here",
            )
        key = _session_key(ctx)
        if key not in coordinator.episodes:
            coordinator.start(task_id, key)
        return key

    async def list_tools(
        ctx: ServerRequestContext[Coordinator, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Coordinator, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        episode_id = episode_for(ctx)
        try:
            result = ctx.lifespan_context.call(episode_id, params.name, params.arguments or {})
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
        ctx: ServerRequestContext[Coordinator, Any], params: types.PaginatedRequestParams | None
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
        ctx: ServerRequestContext[Coordinator, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if uri == schema_uri:
            text, mime = json.dumps(schema_doc, indent=2), "application/json"
        elif uri == policy_uri:
            text, mime = f"# {spec.title} policy\n\n{spec.policy}", "text/markdown"
        else:
            raise MCPError(code=RESOURCE_NOT_FOUND, message=f"unknown resource {uri[:200]!r}; try {schema_uri} or {policy_uri}")
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])

    async def list_resource_templates(
        ctx: ServerRequestContext[Coordinator, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])  # every resource has a fixed URI

    async def list_prompts(
        ctx: ServerRequestContext[Coordinator, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompts = [types.Prompt(name="policy", description=f"The {spec.title} policy, as a system-style brief.")]
        if task is not None:
            prompts.append(types.Prompt(name="task", description="What the user wants done in this episode."))
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(
        ctx: ServerRequestContext[Coordinator, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        if params.name == "task" and task is not None:
            return types.GetPromptResult(
                description="The user's request",
                messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=task.instruction))],
            )
        if params.name != "policy":
            available = "policy, task" if task is not None else "policy"
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {params.name!r}; available: {available}")
        text = f"{spec.description}\n\nFollow this policy:\n{spec.policy}"
        return types.GetPromptResult(
            description=f"{spec.title} policy",
            messages=[types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))],
        )

    input_schemas = {t.name: t.input_schema for t in tools}
    return Server(
        spec.name,  # the coordinator is built per connection in the lifespan
        get_tool_input_schema=input_schemas.get,  # else HTTP runs tools/list for every call to check headers
        version=spec.version,
        title=spec.title,
        description=spec.description,
        instructions=spec.policy,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_list_resource_templates=list_resource_templates,
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


# ---------------------------------------------------------------- serving from the command line


class ServeError(Exception):
    """A serving option that cannot work (an unknown task, a domain without tasks): one line for people."""


ServeOptions = argparse.Namespace


def serve(spec: DomainSpec, options: ServeOptions, *, root: str | Path | None = None) -> None:
    """Serve ``spec`` as the options say (stdio, or streamable HTTP); :class:`ServeError` if they cannot work."""
    tasks = load_domain_tasks(project_paths(root), spec.name)
    if options.task and not tasks:
        raise ServeError(f"{spec.name} has no stored tasks; run `scaleenv synth {spec.name}` first")
    try:
        server = build_server(spec, tasks=tasks, task_id=options.task, control_path=options.control)
        if options.control:
            claim_socket_path(Path(options.control))
    except (LookupError, ControlError) as exc:
        raise ServeError(str(exc)) from None
    if options.http:
        if options.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: serving on {options.host}, reachable beyond this machine", file=sys.stderr)
        serve_http(server, host=options.host, port=options.port)
    else:
        anyio.run(serve_stdio, server)


def serve_main(spec: DomainSpec, argv: Sequence[str] | None = None) -> int:
    """Entry point of a generated ``servers/<domain>`` package (``python -m servers.<domain>``)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m servers.{spec.name}", description=spec.title, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_serve_options(parser)
    options = parser.parse_args(argv)
    try:
        serve(spec, options)
    except ServeError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
