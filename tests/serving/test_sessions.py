"""Bounded MCP sessions, in process: a flood of ``initialize`` without a handle stops at the
playground's cap and locks no episode client out; sessions expire, and ending one ends its
playground episode."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx

from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import PLAYGROUND, EpisodeService
from scaleenv_mcp.serving.http import SESSIONS_PER_EPISODE, http_app
from scaleenv_mcp.serving.server import build_server
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
REVISION = "2025-06-18"
INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"protocolVersion": REVISION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).encode()  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class App:
    http: httpx.AsyncClient
    service: EpisodeService
    asgi: Any
    clock: Clock

    def sdk_sessions(self) -> int:
        """How many sessions the MCP SDK's own table holds."""
        return len(self.asgi.app.state.session_manager._server_instances) if hasattr(self.asgi.app.state, "session_manager") else -1


@asynccontextmanager
async def serving(**limits: Any) -> AsyncIterator[App]:
    spec = shipped_spec("retail")
    clock = Clock()
    service = EpisodeService(Coordinator(spec, load_domain_tasks(PATHS, "retail")), clock=clock, **limits)
    server = build_server(spec, service=service, reap_every=None)
    asgi = http_app(server, service, control_token="t" * 24)
    starlette = asgi.app  # type: ignore[attr-defined]
    starlette.state.session_manager = server._session_manager  # type: ignore[attr-defined]  # to count what the SDK holds
    transport = httpx.ASGITransport(app=asgi)
    async with starlette.router.lifespan_context(starlette), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield App(http, service, asgi, clock)


async def raw_initialize(asgi: Any) -> int:
    """One ``initialize`` straight into the ASGI app (a flood of 10,000 through httpx would take seconds); its status."""
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await anyio.sleep_forever()
        sent = True
        return {"type": "http.request", "body": INIT, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    headers = [(b"host", b"127.0.0.1:8000"), *((k.encode(), v.encode()) for k, v in ACCEPT.items())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/mcp",
             "raw_path": b"/mcp", "query_string": b"", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    with anyio.fail_after(5):
        await asgi(scope, receive, send)
    return status


async def session_client(http: httpx.AsyncClient, path: str) -> tuple[str, str]:
    """initialize, initialized, one tools/call on ``path``: (session id, the call's text)."""
    reply = await http.post(path, content=INIT, headers=ACCEPT)
    assert reply.status_code == 200, reply.text
    session = {"mcp-session-id": reply.headers["mcp-session-id"], "mcp-protocol-version": REVISION}
    await http.post(path, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers={**ACCEPT, **session})
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "find_customer_by_email", "arguments": {"email": "a@b.c"}}}
    reply = await http.post(path, json=call, headers={**ACCEPT, **session})
    assert reply.status_code == 200, reply.text
    body = reply.text
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        body = next(line[5:] for line in body.splitlines() if line.startswith("data:"))
    return session["mcp-session-id"], str(json.loads(body)["result"]["content"][0]["text"])


async def test_ten_thousand_initializes_lock_no_episode_client_out() -> None:
    async with serving(max_per_creator=100, max_episodes=1_000) as app:
        statuses = [await raw_initialize(app.asgi) for _ in range(10_000)]
        assert statuses.count(200) == 100 and statuses.count(429) == 9_900
        assert app.sdk_sessions() == 100 and len(app.asgi.sessions.table) == 100  # what the SDK holds, and our account of it
        handles = [app.service.create() for _ in range(20)]
        results = await _gather([session_client(app.http, f"/episodes/{h.token}/mcp") for h in handles])
        assert all(text.startswith("not_found") for _, text in results)  # each reached its own episode's tools
        assert [len(app.service.coordinator.episode(h.episode).calls) for h in handles] == [1] * 20


async def test_an_episode_keeps_a_few_sessions_and_the_newest_always_opens() -> None:
    async with serving() as app:
        handle = app.service.create()
        opened = []
        for _ in range(SESSIONS_PER_EPISODE + 3):
            app.clock.now += 1
            opened.append((await session_client(app.http, f"/episodes/{handle.token}/mcp"))[0])
        assert app.sdk_sessions() == SESSIONS_PER_EPISODE
        oldest = await app.http.post(f"/episodes/{handle.token}/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"},
                                     headers={**ACCEPT, "mcp-session-id": opened[0], "mcp-protocol-version": REVISION})  # fmt: skip
        assert oldest.status_code == 404  # closed to make room, as the SDK answers an ended session


async def test_sessions_expire_and_ending_one_ends_its_playground() -> None:
    async with serving(max_per_creator=2, idle_seconds=60) as app:
        first, _ = await session_client(app.http, "/mcp")
        assert f"{PLAYGROUND}:{first}" in app.service.handles
        gone = await app.http.delete("/mcp", headers={**ACCEPT, "mcp-session-id": first, "mcp-protocol-version": REVISION})
        assert gone.status_code == 200 and f"{PLAYGROUND}:{first}" not in app.service.handles
        both = [(await session_client(app.http, "/mcp"))[0] for _ in range(2)]
        assert (await app.http.post("/mcp", content=INIT, headers=ACCEPT)).status_code == 429
        app.clock.now += 61  # both idle past --idle-seconds: closed, and their playgrounds ended
        third, _ = await session_client(app.http, "/mcp")
        assert app.sdk_sessions() == 1 and not any(f"{PLAYGROUND}:{s}" in app.service.handles for s in both)
        assert f"{PLAYGROUND}:{third}" in app.service.handles


async def _gather(jobs: list[Any]) -> list[Any]:
    out: list[Any] = [None] * len(jobs)

    async def run(i: int, job: Any) -> None:
        out[i] = await job

    async with anyio.create_task_group() as tg:
        for i, job in enumerate(jobs):
            tg.start_soon(run, i, job)
    return out
