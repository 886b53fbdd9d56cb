"""run_episode: one episode through an OpenAI-compatible endpoint, as a trainer's proxy serves it.

The endpoint is the scripted server in tests/llm_server.py on 127.0.0.1, playing a model that
replays a task's reference solution; nothing of ours is mocked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import anyio
import httpx
import pytest

import scaleenv_mcp as se
from scaleenv_mcp.harness.loop import Termination
from scaleenv_mcp.spec.catalog import load_domain_tasks
from scaleenv_mcp.spec.task import TaskSpec
from scaleenv_mcp.tasks.answers import format_answer_value

from ..conftest import PATHS
from ..llm_server import Reply, scripted_llm

TASKS = {t.opening or t.instruction: t for d in ("retail", "airline") for t in load_domain_tasks(PATHS, d)}


def replay_model(body: dict[str, Any]) -> Reply:
    """A model that knows the reference solution of whichever task its conversation is about,
    and asks for what the user held back before it starts."""
    messages = body["messages"]
    task = TASKS[messages[1]["content"]]
    asked = sum(1 for m in messages[2:] if m["role"] == "user")
    done = sum(1 for m in messages if m["role"] == "tool")
    marks = {"token_ids": [101, 102, done], "routed_experts": "kept"}  # what a token-recording proxy adds
    if asked < len(task.hidden):
        return Reply(content=f"Could you tell me your {list(task.hidden)[asked]}?", extra=marks)
    if done < len(task.solution):
        step = task.solution[done]
        return Reply(tool_calls=[(step.tool, step.arguments)], extra=marks)
    check = next((c for c in task.checks if c.kind == "answer"), None)
    offered = {t["function"]["name"] for t in body.get("tools") or []}
    if check is not None and "submit_answer" in offered and done == len(task.solution):  # the typed answer channel
        return Reply(tool_calls=[("submit_answer", {"answer": check.value})], extra=marks)
    if task.kind == "refusal":
        return Reply(content="I'm sorry, I can't do that under our policy.", extra=marks)
    answer = format_answer_value(check.value) if check is not None else None
    return Reply(content=f"It is {answer}." if answer else "All done.", extra=marks)


def pick(kind: str, hidden: bool | None = None) -> TaskSpec:
    return next(t for t in TASKS.values() if t.kind == kind and (hidden is None or bool(t.hidden) == hidden))


async def test_an_episode_through_the_endpoint_gets_the_reward_eval_gives(tmp_path: Path) -> None:
    with scripted_llm(replay_model) as llm:
        for kind in ("action", "information", "refusal"):
            task = pick(kind)
            result = await se.run_episode(task, base_url=llm.url, model="policy", api_key="k", sampling={"temperature": 0.7})
            # every task has a user (a scripted one when no simulator is named): it ends the talk on the final reply
            assert result.success and result.reward == 1.0 and result.termination == "user_stopped", (task.id, result.components)
            asks = task.kind == "information"  # a question is answered through submit_answer too
            assert result.metrics["tool_calls"] == len(task.solution) + asks and result.metrics["prompt_tokens"] > 0
            assistant = [m for m in result.messages if m["role"] == "assistant"]
            assert all(m["token_ids"][:2] == [101, 102] and m["routed_experts"] == "kept" for m in assistant)
            assert {t["function"]["name"] for t in result.tools} == set(se.load("retail").tools) | ({"submit_answer"} if asks else set())
        sent = llm.requests[-1]
        assert sent["temperature"] == 0.7 and sent["model"] == "policy"
        assert "check" not in json.dumps(sent["messages"][0]).lower()  # the model never sees checks
    report = await anyio.to_thread.run_sync(lambda: se.evaluate("oracle", domains=["retail"], task_ids=[task.id], out=tmp_path / "run"))
    assert report.records[0].reward == result.reward and report.records[0].success


@pytest.mark.e2e
async def test_a_thousand_episodes_run_at_once_in_one_process() -> None:
    tasks = [pick("action"), pick("information")] * 500
    with scripted_llm(replay_model) as llm:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=None)) as http:
            results: list[se.EpisodeResult] = []

            async def one(task: TaskSpec) -> None:
                results.append(await se.run_episode(task, base_url=llm.url, model="policy", http=http))

            async with anyio.create_task_group() as tg:
                for task in tasks:
                    tg.start_soon(one, task)
    assert len(results) == 1000 and all(r.success for r in results)


async def test_a_dead_endpoint_is_a_model_error_not_a_crash() -> None:
    with scripted_llm(lambda _: Reply(status=503)) as llm:
        result = await se.run_episode(pick("action"), base_url=llm.url, model="policy", retries=1, backoff=0.01)
    assert result.termination == "model_error" and result.reward == 0.0 and "503" in str(result.error)
    result = await se.run_episode(pick("action"), base_url="http://127.0.0.1:9/v1", model="policy", retries=0)
    assert result.termination == "model_error" and "ConnectError" in str(result.error)


async def test_garbled_tool_arguments_are_the_models_failure() -> None:
    task = pick("action", hidden=False)  # the model answers at once: nothing is held back to ask for
    replies = iter([Reply(tool_calls=[(task.solution[0].tool, "{not json")]), Reply(content="Sorry.")])
    with scripted_llm(lambda _: next(replies)) as llm:
        result = await se.run_episode(task, base_url=llm.url, model="policy")
    assert result.termination == "user_stopped" and not result.success
    assert "not a JSON object" in result.messages[3]["content"]


async def test_held_back_facts_come_only_when_asked_and_a_model_that_never_asks_cannot_finish() -> None:
    task = pick("action", hidden=True)
    assert task.opening and all(fact.split(" is ")[-1].rstrip(".") not in task.opening for fact in task.hidden.values())

    def never_asks(body: dict[str, Any]) -> Reply:  # acts on the opening alone, as if it knew the email
        done = sum(1 for m in body["messages"] if m["role"] == "tool")
        if done < len(task.solution):
            step = task.solution[done]
            return Reply(tool_calls=[(step.tool, {k: "someone@example.com" if "@" in str(v) else v for k, v in step.arguments.items()})])
        return Reply(content="All done.")

    with scripted_llm(replay_model) as llm:
        asked = await se.run_episode(task, base_url=llm.url, model="policy")
        questions = [m["content"] for m in asked.messages if m["role"] == "assistant" and not m.get("tool_calls")][:-1]
        replies = [m["content"] for m in asked.messages[2:] if m["role"] == "user"]
        assert asked.success and replies == [task.hidden[q.split("your ")[1].rstrip("?")] for q in questions]
        assert asked.messages[1]["content"] == task.opening  # the model was shown the opening, not the instruction
    with scripted_llm(never_asks) as llm:
        guessed = await se.run_episode(task, base_url=llm.url, model="policy")
    assert not guessed.success and guessed.reward == 0.0


async def test_a_task_may_hold_back_how_to_find_a_row_too_and_the_oracle_asks_for_it() -> None:
    """Beyond the user's email: "The flight's origin is Portland and its destination is Lisbon." comes
    only when the agent asks about the flight; the opening alone does not say which flight is meant."""
    task = next(t for t in TASKS.values() if t.kind == "action" and len(t.hidden) > 1)
    sentence = next(s for a, s in task.hidden.items() if a != "email")
    parts = re.split(r"(?<=\.) ", sentence)  # two flights held back: both facts come when the agent asks about flights
    assert task.opening and all(p not in task.opening for p in parts), task.id
    with scripted_llm(replay_model) as llm:
        result = await se.run_episode(task, base_url=llm.url, model="policy")
    told = [m["content"] for m in result.messages[2:] if m["role"] == "user"]
    assert result.success and sentence in told, (task.id, told)


async def test_the_scripted_user_reveals_what_is_asked_answers_a_few_questions_then_stops() -> None:
    from scaleenv_mcp.harness.loop import STOP
    from scaleenv_mcp.harness.users import CONFIRMATIONS, YES, ScriptedUser

    task = pick("action", hidden=True)
    spec = se.load("retail").spec
    about, fact = next(iter(task.hidden.items()))
    user = ScriptedUser(task, spec)
    assert await user(None) == task.opening
    assert await user("Shall I look into it?") == YES
    assert await user(f"What is your {about.upper()}, please?") == fact
    assert await user(f"And your {about} again?") == YES  # told once
    for _ in range(CONFIRMATIONS - 2):
        assert await user("Ready?") == YES
    assert await user("Ready?") == STOP  # a few answers at most
    assert await ScriptedUser(task, spec)("Done: your order is placed.") == STOP



async def test_running_out_of_steps_is_spelt_as_eval_spells_it() -> None:
    """A model that never stops calling tools ends ``run_episode`` with ``max_steps``, the termination
    ``scaleenv eval`` records for it (one spelling, :data:`~scaleenv_mcp.harness.loop.Termination`)."""
    task = pick("action", hidden=False)
    step = task.solution[0]
    with scripted_llm(lambda _: Reply(tool_calls=[(step.tool, step.arguments)])) as llm:
        result = await se.run_episode(task, base_url=llm.url, model="policy", max_turns=2)
    assert result.termination == "max_steps" and result.metrics["tool_calls"] == 2
    assert set(get_args(Termination)) == {"answered", "max_steps", "user_stopped", "model_error", "infra_error"}
