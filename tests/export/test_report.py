"""`scaleenv report`: the static results site shows what the runs recorded, and only that, safely.

The runs are real (the oracle and the noop agent on retail, over MCP in process), and one run is
written by hand with hostile text in every field an agent, a user or a tool controls. Pages are
read back with the standard HTML parser, the way a browser would tokenise them.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.cli import main
from scaleenv_mcp.export.report import MARKER
from scaleenv_mcp.harness.results import CheckOutcome, EpisodeRecord
from scaleenv_mcp.spec.graph import build_graph
from scaleenv_mcp.spec.paths import ProjectPaths
from scaleenv_mcp.tasks.stats import task_stats

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;"\''


class Page(HTMLParser):
    """Tags, text and the figures' cells of one page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.cells: dict[tuple[str, str, str], str] = {}
        self._cell: tuple[str, str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.tags.append((tag, named))
        if tag == "td" and "data-metric" in named:
            self._cell = (str(named["data-run"]), str(named["data-domain"]), str(named["data-metric"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self.cells[self._cell] = self.cells.get(self._cell, "") + data

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def page(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    se.evaluate("oracle", domains=["retail"], tasks=2, out=root / "oracle")
    se.evaluate("noop", domains=["retail"], tasks=2, trials=2, out=root / "noop")
    return {"oracle": root / "oracle", "noop": root / "noop", "hostile": hostile_run(root / "hostile")}


def hostile_run(out: Path) -> Path:
    """A run whose every agent-, user- and tool-controlled string is an attack, and one record with a diff."""
    (out / "trajectories").mkdir(parents=True)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": HOSTILE},
        {"role": "user", "content": HOSTILE},
        {"role": "assistant", "content": HOSTILE, "tool_calls": [
            {"id": HOSTILE, "type": "function", "function": {"name": HOSTILE, "arguments": json.dumps({"q": HOSTILE})}}]},
        {"role": "tool", "tool_call_id": HOSTILE, "content": json.dumps({"value": HOSTILE})},
        {"role": "tool", "tool_call_id": "other", "content": f"not_found: {HOSTILE}\n" + json.dumps({"error": "not_found", "message": HOSTILE})},
    ]  # fmt: skip
    (out / "trajectories" / "t.json").write_text(json.dumps({"messages": messages, "tools": []}))
    record = EpisodeRecord(
        domain="retail", task_id=f"../../{HOSTILE}", trial=1, agent=HOSTILE, reward=0.5, success=False, termination=HOSTILE,
        checks=[CheckOutcome(description=HOSTILE, passed=False, detail=HOSTILE), CheckOutcome(description="kept", passed=True)],
        steps=1, trajectory="trajectories/t.json",
    )  # fmt: skip
    with_diff = {**record.model_dump(mode="json"), "task_id": "retail-001", "diff": {"order": {"added": 0, "removed": 0, "changed": 1}}}
    escaping = record.model_copy(update={"task_id": "retail-002", "trajectory": "../../etc/passwd"})
    lines = [json.dumps(r) for r in (record.model_dump(mode="json"), with_diff, escaping.model_dump(mode="json"))]
    (out / "results.jsonl").write_text("\n".join(lines) + "\n")
    return out


@pytest.fixture(scope="module")
def site(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "report"
    assert main(["report", str(runs["oracle"]), str(runs["noop"]), str(runs["hostile"]), "--html", str(out)]) == 0
    return out


def records(run: Path) -> list[EpisodeRecord]:
    return [EpisodeRecord.model_validate_json(line) for line in (run / "results.jsonl").read_text().splitlines()]


def test_index_figures_equal_each_runs_summary_json(runs: dict[str, Path], site: Path) -> None:
    cells = page(site / "index.html").cells
    for number, name in enumerate(("oracle", "noop")):
        summary = json.loads((runs[name] / "summary.json").read_text())
        trials = summary["options"]["trials"]
        for domain, figures in [*summary["domains"].items(), ("overall", summary["overall"])]:
            for metric in ("tasks", "episodes", "infra_faults", "mean_reward", "pass@1", *(f"pass^{k}" for k in range(1, trials + 1))):
                shown = cells[(str(number), domain, metric)]
                assert shown == str(figures[metric]), (name, domain, metric)
    assert cells[("0", "overall", "pass@1")] == "1.0" and cells[("1", "overall", "pass@1")] == "0.0"
    assert cells[("1", "overall", "pass^2")] == "0.0" and ("0", "overall", "pass^2") not in cells  # k only up to the run's trials


def test_an_episode_page_shows_every_check_every_tool_call_and_result_and_the_state_diff(
    runs: dict[str, Path], site: Path
) -> None:
    record = next(r for r in records(runs["oracle"]) if r.task_id == "retail-001")
    shown = page(site / "episodes" / "run0" / "retail" / "retail-001__t1.html")
    text = " ".join(shown.all_text.split())
    for check in record.checks:
        assert check.description in text
    assert text.count("✓ passed") == len(record.checks)
    trajectory = json.loads((runs["oracle"] / record.trajectory).read_text())
    calls = [c for m in trajectory["messages"] for c in m.get("tool_calls") or []]
    assert calls
    for call in calls:
        assert f"calls {call['function']['name']} {call['id']}" in text
        for key, value in json.loads(call["function"]["arguments"]).items():
            assert f'"{key}": {json.dumps(value)}' in text
    results = [m for m in trajectory["messages"] if m["role"] == "tool"]
    for result in results:
        for key, value in json.loads(result["content"]).items():
            if isinstance(value, str):
                assert f'"{key}": "{value}"' in text
    diff = (record.model_extra or {}).get("diff")  # eval records what the episode changed, row by row
    assert diff and "The state diff is not recorded" not in text
    for table in diff["tables"]:
        assert table in text
    assert f"outcome success reward 1.0 steps {record.steps} termination answered" in text


def test_hostile_text_is_escaped_and_names_stay_inside_the_site(runs: dict[str, Path], site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert all(p.resolve().is_relative_to(site.resolve()) for p in pages)
    hostile_pages = sorted((site / "episodes" / "run2").rglob("*.html"))
    assert len(hostile_pages) == 3
    for path in [site / "index.html", *hostile_pages]:
        parsed = page(path)
        tags = {tag for tag, _ in parsed.tags}
        assert not tags & {"script", "img", "iframe", "object", "embed", "link", "base"}, path
        assert not [a for _, attrs in parsed.tags for a in attrs if a.startswith("on")], path
        assert HOSTILE in parsed.all_text or path.name.startswith("retail-002"), path  # the text is shown, as text
        raw = path.read_text()
        assert MARKER in raw and "Content-Security-Policy" in raw and "script-src" not in raw
    attack = next(p for p in hostile_pages if not p.name.startswith("retail-00"))
    text = page(attack).all_text
    assert text.count(HOSTILE) >= 8  # system, user, assistant, call name/id/arguments, results, checks
    assert "(error)" in text  # the error result is marked as one
    outside = page(next(p for p in hostile_pages if p.name.startswith("retail-002"))).all_text
    assert "points outside its run folder" in outside and "root:" not in outside


def test_a_recorded_diff_is_shown_table_by_table(site: Path) -> None:
    text = " ".join(page(site / "episodes" / "run2" / "retail" / "retail-001__t1.html").all_text.split())
    assert "order 0 added, 0 removed, 1 changed" in text and "not recorded" not in text


def test_the_domain_page_draws_every_tool_and_edge_and_counts_the_stored_tasks(site: Path, paths: ProjectPaths) -> None:
    spec = se.load("retail").spec
    graph = build_graph(spec)
    parsed = page(site / "domains" / "retail.html")
    svg_texts = {t for t in parsed.text if t in spec.tools}
    assert svg_texts == set(spec.tools)
    raw = (site / "domains" / "retail.html").read_text()
    assert raw.count('marker-end="url(#arrow)"') == graph.number_of_edges()
    assert raw.count('stroke-dasharray="5,4"') == sum(1 for *_, d in graph.edges(data=True) if not d["data"])
    stats = task_stats(spec, se.load("retail").tasks)
    kinds = {attrs["data-kind"] for tag, attrs in parsed.tags if tag == "td" and "data-kind" in attrs}
    assert kinds == {"action", "information", "refusal"}
    for kind, figure in stats["kinds"].items():
        assert f'data-kind="{kind}">{figure["count"]}<' in raw
    for label, count in stats["difficulty"].items():
        assert f'data-difficulty="{label}">{count}<' in raw


def test_bad_input_is_one_line(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path), "--html", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().endswith("no results.jsonl (pass a folder written by `scaleenv eval --out`)")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main(["report", str(runs["oracle"]), "--html", str(busy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no earlier report" in err and (busy / "notes.txt").read_text() == "mine"


def test_a_second_report_replaces_the_first(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert main(["report", str(runs["noop"]), "--html", str(out)]) == 0
    assert (out / "episodes" / "run0" / "retail" / "retail-001__t2.html").is_file()
    assert main(["report", str(runs["oracle"]), "--html", str(out)]) == 0
    assert not (out / "episodes" / "run0" / "retail" / "retail-001__t2.html").exists()  # no stale page of the earlier run
    assert page(out / "index.html").cells[("0", "overall", "pass@1")] == "1.0"
