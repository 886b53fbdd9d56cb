"""More HTTP server processes, so that agents' MCP traffic uses every core.

Episodes live in one process's memory, so requests cannot be spread by a shared listening
socket. Instead the process started with ``--workers N`` is worker 0 and the front: it starts
N-1 more ``scaleenv serve --http`` processes on their own ports and answers the control plane
for all of them. A create goes to the workers in turn; the reply's ``url`` names the worker's
port, so the agent's MCP traffic goes straight to the process that holds its episode, with no
proxy in between. A worker's episode ids carry its number (``w1.ep-...``), and the front
forwards that episode's control requests to it. Only light control traffic passes the front.

Workers are watched: a thread polls each one every :data:`WATCH_SECONDS`, so a worker that dies
(kill -9, out of memory) is seen within a second, gets no new episodes, and is started again on
the same port. Its episodes lived in its memory and are gone: a restarted worker's ids carry its
generation (``w1r2.ep-...``), and a control request for an episode of an earlier generation gets
``410`` with one line saying which worker died and when; its agents' MCP URLs reach the new
process, which answers ``404`` for their unknown handle. Listing and metrics report each worker's
health and never fail as a whole because one is down.

With ``--state-dir DIR`` worker N keeps its episodes in ``DIR/wN`` (the front in ``DIR``) and its
port in ``DIR/workers.json``: a restarted worker loads them again, so its ids keep their
generation and its agents' URLs keep working once it is back (a request in the meantime gets
``503``, not ``410``); a whole server started again on the same folder takes the same ports where
they are free.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["WATCH_SECONDS", "WorkerPool", "split_episode"]

_WORKER_ID = re.compile(r"^w([1-9][0-9]{0,3})(?:r([1-9][0-9]{0,8}))?\.(.+)$")
WATCH_SECONDS = 0.2
"""how often the front checks that each worker process is alive"""
_HEALTH_TIMEOUT = 0.5
HEALTH_EVERY = 1.0
"""how often the front asks each live worker's health check (a process can be alive and answer nothing)"""
HUNG_AFTER = 3
"""health checks in a row, each given :data:`HUNG_TIMEOUT`, a worker may miss before it gets no new episodes"""
HUNG_TIMEOUT = 2.0
"""long enough that a worker busy with a load still answers (its health check is a dictionary read)"""


def split_episode(episode: str) -> tuple[int, int, str]:
    """(worker number, its generation, its own episode id); worker 0 is the front itself."""
    match = _WORKER_ID.match(episode)
    return (int(match.group(1)), int(match.group(2) or 0), match.group(3)) if match else (0, 0, episode)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel ends a worker when its front dies, however it dies
    (kill -9 of the front leaves no clean-up to run)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class _Worker:
    port: int
    proc: subprocess.Popen[bytes]
    generation: int = 0
    """how many times it has been started again; part of the ids of the episodes it holds"""
    up: bool = True
    lost: str = ""
    """what happened to the last generation, for the 410 of its episodes"""
    spawned: float = 0.0
    restarts: int = 0
    stuck: str = ""
    """since when it has been alive but not answering (stopped, stuck), for the 503 of its episodes; empty
    while it answers"""
    missed: int = 0
    """health checks missed in a row"""

    @property
    def hung(self) -> bool:
        """Alive but not answering: no new episodes until it answers; its episodes are still in it."""
        return bool(self.stuck)

    def health(self, number: int) -> dict[str, Any]:
        state: dict[str, Any] = {"worker": number, "port": self.port, "pid": self.proc.pid, "up": self.up, "restarts": self.restarts}
        if self.hung:
            state["hung"] = self.stuck
        return {**state, "lost": self.lost} if self.lost else state


class WorkerPool:
    """Worker processes 1..N-1 of a front; :meth:`start` waits until each answers its health check,
    then watches them (restarting any that dies) until :meth:`stop`."""

    def __init__(
        self, workers: list[_Worker], host: str, token: str, command: Sequence[str] = (), state_dir: str | Path | None = None
    ) -> None:
        self.workers = workers
        self.host = host
        self.token = token
        self.command = list(command)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        """with it, workers keep their episodes on disk and get them back when restarted"""
        self._turn = 0
        self._client: httpx.AsyncClient | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._prober: threading.Thread | None = None
        self._lock = threading.Lock()
        """held while a worker's state changes (the watcher's and the prober's threads both change it)"""

    @classmethod
    def start(
        cls, count: int, serve_args: Sequence[str], *, host: str, token: str, timeout: float = 90.0, state_dir: str | Path | None = None
    ) -> WorkerPool:
        """Start ``count`` workers running ``scaleenv serve <serve_args> --http --host HOST --port P``
        (and ``--state-dir STATE_DIR/wN`` with a ``state_dir``)."""
        pool = cls([], host, token, [sys.executable, "-m", "scaleenv_mcp", *serve_args, "--http", "--host", host], state_dir)
        try:
            ports = pool._ports(count)
            for number, port in enumerate(ports, 1):
                pool.workers.append(_Worker(port, pool._spawn(number, port), spawned=time.monotonic()))
            deadline = time.monotonic() + timeout
            for number, worker in enumerate(pool.workers, 1):
                while not pool._answers(number):
                    if worker.proc.poll() is not None:
                        raise RuntimeError(f"worker {number} exited with code {worker.proc.returncode} while starting")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"worker {number} did not answer within {timeout:g} s")
                    time.sleep(0.1)
        except BaseException:
            pool.stop()
            raise
        pool._watcher = threading.Thread(target=pool._watch, name="scaleenv-workers", daemon=True)
        pool._watcher.start()
        pool._prober = threading.Thread(target=pool._probe, name="scaleenv-worker-health", daemon=True)
        pool._prober.start()
        return pool

    def _ports(self, count: int) -> list[int]:
        """A port per worker: with a state folder, the ones it used last time where still free (its
        episodes' URLs name them), remembered for next time."""
        remembered: list[int] = []
        path = self.state_dir / "workers.json" if self.state_dir is not None else None
        if path is not None and path.exists():
            with contextlib.suppress(OSError, ValueError, TypeError):
                remembered = [int(p) for p in json.loads(path.read_text())["ports"]]
        ports = [remembered[i] if i < len(remembered) and _bindable(self.host, remembered[i]) else _free_port(self.host) for i in range(count)]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"ports": ports}))
        return ports

    def _spawn(self, number: int, port: int) -> subprocess.Popen[bytes]:
        durable = ["--state-dir", str(self.state_dir / f"w{number}")] if self.state_dir is not None else []
        return subprocess.Popen(
            [*self.command, *durable, "--port", str(port)], env={**os.environ, "SCALEENV_CONTROL_TOKEN": self.token},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 (the child execs at once)
        )  # fmt: skip

    def _answers(self, number: int, timeout: float = _HEALTH_TIMEOUT) -> bool:
        try:
            return httpx.get(f"{self.base(number)}/control/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def _watch(self) -> None:
        """Notice a dead worker within a second, stop routing to it, start it again on its port.
        Notice a live one that stopped answering (a SIGSTOP, a stuck loop) within seconds, and send
        it no new episodes until it answers again: each create sent its way waited a minute.

        ``poll`` also reaps the dead process, so none is left a zombie."""
        while not self._stopping.wait(WATCH_SECONDS):
            for number, worker in enumerate(self.workers, 1):
                with self._lock:
                    self._look_after(number, worker)

    def _look_after(self, number: int, worker: _Worker) -> None:
        """One worker's turn of the watch (under the lock): dead, started again, or back."""
        code = worker.proc.poll()
        if (worker.up or worker.hung) and code is not None:
            worker.up, worker.stuck = False, ""
            when = time.strftime("%H:%M:%S UTC", time.gmtime())
            if self.state_dir is None:
                worker.generation += 1
                worker.lost = f"worker {number} stopped (exit code {code}) at {when}; its episodes were in its memory and are gone"
            else:  # its episodes come back with it
                worker.lost = f"worker {number} stopped (exit code {code}) at {when} and is restarting; its episodes come back from disk"
        if worker.up or self._stopping.is_set():
            return
        if code is not None and time.monotonic() - worker.spawned >= 1.0:  # at most one start a second
            worker.proc = self._spawn(number, worker.port)
            worker.restarts += 1
            worker.spawned = time.monotonic()
        elif code is None and not worker.hung and self._answers(number):
            worker.up, worker.missed = True, 0

    def _probe(self) -> None:
        """Ask each live worker's health check every :data:`HEALTH_EVERY` (on a thread of its own, so
        a worker slow to answer never delays noticing a dead one): one that misses :data:`HUNG_AFTER`
        in a row gets no new episodes until it answers again."""
        while not self._stopping.wait(HEALTH_EVERY):
            for number, worker in enumerate(self.workers, 1):
                proc = worker.proc
                if not (worker.up or worker.hung) or proc.poll() is not None:
                    continue  # dead ones are the watcher's
                answered = self._answers(number, HUNG_TIMEOUT)  # outside the lock: it may take its whole timeout
                with self._lock:
                    if worker.proc is not proc or proc.poll() is not None:
                        continue  # died or started again meanwhile: the watcher's
                    worker.missed = 0 if answered else worker.missed + 1
                    if worker.hung and answered:
                        worker.up, worker.stuck = True, ""
                    elif worker.up and worker.missed >= HUNG_AFTER:
                        worker.up, worker.stuck = False, time.strftime("%H:%M:%S UTC", time.gmtime())

    def base(self, number: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.workers[number - 1].port}"

    def port(self, number: int) -> int:
        return self.workers[number - 1].port

    def worker(self, number: int) -> _Worker:
        return self.workers[number - 1]

    def episode_id(self, number: int, own: str) -> str:
        """The id the front gives an episode of worker ``number``'s current generation."""
        generation = self.worker(number).generation
        return f"w{number}.{own}" if generation == 0 else f"w{number}r{generation}.{own}"

    def pick(self) -> int:
        """The next live process in turn for a new episode (0 = the front, always live)."""
        live = [0, *(n for n, w in enumerate(self.workers, 1) if w.up)]
        number = live[self._turn % len(live)]
        self._turn = (self._turn + 1) % (len(self.workers) + 1)
        return number

    def health(self) -> list[dict[str, Any]]:
        """Each process's health: the front (worker 0) first."""
        return [{"worker": 0, "pid": os.getpid(), "up": True, "restarts": 0}, *(w.health(n) for n, w in enumerate(self.workers, 1))]

    async def forward(
        self, number: int, method: str, path: str, body: dict[str, Any] | None = None, *, params: dict[str, Any] | None = None,
        timeout: float = 60.0, headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One control request to worker ``number``: (status, reply); a dead worker is a 502 reply."""
        if self._client is None:
            self._client = httpx.AsyncClient(headers={"authorization": f"Bearer {self.token}"}, timeout=60)
        try:
            response = await self._client.request(
                method, f"{self.base(number)}/control{path}", json=body, params=params, timeout=timeout, headers=headers
            )
            return response.status_code, dict(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            return 502, {"ok": False, "error": f"worker {number} did not answer: {type(exc).__name__}"}

    def stop(self) -> None:
        self._stopping.set()
        for thread in (self._watcher, self._prober):
            if thread is not None:
                thread.join(5)
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.terminate()
        for worker in self.workers:
            try:
                worker.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
