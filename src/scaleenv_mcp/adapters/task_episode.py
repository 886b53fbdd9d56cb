"""One task episode as every adapter needs it: prompt, tools, calls as text, a verdict.

The adapters differ only in the shapes their frameworks want. What the agent sees (the policy
brief, the request, the tool list, each result's text) and how it is graded are decided here
once, the same as ``scaleenv eval`` and ``run_episode`` do, so a task pays the same reward
through every framework.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._api import Domain, Episode, load
from ..engine.runtime import ToolResult
from ..harness.agents import malformed
from ..serving.server import openai_tools, policy_brief, tool_result, tool_text
from ..spec.task import AnswerChannel, TaskSpec
from ..tasks.grader import Verification

__all__ = ["TaskEpisode", "final_answer", "load_cached", "task_id_of"]

_DOMAINS: dict[tuple[str, str], Domain] = {}
_LOCK = threading.Lock()


def load_cached(name: str, root: str | Path | None = None) -> Domain:
    """A domain loaded once per process: trainers open thousands of episodes on the same few domains."""
    key = (str(Path(root).resolve()) if root is not None else "", name)
    with _LOCK:
        if key not in _DOMAINS:
            _DOMAINS[key] = load(name, root=root)
        return _DOMAINS[key]


def task_id_of(task: Any) -> str:
    """A task id from what a framework hands over: an id, a TaskSpec, or a dataset row with ``task_id``."""
    if isinstance(task, TaskSpec):
        return task.id
    if isinstance(task, str):
        return task
    if isinstance(task, Mapping) and isinstance(task.get("task_id"), str):
        return str(task["task_id"])
    raise ValueError(f"expected a task id, a TaskSpec or a row with 'task_id'; got {type(task).__name__}")


def final_answer(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The agent's final reply: the text of the last assistant message (None if it never spoke)."""
    for message in reversed(messages):
        if message.get("role") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):  # content parts
            return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
        return None
    return None


class TaskEpisode:
    """An episode on one stored task, in process; ``close()`` frees its state.

    ``answer_channel``: ``typed`` offers a question's ``submit_answer`` tool and grades the value it
    receives; ``prose`` grades the final message (for a trainer whose tool set is fixed per domain)."""

    def __init__(
        self, domain: str, task: Any, *, root: str | Path | None = None, answer_channel: AnswerChannel = "typed"
    ) -> None:
        self.domain = load_cached(domain, root)
        self.task = self.domain.task(task_id_of(task))
        self.episode: Episode = self.domain.episode(self.task, answer_channel=answer_channel)
        self.tools = openai_tools(self.domain.spec, self.task if answer_channel == "typed" else None)

    def messages(self) -> list[dict[str, Any]]:
        """The opening conversation: the policy brief and the user's request."""
        return [{"role": "system", "content": policy_brief(self.domain.spec)}, {"role": "user", "content": self.task.instruction}]

    def call(self, name: str, arguments: Any) -> ToolResult | str:
        """Run a tool; a string when the arguments could not even be sent (the agent's failure)."""
        if not isinstance(arguments, Mapping):
            return f"error: arguments must be a JSON object, not {type(arguments).__name__}"
        problem = malformed(dict(arguments))
        if problem is not None:
            return f"error: {problem}"
        return self.episode.call(name, arguments)

    @staticmethod
    def text(result: ToolResult | str) -> str:
        """A result as the agent reads it over MCP."""
        return result if isinstance(result, str) else tool_text(tool_result(result))

    def verify(self, answer: str | None) -> Verification:
        return self.episode.verify(answer)

    def close(self) -> None:
        self.episode.close()
