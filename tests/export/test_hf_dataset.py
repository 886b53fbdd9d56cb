"""``export ... --to hf-dataset``: a ``datasets`` folder with a dataset card, read back by the libraries
that consume it (``load_from_disk``, ``load_dataset`` through the card's configs, and the card parsers
of ``huggingface_hub`` and ``datasets``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.cli import main

datasets = pytest.importorskip("datasets")
hub = pytest.importorskip("huggingface_hub")


def _card(folder: Path) -> Any:
    card = hub.DatasetCard.load(folder / "README.md")  # the Hub's own parser of the YAML header
    return card


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    se.evaluate("oracle", domains=["retail"], tasks=3, out=root / "oracle")
    se.evaluate("noop", domains=["retail"], tasks=3, out=root / "noop")
    return {"oracle": root / "oracle", "noop": root / "noop"}


def test_task_dataset_loads_from_disk_and_through_its_card_with_the_metadata_a_hub_card_needs(tmp_path: Path) -> None:
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs

    out = tmp_path / "tasks"
    assert main(["export", "tasks", "retail", "hotel", "--to", "hf-dataset", "--out", str(out)]) == 0
    stored = {t.id: t for name in ("retail", "hotel") for t in se.load(name).tasks}
    saved = datasets.load_from_disk(str(out))
    # a config per kind of record, each split by the seed of the task's state; hotel is held out (all test)
    assert set(saved) == {f"{c}-{s}" for c in ("prompts", "grading") for s in ("train", "validation", "test")}
    for config in ("prompts", "grading"):
        assert sorted(t for s in ("train", "validation", "test") for t in saved[f"{config}-{s}"]["task_id"]) == sorted(stored)
    assert {t.split("-")[0] for t in saved["prompts-train"]["task_id"]} == {"retail"}
    assert set(saved["grading-test"]["task_id"]) >= {t for t in stored if t.startswith("hotel")}
    retail = se.load("retail").spec
    for split in ("train", "validation", "test"):
        seeds = {r["initial_state"]["seed"] - retail.seed for r in saved[f"grading-{split}"] if r["domain"] == "retail"}
        assert seeds == {"train": {0, 1, 2, 3, 4, 5}, "validation": {6}, "test": {7}}[split], split
    for row in saved["grading-train"]:
        task = stored[row["task_id"]]
        assert [c["tool"] for c in row["solution"]] == [c.tool for c in task.solution] and len(row["checks"]) == len(task.checks)

    card = _card(out)
    assert card.data.license == "apache-2.0"
    assert set(card.data.task_categories) == {"reinforcement-learning", "text-generation"}
    assert card.data.source_domains == ["retail", "hotel"]
    infos = DatasetInfosDict.from_dataset_card_data(card.data)  # what `datasets` reads from a Hub card
    sizes = {"train": 36, "validation": 6, "test": 54}  # retail: 6 seeds train, 1 validation, 1 test; hotel: all 48 test
    assert {c: {n: s.num_examples for n, s in i.splits.items()} for c, i in infos.items()} == {"prompts": sizes, "grading": sizes}
    assert infos["prompts"].features == saved["prompts-train"].features and infos["grading"].features == saved["grading-train"].features
    assert set(MetadataConfigs.from_dataset_card_data(card.data)) == {"prompts", "grading"}
    assert card.data.scaleenv["split"]["held_out_domains"] == ["hotel", "telecom_plans"]
    assert "held-out domain" in card.text and "## How rewards are computed" in card.text

    # the folder as a Hub repository would hold it: each config's splits load from the saved Arrow files
    for config in ("prompts", "grading"):
        for split in ("train", "test"):
            loaded = datasets.load_dataset(str(out), config, split=split, cache_dir=str(tmp_path / "cache"))
            assert loaded.to_list() == saved[f"{config}-{split}"].to_list()


def test_nothing_that_grades_is_in_the_prompts_split(tmp_path: Path) -> None:
    out = tmp_path / "tasks"
    assert main(["export", "tasks", "retail", "--to", "hf-dataset", "--out", str(out)]) == 0
    saved = datasets.load_from_disk(str(out))
    assert set(saved["prompts-train"].column_names) == {"task_id", "domain", "split", "kind", "difficulty", "prompt", "tools"}
    assert set(saved["prompts-train"].column_names) & set(saved["grading-train"].column_names) == {"task_id", "domain", "split"}
    tasks = {t.id: t for t in se.load("retail").tasks}
    for row in (r for s in ("train", "validation", "test") for r in saved[f"prompts-{s}"]):
        task, text = tasks[row["task_id"]], json.dumps(row)
        assert row["prompt"][1] == {"role": "user", "content": task.instruction}
        assert not [c.description for c in task.checks if c.description in text]
        assert task.actor is None or task.actor not in text


def test_trajectory_dataset_is_one_split_of_the_exported_episodes_with_their_rewards(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "traj"
    assert main(["export", "trajectories", str(runs["oracle"]), str(runs["noop"]), "--to", "hf-dataset", "--out", str(out)]) == 0
    saved = datasets.load_from_disk(str(out))
    assert list(saved) == ["trajectories"]
    records = [json.loads(line) for run in runs.values() for line in (run / "results.jsonl").read_text().splitlines()]
    rows = saved["trajectories"]
    assert sorted((r["agent"], r["task_id"], r["reward"], r["success"]) for r in rows) == sorted(
        (r["agent"], r["task_id"], r["reward"], r["success"]) for r in records
    )
    oracle = next(r for r in rows if r["agent"] == "oracle")
    original = json.loads((runs["oracle"] / next(r["trajectory"] for r in records if r["agent"] == "oracle" and r["task_id"] == oracle["task_id"])).read_text())
    sent = [json.loads(c["function"]["arguments"]) for m in original["messages"] for c in m.get("tool_calls") or []]
    assert [c["function"]["arguments"] for m in oracle["messages"] for c in m["tool_calls"] or []] == sent and sent
    card = _card(out)
    assert card.data.source_domains == ["retail"] and card.data.license == "apache-2.0" and card.data.scaleenv["filters"] == []
    assert card.data.configs == [{"config_name": "default", "data_files": [{"split": "trajectories", "path": "trajectories/data-*.arrow"}]}]
    assert card.data.scaleenv["agents"] == ["noop", "oracle"] and card.data.scaleenv["successes"] == sum(r["success"] for r in records)
    assert datasets.load_dataset(str(out), split="trajectories", cache_dir=str(tmp_path / "cache")).num_rows == len(records)

    assert main(["export", "trajectories", str(runs["oracle"]), "--to", "hf-dataset", "--out", str(out), "--success-only"]) == 0
    assert all(datasets.load_from_disk(str(out))["trajectories"]["success"])  # a re-export replaces the folder whole
    card = _card(out)
    assert card.data.scaleenv["filters"] == ["--success-only"] and "Filters applied on export: `--success-only`." in card.text


def test_a_folder_it_did_not_write_is_refused_and_an_empty_export_writes_nothing(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    assert main(["export", "tasks", "retail", "--to", "hf-dataset", "--out", str(mine)]) == 2
    assert "not a dataset folder" in capsys.readouterr().err and [p.name for p in mine.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    assert main(["export", "trajectories", str(runs["noop"]), "--to", "hf-dataset", "--out", str(empty), "--success-only"]) == 2
    assert "nothing written" in capsys.readouterr().err and not empty.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left behind
