"""``serve --http --nemo-gym``: NeMo Gym's resources-server protocol, driven the way its clients
(NeMo Gym's agent servers, verifiers' ``nemo_gym`` taskset) drive it: seed a session from a
dataset row, call tools directly or over the session's MCP endpoint, verify a Responses-API
response. The rewards are the ones ``scaleenv eval`` gives."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.testclient import TestClient

import scaleenv_mcp as se
from scaleenv_mcp.cli import main
from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.serving.gym import COOKIE, MAX_FIELDS, MAX_PASS_K, aggregate_metrics, gym_routes
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..adapters.hidden import DOMAIN, TASK, WRONG_ANSWER, expected_value
from ..conftest import PATHS, shipped_spec
from .test_http import Server, start


def _sample() -> list[str]:
    """One retail task of each kind, then two more: the kinds matter, not which ids a generation gave them."""
    tasks = load_domain_tasks(PATHS, "retail")
    picked = [next(t.id for t in tasks if t.kind == kind) for kind in ("action", "information", "refusal")]
    return picked + [t.id for t in tasks if t.id not in picked][:2]


TASKS = _sample()


@pytest.fixture(scope="module")
def gym() -> Iterator[Server]:  # a `scaleenv serve` subprocess: the tests using it are e2e
    yield from start("--nemo-gym")


def rows(tmp_path: Path) -> dict[str, dict[str, Any]]:
    assert main(["export", "tasks", "retail", "--to", "nemo-gym", "--out", str(tmp_path)]) == 0
    return {r["task_id"]: r for r in map(json.loads, (tmp_path / "nemo_gym.jsonl").read_text().splitlines())}


def response_from(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An OpenAI chat transcript as the Responses-API object NeMo Gym verifies."""
    output: list[dict[str, Any]] = []
    for m in messages[2:]:
        if m["role"] == "assistant":
            if m.get("content"):
                output.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": m["content"]}]})
            for c in m.get("tool_calls") or []:
                output.append({"type": "function_call", "call_id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]})
        elif m["role"] == "tool":
            output.append({"type": "function_call_output", "call_id": m["tool_call_id"], "output": m["content"]})
    return {"id": "resp_1", "object": "response", "output": output}


@pytest.mark.e2e
@pytest.mark.parametrize("agent", ["oracle", "noop"])
def test_gym_rollouts_pay_what_scaleenv_eval_pays(gym: Server, agent: str, tmp_path: Path) -> None:
    report = se.evaluate(agent, task_ids=TASKS, out=tmp_path / "run")
    data = rows(tmp_path)
    assert {data[t]["kind"] for t in TASKS} == {"action", "information", "refusal"}
    for record in report.records:
        row = data[record.task_id]
        assert "checks" not in json.dumps(row) and row["responses_create_params"]["input"][1]["role"] == "user"
        messages = json.loads((tmp_path / "run" / record.trajectory).read_text())["messages"]
        with httpx.Client(base_url=gym.base, timeout=20) as http:
            seeded = http.post("/seed_session", json=row)
            assert seeded.status_code == 200 and seeded.json()["mcp"]["url_path"].endswith("/mcp")
            results = iter(m["content"] for m in messages if m["role"] == "tool")
            for m in messages:
                for c in m.get("tool_calls") or []:
                    reply = http.post(f"/{c['function']['name']}", content=c["function"]["arguments"])
                    assert reply.text == next(results) and reply.status_code == (400 if reply.text.startswith("error") else 200)
            verdict = http.post("/verify", json={**row, "response": response_from(messages)})
            assert verdict.status_code == 200
            body = verdict.json()
            assert body["reward"] == record.reward and body["success"] == float(record.success)
            assert body["responses_create_params"] == row["responses_create_params"] and "response" in body
            assert {"reward_fraction", "reward_binary", "reward_product", "checks_passed", "checks_total"} <= set(body)
            assert http.post("/verify", json=row).status_code == 400  # the session ended with its verdict


@pytest.mark.e2e
def test_tools_over_the_sessions_mcp_endpoint_act_on_the_same_episode(gym: Server, tmp_path: Path) -> None:
    row = rows(tmp_path)["retail-004"]
    task = se.load("retail").task("retail-004")
    with httpx.Client(base_url=gym.base, timeout=20) as http:
        url = gym.base + http.post("/seed_session", json=row).json()["mcp"]["url_path"]

        async def act() -> None:
            async with Client(url) as client:
                assert {t.name for t in (await client.list_tools()).tools} == set(se.load("retail").tools)
                for call in task.solution:
                    assert not (await client.call_tool(call.tool, dict(call.arguments))).is_error

        anyio.run(act)
        body = http.post("/verify", json={**row, "response": {"output": []}}).json()
        assert body["reward"] == 1.0 and body["success"] == 1.0


@pytest.mark.e2e
def test_bad_gym_requests_get_one_clear_error_and_change_nothing(gym: Server, tmp_path: Path) -> None:
    row = rows(tmp_path)["retail-004"]
    with httpx.Client(base_url=gym.base, timeout=20) as http:
        assert http.post("/verify", json=row).status_code == 400  # no session yet
        assert http.post("/get_order", json={"order_id": "ORD-0001"}).status_code == 400
        assert http.post("/seed_session", json={**row, "task_id": "retail-999"}).status_code == 404
        assert http.post("/seed_session", json={"responses_create_params": {}}).status_code == 400
        assert http.post("/seed_session", content=b"{not json").status_code == 400
        assert http.post("/seed_session", content=b"[" * 50_000 + b"]" * 50_000).status_code == 400
        assert http.post("/seed_session", content=b" " * (2 << 20)).status_code == 413
        assert http.post("/seed_session", json=row).status_code == 200
        unknown = http.post("/no_such_tool", json={})
        assert unknown.status_code == 404 and "no_such_tool" in unknown.text
        bad = http.post("/get_order", json={"order_id": 5})
        assert bad.status_code == 400 and bad.text.startswith("invalid_arguments")
        body = http.post("/verify", json={**row, "response": {"output": "not a list"}}).json()
        assert body["reward"] == 0.0  # nothing was done, and no answer could be read


def test_nemo_gym_needs_http() -> None:
    assert main(["serve", "retail", "--nemo-gym"]) == 2


# ------------------------------------------------------------------ in process, on a clock the test moves


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Gym:
    http: TestClient
    service: EpisodeService
    clock: Clock

    def seed(self, task: str) -> str:
        reply = self.http.post("/seed_session", json={"task_id": task, "responses_create_params": {"input": []}})
        assert reply.status_code == 200, reply.text
        return str(reply.cookies[COOKIE])

    def use(self, token: str) -> None:
        self.http.cookies.clear()
        self.http.cookies.set(COOKIE, token)

    def episode(self, token: str) -> str | None:
        return next((h.episode for h in self.service.handles.values() if h.token == token), None)


def in_process(grace: float = 120.0, clock: Clock | None = None, domain: str = "retail") -> Iterator[Gym]:
    spec = shipped_spec(domain)
    kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
    service = EpisodeService(Coordinator(spec, load_domain_tasks(PATHS, domain)), **kwargs)
    app = Starlette(routes=gym_routes(service, None, set(spec.tools), grace_seconds=grace))
    with TestClient(app) as http:
        yield Gym(http, service, clock or Clock())
    service.close()


@pytest.fixture
def local() -> Iterator[Gym]:
    yield from in_process(clock=Clock())


def test_the_seed_reply_names_the_server_as_nemo_gym_does(local: Gym) -> None:
    reply = local.http.post("/seed_session", json={"task_id": "retail-004"}).json()
    mcp = reply["mcp"]
    assert mcp["server_name"] == "retail" and mcp["transport"] == "http" and mcp["headers"] == {}
    assert mcp["url_path"].startswith("/episodes/") and mcp["url_path"].endswith("/mcp")


def test_verify_ends_the_episode_and_shows_no_expected_value() -> None:
    for local in in_process(clock=Clock(), domain=DOMAIN):  # the shipped question whose answer no tool shows
        token = local.seed(TASK)
        assert local.episode(token) is not None
        texts = []
        for call in se.load(DOMAIN).task(TASK).solution:
            reply = local.http.post(f"/{call.tool}", json=dict(call.arguments))
            assert reply.status_code == 200
            texts.append(reply.text)
        response = {"output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": WRONG_ANSWER}]}]}
        verdict = local.http.post("/verify", json={"task_id": TASK, "response": response})
        body = verdict.json()
        assert body["reward"] == 0.0 and body["checks"] == [{"kind": "answer", "passed": False}, {"kind": "no_other_changes", "passed": True}]
        assert local.episode(token) is None and not local.service.handles  # ended with its verdict
        summary = local.http.post("/aggregate_metrics", json={"verify_responses": [body]}).text
        assert expected_value() not in "".join(texts) + verdict.text + summary


def test_a_rollout_that_dies_before_verify_is_ended_after_the_grace(local: Gym) -> None:
    dead, alive = local.seed("retail-004"), local.seed("retail-001")
    local.clock.now = 100.0
    local.use(alive)
    assert local.http.post("/get_order", json={"order_id": "ORD-0001"}).status_code in (200, 400)  # a call keeps it alive
    local.clock.now = 150.0  # `dead` idle 150 s, `alive` 50 s; the grace is 120 s
    other = local.seed("retail-002")  # any NeMo Gym request sweeps
    assert local.episode(dead) is None and local.episode(alive) is not None and local.episode(other) is not None
    local.use(dead)
    assert local.http.post("/get_order", json={"order_id": "ORD-0001"}).status_code == 400  # "no session"
    local.clock.now = 1000.0
    local.use(alive)
    assert local.http.post("/verify", json={"task_id": "retail-001", "response": {"output": []}}).status_code == 400
    assert not local.service.handles  # the server's 15-minute idle expiry never had to act


def test_the_grace_runs_without_further_requests() -> None:
    for gym in in_process(grace=0.2):
        gym.seed("retail-004")
        assert gym.service.handles
        deadline = time.monotonic() + 5
        while gym.service.handles and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not gym.service.handles


def test_aggregate_metrics_answers_nemo_gyms_shape(local: Gym) -> None:
    def reply(task: int, rollout: int, success: bool) -> dict[str, Any]:
        return {"_ng_task_index": task, "_ng_rollout_index": rollout, "reward": float(success), "success": float(success),
                "checks_passed": 2.0 if success else 1.0, "response": {"usage": {"output_tokens": 10 * (rollout + 1)}},
                "responses_create_params": {"input": []}, "checks": [{"kind": "answer", "passed": success}]}  # fmt: skip

    batch = [reply(0, 0, True), reply(0, 1, True), reply(1, 0, True), reply(1, 1, False), reply(2, 0, False), reply(2, 1, False)]
    got = local.http.post("/aggregate_metrics", json={"verify_responses": batch})
    assert got.status_code == 200
    body = got.json()
    assert body == aggregate_metrics(batch) and set(body) == {"group_level_metrics", "agent_metrics", "key_metrics"}
    groups = body["group_level_metrics"]
    assert [g["_ng_task_index"] for g in groups] == [0, 1, 2] and [g["num_rollouts"] for g in groups] == [2, 2, 2]
    assert [g["mean/reward"] for g in groups] == [1.0, 0.5, 0.0] and groups[1]["std/reward"] == pytest.approx(0.70710678)
    agent = body["agent_metrics"]
    assert agent["mean/reward"] == pytest.approx(0.5) and agent["max/reward"] == 1.0 and agent["median/checks_passed"] == 1.5
    assert agent["mean/output_tokens"] == 15.0 and "mean/_ng_task_index" not in agent
    assert agent["pass@1/success"] == pytest.approx(200 / 3) and agent["pass@2/success"] == pytest.approx(200 / 3)
    assert agent["pass^2/success"] == pytest.approx(100 / 3)
    assert body["key_metrics"]["mean/reward"] == agent["mean/reward"] and "pass^2/success" in body["key_metrics"]
    assert local.http.post("/aggregate_metrics", json={"verify_responses": []}).json() == {
        "group_level_metrics": [], "agent_metrics": {}, "key_metrics": {}
    }
    assert local.http.post("/aggregate_metrics", json={"verify_responses": "all"}).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        '{"task_id": "retail-004", "response": {"output": []}, "temperature": NaN}',
        '{"task_id": "retail-004", "response": {"output": [{"type": "message", "role": "assistant", "content": "done \\ud800"}]}}',
    ],
    ids=["nan", "lone-surrogate"],
)
def test_a_verify_body_that_cannot_be_echoed_is_a_400_and_the_rollout_keeps_its_episode(local: Gym, body: str) -> None:
    """The reply echoes the request: one that could not be written must not end the episode, or the
    grade would be lost; the rollout can send the body again, fixed."""
    token = local.seed("retail-004")
    refused = local.http.post("/verify", content=body, headers={"content-type": "application/json"})
    assert refused.status_code == 400 and "\n" not in refused.json()["error"] and "Traceback" not in refused.text
    assert local.episode(token) is not None
    graded = local.http.post("/verify", json={"task_id": "retail-004", "response": {"output": []}})
    assert graded.status_code == 200 and "reward" in graded.json() and local.episode(token) is None


def test_aggregate_metrics_refuses_numbers_too_large_to_average_and_skips_integers_past_a_float(local: Gym) -> None:
    huge = local.http.post("/aggregate_metrics", content='{"verify_responses": [{"reward": 1e308}, {"reward": 1e308}]}')
    assert huge.status_code == 400 and huge.json() == {"error": "the verify responses hold numbers too large to average"}
    odd = local.http.post("/aggregate_metrics", content='{"verify_responses": [{"reward": 1, "x": 1e308}, {"reward": 0, "x": 1e308}]}')
    assert odd.status_code == 200 and odd.json()["agent_metrics"]["mean/reward"] == 0.5  # another field too large: left out
    assert "mean/x" not in odd.json()["agent_metrics"]
    long = local.http.post("/aggregate_metrics", content='{"verify_responses": [{"reward": 1, "tokens": ' + "9" * 400 + "}]}")
    assert long.status_code == 200 and long.json()["agent_metrics"]["mean/reward"] == 1.0
    assert "mean/tokens" not in long.json()["agent_metrics"]


def test_pass_at_k_is_what_its_definition_gives_and_k_is_bounded() -> None:
    """pass@k: some of a task's first k rollouts (by rollout index) succeeded; pass^k: all of them did;
    averaged over tasks, in percent; computed in one pass where it used to sort every task again for
    every k (10,000 rollouts of one task took 11 s of the event loop)."""
    rng = random.Random(7)
    batch = [{"_ng_task_index": t, "_ng_rollout_index": r, "success": float(rng.random() < 0.6)}
             for t in range(9) for r in rng.sample(range(12), 12)]  # fmt: skip
    agent = aggregate_metrics(batch)["agent_metrics"]
    for k in range(1, 13):
        firsts = [sorted((b for b in batch if b["_ng_task_index"] == t), key=lambda b: b["_ng_rollout_index"])[:k] for t in range(9)]
        assert agent[f"pass@{k}/success"] == pytest.approx(100 * sum(any(b["success"] for b in f) for f in firsts) / 9)
        assert agent[f"pass^{k}/success"] == pytest.approx(100 * sum(all(b["success"] for b in f) for f in firsts) / 9)
    many = aggregate_metrics([{"_ng_task_index": 0, "_ng_rollout_index": i, "success": 1.0} for i in range(MAX_PASS_K + 50)])
    assert f"pass@{MAX_PASS_K}/success" in many["agent_metrics"] and f"pass@{MAX_PASS_K + 1}/success" not in many["agent_metrics"]


def test_a_body_nested_past_what_a_reply_can_echo_is_a_400_and_the_rollout_keeps_its_episode(local: Gym) -> None:
    token = local.seed("retail-004")
    deep = '{"task_id": "retail-004", "response": {"output": []}, "extra": ' + "[" * 961 + "]" * 961 + "}"
    refused = local.http.post("/verify", content=deep, headers={"content-type": "application/json"})
    assert refused.status_code == 400 and refused.json() == {"error": "request body nested more than 64 levels deep"}
    assert local.episode(token) is not None


def test_aggregate_metrics_reads_each_reply_once_and_summarizes_a_bounded_number_of_fields() -> None:
    """Each reply with a field of its own: every field was looked for in every reply (30,000 took 58 s)."""
    batch = [{"_ng_task_index": 0, "_ng_rollout_index": i, f"f{i:04d}": 1.0, "reward": float(i % 2)} for i in range(400)]
    agent = aggregate_metrics(batch)["agent_metrics"]
    fields = {key.split("/", 1)[1] for key in agent if key.startswith("mean/")}
    assert len(fields) == MAX_FIELDS and "f0000" in fields and agent["mean/f0000"] == 1.0
    assert agent["mean/reward"] == 0.5  # the headline is never crowded out
    assert aggregate_metrics(batch)["group_level_metrics"][0]["num_rollouts"] == 400
    groups = aggregate_metrics([{"_ng_task_index": True, "success": 1.0}, {"_ng_task_index": 1, "success": 0.0}])["group_level_metrics"]
    assert [g["_ng_task_index"] for g in groups] == [0, 1]  # true is no index: not merged with task 1
    assert aggregate_metrics([{"success": "false"}])["agent_metrics"]["pass@1/success"] == 0.0  # the text "false" is no success
    assert aggregate_metrics([{"success": 0.5}])["agent_metrics"]["pass@1/success"] == 0.0  # nor is a partial one
    assert not any(k.startswith("pass") for k in aggregate_metrics([{"reward": 1.0}])["agent_metrics"])  # none reported: none measured
