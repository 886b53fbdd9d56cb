"""Each public name means one thing: the README's ``run_episode``, ``evaluate``, ``Episode`` and the
LLM client's ``complete`` are defined once in the package, and no two modules share a file name
(there were two ``pipeline.py``), so a traceback or an import says which one it is."""

from __future__ import annotations

import re
from collections import Counter

import scaleenv_mcp as se
from scaleenv_mcp import llm

from .conftest import ROOT

SOURCE = sorted((ROOT / "src" / "scaleenv_mcp").rglob("*.py"))


def defined(name: str) -> list[str]:
    """The modules that define ``name`` at their top level (a function or a class)."""
    pattern = re.compile(rf"^(?:async def|def|class) {re.escape(name)}\b", re.M)
    return [str(p.relative_to(ROOT / "src")) for p in SOURCE if pattern.search(p.read_text())]


def test_the_colliding_names_are_defined_once_each() -> None:
    assert defined("run_episode") == ["scaleenv_mcp/harness/episode.py"]
    assert defined("evaluate") == ["scaleenv_mcp/_api.py"]
    assert defined("Episode") == ["scaleenv_mcp/_api.py"]
    assert defined("complete") == ["scaleenv_mcp/llm.py"]
    assert se.run_episode.__module__ == "scaleenv_mcp.harness.episode" and se.evaluate.__module__ == "scaleenv_mcp._api"
    assert se.Episode.__module__ == "scaleenv_mcp._api" and llm.complete.__module__ == "scaleenv_mcp.llm"


def test_no_two_modules_share_a_file_name() -> None:
    names = Counter(p.name for p in SOURCE if p.name not in ("__init__.py", "__main__.py"))
    assert [name for name, count in names.items() if count > 1] == []
