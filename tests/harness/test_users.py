"""The scripted user every task has: held-back facts one at a time and only when named, confirmations
answered from the task's data, the end of the talk; and the agents that talk to it (shipped tasks,
the real eval path over MCP)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.harness.agents import AgentOutcome, AgentSession
from scaleenv_mcp.harness.loop import STOP, agent_loop
from scaleenv_mcp.harness.users import CONFIRMATIONS, NO, YES, ScriptedUser, named_subject, requested_tools
from scaleenv_mcp.spec.task import TaskSpec

from ..conftest import ROOT, SHIPPED

DOMAINS = {name: se.load(name) for name in SHIPPED}


def user_for(task: TaskSpec) -> ScriptedUser:
    return ScriptedUser(task, DOMAINS[task.domain].spec)


def first(domain: str, kind: str, *, hidden: int = 0, writes: set[str] | None = None, only: bool = False) -> TaskSpec:
    """The first shipped task of a kind holding back at least ``hidden`` facts (and, given ``writes``,
    whose reference writes at least those tools) whose user says yes to what they asked for: no
    change of mind (that user takes a request back at its turn) and no refused part."""
    spec = DOMAINS[domain].spec
    for task in DOMAINS[domain].tasks:
        done = {c.tool for c in task.solution if c.tool in spec.write_tools()}
        plain = (task.kind == "refusal" or task.refused is None) and not (task.script and task.script.change_of_mind)
        wanted = writes is None or (writes == done if only else writes <= done)
        if plain and task.kind == kind and len(task.hidden) >= hidden and wanted:
            return task
    raise LookupError(f"no {kind} task in {domain} with {hidden} held-back facts and writes {writes}")


def write_call(task: TaskSpec, tool: str) -> dict[str, Any]:
    return next(c.arguments for c in task.solution if c.tool == tool)


async def opened(task: TaskSpec) -> ScriptedUser:
    user = user_for(task)
    assert await user(None) == (task.opening or task.instruction)
    return user


# ------------------------------------------------------------------ held-back facts


async def test_a_question_gets_one_fact_the_one_it_names_first() -> None:
    task = next(t for t in DOMAINS["telecom_plans"].tasks if {"email", "line"} <= set(t.hidden))
    user = await opened(task)
    assert await user("Could you tell me your line and your email, please?") == task.hidden["line"]
    assert await user("Thanks. And your email address?") == task.hidden["email"]
    assert user.revealed == ["line", "email"]


async def test_a_list_of_generic_nouns_gets_one_fact_on_every_shipped_task() -> None:
    tasks = [t for d in DOMAINS.values() for t in d.tasks if t.hidden]
    subjects = sorted({s for t in tasks for s in t.hidden})
    assert len(subjects) >= 8 and sum(len(t.hidden) > 1 for t in tasks) > 0
    question = f"To help you, could you tell me your {', '.join(subjects)}?"

    def first_named(subject: str) -> int:
        """Where the question first names it: as the phrase, or by its last word ("care plan" names a
        switching plan too, as it would to a person holding only that plan back)."""
        return min(m.start() for form in (subject, subject.rsplit(maxsplit=1)[-1]) for m in re.finditer(rf"\b{re.escape(form)}\b", question))

    for task in tasks:
        user = user_for(task)
        await user(None)
        reply = await user(question)
        told = [about for about, fact in task.hidden.items() if fact in reply]
        assert told == [min(task.hidden, key=first_named)], (task.id, reply)


async def test_a_subject_is_named_only_as_whole_words_never_inside_another_word() -> None:
    assert named_subject("Are you online right now?", ["line"]) is None
    assert named_subject("I see a headline and a timeline.", ["line"]) is None
    assert named_subject("Which lines are yours?", ["line"]) == "line"
    assert named_subject("Is this entitled to a refund?", ["title"]) is None
    assert named_subject("What is your e-mail?", ["email"]) == "email"
    assert named_subject("What mail do you use?", ["email"]) is None
    assert named_subject("What is the number on your card?", ["card number"]) == "card number"
    assert named_subject("Your card numbers, please.", ["card number"]) == "card number"
    task = first("telecom_plans", "action", hidden=2)
    user = await opened(task)
    assert await user("Are you online? Could you share what you need?") == YES  # a question, no fact named
    assert user.revealed == []


async def test_a_fact_comes_to_a_question_or_request_not_to_a_sentence_that_merely_mentions_it() -> None:
    task = first("telecom_plans", "action", hidden=2)
    user = await opened(task)
    assert await user("I will look up your line. Please give me your email.") == task.hidden["email"]
    assert await user("Your line is active.") == STOP  # no question, no request: the agent is done


# ------------------------------------------------------------------ confirmations


async def test_a_confirmation_restating_the_requested_write_gets_yes() -> None:
    task = first("airline", "action", writes={"remove_bag"})
    bag = write_call(task, "remove_bag")["bag_id"]
    user = await opened(task)
    for question in (f"Shall I remove bag {bag}?", "Should I go ahead and remove the bag?",
                     f"Do you want me to remove {bag} from your reservation?",
                     f"Can I confirm: removing bag {bag}, which you added before?"):  # fmt: skip
        assert await user(question) == YES, question


async def test_a_confirmation_proposing_another_write_or_another_row_gets_no() -> None:
    task = first("airline", "action", writes={"add_bag"})
    bag = write_call(task, "add_bag")
    user = await opened(task)
    assert await user(f"Shall I add a bag to reservation {bag['reservation_id']}?") == YES
    assert await user(f"Shall I add insurance to reservation {bag['reservation_id']}?") == NO  # same verb, another tool
    assert await user("Shall I cancel the reservation?") == NO  # a verb nothing requested has
    assert await user("Shall I add a bag to reservation RES-9999?") == NO  # the requested write, on another row
    assert await user(f"Shall I add a bag to reservation {bag['reservation_id']}?") == YES


async def test_words_that_describe_or_quote_are_not_proposals() -> None:
    task = first("retail", "action", writes={"open_return"})
    order = write_call(task, "open_return")["order_id"]
    user = await opened(task)
    assert await user(f"Shall I open a return for the order {order} you placed and paid?") == YES  # past forms describe
    assert await user(f'Shall I open a return for {order} with the reason "please cancel it"?') == YES  # quoted
    assert await user(f"Shall I open a return for {order} and cancel it?") == NO
    task = first("airline", "action", writes={"add_bag", "add_insurance"})
    user = await opened(task)
    assert await user("Shall I add a bag to your booking?") == YES  # "your booking" is a thing, not book_reservation
    assert await user("Shall I add a bag and then book a new flight?") == NO
    task = first("car_rental", "action", writes={"add_insurance"}, only=True)
    user = await opened(task)  # "reservation" is not read as a reserving (reserve_vehicle)
    assert await user("Shall I add insurance to your reservation?") == YES
    assert await user("Shall I reserve another vehicle?") == NO


async def test_a_refusal_task_requests_the_refused_write_and_an_information_task_none() -> None:
    refusal = first("retail", "refusal")
    spec = DOMAINS["retail"].spec
    assert refusal.refused is not None
    assert requested_tools(refusal, spec) == {refusal.refused.tool}  # the write the user asked for, which is refused
    user = await opened(refusal)
    verb = refusal.refused.tool.split("_")[0]
    assert await user(f"Shall I {verb} that for you?") == YES
    assert await user("Shall I place a new order instead?") == (YES if refusal.refused.tool == "place_order" else NO)
    information = first("retail", "information")
    assert requested_tools(information, spec) == set()
    user = await opened(information)
    assert await user("Shall I update your city?") == NO
    assert await user("Shall I look that up for you?") == YES  # a bare go-ahead names no write


async def test_the_user_stops_on_a_reply_without_a_question_after_anything_else_and_after_a_few_answers() -> None:
    task = first("retail", "action", writes={"open_return"})
    user = await opened(task)
    assert await user("Your return is open. Is there anything else I can help you with?") == STOP
    user = await opened(task)
    for _ in range(CONFIRMATIONS):
        assert await user("Shall I go ahead?") == YES
    assert await user("Shall I go ahead?") == STOP
    assert await (await opened(task))("Your return is open.") == STOP


def test_a_user_for_another_domains_spec_is_refused_with_one_line() -> None:
    with pytest.raises(ValueError, match=r"^task retail-001 is of domain retail, not airline$"):
        ScriptedUser(DOMAINS["retail"].task("retail-001"), DOMAINS["airline"].spec)


# ------------------------------------------------------------------ the loop and agents that talk to it


async def test_the_loops_answer_is_the_last_reply_not_the_questions_before_it() -> None:
    task = first("telecom_plans", "information", hidden=1)
    about = next(iter(task.hidden))
    replies = iter([f"Could you tell me your {about}?", "It is 3."])

    async def model(_messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"content": next(replies)}

    async def no_tools(_name: str, _arguments: dict[str, Any]) -> str:
        raise AssertionError("no tool is called")

    messages: list[dict[str, Any]] = [{"role": "system", "content": ""}, {"role": "user", "content": ""}]
    outcome = await agent_loop(messages, model, no_tools, max_steps=5, user=user_for(task))
    assert outcome.answer == "It is 3." and outcome.termination == "user_stopped"
    assert messages[3] == {"role": "user", "content": task.hidden[about]}


class ConfirmFirst:
    """An agent that follows the policy to the letter: it asks for held-back facts, asks "Shall I ...?"
    before each write of the reference solution (naming the action and its ids), and writes only
    after a yes. ``rename`` lets it propose a different write than it would do."""

    name = "confirm-first"

    def __init__(self, rename: dict[str, str] | None = None) -> None:
        self.rename = rename or {}
        self.task: TaskSpec | None = None

    def for_task(self, task: TaskSpec) -> ConfirmFirst:
        agent = ConfirmFirst(self.rename)
        agent.task = task
        return agent

    async def run(self, session: AgentSession) -> AgentOutcome:
        assert self.task is not None
        for about in self.task.hidden:
            await session.ask_user(f"Could you tell me your {about}?")
        writes = {t.name for t in session.tools if not (t.annotations and t.annotations.read_only_hint)}
        for call in self.task.solution:
            if call.tool in writes:
                ids = [v for v in call.arguments.values() if isinstance(v, str) and re.fullmatch(r"[A-Z]+-\d+", v)]
                action = self.rename.get(call.tool, call.tool).replace("_", " ")
                if not (await session.ask_user(f"Shall I {action} {' '.join(ids)}?")).startswith("Yes"):
                    continue
            await session.call_tool(call.tool, dict(call.arguments))
        session.say("Done.")
        return AgentOutcome(answer="Done.", termination="answered")


def test_an_agent_that_confirms_before_writing_solves_tasks_that_hold_nothing_back(tmp_path: Path) -> None:
    plain = [t.id for t in DOMAINS["retail"].tasks if t.kind == "action" and not t.hidden and t.refused is None
             and not (t.script and t.script.change_of_mind)]  # fmt: skip
    assert len(plain) >= 10
    report = se.evaluate(ConfirmFirst(), task_ids=plain, out=tmp_path / "confirm")
    assert [r.task_id for r in report.records if not r.success] == []
    # proposing a write the user did not ask for gets a no, so the agent (rightly) does not do it
    wrong = se.evaluate(ConfirmFirst({"update_customer_city": "cancel_order"}), task_ids=plain, out=tmp_path / "wrong")
    tools = {t.id: {c.tool for c in t.solution} for t in DOMAINS["retail"].tasks if t.id in plain}
    refused = {task_id for task_id, used in tools.items() if "update_customer_city" in used and "cancel_order" not in used}
    assert {r.task_id for r in wrong.records if not r.success} == refused != set()


def test_the_oracle_asks_for_facts_one_at_a_time_and_confirms_before_each_write(tmp_path: Path) -> None:
    task = first("airline", "action", hidden=1, writes={"add_bag"})
    report = se.evaluate("oracle", task_ids=[task.id], out=tmp_path)
    assert report.records[0].success
    messages = json.loads((tmp_path / report.records[0].trajectory).read_text())["messages"]
    said = [m.get("content") for m in messages]
    assert said[2:4] == ["Could you tell me your email?", task.hidden["email"]]
    spec = DOMAINS["airline"].spec
    for i, message in enumerate(messages):
        for call in message.get("tool_calls") or []:
            if call["function"]["name"] in spec.write_tools():
                question, answer = messages[i - 2], messages[i - 1]
                assert question["role"] == "assistant" and question["content"].startswith(
                    f"Shall I {call['function']['name'].replace('_', ' ')} with "
                ), question
                arguments = json.loads(call["function"]["arguments"])
                assert all(str(v) in question["content"] for v in arguments.values() if isinstance(v, str))
                assert answer == {"role": "user", "content": YES}


async def test_the_oracle_submits_an_information_answer_when_the_server_offers_submit_answer() -> None:
    """A typed-channel episode lists ``submit_answer`` and the oracle submits the expected value; a prose
    episode lists no such tool and the oracle's final message answers."""
    from mcp import Client

    from scaleenv_mcp.harness.agents import OracleAgent
    from scaleenv_mcp.harness.runner import EvalPlan
    from scaleenv_mcp.serving.server import build_server

    task = first("telecom_plans", "information", hidden=1)
    expected = next(c.value for c in task.checks if c.kind == "answer")
    plan = EvalPlan(root=ROOT, tasks=[task], agent=OracleAgent({task.id: task}))
    service = plan.service("telecom_plans")
    for channel in ("typed", "prose"):
        handle = service.create(task=task.id, creator="test", channel=channel)
        server = build_server(service.coordinator.spec, service=service, episode=handle.episode, reap_every=None)
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
            assert ("submit_answer" in {t.name for t in tools}) == (channel == "typed")
            session = AgentSession(client, tools, "policy", task.opening or "", 30, user=user_for(task))
            outcome = await OracleAgent({task.id: task}).for_task(task).run(session)
            calls = [c["function"] for m in session.messages for c in m.get("tool_calls") or []]
            submitted = [json.loads(c["arguments"]) for c in calls if c["name"] == "submit_answer"]
            assert submitted == ([{"answer": expected}] if channel == "typed" else [])
            verdict = service.coordinator.verify(handle.episode, outcome.answer)
            assert verdict.success and verdict.channel == channel
