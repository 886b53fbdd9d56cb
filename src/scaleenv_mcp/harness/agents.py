"""Agents, and the session they act through.

Every agent sees the same thing an external MCP agent sees: the tools the server lists,
the policy and the user's instruction (or a simulated user), and tool results. The
session records the conversation in OpenAI chat format as it happens, so every
episode leaves a trajectory ready for fine-tuning, whatever agent produced it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import mcp_types as types
from mcp import Client
from mcp.shared.exceptions import MCPError

from ..errors import ScaleenvError
from ..serving.server import tool_text
from ..spec.task import TaskSpec
from ..tasks.grader import format_answer_value
from .loop import STOP, Termination, UserTurn

__all__ = ["Agent", "AgentOutcome", "AgentSession", "InfraError", "NoopAgent", "OracleAgent", "RandomAgent"]


class InfraError(ScaleenvError):
    """Not the agent's fault (server crash, LLM API failure, timeout): excluded from pass^k."""

    default_status = 502

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass
class AgentOutcome:
    answer: str | None
    termination: Termination
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
    cost: float | None = None


MAX_ARGUMENT_DEPTH = 32
MAX_ARGUMENT_BYTES = 1 << 20


def malformed(arguments: Any) -> str | None:
    """Why tool arguments cannot be sent as they are (None when they can): text that is not valid
    Unicode (a lone surrogate), nesting past 32 levels, or more than 1 MiB."""
    stack: list[tuple[Any, int]] = [(arguments, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_ARGUMENT_DEPTH:
            return f"arguments nested deeper than {MAX_ARGUMENT_DEPTH} levels"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value)
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    try:
        size = len(json.dumps(arguments, ensure_ascii=False).encode("utf-8"))
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        return f"arguments are not valid JSON text ({type(exc).__name__})"
    if size > MAX_ARGUMENT_BYTES:
        return f"arguments of {size:,} bytes; at most {MAX_ARGUMENT_BYTES:,}"
    return None


@dataclass
class AgentSession:
    """What an agent may use: the MCP tools, the policy, the instruction; it records the transcript."""

    client: Client
    tools: list[types.Tool]
    policy: str
    instruction: str
    max_steps: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    _ids: int = 0
    user: UserTurn | None = None
    """the user who answers the agent's questions and confirmations (a scripted user; none under ``--user-sim``)"""
    brief: str = ""
    """a simulated user's instructions (:func:`~scaleenv_mcp.harness.users.user_brief`: the task's whole
    request and script): for a user simulator, never for the agent"""

    def __post_init__(self) -> None:
        self.messages = [{"role": "system", "content": self.policy}, {"role": "user", "content": self.instruction}]

    def next_call_id(self) -> str:
        self._ids += 1
        return f"call_{self._ids}"

    async def call_tool(self, name: str, arguments: dict[str, Any], tool_call_id: str | None = None) -> types.CallToolResult:
        """Call a tool over MCP. Without ``tool_call_id`` the assistant turn is recorded here too."""
        if tool_call_id is None:
            tool_call_id = self.next_call_id()
            call = {"id": tool_call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
            self.messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        result = await self.execute(name, arguments)
        self.messages.append({"role": "tool", "tool_call_id": tool_call_id, "content": tool_text(result)})
        return result

    async def execute(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call a tool over MCP without recording the turn (the agent loop records it)."""
        self.steps += 1
        problem = malformed(arguments)
        if problem is not None:  # the agent's own output: scored as its failure, never sent to crash the pipe
            result = types.CallToolResult(content=[types.TextContent(type="text", text=f"error: {problem}")], is_error=True)
        else:
            try:
                result = await self.client.call_tool(name, arguments)
            except MCPError as exc:  # a request the server refused (a protocol-level error): the agent's doing
                result = types.CallToolResult(content=[types.TextContent(type="text", text=f"error: {exc}")], is_error=True)
        return result

    def say(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})

    async def ask_user(self, text: str) -> str:
        """Say ``text`` to the user and record their reply (an empty reply when there is no user; the
        user's :data:`~scaleenv_mcp.harness.loop.STOP` is returned but not recorded, as the loop does)."""
        self.say(text)
        reply = await self.user(text) if self.user is not None else ""
        if reply and STOP not in reply:
            self.messages.append({"role": "user", "content": reply})
        return reply


class Agent(Protocol):
    """Anything that can act in an episode through an :class:`AgentSession`."""

    name: str

    def for_task(self, task: TaskSpec) -> Agent:
        """The agent to use for one task (most agents are the same for every task)."""
        ...

    async def run(self, session: AgentSession) -> AgentOutcome: ...


class OracleAgent:
    """Replays the task's verified reference solution through MCP: proves the whole path works.

    It behaves as a policy asks of any agent: it asks for each held-back fact by name, one per
    message, and before each write it asks the user to confirm, restating the action with the
    tool's own words and the call's values ("Shall I cancel order with order ORD-0032?"); the write
    runs only after a yes. (A session with no user has nobody to answer, so there it acts without
    asking.) A refusal task ends with the reason; an information task's answer is
    submitted through ``submit_answer`` when the server lists that tool, and said in prose either way.

    It follows the task's script as a careful agent would: with a change of mind it proposes the
    first request (the confirmation of its first abandoned call, or a go-ahead when it has none)
    until the user takes it back, never runs it, and then runs the reference; after its last reply
    it listens, and when the user pushes back on a refusal it holds, giving the reason again.
    """

    def __init__(self, tasks: dict[str, TaskSpec]) -> None:
        self.name = "oracle"
        self.tasks = tasks
        self.task_id: str | None = None

    def for_task(self, task: TaskSpec) -> OracleAgent:
        agent = OracleAgent(self.tasks)
        agent.task_id = task.id
        return agent

    async def run(self, session: AgentSession) -> AgentOutcome:
        task = self.tasks[str(self.task_id)]
        change = task.script.change_of_mind if task.script is not None else None
        heard = change is None or session.user is None  # nobody to change their mind

        async def ask(text: str) -> str:
            nonlocal heard
            reply = await session.ask_user(text)
            heard = heard or (change is not None and change.then in reply)
            return reply

        for about in task.hidden:  # what the request left out, asked for before anything is done
            await ask(f"Could you tell me your {about}?")
        if change is not None:  # the first request, proposed until the user takes it back (at their turn at the latest)
            first = change.abandoned[0] if change.abandoned else None
            for _ in range(change.turn + 1):
                if heard:
                    break
                await ask(confirmation(first.tool, first.arguments) if first is not None else "Shall I go ahead with that?")
        writes = {t.name for t in session.tools if not (t.annotations and t.annotations.read_only_hint)}
        for call in task.solution:
            if call.tool in writes and session.user is not None:
                reply = await ask(confirmation(call.tool, call.arguments))
                if not reply.startswith("Yes"):
                    continue  # the user did not agree: a write is never done against their word
            await session.call_tool(call.tool, dict(call.arguments))
        check = next((c for c in task.checks if c.kind == "answer"), None)
        answer = format_answer_value(check.value) if check is not None else None
        if task.kind == "refusal":
            text = f"I'm sorry, I can't do that: it is {answer}, and the policy does not allow it then."
        elif check is not None:
            if any(t.name == SUBMIT_ANSWER for t in session.tools):
                await session.call_tool(SUBMIT_ANSWER, {"answer": check.value})
            text = f"The answer is {answer}."
        else:
            text = "Done: everything you asked for is complete."
        reply = await session.ask_user(text)
        if task.kind == "refusal" and reply and STOP not in reply:  # pushed back: the policy still holds
            text = f"I understand, but I still can't do that: it is {answer}, and the policy does not allow it."
            await session.ask_user(text)
        return AgentOutcome(answer=text, termination="answered")


SUBMIT_ANSWER = "submit_answer"
"""The tool an information task's server may offer for the answer as a value (not prose)."""


def confirmation(tool: str, arguments: dict[str, Any]) -> str:
    """A question that restates a write: the tool's words and every argument it can say plainly
    (``cancel_order``, ``{"order_id": "ORD-0032"}`` -> "Shall I cancel order with order ORD-0032?").
    Argument names are hyphened and free text is quoted, so words in them ("check-in") are not read as
    another action; lists and objects are left out."""
    said = []
    for name, value in arguments.items():
        if isinstance(value, bool | int | float):
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        elif isinstance(value, str):
            shown = value if re.fullmatch(r"[A-Z][A-Z0-9]{0,5}-\d+|[\d:T.-]+", value) else json.dumps(value, ensure_ascii=False)
        else:
            continue
        said.append(f"{name.removesuffix('_id').replace('_', '-')} {shown}")  # "check-in 2026-07-29": a thing, not an action
    return f"Shall I {tool.replace('_', ' ')}" + (f" with {', '.join(said)}" if said else "") + "?"


class NoopAgent:
    """Answers without calling any tool: the floor every real agent must beat."""

    name = "noop"

    def for_task(self, task: TaskSpec) -> NoopAgent:
        return self

    async def run(self, session: AgentSession) -> AgentOutcome:
        text = "I'm sorry, I can't help with that."
        session.say(text)
        return AgentOutcome(answer=text, termination="answered")


class RandomAgent:
    """Calls random tools with schema-valid random arguments (ids it has seen in results): a second floor."""

    def __init__(self, seed: int = 0) -> None:
        self.name = "random"
        self.seed = seed

    def for_task(self, task: TaskSpec) -> RandomAgent:
        return self

    async def run(self, session: AgentSession) -> AgentOutcome:
        rng = random.Random(f"{self.seed}:{session.instruction}")
        seen: list[str] = re.findall(r"[\w.+-]+@[\w.-]+", session.instruction)
        for _ in range(min(session.max_steps, rng.randint(3, 8))):
            tool = rng.choice(session.tools)
            args = _random_arguments(tool.input_schema, rng, seen)
            result = await session.call_tool(tool.name, args)
            seen += re.findall(r'"([A-Z][A-Z0-9]{0,5}-\d{4,})"', tool_text(result))
        text = "I did what I could."
        session.say(text)
        return AgentOutcome(answer=text, termination="answered")


def _random_arguments(schema: dict[str, Any], rng: random.Random, seen: list[str]) -> dict[str, Any]:
    required = set(schema.get("required", []))
    return {
        name: _random_value(prop, rng, seen)
        for name, prop in schema.get("properties", {}).items()
        if name in required or rng.random() >= 0.5
    }


def _random_value(prop: dict[str, Any], rng: random.Random, seen: list[str]) -> Any:
    kind = prop.get("type")
    if "enum" in prop:
        return rng.choice(prop["enum"])
    if kind == "integer":
        return rng.randint(int(prop.get("minimum", 0)), int(prop.get("maximum", 10)))
    if kind == "number":
        return round(rng.uniform(float(prop.get("minimum", 0)), float(prop.get("maximum", 100))), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":  # a list: one to a few items of its kind (a list of objects: each filled the same way)
        fewest = max(1, int(prop.get("minItems", 1)))
        return [_random_value(prop.get("items", {}), rng, seen) for _ in range(rng.randint(fewest, max(fewest, 2)))]
    if kind == "object":
        return _random_arguments(prop, rng, seen)
    if prop.get("format") == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return rng.choice(seen) if seen else "unknown"
