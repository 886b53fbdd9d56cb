"""Agents and simulated users backed by any model litellm supports.

MCP tools become OpenAI-style function definitions; the policy is the system prompt.
Transient API errors are retried with exponential backoff; what still fails is an
infrastructure fault (the episode is recorded as such, not as an agent failure).
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch prices over the network
import litellm  # noqa: E402

from .agents import AgentOutcome, AgentSession, InfraError  # noqa: E402

__all__ = ["LiteLLMAgent", "UserSimulator", "complete"]

litellm.suppress_debug_info = True
_TRANSIENT = (
    litellm.exceptions.APIConnectionError,
    litellm.exceptions.RateLimitError,
    litellm.exceptions.ServiceUnavailableError,
    litellm.exceptions.InternalServerError,
    litellm.exceptions.Timeout,
)
STOP = "###STOP###"


async def complete(
    model: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float = 120.0,
    retries: int = 3,
    backoff: float = 0.5,
) -> Any:
    """One chat completion; transient errors retried, anything else an :class:`InfraError`."""
    options: dict[str, Any] = {"timeout": timeout, "num_retries": 0}
    if tools:
        options["tools"] = tools
    if api_base:
        options["api_base"] = api_base
    if api_key:
        options["api_key"] = api_key
    for attempt in range(retries + 1):
        try:
            return await litellm.acompletion(model=model, messages=messages, **options)
        except _TRANSIENT as exc:
            if attempt == retries:
                raise InfraError("llm_error", f"{model} failed after {retries + 1} attempts: {_short(exc)}") from None
            await anyio.sleep(backoff * 2**attempt)
        except litellm.exceptions.APIError as exc:
            raise InfraError("llm_error", f"{model}: {_short(exc)}") from None
        except Exception as exc:  # bad model name, missing key, ...: not the agent's fault either
            raise InfraError("llm_error", f"{model}: {_short(exc)}") from None
    raise AssertionError("unreachable")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def _usage(response: Any, tokens: dict[str, int]) -> float | None:
    usage = getattr(response, "usage", None)
    if usage is not None:
        tokens["prompt"] += int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens["completion"] += int(getattr(usage, "completion_tokens", 0) or 0)
    try:
        return float(litellm.completion_cost(completion_response=response))
    except Exception:  # unknown model price: cost is simply not reported
        return None


class UserSimulator:
    """A user played by an LLM who holds the instruction and reveals facts only when asked."""

    def __init__(self, model: str, instruction: str, **options: Any) -> None:
        self.model = model
        self.options = options
        self.tokens = {"prompt": 0, "completion": 0}
        self.history: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": (
                    "You are a user contacting customer service. This is what you want, and everything you know:\n"
                    f"{instruction}\n\n"
                    "Rules: open with your request in one or two sentences, without every detail. Give a fact "
                    "(your name, email, dates, names of things) only when the agent asks for it. Never invent "
                    "facts you were not given. When everything you wanted is done, or the agent cannot help, "
                    f"reply with exactly {STOP}."
                ),
            }
        ]

    async def say(self, agent_text: str | None = None) -> str:
        if agent_text is not None:
            self.history.append({"role": "user", "content": agent_text})
        response = await complete(self.model, self.history, **self.options)
        _usage(response, self.tokens)
        text = response.choices[0].message.content or ""
        self.history.append({"role": "assistant", "content": text})
        return text


class LiteLLMAgent:
    """A tool-calling agent: the model decides, MCP executes, the transcript is the trajectory."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        user_sim: str | None = None,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.model = model
        self.name = f"litellm:{model}"
        self.user_sim = user_sim
        self.options = {"api_base": api_base, "api_key": api_key, "timeout": timeout, "retries": retries, "backoff": backoff}

    async def run(self, session: AgentSession) -> AgentOutcome:
        tools = [
            {"type": "function", "function": {"name": t.name, "description": t.description or "", "parameters": t.input_schema}}
            for t in session.tools
        ]
        tokens = {"prompt": 0, "completion": 0}
        cost: float | None = None
        user = UserSimulator(self.user_sim, session.instruction, **self.options) if self.user_sim else None
        if user is not None:
            session.messages[1] = {"role": "user", "content": await user.say()}
        said: list[str] = []
        outcome: AgentOutcome | None = None
        for _turn in range(session.max_steps + 10):
            response = await complete(self.model, session.messages, tools=tools, **self.options)
            turn_cost = _usage(response, tokens)
            cost = None if turn_cost is None else (cost or 0.0) + turn_cost
            message = response.choices[0].message
            calls = list(getattr(message, "tool_calls", None) or [])
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            if calls:
                entry["tool_calls"] = [
                    {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
                    for c in calls
                ]
            session.messages.append(entry)
            if calls:
                for call in calls:
                    if session.steps >= session.max_steps:
                        outcome = AgentOutcome(answer=" ".join(said) or None, termination="max_steps")
                        break
                    try:
                        arguments = json.loads(call.function.arguments or "{}")
                        if not isinstance(arguments, dict):
                            raise ValueError("not an object")
                    except ValueError:
                        session.messages.append(
                            {"role": "tool", "tool_call_id": call.id, "content": "error: arguments were not a JSON object"}
                        )
                        continue
                    await session.call_tool(call.function.name, arguments, tool_call_id=call.id)
                if outcome is not None:
                    break
                continue
            text = message.content or ""
            said.append(text)
            if user is None:
                outcome = AgentOutcome(answer=text, termination="answered")
                break
            reply = await user.say(text)
            if STOP in reply:
                outcome = AgentOutcome(answer=" ".join(said), termination="user_stopped")
                break
            session.messages.append({"role": "user", "content": reply})
        if outcome is None:
            outcome = AgentOutcome(answer=" ".join(said) or None, termination="max_steps")
        if user is not None:
            tokens = {k: tokens[k] + user.tokens[k] for k in tokens}
        outcome.tokens = tokens
        outcome.cost = cost
        return outcome
