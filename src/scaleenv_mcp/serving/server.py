"""A domain as an MCP server: tools, resources and prompts, all views of the spec.

What a server *is* (its domain, its initial state, how it holds episodes) is a :class:`ServerPlan`,
made by one constructor per :class:`ServerMode` (per connection, shared, bound to one episode);
how it is *served* is :func:`serve_stdio` or :func:`.http.serve_http`. Every tool call goes
through :func:`scaleenv_mcp.runtime.execute`; this module only translates between MCP
messages and the runtime.

State per client: on stdio one process is one session, and the in-memory client runs the
lifespan once per connection, so each connection gets one fresh episode from the initial
snapshot. Over streamable HTTP one process hosts many episodes (:mod:`.http`): a request
acts on the episode whose handle its URL carries, else on a playground (one per MCP session,
or one shared); never on an episode chosen by anything the agent sends in MCP messages.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any, cast

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

from ..engine.bounds import printable
from ..episodes.control import DEFAULT_EPISODE, ControlError, claim_socket_path, serve_control
from ..episodes.coordinator import HOT_STATES, Coordinator, EpisodeError
from ..episodes.service import IDLE_SECONDS, MAX_EPISODES, MAX_PER_CREATOR, EpisodeService
from ..episodes.store import EpisodeStore
from ..errors import ScaleenvError
from ..spec.catalog import load_domain_tasks
from ..spec.model import DomainSpec, ToolSpec
from ..spec.paths import project_paths
from ..spec.task import ANSWER_TOOL, AnswerChannel, TaskSpec, opening_message
from ..tasks.channel import answer_tool
from .options import add_serve_options
from .tool_results import text_content, tool_result, tool_text
from .unreadable import UnreadableLines, serve_answering

__all__ = [
    "CONTROL_TOKEN_ENV",
    "HANDLE_SCOPE_KEY",
    "DomainServer",
    "ServeError",
    "ServeOptions",
    "ServerMode",
    "ServerPlan",
    "add_serve_options",
    "build_server",
    "openai_tools",
    "policy_brief",
    "serve",
    "serve_main",
    "serve_stdio",
    "tool_definitions",
    "tool_result",
    "tool_text",
]

RESOURCE_NOT_FOUND = -32002
"""the MCP specification's error code for a resource URI the server does not have"""

DomainServer = Server[EpisodeService]
"""An MCP server for one domain; its lifespan context holds the episodes it serves."""

logger = logging.getLogger("scaleenv_mcp.server")

HANDLE_SCOPE_KEY = "scaleenv.handle"
"""ASGI scope key where the HTTP layer puts the episode token it took from the URL path or header."""


def _episode_for(service: EpisodeService, request: Any) -> str:
    """Which episode a request acts on: the handle's, else a playground; on stdio, the connection's own."""
    if not isinstance(getattr(request, "scope", None), dict):  # stdio or an in-memory client: one connection, one episode
        if DEFAULT_EPISODE not in service.handles:
            service.coordinator.start(service.default_task, DEFAULT_EPISODE)
            service.adopt(DEFAULT_EPISODE, pinned=True)
        return DEFAULT_EPISODE
    token = _handle_of(request)
    if token is not None:
        episode_id = service.resolve(token)
        if episode_id is None:  # it expired between the HTTP layer's check and this call
            raise MCPError(code=types.INVALID_REQUEST, message="this episode has ended or expired; ask the harness for a new one")
        return episode_id
    try:
        return service.playground(request.headers.get("mcp-session-id") or None)
    except ScaleenvError as exc:  # the reason the control plane gives for the same refusal
        raise MCPError(code=types.INVALID_REQUEST, message=exc.reason) from None


def _handle_of(request: Any) -> str | None:
    scope = getattr(request, "scope", None)
    token = scope.get(HANDLE_SCOPE_KEY) if isinstance(scope, dict) else None
    return token if isinstance(token, str) else None


def _task_of(service: EpisodeService, request: Any, default: TaskSpec | None, bound: str | None) -> TaskSpec | None:
    """The task of the episode a handle names (its instruction is the ``task`` prompt), else the server's."""
    token = _handle_of(request)
    episode_id = service.resolve(token) if token is not None else bound
    episode = service.coordinator.episodes.get(episode_id) if episode_id is not None else None
    return episode.task if episode is not None else default


def tool_definitions(spec: DomainSpec) -> list[types.Tool]:
    """MCP tool definitions (input and output schemas, annotations) for every tool."""
    return [_tool_definition(spec, name, tool) for name, tool in spec.tools.items()]


def openai_tools(spec: DomainSpec, task: TaskSpec | None = None) -> list[dict[str, Any]]:
    """The tools in OpenAI's function-calling form: what a chat-completions model is offered; with a
    task that asks a question, its answer tool too (the typed answer channel)."""
    extra = answer_tool(task)
    listed = [*tool_definitions(spec), *([_answer_tool(extra)] if extra is not None else [])]
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description or "", "parameters": t.input_schema}}
        for t in listed
    ]


def policy_brief(spec: DomainSpec) -> str:
    """The system-style brief every agent gets (the MCP ``policy`` prompt): what the service is, its rules."""
    return f"{spec.description}\n\nFollow this policy:\n{spec.policy}"


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


def _answer_tool(tool: dict[str, Any]) -> types.Tool:
    """A task episode's answer tool, as MCP lists it (no output schema: it only acknowledges)."""
    return types.Tool(
        name=tool["name"],
        title="Submit answer",
        description=tool["description"],
        input_schema=tool["input_schema"],
        annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False),
    )


class ServerMode(Enum):
    """How a domain's MCP server holds its episodes; :class:`ServerPlan` has one constructor per mode."""

    PER_CONNECTION = "per_connection"
    """each connection (stdio, an in-memory client) gets its own episodes, the server's task started;
    a harness may reach them on a control socket"""
    SHARED = "shared"
    """every connection shares one :class:`EpisodeService` (HTTP): a request acts on its handle's
    episode, else on a playground; idle episodes are reaped"""
    BOUND_EPISODE = "bound_episode"
    """every request without a handle acts on one episode of a shared service: an in-process harness
    runs an episode this way, with no server process, socket or per-episode seeding; it ends them itself"""


async def _reap_forever(episodes: EpisodeService, every: float) -> None:
    """Reap idle episodes every ``every`` s; ended episodes' memory goes back within a second."""
    last = anyio.current_time()
    while True:
        await anyio.sleep(min(1.0, every))
        if anyio.current_time() - last >= every:
            episodes.reap()
            last = anyio.current_time()
        episodes.release_memory()


@dataclass(frozen=True, eq=False)
class ServerPlan:
    """What an MCP server for one domain serves and in which :class:`ServerMode`; :meth:`build` makes it.

    Made by one constructor per mode (:meth:`per_connection`, :meth:`shared`, :meth:`bound_episode`),
    so no combination of options means something else by accident. Whatever the mode, the agent's
    MCP surface never shows checks, solutions or rewards."""

    spec: DomainSpec
    mode: ServerMode
    template: Coordinator
    """per connection: copied for each connection; shared and bound: the service's own coordinator"""
    service: EpisodeService | None = None
    task: TaskSpec | None = None
    """the server's task: its instruction is the ``task`` prompt of episodes without a handle"""
    episode: str | None = None
    control_path: str | Path | None = None
    control_token: str | None = None
    reap_every: float | None = None
    answer_channel: AnswerChannel = "typed"
    idle_seconds: float = IDLE_SECONDS
    max_episodes: int = MAX_EPISODES
    """per connection: live episodes a connection's service holds at most (those made on the control socket)"""
    max_per_creator: int = MAX_PER_CREATOR

    @classmethod
    def per_connection(
        cls,
        spec: DomainSpec,
        *,
        tasks: Sequence[TaskSpec] = (),
        task_id: str | None = None,
        initial: bytes | None = None,
        control_path: str | Path | None = None,
        control_token: str | None = None,
        answer_channel: AnswerChannel = "typed",
        idle_seconds: float = IDLE_SECONDS,
        reap_every: float | None = 30.0,
        max_episodes: int = MAX_EPISODES,
        max_per_creator: int = MAX_PER_CREATOR,
    ) -> ServerPlan:
        """Each connection its own episodes (stdio, in-memory clients), on the domain's seeded state
        or ``task_id``'s initial state. With ``control_path`` the harness verifies (and creates)
        episodes over a Unix socket; those are reaped every ``reap_every`` s after ``idle_seconds``
        without a call, the session's own episode never, and count against ``max_episodes`` and
        ``max_per_creator`` as they do over HTTP."""
        template = Coordinator(spec, tasks, initial=initial)  # seeds once (unless given the image) and checks the tasks
        task = template.request(task_id, channel=answer_channel).task  # the check every create request gets
        return cls(
            spec, ServerMode.PER_CONNECTION, template, task=task, control_path=control_path, control_token=control_token,
            reap_every=reap_every, answer_channel=answer_channel, idle_seconds=idle_seconds, max_episodes=max_episodes,
            max_per_creator=max_per_creator,
        )  # fmt: skip

    @classmethod
    def shared(cls, service: EpisodeService, *, task_id: str | None = None, reap_every: float | None = 30.0) -> ServerPlan:
        """All connections share ``service`` (HTTP); idle episodes are reaped every ``reap_every`` s (never with None)."""
        coordinator = service.coordinator
        task = coordinator.request(task_id).task
        return cls(coordinator.spec, ServerMode.SHARED, coordinator, service, task=task, reap_every=reap_every)

    @classmethod
    def bound_episode(cls, service: EpisodeService, episode: str) -> ServerPlan:
        """Every request without a handle acts on ``episode`` of ``service`` (never reaped here)."""
        service.episode_id(episode)  # an unknown episode: EpisodeError now, not on the first call
        coordinator = service.coordinator
        return cls(coordinator.spec, ServerMode.BOUND_EPISODE, coordinator, service, episode=episode)

    @asynccontextmanager
    async def _episodes(self, _: Server[EpisodeService]) -> AsyncIterator[EpisodeService]:
        """The server's lifespan: the service its requests act on, for as long as it runs."""
        own = self.service is None
        task_id = self.task.id if self.task is not None else None
        episodes = self.service or EpisodeService(
            self.template.fresh(), default_task=task_id, idle_seconds=self.idle_seconds, max_episodes=self.max_episodes,
            max_per_creator=self.max_per_creator,
        )
        if own and task_id is not None:  # the task's episode exists before the first call
            episodes.coordinator.start(task_id, DEFAULT_EPISODE, channel=self.answer_channel)
            episodes.adopt(DEFAULT_EPISODE, pinned=True)
        reaps = self.mode is ServerMode.SHARED or self.control_path is not None  # the control socket creates episodes too
        async with anyio.create_task_group() as tg:
            if self.control_path is not None:
                await tg.start(partial(serve_control, self.control_path, episodes, token=self.control_token))
            if self.reap_every is not None and reaps:
                tg.start_soon(_reap_forever, episodes, self.reap_every)
            try:
                yield episodes
            finally:
                tg.cancel_scope.cancel()
                if own:
                    episodes.close()

    def build(self) -> DomainServer:
        """The MCP server (tools, resources, prompts) this plan describes."""
        return _domain_server(self.spec, self.task, self.episode, self._episodes)


def build_server(
    spec: DomainSpec,
    *,
    tasks: list[TaskSpec] | None = None,
    task_id: str | None = None,
    control_path: str | Path | None = None,
    control_token: str | None = None,
    initial: bytes | None = None,
    service: EpisodeService | None = None,
    episode: str | None = None,
    reap_every: float | None = 30.0,
    answer_channel: AnswerChannel = "typed",
    idle_seconds: float = IDLE_SECONDS,
) -> DomainServer:
    """An MCP server for one domain: a thin wrapper over :class:`ServerPlan`, kept because generated
    ``servers/<domain>`` packages call ``build_server(spec)``; the mode follows from the options
    (no ``service``: per connection; a ``service``: shared; with an ``episode`` too: bound to it).
    New code names the mode: ``ServerPlan.per_connection(spec, ...).build()``."""
    if service is None:
        return ServerPlan.per_connection(
            spec, tasks=tasks or (), task_id=task_id, initial=initial, control_path=control_path, control_token=control_token,
            answer_channel=answer_channel, idle_seconds=idle_seconds, reap_every=reap_every,
        ).build()  # fmt: skip
    if control_path is not None:
        raise ValueError("a control socket belongs to a server with its own episodes; a shared service has its control plane")
    if episode is not None:
        return ServerPlan.bound_episode(service, episode).build()
    return ServerPlan.shared(service, task_id=task_id, reap_every=reap_every).build()


def _domain_server(
    spec: DomainSpec,
    task: TaskSpec | None,
    episode: str | None,
    lifespan: Callable[[Server[EpisodeService]], AbstractAsyncContextManager[EpisodeService]],
) -> DomainServer:
    """The MCP handlers over a domain's episodes, whatever holds them (``lifespan`` yields the service);
    with ``episode``, requests without a handle act on that one."""
    tools = tool_definitions(spec)
    schema_uri = f"scaleenv://{spec.name}/schema"
    policy_uri = f"scaleenv://{spec.name}/policy"
    schema_doc = {
        "domain": spec.name,
        "title": spec.title,
        "description": spec.description,
        "entities": {name: {"description": e.description, "schema": e.json_schema()} for name, e in spec.entities.items()},
    }

    def episode_of(service: EpisodeService, request: Any) -> str:
        return episode if episode is not None and not _handle_of(request) else _episode_for(service, request)

    async def list_tools(
        ctx: ServerRequestContext[EpisodeService, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        service = ctx.lifespan_context
        try:
            extra = service.coordinator.episode(episode_of(service, ctx.request)).answer_tool
        except EpisodeError:
            extra = None
        return types.ListToolsResult(tools=tools if extra is None else [*tools, _answer_tool(extra)])

    async def call_tool(
        ctx: ServerRequestContext[EpisodeService, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        service = ctx.lifespan_context
        episode_id = episode_of(service, ctx.request)
        try:
            result = service.call(episode_id, params.name, params.arguments or {})
        except EpisodeError as exc:  # reaped or deleted by the harness mid-request
            raise MCPError(code=types.INVALID_REQUEST, message=exc.reason) from None
        except Exception as exc:  # boundary: a bug in a tool must not kill the server, nor show its internals
            logger.error("tool %s crashed: %s", printable(params.name, 80), type(exc).__name__, exc_info=True)
            return types.CallToolResult(
                content=[text_content({"error": "internal_error", "message": f"the server failed on this call ({type(exc).__name__})"})],
                is_error=True,
            )
        return tool_result(result)

    async def list_resources(
        ctx: ServerRequestContext[EpisodeService, Any], params: types.PaginatedRequestParams | None
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
        ctx: ServerRequestContext[EpisodeService, Any], params: types.ReadResourceRequestParams
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
        ctx: ServerRequestContext[EpisodeService, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])  # every resource has a fixed URI

    async def list_prompts(
        ctx: ServerRequestContext[EpisodeService, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompts = [types.Prompt(name="policy", description=f"The {spec.title} policy, as a system-style brief.")]
        if _task_of(ctx.lifespan_context, ctx.request, task, episode) is not None:
            prompts.append(types.Prompt(name="task", description="What the user wants done in this episode."))
        return types.ListPromptsResult(prompts=prompts)

    async def get_prompt(
        ctx: ServerRequestContext[EpisodeService, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        episode_task = _task_of(ctx.lifespan_context, ctx.request, task, episode)
        if params.name == "task" and episode_task is not None:
            return types.GetPromptResult(
                description="The user's request",
                messages=[
                    types.PromptMessage(
                        role="user", content=types.TextContent(type="text", text=opening_message(episode_task))
                    )
                ],
            )
        if params.name != "policy":
            available = "policy, task" if episode_task is not None else "policy"
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown prompt {params.name!r}; available: {available}")
        text = policy_brief(spec)
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
    """Serve one client on stdin/stdout (logs go to stderr); every request gets a reply, those the
    SDK's parser refuses included (:mod:`.unreadable`)."""
    from mcp.server.stdio import stdio_server

    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")  # as the SDK reads it
    lines = UnreadableLines(anyio.wrap_file(stdin))
    try:
        async with stdio_server(stdin=cast("anyio.AsyncFile[str]", lines)) as (read_stream, write_stream):

            async def run(messages: MemoryObjectReceiveStream[SessionMessage | Exception]) -> None:
                await server.run(messages, write_stream, server.create_initialization_options())

            await serve_answering(lines, read_stream, write_stream, run)
    finally:
        stdin.detach()  # sys.stdin's buffer is not ours to close


# ---------------------------------------------------------------- serving from the command line


class ServeError(ScaleenvError):
    """A serving option that cannot work (an unknown task, a domain without tasks): one line for people."""

    default_status = 400


ServeOptions = argparse.Namespace


CONTROL_TOKEN_ENV = "SCALEENV_CONTROL_TOKEN"
"""Environment variable holding the control-plane token (kept off the command line, where `ps` shows it)."""


def serve(spec: DomainSpec, options: ServeOptions, *, root: str | Path | None = None) -> None:
    """Serve ``spec`` as the options say (stdio, or streamable HTTP); :class:`ServeError` if they cannot work."""
    tasks = load_domain_tasks(project_paths(root), spec.name)
    if options.task and not tasks:
        raise ServeError(f"{spec.name} has no stored tasks; run `scaleenv synth {spec.name}` first")
    token = os.environ.get(CONTROL_TOKEN_ENV) or None
    if token is not None and len(token) < 16:
        raise ServeError(f"{CONTROL_TOKEN_ENV} is {len(token)} characters; use at least 16 (e.g. `openssl rand -hex 16`)")
    if options.nemo_gym and not options.http:
        raise ServeError("--nemo-gym is an HTTP protocol: add --http")
    state_dir = getattr(options, "state_dir", None)
    if state_dir and not options.http:
        raise ServeError("--state-dir keeps the episodes of an HTTP server: add --http")
    if not options.http:
        try:
            server = ServerPlan.per_connection(
                spec, tasks=tasks, task_id=options.task, control_path=options.control, control_token=token,
                answer_channel=getattr(options, "answer_channel", "typed"),
                idle_seconds=options.idle_seconds, reap_every=min(30.0, options.idle_seconds / 2),
                max_episodes=options.max_episodes, max_per_creator=options.max_per_creator,
            ).build()  # fmt: skip
            if options.control:
                claim_socket_path(Path(options.control))
        except (LookupError, ControlError) as exc:
            raise ServeError(str(exc)) from None
        anyio.run(serve_stdio, server)
        return
    from .http import LOOPBACK, http_app, serve_http

    if options.control:
        raise ServeError("--control is the stdio session's socket; over HTTP the control plane is /control on the same port")

    if options.host not in LOOPBACK and token is None:
        raise ServeError(f"serving on {options.host} reaches beyond this machine: set {CONTROL_TOKEN_ENV} to a secret first")
    try:
        coordinator = Coordinator(spec, tasks, hot_states=options.awake_states or HOT_STATES)
        store = EpisodeStore(state_dir) if state_dir else None
        service = EpisodeService(
            coordinator, default_task=options.task, idle_seconds=options.idle_seconds,
            max_episodes=options.max_episodes, max_per_creator=options.max_per_creator, store=store,
        )  # fmt: skip
        plan = ServerPlan.shared(service, task_id=options.task, reap_every=min(30.0, options.idle_seconds / 2))
        if store is not None:
            print(f"{len(service.reload())} episodes back from {store.path}", file=sys.stderr)
            if store.damaged:  # the others serve; these stay on disk as they are, for an operator to look at
                named = "; ".join(f"{episode}: {why}" for episode, why in list(store.damaged.items())[:10])
                more = f" (and {len(store.damaged) - 10} more)" if len(store.damaged) > 10 else ""
                print(f"{len(store.damaged)} could not be read back and stay on disk untouched: {named}{more}", file=sys.stderr)
        server = plan.build()
    except (LookupError, ValueError) as exc:
        raise ServeError(str(exc)) from None
    if token is None:
        token = secrets.token_urlsafe(24)
        print(f"control token (set {CONTROL_TOKEN_ENV} to choose it): {token}", file=sys.stderr)
    if options.host not in LOOPBACK and not options.allowed_host:
        print(f"warning: serving on {options.host} without --allowed-host: the Host header is not checked", file=sys.stderr)
    pool = None
    if options.workers > 1:
        from .workers import WorkerPool

        limits = ["--idle-seconds", str(options.idle_seconds), "--max-episodes", str(options.max_episodes),
                  "--max-per-creator", str(options.max_per_creator)]  # fmt: skip
        if options.awake_states:
            limits += ["--awake-states", str(options.awake_states)]
        for allowed in options.allowed_host or ():
            limits += ["--allowed-host", allowed]
        serve_args = ["--root", str(project_paths(root).root), "serve", spec.name, *(["--task", options.task] if options.task else []), *limits]
        try:
            pool = WorkerPool.start(options.workers - 1, serve_args, host=options.host, token=token, state_dir=state_dir or None)
        except RuntimeError as exc:
            raise ServeError(str(exc)) from None
    extra = []
    if options.nemo_gym:
        from .gym import gym_routes

        try:
            extra = gym_routes(
                service, None if options.host in LOOPBACK else token, {*spec.tools, ANSWER_TOOL},  # a question's answer tool
                grace_seconds=options.gym_grace_seconds,
            )
        except ValueError as exc:
            raise ServeError(str(exc)) from None
    app = http_app(
        server, service, control_token=token, host=options.host, allowed_hosts=options.allowed_host or (), workers=pool,
        extra_routes=extra,
    )  # fmt: skip
    try:
        serve_http(app, name=spec.name, host=options.host, port=options.port)
    finally:
        if pool is not None:
            pool.stop()


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
