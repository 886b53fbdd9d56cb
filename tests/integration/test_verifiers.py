"""verifiers (the real package, v1) consumes a domain served with ``--http --nemo-gym``.

verifiers pins ``mcp==2.0.0``, so it lives in its own venv: the one ``SCALEENV_VERIFIERS_PYTHON``
names (``.ci/run`` builds it while other checks run), else one this test builds from the registry. ``verifiers_gym.py`` runs there: verifiers' own ``NeMoGymTaskset`` loads
the rows from ``scaleenv export tasks --to nemo-gym``, its task seeds the session, its MCP client
calls the tools on the session's endpoint, and its ``nemo_gym`` reward verifies. Rewards must
equal ``scaleenv eval``'s; the tool results must read as they did in the eval.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.cli import main

from ..serving.test_http import start

pytestmark = pytest.mark.e2e

TASKS = ["retail-001", "retail-002", "retail-003", "retail-008"]
VENV = Path(tempfile.gettempdir()) / "scaleenv-verifiers-venv"  # where .ci/run builds it too


@pytest.fixture(scope="module")
def verifiers_python() -> str:
    named = os.environ.get("SCALEENV_VERIFIERS_PYTHON")
    if named:
        return named
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import verifiers.v1"]
    if not python.exists() or subprocess.run(check, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "verifiers==0.4.0"], check=True, timeout=900)
    return str(python)


@pytest.mark.parametrize("agent", ["oracle", "noop"])
def test_verifiers_nemo_gym_taskset_pays_what_scaleenv_eval_pays(agent: str, tmp_path: Path, verifiers_python: str) -> None:
    report = se.evaluate(agent, task_ids=TASKS, out=tmp_path / "run")
    assert main(["export", "tasks", "retail", "--to", "nemo-gym", "--out", str(tmp_path)]) == 0
    for server in start("--nemo-gym"):
        proc = subprocess.run(
            [verifiers_python, str(Path(__file__).with_name("verifiers_gym.py")), server.base, str(tmp_path / "nemo_gym.jsonl"),
             str(tmp_path / "run")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
    scored = {r["task_id"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert sorted(scored) == sorted(TASKS)
    for record in report.records:
        got = scored[record.task_id]
        assert got["reward"] == record.reward and got["metrics"]["success"] == float(record.success), record.task_id
        messages = json.loads((tmp_path / "run" / record.trajectory).read_text())["messages"]
        assert got["texts"] == [m["content"] for m in messages if m["role"] == "tool"]
    assert any(r.success for r in report.records) == (agent == "oracle")
