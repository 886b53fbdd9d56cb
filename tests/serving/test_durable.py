"""Durable episodes end to end: ``serve --http --state-dir`` is killed with SIGKILL mid-load and
started again; every episode answers on its old handle with the same state, calls and snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleenv_mcp.serving import CONTROL_TOKEN_ENV
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, ROOT

pytestmark = pytest.mark.e2e

TOKEN = "durable-control-token-0123456789"
MODERN = "2026-07-28"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(state_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail", "--http", "--port", str(port), "--state-dir", str(state_dir)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, CONTROL_TOKEN_ENV: TOKEN},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/control/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server exited"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)


def call(http: httpx.Client, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One tools/call on the 2026 revision (no session): the result."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "durable", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": meta, "name": tool, "arguments": arguments}}
    headers = {"accept": "application/json, text/event-stream", "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": tool}
    reply = http.post(f"/episodes/{token}/mcp", json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    text = reply.text
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
    return dict(json.loads(text)["result"])


def control(http: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    reply = http.request(method, f"/control{path}", json=body, headers=AUTH)
    assert reply.status_code in (200, 201), reply.text
    return reply.json()["result"]


def test_every_episode_survives_a_kill_mid_load(tmp_path: Path) -> None:
    port = free_port()
    tasks = [t for t in load_domain_tasks(PATHS, "retail") if t.solution][:20]
    seen: dict[str, dict[str, Any]] = {}
    acked: dict[str, int] = {}
    with serving(tmp_path, port) as proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for task in tasks:
            made = control(http, "POST", "/episodes", {"task": task.id, "creator": "rl"})
            episode, token = made["episode"], made["token"]
            half = len(task.solution) // 2
            for step in task.solution[:half]:
                call(http, token, step.tool, step.arguments)
            control(http, "POST", f"/episodes/{episode}/snapshot", {"name": "half"})
            at_half = control(http, "GET", f"/episodes/{episode}/diff")
            for step in task.solution[half:]:
                call(http, token, step.tool, step.arguments)
            control(http, "POST", f"/episodes/{episode}/snapshot", {"name": "end"})
            seen[episode] = {
                "token": token, "half": at_half, "half_calls": half, "diff": control(http, "GET", f"/episodes/{episode}/diff"),
                "calls": control(http, "GET", f"/episodes/{episode}/calls"),
                "verify": control(http, "POST", f"/episodes/{episode}/verify", {"answer": "done"}),
            }  # fmt: skip
        # load: reads on every episode from four clients, until the server is killed under them
        episodes = list(seen)
        stop = threading.Event()

        def load(mine: list[str]) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as own:
                while not stop.is_set():
                    for episode in mine:
                        try:
                            call(own, seen[episode]["token"], "find_customer_by_email", {"email": f"load{acked.get(episode, 0)}@x.org"})
                        except (httpx.HTTPError, AssertionError):
                            return
                        acked[episode] = acked.get(episode, 0) + 1

        threads = [threading.Thread(target=load, args=(episodes[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stop.set()
        for thread in threads:
            thread.join(10)
    assert sum(acked.values()) > 20, "the load made calls before the kill"

    with serving(tmp_path, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        listed = {e["episode"] for e in control(http, "GET", "/episodes")}
        assert listed == set(seen)
        for episode, before in seen.items():
            calls = control(http, "GET", f"/episodes/{episode}/calls")
            extra = calls[len(before["calls"]) :]
            assert calls[: len(before["calls"])] == before["calls"]
            # every acknowledged call is there; at most the one in flight at the kill besides
            assert len(extra) - acked.get(episode, 0) in (0, 1), (episode, len(extra), acked.get(episode))
            assert extra[: acked.get(episode, 0)] == [
                {"tool": "find_customer_by_email", "arguments": {"email": f"load{i}@x.org"}} for i in range(acked.get(episode, 0))
            ]
            assert control(http, "GET", f"/episodes/{episode}/diff") == before["diff"]
            control(http, "POST", f"/episodes/{episode}/restore", {"name": "end"})  # the calls since are dropped
            assert control(http, "GET", f"/episodes/{episode}/calls") == before["calls"]
            assert control(http, "POST", f"/episodes/{episode}/verify", {"answer": "done"}) == before["verify"]
            control(http, "POST", f"/episodes/{episode}/restore", {"name": "half"})
            assert control(http, "GET", f"/episodes/{episode}/diff") == before["half"]
            # the old handle still opens it, and it goes on
            found = call(http, before["token"], "find_customer_by_email", {"email": "after@x.org"})
            assert found["isError"] is True and "not_found" in found["content"][0]["text"]
            assert len(control(http, "GET", f"/episodes/{episode}/calls")) == before["half_calls"] + 1


def test_a_killed_worker_brings_its_episodes_back(tmp_path: Path) -> None:
    port = free_port()
    task = next(t for t in load_domain_tasks(PATHS, "retail") if t.solution)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail", "--http", "--port", str(port), "--workers", "2",
         "--state-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, CONTROL_TOKEN_ENV: TOKEN},
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/control/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
            made = [control(http, "POST", "/episodes", {"task": task.id}) for _ in range(2)]
            held = next(m for m in made if m["episode"].startswith("w1."))
            with httpx.Client(base_url=held["url"].removesuffix(held["path"]), timeout=30) as worker:
                for step in task.solution:
                    call(worker, held["token"], step.tool, step.arguments)
            before = {op: control(http, "GET", f"/episodes/{held['episode']}/{op}") for op in ("calls", "diff")}
            pid = control(http, "GET", "/metrics")["workers"][1]["pid"]
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            while True:  # 503 while it restarts, never 410: the episode is coming back
                reply = http.get(f"/control/episodes/{held['episode']}/calls", headers=AUTH)
                if reply.status_code == 200 and control(http, "GET", "/metrics")["workers"][1]["pid"] != pid:
                    break
                assert reply.status_code in (200, 503), reply.text
                assert time.monotonic() - killed < 60, "the worker did not come back"
                time.sleep(0.2)
            assert {op: control(http, "GET", f"/episodes/{held['episode']}/{op}") for op in ("calls", "diff")} == before
            with httpx.Client(base_url=held["url"].removesuffix(held["path"]), timeout=30) as worker:  # the agent's URL works again
                assert call(worker, held["token"], "find_customer_by_email", {"email": "x@y.z"})["isError"] is True
            assert (tmp_path / "w1" / "episodes.sqlite3").exists()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
