"""Tasks are proven solvable through MCP, rewards come from real end state, and nothing leaks to the agent."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from scaleenv_mcp.cli import main
from scaleenv_mcp.episodes.control import ControlClient
from scaleenv_mcp.serving import build_server
from scaleenv_mcp.spec.catalog import load_domain_tasks
from scaleenv_mcp.spec.task import TaskSpec
from scaleenv_mcp.tasks.generation import generate_tasks
from scaleenv_mcp.tasks.grader import format_answer_value

from ..conftest import PATHS, ROOT, SHIPPED, rotation, shipped_spec

ID = re.compile(r"^[A-Z][A-Z0-9]{0,5}-\d{4,}$")
ID_ANYWHERE = re.compile(r"\b[A-Z][A-Z0-9]{0,5}-\d{4,}\b")


def answer_of(task: TaskSpec) -> str | None:
    return next((format_answer_value(c.value) for c in task.checks if c.kind == "answer"), None)


@pytest.mark.e2e
@pytest.mark.parametrize("domain", rotation(SHIPPED, 4, salt="replay"))
async def test_every_stored_task_replays_through_mcp_and_a_do_nothing_episode_fails(domain: str) -> None:
    """Over MCP, for the day's rotation of domains (``tests/conftest.py``); every task of every domain
    is replayed in process by ``tests/tasks/test_adversarial.py`` on every run."""
    spec = shipped_spec(domain)
    tasks = load_domain_tasks(PATHS, domain)
    assert len(tasks) >= 30
    assert {"action", "information"} <= {t.kind for t in tasks} <= {"action", "information", "refusal"}
    assert max(t.difficulty["steps"] for t in tasks) >= 5 and max(t.difficulty["branches"] for t in tasks) >= 2
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "control.sock"
        for task in tasks:
            server = build_server(spec, tasks=tasks, task_id=task.id, control_path=sock)
            with anyio.fail_after(20):
                async with Client(server) as agent:
                    for call in task.solution:
                        result = await agent.call_tool(call.tool, call.arguments)
                        assert not result.is_error, (task.id, call, result.content)
                    check = next((c for c in task.checks if c.kind == "answer"), None)
                    if check is not None:  # the task episode's typed answer channel
                        assert not (await agent.call_tool("submit_answer", {"answer": check.value})).is_error, task.id
                    verdict = await ControlClient(sock).verify(answer_of(task))
                    assert verdict["success"] and verdict["reward"] == 1.0, (task.id, verdict)
                async with Client(server):
                    idle = await ControlClient(sock).verify(None)
                    assert not idle["success"] and idle["reward"] < 1.0, task.id


def test_instructions_never_contain_internal_ids() -> None:
    for domain in SHIPPED:
        for task in load_domain_tasks(PATHS, domain):
            ids = [v for c in task.solution for v in c.arguments.values() if isinstance(v, str) and ID.match(v)]
            assert ids or task.kind != "action" or len(task.solution) == 1
            assert not any(i in task.instruction for i in ids), (task.id, task.instruction)
            assert not ID_ANYWHERE.search(task.instruction), (task.id, task.instruction)


async def test_the_agent_surface_reveals_no_checks_solutions_or_rewards() -> None:
    spec = shipped_spec("retail")
    tasks = load_domain_tasks(PATHS, "retail")
    task = next(t for t in tasks if t.kind == "action" and len(t.solution) >= 3 and not t.hidden)
    server = build_server(spec, tasks=tasks, task_id=task.id)
    seen: list[str] = []
    async with Client(server) as agent:
        tools = (await agent.list_tools()).tools
        seen += [json.dumps(t.model_dump(mode="json")) for t in tools]
        for resource in (await agent.list_resources()).resources:
            seen += [c.text for c in (await agent.read_resource(str(resource.uri))).contents]  # type: ignore[union-attr]
        prompts = (await agent.list_prompts()).prompts
        assert [p.name for p in prompts] == ["policy", "task"]
        for prompt in prompts:
            seen += [m.content.text for m in (await agent.get_prompt(prompt.name)).messages]  # type: ignore[union-attr]
        for probe in ("verify", "get_reward", "list_checks", "solution"):
            result = await agent.call_tool(probe, {})
            assert result.is_error and "unknown tool" in result.content[0].text
    text = "\n".join(seen).lower()
    assert task.instruction.lower() in text  # the instruction is offered, nothing more
    for word in ("reward", "no_other_changes", "field_equals", "row_exists", "solution"):
        assert word not in text
    assert not any(c.description.lower() in text for c in task.checks)
    assert {t.name for t in tools} == set(spec.tools)


@pytest.mark.e2e
async def test_serve_task_over_stdio_with_the_control_socket(tmp_path: Path) -> None:
    tasks = load_domain_tasks(PATHS, "airline")
    task = next(t for t in tasks if t.kind == "action" and t.difficulty["writes"] >= 1)
    sock = tmp_path / "ctl.sock"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "scaleenv_mcp", "serve", "airline", "--task", task.id, "--control", str(sock)],
        cwd=str(ROOT),
    )
    with anyio.fail_after(40):
        async with Client(params) as agent:
            prompt = await agent.get_prompt("task")
            assert prompt.messages[0].content.text == (task.opening or task.instruction)  # type: ignore[union-attr]
            control = ControlClient(sock)
            await control.wait_ready()
            assert not (await control.verify())["success"]
            for call in task.solution:
                assert not (await agent.call_tool(call.tool, call.arguments)).is_error
            verdict = await control.verify()
            assert verdict["success"] and verdict["reward"] == 1.0
            assert sock.stat().st_mode & 0o077 == 0  # owner-only


def test_tasks_command_is_reproducible_by_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "tasks", "library_loans", "--count", "6", "--seed", "3", "--json"]) == 0
    first = capsys.readouterr().out
    assert main(["--root", str(ROOT), "tasks", "library_loans", "--count", "6", "--seed", "3", "--json"]) == 0
    assert capsys.readouterr().out == first
    data: list[dict[str, Any]] = json.loads(first)
    assert len(data) == 6 and all({"id", "instruction", "checks", "solution", "difficulty", "initial_state"} <= set(t) for t in data)
    other = generate_tasks(shipped_spec("library_loans"), count=6, seed=4)
    assert [t.instruction for t in other] != [t["instruction"] for t in data]


def test_stored_tasks_match_a_fresh_generation() -> None:
    from scaleenv_mcp.compiler.pipeline import shipped_tasks

    spec = shipped_spec("event_ticketing")
    assert shipped_tasks(spec, 48) == load_domain_tasks(PATHS, "event_ticketing")  # 6 from each of 8 seeds, as synth makes them


def test_a_new_row_a_task_asks_for_agrees_with_itself_as_seeded_rows_do() -> None:
    """A ticket's subject decides its category and priority (P1 only for outages, as the policy
    says); a task opening a ticket asks for a combination some seeded ticket has, never "P1" for a
    flickering monitor."""
    import scaleenv_mcp as se

    domain = se.load("it_helpdesk")
    with domain.episode(domain.tasks[0]) as ep:
        seeded = {(t["subject"], t["category"], t["priority"]) for t in domain._coordinator.episode(ep.id).state.rows("ticket")}
    opened = [c.arguments for t in domain.tasks for c in t.solution if c.tool == "open_ticket"]
    assert opened and all((a["subject"], a["category"], a["priority"]) in seeded for a in opened), opened
