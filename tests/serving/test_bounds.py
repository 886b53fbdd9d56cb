"""Bounds on every transport, in process: a lone surrogate is a tool error over HTTP (both MCP
revisions) and NeMo Gym as it is in ``execute``; a new playground at the cap is a 429."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import httpx
import pytest
from mcp import Client

from scaleenv_mcp.episodes.control import DEFAULT_EPISODE, ControlClient
from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.serving.gym import COOKIE, gym_routes
from scaleenv_mcp.serving.http import MAX_MCP_BODY, http_app
from scaleenv_mcp.serving.server import build_server
from scaleenv_mcp.serving.unreadable import unreadable_request_reply
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, ROOT, shipped_spec

MODERN = "2026-07-28"
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
SURROGATE_CALL = '{"name": "find_customer_by_email", "arguments": {"email": "ann\\ud800@x.org"}}'


@dataclass
class App:
    http: httpx.AsyncClient
    service: EpisodeService


@asynccontextmanager
async def serving() -> AsyncIterator[App]:
    """The HTTP app in process, its lifespan entered (a fixture would leave it in another task)."""
    spec = shipped_spec("retail")
    service = EpisodeService(Coordinator(spec, load_domain_tasks(PATHS, "retail")), max_episodes=3)
    server = build_server(spec, service=service, reap_every=None)
    asgi = http_app(server, service, control_token="t" * 24, extra_routes=gym_routes(service, None, set(spec.tools)))
    starlette = asgi.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=asgi)
    async with starlette.router.lifespan_context(starlette), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield App(http, service)


def tool_error_text(reply: httpx.Response) -> str:
    """The first text of a tools/call result, from a JSON or an SSE reply."""
    body = reply.text
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        body = next(line[5:] for line in body.splitlines() if line.startswith("data:"))
    result = json.loads(body)["result"]
    assert result["isError"] is True, result
    return str(result["content"][0]["text"])


def expected_text() -> str:
    return "invalid_arguments: email: text that is not valid Unicode (a lone surrogate \\ud800 at character 3)"


async def test_a_lone_surrogate_is_a_tool_error_on_the_2026_revision() -> None:
    async with serving() as app:
        handle = app.service.create()
        meta = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        }
        call = json.loads(SURROGATE_CALL)
        body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"_meta": meta, **call}})  # escapes \ud800
        headers = {**ACCEPT, "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "find_customer_by_email"}
        reply = await app.http.post(f"/episodes/{handle.token}/mcp", content=body, headers=headers)
        assert reply.status_code == 200 and tool_error_text(reply) == expected_text()
        calls = app.service.coordinator.episode(handle.episode).calls
        assert calls[-1].arguments == {"email": "ann\\ud800@x.org"}  # logged encodable


async def test_a_lone_surrogate_is_a_tool_error_on_the_session_revision() -> None:
    async with serving() as app:
        handle = app.service.create()
        url = f"/episodes/{handle.token}/mcp"
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
        reply = await app.http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}, headers=ACCEPT)
        session = {"mcp-session-id": reply.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        await app.http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers={**ACCEPT, **session})
        body = '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": ' + SURROGATE_CALL + "}"
        reply = await app.http.post(url, content=body, headers={**ACCEPT, **session})
        assert reply.status_code == 200 and reply.json()["id"] == 2 and tool_error_text(reply) == expected_text()
        # the session goes on: an ordinary call next is answered by the SDK as before
        fine = '{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "find_customer_by_email", "arguments": {"email": "a@b.c"}}}'
        assert tool_error_text(await app.http.post(url, content=fine, headers={**ACCEPT, **session})).startswith("not_found")


async def test_what_the_sdk_cannot_parse_gets_the_reply_every_other_path_gives_on_the_session_revision() -> None:
    """pydantic refuses arguments nested past its depth, params that are not an object and numbers
    too long to read, with a 400 that carries its own text; the client gets our reply instead."""
    async with serving() as app:
        handle = app.service.create()
        url = f"/episodes/{handle.token}/mcp"
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
        reply = await app.http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}, headers=ACCEPT)
        headers = {**ACCEPT, "mcp-session-id": reply.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        await app.http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)

        def call(request_id: int, arguments: str) -> str:
            return f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", "params": {{"name": "get_order", "arguments": {arguments}}}}}'

        deep = await app.http.post(url, content=call(2, '{"order_id": ' + "[" * 300 + "]" * 300 + "}"), headers=headers)
        assert deep.status_code == 200 and deep.json()["id"] == 2
        assert tool_error_text(deep) == "invalid_arguments: order_id[0][0][0][0][0][0][0]: nested more than 8 levels deep"
        deeper = await app.http.post(url, content=call(7, '{"order_id": ' + "[" * 100_000 + "]" * 100_000 + "}"), headers=headers)
        assert deeper.status_code == 200 and deeper.json()["id"] == 7  # past Python's own reader too: still its id
        assert tool_error_text(deeper) == "invalid_arguments: nested deeper than this server reads"
        long = await app.http.post(url, content=call(3, '{"order_id": ' + "9" * 5000 + "}"), headers=headers)
        assert long.status_code == 200 and tool_error_text(long) == "invalid_arguments: a number of 5,000 digits: at most 4,300 are read"
        listed = await app.http.post(url, content='{"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": [1]}', headers=headers)
        assert listed.status_code == 200
        assert listed.json() == {"jsonrpc": "2.0", "id": 4, "error": {"code": -32602, "message": "invalid params: params must be an object"}}
        garbage = await app.http.post(url, content="{not json", headers=headers)
        assert garbage.status_code == 400 and garbage.json()["id"] is None
        assert garbage.json()["error"]["message"] == "parse error: not JSON this server can read"
        # the SDK's own refusals of readable requests stand: no session is not a parse failure
        unsessioned = await app.http.post(url, content=call(5, '{"order_id": "ORD-0001"}'), headers=ACCEPT)
        assert unsessioned.status_code == 400 and "params" not in unsessioned.text
        fine = await app.http.post(url, content=call(6, '{"order_id": "nope"}'), headers=headers)
        assert tool_error_text(fine).startswith("not_found")
        assert [c.tool for c in app.service.coordinator.episode(handle.episode).calls] == ["get_order"]  # only the readable call ran


async def test_a_lone_surrogate_on_the_nemo_gym_route_is_a_400_tool_error() -> None:
    async with serving() as app:
        task = next(iter(app.service.coordinator.tasks))
        seeded = await app.http.post("/seed_session", json={"task_id": task})
        assert seeded.status_code == 200
        arguments = json.loads(SURROGATE_CALL)["arguments"]
        reply = await app.http.post(
            "/find_customer_by_email", content=json.dumps(arguments), cookies={COOKIE: seeded.cookies[COOKIE]}, headers=ACCEPT
        )
        assert reply.status_code == 400 and reply.text.startswith(expected_text())


async def test_an_mcp_body_past_the_cap_is_a_413_before_any_parsing() -> None:
    async with serving() as app:
        handle = app.service.create()
        passengers = [{"first_name": f"A{i}", "last_name": "B", "date_of_birth": "1990-01-01"} for i in range(40_000)]
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_customer", "arguments": {"p": passengers}}}
        reply = await app.http.post(f"/episodes/{handle.token}/mcp", json=call, headers=ACCEPT)
        assert reply.status_code == 413 and reply.json()["error"].startswith(f"request body over {MAX_MCP_BODY:,} bytes")
        assert app.service.coordinator.episode(handle.episode).calls == []


async def test_a_new_playground_at_the_cap_gets_429_like_a_create() -> None:
    async with serving() as app:
        for _ in range(3):
            app.service.create()
        reply = await app.http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=ACCEPT)
        assert reply.status_code == 429 and "too many episodes" in reply.json()["error"]
        create = await app.http.post("/control/episodes", json={}, headers={"authorization": "Bearer " + "t" * 24})
        assert create.status_code == 429 and create.json()["error"] == reply.json()["error"]



async def test_sessions_without_a_token_never_take_every_slot_from_the_harness() -> None:
    """At ``max_episodes`` 3 the playground holds at most 1 (half, rounded down): a session past it
    gets 429, and the harness still makes its episodes (five playground sessions once took all five)."""
    async with serving() as app:
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
        opening = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}
        first = await app.http.post("/mcp", json=opening, headers=ACCEPT)
        assert first.status_code == 200 and first.headers["mcp-session-id"]
        second = await app.http.post("/mcp", json=opening, headers=ACCEPT)
        assert second.status_code == 429 and "the cap is 1" in second.json()["error"]
        auth = {"authorization": "Bearer " + "t" * 24}
        made = [await app.http.post("/control/episodes", json={}, headers=auth) for _ in range(3)]
        assert [m.status_code for m in made] == [201, 201, 201]  # the session has made no episode yet: all 3 are the harness's


@pytest.mark.e2e
def test_every_line_the_sdk_cannot_read_over_stdio_gets_a_reply_and_the_session_goes_on() -> None:
    """The SDK's stdio parser drops a line it cannot read unanswered (a lone surrogate, arguments
    nested past pydantic's depth, params that are not an object, a batch, a fractional id): the
    server must answer each, and the client must not wait for ever."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail"], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
    lines = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": ' + SURROGATE_CALL + "}",
        '{"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": "\\udc00"}}',
        '{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "get_order", "arguments": {"order_id": '
        + "[" * 300 + "]" * 300 + "}}}",
        '{"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": [1]}',
        "[" + json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}) + "]",
        '{"jsonrpc": "2.0", "id": 1.5, "method": "prompts/get", "params": {"name": "\\udc00"}}',
        json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "find_customer_by_email", "arguments": {"email": "a@b.c"}}}),
    ]
    try:
        proc.stdin.write("".join(line + "\n" for line in lines).encode())
        proc.stdin.flush()
        replies = [json.loads(line) for line in read_lines(proc.stdout, 8, timeout=30)]
    finally:
        proc.stdin.close()
        proc.wait(timeout=20)
    by_id = {reply["id"]: reply for reply in replies if reply["id"] is not None}
    assert by_id[2]["result"]["content"][0]["text"] == expected_text()
    assert by_id[3]["error"]["code"] == -32602 and "not valid Unicode" in by_id[3]["error"]["message"]
    assert by_id[5]["result"]["content"][0]["text"] == "invalid_arguments: order_id[0][0][0][0][0][0][0]: nested more than 8 levels deep"
    assert by_id[6]["error"] == {"code": -32602, "message": "invalid params: params must be an object"}
    unnamed = [reply["error"]["message"] for reply in replies if reply["id"] is None]  # a batch, an id of another type
    assert unnamed == ["invalid request: one JSON-RPC message at a time (batches are not supported)",
                       "invalid request: the id must be a whole number or a string"]  # fmt: skip
    assert by_id[4]["result"]["content"][0]["text"].startswith("not_found")  # and the session goes on


def read_lines(stream: IO[bytes], count: int, *, timeout: float) -> list[bytes]:
    """``count`` lines from a pipe, failing (not hanging) when they do not all come in time."""
    deadline, data = time.monotonic() + timeout, b""
    while data.count(b"\n") < count:
        left = deadline - time.monotonic()
        assert left > 0 and select.select([stream], [], [], left)[0], f"only {len(data.splitlines())} of {count} replies came"
        chunk = os.read(stream.fileno(), 65536)
        assert chunk, "the server closed its output"
        data += chunk
    return data.splitlines()[:count]


async def test_episodes_made_on_the_stdio_control_socket_expire_but_the_session_s_own_does_not(tmp_path: Path) -> None:
    spec = shipped_spec("retail")
    path = tmp_path / "ctl.sock"
    server = build_server(spec, control_path=path, reap_every=0.1, idle_seconds=0.4)
    async with Client(server) as client:  # the lifespan runs as on stdio: one connection, its own episodes
        await client.call_tool("find_customer_by_email", {"email": "a@b.c"})  # the session's own episode
        control = ControlClient(path)
        made = await control.request("create", creator="harness")
        assert {e["episode"] for e in await control.request("list")} == {DEFAULT_EPISODE, made["episode"]}
        with anyio.fail_after(5):
            while made["episode"] in {e["episode"] for e in await control.request("list")}:
                await anyio.sleep(0.1)
        assert [e["episode"] for e in await control.request("list")] == [DEFAULT_EPISODE]
        assert (await control.request("metrics"))["reaped_total"] == 1
        again = await client.call_tool("find_customer_by_email", {"email": "a@b.c"})  # still answered, same episode
        assert again.is_error and (await control.request("calls"))[-1]["tool"] == "find_customer_by_email"
        assert len(await control.request("calls")) == 2


def test_a_message_nested_past_python_s_reader_with_an_unterminated_string_is_read_in_one_pass() -> None:
    """The top level of such a message is scanned without recursing; a string that never ends was
    tried again from each of its quotes (81 KB held the event loop 23 s). Answered with its id."""
    # 20,000 levels: past any recursion limit a library sets (importing jedi sets 3,000)
    text = '{"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": {"a": ' + "[" * 20_000 + '"' + '\\"' * 40_000
    reply = unreadable_request_reply(text)
    assert reply["id"] == 41 and reply["result"]["content"][0]["text"] == "invalid_arguments: nested deeper than this server reads"


async def test_a_create_past_its_deadline_makes_nothing_and_a_deadline_that_is_no_time_is_ignored() -> None:
    async with serving() as app:
        auth = {"authorization": "Bearer " + "t" * 24}
        late = await app.http.post("/control/episodes", json={}, headers={**auth, "scaleenv-create-deadline": "0"})
        assert late.status_code == 503 and "came after its scaleenv-create-deadline" in late.json()["error"]
        assert app.service.metrics()["live_episodes"] == 0
        for odd in ("nan", "inf", "garbage"):
            made = await app.http.post("/control/episodes", json={}, headers={**auth, "scaleenv-create-deadline": odd})
            assert made.status_code == 201, odd
