"""More HTTP server processes, so that agents' MCP traffic uses every core.

Episodes live in one process's memory, so requests cannot be spread by a shared listening
socket. Instead the process started with ``--workers N`` is worker 0 and the front: it starts
N-1 more ``scaleenv serve --http`` processes on their own ports and answers the control plane
for all of them. A create goes to the workers in turn; the reply's ``url`` names the worker's
port, so the agent's MCP traffic goes straight to the process that holds its episode, with no
proxy in between. A worker's episode ids carry its number (``w1.ep-...``), and the front
forwards that episode's control requests to it. Only light control traffic passes the front.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["WorkerPool", "split_episode"]

_WORKER_ID = re.compile(r"^w([1-9][0-9]{0,3})\.(.+)$")


def split_episode(episode: str) -> tuple[int, str]:
    """(worker number, its own episode id); worker 0 is the front itself."""
    match = _WORKER_ID.match(episode)
    return (int(match.group(1)), match.group(2)) if match else (0, episode)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel ends a worker when its front dies, however it dies
    (uvicorn re-raises SIGTERM after shutting down, so the front's own clean-up does not always run)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class _Worker:
    port: int
    proc: subprocess.Popen[bytes]


class WorkerPool:
    """Worker processes 1..N-1 of a front; :meth:`start` waits until each answers its health check."""

    def __init__(self, workers: list[_Worker], host: str, token: str) -> None:
        self.workers = workers
        self.host = host
        self.token = token
        self._turn = 0
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def start(cls, count: int, serve_args: Sequence[str], *, host: str, token: str, timeout: float = 90.0) -> WorkerPool:
        """Start ``count`` workers running ``scaleenv serve <serve_args> --http --host HOST --port P``."""
        env = {**os.environ, "SCALEENV_CONTROL_TOKEN": token}
        workers: list[_Worker] = []
        pool = cls(workers, host, token)
        try:
            for _ in range(count):
                port = _free_port(host)
                proc = subprocess.Popen(
                    [sys.executable, "-m", "scaleenv_mcp", *serve_args, "--http", "--host", host, "--port", str(port)],
                    env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 (no threads yet)
                )  # fmt: skip
                workers.append(_Worker(port, proc))
            deadline = time.monotonic() + timeout
            for number, worker in enumerate(workers, 1):
                while True:
                    if worker.proc.poll() is not None:
                        raise RuntimeError(f"worker {number} exited with code {worker.proc.returncode} while starting")
                    try:
                        if httpx.get(f"{pool.base(number)}/control/health", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"worker {number} did not answer within {timeout:g} s")
                    time.sleep(0.1)
        except BaseException:
            pool.stop()
            raise
        return pool

    def base(self, number: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.workers[number - 1].port}"

    def port(self, number: int) -> int:
        return self.workers[number - 1].port

    def pick(self) -> int:
        """The next process in turn for a new episode (0 = the front)."""
        number = self._turn
        self._turn = (self._turn + 1) % (len(self.workers) + 1)
        return number

    async def forward(
        self, number: int, method: str, path: str, body: dict[str, Any] | None = None, *, params: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One control request to worker ``number``: (status, reply); a dead worker is a 502 reply."""
        if self._client is None:
            self._client = httpx.AsyncClient(headers={"authorization": f"Bearer {self.token}"}, timeout=60)
        try:
            response = await self._client.request(method, f"{self.base(number)}/control{path}", json=body, params=params)
            return response.status_code, dict(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            return 502, {"ok": False, "error": f"worker {number} did not answer: {type(exc).__name__}"}

    def stop(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.terminate()
        for worker in self.workers:
            try:
                worker.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
