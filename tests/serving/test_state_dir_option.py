"""``--state-dir`` refuses what cannot work in one line, before anything is served."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from scaleenv_mcp.serving.options import add_serve_options
from scaleenv_mcp.serving.server import ServeError, serve

from ..conftest import ROOT, shipped_spec


def options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_serve_options(parser)
    return parser.parse_args(list(argv))


def test_state_dir_needs_http(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match=r"^--state-dir keeps the episodes of an HTTP server: add --http$"):
        serve(shipped_spec("retail"), options("--state-dir", str(tmp_path)), root=ROOT)


def test_a_state_dir_that_cannot_be_made_or_read_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ServeError, match=r"^--state-dir .* cannot be used: ") as made:
        serve(shipped_spec("retail"), options("--http", "--state-dir", str(blocker / "sub")), root=ROOT)
    assert "\n" not in str(made.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "episodes.sqlite3").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(ServeError, match=r"is not an episode store SQLite can open") as read:
        serve(shipped_spec("retail"), options("--http", "--state-dir", str(tmp_path / "junk")), root=ROOT)
    assert "\n" not in str(read.value)
