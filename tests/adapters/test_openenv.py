"""OpenEnv (openenv-core from the registry): its own harness drives our sessions, and its own
reward resolution pays what ``scaleenv eval`` pays on the same tasks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openenv.core.harness", reason="the OpenEnv adapter is tested against openenv-core: pip install 'scaleenv-mcp[openenv]'")

from openenv.core.harness import HarnessRunLimits, MCPHarnessAdapter, ModelStepResult, build_harness_rollout_func
from openenv.core.llm_client import LLMResponse, ToolCall

import scaleenv_mcp as se
from scaleenv_mcp.adapters.openenv import ScaleenvSessionFactory

from .hidden import DOMAIN, TASK, WRONG_ANSWER, expected_value


def _sample() -> list[str]:
    """Tasks of every kind over four domains (the kinds matter, not which ids a generation gave them)."""
    wanted = [("retail", "action"), ("retail", "information"), ("airline", "information"), ("hotel", "refusal"),
              ("it_helpdesk", "action")]  # fmt: skip
    return [next(t.id for t in se.load(domain).tasks if t.kind == kind) for domain, kind in wanted]


TASKS = _sample()


def replay(messages: list[dict[str, Any]]) -> Any:
    """A model step that says what an eval trajectory's assistant said, turn by turn."""
    # a question the user answered is not replayed: an OpenEnv session has no user, and gets the whole request
    answered = {i for i in range(len(messages) - 1) if messages[i + 1]["role"] == "user"}
    turns = [m for i, m in enumerate(messages) if m["role"] == "assistant" and i not in answered]

    def step(_messages: list[dict[str, Any]], _tools: Any, _sampling: dict[str, Any]) -> ModelStepResult:
        turn = turns.pop(0)
        calls = [ToolCall(id=c["id"], name=c["function"]["name"], args=json.loads(c["function"]["arguments"])) for c in turn.get("tool_calls") or []]
        return ModelStepResult(response=LLMResponse(content=turn.get("content") or "", tool_calls=calls))

    return step


@pytest.mark.parametrize("agent", ["oracle", "noop"])
def test_openenv_rollouts_pay_what_scaleenv_eval_pays(agent: str, tmp_path: Path) -> None:
    report = se.evaluate(agent, task_ids=TASKS, out=tmp_path)
    by_task = {r.task_id: r for r in report.records}
    kinds = {se.load(t.rsplit("-", 1)[0]).task(t).kind for t in TASKS}
    assert kinds == {"action", "information", "refusal"}
    for task_id in TASKS:
        record = by_task[task_id]
        trajectory = json.loads((tmp_path / record.trajectory).read_text())
        factory = ScaleenvSessionFactory(task_id.rsplit("-", 1)[0])
        rollout = build_harness_rollout_func(
            session_factory=factory,
            harness_adapter=MCPHarnessAdapter(),
            model_step_builder=lambda _trainer, _session, m=trajectory["messages"]: replay(m),
            limits=HarnessRunLimits(max_turns=30),
        )
        out = rollout([{"task_id": task_id}], None)
        assert out["env_reward"] == [record.reward], task_id
        assert out["verify_metrics"][0]["success"] is record.success
    assert all(r.success for r in report.records) == (agent == "oracle")


def test_a_session_shows_the_agent_only_the_prompt_and_tools_and_keeps_its_state_apart() -> None:
    factory = ScaleenvSessionFactory("retail")
    task = se.load("retail").task("retail-004")
    a, b = factory.create(task="retail-004"), factory.create(task=task, seed=task.initial_state["seed"])
    try:
        messages = a.initial_messages()
        assert [m["role"] for m in messages] == ["system", "user"] and messages[1]["content"] == task.instruction
        shown = json.dumps(messages) + json.dumps([t.model_dump() for t in a.list_tools()])
        assert "checks" not in shown and "solution" not in shown
        assert {t.name for t in a.list_tools()} == set(se.load("retail").tools)
        for call in task.solution:
            assert a.call_tool(call.tool, dict(call.arguments)).error is None
        assert task.kind == "action" and (a.verify([]).env_reward, b.verify([]).env_reward) == (1.0, 0.0)  # states apart
        bad = a.call_tool("no_such_tool", {})
        assert bad.error and "no_such_tool" in bad.error
        deep: dict[str, Any] = {}
        for _ in range(100):
            deep = {"x": deep}
        assert "nested deeper" in (a.call_tool("get_order", deep).error or "")
    finally:
        a.close()
        b.close()
    with pytest.raises(ValueError, match="seed"):
        factory.create(task="retail-004", seed=task.initial_state["seed"] + 1)


def test_nothing_a_session_returns_carries_the_expected_answer() -> None:
    """What the agent sees and what collection writes into a dataset (metrics, artifacts) keep each
    check's pass or fail, never its expected value."""
    session = ScaleenvSessionFactory(DOMAIN).create(task=TASK)
    try:
        shown = [json.dumps(session.initial_messages()), json.dumps([t.model_dump() for t in session.list_tools()])]
        for call in se.load(DOMAIN).task(TASK).solution:
            result = session.call_tool(call.tool, dict(call.arguments))
            assert result.error is None
            shown.append(json.dumps(dataclasses.asdict(result), default=str))
        verdict = session.verify([{"role": "assistant", "content": WRONG_ANSWER}])
        shown.append(json.dumps(dataclasses.asdict(verdict), default=str))
    finally:
        session.close()
    assert verdict.env_reward == 0.0 and verdict.artifacts["checks"] == [
        {"kind": "answer", "passed": False}, {"kind": "no_other_changes", "passed": True}
    ]
    assert expected_value() not in "".join(shown)
