"""`scaleenv corpus`: each compiled domain's figures as the blueprint and its tasks say, the README's
table kept in step, near duplicates found, the distance to tau2-bench's tools, and a plot."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.cli import main
from scaleenv_mcp.export.corpus import corpus_of
from scaleenv_mcp.spec.catalog import domain_names
from scaleenv_mcp.tasks.stats import task_stats

from ..conftest import PATHS, ROOT


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["--root", str(ROOT), "corpus", *args]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_every_compiled_domain_has_a_row_with_its_blueprints_figures(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(capsys, "--json")
    rows = {d["name"]: d for d in data["domains"]}  # type: ignore[union-attr, index]
    assert sorted(rows) == sorted(domain_names(PATHS))
    for name, row in rows.items():
        domain = se.load(name)
        spec = domain.spec
        assert row["industry"] == spec.industry and row["setting"] == spec.setting
        assert (row["tools"], row["writes"], row["entities"]) == (len(spec.tools), len(spec.write_tools()), len(spec.entities))
        agent_kept = sum(1 for t in spec.tools.values() for r in t.requires if r.kept_by == "agent")
        assert row["agent_kept_rules"] == agent_kept
        assert row["tasks"] == len(domain.tasks) == sum(row["kinds"].values())
        assert set(row["distance"]) == {"airline", "retail", "telecom"}
    totals = data["totals"]
    assert totals["domains"] == len(rows)  # type: ignore[index]
    assert totals["industries"] == len({r["industry"] for r in rows.values()})  # type: ignore[index]


def test_the_readme_table_is_what_corpus_markdown_writes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "corpus", "--markdown"]) == 0
    table = capsys.readouterr().out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"<!-- corpus:start -->\n(.*?)<!-- corpus:end -->", readme, re.DOTALL)
    assert shown is not None, "README.md lost its corpus table markers"
    assert shown.group(1) == table, "run: scaleenv corpus --markdown, and paste it between the corpus markers"


def test_a_domain_under_another_name_is_its_own_near_duplicate() -> None:
    retail = se.load("retail").spec
    copy = retail.model_copy(update={"name": "shop"})
    corpus = corpus_of([retail, copy, se.load("hotel").spec], {})
    assert [(a, b) for a, b, _ in corpus.near_duplicate_domains] == [("retail", "shop")]
    twins = {(a, b) for a, b, _ in corpus.near_duplicate_tools}
    assert all((f"retail.{t}", f"shop.{t}") in twins for t in retail.tools)
    assert not any("hotel." in a or "hotel." in b for a, b in twins)


def test_each_tau2_port_like_domain_is_nearest_to_its_own_tau2_peer() -> None:
    corpus = corpus_of([se.load(n).spec for n in ("airline", "retail", "telecom_plans")], {})
    nearest = {d.name: min(d.distance, key=d.distance.__getitem__) for d in corpus.domains}
    assert nearest == {"airline": "airline", "retail": "retail", "telecom_plans": "telecom"}


def test_the_plot_has_a_dot_per_domain_and_a_legend_entry_per_industry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "corpus.svg"
    assert main(["--root", str(ROOT), "corpus", "--plot", str(out)]) == 0
    svg = ET.parse(out).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    dots = [c for c in svg.findall("s:circle", ns) if c.find("s:title", ns) is not None]
    names = sorted(c.find("s:title", ns).text.split(":")[0] for c in dots)  # type: ignore[union-attr]
    assert names == sorted(domain_names(PATHS))
    industries = {se.load(n).spec.industry for n in names}
    legend = [c for c in svg.findall("s:circle", ns) if c.find("s:title", ns) is None]
    assert len(legend) == len(industries)


def test_a_plot_that_is_not_svg_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "corpus", "--plot", str(tmp_path / "corpus.png")]) == 2
    assert "--plot writes SVG" in capsys.readouterr().err
    assert not (tmp_path / "corpus.png").exists()


def test_the_shipped_corpus_is_broad_and_every_domain_is_whole() -> None:
    """What the corpus promises (README, "The corpus"): 40 domains or more in 16 industries or more, at
    least half outside customer service, those averaging 30 tools or more, eight of 50 or more; and of
    every domain: 6 to 22 entities outside the original twelve, rules the agent keeps, a provenance,
    48 tasks, every write tool in some task's reference, a persona and a reason on every task."""
    names = domain_names(PATHS)
    specs = {name: se.load(name).spec for name in names}
    assert len(names) >= 40 and len({s.industry for s in specs.values()}) >= 16
    outside = [s for s in specs.values() if s.setting != "customer_service"]
    assert len(outside) * 2 >= len(specs) and sum(len(s.tools) for s in outside) / len(outside) >= 30
    assert sum(len(s.tools) >= 50 for s in specs.values()) >= 8
    for name, spec in specs.items():
        tasks = se.load(name).tasks
        assert spec.provenance and spec.provenance.get("method") and spec.industry and spec.setting, name
        assert spec.setting == "customer_service" or 6 <= len(spec.entities) <= 22, name
        assert any(r.kept_by == "agent" for t in spec.tools.values() for r in t.requires), name
        assert len(tasks) >= 48, name
        used = {c.tool for t in tasks for c in t.solution}
        assert set(spec.write_tools()) <= used, (name, sorted(set(spec.write_tools()) - used))
        assert all(t.script is not None and t.script.reason for t in tasks), name
        if spec.setting != "customer_service":  # written with the traits from the start: every target met
            traits = task_stats(spec, tasks)["traits"]
            assert all(t["met"] is not False for t in traits.values()), (name, traits)
