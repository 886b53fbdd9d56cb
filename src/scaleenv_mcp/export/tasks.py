"""Tasks as a trainer's dataset: a prompt split the policy may see, a grading split it must not.

An RL trainer feeds the prompt split to the policy model and keeps the grading split on the
reward side. Checks, reference solutions, the user's private facts and the actor id live only
in the grading split, so no data loader can leak them into a prompt by picking the wrong
column: the two are different files, joined by ``task_id``.

Every row carries its task's ``split`` (``train``, ``validation`` or ``test``): decided by the seed
of the task's initial state, and ``test`` for every task of a held-out domain
(:func:`~scaleenv_mcp.compiler.pipeline.task_split`), so no state is seen in two splits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from ..compiler.pipeline import task_split
from ..serving.server import openai_tools, policy_brief
from ..spec.model import DomainSpec
from ..spec.task import TaskSpec
from ..tasks.stats import difficulty_label
from .trajectories import ExportError

__all__ = ["TASK_FORMATS", "export_tasks", "grading_row", "nemo_gym_row", "prompt_row", "task_features"]

TaskFormat = Literal["jsonl", "parquet", "nemo-gym"]
TASK_FORMATS: tuple[TaskFormat, ...] = ("jsonl", "parquet", "nemo-gym")


def prompt_row(spec: DomainSpec, task: TaskSpec, tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the policy sees at the start of the episode: the brief, the request, the tools."""
    return {
        "task_id": task.id,
        "domain": task.domain,
        "split": task_split(spec, task),
        "kind": task.kind,
        "difficulty": difficulty_label(task),
        "prompt": [{"role": "system", "content": policy_brief(spec)}, {"role": "user", "content": task.instruction}],
        "tools": tools if tools is not None else openai_tools(spec, task),
    }


def nemo_gym_row(spec: DomainSpec, task: TaskSpec, tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A NeMo Gym dataset row: a Responses-API request, and the task id the resources server seeds from.

    The grading stays on the server (``serve --http --nemo-gym``), so this one file is all a
    NeMo Gym or verifiers run reads."""
    prompt = prompt_row(spec, task, tools)
    return {
        "responses_create_params": {
            "input": prompt["prompt"],
            "tools": [{"type": "function", **t["function"], "strict": False} for t in tools],
        },
        "task_id": task.id,
        "domain": task.domain,
        "split": prompt["split"],
        "kind": task.kind,
        "difficulty": prompt["difficulty"],
    }


def grading_row(spec: DomainSpec, task: TaskSpec) -> dict[str, Any]:
    """What the reward side needs and the policy must never see."""
    return {
        "task_id": task.id,
        "domain": task.domain,
        "split": task_split(spec, task),
        "initial_state": task.initial_state,
        "checks": [c.model_dump(mode="json") for c in task.checks],
        "solution": [c.model_dump(mode="json") for c in task.solution],
        "user": task.user,
        "actor": task.actor,
        "decides": task.decides,
        "refused": task.refused.model_dump(mode="json") if task.refused is not None else None,
    }


def export_tasks(
    domains: Sequence[tuple[DomainSpec, Sequence[TaskSpec]]], to: TaskFormat, out: Path
) -> tuple[Path, Path | None, int]:
    """Write ``<out>/prompts.<ext>`` and ``<out>/grading.<ext>`` (for ``nemo-gym``, ``<out>/nemo_gym.jsonl``
    alone); return the paths and the task count."""
    prompts: list[dict[str, Any]] = []
    grading: list[dict[str, Any]] = []
    for spec, tasks in domains:
        if to == "nemo-gym":
            prompts += [nemo_gym_row(spec, task, openai_tools(spec, task)) for task in tasks]
            continue
        prompts += [prompt_row(spec, task, openai_tools(spec, task)) for task in tasks]  # a question adds its answer tool
        grading += [grading_row(spec, task) for task in tasks]
    if not prompts:
        raise ExportError("these domains have no tasks; nothing written (run `scaleenv synth` first)")
    out.mkdir(parents=True, exist_ok=True)
    if to == "nemo-gym":
        path = out / "nemo_gym.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in prompts), encoding="utf-8")
        return path, None, len(prompts)
    prompt_path, grading_path = out / f"prompts.{to}", out / f"grading.{to}"
    if to == "jsonl":
        for path, rows in ((prompt_path, prompts), (grading_path, grading)):
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        _write_parquet(prompts, grading, prompt_path, grading_path)
    return prompt_path, grading_path, len(prompts)


def task_features(datasets: Any) -> tuple[Any, Any]:
    """The ``datasets`` features of the prompt and grading rows (Parquet and the ``hf-dataset``
    folder alike): JSON-shaped values (tools, checks, states) as ``Json``, so rows of different
    shapes load back exactly instead of being merged into one struct with nulls."""
    text, json_value, many = datasets.Value("string"), datasets.Json, datasets.List
    prompts = datasets.Features(
        {
            "task_id": text,
            "domain": text,
            "split": text,
            "kind": text,
            "difficulty": text,
            "prompt": many({"role": text, "content": text}),
            "tools": many(json_value()),
        }
    )
    grading = datasets.Features(
        {
            "task_id": text,
            "domain": text,
            "split": text,
            "initial_state": json_value(),
            "checks": many(json_value()),
            "solution": many(json_value()),
            "user": json_value(),
            "actor": text,
            "decides": text,
            "refused": json_value(),
        }
    )
    return prompts, grading


def _write_parquet(prompts: list[dict[str, Any]], grading: list[dict[str, Any]], prompt_path: Path, grading_path: Path) -> None:
    try:
        import datasets
    except ImportError:
        raise ExportError("--to parquet needs the `datasets` package: pip install 'scaleenv-mcp[export]'") from None
    datasets.disable_progress_bars()  # a file write, not a long job: no bar in the CLI's output
    prompt_features, grading_features = task_features(datasets)
    datasets.Dataset.from_list(prompts, features=prompt_features).to_parquet(str(prompt_path))
    datasets.Dataset.from_list(grading, features=grading_features).to_parquet(str(grading_path))
