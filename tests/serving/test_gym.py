"""``serve --http --nemo-gym``: NeMo Gym's resources-server protocol, driven the way its clients
(NeMo Gym's agent servers, verifiers' ``nemo_gym`` taskset) drive it: seed a session from a
dataset row, call tools directly or over the session's MCP endpoint, verify a Responses-API
response. The rewards are the ones ``scaleenv eval`` gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

import scaleenv_mcp as se
from scaleenv_mcp.cli import main

from .test_http import Server, start

pytestmark = pytest.mark.e2e

TASKS = ["retail-001", "retail-002", "retail-003", "retail-004", "retail-008"]


@pytest.fixture(scope="module")
def gym() -> Iterator[Server]:
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
