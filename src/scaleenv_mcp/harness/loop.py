"""The one agent loop: the model answers, its tool calls run, until it replies (or its user stops).

Every model-driven episode goes through :func:`agent_loop`, whether the model is reached through
litellm (``scaleenv eval --agent litellm:...``) or through an OpenAI-compatible endpoint a trainer's
proxy serves (:func:`scaleenv_mcp.harness.episode.run_episode`), and whether tools run over MCP or
in process. Messages are OpenAI chat format; an assistant message is kept as the model sent it,
so fields a proxy adds (token ids, logprobs) stay in the trajectory.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["STOP", "CallTool", "Complete", "LoopOutcome", "Termination", "UserTurn", "agent_loop"]

STOP = "###STOP###"

Termination = Literal["answered", "max_steps", "user_stopped", "model_error", "infra_error"]
"""How an episode's conversation ended, spelt the same in the loop, every agent, ``scaleenv eval``'s
records and :func:`~scaleenv_mcp.harness.episode.run_episode`'s result: the agent replied
(``answered``), used up its tool calls (``max_steps``), its user said :data:`STOP` (``user_stopped``),
the model endpoint failed (``model_error``) or something else not the agent's fault did (``infra_error``)."""
"""What a simulated user says when everything it wanted is done (or cannot be)."""

Complete = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]
"""The conversation so far -> the model's next assistant message (a dict in OpenAI chat format)."""

CallTool = Callable[[str, dict[str, Any]], Awaitable[str]]
"""A tool's name and arguments -> what the agent sees of the result."""

UserTurn = Callable[[str | None], Awaitable[str]]
"""What the agent said (None before it has spoken) -> the simulated user's reply."""


@dataclass
class LoopOutcome:
    answer: str | None
    """the agent's last reply: what it answers with, not the questions it asked on the way"""
    termination: Termination  # answered | max_steps | user_stopped
    tool_calls: int
    turns: int


def _arguments(raw: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "{}") if isinstance(raw, str) else raw
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


async def agent_loop(
    messages: list[dict[str, Any]], complete: Complete, call_tool: CallTool, *, max_steps: int, user: UserTurn | None = None
) -> LoopOutcome:
    """Run the conversation in ``messages`` (system, then the user's request) until it ends.

    ``messages`` grows in place. With ``user``, a simulated user opens instead of the written
    request and answers every reply until it says :data:`STOP`. At most ``max_steps`` tool calls
    run; arguments that are not a JSON object get an error result, as a server would answer.
    The outcome's answer is the agent's last reply, so the questions it asked on the way (its
    confirmations, "could you tell me your email?") are never graded as part of the answer.
    """
    if user is not None:
        messages[-1] = {"role": "user", "content": await user(None)}
    said: str | None = None
    steps = turns = 0
    for turns in range(1, max_steps + 11):
        message = await complete(messages)
        entry = {**message, "role": "assistant"}
        messages.append(entry)
        calls = [c for c in entry.get("tool_calls") or [] if isinstance(c, dict)]
        if calls:
            for call in calls:
                if steps >= max_steps:
                    return LoopOutcome(said or None, "max_steps", steps, turns)
                function = call.get("function")
                function = function if isinstance(function, dict) else {}
                arguments = _arguments(function.get("arguments"))
                if arguments is None:
                    text = "error: arguments were not a JSON object"
                else:
                    steps += 1
                    text = await call_tool(str(function.get("name")), arguments)
                messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": text})
            continue
        content = entry.get("content")
        text = content if isinstance(content, str) else ""
        said = text
        if user is None:
            return LoopOutcome(text, "answered", steps, turns)
        reply = await user(text)
        if STOP in reply:
            return LoopOutcome(said, "user_stopped", steps, turns)
        messages.append({"role": "user", "content": reply})
    return LoopOutcome(said or None, "max_steps", steps, turns)
