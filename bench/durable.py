"""Durable episodes (``serve --http --state-dir``): what persistence costs a write call, and how
long a restart takes to bring 1,000 live episodes back.

A write call is timed two ways, each against the same call without a store, in the same run:
in the service (the call and its commit, which happens before the call returns) and as a client
sees it, a ``tools/call`` through the HTTP app in process (httpx's ASGI transport: no sockets, so
the figure is the server's own cost). The floor, a bare SQLite commit of the same change, is
timed too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.episodes.store import EpisodeStore
from scaleenv_mcp.serving.http import http_app
from scaleenv_mcp.serving.server import build_server
from scaleenv_mcp.spec import ProjectPaths, load_domain
from scaleenv_mcp.spec.catalog import load_domain_tasks

ROOT = Path(__file__).resolve().parents[1]
PATHS = ProjectPaths(ROOT)
MODERN = "2026-07-28"
CITIES = ("Austin", "Boston")


def _service(store: EpisodeStore | None) -> EpisodeService:
    spec = load_domain(PATHS, "retail")
    return EpisodeService(Coordinator(spec, load_domain_tasks(PATHS, "retail")), store=store, max_episodes=20_000, max_per_creator=20_000)


def _customer(service: EpisodeService) -> str:
    state = service.coordinator.start(None, "probe").state
    customer = str(state.head("customer", 1)[0]["id"])
    service.coordinator.end("probe")
    return customer


async def _timed(step: Callable[[int], Awaitable[None]], calls: int, rounds: int) -> list[float]:
    """Median µs per call of each of ``rounds`` rounds of ``calls`` calls."""
    out = []
    for r in range(rounds):
        samples = []
        for i in range(calls):
            start = time.perf_counter()
            await step(r * calls + i)
            samples.append((time.perf_counter() - start) * 1e6)
        out.append(statistics.median(samples))
    return out


async def service_write(store: EpisodeStore | None, calls: int, rounds: int) -> list[float]:
    service = _service(store)
    customer = _customer(service)
    episode = service.create().episode
    email = service.coordinator.episode(episode).state.get("customer", customer)["email"]  # type: ignore[index]
    assert service.call(episode, "find_customer_by_email", {"email": email}).ok  # identified first, as the policy asks

    async def step(i: int) -> None:
        result = service.call(episode, "update_customer_city", {"customer_id": customer, "city": CITIES[i % 2]})  # committed on return
        assert result.ok, result.error
        await asyncio.sleep(0)  # the loop turns between requests, as it does in a server (checkpoints run then)

    try:
        return await _timed(step, calls, rounds)
    finally:
        if store is not None:
            await store.aclose()


async def http_write(store: EpisodeStore | None, calls: int, rounds: int) -> list[float]:
    service = _service(store)
    customer = _customer(service)
    server = build_server(service.coordinator.spec, service=service, reap_every=None)
    asgi = http_app(server, service, control_token="b" * 24)
    starlette = asgi.app  # type: ignore[attr-defined]
    made = service.create()
    token = made.token
    email = service.coordinator.episode(made.episode).state.get("customer", customer)["email"]  # type: ignore[index]
    assert service.call(made.episode, "find_customer_by_email", {"email": email}).ok  # identified first, as the policy asks
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
    }
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json",
               "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "update_customer_city"}  # fmt: skip
    bodies = [
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"_meta": meta, "name": "update_customer_city", "arguments": {"customer_id": customer, "city": city}}})
        for city in CITIES
    ]  # fmt: skip
    async with starlette.router.lifespan_context(starlette), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=asgi), base_url="http://127.0.0.1:8000"
    ) as http:

        async def step(i: int) -> None:
            reply = await http.post(f"/episodes/{token}/mcp", content=bodies[i % 2], headers=headers)
            assert reply.status_code == 200 and '"isError":true' not in reply.text.replace(" ", ""), reply.text

        try:
            return await _timed(step, calls, rounds)
        finally:
            if store is not None:
                await store.aclose()


def commit_floor(calls: int, rounds: int) -> list[float]:
    """Median µs of committing what a profile update changes (its log entry, the monitor, the row)
    with sqlite3 alone, on a store's file: what any design that commits before replying pays."""
    with tempfile.TemporaryDirectory() as tmp:
        store = EpisodeStore(tmp)
        store.close()
        conn = sqlite3.connect(store.path, isolation_level=None)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("INSERT INTO episodes VALUES ('e', 't', 'c', NULL, NULL, 'typed', '{}', NULL)")
        row = json.dumps({"id": "CUS-0001", "name": "Ben Carter", "email": "ben@example.org", "city": "Austin", "store_credit": 37.81})
        out = []
        for r in range(rounds):
            samples = []
            for i in range(calls):
                start = time.perf_counter()
                conn.execute("BEGIN")
                conn.execute("INSERT INTO calls VALUES ('e', ?, 'update_customer_city', '{\"city\":\"Austin\"}')", (r * calls + i,))
                conn.execute("UPDATE episodes SET policy = ?, submitted = NULL WHERE id = 'e'", (f'{{"calls":{i}}}',))
                conn.execute("INSERT OR REPLACE INTO rows VALUES ('e', 'customer', 'CUS-0001', ?)", (row,))
                conn.execute("COMMIT")
                samples.append((time.perf_counter() - start) * 1e6)
            out.append(statistics.median(samples))
        conn.close()
        return out


def restart(episodes: int) -> dict[str, Any]:
    """``episodes`` task episodes, each through its solution with a snapshot on the way, then a
    new service on the same folder: how long until all are back."""
    with tempfile.TemporaryDirectory() as tmp:
        before = _service(EpisodeStore(tmp))
        tasks = [t for t in before.coordinator.tasks.values() if t.solution]
        for n in range(episodes):
            task = tasks[n % len(tasks)]
            episode = before.create(task=task.id).episode
            for i, call in enumerate(task.solution):
                before.call(episode, call.tool, call.arguments)
                if i == 0:
                    before.snapshot(episode, "first")
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        start = time.perf_counter()
        after = _service(EpisodeStore(tmp, exclusive=False))  # a restart after a kill: the dead server's lock is gone
        back = after.reload()
        seconds = time.perf_counter() - start
        assert len(back) == episodes
        return {"episodes": episodes, "seconds": seconds, "bytes": size}


def under_load(clients: int, calls: int) -> dict[str, Any]:
    """``clients`` MCP clients at once, each on its own episode, each making ``calls`` write calls,
    against ``serve retail --http`` with and without ``--state-dir`` (the server pinned to core 0, the
    load generator to core 1, as ``bench --only load`` runs): calls/s, p50 and p99 of each, errors,
    (the store's log under writes that never pause is held bounded by tests/episodes/test_store.py)."""
    import subprocess

    import httpx

    from .cases import LOAD_TOKEN, _free_port, _generate, _pinned, _wait_port, load_rates

    customer = _customer(_service(None))
    out: dict[str, Any] = {"clients": clients, "calls_each": calls, "pinned": bool(_pinned(1))}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name, extra in (("plain", []), ("durable", ["--state-dir", str(tmp / "state")])):
            port = _free_port()
            proc = subprocess.Popen([*_pinned(0), sys.executable, "-m", "scaleenv_mcp", "--root", str(ROOT), "serve", "retail", "--http",
                                     "--port", str(port), "--max-per-creator", "10000", "--max-episodes", str(clients + 100), *extra],
                                    env={**os.environ, "SCALEENV_CONTROL_TOKEN": LOAD_TOKEN},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            try:
                _wait_port(port, proc)
                control = httpx.Client(base_url=f"http://127.0.0.1:{port}/control", headers={"authorization": f"Bearer {LOAD_TOKEN}"}, timeout=60)
                urls = [control.post("/episodes", json={}).json()["result"]["url"] for _ in range(clients)]
                figures, _ = _generate(urls, calls, {"customer_id": customer, "city": "Austin"}, tmp, proc.pid, tool="update_customer_city")
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            out[name] = load_rates(figures)
    return out


def figures(quick: bool) -> dict[str, Any]:
    calls, rounds = (100, 3) if quick else (500, 5)
    out: dict[str, Any] = {k: [] for k in ("service_plain", "service_durable", "http_plain", "http_durable", "commit")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):  # interleaved, so a busy moment of the machine hurts both alike
            out["service_plain"] += asyncio.run(service_write(None, calls, 1))
            out["service_durable"] += asyncio.run(service_write(EpisodeStore(Path(tmp) / f"a{r}"), calls, 1))
            out["http_plain"] += asyncio.run(http_write(None, calls, 1))
            out["http_durable"] += asyncio.run(http_write(EpisodeStore(Path(tmp) / f"b{r}"), calls, 1))
            out["commit"] += commit_floor(calls, 1)
    out["restart"] = restart(200 if quick else 1_000)
    out["load"] = under_load(20, 5) if quick else under_load(200, 20)
    return out


def rows(quick: bool) -> list[Any]:
    """The bench rows: write-call latency with a store against without, and the restart."""
    from .cases import Row, timing

    f = figures(quick)
    out = []
    for where, label in (("service", "write call + its commit, in the service"), ("http", "write tools/call over HTTP, in process")):
        plain, durable = timing(f[f"{where}_plain"]), timing(f[f"{where}_durable"])
        ratio = durable.median / plain.median
        out.append(Row("durable episodes", label, durable, plain, "the same without --state-dir", ratio, "<= 1.5x", ratio <= 1.5, f))
    plain, floor = timing(f["service_plain"]), timing(f["commit"])
    out.append(Row("durable episodes", "floor: sqlite3 alone commits the same change (BEGIN, 3 statements, COMMIT)", floor, plain,
                   "the write call without --state-dir", floor.median / plain.median, "", None, {}))  # fmt: skip
    load = f["load"]
    durable_rate, plain_rate = load["durable"]["per_s"], load["plain"]["per_s"]

    def said(x: dict[str, Any]) -> str:
        return f"{x['per_s']:,.0f} calls/s, p50 {x['p50_ms']:,.1f} ms, p99 {x['p99_ms']:,.1f} ms, errors {x['errors']}"

    out.append(Row("durable episodes", f"{load['clients']:,} clients writing at once, own episode each, {load['calls_each']} calls each",
                   said(load["durable"]), said(load["plain"]), "the same without --state-dir", plain_rate / durable_rate if durable_rate else float("inf"),
                   "<= 1.5x, errors 0", plain_rate <= 1.5 * durable_rate and load["durable"]["errors"] == 0, load))  # fmt: skip
    r = f["restart"]
    out.append(Row("durable episodes", f"restart: {r['episodes']:,} live episodes back (a snapshot each)", f"{r['seconds']:.2f} s",
                   f"{r['bytes'] / 2**20:.1f} MiB on disk", "store size", None, "", None, r))  # fmt: skip
    return out
