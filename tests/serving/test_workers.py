"""Watched workers: a worker killed with -9 is noticed within a second, gets no new episodes, is
started again; its lost episodes get 410 with the reason; listing and metrics never fail."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scaleenv_mcp.serving import CONTROL_TOKEN_ENV

from ..conftest import ROOT

pytestmark = pytest.mark.e2e

TOKEN = "workers-control-token-01234"


@dataclass
class Front:
    """``scaleenv serve retail --http --workers 2`` in a subprocess, answering its control plane."""

    proc: subprocess.Popen[bytes]
    base: str

    def control(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, f"{self.base}{path}", json=body, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30)

    def worker_one(self) -> dict[str, Any]:
        reply = self.control("GET", "/metrics")
        assert reply.status_code == 200, reply.text
        return dict(reply.json()["result"]["workers"][1])


@contextmanager
def front() -> Iterator[Front]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "retail", "--http", "--port", str(port), "--workers", "2"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, CONTROL_TOKEN_ENV: TOKEN},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/control"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield Front(proc, base)
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_a_killed_worker_is_noticed_restarted_and_its_episodes_answer_410() -> None:
    with front() as server:
        control, worker_one = server.control, server.worker_one
        made = [control("POST", "/episodes", {}).json()["result"] for _ in range(2)]
        lost = next(m for m in made if m["episode"].startswith("w1."))
        before = worker_one()
        assert before["up"] and before["restarts"] == 0

        os.kill(before["pid"], signal.SIGKILL)
        killed = time.monotonic()
        while worker_one()["up"]:
            assert time.monotonic() - killed < 1.0, "the dead worker was not noticed within a second"
            time.sleep(0.05)
        creates = [control("POST", "/episodes", {}) for _ in range(6)]
        assert [c.status_code for c in creates] == [201] * 6  # none sent to the dead worker
        gone = control("POST", f"/episodes/{lost['episode']}/verify", {"answer": None})
        assert gone.status_code == 410 and "worker 1 stopped (exit code -9)" in gone.json()["error"]
        listing = control("GET", "/episodes")
        assert listing.status_code == 200 and listing.json()["workers"][1]["worker"] == 1
        assert {e["episode"] for e in listing.json()["result"]} >= {c.json()["result"]["episode"] for c in creates if not c.json()["result"]["episode"].startswith("w")}
        assert not Path(f"/proc/{before['pid']}").exists()  # reaped, not a zombie

        while not (after := worker_one())["up"]:
            assert time.monotonic() - killed < 60, "the worker was not started again"
            time.sleep(0.2)
        assert after["restarts"] == 1 and after["pid"] != before["pid"] and after["port"] == before["port"]
        fresh = [control("POST", "/episodes", {}).json()["result"] for _ in range(3)]
        again = next(m for m in fresh if m["episode"].startswith("w1r1."))
        assert control("GET", f"/episodes/{again['episode']}/diff").status_code == 200
        assert control("GET", f"/episodes/{lost['episode']}/diff").status_code == 410
        mcp = httpx.post(lost["url"], content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
                         headers={"accept": "application/json, text/event-stream", "content-type": "application/json"})  # fmt: skip
        assert mcp.status_code == 404 and "no such episode" in mcp.json()["error"]


def test_a_stuck_worker_gets_no_new_episodes_until_it_answers_and_keeps_its_own() -> None:
    """A worker alive but answering nothing (here SIGSTOP) made every create sent its way wait a
    minute; now it is passed over once it misses its health checks, its episodes answer 503 (they
    are still in it), and it takes episodes again once it answers."""
    stopped = 0
    with front() as server:
        control, worker_one = server.control, server.worker_one
        try:
            made = [control("POST", "/episodes", {}).json()["result"] for _ in range(2)]
            held = next(m for m in made if m["episode"].startswith("w1."))
            stopped = worker_one()["pid"]
            os.kill(stopped, signal.SIGSTOP)
            paused = time.monotonic()
            # before it is seen to be stuck, the turn of creates reaches it: the front stops waiting and makes the episode itself
            early = [control("POST", "/episodes", {}) for _ in range(2)]
            assert [c.status_code for c in early] == [201, 201] and not any(c.json()["result"]["episode"].startswith("w1") for c in early)
            while not worker_one().get("hung"):
                assert time.monotonic() - paused < 15, "the stuck worker was not noticed"
                time.sleep(0.2)
            started = time.monotonic()
            creates = [control("POST", "/episodes", {}) for _ in range(4)]
            assert [c.status_code for c in creates] == [201] * 4 and time.monotonic() - started < 5  # none waited on it
            assert not any(c.json()["result"]["episode"].startswith("w1") for c in creates)
            waiting = control("GET", f"/episodes/{held['episode']}/diff")
            assert waiting.status_code == 503 and "is alive but has not answered since" in waiting.json()["error"]
            assert control("GET", "/episodes").status_code == 200

            os.kill(stopped, signal.SIGCONT)
            stopped = 0
            resumed = time.monotonic()
            while not (back := worker_one())["up"]:
                assert time.monotonic() - resumed < 10, "the worker was not taken back"
                time.sleep(0.2)
            assert "hung" not in back and back["restarts"] == 0
            assert control("GET", f"/episodes/{held['episode']}/diff").status_code == 200  # still there
            # the create it read when it ran again came after the front's deadline: it made nothing (no episode without an owner)
            listed = {e["episode"] for e in control("GET", "/episodes").json()["result"]}
            assert listed == {e["episode"] for e in made} | {c.json()["result"]["episode"] for c in early + creates}
            assert any(control("POST", "/episodes", {}).json()["result"]["episode"].startswith("w1.") for _ in range(3))
        finally:
            if stopped:
                os.kill(stopped, signal.SIGCONT)
