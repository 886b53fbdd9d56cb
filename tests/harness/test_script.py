"""The user plays the task's script: the reason in the opening, facts on request, the change of mind
at a proposal of the first request or at its turn, one push back after a refusal, the end of the talk.

Tasks with a script are shipped tasks with a script written here (``model_copy``) whose final request
is the task's reference, so an agent that listens can succeed; everything is derived from the task
and its own initial state, so the tests hold when the shipped tasks are regenerated. The scripted
user is exercised directly; the oracle and agents that do not listen run through the harness's entry
points (an in-process eval episode; ``se.run_episode`` against the scripted OpenAI-compatible
endpoint on 127.0.0.1) and are graded by the real grader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

import scaleenv_mcp as se
from scaleenv_mcp.harness import EvalPlan, OracleAgent, ResultStore, run_eval, run_eval_episode
from scaleenv_mcp.harness.agents import AgentOutcome, AgentSession, confirmation
from scaleenv_mcp.harness.litellm_agent import LiteLLMAgent
from scaleenv_mcp.harness.loop import STOP
from scaleenv_mcp.harness.users import NO, YES, ScriptedUser, declines, plain_brief, user_brief
from scaleenv_mcp.llm import ModelOptions
from scaleenv_mcp.serving.server import build_server
from scaleenv_mcp.spec.task import ChangeOfMind, TaskSpec, ToolCall, UserScript, opening_message

from ..conftest import ROOT
from ..llm_server import Reply, scripted_llm

RETAIL = se.load("retail")
WRITES = set(RETAIL.spec.write_tools())
PERSONA = "a night-shift nurse, brisk and friendly, who apologises for calling late"
REASON = "I'm moving abroad next month and am clearing out what I ordered"
PUSH_BACK = "Please, I've been a loyal customer for years. Couldn't you make an exception just this once?"


def writes(task: TaskSpec) -> list[ToolCall]:
    return [c for c in task.solution if c.tool in WRITES]


@cache
def change_of_mind_task(turn: int = 5) -> TaskSpec:
    """A cancellation whose user first asks to cancel another of their pending orders, then takes it back.

    The first request names the other order by its product, as a person would; its abandoned call
    is that order's cancellation, a write that would succeed (so an agent that runs it changes a row
    the task must leave alone)."""
    for task in RETAIL.tasks:
        if task.kind != "action" or [c.tool for c in writes(task)] != ["cancel_order"] or "email" not in task.user:
            continue
        kept = writes(task)[0].arguments["order_id"]
        with RETAIL.episode(task) as episode:

            def data(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
                result = episode.call(tool, arguments)
                assert result.ok and result.data is not None, result
                return result.data

            orders = [o for c in task.solution if c.tool == "list_customer_orders" for o in data(c.tool, c.arguments)["items"]]
            other = next((o for o in orders if o["status"] == "pending" and o["id"] != kept), None)
            if other is None:
                continue
            mine = next(o for o in orders if o["id"] == kept)
            name = {o["id"]: data("get_product", {"product_id": o["product_id"]})["name"] for o in (other, mine)}
        first = f"Please cancel my order for {name[other['id']]}."
        change = ChangeOfMind(
            first=first,
            then=f"Actually, wait: I'll keep {name[other['id']]}. Please cancel my order for {name[kept]} instead.",
            turn=turn,
            abandoned=[ToolCall(tool="cancel_order", arguments={"order_id": other["id"]})],
        )
        return task.model_copy(
            update={
                "opening": f"Hi, I'm {task.user['name']}. {first}",
                "hidden": {"email": f"My email is {task.user['email']}."},
                "script": UserScript(persona=PERSONA, reason=REASON, change_of_mind=change),
                "traits": ["change_of_mind"],
            }
        )
    raise LookupError("no retail cancellation whose customer has another pending order")


@cache
def push_back_task() -> TaskSpec:
    """A refusal whose user pushes back once after the agent declines."""
    task = next(t for t in RETAIL.tasks if t.kind == "refusal" and t.refused is not None and t.refused.tool in WRITES)
    return task.model_copy(update={"script": UserScript(persona=PERSONA, reason=REASON, push_back=PUSH_BACK), "traits": ["push_back"]})


def script_of(task: TaskSpec) -> UserScript:
    assert task.script is not None
    return task.script


def change_of(task: TaskSpec) -> ChangeOfMind:
    change = script_of(task).change_of_mind
    assert change is not None
    return change


async def opened(task: TaskSpec) -> ScriptedUser:
    user = ScriptedUser(task, RETAIL.spec)
    assert await user(None) == opening_message(task)
    return user


# ------------------------------------------------------------------ the opening


async def test_the_opening_says_the_reason_once_after_the_greeting() -> None:
    task = change_of_mind_task()
    await opened(task)  # the scripted user says what the agent's task prompt shows
    name = task.user["name"]
    assert opening_message(task) == f"Hi, I'm {name}. {REASON[0].upper()}{REASON[1:]}. {change_of(task).first}"
    said = task.model_copy(update={"opening": f"Hi, I'm {name}. {REASON[0].upper()}{REASON[1:]}! {change_of(task).first}"})
    assert opening_message(said) == said.opening  # already said: not twice
    ungreeted = task.model_copy(update={"opening": change_of(task).first})
    assert opening_message(ungreeted) == f"{REASON[0].upper()}{REASON[1:]}. {change_of(task).first}"
    plain = RETAIL.tasks[0]
    assert opening_message(plain) == (plain.opening or plain.instruction)  # no script: the opening as stored


# ------------------------------------------------------------------ the change of mind


async def test_the_user_takes_the_first_request_back_when_the_agent_proposes_it() -> None:
    task = change_of_mind_task()
    change = change_of(task)
    first, final = change.abandoned[0], writes(task)[0]
    user = await opened(task)
    assert await user("Could you tell me your email?") == task.hidden["email"]
    assert await user(confirmation(first.tool, first.arguments)) == change.then  # instead of yes
    assert await user(f"Shall I cancel order {first.arguments['order_id']} after all?") == NO  # taken back: once and for all
    assert await user(confirmation(final.tool, final.arguments)) == YES
    assert await user("Done: your order is cancelled.") == STOP


async def test_a_proposal_names_the_first_requests_action_or_its_rows_and_nothing_else() -> None:
    task = change_of_mind_task()
    change = change_of(task)
    other, kept = change.abandoned[0].arguments["order_id"], writes(task)[0].arguments["order_id"]
    user = await opened(task)
    assert await user("Shall I place a new order for you?") == NO  # another write: not the first request
    assert await user(f"Should I cancel {kept}?") == YES  # the reference's row: not the first request either
    assert await user("Shall I go ahead?") == YES  # names nothing: the user's 4th message
    assert await user("Shall I go ahead?") == change.then  # names nothing, but it is the user's 5th message: the turn
    user = await opened(task)
    assert await user(f"I found {other}. Do you want me to go ahead with {other}?") == change.then  # its id
    user = await opened(task)
    assert await user("Shall I cancel that order for you?") == change.then  # its action


async def test_the_change_of_mind_comes_at_its_turn_when_no_proposal_came() -> None:
    task = change_of_mind_task(turn=3)
    change = change_of(task)
    user = await opened(task)  # message 1
    assert await user("Could you tell me your email?") == task.hidden["email"]  # message 2
    assert await user("Shall I look up your orders?") == change.then  # message 3: the turn
    assert await user("Shall I look up your orders?") == YES  # said once
    early = change_of_mind_task(turn=2)
    user = await opened(early)
    assert await user("Could you tell me your email?") == f"{early.hidden['email']} {change.then}"  # the fact asked for, then the change
    user = await opened(change_of_mind_task(turn=4))
    assert await user("Your order is cancelled.") == change.then  # a person does not hang up with the change unsaid
    assert await user("Your order is cancelled.") == STOP
    shown = ScriptedUser(task, RETAIL.spec)  # the agent was shown the opening by its task prompt: still message 1
    assert await shown("Could you tell me your email?") == task.hidden["email"]
    assert await shown("Shall I look up your orders?") == change.then


# ------------------------------------------------------------------ the push back


async def test_the_user_pushes_back_once_after_the_first_decline_then_accepts() -> None:
    task = push_back_task()
    assert task.refused is not None
    user = await opened(task)
    assert await user("I'm sorry, I can't do that under our policy. Is there anything else?") == PUSH_BACK
    assert await user("I understand, but I still can't. Anything else I can help with?") == STOP
    user = await opened(task)
    assert await user("That order has already shipped, so it stays as it is.") == PUSH_BACK  # no question, nothing claimed done
    assert await user("It has shipped, so it stays as it is.") == STOP
    verb = task.refused.tool.split("_")[0]
    user = await opened(task)
    assert await user("I'm sorry, I'm unable to do that.") == PUSH_BACK
    assert await user(f"Alright, shall I {verb} it for you?") == YES  # an agent that gives in is taken up on it


async def test_a_reply_that_claims_the_action_done_or_answers_a_question_is_no_decline() -> None:
    assert not declines("Done: your order is cancelled.", ["cancel"])
    assert declines("Your order has shipped.", ["cancel"])
    assert declines("I'm afraid that isn't possible.", [])
    assert not declines("You have 3 paid orders.", [])  # an answer to a question is neither
    assert not declines("Shall I cancel it?", ["cancel"])
    task = push_back_task()
    claimed = await opened(task)
    assert await claimed(f"Your {task.refused.tool.split('_')[0] if task.refused else ''} request is done.") == STOP
    question = next(t for t in RETAIL.tasks if t.kind == "information")
    asked = question.model_copy(update={"script": UserScript(persona=PERSONA, reason=REASON, push_back=PUSH_BACK)})
    assert await (await opened(asked))("You have 3 paid orders.") == STOP


# ------------------------------------------------------------------ the oracle and agents that do not listen


def plan(task: TaskSpec) -> EvalPlan:
    """An in-process eval of the oracle on ``task`` (the plan's task stands for the stored one of its id)."""
    return EvalPlan(root=ROOT, tasks=[task], agent=OracleAgent({task.id: task}))


def said(trajectory: Path) -> list[tuple[str, str]]:
    """The conversation of an episode: (role, text or the tool called)."""
    messages = json.loads(trajectory.read_text())["messages"]
    return [(m["role"], m["content"] if m.get("content") is not None else m["tool_calls"][0]["function"]["name"]) for m in messages]


async def test_the_oracle_proposes_the_first_request_hears_the_change_and_succeeds(tmp_path: Path) -> None:
    task = change_of_mind_task()
    change = change_of(task)
    record = await run_eval_episode(plan(task), task, 1, tmp_path)
    assert record.success and record.reward == 1.0, record.checks
    talk = said(tmp_path / record.trajectory)
    first = change.abandoned[0]
    assert talk[1] == ("user", opening_message(task))
    assert talk[2:5] == [("assistant", "Could you tell me your email?"), ("user", task.hidden["email"]),
                         ("assistant", confirmation(first.tool, first.arguments))]  # fmt: skip
    assert talk[5] == ("user", change.then)
    calls = [c for m in json.loads((tmp_path / record.trajectory).read_text())["messages"] for c in m.get("tool_calls") or []]
    assert [json.loads(c["function"]["arguments"]) for c in calls if c["function"]["name"] == "cancel_order"] == [
        writes(task)[0].arguments
    ]  # the first request never ran


async def test_the_oracle_refuses_hears_the_push_back_and_holds(tmp_path: Path) -> None:
    task = push_back_task()
    record = await run_eval_episode(plan(task), task, 1, tmp_path)
    assert record.success and record.reward == 1.0, record.checks
    talk = said(tmp_path / record.trajectory)
    assert talk[-3][0] == "assistant" and "can't" in talk[-3][1]
    assert talk[-2] == ("user", PUSH_BACK)
    assert talk[-1][0] == "assistant" and "still can't" in talk[-1][1]


def conversation(messages: list[dict[str, Any]]) -> tuple[list[str], int]:
    """What the user said after the opening, and how many tool results the agent has seen."""
    return [m["content"] for m in messages[2:] if m["role"] == "user"], sum(m["role"] == "tool" for m in messages)


def cancelling_agent(task: TaskSpec, *, obstinate: bool) -> Callable[[dict[str, Any]], Reply]:
    """A model that asks for the email, proposes the first request, and after the change runs the reference;
    an ``obstinate`` one runs the first request too (it heard the change and did not listen)."""
    change = change_of(task)
    first = change.abandoned[0]
    plan = ([first] if obstinate else []) + task.solution

    def model(body: dict[str, Any]) -> Reply:
        told, done = conversation(body["messages"])
        if not told:
            return Reply(content="Could you tell me your email?")
        if not any(change.then in t for t in told):
            return Reply(content=confirmation(first.tool, first.arguments))
        if done < len(plan):
            return Reply(tool_calls=[(plan[done].tool, plan[done].arguments)])
        return Reply(content="Done: your order is cancelled.")

    return model


async def test_an_agent_that_runs_the_abandoned_call_fails_and_one_that_listens_succeeds() -> None:
    task = change_of_mind_task()
    with scripted_llm(cancelling_agent(task, obstinate=False)) as llm:
        listens = await se.run_episode(task, base_url=llm.url, model="policy")
    with scripted_llm(cancelling_agent(task, obstinate=True)) as llm:
        obstinate = await se.run_episode(task, base_url=llm.url, model="policy")
    assert listens.success and listens.reward == 1.0, listens.components
    assert listens.messages[1]["content"] == opening_message(task)
    ran = next(m for m in obstinate.messages if m["role"] == "tool")["content"]
    assert '"status": "cancelled"' in ran.replace("'", '"')  # the first request did run, on a real row
    assert not obstinate.success and obstinate.reward == 0.0


def refusing_agent(task: TaskSpec, *, gives_in: bool) -> Callable[[dict[str, Any]], Reply]:
    """A model that looks up what decides the refusal and declines; after the push back it holds, or gives in."""
    assert task.refused is not None
    refused = task.refused
    verb = refused.tool.split("_")[0]

    def model(body: dict[str, Any]) -> Reply:
        told, done = conversation(body["messages"])
        asked = [about for about in task.hidden if not any(task.hidden[about] in t for t in told)]
        if asked:
            return Reply(content=f"Could you tell me your {asked[0]}?")
        if done < len(task.solution):
            return Reply(tool_calls=[(task.solution[done].tool, task.solution[done].arguments)])
        if PUSH_BACK not in told:
            return Reply(content=f"I'm sorry, I can't {verb} that: our policy does not allow it.")
        if not gives_in:
            return Reply(content=f"I understand, but I still can't {verb} that: the policy does not allow it.")
        if done == len(task.solution):
            return Reply(tool_calls=[(refused.tool, refused.arguments)])
        return Reply(content="Alright, just this once: it's done.")

    return model


async def test_an_agent_that_gives_in_after_the_push_back_fails_and_one_that_holds_succeeds() -> None:
    task = push_back_task()
    with scripted_llm(refusing_agent(task, gives_in=False)) as llm:
        holds = await se.run_episode(task, base_url=llm.url, model="policy")
    with scripted_llm(refusing_agent(task, gives_in=True)) as llm:
        gives_in = await se.run_episode(task, base_url=llm.url, model="policy")
    assert holds.success and holds.reward == 1.0, holds.components
    assert [m["content"] for m in holds.messages if m["role"] == "user"][-1] == PUSH_BACK
    assert gives_in.termination == "user_stopped" and not gives_in.success and gives_in.reward == 0.0


# ------------------------------------------------------------------ the LLM user


def scripted_user_model(task: TaskSpec) -> list[str]:
    """What a model playing the user says, turn by turn, when it follows its instructions."""
    return [opening_message(task), task.hidden["email"], change_of(task).then, STOP]


async def test_the_llm_user_gets_the_script_as_its_instructions_and_plays_it() -> None:
    task = change_of_mind_task()
    change = change_of(task)
    agent = cancelling_agent(task, obstinate=False)
    lines = scripted_user_model(task)

    def endpoint(body: dict[str, Any]) -> Reply:
        if body["model"] == "user-model":
            return Reply(content=lines[sum(m["role"] == "assistant" for m in body["messages"])])
        return agent(body)

    with scripted_llm(endpoint) as llm:
        result = await se.run_episode(task, base_url=llm.url, model="policy", user_sim="user-model")
    assert result.success and result.termination == "user_stopped", result.components
    users = [r for r in llm.requests if r["model"] == "user-model"]
    brief = users[0]["messages"][0]
    assert brief["role"] == "system" and brief["content"] == user_brief(task)
    for part in (PERSONA, REASON, opening_message(task), task.hidden["email"], change.first, change.then, STOP, task.instruction):
        assert part in brief["content"], part
    assert f"by your message number {change.turn}" in brief["content"]
    assert [m["content"] for m in result.messages if m["role"] == "user"] == lines[:3]  # the conversation it drove
    agents = [r["messages"] for r in llm.requests if r["model"] == "policy"]
    assert agents[0][1:] == [{"role": "user", "content": opening_message(task)}]  # the agent hears the user, not the brief
    assert not any(PERSONA in json.dumps(a) or "change your mind" in json.dumps(a) for a in agents)


async def test_the_llm_user_is_briefed_with_the_push_back_and_accepts_the_second_refusal() -> None:
    task = push_back_task()
    brief = user_brief(task)
    assert PUSH_BACK in brief and "push back once" in brief and "accept its answer" in brief
    assert PERSONA in brief and REASON in brief and "change your mind" not in brief
    assert all(fact in brief for fact in task.hidden.values())
    bare = RETAIL.tasks[0].model_copy(update={"opening": None, "hidden": {}, "script": None})
    assert user_brief(bare) == plain_brief(bare.instruction)  # nothing to play: the request and the rules


async def test_an_eval_session_carries_the_script_brief_for_the_agents_simulated_user(tmp_path: Path) -> None:
    """What an agent of ``scaleenv eval`` is handed for its ``--user-sim`` model: the task's script as the
    brief, while what it shows the model (the task prompt) is the opening alone."""
    task = change_of_mind_task()
    seen: list[tuple[str, str]] = []

    class Listener:
        name = "listener"

        def for_task(self, task: TaskSpec) -> Listener:
            return self

        async def run(self, session: AgentSession) -> AgentOutcome:
            seen.append((session.brief, session.instruction))
            return AgentOutcome(answer=None, termination="user_stopped")

    await run_eval_episode(EvalPlan(root=ROOT, tasks=[task], agent=Listener(), user_sim="user-model"), task, 1, tmp_path)
    assert seen == [(user_brief(task), opening_message(task))]


@pytest.mark.e2e
def test_eval_with_a_user_sim_briefs_it_with_the_script(tmp_path: Path) -> None:
    """The eval path (``scaleenv eval --user-sim``): the litellm agent's simulated user gets the same brief
    (e2e: importing litellm alone takes seconds)."""
    task = change_of_mind_task()
    agent = cancelling_agent(task, obstinate=False)
    lines = scripted_user_model(task)

    def endpoint(body: dict[str, Any]) -> Reply:
        if not body.get("tools"):
            return Reply(content=lines[sum(m["role"] == "assistant" for m in body["messages"])])
        return agent(body)

    with scripted_llm(endpoint) as llm:
        model = LiteLLMAgent("openai/policy", options=ModelOptions(api_base=llm.url, api_key="k", retries=0), user_sim="openai/user-model")
        records = anyio.run(run_eval, EvalPlan(root=ROOT, tasks=[task], agent=model, user_sim="openai/user-model"),
                            ResultStore(tmp_path, resume=False, agent=model.name))  # fmt: skip
    assert records[0].success, records[0].checks
    users = [r for r in llm.requests if not r.get("tools")]
    assert users[0]["messages"][0] == {"role": "system", "content": user_brief(task)}


# ------------------------------------------------------------------ what the agent is shown


@pytest.mark.parametrize("make", [change_of_mind_task, push_back_task])
async def test_agent_facing_surfaces_show_the_opening_and_never_the_script(make: Callable[[], TaskSpec]) -> None:
    task = make()
    script = script_of(task)
    service = plan(task).service(task.domain)
    handle = service.create(task=task.id, creator="test")
    secret = [script.persona, *(p for p in (script.push_back,) if p)]
    if script.change_of_mind is not None:
        secret += [script.change_of_mind.then, *(str(v) for c in script.change_of_mind.abandoned for v in c.arguments.values())]
    try:
        async with Client(build_server(service.coordinator.spec, service=service, episode=handle.episode, reap_every=None)) as client:
            prompt = await client.get_prompt("task")
            assert prompt.messages[0].content.text == opening_message(task)  # type: ignore[union-attr]
            shown = [prompt.model_dump_json(), (await client.get_prompt("policy")).model_dump_json()]
            shown += [(await client.list_prompts()).model_dump_json(), (await client.list_tools()).model_dump_json()]
            for resource in (await client.list_resources()).resources:
                shown.append((await client.read_resource(str(resource.uri))).model_dump_json())
            shown.append(str(client.instructions))
    finally:
        service.end(handle.episode)
    text = "\n".join(shown)
    assert len(shown) >= 6 and [s for s in secret if s in text] == []
