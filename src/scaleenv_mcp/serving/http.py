"""Streamable HTTP: one process, many episodes behind their own handles, and the harness's control plane.

Routes (all on one port):

- ``/episodes/<token>/mcp`` — the MCP endpoint of one episode. The harness creates the episode on
  the control plane and gives the agent this URL; the token in it is the only way in. The same
  token in an ``X-Scaleenv-Episode`` header on ``/mcp`` works too, for clients whose URL is fixed.
  Behaviour is identical with and without ``initialize`` / ``mcp-session-id`` (both protocol
  revisions), because the episode comes from the URL, never from the MCP session.
- ``/mcp`` without a handle — the playground: one episode per MCP session, or one shared episode
  for clients without a session; every reply is labelled ``Scaleenv-State: playground``.
- ``/control/...`` — the control plane (see :data:`scaleenv_mcp.episodes.control.OPS`), answering
  only requests with ``Authorization: Bearer <control token>``; ``/control/health`` answers anyone.

Binding beyond loopback requires a control token (the server refuses to start otherwise) and then
the playground needs it too, so nothing is reachable from the network without it.

The MCP SDK's session table is kept within the service's limits (:class:`_Sessions`): sessions
without a handle are capped like the playground, those on a handle a few per episode, idle ones
closed. With a durable service (``--state-dir``) every change is on disk before the service method that
made it returns, so before any reply that reports it (see ``episodes/store.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from sse_starlette.sse import AppStatus
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..episodes.control import ControlError, check_token, handle_request
from ..episodes.coordinator import EpisodeError, EpisodeGone, EpisodeUnreachable
from ..episodes.service import PLAYGROUND, EpisodeService, TooManyEpisodes
from ..episodes.store import EpisodeStore
from ..errors import ScaleenvError
from .server import HANDLE_SCOPE_KEY, DomainServer
from .unreadable import refused_unreadable, unreadable_request_reply
from .workers import WorkerPool, split_episode

__all__ = [
    "GRACEFUL_SECONDS", "HANDLE_HEADER", "KEEP_ALIVE_SECONDS", "LOOPBACK", "MAX_MCP_BODY", "REQUEST_SECONDS", "episode_path", "http_app",
    "http_config", "serve_http",
]  # fmt: skip

LOOPBACK = ("127.0.0.1", "localhost", "::1")
HANDLE_HEADER = "x-scaleenv-episode"
"""Header that carries an episode token on ``/mcp`` (the URL path form needs no header)."""

_HANDLE_PATH = re.compile(r"^/episodes/([A-Za-z0-9_-]{16,128})/mcp/?$")
_MAX_CONTROL_BODY = 1 << 20
MAX_MCP_BODY = 1 << 20
"""bytes of one MCP request body; past it a 413 before any parsing. A call's arguments hold at most
100,000 characters and 10,000 values (:mod:`scaleenv_mcp.engine.bounds`), well under this."""
_STEP_OPS = {"verify", "diff", "calls", "snapshot", "restore", "reset"}


def episode_path(token: str) -> str:
    """The MCP endpoint path of the episode a token opens."""
    return f"/episodes/{token}/mcp"


def _reply(result: Any = None, *, error: str | None = None, status: int = 200) -> JSONResponse:
    body = {"ok": False, "error": error} if error is not None else {"ok": True, "result": result}
    return JSONResponse(body, status_code=status)


def _refused(exc: ScaleenvError) -> JSONResponse:
    """A refusal as every control reply gives it: the error's own status, its one-line reason."""
    return _reply(error=exc.reason, status=exc.status)


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else None


def _not_json(constant: str) -> Any:
    """``NaN``, ``Infinity``: Python's reader takes them, JSON has no such numbers, and a reply that
    echoed one could not be written."""
    raise ValueError(f"{constant} is not a JSON number")


async def _json_body(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_CONTROL_BODY:
            raise ControlError(f"request body over {_MAX_CONTROL_BODY:,} bytes", status=413)
    if not body.strip():
        return {}
    try:
        data = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise ControlError(f"request body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise ControlError('a request body is a JSON object, e.g. {"task": "retail-001"}')
    if _deeper_than(data, MAX_BODY_DEPTH):
        raise ControlError(f"request body nested more than {MAX_BODY_DEPTH} levels deep")
    return data


MAX_BODY_DEPTH = 64
"""nesting of a control or NeMo Gym body (a Responses-API transcript with tool schemas nests about a
dozen): a body Python's reader takes can still be too deep for its writer, and the NeMo Gym verify
reply echoes its body (961 levels was a 500)"""


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` deep, found without recursing."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


CREATE_SECONDS = 10.0
"""how long the front waits for a worker to make an episode before making it itself"""
FORWARD_SECONDS = 15.0
"""how long the front waits for a worker to answer a request about one of its episodes (a worker
that stopped answering is seen within about 9 s, and its episodes are then answered 503 at once)"""
DEADLINE_HEADER = "scaleenv-create-deadline"
"""on a create the front forwards: the time (``time.time()``) after which the worker must not make
it, because the front has stopped waiting and made the episode itself"""


def _given_up(request: Request) -> bool:
    """Whether the front forwarded this create and stopped waiting before it arrived (a worker
    that was stopped reads it when it runs again): made now, the episode would have no owner."""
    deadline = request.headers.get(DEADLINE_HEADER)
    try:
        when = float(deadline) if deadline is not None else math.nan
    except ValueError:
        return False
    return math.isfinite(when) and time.time() > when


async def _spread(pool: WorkerPool, service: EpisodeService, request: Request, fields: dict[str, Any]) -> Response | None:
    """Answer a control request that concerns another worker (None: the front answers it itself).

    A dead worker never fails a request that does not need it: a create goes to a live process,
    listing and metrics report it as down beside everyone else's episodes, and a request for one
    of its lost episodes gets 410 with the reason (:class:`EpisodeGone`; 503, :class:`EpisodeUnreachable`,
    while a durable worker restarts)."""
    op = fields["op"]
    rest = {k: v for k, v in fields.items() if k not in ("op", "episode")}
    if op == "create":
        number = pool.pick()
        if number == 0:
            return None
        deadline = {DEADLINE_HEADER: f"{time.time() + CREATE_SECONDS:.3f}"}
        status, reply = await pool.forward(number, "POST", "/episodes", rest, timeout=CREATE_SECONDS, headers=deadline)
        if status == 502:  # died or stuck since the watcher last looked: the front makes it instead
            return None
        if reply.get("ok"):
            made = reply["result"]
            made["episode"] = pool.episode_id(number, made["episode"])
            made["url"] = str(request.url.replace(port=pool.port(number), path=made["path"], query=""))
        return JSONResponse(reply, status_code=status)
    episode = fields.get("episode")
    if isinstance(episode, str):
        number, generation, own = split_episode(episode)
        if number == 0:
            return None
        if number > len(pool.workers):
            raise EpisodeError(f"episode {episode[:80]!r} not found")
        worker = pool.worker(number)
        if generation != worker.generation:
            raise EpisodeGone(f"episode {episode[:80]!r} was lost: {worker.lost}")
        if worker.hung:  # it still holds them
            raise EpisodeUnreachable(
                f"episode {episode[:80]!r} is not reachable now: worker {number} is alive but has not answered since "
                f"{worker.stuck}; try again"
            )
        if not worker.up:  # durable: the same generation comes back
            if pool.state_dir:
                raise EpisodeUnreachable(f"episode {episode[:80]!r} is not reachable now: {worker.lost}")
            raise EpisodeGone(f"episode {episode[:80]!r} is not reachable now: {worker.lost}")
        path = f"/episodes/{own}" if op == "delete" else f"/episodes/{own}/{op}"
        status, reply = await pool.forward(number, request.method, path, rest if request.method == "POST" else None, timeout=FORWARD_SECONDS)
        if status == 502 and worker.proc.poll() is not None and pool.state_dir is None:
            raise EpisodeGone(f"episode {episode[:80]!r} was lost: worker {number} stopped")
        if status == 502:  # restarting (its episodes come back from disk) or slow: the episode is still there
            raise EpisodeUnreachable(f"episode {episode[:80]!r} is not reachable now: worker {number} did not answer; try again")
        return JSONResponse(reply, status_code=status)
    if op not in ("list", "metrics"):
        return None
    local = handle_request(service, fields)
    health = pool.health()
    answers: list[tuple[int, Any]] = []
    for number, worker in enumerate(pool.workers, 1):
        if not worker.up:
            continue
        status, reply = await pool.forward(number, "GET", "/episodes" if op == "list" else "/metrics", params=rest, timeout=2.0)
        if reply.get("ok"):
            answers.append((number, reply["result"]))
        else:
            health[number] = {**health[number], "up": False, "error": str(reply.get("error"))[:200]}
    if op == "list":
        merged = list(local)
        for number, result in answers:
            merged += [{**e, "episode": pool.episode_id(number, e["episode"])} for e in result]
        return JSONResponse({"ok": True, "result": merged, "workers": health})
    processes = [local, *(result for _, result in answers)]
    return _reply({**local, "live_episodes": sum(m["live_episodes"] for m in processes), "processes": processes, "workers": health})


def _control_routes(service: EpisodeService, token: str, pool: WorkerPool | None) -> list[Route]:
    async def run(request: Request, op: str, fields: dict[str, Any] | None = None) -> Response:
        try:
            if op != "health":
                check_token(token, _bearer(request))
            body = await _json_body(request) if request.method in ("POST", "PUT") else {}
            body.pop("op", None)
            asked = {**body, **(fields or {}), "op": op}
            if pool is not None and (spread := await _spread(pool, service, request, asked)) is not None:
                return spread
            if op == "create" and _given_up(request):
                raise EpisodeUnreachable(f"this create came after its {DEADLINE_HEADER}: the one who sent it stopped waiting; nothing was made")
            result = handle_request(service, asked)
        except ScaleenvError as exc:  # every refusal carries its own status: no table here
            return _refused(exc)
        if op == "create":
            result["url"] = str(request.url.replace(path=result["path"], query=""))
        return _reply(result, status=201 if op == "create" else 200)

    async def health(request: Request) -> Response:
        return await run(request, "health")

    async def metrics(request: Request) -> Response:
        return await run(request, "metrics")

    async def episodes(request: Request) -> Response:
        if request.method == "POST":
            return await run(request, "create")
        creator = request.query_params.get("creator")
        return await run(request, "list", {"creator": creator} if creator else None)

    async def one(request: Request) -> Response:
        return await run(request, "delete", {"episode": request.path_params["episode"]})

    async def step(request: Request) -> Response:
        op = request.path_params["op"]
        if op not in _STEP_OPS:
            return _reply(error=f"unknown operation {op[:40]!r}; try {', '.join(sorted(_STEP_OPS))}", status=404)
        return await run(request, op, {"episode": request.path_params["episode"]})

    return [
        Route("/control/health", health, methods=["GET"]),
        Route("/control/metrics", metrics, methods=["GET"]),
        Route("/control/episodes", episodes, methods=["GET", "POST"]),
        Route("/control/episodes/{episode}", one, methods=["DELETE"]),
        Route("/control/episodes/{episode}/{op}", step, methods=["GET", "POST"]),
    ]


SESSIONS_PER_EPISODE = 4
"""MCP sessions one episode handle keeps open; opening one more closes its least recently used
(a client that reconnects without ending its sessions is never locked out of its own episode)"""


@dataclass
class _Session:
    episode: str | None
    """the episode of the handle that opened it; None: a playground session"""
    last_used: float


class _Sessions:
    """Our account of the MCP SDK's session table (each session holds a server task and its
    streams, about 37 KiB): sessions count against the service's limits, so ``initialize``
    requests cannot fill the table and lock out episode clients.

    - A session opened without a handle is a playground session: at most
      :attr:`~.EpisodeService.playground_cap` of them (``max_per_creator``, and never more than half
      of ``max_episodes``), like the playground's episodes; past that a new one gets 429. Ending one
      (the client's DELETE, expiry, eviction) ends its playground episode.
    - A session opened on an episode's handle counts against that episode: at most
      :data:`SESSIONS_PER_EPISODE` each, the least recently used closed to make room. So these are
      bounded by the live episodes, whatever the playground's sessions do.
    - A session unused for ``idle_seconds`` is closed (the SDK is given the same idle timeout).
    """

    def __init__(self, service: EpisodeService) -> None:
        self.service = service
        self.table: OrderedDict[str, _Session] = OrderedDict()  # least recently used first
        self.by_episode: dict[str, list[str]] = {}
        self.playground = 0

    def expired(self) -> list[tuple[str, _Session]]:
        """Forget the sessions idle past ``idle_seconds``: those the caller must close."""
        cutoff = self.service.clock() - self.service.idle_seconds
        out = []
        while self.table:
            session_id, session = next(iter(self.table.items()))
            if session.last_used >= cutoff:
                break
            out.append((session_id, self.forget(session_id) or session))
        return out

    def check_playground(self) -> None:
        cap = self.service.playground_cap
        if self.playground >= cap:
            raise TooManyEpisodes(
                f"too many MCP sessions without an episode handle: {self.playground} open, the cap is {cap}; "
                f"end some (DELETE), or wait for idle ones to expire ({self.service.idle_seconds:g} s)"
            )

    def opened(self, session_id: str, episode: str | None) -> list[tuple[str, _Session]]:
        """Record a new session; returns the ones to close to keep its episode within its share."""
        self.table[session_id] = _Session(episode, self.service.clock())
        if episode is None:
            self.playground += 1
            return []
        mine = self.by_episode.setdefault(episode, [])
        mine.append(session_id)
        out = []
        while len(mine) > SESSIONS_PER_EPISODE:
            oldest = min(mine, key=lambda s: self.table[s].last_used)
            out.append((oldest, self.forget(oldest) or _Session(episode, 0.0)))
        return out

    def used(self, session_id: str) -> None:
        session = self.table.get(session_id)
        if session is not None:
            session.last_used = self.service.clock()
            self.table.move_to_end(session_id)

    def forget(self, session_id: str) -> _Session | None:
        session = self.table.pop(session_id, None)
        if session is None:
            return None
        if session.episode is None:
            self.playground -= 1
        else:
            mine = self.by_episode.get(session.episode, [])
            if session_id in mine:
                mine.remove(session_id)
            if not mine:
                self.by_episode.pop(session.episode, None)
        return session


class _EpisodeRouter:
    """Takes the episode token off the URL (or header) before the MCP SDK sees the request, and
    keeps the SDK's session table within our limits (:class:`_Sessions`)."""

    def __init__(self, app: ASGIApp, service: EpisodeService, playground_token: str | None) -> None:
        self.app = app
        self.service = service
        self.playground_token = playground_token
        self.sessions = _Sessions(service)

    async def _mcp(self, scope: Scope, receive: Receive, send: Send, episode: str | None) -> None:
        """Pass an MCP request on, accounting for the session it opens, uses or ends."""
        headers = Request(scope).headers
        version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:  # the 2026 revision has no sessions
            await self.app(scope, receive, send)
            return
        await self._close(scope, self.sessions.expired())
        session_id = headers.get("mcp-session-id")
        if session_id is not None:
            self.sessions.used(session_id)
            await self.app(scope, receive, send)
            if scope["method"] == "DELETE":
                await self._close(scope, [(session_id, s) for s in [self.sessions.forget(session_id)] if s is not None], sdk=False)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if episode is None:
            try:
                self.sessions.check_playground()
            except ScaleenvError as exc:
                await _refused(exc)(scope, receive, send)
                return
        opened: list[str] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                opened.extend(v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == b"mcp-session-id")
            await send(message)

        await self.app(scope, receive, watch)
        for new in opened[:1]:
            await self._close(scope, self.sessions.opened(new, episode))

    async def _close(self, scope: Scope, sessions: list[tuple[str, _Session]], *, sdk: bool = True) -> None:
        """End sessions we stopped counting: in the SDK (a DELETE, as a client would send) and their playground episode."""
        for session_id, session in sessions:
            if sdk:
                headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() in (b"host", b"origin")]
                request = {**scope, "method": "DELETE", "query_string": b"", "headers": [*headers, (b"mcp-session-id", session_id.encode())]}

                async def nothing() -> Message:
                    return {"type": "http.request", "body": b"", "more_body": False}

                async def discard(message: Message) -> None:
                    return None

                await self.app(request, nothing, discard)
            playground = f"{PLAYGROUND}:{session_id}"
            if session.episode is None and playground in self.service.handles:
                self.service.end(playground)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.service.store is not None and scope["type"] == "lifespan":
            send = _closing(self.service.store, send)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        match = _HANDLE_PATH.match(path)
        token = match.group(1) if match else None
        is_mcp = path.rstrip("/") == "/mcp"
        if token is None and is_mcp:
            token = Request(scope).headers.get(HANDLE_HEADER) or None
        if token is not None:
            episode = self.service.resolve(token)
            if episode is None:
                await _reply(error="no such episode: unknown or expired handle", status=404)(scope, receive, send)
                return
            scope = {**scope, "path": "/mcp", "raw_path": b"/mcp", HANDLE_SCOPE_KEY: token}
            if (screened := await _screened(scope, receive, send)) is not None:
                await self._mcp(scope, screened.receive, _answering(send, screened.body), episode)
            return
        if not is_mcp:
            await self.app(scope, receive, send)
            return
        if self.playground_token is not None:
            try:
                check_token(self.playground_token, _bearer(Request(scope)))
            except ScaleenvError as exc:
                await _reply(error=f"{exc.reason}: this server is reachable beyond loopback", status=exc.status)(scope, receive, send)
                return
        if scope["method"] == "POST":
            try:  # a new playground at the cap: the same 429 as a create
                self.service.check_playground(Request(scope).headers.get("mcp-session-id") or None)
            except ScaleenvError as exc:
                await _refused(exc)(scope, receive, send)
                return
        screened = await _screened(scope, receive, send)
        if screened is None:
            return

        async def labelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"scaleenv-state", b"playground")]}
            await send(message)

        await self._mcp(scope, screened.receive, _answering(labelled, screened.body), None)


def _closing(store: EpisodeStore, send: Send) -> Send:
    """The lifespan's ``send``: at its end, the store's checkpoint finishes and its connections close.
    (Every change is on disk before the service method that made it returned, so before any reply.)"""

    async def closing(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            await store.aclose()
        await send(message)

    return closing


@dataclass(frozen=True)
class _Screened:
    receive: Receive
    """the request's messages again, then the connection's"""
    body: bytes


async def _screened(scope: Scope, receive: Receive, send: Send) -> _Screened | None:
    """Read an MCP POST's body before the SDK does: past :data:`MAX_MCP_BODY` it is a 413 (a
    40,000-item list costs its upload, not a parse: parsing 2.4 MB took 80 ms of the event loop).
    Else the ``receive`` to pass on, with the body (see :func:`_answering`)."""
    if scope["method"] != "POST":
        return _Screened(receive, b"")
    messages: list[Message] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > MAX_MCP_BODY:
            await _reply(error=f"request body over {MAX_MCP_BODY:,} bytes: a tool call's arguments are far smaller", status=413)(
                scope, receive, send
            )
            return None
        if not message.get("more_body", False):
            break
    pending = iter(messages)

    async def replay() -> Message:
        message = next(pending, None)
        return message if message is not None else await receive()

    return _Screened(replay, body)


def _answering(send: Send, body: bytes) -> Send:
    """``send`` for the SDK's reply to a request whose ``body`` it may not be able to read.

    The SDK parses handshake-revision bodies with pydantic and refuses what it cannot read with a
    400 that carries its parser's text: a lone surrogate in a tool argument, arguments nested past
    pydantic's depth, params that are not an object (a multi-line validation error echoing the
    input). Such a refusal is replaced with the reply every other path gives
    (:func:`~scaleenv_mcp.serving.unreadable.unreadable_request_reply`): a tool error, or one line
    with the request's id. Any other reply passes through untouched, and a readable request costs
    no second parse."""
    held: Message | None = None

    async def answering(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and message.get("status") == 400:
            held = message  # kept until its body shows what it is
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        start, held = held, None
        if message.get("more_body", False) or not refused_unreadable(message.get("body", b""), body):
            await send(start)
            await send(message)
            return
        reply = unreadable_request_reply(body)
        status = 400 if reply["id"] is None else 200  # a reply with the request's id answers it; without, the request was not one
        content = json.dumps(reply).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"content-type")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    return answering


def http_app(
    server: DomainServer,
    service: EpisodeService,
    *,
    control_token: str,
    host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] = (),
    workers: WorkerPool | None = None,
    extra_routes: Sequence[Route] = (),
) -> ASGIApp:
    """The ASGI app serving ``server``'s episodes; ``service`` must be the one ``server`` was built with.

    ``extra_routes`` come after the control plane's (the NeMo Gym routes use this)."""
    security: TransportSecuritySettings | None = None
    if allowed_hosts:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=list(allowed_hosts),
            allowed_origins=[f"{scheme}://{h}" for h in allowed_hosts for scheme in ("http", "https")],
        )
    app = server.streamable_http_app(
        host=host, transport_security=security, custom_starlette_routes=[*_control_routes(service, control_token, workers), *extra_routes],
        session_idle_timeout=service.idle_seconds, max_sessions=None,  # bounded by _Sessions, per creator and per episode
    )
    return _EpisodeRouter(app, service, None if host in LOOPBACK else control_token)


REQUEST_SECONDS = 30.0
"""a request's headers and body must arrive within this from their first byte, and a new connection
must start one within it; else the connection is closed (a trickling or silent client holds nothing)"""
KEEP_ALIVE_SECONDS = 65
"""an idle connection between requests is closed after this (uvicorn's keep-alive timeout).

Longer than clients keep an idle connection themselves (httpx, under the MCP SDK's client: 5 s;
aiohttp 15 s) and than a load balancer's idle timeout (60 s on AWS's), so the client always
retires a connection first. At uvicorn's 5 s, a client that thought for about 5 s between two
calls (an agent waiting on its model) could send its next request just as the server closed the
connection, and got a reset: 2 to 35 of 2,000 load clients a run, where none now."""
GRACEFUL_SECONDS = 10.0
"""on SIGTERM, how long requests in flight may take to finish before they are cancelled"""


class _DeadlineH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for receiving each request whole.

    uvicorn times out only an idle kept-alive connection; a fresh connection that sends nothing,
    or sends its headers or body a byte at a time, was held forever. Here the clock starts when a
    connection opens or a request's first byte arrives and stops once the request is whole (the
    response may then take as long as it takes: an SSE stream is a response). On a graceful stop,
    an open event stream (a GET) is ended at once rather than waited for; other requests finish."""

    request_seconds = REQUEST_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._request_deadline: asyncio.TimerHandle | None = None
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete and self.scope["method"] == "GET":
            self.transport.close()  # an event stream never completes by itself; the client reconnects elsewhere
            return
        super().shutdown()

    def _watch(self) -> None:
        receiving = self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing()
        if not receiving:
            self._stop_clock()
        elif self._request_deadline is None and (self.cycle is None or self.cycle.response_complete or self.conn.their_state is h11.SEND_BODY):
            self._request_deadline = self.loop.call_later(self.request_seconds, self._too_slow)

    def _stop_clock(self) -> None:
        if self._request_deadline is not None:
            self._request_deadline.cancel()
            self._request_deadline = None

    def _too_slow(self) -> None:
        self._request_deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            self.transport.close()


class _GracefulServer(uvicorn.Server):
    """uvicorn's server, but a SIGTERM ends in exit status 0 once the graceful stop is done, and
    the calls in flight are answered.

    uvicorn stops accepting, lets requests in flight finish (at most ``timeout_graceful_shutdown``),
    runs the lifespan's shutdown, and then raises the signal again, so the process died of it
    (status 143) even though nothing was lost. A supervisor reads that as a crash.

    The MCP SDK answers a call as a one-event stream (sse-starlette's ``EventSourceResponse``), and
    sse-starlette ends every such stream the moment uvicorn is told to stop: the call was made and
    stored, but its client got a 200 with an empty body (2 to 7 of 150 clients writing at a
    SIGTERM). Its automatic drain is turned off for the process: a call's stream ends with its
    answer, an open event stream (a GET) is closed by :class:`_DeadlineH11`, and anything else by
    uvicorn when the graceful time is up."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]  # sse-starlette has no annotation here

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def http_config(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 8000, request_seconds: float = REQUEST_SECONDS) -> uvicorn.Config:
    """How ``serve --http`` runs ``app``: the deadlines above and a bounded graceful stop."""
    protocol = type("DeadlineH11", (_DeadlineH11,), {"request_seconds": request_seconds})
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", http=protocol, timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=int(GRACEFUL_SECONDS), lifespan="on",
    )  # fmt: skip


def serve_http(app: ASGIApp, *, name: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C; SIGTERM stops gracefully and returns normally."""
    print(
        f"serving {name} on http://{host}:{port}/mcp (playground), episodes at /episodes/<token>/mcp, control at /control",
        file=sys.stderr,
    )
    _GracefulServer(http_config(app, host=host, port=port)).run()
