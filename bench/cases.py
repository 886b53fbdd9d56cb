"""The benchmark cases. Each returns rows: (figure, ours, baseline, ratio, target, detail).

Every baseline is measured in the same process and run as our figure, so the ratios are
comparable across machines even when the absolute numbers are not.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, create_model

from scaleenv_mcp.compiler.pipeline import synth_blueprints
from scaleenv_mcp.compiler.proctest import test_domain
from scaleenv_mcp.engine import State, execute, seed_state
from scaleenv_mcp.episodes import Coordinator
from scaleenv_mcp.spec import DomainSpec, ProjectPaths, domain_names, load_blueprint, load_domain
from scaleenv_mcp.tasks import generate_tasks

ROOT = Path(__file__).resolve().parents[1]
PATHS = ProjectPaths(ROOT)


@dataclass
class Timing:
    median: float
    low: float
    high: float
    unit: str = "us"

    def text(self) -> str:
        return f"{self.median:,.1f} {self.unit} [{self.low:,.1f}..{self.high:,.1f}]"


@dataclass
class Row:
    group: str
    figure: str
    ours: Timing | str
    baseline: Timing | str | None = None
    baseline_name: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def timing(samples: list[float], unit: str = "us") -> Timing:
    return Timing(statistics.median(samples), min(samples), max(samples), unit)


def op_samples(fn: Callable[[], Any], *, repeats: int, inner: int, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """The mean time of ``inner`` calls, in microseconds, once per each of ``repeats`` runs (``clock``:
    ``time.process_time`` counts CPU time only, steadier on a shared machine)."""
    samples = []
    for _ in range(repeats):
        start = clock()
        for _ in range(inner):
            fn()
        samples.append((clock() - start) / inner * 1e6)
    return samples


def per_op(fn: Callable[[], Any], *, repeats: int, inner: int, clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Median over ``repeats`` of the mean time of ``inner`` calls, in microseconds (see :func:`op_samples`)."""
    return timing(op_samples(fn, repeats=repeats, inner=inner, clock=clock))


def retail() -> DomainSpec:
    return load_domain(PATHS, "retail")


# ---------------------------------------------------------------- 1. tool calls in-process


def tool_calls(quick: bool) -> list[Row]:
    spec = retail()
    state = seed_state(spec, scale=10)  # ~1,000 rows
    conn = state.conn
    order = next(o for o in state.rows("order") if o["status"] == "pending")
    product = state.get("product", order["product_id"])
    assert product is not None
    conn.execute('UPDATE product SET stock = 1000 WHERE id = ?', (product["id"],))
    customer_id = order["customer_id"]
    repeats, inner = (5, 200) if quick else (15, 2000)
    cols_order = ", ".join(f'"{c}"' for c in ["id", *spec.entities["order"].fields])
    cols_customer = ", ".join(f'"{c}"' for c in ["id", *spec.entities["customer"].fields])
    cols_product = ", ".join(f'"{c}"' for c in ["id", *spec.entities["product"].fields])
    rows = []

    def read() -> None:
        assert execute(state, "get_order", {"order_id": order["id"]}).ok

    def raw_read() -> None:
        conn.execute(f'SELECT {cols_order} FROM "order" WHERE id = ?', (order["id"],)).fetchone()

    def search() -> None:
        assert execute(state, "list_customer_orders", {"customer_id": customer_id, "status": "pending"}).ok

    def raw_search() -> None:
        conn.execute(f'SELECT {cols_customer} FROM "customer" WHERE id = ?', (customer_id,)).fetchone()
        conn.execute(
            f'SELECT {cols_order} FROM "order" WHERE "customer_id" = ? COLLATE NOCASE AND "status" = ? COLLATE NOCASE '
            'ORDER BY "placed_on" DESC, id LIMIT 51',
            (customer_id, "pending"),
        ).fetchall()

    quantity = [1]

    def write() -> None:
        quantity[0] = 3 - quantity[0]
        result = execute(state, "change_order_quantity", {"order_id": order["id"], "quantity": quantity[0]})
        assert result.ok, result.error

    def raw_write() -> None:
        quantity[0] = 3 - quantity[0]
        conn.execute("SAVEPOINT raw")
        o = conn.execute(f'SELECT {cols_order} FROM "order" WHERE id = ?', (order["id"],)).fetchone()
        p = conn.execute(f'SELECT {cols_product} FROM "product" WHERE id = ?', (o[2],)).fetchone()
        conn.execute('UPDATE "product" SET "stock" = ? WHERE id = ?', (p[4] + o[3] - quantity[0], p[0]))
        conn.execute('UPDATE "order" SET "total" = ? WHERE id = ?', (round(p[3] * quantity[0], 2), o[0]))
        conn.execute('UPDATE "order" SET "quantity" = ? WHERE id = ?', (quantity[0], o[0]))
        conn.execute("RELEASE raw")
        conn.execute(f'SELECT {cols_order} FROM "order" WHERE id = ?', (order["id"],)).fetchone()

    for name, ours, raw in [
        ("keyed read (get_order)", read, raw_read),
        ("filtered list (list_customer_orders)", search, raw_search),
        ("write with rules (change_order_quantity)", write, raw_write),
    ]:
        t_ours = per_op(ours, repeats=repeats, inner=inner)
        t_raw = per_op(raw, repeats=repeats, inner=inner)
        ratio = t_ours.median / t_raw.median
        rows.append(Row("tool call", name, t_ours, t_raw, "raw sqlite3, same SQL", ratio, "<= 5x", ratio <= 5))
    return rows


# ---------------------------------------------------------------- 2. reset


def _pydantic_db(spec: DomainSpec) -> type[BaseModel]:
    py = {"int": int, "float": float, "money": float, "bool": bool}
    models = {}
    for name, entity in spec.entities.items():
        fields: dict[str, Any] = {"id": (str, ...)}
        for fname, f in entity.fields.items():
            t: Any = py.get(f.type, str)
            fields[fname] = (t | None, None) if f.nullable else (t, ...)
        models[name] = create_model(f"Row_{name}", **fields)
    db: type[BaseModel] = create_model("DB", **{name: (list[m], ...) for name, m in models.items()})  # type: ignore[call-overload, valid-type]
    return db


def _episode_changes(spec: DomainSpec, state: State) -> Callable[[], None]:
    """A typical episode's writes: cancel one order, place one, move a customer."""
    pending = [o for o in state.rows("order") if o["status"] == "pending"][:1]
    product = next(p for p in state.rows("product") if p["active"] and p["stock"] > 2)
    customer = state.rows("customer")[0]

    def run() -> None:
        for o in pending:
            assert execute(state, "cancel_order", {"order_id": o["id"]}).ok
        assert execute(state, "place_order", {"customer_id": customer["id"], "product_id": product["id"], "quantity": 1}).ok
        assert execute(state, "update_customer_city", {"customer_id": customer["id"], "city": "Lisbon"}).ok

    return run


def reset(quick: bool) -> list[Row]:
    spec = retail()
    sizes = [("small", 1), ("medium", 100)] + ([] if quick else [("large", 1000)])
    rows = []
    for label, scale in sizes:
        state = seed_state(spec, scale=scale)
        n_rows = sum(state.counts().values())
        image = state.snapshot()
        repeats = 5 if quick else (30 if scale < 1000 else 10)
        state.track()
        change = _episode_changes(spec, state)
        samples = []
        for _ in range(repeats):
            change()
            start = time.perf_counter()
            state.reset()
            samples.append((time.perf_counter() - start) * 1e6)
        ours = timing(samples)
        baseline_dump = state.dump()
        assert state.snapshot() is not None

        restore_t = per_op(lambda: State.from_snapshot(spec, image).close(), repeats=repeats, inner=1)
        deep = per_op(lambda: copy.deepcopy(baseline_dump), repeats=max(3, repeats // 3), inner=1)
        db_model = _pydantic_db(spec)
        json_text = json.dumps(baseline_dump)
        pyd = per_op(lambda: db_model.model_validate_json(json_text), repeats=max(3, repeats // 3), inner=1)
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "state.db"
            disk = sqlite3.connect(source)
            state.conn.backup(disk)
            disk.close()
            target = Path(tmp) / "episode.db"

            def file_copy() -> None:
                shutil.copyfile(source, target)
                c = sqlite3.connect(target)
                c.execute("SELECT count(*) FROM customer").fetchone()
                c.close()

            filecopy = per_op(file_copy, repeats=repeats, inner=1)
        baselines = {"deepcopy of dicts": deep, "pydantic from JSON": pyd, "copy SQLite file + open": filecopy}
        best_name, best = min(baselines.items(), key=lambda kv: kv[1].median)
        ratio = best.median / ours.median
        detail = {
            "rows": n_rows,
            "whole_image_restore_us": round(restore_t.median, 1),
            **{k: round(v.median, 1) for k, v in baselines.items()},
        }
        rows.append(
            Row("reset", f"{label} (~{n_rows:,} rows)", ours, best, f"fastest peer way: {best_name}", ratio,
                ">= 20x at medium" if label == "medium" else "", ratio >= 20 if label == "medium" else None, detail)
        )  # fmt: skip
    return rows


# ---------------------------------------------------------------- 3. MCP round trip

FLOOR_SERVER = '''
import sys, anyio
import mcp_types as types
from mcp.server import Server

async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[types.Tool(name="get_order", input_schema={"type": "object"})])

async def call_tool(ctx, params):
    data = {"id": "ORD-0001", "status": "pending"}
    return types.CallToolResult(content=[types.TextContent(type="text", text='{"id": "ORD-0001"}')], structured_content=data)

server = Server("floor", on_list_tools=list_tools, on_call_tool=call_tool)
if sys.argv[1:2] == ["http"]:
    import uvicorn
    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
else:
    from mcp.server.stdio import stdio_server
    async def main():
        async with stdio_server() as (r, w):
            await server.run(r, w, server.create_initialization_options())
    anyio.run(main)
'''


async def _client_latency(target: Any, calls: int) -> Timing:
    from mcp import Client

    samples = []
    async with Client(target) as client:
        for _ in range(5):  # warm up
            await client.call_tool("get_order", {"order_id": "ORD-0001"})
        for _ in range(calls):
            start = time.perf_counter()
            result = await client.call_tool("get_order", {"order_id": "ORD-0001"})
            samples.append((time.perf_counter() - start) * 1e6)
            assert not result.is_error
    return timing(samples)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: Any) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def mcp_round_trip(quick: bool) -> list[Row]:
    import subprocess

    from mcp import StdioServerParameters

    calls = 100 if quick else 1000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        floor_file = Path(tmp) / "floor.py"
        floor_file.write_text(FLOOR_SERVER)
        ours_stdio = StdioServerParameters(command=sys.executable, args=["-m", "scaleenv_mcp", "--root", str(ROOT), "serve", "retail"])
        floor_stdio = StdioServerParameters(command=sys.executable, args=[str(floor_file)])
        ours = anyio.run(_client_latency, ours_stdio, calls)
        floor = anyio.run(_client_latency, floor_stdio, calls)
        ratio = ours.median / floor.median
        rows.append(Row("MCP round trip", "tools/call over stdio", ours, floor, "same SDK, constant result", ratio, "<= 1.5x", ratio <= 1.5))
        procs = []
        try:
            p1, p2 = _free_port(), _free_port()
            procs.append(subprocess.Popen([sys.executable, "-m", "scaleenv_mcp", "--root", str(ROOT), "serve", "retail", "--http", "--port", str(p1)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            procs.append(subprocess.Popen([sys.executable, str(floor_file), "http", str(p2)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            _wait_port(p1, procs[0])
            _wait_port(p2, procs[1])
            ours_h = anyio.run(_client_latency, f"http://127.0.0.1:{p1}/mcp", calls // 2)
            floor_h = anyio.run(_client_latency, f"http://127.0.0.1:{p2}/mcp", calls // 2)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=10)
        ratio = ours_h.median / floor_h.median
        rows.append(Row("MCP round trip", "tools/call over streamable HTTP", ours_h, floor_h, "same SDK, constant result", ratio, "<= 1.5x", ratio <= 1.5))
    return rows


# ---------------------------------------------------------------- 3a. time to the first tools/list


async def _first_list(params: Any) -> float:
    from mcp import Client

    start = time.perf_counter()
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        elapsed = time.perf_counter() - start
    assert tools
    return elapsed * 1e6


def startup(quick: bool) -> list[Row]:
    """A client launches the server over stdio: process start, imports, handshake, first tools/list."""
    from mcp import StdioServerParameters

    runs = 2 if quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        floor_file = Path(tmp) / "floor.py"
        floor_file.write_text(FLOOR_SERVER)
        ours_params = StdioServerParameters(command=sys.executable, args=["-m", "scaleenv_mcp", "--root", str(ROOT), "serve", "retail"])
        floor_params = StdioServerParameters(command=sys.executable, args=[str(floor_file)])
        ours, floor = [], []
        for _ in range(runs):  # interleaved, so drifting load hits both alike
            ours.append(anyio.run(_first_list, ours_params))
            floor.append(anyio.run(_first_list, floor_params))
    o, f = timing(ours, "us"), timing(floor, "us")
    ratio = o.median / f.median
    return [Row("startup", "stdio: process start to the first tools/list result", o, f,
                "same SDK, constant result, started the same way", ratio, "<= 1.3x", ratio <= 1.3)]  # fmt: skip


# ---------------------------------------------------------------- 3b. many HTTP clients at once

LOAD_TOKEN = "bench-control-token-0123456789"


def _server_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _load(urls: list[str], calls: int, tool: str, arguments: dict[str, Any]) -> tuple[list[float], int, float]:
    """Every URL an MCP client at once, each making ``calls`` calls; (latencies in us, errors, wall seconds)."""
    from mcp import Client

    samples: list[float] = []
    errors = 0

    async def one(url: str) -> None:
        nonlocal errors
        try:
            async with Client(url) as client:
                for _ in range(calls):
                    start = time.perf_counter()
                    result = await client.call_tool(tool, arguments)
                    samples.append((time.perf_counter() - start) * 1e6)
                    errors += bool(result.is_error)
        except Exception:  # a refused or dropped client is an error of the run, counted
            errors += calls

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for url in urls:
            tg.start_soon(one, url)
    return samples, errors, time.perf_counter() - start


def http_load(quick: bool) -> list[Row]:
    """N clients at once, each on its own episode handle, against the constant-result SDK server under the same load."""
    import subprocess

    import httpx

    sizes = [(20, 5, 1)] if quick else [(200, 20, 1), (200, 20, 2), (2000, 3, 1)]
    order = seed_state(retail()).rows("order")[0]["id"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        floor_file = Path(tmp) / "floor.py"
        floor_file.write_text(FLOOR_SERVER)
        for clients, calls, workers in sizes:
            p1, p2 = _free_port(), _free_port()
            env = {**os.environ, "SCALEENV_CONTROL_TOKEN": LOAD_TOKEN}
            ours_proc = subprocess.Popen([sys.executable, "-m", "scaleenv_mcp", "--root", str(ROOT), "serve", "retail", "--http",
                                          "--port", str(p1), "--max-per-creator", "10000", "--idle-seconds", "600", "--workers", str(workers)],
                                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            floor_proc = subprocess.Popen([sys.executable, str(floor_file), "http", str(p2)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait_port(p1, ours_proc)
                _wait_port(p2, floor_proc)
                control = httpx.Client(base_url=f"http://127.0.0.1:{p1}/control", headers={"authorization": f"Bearer {LOAD_TOKEN}"}, timeout=60)
                rss_before = _server_rss(ours_proc.pid)
                handles = [control.post("/episodes", json={}).json()["result"] for _ in range(clients)]
                urls = [h["url"] for h in handles]
                ours, ours_err, ours_wall = anyio.run(_load, urls, calls, "get_order", {"order_id": order})
                rss_peak = _server_rss(ours_proc.pid)
                for h in handles:
                    control.delete(f"/episodes/{h['episode']}")
                time.sleep(2)  # the reaper's next tick hands the freed memory back to the OS
                rss_after = _server_rss(ours_proc.pid)
                floor, floor_err, floor_wall = anyio.run(_load, [f"http://127.0.0.1:{p2}/mcp"] * clients, calls, "get_order", {"order_id": order})
            finally:
                for proc in (ours_proc, floor_proc):
                    proc.terminate()
                    proc.wait(timeout=10)
            ours_rate, floor_rate = len(ours) / ours_wall, len(floor) / floor_wall
            ours_t, floor_t = timing(ours), timing(floor)

            def p99(xs: list[float]) -> float:
                return sorted(xs)[int(0.99 * (len(xs) - 1))] / 1e3 if xs else float("nan")

            ratio = floor_rate / ours_rate if ours_rate else float("inf")
            detail = {"clients": clients, "calls_each": calls, "workers": workers, "ours_per_s": round(ours_rate, 1), "floor_per_s": round(floor_rate, 1),
                      "ours_p50_ms": round(ours_t.median / 1e3, 1), "ours_p99_ms": round(p99(ours), 1),
                      "floor_p50_ms": round(floor_t.median / 1e3, 1), "floor_p99_ms": round(p99(floor), 1),
                      "errors": ours_err, "floor_errors": floor_err,
                      "rss_mib": {"before": rss_before >> 20, "peak": rss_peak >> 20, "after_delete": rss_after >> 20}}  # fmt: skip
            on = f", {workers} server processes" if workers > 1 else ""
            rows.append(Row("HTTP load", f"{clients:,} clients at once, own episode each ({calls} calls each{on})",
                            f"{ours_rate:,.0f} calls/s, p50 {detail['ours_p50_ms']} ms, p99 {detail['ours_p99_ms']} ms, errors {ours_err}",
                            f"{floor_rate:,.0f} calls/s, p50 {detail['floor_p50_ms']} ms, p99 {detail['floor_p99_ms']} ms",
                            "same SDK, constant result, same load", ratio, "<= 1.5x, errors 0", ratio <= 1.5 and ours_err == 0, detail))  # fmt: skip
            rows.append(Row("HTTP load", f"server RSS, {clients:,} episodes{on}: before / peak / after delete (front process)",
                            f"{rss_before >> 20} / {rss_peak >> 20} / {rss_after >> 20} MiB", None, "", None, "", None))  # fmt: skip
    return rows


# ---------------------------------------------------------------- 3c. load from another core


def load_main(argv: list[str]) -> None:
    """The load generator's process (``python -c 'import bench.cases as c; c.load_main([...])'``):
    reads the URLs, calls and tool from a JSON file, drives them all at once, prints the figures."""
    job = json.loads(Path(argv[0]).read_text())
    samples, errors, wall = anyio.run(_load, job["urls"], job["calls"], job["tool"], job["arguments"])
    print(json.dumps({"samples": samples, "errors": errors, "wall": wall}))


def _pinned(core: int) -> list[str]:
    """``taskset -c CORE`` when the machine has that core and the tool, else nothing (not pinned)."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > core else []


def _generate(
    urls: list[str], calls: int, arguments: dict[str, Any], tmp: Path, watch: int, tool: str = "get_order"
) -> tuple[dict[str, Any], int]:
    """Run the load generator pinned to core 1 while sampling the server's RSS: (its figures, peak RSS)."""
    import subprocess
    import threading

    job = tmp / "job.json"
    job.write_text(json.dumps({"urls": urls, "calls": calls, "tool": tool, "arguments": arguments}))
    peak = [_server_rss(watch)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            with contextlib.suppress(OSError):
                peak[0] = max(peak[0], _server_rss(watch))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = subprocess.run([*_pinned(1), sys.executable, "-c", "import sys, bench.cases as c; c.load_main(sys.argv[1:])", str(job)],
                             cwd=ROOT, capture_output=True, text=True, check=True, timeout=1800)  # fmt: skip
    finally:
        done.set()
        sampler.join()
    return json.loads(out.stdout.strip().splitlines()[-1]), peak[0]


def load_rates(figures: dict[str, Any]) -> dict[str, float]:
    """The load generator's figures as calls/s, p50 and p99 (ms) and errors."""
    xs = sorted(figures["samples"])
    return {"per_s": len(xs) / figures["wall"] if figures["wall"] else 0.0,
            "p50_ms": xs[len(xs) // 2] / 1e3 if xs else float("nan"),
            "p99_ms": xs[int(0.99 * (len(xs) - 1))] / 1e3 if xs else float("nan"), "errors": figures["errors"]}  # fmt: skip


def load(quick: bool) -> list[Row]:
    """The server pinned to core 0, the load generator in its own process pinned to core 1 (where the
    machine has two cores and ``taskset``): N clients at once, each on its own episode, against the
    constant-result SDK server under the same load and pinning. Memory is the server's RSS before
    the episodes, at the peak of the load (sampled every 50 ms) and after they were ended and the
    reaper's next tick handed memory back."""
    import subprocess

    import httpx

    sizes = [(20, 5)] if quick else [(200, 20), (2000, 3)]
    order = seed_state(retail()).rows("order")[0]["id"]
    pinned = bool(_pinned(1))
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        floor_file = tmp / "floor.py"
        floor_file.write_text(FLOOR_SERVER)
        for clients, calls in sizes:
            p1, p2 = _free_port(), _free_port()
            env = {**os.environ, "SCALEENV_CONTROL_TOKEN": LOAD_TOKEN}
            ours_proc = subprocess.Popen([*_pinned(0), sys.executable, "-m", "scaleenv_mcp", "--root", str(ROOT), "serve", "retail", "--http",
                                          "--port", str(p1), "--max-per-creator", "10000", "--max-episodes", str(clients + 100),
                                          "--idle-seconds", "3600"],
                                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            floor_proc = subprocess.Popen([*_pinned(0), sys.executable, str(floor_file), "http", str(p2)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            try:
                _wait_port(p1, ours_proc)
                _wait_port(p2, floor_proc)
                control = httpx.Client(base_url=f"http://127.0.0.1:{p1}/control", headers={"authorization": f"Bearer {LOAD_TOKEN}"}, timeout=60)
                time.sleep(0.5)
                rss_before = _server_rss(ours_proc.pid)
                handles = [control.post("/episodes", json={}).json()["result"] for _ in range(clients)]
                ours, rss_peak = _generate([h["url"] for h in handles], calls, {"order_id": order}, tmp, ours_proc.pid)
                for h in handles:
                    control.delete(f"/episodes/{h['episode']}")
                time.sleep(2)  # the reaper's next tick hands the freed memory back to the OS
                rss_after = _server_rss(ours_proc.pid)
                floor_before = _server_rss(floor_proc.pid)
                floor, floor_peak = _generate([f"http://127.0.0.1:{p2}/mcp"] * clients, calls, {"order_id": order}, tmp, floor_proc.pid)
            finally:
                for proc in (ours_proc, floor_proc):
                    proc.terminate()
                    proc.wait(timeout=10)
            rates = {}
            for name, figures in (("ours", ours), ("floor", floor)):
                rates[name] = load_rates(figures)
            o, f = rates["ours"], rates["floor"]
            ratio = f["per_s"] / o["per_s"] if o["per_s"] else float("inf")
            where = "generator pinned to core 1, servers to core 0" if pinned else "not pinned (one core or no taskset)"
            rows.append(Row("load", f"{clients:,} clients at once, own episode each, {calls} calls each ({where})",
                            f"{o['per_s']:,.0f} calls/s, p50 {o['p50_ms']:,.1f} ms, p99 {o['p99_ms']:,.1f} ms, errors {o['errors']}",
                            f"{f['per_s']:,.0f} calls/s, p50 {f['p50_ms']:,.1f} ms, p99 {f['p99_ms']:,.1f} ms, errors {f['errors']}",
                            "same SDK, constant result, same load", ratio, "<= 1.5x, errors 0" if clients >= 2000 else "<= 1.5x",
                            ratio <= 1.5 and (o["errors"] == 0 or clients < 2000), {"clients": clients, "calls_each": calls, **{f"ours_{k}": v for k, v in o.items()},
                            **{f"floor_{k}": v for k, v in f.items()}, "pinned": pinned}))  # fmt: skip
            rows.append(Row("load", f"server RSS, {clients:,} episodes: before / peak / after ending them",
                            f"{rss_before >> 20} / {rss_peak >> 20} / {rss_after >> 20} MiB",
                            f"{floor_before >> 20} / {floor_peak >> 20} MiB", "constant-result server: before / peak", None, "", None))  # fmt: skip
    return rows


# ---------------------------------------------------------------- 4. concurrency


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def concurrency(quick: bool) -> list[Row]:
    """Measured in a fresh interpreter, so earlier cases' heap does not count as ours: once with every
    episode's state awake, once with the coordinator's default cap on awake states (the others sleep
    as the rows they changed and wake on their next call)."""
    import subprocess

    from scaleenv_mcp.episodes.coordinator import HOT_STATES

    def run(hot: int | None) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", f"import json, bench.cases as c; print(json.dumps(c.concurrency_figures({quick!r}, {hot!r})))"],
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=900,
        )  # fmt: skip
        figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return figures

    rows: list[Row] = []
    for hot in (None, HOT_STATES):
        f = run(hot)
        count = f["episodes"]
        how = "all awake" if hot is None else f"{hot:,} awake at most, the rest asleep"
        warm_ratio = f["single"] / f["warm"]
        rows += [
            Row("concurrency", f"{count:,} live episodes ({how}): RSS after 3+ calls each (fresh process)",
                f"{f['rss_total'] / 2**20:,.0f} MiB total, {f['rss_per_episode'] / 1024:,.1f} KiB per episode",
                f"{f['rss_base'] / 2**20:,.0f} MiB", "the same process before starting episodes", None,
                "under 100 KiB per episode" if hot is not None else "10,000 under 2 GiB",
                (f["rss_per_episode"] < 100 * 1024 if hot is not None else f["rss_total"] < 2 * 2**30) if count == 10_000 else None, f),
            Row("concurrency", f"tool calls/s, all {count:,} episodes in turn ({how})", f"{f['warm']:,.0f} calls/s",
                f"{f['single']:,.0f} calls/s", "one episode, same mix", warm_ratio, "within 2x" if hot is None else "",
                warm_ratio <= 2 if hot is None else None),
        ]  # fmt: skip
        if hot is None:
            rows.append(Row("concurrency", "tool calls/s, first call of each kind per episode (cold)", f"{f['cold']:,.0f} calls/s",
                            f"{f['single']:,.0f} calls/s", "one episode, same mix", f["single"] / f["cold"], "", None))  # fmt: skip
    return rows


def concurrency_figures(quick: bool, hot: int | None = None) -> dict[str, Any]:
    """``hot``: the cap on awake states (None: one per episode, so none ever sleeps)."""
    spec = retail()
    count = 1_000 if quick else 10_000
    seeded = seed_state(spec)
    orders = [o["id"] for o in seeded.rows("order")]
    customers = [c["id"] for c in seeded.rows("customer")]
    coordinator = Coordinator(spec, initial=seeded, max_episodes=count + 10, hot_states=hot or count + 10)
    before = _rss_bytes()
    episodes = [coordinator.start().id for _ in range(count)]
    after = _rss_bytes()

    def call(ep: str, i: int) -> None:
        k = i % 10
        if k < 7:
            coordinator.call(ep, "get_order", {"order_id": orders[i % len(orders)]})
        elif k < 9:
            coordinator.call(ep, "list_customer_orders", {"customer_id": customers[i % len(customers)]})
        else:
            coordinator.call(ep, "update_customer_city", {"customer_id": customers[i % len(customers)], "city": "Porto"})

    def rate(ids: list[str], seconds: float) -> float:
        done = i = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for _ in range(100):
                call(ids[i % len(ids)], i)
                i += 1
                done += 1
        return done / seconds

    start = time.perf_counter()
    for n, ep in enumerate(episodes):  # the first calls on each episode's connection prepare its statements
        call(ep, n * 10)
        call(ep, n * 10 + 7)
        call(ep, n * 10 + 9)
    cold = 3 * count / (time.perf_counter() - start)
    seconds = 2.0 if quick else 5.0
    single = rate(episodes[:1], seconds)
    warm = rate(episodes, seconds)
    total = _rss_bytes()
    return {
        "episodes": count, "rss_base": before, "rss_total": total, "rss_per_episode": round((total - before) / count),
        "rss_per_started_episode": round((after - before) / count),
        "single": single, "warm": warm, "cold": cold,
    }  # fmt: skip


# ---------------------------------------------------------------- 5. verification


def _hash_db(state: State) -> str:
    h = hashlib.sha256()
    for entity in state.spec.entities:
        h.update(json.dumps(state.rows(entity), sort_keys=True).encode())
    return h.hexdigest()


def verification(quick: bool) -> list[Row]:
    spec = retail()
    medium = seed_state(spec, scale=100)
    tasks = generate_tasks(spec, count=3, seed=1, initial=medium)
    task = next(t for t in tasks if t.kind == "action")
    coordinator = Coordinator(spec, tasks, initial=medium)
    episode = coordinator.start(task.id)
    for call in task.solution:
        assert coordinator.call(episode.id, call.tool, call.arguments).ok
    reference = medium.fork()
    for call in task.solution:
        assert execute(reference, call.tool, call.arguments).ok
    repeats = 5 if quick else 20
    ours = per_op(lambda: coordinator.verify(episode.id), repeats=repeats, inner=5)
    assert coordinator.verify(episode.id).success
    peer = per_op(lambda: _hash_db(episode.state) == _hash_db(reference), repeats=max(3, repeats // 4), inner=1)
    ratio = peer.median / ours.median
    return [
        Row("verification", f"reward of one episode (~{sum(medium.counts().values()):,} rows)", ours, peer,
            "hash every table of both end states", ratio, ">= 100x", ratio >= 100)
    ]  # fmt: skip


# ---------------------------------------------------------------- 6. synthesis throughput


def synthesis(quick: bool) -> list[Row]:
    names = domain_names(PATHS)
    if quick:
        names = names[:2]
    rows = []
    points = []
    for name in names:
        blueprint = ROOT / "synthesis" / "domains" / f"{name}.yaml"
        start = time.perf_counter()
        spec = load_blueprint(blueprint)
        report = test_domain(spec)
        tasks = generate_tasks(spec, count=10 if quick else 30)
        seconds = time.perf_counter() - start
        points.append((len(spec.tools), seconds))
        rows.append(Row("synthesis", f"{name} ({len(spec.tools)} tools)", f"{seconds:.2f} s",
                        extra={"tools": len(spec.tools), "tests_passed": report.passed, "tasks": len(tasks), "calls": report.calls}))  # fmt: skip
    if len(points) >= 2:
        xs, ys = zip(*points, strict=True)
        mx, my = statistics.mean(xs), statistics.mean(ys)
        slope = sum((x - mx) * (y - my) for x, y in points) / max(1e-9, sum((x - mx) ** 2 for x in xs))
        rows.append(Row("synthesis", "growth with tool count", f"{slope:+.3f} s per extra tool (least squares)",
                        extra={"mean_seconds_per_domain": round(my, 3)}))  # fmt: skip
    return rows


def rebuild(quick: bool) -> list[Row]:
    """The shipped corpus compiled from scratch (``scaleenv synth --all --force``: gate, 48 verified tasks
    and emit per domain, on one process per core as the command does), then the same command on the
    unchanged corpus, where every domain is up to date by its build stamp. Wall time, and CPU time of
    this process and its workers (steadier on a shared machine). The target (issue 28) is a full
    rebuild of 40 domains in 10 minutes on 2 cores: with fewer domains shipped, the wall time is
    scaled to 40. Quick mode compiles one domain."""
    files = sorted((ROOT / "synthesis" / "domains").glob("*.yaml"))[: 1 if quick else None]
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("synthesis", "servers", "manifests"):
            shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
        paths = ProjectPaths(root)
        copies = [paths.blueprints / f.name for f in files]
        wall, cpu = time.perf_counter(), _cpu_with_children()
        built = synth_blueprints(copies, paths, force=True, jobs=jobs)
        wall, cpu = time.perf_counter() - wall, _cpu_with_children() - cpu
        again_wall, again_cpu = time.perf_counter(), _cpu_with_children()
        again = synth_blueprints(copies, paths, jobs=jobs)
        again_wall, again_cpu = time.perf_counter() - again_wall, _cpu_with_children() - again_cpu
    n = len(files)
    written = sum(o.status == "written" for o in built)
    current = sum(o.status == "current" for o in again)
    forty = wall / n * 40 if n < 40 else wall
    tools = sum(len(o.compiled.spec.tools) for o in built if o.compiled is not None)
    return [
        Row("synthesis", f"full rebuild of {n} shipped domain(s), {tools} tools (synth --all --force, {jobs} jobs)",
            f"{wall:.1f} s wall, {cpu:.1f} s CPU", target="40 domains in <= 600 s wall on 2 cores", met=forty <= 600,
            extra={"domains": n, "tools": tools, "jobs": jobs, "written": written, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                   "cpu_s_per_domain": round(cpu / n, 2), "wall_s_for_40_domains": round(forty, 1)}),
        Row("synthesis", f"the same command on the unchanged corpus ({current} of {n} up to date)",
            f"{again_wall:.2f} s wall, {again_cpu:.2f} s CPU", baseline=f"{cpu:.1f} s CPU", baseline_name="full rebuild",
            ratio=again_cpu / cpu if cpu else None, target="seconds", met=current == n and again_wall < 10,
            extra={"up_to_date": current, "wall_s": round(again_wall, 3), "cpu_s": round(again_cpu, 3)}),
    ]  # fmt: skip


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (the compile workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# ---------------------------------------------------------------- 7. growth


def growth(quick: bool) -> list[Row]:
    spec = retail()
    rows = []
    for scale in ([10, 100] if quick else [10, 100, 1000]):
        state = seed_state(spec, scale=scale)
        n = sum(state.counts().values())
        order_id = state.rows("order")[len(state.rows("order")) // 2]["id"]
        read = per_op(lambda: execute(state, "get_order", {"order_id": order_id}), repeats=5, inner=200)
        state.track()
        change = _episode_changes(spec, state)
        samples = []
        for _ in range(5 if quick else 15):
            change()
            start = time.perf_counter()
            state.reset()
            samples.append((time.perf_counter() - start) * 1e6)
        image = state.snapshot()
        whole = per_op(lambda: State.from_snapshot(spec, image).close(), repeats=5, inner=1)
        rows.append(Row("growth", f"~{n:,} rows", f"keyed read {read.median:,.1f} us; journal reset {statistics.median(samples):,.1f} us",
                        None, "", None, "", None,
                        {"rows": n, "keyed_read_us": round(read.median, 1), "journal_reset_us": round(statistics.median(samples), 1),
                         "whole_image_restore_us": round(whole.median, 1)}))  # fmt: skip
    return rows


def evaluation(quick: bool) -> list[Row]:
    """The oracle over stored tasks: in-process MCP sessions against a stdio subprocess per episode."""
    from scaleenv_mcp.harness.evaluate import EvalOptions, run_evaluation

    def rate(isolation: str, per_domain: int | None, domains: list[str] | None) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            options = EvalOptions(domains=domains, per_domain=per_domain, out=Path(tmp) / "run", concurrency=2,
                                  isolation=isolation)  # type: ignore[arg-type]  # fmt: skip
            report = run_evaluation("oracle", options, paths=PATHS)
            elapsed = time.perf_counter() - start
            assert report.overall.pass_at_1 == 1.0 and report.overall.infra_faults == 0
            return report.overall.episodes / elapsed, report.overall.episodes

    inproc, n_in = rate("inproc", 8 if quick else None, ["retail"] if quick else None)
    process, n_proc = rate("process", 2 if quick else 4, ["retail"] if quick else None)
    return [
        Row("evaluation", f"oracle episodes/s, in-process MCP sessions ({n_in} episodes)", f"{inproc:,.1f} episodes/s",
            f"{process:,.2f} episodes/s", f"stdio subprocess per episode ({n_proc} episodes)", inproc / process,
            ">= 50 episodes/s", inproc >= 50, {"inproc_per_s": round(inproc, 2), "process_per_s": round(process, 3)}),
    ]  # fmt: skip


# ---------------------------------------------------------------- task generation as the state grows


def task_generation(quick: bool) -> list[Row]:
    """Verified tasks per second on the retail blueprint seeded with 100, 10,000 and 100,000 rows
    (seeding not counted): the cost should follow the candidate, not the tables."""
    import copy

    import yaml

    from scaleenv_mcp.engine.seed import seed_state
    from scaleenv_mcp.spec.load import parse_blueprint
    from scaleenv_mcp.tasks.generation import generate_tasks

    base = yaml.safe_load((PATHS.blueprints / "retail.yaml").read_text())
    total = sum(e.get("count", 20) for e in base["entities"].values())
    sizes = [100, 2_000] if quick else [100, 10_000, 100_000]
    count = 4 if quick else 24
    rates: dict[int, tuple[float, int]] = {}
    for target in sizes:
        data = copy.deepcopy(base)
        for entity in data["entities"].values():
            entity["count"] = max(3, int(entity.get("count", 20) * target / total))
        spec = parse_blueprint(data, f"retail at {target} rows")
        initial = seed_state(spec)
        rows = sum(initial.counts().values())
        start = time.perf_counter()
        tasks = generate_tasks(spec, count=count, initial=initial)
        rates[target] = (len(tasks) / (time.perf_counter() - start), rows)
        assert tasks
    first = sizes[0]
    return [
        Row("task generation", f"verified tasks/s, retail seeded with {rows:,} rows ({count} tasks)", f"{rate:,.1f} tasks/s",
            f"{rates[first][0]:,.1f} tasks/s", f"the same at {rates[first][1]:,} rows", rate / rates[first][0], "", None)
        for target, (rate, rows) in rates.items()
    ]  # fmt: skip


# ---------------------------------------------------------------- tasks from fresh seeds


def _scaled_retail(target: int) -> DomainSpec:
    """The retail blueprint with its entity counts scaled so its seeded state holds about ``target`` rows."""
    import copy

    import yaml

    from scaleenv_mcp.spec.load import parse_blueprint

    base = yaml.safe_load((PATHS.blueprints / "retail.yaml").read_text())
    total = sum(e.get("count", 20) for e in base["entities"].values())
    data = copy.deepcopy(base)
    for entity in data["entities"].values():
        entity["count"] = max(3, int(entity.get("count", 20) * target / total))
    return parse_blueprint(data, f"retail at {target} rows")


def seeded_task_generation(quick: bool) -> list[Row]:
    """Verified tasks per second drawn from fresh seeds (``generate_tasks(seeds=...)``: a state per
    seed, 6 tasks each), seeding included, on retail seeded with 100, 10,000 and 100,000 rows; and
    what one task from a new seed costs (seeding it, then drawing the first task)."""
    from scaleenv_mcp.compiler.pipeline import TASKS_PER_SEED, seeded_tasks

    sizes = [100, 2_000] if quick else [100, 10_000, 100_000]
    rows_out = []
    first_rate = 0.0
    for target in sizes:
        spec = _scaled_retail(target)
        seeds = 2 if quick or target >= 100_000 else 5
        start = time.perf_counter()
        probe = seed_state(spec, seed=10_000)
        seeding = time.perf_counter() - start
        rows = sum(probe.counts().values())
        probe.close()
        start = time.perf_counter()
        tasks = list(seeded_tasks(spec, range(100, 100 + seeds), TASKS_PER_SEED))
        rate = len(tasks) / (time.perf_counter() - start)
        assert len({t.initial_state["seed"] for t in tasks}) == seeds
        singles = []
        for seed in range(200, 202 if quick or target >= 100_000 else 205):
            start = time.perf_counter()
            next(seeded_tasks(spec, [seed], 1))
            singles.append(time.perf_counter() - start)
        first_rate = first_rate or rate
        one_ms = statistics.median(singles) * 1000
        rows_out.append(Row(
            "seeded tasks", f"verified tasks/s from fresh seeds, retail at {rows:,} rows ({len(tasks)} tasks, {seeds} seeds x {TASKS_PER_SEED}, seeding included)",
            f"{rate:,.1f} tasks/s; one task from a new seed {one_ms:,.0f} ms (seeding {seeding * 1000:,.0f} ms)",
            f"{first_rate:,.1f} tasks/s", f"the same at {sizes[0]} rows", rate / first_rate, "", None,
            {"rows": rows, "tasks_per_s": round(rate, 2), "one_task_new_seed_ms": round(one_ms, 1), "seeding_ms": round(seeding * 1000, 1)},
        ))  # fmt: skip
    return rows_out


# ---------------------------------------------------------------- what a task costs, distractors included


def task_cost(quick: bool) -> list[Row]:
    """What verified tasks cost on retail seeded with 100, 10,000 and 100,000 rows, now that every
    task gets distractors near its rows (``tasks/distractors.py``): tasks/s from one seeded state
    (median of 3 runs) against the same generation without distractors (the generator's call patched
    to a no-op, runs alternated with ours); one task from a new seed, seeding included, against seeding alone; and an episode's start
    on a task whose distractors the coordinator must first add (first start) against the same start
    once that image is cached."""
    from unittest import mock

    from scaleenv_mcp.compiler.pipeline import seeded_tasks

    sizes = [100, 2_000] if quick else [100, 10_000, 100_000]
    count = 4 if quick else 24
    out: list[Row] = []
    for target in sizes:
        spec = _scaled_retail(target)
        initial = seed_state(spec)
        rows = sum(initial.counts().values())
        samples: dict[bool, list[float]] = {False: [], True: []}
        kept: list[Any] = []
        for _ in range(1 if quick else 3):  # alternated, so a busy moment of the machine weighs on both sides
            for distractors in (False, True):
                off = mock.patch("scaleenv_mcp.tasks.generation.generator.add_distractors", lambda spec, initial, task, **_: task)
                with off if not distractors else contextlib.nullcontext():
                    start = time.perf_counter()
                    kept = generate_tasks(spec, count=count, initial=initial)
                    samples[distractors].append(len(kept) / (time.perf_counter() - start))
        rates = {k: statistics.median(v) for k, v in samples.items()}
        with_recipe = [t for t in kept if "distractors" in t.initial_state]
        initial.close()
        out.append(Row(
            "task cost", f"verified tasks/s, retail at {rows:,} rows, distractors included ({len(kept)} tasks, {len(with_recipe)} with distractors)",
            f"{rates[True]:,.1f} tasks/s", f"{rates[False]:,.1f} tasks/s", "the same generation without distractors", rates[True] / rates[False],
            "", None, {"rows": rows, "tasks_per_s": round(rates[True], 2), "without_distractors": round(rates[False], 2)},
        ))  # fmt: skip
        repeats = 1 if quick or target >= 100_000 else 3
        seedings, singles = [], []
        for k in range(repeats):
            start = time.perf_counter()
            seed_state(spec, seed=20_000 + k).close()
            seedings.append(time.perf_counter() - start)
            start = time.perf_counter()
            next(seeded_tasks(spec, [30_000 + k], 1))
            singles.append(time.perf_counter() - start)
        one, seeding_alone = statistics.median(singles) * 1000, statistics.median(seedings) * 1000
        out.append(Row(
            "task cost", f"one task from a new seed, retail at {rows:,} rows, seeding and distractors included",
            f"{one:,.0f} ms", f"{seeding_alone:,.0f} ms", "seeding that state alone", one / seeding_alone, "", None,
            {"rows": rows, "one_task_ms": round(one, 1), "seeding_ms": round(seeding_alone, 1)},
        ))  # fmt: skip
        coordinator = Coordinator(spec, [])
        colds: list[float] = []
        warms: list[float] = []
        for task in with_recipe[: 3 if quick else 6]:
            for bucket in (colds, warms):
                start = time.perf_counter()
                episode = coordinator.start(task)
                bucket.append(time.perf_counter() - start)
                coordinator.end(episode.id)
        if colds:
            cold, warm = timing([c * 1000 for c in colds], "ms"), timing([w * 1000 for w in warms], "ms")
            out.append(Row(
                "task cost", f"episode start on a task with distractors, retail at {rows:,} rows: its image built (first start)",
                cold, warm, "the same start, image cached", cold.median / warm.median, "", None, {"rows": rows},
            ))  # fmt: skip
    return out


# ---------------------------------------------------------------- evaluation on Ray


def ray_eval(quick: bool) -> list[Row]:
    """The oracle over stored tasks on a local Ray instance with 1 and 2 workers, against the local run."""
    from scaleenv_mcp.harness.evaluate import EvalOptions, run_evaluation

    domains = ["retail"] if quick else None
    per_domain = 8 if quick else None

    def rate(ray: str | None, workers: int | None) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            options = EvalOptions(domains=domains, per_domain=per_domain, out=Path(tmp) / "run", concurrency=2, ray=ray,
                                  ray_workers=workers)  # fmt: skip
            report = run_evaluation("oracle", options, paths=PATHS)
            elapsed = time.perf_counter() - start
            assert report.overall.pass_at_1 == 1.0 and report.overall.infra_faults == 0
            return report.overall.episodes / elapsed, report.overall.episodes

    local, n = rate(None, None)
    rows = []
    for workers in (1, 2):
        on_ray, _ = rate("local", workers)
        rows.append(Row("ray", f"oracle episodes/s on Ray, {workers} worker(s), {n} episodes, Ray start included",
                        f"{on_ray:,.1f} episodes/s", f"{local:,.1f} episodes/s", "the same run without Ray",
                        on_ray / local, "", None, {"workers": workers, "ray_per_s": round(on_ray, 2), "local_per_s": round(local, 2)}))  # fmt: skip
    return rows


# ---------------------------------------------------------------- every shipped domain's slowest calls


def _statements(state: State, tool: str, arguments: dict[str, Any]) -> list[str]:
    """The SQL one call runs, as SQLite saw it (parameters bound into the text)."""
    seen: list[str] = []
    state.conn.set_trace_callback(seen.append)
    try:
        with state.trial():
            assert execute(state, tool, arguments).ok
    finally:
        state.conn.set_trace_callback(None)
    return [sql for sql in seen if not sql.startswith(("SAVEPOINT trial", "ROLLBACK TO trial", "RELEASE trial"))]


def domain_calls(quick: bool) -> list[Row]:
    """Per shipped domain, its slowest write and slowest read through ``execute`` (rules, effects,
    bounds, the result view), against replaying the very statements that call ran through raw
    sqlite3 in the same run: the ratio is what the engine adds on top of SQLite. Every call runs
    inside a rolled-back savepoint (both sides), so each repeat sees the seeded state."""
    from scaleenv_mcp.engine.binding import find_successful_call

    names = ["airline", "retail", "telecom_plans"] if quick else domain_names(PATHS)
    repeats, inner = (3, 50) if quick else (7, 300)
    rows = []
    for name in names:
        spec = load_domain(PATHS, name)
        state = seed_state(spec)
        timed: dict[bool, list[tuple[float, str, Timing, Timing]]] = {True: [], False: []}
        for tool, tool_spec in spec.tools.items():
            found = find_successful_call(state, tool, seed=0, limit=120)
            if found is None:
                continue
            arguments = found[0]
            statements = _statements(state, tool, arguments)
            conn = state.conn

            def ours(tool: str = tool, arguments: dict[str, Any] = arguments) -> None:
                with state.trial():
                    execute(state, tool, arguments)

            def raw(statements: list[str] = statements) -> None:
                conn.execute("SAVEPOINT trial")
                for sql in statements:
                    conn.execute(sql).fetchall()
                conn.execute("ROLLBACK TO trial")
                conn.execute("RELEASE trial")

            t_ours = per_op(ours, repeats=repeats, inner=inner, clock=time.process_time)
            t_raw = per_op(raw, repeats=repeats, inner=inner, clock=time.process_time)
            timed[tool_spec.is_write].append((t_ours.median, f"{tool} ({len(statements)} statements)", t_ours, t_raw))
        for is_write, label in ((True, "slowest write"), (False, "slowest read")):
            if not timed[is_write]:
                continue
            _, figure, t_ours, t_raw = max(timed[is_write], key=lambda item: item[0])
            ratio = t_ours.median / t_raw.median
            rows.append(Row("domain calls", f"{name}: {label}, {figure}, CPU time", t_ours, t_raw, "raw sqlite3, the same statements",
                            ratio, "", None, {"domain": name, "write": is_write, "tools_timed": len(timed[is_write])}))  # fmt: skip
        state.close()
    return rows


# ---------------------------------------------------------------- the calls compared with tau2-bench


def episode_calls(quick: bool) -> list[Row]:
    """The airline calls compared with tau2-bench's ``get_response`` (see bench/RESULTS.md), CPU time,
    through the episode service as an agent makes them (the policy monitor included), against the
    same call through ``execute`` alone in the same run: the ratio is what the monitor and the
    episode bookkeeping add. The first call of a new episode is set against a warm call."""
    import scaleenv_mcp as se

    domain = se.load("airline")
    service = Coordinator(domain.spec, [domain.task("airline-004")])
    handle = service.start("airline-004")
    state = service.episode(handle.id).state
    email = {"email": "elena.weber4663@postbox.net"}
    service.call(handle.id, "find_customer_by_email", email)
    repeats, inner = (3, 50) if quick else (7, 400)
    clock = time.process_time
    rows = []

    def cancel_and_reset() -> None:
        assert service.call(handle.id, "cancel_reservation", {"reservation_id": "RES-0046"}).ok
        service.reset(handle.id)
        service.call(handle.id, "find_customer_by_email", email)

    def cancel_and_reset_plain() -> None:
        assert execute(state, "cancel_reservation", {"reservation_id": "RES-0046"}).ok
        service.reset(handle.id)
        service.call(handle.id, "find_customer_by_email", email)

    def idle_reset() -> None:
        service.reset(handle.id)
        service.call(handle.id, "find_customer_by_email", email)

    def cancel_by_hand_and_reset() -> None:
        assert _cancel_reservation_by_hand(state, "RES-0046") is not None
        service.reset(handle.id)
        service.call(handle.id, "find_customer_by_email", email)

    assert execute(state, "cancel_reservation", {"reservation_id": "RES-0046"}).ok
    interpreted = state.changes()
    service.reset(handle.id)
    assert _cancel_reservation_by_hand(state, "RES-0046") is not None
    assert state.changes() == interpreted, "the hand-written cancel must change what the blueprint's does"
    service.reset(handle.id)
    service.call(handle.id, "find_customer_by_email", email)

    reset_only = per_op(idle_reset, repeats=repeats, inner=inner, clock=clock)
    for label, ours_fn, plain_fn in [
        ("cancel_reservation and the reset that undoes it", cancel_and_reset, cancel_and_reset_plain),
        ("get_reservation (a joined read)", lambda: service.call(handle.id, "get_reservation", {"reservation_id": "RES-0046"}),
         lambda: execute(state, "get_reservation", {"reservation_id": "RES-0046"})),
    ]:  # fmt: skip
        t_ours = per_op(ours_fn, repeats=repeats, inner=inner, clock=clock)
        t_plain = per_op(plain_fn, repeats=repeats, inner=inner, clock=clock)
        if "reset" in label:  # an idle reset and the re-identification are taken out; the reset of the write stays
            t_ours = Timing(t_ours.median - reset_only.median, t_ours.low - reset_only.median, t_ours.high - reset_only.median)
            t_plain = Timing(t_plain.median - reset_only.median, t_plain.low - reset_only.median, t_plain.high - reset_only.median)
        rows.append(Row("episode calls", f"airline {label}, CPU time", t_ours, t_plain, "execute alone, no monitor",
                        t_ours.median / t_plain.median, "", None))  # fmt: skip
        if "reset" in label:
            t_hand = per_op(cancel_by_hand_and_reset, repeats=repeats, inner=inner, clock=clock)
            t_hand = Timing(t_hand.median - reset_only.median, t_hand.low - reset_only.median, t_hand.high - reset_only.median)
            rows.append(Row("episode calls", "airline cancel_reservation through execute, against the same tool written by hand "
                            "on the same state (the reset that undoes it taken out), CPU time", t_plain, t_hand,
                            "Python written for this one tool: its reads, rules, effects, savepoint and undo journal",
                            t_plain.median / t_hand.median, "", None))  # fmt: skip
    warm = per_op(lambda: service.call(handle.id, "find_customer_by_email", email), repeats=repeats, inner=inner, clock=clock)

    def first_call() -> None:
        fresh = service.start("airline-004")
        start = clock()
        service.call(fresh.id, "find_customer_by_email", email)
        firsts.append((clock() - start) * 1e6)
        service.end(fresh.id)

    firsts: list[float] = []
    for _ in range(inner):
        first_call()
    first = timing(firsts)
    rows.append(Row("episode calls", "airline first call of a new episode (find_customer_by_email), CPU time", first, warm,
                    "the same call, warm", first.median / warm.median, "", None))  # fmt: skip
    image = service.episode(handle.id).initial

    def start_and_end() -> None:
        service.end(service.start("airline-004").id)

    def bare_connection() -> None:  # what a new episode's database costs sqlite3 alone: a connection, the image, a first read
        conn = sqlite3.connect(":memory:")
        conn.deserialize(image)
        conn.execute('SELECT * FROM "customer" WHERE id = ?', ("CUS-0001",)).fetchall()
        conn.close()

    t_start = per_op(start_and_end, repeats=repeats, inner=inner, clock=clock)
    t_bare = per_op(bare_connection, repeats=repeats, inner=inner, clock=clock)
    rows.append(Row("episode calls", "airline episode start and end (Coordinator.start + end), CPU time", t_start, t_bare,
                    "sqlite3 alone: a new connection, the image, one read", t_start.median / t_bare.median, "", None))  # fmt: skip
    service.end(handle.id)
    return rows


def _cancel_reservation_by_hand(state: State, reservation_id: str) -> dict[str, Any] | None:
    """The airline ``cancel_reservation`` written in Python for this one tool, through the same
    :class:`State` (its reads, the undo journal, a savepoint): what the blueprint's rules and effects
    cost without being interpreted, and so the floor of any engine that keeps rows in SQLite. The
    agent-kept rules are evaluated and their outcome dropped, as the monitor would only be told;
    arguments are not checked and values not normalized."""
    now = state.spec.clock
    with state.reading_once():
        reservation = state.get("reservation", reservation_id)
        if reservation is None or reservation["status"] != "confirmed":
            return None
        segments = state.find("segment", {"reservation_id": reservation_id}, keep=True)
        ahead = all(state.get("flight", s["flight_id"])["departs_at"] > now for s in segments)  # type: ignore[index]
        insured = reservation["insured"] or reservation["cabin"] == "business"
        del ahead, insured  # kept by the agent: the call goes on either way
        seats = "seats_business" if reservation["cabin"] == "business" else "seats_economy"
        with state.atomic():
            state.update("reservation", reservation_id, {"status": "cancelled"})
            for charge in state.find("payment", {"reservation_id": reservation_id, "kind": "charge"}, limit=40, keep=True):
                method = state.get("payment_method", charge["payment_method_id"])
                assert method is not None
                refund = {"id": state.next_id("payment"), "reservation_id": reservation_id, "payment_method_id": method["id"],
                          "amount": charge["amount"], "kind": "refund"}  # fmt: skip
                state.insert("payment", refund)
                if method["kind"] != "card" and charge["amount"]:
                    state.update("payment_method", method["id"], {"balance": round(method["balance"] + charge["amount"], 2)})
            for segment in state.find("segment", {"reservation_id": reservation_id}, keep=True):
                flight = state.get("flight", segment["flight_id"])
                assert flight is not None
                if reservation["passengers"]:
                    state.update("flight", flight["id"], {seats: flight[seats] + reservation["passengers"]})
        return state.get("reservation", reservation_id)


# ---------------------------------------------------------------- seeding as states grow


def seeding(quick: bool) -> list[Row]:
    """Seeding airline (a correlated ``exists`` in a ref_where) and retail at about 1k, 10k and 100k
    rows, against the 1k run's time per row times the rows: a ratio near 1 is linear growth."""
    targets = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    rows = []
    for name in ("airline", "retail"):
        spec = load_domain(PATHS, name)
        base_rows = sum(seed_state(spec).counts().values())
        per_row: float | None = None
        for target in targets:
            scale = target / base_rows
            start = time.process_time()
            state = seed_state(spec, scale=scale)
            seconds = time.process_time() - start
            n = sum(state.counts().values())
            state.close()
            if per_row is None:
                per_row = seconds / n
            linear = per_row * n
            ratio = seconds / linear
            rows.append(Row("seeding", f"{name}, {n:,} rows (CPU time)", f"{seconds:,.2f} s", f"{linear:,.2f} s",
                            "the ~1k run's time per row, times the rows", ratio,
                            "<= 1.5x (linear)" if target > 1_000 else "", ratio <= 1.5 if target > 1_000 else None,
                            {"domain": name, "rows": n, "seconds": round(seconds, 3)}))  # fmt: skip
    return rows


# ---------------------------------------------------------------- compile time as domains grow


def wide_blueprint(entities: int) -> dict[str, Any]:
    """A valid blueprint with ``entities`` entities: members own items of every other kind, each
    kind with a lookup, a list, a read and a rule-guarded write (4 tools per entity)."""
    ents: dict[str, Any] = {
        "member": {"description": "A member.", "id_prefix": "MEM", "label": "name", "count": 12, "fields": {
            "name": {"type": "string", "sample": "person_name", "identifying": True},
            "email": {"type": "string", "sample": "email", "unique": True, "identifying": True}}},
    }  # fmt: skip
    tools: dict[str, Any] = {
        "find_member_by_email": {"description": "Find a member by email.", "params": {
            "email": {"type": "string", "max_length": 200}}, "lookup": {"entity": "member", "by": {"email": "email"}}},
    }  # fmt: skip
    for i in range(1, entities):
        e = f"item{i}"
        ents[e] = {"description": f"Kind {i} of item.", "id_prefix": f"I{i:03d}", "label": "title", "count": 12, "fields": {
            "member_id": {"type": "ref", "ref": "member"},
            "title": {"type": "string", "sample": "title", "identifying": True},
            "status": {"type": "enum", "values": ["open", "closed"]},
            "amount": {"type": "money", "min": 0, "range": [1, 90]}}}  # fmt: skip
        tools[f"get_{e}"] = {"description": f"Get one {e}.", "params": {f"{e}_id": {"type": "ref", "ref": e}}}
        tools[f"list_member_{e}s"] = {"description": f"List a member's {e}s.", "params": {"member_id": {"type": "ref", "ref": "member"}},
                                     "search": {"entity": e, "where": ["member_id == member_id"], "order_by": "title"}}  # fmt: skip
        tools[f"close_{e}"] = {"description": f"Close an open {e}.", "params": {f"{e}_id": {"type": "ref", "ref": e}},
                               "requires": [{"check": f"{e}.status == 'open'", "error": "Only open ones can be closed."}],
                               "effects": [f"{e}.status = 'closed'"], "returns": e}  # fmt: skip
    return {"name": f"wide_{entities}", "title": f"Wide {entities}", "description": "A synthetic domain that grows.",
            "policy": "Identify the member by email before looking at or changing anything of theirs.", "clock": "2026-03-16T09:00:00", "seed": 3,
            "actor": {"entity": "member", "identify": ["find_member_by_email"]}, "entities": ents, "tools": tools}  # fmt: skip


def compile_growth(quick: bool) -> list[Row]:
    """Validate + gate (3 seeds) + 8 tasks for blueprints of growing size: is the growth linear?"""
    import scaleenv_mcp as se

    sizes = [3, 5] if quick else [10, 50, 100, 200]
    seconds = {}
    for n in sizes:
        start = time.perf_counter()
        domain = se.compile_blueprint(wide_blueprint(n), tasks=8)
        seconds[n] = time.perf_counter() - start
        assert domain.report is not None and domain.report.passed and domain.tasks
    first = sizes[0]
    rows = []
    for n in sizes:
        per = seconds[n] / n
        ratio = per / (seconds[first] / first)
        target = "100 entities under 30 s" if n == 100 else ""
        rows.append(Row("compile growth", f"{n} entities, {3 * (n - 1) + 1} tools: validate, gate on 3 seeds, 8 tasks",
                        f"{seconds[n]:,.1f} s ({per * 1000:,.0f} ms per entity)", f"{seconds[first] / first * 1000:,.0f} ms per entity",
                        f"the {first}-entity blueprint", ratio, target, seconds[n] < 30 if n == 100 else None))  # fmt: skip
    return rows


def durable(quick: bool) -> list[Row]:
    """``serve --state-dir``: write-call latency with persistence against without, restart time (bench/durable.py)."""
    from .durable import rows

    return list(rows(quick))


CASES: dict[str, Callable[[bool], list[Row]]] = {
    "tool_calls": tool_calls,
    "reset": reset,
    "mcp": mcp_round_trip,
    "startup": startup,
    "http_load": http_load,
    "concurrency": concurrency,
    "verification": verification,
    "synthesis": synthesis,
    "rebuild": rebuild,
    "growth": growth,
    "evaluation": evaluation,
    "compile_growth": compile_growth,
    "ray": ray_eval,
    "task_generation": task_generation,
    "seeded_tasks": seeded_task_generation,
    "task_cost": task_cost,
    "durable": durable,
    "domain_calls": domain_calls,
    "episode_calls": episode_calls,
    "load": load,
    "seeding": seeding,
}

EXTRAS: dict[str, tuple[str, str]] = {"ray": ("ray", "ray")}
"""case -> (module it imports, the project extra that installs it): without it the case is skipped, with a reason"""


def missing_extra(case: str) -> str | None:
    """Why ``case`` cannot run here (an optional extra is not installed), or None."""
    import importlib.util

    needed = EXTRAS.get(case)
    if needed is None:
        return None
    try:
        if importlib.util.find_spec(needed[0]) is not None:
            return None
    except ValueError:  # a module blocked with sys.modules[name] = None
        pass
    return f"skipped: needs the optional {needed[0]!r} package (pip install -e '.[{needed[1]}]')"

os.environ.setdefault("PYTHONHASHSEED", "0")
