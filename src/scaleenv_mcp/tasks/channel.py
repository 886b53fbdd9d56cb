"""The typed answer channel: a task-scoped answer tool whose input schema is the answer's type.

An information task's answer in prose has to be parsed, and a parser can be gamed or can
misread a correct agent. On the typed channel the task episode lists one more tool,
``submit_answer``, whose ``answer`` is a date, a number, one of the field's values, a boolean or a
list, and the grader compares the one submitted value by equality. The tool exists only in task
episodes that ask a question (never in free play or the playground), it says nothing about
whether the answer is right, and it takes one answer per episode, so it cannot be probed.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from ..spec.task import ANSWER_TOOL, CheckSpec, TaskSpec
from .answers import answer_schema

__all__ = ["answer_check", "answer_tool", "submitted_value"]


def answer_check(task: TaskSpec | None) -> CheckSpec | None:
    """The task's answer check, if it asks a question."""
    if task is None:
        return None
    return next((c for c in task.checks if c.kind == "answer"), None)


def answer_tool(task: TaskSpec | None) -> dict[str, Any] | None:
    """The answer tool of a task episode (name, description, input schema), or None when the task asks nothing."""
    check = answer_check(task)
    if check is None:
        return None
    return {
        "name": ANSWER_TOOL,
        "description": (
            "Give your final answer to the user's question, once, as a typed value. Call it after you have "
            "looked the answer up; it does not say whether the answer is right, and a second answer is refused."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"answer": answer_schema(check.answer_type or "text", check.choices)},
            "required": ["answer"],
            "additionalProperties": False,
        },
    }


def submitted_value(task: TaskSpec | None, arguments: Any) -> tuple[bool, Any]:
    """(True, the answer) when ``arguments`` fit the task's answer tool, else (False, why not)."""
    tool = answer_tool(task)
    if tool is None:
        return False, f"unknown tool {ANSWER_TOOL!r}"
    try:
        jsonschema.validate(arguments, tool["input_schema"])
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
        return False, f"{where}: {exc.message[:200]}"
    return True, arguments["answer"]
