"""One HTTP server, many episodes: handles, the control plane, the playground, caps and expiry.

Driven as a harness and its agents would: `scaleenv serve retail --http` as a subprocess, the
control plane over plain HTTP, agents through the official MCP client on both protocol revisions.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from scaleenv_mcp.engine.seed import seed_state
from scaleenv_mcp.serving import CONTROL_TOKEN_ENV
from scaleenv_mcp.spec.catalog import load_domain_tasks
from scaleenv_mcp.spec.task import opening_message

from ..conftest import PATHS, ROOT, shipped_spec

pytestmark = pytest.mark.e2e

TOKEN = "test-control-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]

    def control(self, method: str, path: str, body: Any = None, *, token: str | None = TOKEN, raw: bytes | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        return httpx.request(method, f"{self.base}/control{path}", content=content, headers=headers, timeout=20)

    def create(self, **fields: Any) -> dict[str, Any]:
        reply = self.control("POST", "/episodes", fields)
        assert reply.status_code == 201, reply.text
        return dict(reply.json()["result"])


def start(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail", "--http", "--port", str(port), *args],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, CONTROL_TOKEN_ENV: TOKEN, **(env or {})},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/control/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server exited"
            assert time.monotonic() < deadline, "HTTP server did not start"
            time.sleep(0.1)
        yield Server(base, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    yield from start()


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    return dict(result.structured_content)


async def test_forty_clients_on_both_revisions_each_read_back_only_their_own_writes(server: Server) -> None:
    customer = seed_state(shipped_spec("retail")).rows("customer")[0]["id"]
    handles = [server.create(creator="forty") for _ in range(40)]
    seen: dict[int, str] = {}

    async def agent(i: int, path: str) -> None:
        mode = "legacy" if i % 2 else "auto"  # legacy: initialize + mcp-session-id; auto: the stateless revision
        async with Client(f"{server.base}{path}", mode=mode) as client:
            await client.call_tool("update_customer_city", {"customer_id": customer, "city": f"City {i}"})
            await anyio.sleep(0.05)  # let the others write in between
            seen[i] = structured(await client.call_tool("get_customer", {"customer_id": customer}))["city"]

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for i, handle in enumerate(handles):
                tg.start_soon(agent, i, handle["path"])
    assert seen == {i: f"City {i}" for i in range(40)}
    # the harness sees each episode's own change, and the playground saw none of them
    diff = server.control("GET", f"/episodes/{handles[7]['episode']}/diff").json()["result"]
    assert json.dumps(diff).count("City 7") == 1 and "City 8" not in json.dumps(diff)
    async with Client(f"{server.base}/mcp") as playground:
        assert structured(await playground.call_tool("get_customer", {"customer_id": customer}))["city"] == customer_city(customer)
    for handle in handles:
        assert server.control("DELETE", f"/episodes/{handle['episode']}").status_code == 200


def customer_city(customer: str) -> str:
    return str(next(r for r in seed_state(shipped_spec("retail")).rows("customer") if r["id"] == customer)["city"])


async def test_a_task_episode_offers_its_prompt_and_is_verified_on_the_control_plane(server: Server) -> None:
    task = next(t for t in load_domain_tasks(PATHS, "retail") if t.kind == "action")
    handle = server.create(task=task.id)
    episode = f"/episodes/{handle['episode']}"
    async with Client(f"{server.base}{handle['path']}") as agent:
        prompt = await agent.get_prompt("task")
        assert prompt.messages[0].content.text == opening_message(task)  # type: ignore[union-attr]
        assert server.control("POST", f"{episode}/verify", {}).json()["result"]["success"] is False
        snap = server.control("POST", f"{episode}/snapshot", {"name": "start"}).json()["result"]["name"]
        for step in task.solution:
            assert not (await agent.call_tool(step.tool, step.arguments)).is_error
    assert server.control("POST", f"{episode}/verify", {}).json()["result"]["success"] is True
    assert len(server.control("GET", f"{episode}/calls").json()["result"]) == len(task.solution)
    assert server.control("POST", f"{episode}/restore", {"name": snap}).status_code == 200
    assert server.control("POST", f"{episode}/verify", {}).json()["result"]["success"] is False
    assert server.control("POST", f"{episode}/reset").json()["result"] == {"reset": handle["episode"]}
    assert server.control("DELETE", episode).status_code == 200
    assert httpx.post(f"{server.base}{handle['path']}", json={}, timeout=5).status_code == 404  # the handle is gone


async def test_the_handle_header_works_on_the_plain_endpoint(server: Server) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    customer = seed_state(shipped_spec("retail")).rows("customer")[1]["id"]
    handle = server.create()
    http = httpx2.AsyncClient(headers={"x-scaleenv-episode": handle["token"]})
    async with http, Client(streamable_http_client(f"{server.base}/mcp", http_client=http)) as agent:
        await agent.call_tool("update_customer_city", {"customer_id": customer, "city": "Header Town"})
    listing = {e["episode"]: e for e in server.control("GET", "/episodes").json()["result"]}
    assert listing[handle["episode"]]["calls"] == 1
    server.control("DELETE", f"/episodes/{handle['episode']}")


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "status", "message"),
    [
        ("GET", "/episodes", None, None, 401, "missing or wrong control token"),
        ("GET", "/episodes", None, "wrong-token", 401, "missing or wrong control token"),
        ("POST", "/episodes", {"task": "retail-999"}, TOKEN, 404, "unknown task 'retail-999'"),
        ("POST", "/episodes", {"seed": -1}, TOKEN, 400, "'seed' must be a whole number"),
        ("POST", "/episodes", {"seed": True}, TOKEN, 400, "'seed' must be a whole number"),
        ("POST", "/episodes", {"task": "retail-001", "seed": 4}, TOKEN, 400, "a task fixes its initial state"),
        ("POST", "/episodes", {"creator": ["x"]}, TOKEN, 400, "'creator' must be a name"),
        ("POST", "/episodes", b"not json", TOKEN, 400, "not JSON"),
        ("POST", "/episodes", b"[1]", TOKEN, 400, "a request body is a JSON object"),
        ("POST", "/episodes", b"[" * 50_000 + b"]" * 50_000, TOKEN, 400, "not JSON"),
        ("POST", "/episodes", b'{"pad": "' + b"x" * (2 << 20) + b'"}', TOKEN, 413, "request body over"),
        ("POST", "/episodes/ep-nobody/verify", {}, TOKEN, 404, "episode 'ep-nobody' not found"),
        ("DELETE", "/episodes/ep-nobody", None, TOKEN, 404, "episode 'ep-nobody' not found"),
        ("POST", "/episodes/ep-nobody/explode", {}, TOKEN, 404, "unknown operation 'explode'"),
    ],
)
def test_bad_control_requests_get_an_error_reply_and_change_nothing(
    server: Server, method: str, path: str, body: Any, token: str | None, status: int, message: str
) -> None:
    def live() -> list[tuple[str, int]]:
        return [(e["episode"], e["calls"]) for e in server.control("GET", "/episodes").json()["result"]]

    before = live()
    raw = body if isinstance(body, bytes) else None
    reply = server.control(method, path, None if raw is not None else body, token=token, raw=raw)
    assert (reply.status_code, reply.json()["ok"]) == (status, False) and message in reply.json()["error"], reply.text
    assert live() == before
    assert server.control("GET", "/health", token=None).json()["result"]["ok"] is True


def test_verifying_free_play_and_restoring_an_unknown_snapshot_are_refused(server: Server) -> None:
    handle = server.create(seed=11)
    episode = f"/episodes/{handle['episode']}"
    assert server.control("POST", f"{episode}/verify", {}).status_code == 409
    assert server.control("POST", f"{episode}/restore", {"name": "never"}).status_code == 404
    assert server.control("POST", f"{episode}/snapshot", {"name": {"a": 1}}).status_code == 400
    server.control("DELETE", episode)


def test_caps_answer_too_many_episodes_and_idle_episodes_expire() -> None:
    for server in start("--max-per-creator", "2", "--max-episodes", "3", "--idle-seconds", "1"):
        first = [server.create(creator="a") for _ in range(2)]
        capped = server.control("POST", "/episodes", {"creator": "a"})
        assert capped.status_code == 429 and "too many episodes for 'a'" in capped.json()["error"]
        server.create(creator="b")
        full = server.control("POST", "/episodes", {"creator": "c"})
        assert full.status_code == 429 and "the server's cap is 3" in full.json()["error"]
        time.sleep(1.6)  # past the idle time; the reaper runs every 0.5 s here
        metrics = server.control("GET", "/metrics").json()["result"]
        assert metrics["live_episodes"] == 0 and metrics["reaped_total"] == 3
        assert httpx.post(f"{server.base}{first[0]['path']}", json={}, timeout=5).status_code == 404
        server.create(creator="a")  # room again


async def test_episodes_past_the_awake_cap_sleep_between_calls_and_end_as_if_they_never_had() -> None:
    tasks = [t for t in load_domain_tasks(PATHS, "retail") if t.kind == "action"][:5]
    for server in start("--awake-states", "2"):
        handles = [server.create(task=t.id) for t in tasks]
        for step in range(max(len(t.solution) for t in tasks)):  # in turn: every call wakes its episode
            for task, handle in zip(tasks, handles, strict=True):
                if step < len(task.solution):
                    async with Client(f"{server.base}{handle['path']}") as agent:
                        call = task.solution[step]
                        assert not (await agent.call_tool(call.tool, call.arguments)).is_error
        metrics = server.control("GET", "/metrics").json()["result"]
        assert metrics["awake_episodes"] <= 2 and metrics["limits"]["awake_states"] == 2
        for handle in handles:
            assert server.control("POST", f"/episodes/{handle['episode']}/verify", {}).json()["result"]["success"] is True


def test_serving_beyond_loopback_needs_a_token_and_then_guards_the_playground() -> None:
    env = {k: v for k, v in os.environ.items() if k != CONTROL_TOKEN_ENV}
    refused = subprocess.run(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail", "--http", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2 and f"set {CONTROL_TOKEN_ENV}" in refused.stderr and "Traceback" not in refused.stderr
    mixed = subprocess.run(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail", "--http", "--control", "/tmp/x.sock", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert mixed.returncode == 2 and "the control plane is /control" in mixed.stderr
    for server in start("--host", "0.0.0.0"):
        assert httpx.post(f"{server.base}/mcp", json={}, timeout=5).status_code == 401
        handle = server.create()
        assert httpx.post(f"{server.base}{handle['path']}", json={}, timeout=5).status_code != 401  # the handle is the key


def test_the_readme_http_example_runs(server: Server) -> None:
    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "/control" in b)
    code = block.replace('"http://127.0.0.1:8000"', repr(server.base))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, CONTROL_TOKEN_ENV: TOKEN},
    )  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    instruction, reward = proc.stdout.strip().splitlines()[-2:]
    task = next(t for t in load_domain_tasks(PATHS, "retail") if t.id == "retail-004")
    assert instruction == (task.opening or task.instruction) and float(reward) == 0.0  # the agent only read; nothing earned


async def test_two_workers_spread_episodes_and_the_front_answers_for_both() -> None:
    customer = seed_state(shipped_spec("retail")).rows("customer")[0]["id"]
    for server in start("--workers", "2"):
        handles = [server.create(creator="spread") for _ in range(4)]
        ports = {httpx.URL(h["url"]).port for h in handles}
        assert len(ports) == 2 and sum(h["episode"].startswith("w1.") for h in handles) == 2
        for i, handle in enumerate(handles):
            async with Client(handle["url"]) as agent:
                await agent.call_tool("update_customer_city", {"customer_id": customer, "city": f"Town {i}"})
        for i, handle in enumerate(handles):  # each episode's diff, through the front, whichever process holds it
            diff = server.control("GET", f"/episodes/{handle['episode']}/diff").json()["result"]
            assert f"Town {i}" in json.dumps(diff) and json.dumps(diff).count("Town ") == 1
        listing = server.control("GET", "/episodes", None).json()["result"]
        assert sorted(e["episode"] for e in listing) == sorted(h["episode"] for h in handles)
        metrics = server.control("GET", "/metrics").json()["result"]
        assert metrics["live_episodes"] == 4 and len(metrics["processes"]) == 2
        assert server.control("DELETE", f"/episodes/{handles[1]['episode']}").status_code == 200
        assert server.control("POST", f"/episodes/{handles[1]['episode']}/verify", {}).status_code == 404
        assert server.control("POST", "/episodes/w9.ep-x/verify", {}).status_code == 404
    worker_port = next(p for p in ports if p != httpx.URL(server.base).port)
    deadline = time.monotonic() + 10
    while True:  # the worker ends with its front
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", worker_port)) != 0:
                break
        assert time.monotonic() < deadline, "a worker outlived its front"
        time.sleep(0.1)
