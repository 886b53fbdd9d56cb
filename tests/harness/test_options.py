"""Model and evaluation options travel as one typed value each: checked when made (one line),
frozen, and what a run records in ``summary.json`` comes from them unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from scaleenv_mcp.harness.evaluate import EvalError, EvalOptions, ModelOptions, run_evaluation
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"trials": 0}, "--trials, --concurrency and --max-steps must be at least 1"),
        ({"max_steps": 0}, "--trials, --concurrency and --max-steps must be at least 1"),
        ({"timeout": 0.0}, "and --timeout positive"),
        ({"per_domain": 0}, "--tasks must be at least 1, not 0"),
        ({"ray_workers": 0}, "--ray-workers must be at least 1"),
    ],
)
def test_eval_options_that_cannot_work_are_refused_when_made(fields: dict[str, int], message: str) -> None:
    with pytest.raises(EvalError, match=message) as refused:
        EvalOptions(**fields)  # type: ignore[arg-type]
    assert refused.value.status == 400 and "\n" not in refused.value.reason


def test_model_options_are_checked_and_frozen() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        ModelOptions(timeout=0)
    with pytest.raises(ValueError, match="retries, backoff at least 0"):
        ModelOptions(retries=-1)
    options = EvalOptions(model=ModelOptions(api_base="http://127.0.0.1:9/v1"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.model.api_base = "http://elsewhere/v1"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.trials = 3  # type: ignore[misc]


def test_a_run_records_its_options_from_the_one_value(tmp_path: Path) -> None:
    task = load_domain_tasks(PATHS, "retail")[0]
    model = ModelOptions(api_base="http://127.0.0.1:9/v1", api_key="never-recorded", timeout=7.0)
    options = EvalOptions(task_ids=[task.id], trials=2, out=tmp_path / "run", max_steps=12, model=model)
    report = run_evaluation("oracle", options, paths=PATHS)
    assert [r.trial for r in report.records] == [1, 2] and all(r.success for r in report.records)
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["options"]
    assert recorded == {
        "trials": 2, "concurrency": 2, "max_steps": 12, "timeout": 300.0, "user_sim": None, "api_base": "http://127.0.0.1:9/v1",
        "llm_timeout": 7.0, "isolation": "inproc", "answer_channel": "typed", "domains": ["retail"], "tasks": 1, "ray": None,
        "ray_workers": None,
    }  # fmt: skip
    assert "never-recorded" not in (tmp_path / "run" / "summary.json").read_text()
