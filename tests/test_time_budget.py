"""The per-test time budget of the fast tier (``tests/conftest.py``) fails a slow test, and only that."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

PROBE = '''
import time, pytest

def test_quick():
    pass

def test_slow():
    time.sleep(0.3)

@pytest.mark.slow_ok(reason="probe")
def test_slow_but_allowed():
    time.sleep(0.3)

@pytest.mark.slow_ok
def test_slow_ok_without_a_reason():
    pass

@pytest.mark.e2e
def test_slow_e2e():
    time.sleep(0.3)
'''


def test_a_fast_tier_test_over_the_budget_fails_unless_it_says_why(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {"SCALEENV_TEST_BUDGET": "0.2", "PYTHONPATH": f"{ROOT / 'src'}", "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", "", str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    out = run.stdout
    failed = {line.split("::")[1].split()[0] for line in out.splitlines() if line.startswith("FAILED")}
    assert failed == {"test_slow", "test_slow_ok_without_a_reason"}, out
    assert "over the fast tier's budget of 0.2 s" in out and "3 passed" in out, out
