"""``scaleenv eval --ray``: the same results as a local run, on a local Ray instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaleenv_mcp.cli import main

pytestmark = pytest.mark.e2e
pytest.importorskip("ray", reason="`eval --ray` needs ray: pip install 'scaleenv-mcp[ray]'")


def results(out: Path) -> dict[tuple[str, int], dict[str, object]]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {(r["task_id"], r["trial"]): r for r in rows}


def comparable(record: dict[str, object], out: Path) -> tuple[object, ...]:
    trajectory = json.loads((out / str(record["trajectory"])).read_text())
    return record["reward"], record["success"], record["checks"], record["steps"], record["termination"], trajectory["messages"]


def test_eval_on_ray_matches_a_local_run_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chosen = ["--domain", "retail", "--domain", "hotel", "--tasks", "6"]
    assert main(["eval", "--agent", "oracle", *chosen, "--out", str(tmp_path / "local")]) == 0
    # first half of the tasks on Ray, then the rest with --resume: nothing runs twice
    assert main(["eval", "--agent", "oracle", "--domain", "retail", "--tasks", "6", "--ray", "--ray-workers", "2",
                 "--out", str(tmp_path / "ray")]) == 0  # fmt: skip
    first = (tmp_path / "ray" / "results.jsonl").read_text()
    assert main(["eval", "--agent", "oracle", *chosen, "--ray", "--ray-workers", "2", "--resume", "--out", str(tmp_path / "ray")]) == 0
    assert (tmp_path / "ray" / "results.jsonl").read_text().startswith(first)
    local, ray = results(tmp_path / "local"), results(tmp_path / "ray")
    assert sorted(local) == sorted(ray) and len(ray) == 12
    for key in local:
        assert comparable(local[key], tmp_path / "local") == comparable(ray[key], tmp_path / "ray"), key
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["overall"]["pass@1"] == 1.0 and summary["options"]["ray"] == "local"
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:  # an argument error: one line, exit 2
        main(["eval", "--agent", "oracle", "--tasks", "1", "--ray", "--ray-workers", "0", "--out", str(tmp_path / "x")])
    assert refused.value.code == 2
    assert "--ray-workers" in capsys.readouterr().err
