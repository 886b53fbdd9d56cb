"""The "your first domain" tutorial (docs/first-domain.md) works as written: its blueprint loads
with no problem and, end to end, compiles with `se.compile_blueprint` into a domain that passes
the gate and has verified tasks for every write tool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.spec import load_blueprint

from ..conftest import ROOT

TUTORIAL = ROOT / "docs" / "first-domain.md"


def tutorial_blueprint() -> str:
    """The whole blueprint the tutorial shows, as a reader would copy it."""
    text = TUTORIAL.read_text(encoding="utf-8")
    block = text.split("<!-- first-domain-blueprint -->")[1].split("<!-- /first-domain-blueprint -->")[0]
    match = re.search(r"```yaml\n(.*?)```", block, flags=re.S)
    assert match is not None, "the tutorial's blueprint block is missing"
    return match.group(1)


def write_tutorial(folder: Path, text: str | None = None) -> Path:
    """The blueprint where the tutorial puts it: synthesis/domains/dental_clinic.yaml of a project."""
    path = folder / "synthesis" / "domains" / "dental_clinic.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tutorial_blueprint() if text is None else text, encoding="utf-8")
    return path


def test_the_tutorial_blueprint_loads_and_has_what_the_tutorial_says(tmp_path: Path) -> None:
    spec = load_blueprint(write_tutorial(tmp_path))
    assert spec.name == "dental_clinic"
    assert list(spec.entities) == ["patient", "dentist", "appointment"]
    assert spec.entities["dentist"].fields["active"].weights == [4, 1]
    assert spec.write_tools() == ["book_appointment", "cancel_appointment"]
    assert "x if c else y" in TUTORIAL.read_text(encoding="utf-8")
    for line in re.findall(r"^  - \{check: \"(.*?)\"", TUTORIAL.read_text(encoding="utf-8"), flags=re.M):
        assert line in tutorial_blueprint(), line  # the excerpts are the blueprint's own lines


@pytest.mark.e2e
def test_the_tutorial_compiles_end_to_end_passes_the_gate_and_gives_tasks(tmp_path: Path) -> None:
    domain = se.compile_blueprint(write_tutorial(tmp_path), tasks=12)
    assert domain.report.passed, domain.report.reasons()
    assert len(domain.tasks) >= 6
    called = {c.tool for t in domain.tasks for c in t.solution}
    assert {"book_appointment", "cancel_appointment"} <= called
