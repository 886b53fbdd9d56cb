"""``python -m bench.tau2_calls --tau2 PATH [--airline-data DIR] [--quick]``: retail and airline tool calls, tau2-bench's path and ours, side by side.

Why. The issue asks to bring every write and joined read to at least the peer's speed, measured
side by side in one process: this script times comparable retail calls through tau2-bench's own
tool path and through our episode service, in the same process and run, and prints the ratio
(theirs / ours: above 1 means we are faster). It is run by hand only (it needs a tau2-bench source
tree at ``PATH``, with ``src/tau2`` and ``data/tau2/domains/retail/db.json``); our CI never imports
tau2. The figures are written to ``bench/tau2_call_figures.json`` with the tau2 commit, the date
and the machine's load average at the start and the end.

Method. CPU time (``time.process_time``); 5 runs (3 with ``--quick``) of ``inner`` calls each
(400; 100 with ``--quick``), after a warm-up of a few hundred calls of each kind on each side; the
per-call mean of each run is kept and the median and [min..max] over runs are reported, in µs.

Theirs: the retail environment built as tau2 builds it (``tau2.domains.retail.environment.get_environment``,
its data read from ``PATH/data`` through ``TAU2_DATA_DIR``), each call a tau2 ``ToolCall`` message
(built outside the timing) answered by ``Environment.get_response`` (the tool, ``sync_tools``, the
debug log line, the JSON dump of the result). Loguru is set to tau2's default level (ERROR), as
its runner does. The write ``cancel_pending_order`` runs once per run over ``inner`` distinct
pending orders (each cancelled once in the batch); after the batch, outside the timing, the orders
and their users (gift-card refunds change a user's balance) are put back from deep copies taken
at the start; the database hash is checked equal to the original at the end.
``modify_user_address`` alternates two addresses, so the state returns to itself every two calls.

Airline (when the tau2 tree has ``data/tau2/domains/airline/db.json``, or ``--airline-data`` gives
the original tau-bench's airline data, from which tau2's was made: see :func:`airline_db`):
``cancel_reservation`` over distinct reservations, restored outside the timing on both sides, and
``get_reservation_details`` / ``get_reservation`` on a reservation with several flights. tau2's
cancel changes the reservation only (it logs "Seats release not implemented"); ours also releases
the seats and refunds the payments.

Whole episodes (retail): a call is a small part of what an episode costs a trainer. Each side runs
the first tasks of its own retail task set whole, as its evaluation pays for them apart from the
models: tau2 builds the environment (reading ``db.json``), answers each expected action through
``get_response``, and computes the environment part of its reward (two more environments, both
replayed, database hashes compared; see :func:`theirs_episodes`); we start an episode on the
task's initial state, run its verified solution, submit the answer where one is asked for,
compute the reward and end the episode (:func:`ours_episodes`). Each side's every episode must
earn its reward. The tasks differ (theirs have about 7 expected actions, ours about 3 calls), so
the figure is per episode, not per call.

Ours: the same through the episode service (``Coordinator``) with the policy monitor, as an agent
makes them: one retail task whose customer has a pending order, the customer identified first
(``find_customer_by_email``). The write (``cancel_order``) is timed with the ``service.reset``
that undoes it and the re-identification, minus an idle reset and re-identification measured in
the same run (as ``bench.cases.episode_calls`` does): the reset's cost of undoing the write stays
in our figure. ``update_customer_city`` alternates two cities; reads repeat one call. Every call
is checked to succeed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TAU2_COMMIT = "a2c024725189473d2d7cea3a5cfdbcc67478e41f"
"""The tau2-bench commit the source at ``--tau2`` was taken from."""

TAU_BENCH_COMMIT = "59a200c"
"""The original tau-bench commit whose airline data stands in for tau2's airline ``db.json`` (absent
from the stored snapshot of tau2-bench); ``--airline-data`` is its ``tau_bench/envs/airline/data``."""

OUT = Path(__file__).with_name("tau2_call_figures.json")
WARMUP = 300
PIP_NAMES = {"dotenv": "python-dotenv", "docstring_parser": "docstring-parser", "yaml": "PyYAML"}
"""Import name -> the package to install, where they differ."""

clock = time.process_time
Stats = dict[str, float]


def stats(samples: list[float]) -> Stats:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def runs(fn: Callable[[], Any], *, repeats: int, inner: int) -> list[float]:
    """Per-call CPU time in µs of ``inner`` calls of ``fn``, once per run."""
    from .cases import op_samples

    return op_samples(fn, repeats=repeats, inner=inner, clock=clock)


def text(s: Stats) -> str:
    return f"{s['median']:,.1f} [{s['min']:,.1f}..{s['max']:,.1f}]"


# ---------------------------------------------------------------- theirs: tau2-bench


def load_tau2(root: Path, domain: str = "retail", db: Any = None) -> tuple[Any, Any]:
    """tau2's ``Environment`` for ``domain`` (on ``db`` if given, else its shipped database) and its
    ``ToolCall`` class, read from ``root``; exits naming the package to install when one of tau2's
    imports is missing."""
    src, data = root / "src", root / "data"
    if not (src / "tau2").is_dir() or not (data / "tau2" / "domains" / "retail" / "db.json").is_file():
        sys.exit(f"--tau2 {root}: expected src/tau2 and data/tau2/domains/retail/db.json under it")
    os.environ["TAU2_DATA_DIR"] = str(data)  # read by tau2.utils.utils at import
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # tau2 imports litellm: no network fetch at import
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    try:
        logger = importlib.import_module("loguru").logger
        logger.remove()
        logger.add(sys.stderr, level="ERROR")  # tau2's default log level (its runner sets it the same way)
        environment = importlib.import_module(f"tau2.domains.{domain}.environment")
        message = importlib.import_module("tau2.data_model.message")
    except ModuleNotFoundError as exc:
        name = (exc.name or "?").split(".")[0]
        sys.exit(f"tau2-bench needs the package {PIP_NAMES.get(name, name)!r} (import {exc.name!r} failed): "
                 f"python3 -m pip install {PIP_NAMES.get(name, name)}")  # fmt: skip
    env = environment.get_environment() if db is None else environment.get_environment(db=db)
    return env, message.ToolCall


def airline_db(root: Path, tau_bench_data: Path | None) -> tuple[Any, str]:
    """tau2's airline ``FlightDB``: its own ``db.json`` if the tree has it, else built from the
    original tau-bench's airline data (``flights.json``, ``users.json``, ``reservations.json``; tau2's
    database was made from them), each user given its ``user_id`` (its key there), the one field
    tau2's model asks for that tau-bench's data leaves out; tau2's own model validates the result."""
    model = importlib.import_module("tau2.domains.airline.data_model").FlightDB
    shipped = root / "data" / "tau2" / "domains" / "airline" / "db.json"
    if shipped.is_file():
        return model.load(str(shipped)), str(shipped)
    if tau_bench_data is None:
        sys.exit(f"{shipped} is missing: give --airline-data, the original tau-bench's tau_bench/envs/airline/data")
    data = {k: json.loads((tau_bench_data / f"{k}.json").read_text()) for k in ("flights", "users", "reservations")}
    for user_id, user in data["users"].items():
        user.setdefault("user_id", user_id)
    return model.model_validate(data), f"tau-bench {TAU_BENCH_COMMIT}: tau_bench/envs/airline/data (+ user_id per user)"


def answered(env: Any, messages: list[Any]) -> float:
    """CPU seconds tau2's ``Environment.get_response`` takes to answer ``messages`` in turn (messages
    built outside the timing); every answer is checked to be no error."""
    responses = []
    start = clock()
    for m in messages:
        responses.append(env.get_response(m))
    seconds = clock() - start
    bad = [r.content for r in responses if r.error]
    assert not bad, bad[:3]
    return seconds


def theirs(root: Path, repeats: int, inner: int) -> tuple[dict[str, Stats], dict[str, Any]]:
    env, tool_call = load_tau2(root)
    db = env.tools.db
    original_hash = env.get_db_hash()
    pending = [oid for oid, o in db.orders.items() if o.status == "pending"]
    if len(pending) < max(inner, WARMUP):
        sys.exit(f"tau2 retail db has {len(pending)} pending orders; {max(inner, WARMUP)} are needed")
    batch = pending[:inner]
    warm_batch = pending[:WARMUP]
    users_touched = {db.orders[oid].user_id for oid in pending}
    saved_orders = {oid: db.orders[oid].model_copy(deep=True) for oid in pending}
    saved_users = {uid: db.users[uid].model_copy(deep=True) for uid in users_touched}

    def restore(order_ids: list[str]) -> None:
        for oid in order_ids:
            db.orders[oid] = saved_orders[oid].model_copy(deep=True)
            uid = saved_orders[oid].user_id
            db.users[uid] = saved_users[uid].model_copy(deep=True)

    def call(name: str, **arguments: Any) -> Any:
        return tool_call(id="bench", name=name, arguments=arguments, requestor="assistant")

    def cancel_batch(order_ids: list[str]) -> float:
        """CPU time of cancelling each of ``order_ids`` once, in seconds; the state is put back after."""
        seconds = answered(env, [call("cancel_pending_order", order_id=oid, reason="no longer needed") for oid in order_ids])
        restore(order_ids)
        return seconds

    # a joined read: an order with several lines; a user with several orders (the order's user)
    order_id = next(oid for oid, o in db.orders.items() if len(o.items) >= 3)
    user_id = db.orders[order_id].user_id
    user = db.users[user_id]
    addresses = [call("modify_user_address", user_id=user_id, address1=a1, address2="", city=city, state=st, country="USA", zip=z)
                 for a1, city, st, z in [("12 Elm St", "Austin", "TX", "78701"), ("98 Oak Ave", "Denver", "CO", "80202")]]  # fmt: skip
    flip = [0]

    def modify_address() -> None:
        flip[0] ^= 1
        assert not env.get_response(addresses[flip[0]]).error

    order_read = call("get_order_details", order_id=order_id)
    user_read = call("get_user_details", user_id=user_id)

    def read_order() -> None:
        assert not env.get_response(order_read).error

    def read_user() -> None:
        assert not env.get_response(user_read).error

    saved_user = user.model_copy(deep=True)
    out: dict[str, Stats] = {}
    cancel_batch(warm_batch)  # warm-up
    out["cancel"] = stats([cancel_batch(batch) / inner * 1e6 for _ in range(repeats)])
    out["cancel_batch"] = out["cancel"]  # one measurement, set against both of ours
    for key, fn in [("address", modify_address), ("order", read_order), ("user", read_user)]:
        for _ in range(WARMUP):
            fn()
        out[key] = stats(runs(fn, repeats=repeats, inner=inner))
    db.users[user_id] = saved_user
    assert env.get_db_hash() == original_hash, "tau2's database was not put back as it was"
    facts = {
        "rows": {"users": len(db.users), "orders": len(db.orders), "products": len(db.products),
                 "variants": sum(len(p.variants) for p in db.products.values())},
        "ids": {"cancelled_orders": f"{len(batch)} distinct pending orders, {batch[0]}..{batch[-1]}",
                "order": order_id, "order_items": len(db.orders[order_id].items), "user": user_id,
                "user_orders": len(user.orders), "user_payment_methods": len(user.payment_methods)},
    }  # fmt: skip
    return out, facts


# ---------------------------------------------------------------- ours: the episode service


def cancel_in_turn(
    service: Any, episode: str, tool: str, param: str, ids: list[str], identify: Callable[[], None], rounds: int, calls: int
) -> list[float]:
    """As theirs is measured: distinct rows cancelled one after another with ``tool``, the episode
    reset (and the customer identified again) outside the timing whenever every one of ``ids`` has
    been cancelled once. Per-call CPU µs of each of ``rounds`` runs of ``calls`` calls."""
    samples = []
    for _ in range(rounds):
        spent, done = 0.0, 0
        while done < calls:
            batch = ids[: calls - done]
            start = clock()
            for row_id in batch:
                assert service.call(episode, tool, {param: row_id}).ok
            spent += clock() - start
            done += len(batch)
            service.reset(episode)
            identify()
        samples.append(spent / calls * 1e6)
    return samples



def ours(repeats: int, inner: int) -> tuple[dict[str, Stats], dict[str, Any]]:
    import scaleenv_mcp as se
    from scaleenv_mcp.episodes.coordinator import Coordinator

    domain = se.load("retail")
    for task in domain.tasks:  # the first task whose customer has a pending order
        if not task.actor or "email" not in task.user:
            continue
        service = Coordinator(domain.spec, [task])
        handle = service.start(task.id)
        state = service.episode(handle.id).state
        found = state.find("order", {"customer_id": task.actor, "status": "pending"})
        if found:
            break
        service.end(handle.id)
    else:
        sys.exit("no retail task's customer has a pending order")
    episode = handle.id
    customer_id = task.actor
    order_id = found[0]["id"]
    email = {"email": task.user["email"]}
    assert service.call(episode, "find_customer_by_email", email).ok

    def identify() -> None:
        assert service.call(episode, "find_customer_by_email", email).ok

    def idle_reset() -> None:
        service.reset(episode)
        identify()

    def cancel_and_reset() -> None:
        assert service.call(episode, "cancel_order", {"order_id": order_id}).ok
        service.reset(episode)
        identify()

    cities = ["Austin", "Denver"]
    flip = [0]

    def update_city() -> None:
        flip[0] ^= 1
        assert service.call(episode, "update_customer_city", {"customer_id": customer_id, "city": cities[flip[0]]}).ok

    def read_order() -> None:
        assert service.call(episode, "get_order", {"order_id": order_id}).ok

    def read_customer() -> None:
        assert service.call(episode, "get_customer", {"customer_id": customer_id}).ok

    cancellable = [str(o["id"]) for o in state.find("order", {"status__in": ["pending", "paid"]})]

    def cancel_batches(rounds: int, calls: int) -> list[float]:
        return cancel_in_turn(service, episode, "cancel_order", "order_id", cancellable, identify, rounds, calls)

    out: dict[str, Stats] = {}
    cancel_batches(1, WARMUP)
    out["cancel_batch"] = stats(cancel_batches(repeats, inner))
    for _ in range(WARMUP):
        cancel_and_reset()
        idle_reset()
    idle = stats(runs(idle_reset, repeats=repeats, inner=inner))
    cancel = runs(cancel_and_reset, repeats=repeats, inner=inner)
    # an idle reset and the re-identification are taken out; the reset's undoing of the write stays
    out["cancel"] = stats([s - idle["median"] for s in cancel])
    for key, fn in [("address", update_city), ("order", read_order), ("user", read_customer)]:
        for _ in range(WARMUP):
            fn()
        out[key] = stats(runs(fn, repeats=repeats, inner=inner))
        service.reset(episode)  # the listing of calls stays short; outside the timing
        identify()
    facts = {
        "rows": state.counts(),
        "task": task.id,
        "ids": {"customer": customer_id, "order": order_id, "cancelled_in_turn": cancellable},
        "idle_reset_and_identify_us": idle,
    }
    service.end(episode)
    return out, facts


# ---------------------------------------------------------------- whole episodes, both sides


EPISODE_TASKS = 40
"""tasks each side runs per pass in the whole-episode comparison (12 with ``--quick``): the first
with expected actions, in each side's own order"""
EPISODE_REPEATS = 3
"""passes over those tasks (2 with ``--quick``); a tau2 episode costs about half a CPU-second"""


def theirs_episodes(root: Path, repeats: int, quick: bool) -> tuple[Stats, dict[str, Any]]:
    """tau2's retail episodes as its runner pays for them, apart from the models: the environment
    built (its database read from ``db.json``, as ``get_environment`` does for every simulation),
    each expected action answered through ``get_response`` as the agent's call, then the
    environment part of the reward (``EnvironmentEvaluator.calculate_reward``: two more
    environments, the trajectory and the expected actions replayed, the database hashes compared).
    Every episode's database must match the expected one."""
    load_tau2(root)  # tau2 on the path, its logging set
    environment = importlib.import_module("tau2.domains.retail.environment")
    message = importlib.import_module("tau2.data_model.message")
    evaluator = importlib.import_module("tau2.evaluator.evaluator_env").EnvironmentEvaluator
    tasks = [t for t in environment.get_tasks() if t.evaluation_criteria is not None and t.evaluation_criteria.actions]
    tasks = tasks[: 12 if quick else EPISODE_TASKS]

    def episode(task: Any) -> float:
        start = clock()
        env = environment.get_environment()
        trajectory: list[Any] = []
        for i, action in enumerate(task.evaluation_criteria.actions):
            call = message.ToolCall(id=f"call-{i}", name=action.name, arguments=action.arguments, requestor=action.requestor)
            trajectory.append(message.AssistantMessage(role="assistant", tool_calls=[call]))
            trajectory.append(env.get_response(call))
        reward = evaluator.calculate_reward(environment_constructor=environment.get_environment, task=task, full_trajectory=trajectory)
        seconds = clock() - start
        assert reward.db_check is not None and reward.db_check.db_match, task.id
        return seconds

    episode(tasks[0])  # imports and first-use caches, outside the timing
    per_run = [sum(episode(t) for t in tasks) / len(tasks) * 1e6 for _ in range(repeats)]
    calls = sum(len(t.evaluation_criteria.actions) for t in tasks)
    return stats(per_run), {"episodes": len(tasks), "calls_per_episode": round(calls / len(tasks), 2)}


def ours_episodes(repeats: int, quick: bool) -> tuple[Stats, dict[str, Any]]:
    """Our retail episodes as the in-process evaluation pays for them, apart from the agent and MCP:
    an episode started on the task's initial state (its seed's image, with the task's distractors
    built when that image is not among those kept), each call of the task's verified solution, the
    answer submitted as a value where the task asks a question, the reward (every check, the policy
    monitor's verdict included), the episode ended. Every episode must earn the full reward."""
    import scaleenv_mcp as se
    from scaleenv_mcp.episodes.coordinator import Coordinator
    from scaleenv_mcp.spec.task import ANSWER_TOOL
    from scaleenv_mcp.tasks.grader import format_answer_value

    domain = se.load("retail")
    tasks = domain.tasks[: 12 if quick else EPISODE_TASKS]
    service = Coordinator(domain.spec, tasks)

    def episode(task: Any) -> float:
        start = clock()
        episode_id = service.start(task.id).id
        for call in task.solution:
            assert service.call(episode_id, call.tool, dict(call.arguments)).ok, (task.id, call.tool)
        check = next((c for c in task.checks if c.kind == "answer"), None)
        answer = format_answer_value(check.value) if check is not None else None
        if task.kind == "refusal":
            text = f"I'm sorry, I can't do that: it is {answer}, and the policy does not allow it then."
        elif check is not None:
            assert service.call(episode_id, ANSWER_TOOL, {"answer": check.value}).ok, task.id
            text = f"The answer is {answer}."
        else:
            text = "Done: everything you asked for is complete."
        verdict = service.verify(episode_id, text)
        service.end(episode_id)
        seconds = clock() - start
        assert verdict.reward == 1.0, (task.id, [c for c in verdict.checks if not c.passed])
        return seconds

    episode(tasks[0])
    per_run = [sum(episode(t) for t in tasks) / len(tasks) * 1e6 for _ in range(repeats)]
    calls = sum(len(t.solution) for t in tasks)
    return stats(per_run), {"episodes": len(tasks), "calls_per_episode": round(calls / len(tasks), 2)}


# ---------------------------------------------------------------- airline, both sides


def theirs_airline(root: Path, data: Path | None, repeats: int, inner: int) -> tuple[dict[str, Stats], dict[str, Any]]:
    """tau2's airline ``cancel_reservation`` over distinct reservations not yet cancelled (each once
    per batch, put back from deep copies outside the timing; tau2's cancel changes only the
    reservation), and ``get_reservation_details`` on a reservation with several flights and passengers."""
    load_tau2(root)  # tau2 on the path, its logging set
    db, source = airline_db(root, data)
    env, tool_call = load_tau2(root, "airline", db)
    db = env.tools.db
    original_hash = env.get_db_hash()
    open_ones = [rid for rid, r in db.reservations.items() if getattr(r, "status", None) != "cancelled"]
    if len(open_ones) < max(inner, WARMUP):
        sys.exit(f"tau2 airline db has {len(open_ones)} reservations not cancelled; {max(inner, WARMUP)} are needed")
    saved = {rid: db.reservations[rid].model_copy(deep=True) for rid in open_ones}

    def call(name: str, **arguments: Any) -> Any:
        return tool_call(id="bench", name=name, arguments=arguments, requestor="assistant")

    def cancel_batch(ids: list[str]) -> float:
        seconds = answered(env, [call("cancel_reservation", reservation_id=rid) for rid in ids])
        for rid in ids:
            db.reservations[rid] = saved[rid].model_copy(deep=True)
        return seconds

    joined = max(open_ones, key=lambda rid: (len(db.reservations[rid].flights), len(db.reservations[rid].passengers)))
    read = call("get_reservation_details", reservation_id=joined)

    def read_reservation() -> None:
        assert not env.get_response(read).error

    out: dict[str, Stats] = {}
    cancel_batch(open_ones[:WARMUP])
    out["cancel_batch"] = stats([cancel_batch(open_ones[:inner]) / inner * 1e6 for _ in range(repeats)])
    for _ in range(WARMUP):
        read_reservation()
    out["reservation"] = stats(runs(read_reservation, repeats=repeats, inner=inner))
    assert env.get_db_hash() == original_hash, "tau2's database was not put back as it was"
    r = db.reservations[joined]
    facts = {
        "source": source,
        "rows": {"flights": len(db.flights), "users": len(db.users), "reservations": len(db.reservations)},
        "ids": {"cancelled": f"{inner} distinct reservations not cancelled", "read": joined,
                "read_flights": len(r.flights), "read_passengers": len(r.passengers), "read_payments": len(r.payment_history)},
    }  # fmt: skip
    return out, facts


def ours_airline(repeats: int, inner: int) -> tuple[dict[str, Stats], dict[str, Any]]:
    """Our airline through the episode service with the policy monitor: every reservation cancelled
    in turn (ours releases the seats and refunds the payments), the episode reset outside the timing
    after each pass; ``get_reservation`` (a joined read: segments, passengers, payments) on the
    reservation with the most segments. The customer is identified first, as the policy asks."""
    import scaleenv_mcp as se
    from scaleenv_mcp.episodes.coordinator import Coordinator

    domain = se.load("airline")
    task = domain.task("airline-004")
    service = Coordinator(domain.spec, [task])
    episode = service.start(task.id).id
    state = service.episode(episode).state
    email = {"email": task.user["email"]}

    def identify() -> None:
        assert service.call(episode, "find_customer_by_email", email).ok

    identify()
    cancellable = [str(r["id"]) for r in state.find("reservation", {"status__in": ["confirmed"]})]
    per_reservation: dict[str, int] = {}
    for segment in state.find("segment", {}):
        per_reservation[str(segment["reservation_id"])] = per_reservation.get(str(segment["reservation_id"]), 0) + 1
    joined = max(cancellable, key=lambda rid: per_reservation.get(rid, 0))

    def cancel_batches(rounds: int, calls: int) -> list[float]:
        return cancel_in_turn(service, episode, "cancel_reservation", "reservation_id", cancellable, identify, rounds, calls)

    def read_reservation() -> None:
        assert service.call(episode, "get_reservation", {"reservation_id": joined}).ok

    out: dict[str, Stats] = {}
    cancel_batches(1, WARMUP)
    out["cancel_batch"] = stats(cancel_batches(repeats, inner))
    for _ in range(WARMUP):
        read_reservation()
    out["reservation"] = stats(runs(read_reservation, repeats=repeats, inner=inner))
    facts = {
        "rows": state.counts(),
        "task": task.id,
        "ids": {"cancelled_in_turn": len(cancellable), "read": joined, "read_segments": per_reservation.get(joined, 0)},
    }
    service.end(episode)
    return out, facts


# ---------------------------------------------------------------- the table

CALLS = [
    ("cancel_batch", "cancel_pending_order", "cancel_order (distinct orders, the state restored outside the timing, as theirs)"),
    ("cancel", "cancel_pending_order", "cancel_order + the reset that undoes it (minus an idle reset); theirs restores untimed"),
    ("address", "modify_user_address", "update_customer_city"),
    ("order", "get_order_details", "get_order"),
    ("user", "get_user_details", "get_customer"),
]
AIRLINE_CALLS = [
    ("cancel_batch", "cancel_reservation", "cancel_reservation (distinct reservations, the state restored outside the timing)"),
    ("reservation", "get_reservation_details", "get_reservation (segments, passengers, payments joined)"),
]


def table(calls: list[tuple[str, str, str]], t_theirs: dict[str, Stats], t_ours: dict[str, Stats]) -> tuple[list[str], list[dict[str, Any]]]:
    """The markdown lines and the JSON rows of one domain's calls."""
    lines = ["| call (theirs tool / ours tool) | tau2-bench µs | scaleenv µs | ratio (theirs/ours) |", "|---|---|---|---|"]
    rows = []
    for key, their_tool, our_tool in calls:
        ratio = t_theirs[key]["median"] / t_ours[key]["median"]
        lines.append(f"| {their_tool} / {our_tool} | {text(t_theirs[key])} | {text(t_ours[key])} | {ratio:.2f}x |")
        rows.append({"call": key, "theirs_tool": their_tool, "ours_tool": our_tool, "theirs_us": t_theirs[key],
                     "ours_us": t_ours[key], "ratio": round(ratio, 3)})  # fmt: skip
    return lines, rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tau2", type=Path, required=True, help="tau2-bench source (src/tau2 and data/tau2 under it)")
    parser.add_argument("--airline-data", type=Path, help="the original tau-bench's tau_bench/envs/airline/data, when "
                        "the tau2 tree lacks data/tau2/domains/airline/db.json (airline rows are left out without either)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="3 runs of 100 calls instead of 5 of 400")
    args = parser.parse_args(argv)
    repeats, inner = (3, 100) if args.quick else (5, 400)
    root = args.tau2.resolve()
    airline = args.airline_data is not None or (root / "data" / "tau2" / "domains" / "airline" / "db.json").is_file()
    load_start = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    t_theirs, f_theirs = theirs(root, repeats, inner)
    t_ours, f_ours = ours(repeats, inner)
    if airline:
        a_theirs, fa_theirs = theirs_airline(root, args.airline_data, repeats, inner)
        a_ours, fa_ours = ours_airline(repeats, inner)
    passes = 2 if args.quick else EPISODE_REPEATS
    e_theirs, fe_theirs = theirs_episodes(root, passes, args.quick)
    e_ours, fe_ours = ours_episodes(passes, args.quick)
    load_end = os.getloadavg()

    lines, rows = table(CALLS, t_theirs, t_ours)
    print(f"CPU time per call, median [min..max] over {repeats} runs of {inner} calls (after {WARMUP} warm-up calls each)\n")
    print("retail\n\n" + "\n".join(lines))
    print(f"\ntau2-bench retail db rows: {f_theirs['rows']}")
    print(f"scaleenv retail episode state rows ({f_ours['task']}): {f_ours['rows']}")
    airline_figures: dict[str, Any] = {}
    if airline:
        a_lines, a_rows = table(AIRLINE_CALLS, a_theirs, a_ours)
        print("\nairline\n\n" + "\n".join(a_lines))
        print(f"\ntau2-bench airline db ({fa_theirs['source']}) rows: {fa_theirs['rows']}")
        print(f"scaleenv airline episode state rows ({fa_ours['task']}): {fa_ours['rows']}")
        airline_figures = {"airline_rows": a_rows, "airline_theirs": fa_theirs, "airline_ours": fa_ours}
    e_ratio = e_theirs["median"] / e_ours["median"]
    print(f"\nwhole retail episodes, CPU time per episode, median [min..max] over {passes} passes\n")
    print("| side | episodes a pass | calls per episode | µs per episode |\n|---|---|---|---|")
    print(f"| tau2-bench: environment built, expected actions answered, environment reward | {fe_theirs['episodes']} | "
          f"{fe_theirs['calls_per_episode']} | {text(e_theirs)} |")  # fmt: skip
    print(f"| scaleenv: episode started, verified solution called, answer submitted, reward, ended | {fe_ours['episodes']} | "
          f"{fe_ours['calls_per_episode']} | {text(e_ours)} |")  # fmt: skip
    print(f"ratio (theirs/ours) per episode: {e_ratio:,.0f}x")
    print(f"load average: start {load_start}, end {load_end}")

    figures = {
        "source": "python -m bench.tau2_calls" + (" --airline-data PATH" if args.airline_data else "") + (" --quick" if args.quick else ""),
        "tau2_commit": TAU2_COMMIT,
        "date": started.isoformat(timespec="seconds"),
        "loadavg_start": list(load_start),
        "loadavg_end": list(load_end),
        "clock": "time.process_time (CPU time)",
        "repeats": repeats,
        "inner": inner,
        "warmup": WARMUP,
        "theirs_restore": "per run: one batch of `inner` distinct pending orders, each cancelled once; the orders and their "
                          "users put back from deep copies after the batch, outside the timing; db hash checked at the end",
        "ours_write": "cancel_batch: the cancellable orders (pending or paid) cancelled in turn, the episode reset outside "
                      "the timing after each pass (as theirs); cancel: cancel_order + service.reset + find_customer_by_email, "
                      "minus the median of an idle reset + find_customer_by_email measured in the same run",
        "rows": rows,
        "theirs": f_theirs,
        "ours": f_ours,
        **airline_figures,
        "episodes": {"theirs_us": e_theirs, "ours_us": e_ours, "ratio": round(e_ratio, 1), "theirs": fe_theirs, "ours": fe_ours,
                     "passes": passes},
    }  # fmt: skip
    OUT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
