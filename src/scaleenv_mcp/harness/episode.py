"""One episode against a model endpoint, for trainers that bring their own OpenAI-compatible proxy.

RL frameworks that record tokens (AReaL, rLLM, Agent Lightning, ART, OpenRLHF, verifiers) put a
proxy in front of the policy model and need one call that plays an episode through it and
returns the conversation and the reward. :func:`run_episode` is that call: the episode lives in
this process (one episode service per domain, shared by every concurrent episode), the model is
reached over HTTP at ``base_url`` (``POST {base_url}/chat/completions``), and the conversation
runs through the same :func:`~scaleenv_mcp.harness.loop.agent_loop` as ``scaleenv eval``. The
model sees the tools, the policy and the request, and tool results as the MCP server shows
them; never the checks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import httpx
from pydantic import BaseModel, Field

from ..episodes.coordinator import Coordinator
from ..episodes.service import EpisodeService
from ..errors import ScaleenvError
from ..serving.server import openai_tools, policy_brief, tool_result, tool_text
from ..spec.catalog import load_domain, load_domain_tasks
from ..spec.paths import project_paths
from ..spec.task import TaskSpec
from ..tasks.grader import DEFAULT_MODE
from .agents import malformed
from .loop import Termination, agent_loop
from .users import ScriptedUser, user_brief

__all__ = ["EpisodeResult", "ModelError", "run_episode"]

_SERVICES: dict[tuple[str, str], EpisodeService] = {}


class ModelError(ScaleenvError, RuntimeError):
    """The model endpoint failed after retries (an infrastructure fault, not the agent's)."""

    default_status = 502


class EpisodeResult(BaseModel):
    """What a trainer needs from one episode: the conversation, the tools offered, the reward and why."""

    task_id: str
    domain: str
    messages: list[dict[str, Any]] = Field(description="OpenAI chat format, assistant messages as the endpoint sent them")
    tools: list[dict[str, Any]] = Field(description="the tools offered, as OpenAI function definitions")
    reward: float
    rewards: dict[str, float]
    success: bool
    components: list[dict[str, Any]] = Field(description="every check: description, kind, passed, detail")
    policy_violations: list[str] = []
    termination: Termination = Field(description="answered | max_steps | user_stopped | model_error (one spelling: harness.loop.Termination)")
    error: str | None = None
    metrics: dict[str, Any]


def _service(task: TaskSpec, root: str | Path | None) -> EpisodeService:
    paths = project_paths(root)
    key = (str(paths.root), task.domain)
    if key not in _SERVICES:
        spec = load_domain(paths, task.domain)
        _SERVICES[key] = EpisodeService(Coordinator(spec, load_domain_tasks(paths, task.domain)), max_per_creator=100_000, max_episodes=100_000)
    return _SERVICES[key]


async def _post(client: httpx.AsyncClient, url: str, body: dict[str, Any], retries: int, backoff: float) -> dict[str, Any]:
    for attempt in range(retries + 1):
        try:
            response = await client.post(url, json=body)
            if response.status_code < 400:
                data = response.json()
                if isinstance(data, dict):
                    return data
                raise ModelError("the endpoint answered with something other than a JSON object")
            if response.status_code not in (408, 409, 429) and response.status_code < 500:
                raise ModelError(f"the endpoint refused the request: HTTP {response.status_code} {response.text[:300]}")
            problem = f"HTTP {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        if attempt == retries:
            raise ModelError(f"{url} failed after {retries + 1} attempts: {problem}")
        await anyio.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


async def run_episode(
    task: TaskSpec,
    *,
    base_url: str,
    model: str,
    api_key: str | None = None,
    max_turns: int = 30,
    user_sim: str | None = None,
    sampling: dict[str, Any] | None = None,
    root: str | Path | None = None,
    timeout: float = 120.0,
    retries: int = 3,
    backoff: float = 0.5,
    http: httpx.AsyncClient | None = None,
) -> EpisodeResult:
    """Play ``task`` with the model at ``base_url`` and grade it.

    ``max_turns`` bounds the tool calls; ``sampling`` is merged into every request body
    (temperature, max_tokens, logprobs, ...); ``user_sim`` names a model on the same endpoint that
    plays the user (it gets the request and reveals facts when asked); without it a
    :class:`~scaleenv_mcp.harness.users.ScriptedUser` plays the user. Pass ``http`` to share one
    connection pool across thousands of concurrent episodes. A model endpoint that keeps failing
    ends the episode with ``termination="model_error"`` and reward 0 (an infrastructure fault).
    """
    started = time.monotonic()
    service = _service(task, root)
    spec = service.coordinator.spec
    tools = openai_tools(spec, task)  # a question adds its submit_answer tool (the typed channel)
    url = base_url.rstrip("/") + "/chat/completions"
    client = http or httpx.AsyncClient(timeout=timeout, headers={"authorization": f"Bearer {api_key}"} if api_key else {})
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    handle = service.create(task=task.id, creator="run_episode")
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": policy_brief(spec)},
        {"role": "user", "content": task.instruction},
    ]

    async def ask(model_name: str, conversation: list[dict[str, Any]], with_tools: bool) -> dict[str, Any]:
        body: dict[str, Any] = {**(sampling or {}), "model": model_name, "messages": conversation}
        if with_tools:
            body["tools"] = tools
        data = await _post(client, url, body, retries, backoff)
        for key in usage:
            value = (data.get("usage") or {}).get(key)
            usage[key] += value if isinstance(value, int) else 0
        choice = (data.get("choices") or [None])[0]
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise ModelError("the endpoint's answer has no choices[0].message")
        message = dict(choice["message"])
        if "logprobs" in choice and "logprobs" not in message:
            message["logprobs"] = choice["logprobs"]  # kept with the turn it scores
        return message

    async def complete(conversation: list[dict[str, Any]]) -> dict[str, Any]:
        return await ask(model, conversation, True)

    async def call_tool(name: str, arguments: dict[str, Any]) -> str:
        problem = malformed(arguments)
        if problem is not None:
            return f"error: {problem}"
        return tool_text(tool_result(service.call(handle.episode, name, arguments)))

    user_history: list[dict[str, Any]] = []

    async def user(agent_text: str | None) -> str:
        assert user_sim is not None
        if not user_history:
            user_history.append({"role": "system", "content": user_brief(task)})
        if agent_text is not None:
            user_history.append({"role": "user", "content": agent_text})
        reply = await ask(user_sim, user_history, False)
        text = reply.get("content") if isinstance(reply.get("content"), str) else ""
        user_history.append({"role": "assistant", "content": text})
        return str(text)

    termination: Termination = "model_error"
    answer, error = None, None
    loop = None
    try:
        scripted = ScriptedUser(task, spec)  # no simulator named: facts come when asked, confirmations get answers
        loop = await agent_loop(messages, complete, call_tool, max_steps=max_turns, user=user if user_sim else scripted)
        termination = loop.termination
        answer = loop.answer
    except ModelError as exc:
        error = str(exc)
    finally:
        if http is None:
            await client.aclose()
    try:
        verdict = service.coordinator.verify(handle.episode, answer, mode=DEFAULT_MODE)
    finally:
        service.end(handle.episode)
    return EpisodeResult(
        task_id=task.id,
        domain=task.domain,
        messages=messages,
        tools=tools,
        reward=0.0 if error else verdict.reward,
        rewards=dict.fromkeys(verdict.rewards, 0.0) if error else verdict.rewards,
        success=verdict.success and not error,
        components=[c.model_dump(mode="json") for c in verdict.checks],
        policy_violations=verdict.policy_violations,
        termination=termination,
        error=error,
        metrics={
            "turns": loop.turns if loop else 0,
            "tool_calls": loop.tool_calls if loop else 0,
            **usage,
            "wall_time": round(time.monotonic() - started, 3),
        },
    )

