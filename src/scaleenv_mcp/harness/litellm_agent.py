"""Agents and simulated users backed by any model litellm supports.

MCP tools become OpenAI-style function definitions; the policy is the system prompt.
Transient API errors are retried with exponential backoff; what still fails is an
infrastructure fault (the episode is recorded as such, not as an agent failure).
"""

from __future__ import annotations

from typing import Any

from ..llm import LLMError, ModelOptions, add_usage, complete
from ..serving.server import tool_text
from ..spec.task import TaskSpec
from .agents import AgentOutcome, AgentSession, InfraError
from .loop import agent_loop
from .users import plain_brief

__all__ = ["LiteLLMAgent", "UserSimulator", "complete_in_episode"]


async def complete_in_episode(
    model: str, messages: list[dict[str, Any]], options: ModelOptions, tools: list[dict[str, Any]] | None = None
) -> Any:
    """A completion for an episode: an LLM that keeps failing is an infrastructure fault."""
    try:
        return await complete(model, messages, tools=tools, options=options)
    except LLMError as exc:
        raise InfraError("llm_error", str(exc)) from None


def _usage(response: Any, tokens: dict[str, int]) -> float | None:
    return add_usage(response, tokens)


class UserSimulator:
    """A user played by an LLM, briefed by ``brief`` (:func:`~scaleenv_mcp.harness.users.user_brief`:
    the task's script, facts it reveals only when asked, when to stop)."""

    def __init__(self, model: str, brief: str, options: ModelOptions) -> None:
        self.model = model
        self.options = options
        self.tokens = {"prompt": 0, "completion": 0}
        self.history: list[dict[str, Any]] = [{"role": "system", "content": brief}]

    async def say(self, agent_text: str | None = None) -> str:
        if agent_text is not None:
            self.history.append({"role": "user", "content": agent_text})
        response = await complete_in_episode(self.model, self.history, self.options)
        _usage(response, self.tokens)
        text = response.choices[0].message.content or ""
        self.history.append({"role": "assistant", "content": text})
        return text


class LiteLLMAgent:
    """A tool-calling agent: the model decides, MCP executes, the transcript is the trajectory."""

    def __init__(self, model: str, *, options: ModelOptions | None = None, user_sim: str | None = None) -> None:
        """``model`` (a litellm name) answers, reached as ``options`` say; so does ``user_sim``, the
        simulated user's model, when one is named."""
        self.model = model
        self.name = f"litellm:{model}"
        self.user_sim = user_sim
        self.options = options or ModelOptions()

    def for_task(self, task: TaskSpec) -> LiteLLMAgent:
        return self

    async def run(self, session: AgentSession) -> AgentOutcome:
        tools = [
            {"type": "function", "function": {"name": t.name, "description": t.description or "", "parameters": t.input_schema}}
            for t in session.tools
        ]
        tokens = {"prompt": 0, "completion": 0}
        cost: float | None = None
        brief = session.brief or plain_brief(session.instruction)
        user = UserSimulator(self.user_sim, brief, self.options) if self.user_sim else None

        async def model(messages: list[dict[str, Any]]) -> dict[str, Any]:
            nonlocal cost
            response = await complete_in_episode(self.model, messages, self.options, tools)
            turn_cost = _usage(response, tokens)
            cost = None if turn_cost is None else (cost or 0.0) + turn_cost
            message = response.choices[0].message
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            calls = list(getattr(message, "tool_calls", None) or [])
            if calls:
                entry["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
                    for c in calls
                ]
            return entry

        async def call_tool(name: str, arguments: dict[str, Any]) -> str:
            return tool_text(await session.execute(name, arguments))

        steps_left = session.max_steps - session.steps
        loop = await agent_loop(session.messages, model, call_tool, max_steps=steps_left, user=user.say if user else session.user)
        outcome = AgentOutcome(answer=loop.answer, termination=loop.termination)
        if user is not None:
            tokens = {k: tokens[k] + user.tokens[k] for k in tokens}
        outcome.tokens = tokens
        outcome.cost = cost
        return outcome
