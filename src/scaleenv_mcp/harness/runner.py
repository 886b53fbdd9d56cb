"""Running episodes: an MCP session with the official client, an agent, a verdict.

By default (``inproc``) every episode of a domain lives on one episode service in this
process and the client talks to a server object bound to that episode: the same MCP
messages, no process or socket per episode. With ``process`` the harness takes the path an
external agent would: it launches ``scaleenv serve DOMAIN --task ID --control SOCKET`` as a
subprocess, speaks MCP over stdio and verifies through the control socket. Either way the
agent is never given the verifier. Faults of the machinery (the server dies, the LLM API
keeps failing, the episode times out) are recorded as infrastructure faults.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from ..engine.seed import seed_state
from ..episodes.control import ControlClient, ControlError
from ..episodes.coordinator import Coordinator
from ..episodes.service import EpisodeService, Handle
from ..serving.server import ServerPlan
from ..spec.catalog import load_domain, load_domain_tasks
from ..spec.model import DomainSpec
from ..spec.paths import ProjectPaths
from ..spec.task import AnswerChannel, TaskSpec
from .agents import Agent, AgentOutcome, AgentSession, InfraError
from .results import CheckOutcome, EpisodeRecord, InfraFault, ResultStore
from .users import ScriptedUser, user_brief

__all__ = ["EvalPlan", "run_eval", "run_eval_episode"]


@dataclass
class EvalPlan:
    root: Path
    tasks: list[TaskSpec]
    agent: Agent
    trials: int = 1
    concurrency: int = 2
    max_steps: int = 30
    timeout: float = 300.0
    user_sim: str | None = None
    answer_channel: AnswerChannel = "typed"
    """how a question's answer is graded: the task's submit_answer tool (typed) or the final message (prose)"""
    isolation: Literal["inproc", "process"] = "inproc"
    """``inproc``: each episode is an MCP session with a server object in this process (no process start);
    ``process``: each episode is ``scaleenv serve`` as a stdio subprocess, the path an external agent takes"""
    _domains: dict[str, tuple[DomainSpec, list[TaskSpec], bytes]] = field(default_factory=dict, repr=False)

    output_validators: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """domain -> the MCP client's compiled output-schema validators, shared by that domain's sessions"""

    _services: dict[str, EpisodeService] = field(default_factory=dict, repr=False)
    _specs: dict[str, DomainSpec] = field(default_factory=dict, repr=False)

    def service(self, name: str) -> EpisodeService:
        """One episode service per domain for in-process episodes: seeded and hash-checked once per run.
        Its tasks are the stored ones and this plan's (freshly generated tasks of other seeds run too)."""
        if name not in self._services:
            spec, tasks, image = self.domain(name)
            known = {t.id: t for t in tasks} | {t.id: t for t in self.tasks if t.domain == name}
            self._services[name] = EpisodeService(Coordinator(spec, known.values(), initial=image))
        return self._services[name]

    def spec(self, name: str) -> DomainSpec:
        """A domain's spec, loaded once per run (the scripted user reads its write tools)."""
        if name in self._domains:
            return self._domains[name][0]
        if name not in self._specs:
            self._specs[name] = load_domain(ProjectPaths(self.root), name)
        return self._specs[name]

    def domain(self, name: str) -> tuple[DomainSpec, list[TaskSpec], bytes]:
        """A domain's spec, tasks and seeded initial state, loaded once per run (in-process episodes)."""
        if name not in self._domains:
            paths = ProjectPaths(self.root)
            spec = load_domain(paths, name)
            seeded = seed_state(spec)
            self._domains[name] = (spec, load_domain_tasks(paths, name), seeded.snapshot())
            seeded.close()
        return self._domains[name]


def _prompt_text(result: types.GetPromptResult) -> str:
    content = result.messages[0].content
    return content.text if isinstance(content, types.TextContent) else ""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


async def run_eval_episode(plan: EvalPlan, task: TaskSpec, trial: int, out: Path) -> EpisodeRecord:
    """Run one episode end to end and return its record (its trajectory is written under ``out``)."""
    agent = plan.agent.for_task(task)
    started = time.monotonic()
    session: AgentSession | None = None
    outcome: AgentOutcome | None = None
    verdict: dict[str, Any] | None = None
    changes: Any = None
    infra: dict[str, str] | None = None
    with tempfile.TemporaryDirectory(prefix="scaleenv-") as tmp:
        sock = Path(tmp) / "control.sock"
        log_path = out / "server-logs" / task.domain / f"{_safe(task.id)}__{_safe(agent.name)}__t{trial}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("w", encoding="utf-8")
        handle: Handle | None = None
        try:
            transport: Any
            if plan.isolation == "process":
                params = StdioServerParameters(
                    command=sys.executable,
                    args=["-m", "scaleenv_mcp", "--root", str(plan.root), "serve", task.domain,
                          "--task", task.id, "--control", str(sock), "--answer-channel", plan.answer_channel],
                    cwd=str(plan.root),
                )  # fmt: skip
                transport = stdio_client(params, errlog=log)
            else:  # the same MCP session, with the server object in this process: no process, no socket
                service = plan.service(task.domain)
                handle = service.create(task=task.id, creator="eval", channel=plan.answer_channel)
                transport = ServerPlan.bound_episode(service, handle.episode).build()
            with anyio.fail_after(plan.timeout):
                async with Client(transport) as client:
                    control = ControlClient(sock)
                    if plan.isolation == "process":
                        await control.wait_ready()
                    tools = (await client.list_tools()).tools
                    _share_output_validators(client, plan.output_validators.setdefault(task.domain, {}))
                    policy = _prompt_text(await client.get_prompt("policy"))
                    instruction = _prompt_text(await client.get_prompt("task"))
                    # every task has a user to answer questions and confirmations; a --user-sim model brings its own
                    user = None if plan.user_sim else ScriptedUser(task, plan.spec(task.domain))
                    session = AgentSession(client, tools, policy, instruction, plan.max_steps, user=user, brief=user_brief(task))
                    outcome = await agent.run(session)
                    if handle is None:
                        verdict = await control.verify(outcome.answer)
                        changes = await control.request("diff")
                    else:  # the harness holds the service: the grader directly, not over a socket
                        verdict = service.coordinator.verify(handle.episode, outcome.answer).model_dump(mode="json")
                        changes = service.coordinator.diff(handle.episode).model_dump(mode="json")
        except Exception as exc:  # boundary: classify what went wrong, whatever wrapped it
            infra = _classify(exc, plan.timeout)
        finally:
            log.close()
            if handle is not None and handle.episode in service.handles:
                service.end(handle.episode)
        if infra and infra["kind"] == "server_crash":
            last = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()][-1:]
            if last:
                infra["message"] += f" (server said: {last[0][:300]})"
    trajectory = out / "trajectories" / task.domain / f"{_safe(task.id)}__{_safe(agent.name)}__t{trial}.json"
    trajectory.parent.mkdir(parents=True, exist_ok=True)
    trajectory.write_text(
        json.dumps(
            {
                "domain": task.domain,
                "task_id": task.id,
                "agent": agent.name,
                "trial": trial,
                "tools": [
                    {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}}
                    for t in (session.tools if session else [])
                ],
                "messages": session.messages if session else [],
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    return EpisodeRecord(
        domain=task.domain,
        task_id=task.id,
        trial=trial,
        agent=agent.name,
        user_sim=plan.user_sim,
        reward=verdict["reward"] if verdict else 0.0,
        success=bool(verdict and verdict["success"]),
        checks=[CheckOutcome(**{k: c[k] for k in ("description", "passed", "detail")}) for c in verdict["checks"]]
        if verdict
        else [],
        steps=session.steps if session else 0,
        tokens=outcome.tokens if outcome else {"prompt": 0, "completion": 0},
        cost=outcome.cost if outcome else None,
        wall_time=round(time.monotonic() - started, 3),
        termination=outcome.termination if outcome else "infra_error",
        infra_error=InfraFault(**infra) if infra else None,
        trajectory=trajectory.relative_to(out).as_posix(),
        **({"diff": changes} if changes is not None else {}),  # what the episode changed, row by row (the report shows it)
    )


def _share_output_validators(client: Client, cache: dict[str, Any]) -> None:
    """Let every session of one domain share the client's compiled output-schema validators.

    The SDK's client checks each tool result against the tool's output schema, compiling a
    validator once per session (about 13 ms a tool, most of an in-process episode). Every
    episode of a domain lists the same schemas (the spec is hash-checked), so one cache serves
    them all. It is the session's own private cache, so this is skipped if the SDK changes it.
    """
    session = client.session
    current = getattr(session, "_tool_output_validators", None)
    if isinstance(current, dict):
        cache.update(current)
        session._tool_output_validators = cache


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _classify(exc: BaseException, timeout: float) -> dict[str, str]:
    """An infrastructure fault from whatever an episode raised (often wrapped in exception groups)."""
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, InfraError):
            return {"kind": leaf.kind, "message": leaf.message}
    for leaf in leaves:
        if isinstance(leaf, TimeoutError):
            return {"kind": "timeout", "message": f"the episode took longer than {timeout:g} s"}
    leaf = next((x for x in leaves if isinstance(x, ControlError)), leaves[0])
    return {"kind": "server_crash", "message": f"{type(leaf).__name__}: {str(leaf)[:300]}"}


async def run_eval(
    plan: EvalPlan, store: ResultStore, progress: Callable[[EpisodeRecord], None] | None = None
) -> list[EpisodeRecord]:
    """Run every (task, trial) not already finished in ``store``, ``concurrency`` at a time."""
    pending = [
        (task, trial)
        for task in plan.tasks
        for trial in range(1, plan.trials + 1)
        if not store.finished((task.domain, task.id, plan.agent.name, trial))
    ]
    limiter = anyio.CapacityLimiter(max(1, plan.concurrency))

    async def one(task: TaskSpec, trial: int) -> None:
        async with limiter:
            record = await run_eval_episode(plan, task, trial, store.out)
            store.append(record)
            if progress:
                progress(record)

    async with anyio.create_task_group() as tg:
        for task, trial in pending:
            tg.start_soon(one, task, trial)
    return store.records()
