"""TRL: an ``environment_factory`` class per domain, and the reward function that grades it.

TRL's ``GRPOTrainer(environment_factory=...)`` makes one instance per rollout, calls
``reset(**row)`` with the dataset row, and offers every public method as a tool; it derives each
tool's schema from the method's type hints and Google-style docstring
(``transformers.utils.get_json_schema``). So the class is built from our JSON Schemas: one
method per tool, with a typed signature (enums as ``Literal``), a docstring whose ``Args:``
carry the parameter descriptions, returning the text the agent would read over MCP.

The reward needs the agent's final reply (an answer, or the reason for a refusal), which TRL's
``get_reward()`` never sees: it takes no arguments. So the class has no ``get_reward``; pass
:func:`scaleenv_reward` in ``reward_funcs``, which TRL calls with the completions and the
environments, and which grades each environment's end state with its completion's last reply.

    from datasets import load_dataset
    from scaleenv_mcp.adapters.trl import environment_class, scaleenv_reward
    dataset = load_dataset("json", data_files="exports/tasks/prompts.jsonl", split="train")  # scaleenv export tasks
    trainer = GRPOTrainer(model=..., train_dataset=dataset, reward_funcs=[scaleenv_reward],
                          environment_factory=environment_class("retail"))

The classes and their instances pickle (``AsyncGRPOTrainer`` sends the factory to its rollout
workers). A class is found by qualified name, ``ENVIRONMENTS.<domain>`` in this module, which
builds it on first use in any process; an instance carries its task and the calls made so far,
and is rebuilt by replaying them on the task's initial state (the engine is deterministic).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ..spec.catalog import DomainNotFound
from ..tasks.grader import Verification
from .task_episode import TaskEpisode, final_answer, load_cached

__all__ = ["ENVIRONMENTS", "ScaleenvEnvironment", "environment_class", "scaleenv_reward"]

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict}


def _python_type(schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    if schema.get("type") == "array":
        return list[_python_type(schema.get("items", {}))]  # type: ignore[misc]
    return _TYPES.get(str(schema.get("type")), str)


def _described(param: str, schema: Mapping[str, Any]) -> str:
    """A parameter's docstring line; a list says how many items and, for objects, their fields
    (the signature's ``list[dict]`` cannot)."""
    text = str(schema.get("description") or param)
    if schema.get("type") != "array":
        return text
    bound = f"{schema.get('minItems', 0)} to {schema['maxItems']}" if "maxItems" in schema else f"at least {schema.get('minItems', 0)}"
    items = schema.get("items", {})
    if items.get("type") == "object":
        required = set(items.get("required", []))
        fields = ", ".join(f"{n} ({_python_type(s).__name__ if isinstance(_python_type(s), type) else 'one of ' + '/'.join(s['enum'])}"
                           f"{'' if n in required else ', optional'})" for n, s in items.get("properties", {}).items())  # fmt: skip
        return f"{text}; a list of {bound} objects, each with {fields}"
    return f"{text}; a list of {bound} items"


class ScaleenvEnvironment:
    """Base of the generated classes: one episode at a time, opened by ``reset``."""

    domain: str = ""
    root: str | Path | None = None

    def __init__(self) -> None:
        self._episode: TaskEpisode | None = None
        self._verdict: Verification | None = None

    def reset(self, **row: Any) -> str | None:
        """Open the row's task (a row of ``scaleenv export tasks``: it has ``task_id``) on a fresh state.

        Returns None: the row's prompt already holds the brief and the request.
        """
        if self._episode is not None:
            self._episode.close()
        self._episode, self._verdict = TaskEpisode(self.domain, row, root=self.root, answer_channel="prose"), None
        return None

    def _call(self, tool: str, arguments: dict[str, Any]) -> str:
        if self._episode is None:
            raise RuntimeError("call reset(task_id=...) before using a tool")
        return self._episode.text(self._episode.call(tool, arguments))

    def _grade(self, answer: str | None) -> Verification:
        if self._episode is None:
            raise RuntimeError("nothing to grade: reset(task_id=...) was never called")
        self._verdict = self._episode.verify(answer)
        return self._verdict

    @property
    def verification(self) -> Verification | None:
        """The last verdict (reward, per-check outcomes), for logging."""
        return self._verdict

    def __getstate__(self) -> dict[str, Any]:
        """The task and the calls so far: enough to rebuild the episode in any process."""
        episode = self._episode
        return {
            "task": episode.task.id if episode is not None else None,
            "calls": [(c.tool, dict(c.arguments)) for c in episode.episode.calls] if episode is not None else [],
            "verdict": self._verdict.model_dump(mode="json") if self._verdict is not None else None,
        }

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self._episode, self._verdict = None, None
        if state["task"] is not None:
            self._episode = TaskEpisode(self.domain, state["task"], root=self.root, answer_channel="prose")
            for tool, arguments in state["calls"]:  # failed calls too: the policy monitor saw them
                self._episode.episode.call(tool, arguments)
        if state["verdict"] is not None:
            self._verdict = Verification.model_validate(state["verdict"])


def _tool_method(name: str, function: Mapping[str, Any]) -> Callable[..., str]:
    schema = function["parameters"]
    required = set(schema.get("required", []))
    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    lines = []
    ordered = sorted(schema.get("properties", {}).items(), key=lambda item: item[0] not in required)  # required first
    for param, spec in ordered:
        kind = _python_type(spec)
        annotation = kind if param in required else kind | None
        default = inspect.Parameter.empty if param in required else None
        parameters.append(inspect.Parameter(param, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
        annotations[param] = annotation
        lines.append(f"    {param}: {' '.join(_described(param, spec).split())}")
    annotations["return"] = str

    def method(self: ScaleenvEnvironment, **arguments: Any) -> str:
        return self._call(name, {k: v for k, v in arguments.items() if v is not None or k in required})

    method.__name__ = method.__qualname__ = name
    method.__signature__ = inspect.Signature(parameters, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    doc = " ".join(str(function.get("description") or name).split())
    method.__doc__ = f"{doc}\n\nArgs:\n" + "\n".join(lines) if lines else doc
    return method


_CLASSES: dict[tuple[str, str], type[ScaleenvEnvironment]] = {}
_CLASSES_LOCK = threading.Lock()


class _Environments:
    """Where pickle finds a generated class: ``ENVIRONMENTS.<domain>`` for the default project, and
    ``ENVIRONMENTS.root_<hex of the folder>.<domain>`` for another one. Looking a name up builds the
    class if this process has not yet, so an unpickling worker needs nothing but this module."""

    def __init__(self, root: str | None = None) -> None:
        self._root = root

    def __getattr__(self, name: str) -> Any:
        if name.startswith("root_") and self._root is None:
            try:
                return _Environments(bytes.fromhex(name[5:]).decode())
            except ValueError:
                raise AttributeError(name) from None
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return environment_class(name, root=self._root)
        except DomainNotFound as exc:
            raise AttributeError(f"no scaleenv environment {name!r}: {exc}") from None


ENVIRONMENTS = _Environments()
"""The generated classes by domain name (``ENVIRONMENTS.retail``), as pickle refers to them."""


def environment_class(domain: str, *, root: str | Path | None = None) -> type[ScaleenvEnvironment]:
    """The TRL environment class of ``domain``: pass it as ``environment_factory``.

    One class per domain and project folder in a process (pickling needs the same object back)."""
    key = (str(Path(root).resolve()) if root is not None else "", domain)
    with _CLASSES_LOCK:
        cached = _CLASSES.get(key)
    if cached is not None:
        return cached
    loaded = load_cached(domain, root)
    from ..serving.server import openai_tools

    body: dict[str, Any] = {"domain": domain, "root": key[0] or None, "__doc__": f"{loaded.spec.title}: {loaded.spec.description}"}
    for tool in openai_tools(loaded.spec):
        name = tool["function"]["name"]
        if name in ("reset", "get_reward") or name.startswith("_") or hasattr(ScaleenvEnvironment, name):
            raise ValueError(f"tool {name!r} of {domain} clashes with the environment's own methods")
        body[name] = _tool_method(name, tool["function"])
    class_name = "".join(part.capitalize() for part in domain.split("_")) + "Environment"
    made = type(class_name, (ScaleenvEnvironment,), body)
    made.__module__ = __name__
    made.__qualname__ = f"ENVIRONMENTS.{domain}" if not key[0] else f"ENVIRONMENTS.root_{key[0].encode().hex()}.{domain}"
    with _CLASSES_LOCK:
        return _CLASSES.setdefault(key, made)


def scaleenv_reward(completions: Sequence[Any], environments: Sequence[Any] | None = None, **_: Any) -> list[float | None]:
    """TRL reward function: each environment's end state graded with its completion's final reply.

    A completion is a list of messages (conversational) or a string. Rows whose environment is
    not one of ours get None, which TRL ignores, so it mixes with other environments.
    """
    if environments is None:
        raise ValueError("scaleenv_reward needs environment_factory=environment_class(...) on the trainer")
    rewards: list[float | None] = []
    for completion, environment in zip(completions, environments, strict=True):
        if not isinstance(environment, ScaleenvEnvironment):
            rewards.append(None)
            continue
        answer = completion if isinstance(completion, str) else final_answer(completion)
        rewards.append(environment._grade(answer).reward)
    return rewards
