"""Tasks as data: an instruction, an initial state, checks and a verified reference solution."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from pydantic import Field

from .model import StrictModel

__all__ = ["CheckKind", "CheckSpec", "TaskSpec", "ToolCall", "load_tasks", "tasks_jsonl"]


class ToolCall(StrictModel):
    """One call of a tool: a step of a reference solution or of a trajectory."""

    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


CheckKind = Literal[
    "row_exists", "row_absent", "field_equals", "field_changed_by", "no_other_changes", "answer_contains"
]


class CheckSpec(StrictModel):
    """A declarative assertion on the end state (or on the agent's final answer).

    - ``row_exists``: a row of ``entity`` with the fields in ``where`` exists that did not
      exist initially (new rows are matched by content, so their generated ids may differ).
    - ``row_absent``: the row ``entity``/``id`` no longer exists.
    - ``field_equals``: ``entity``/``id``.``field`` equals ``value``.
    - ``field_changed_by``: numeric ``entity``/``id``.``field`` changed by ``delta`` from the initial state.
    - ``no_other_changes``: nothing changed beyond what the other checks of the task name.
    - ``answer_contains``: the agent's final answer mentions ``value``.
    """

    kind: CheckKind
    description: str
    entity: str | None = None
    id: str | None = None
    field: str | None = None
    value: Any = None
    delta: float | None = None
    where: dict[str, Any] = Field(default_factory=dict)


class TaskSpec(StrictModel):
    """An instruction, its initial state, its checks, and a verified reference solution."""

    id: str
    domain: str
    kind: Literal["action", "information"]
    instruction: str
    user: dict[str, Any] = Field({}, description="facts the user knows and may reveal (name, email, ...)")
    initial_state: dict[str, Any] = Field(..., description="how to rebuild it: {'seed': N, 'sha256': ...}")
    checks: list[CheckSpec]
    solution: list[ToolCall]
    difficulty: dict[str, int]


def tasks_jsonl(tasks: Iterable[TaskSpec]) -> str:
    """Tasks as JSON lines, in order (the stored form under ``manifests/``)."""
    return "".join(json.dumps(t.model_dump(mode="json"), ensure_ascii=False) + "\n" for t in tasks)


def load_tasks(text: str) -> Iterator[TaskSpec]:
    for line in text.splitlines():
        if line.strip():
            yield TaskSpec.model_validate_json(line)
