"""tau2-bench's airline and retail, ported with the blueprint language (examples/tau2/): each passes the
gate, yields verified tasks, and lists its distortions of the original (at most three) in its provenance."""

from __future__ import annotations

import pytest

import scaleenv_mcp as se

from ..conftest import ROOT

PORTS = sorted((ROOT / "examples" / "tau2").glob("*.yaml"))


def test_both_ports_are_there_and_say_what_they_distort() -> None:
    assert [p.stem for p in PORTS] == ["tau2_airline", "tau2_retail"]
    for path in PORTS:
        text = path.read_text(encoding="utf-8")  # compiled in the e2e test below; here what it says it is
        assert "a2c024725189473d2d7cea3a5cfdbcc67478e41f" in text and "distortions:" in text, path.name


@pytest.mark.e2e
@pytest.mark.parametrize("path", PORTS, ids=lambda p: p.stem)
def test_a_port_passes_the_gate_and_yields_verified_tasks(path: object) -> None:
    domain = se.compile_blueprint(path, tasks=0)  # type: ignore[arg-type]  # the gate; tasks from one state below
    assert domain.report is not None and domain.report.passed
    tasks = list(domain.generate_tasks(4, seeds=[domain.spec.seed], per_seed=4))
    assert len(tasks) == 4
    provenance = domain.spec.provenance or {}
    assert provenance.get("method") == "port" and 1 <= len(provenance.get("distortions", [])) <= 3
    for task in tasks:
        with domain.episode(task) as ep:
            for call in task.solution:
                assert ep.call(call.tool, call.arguments).ok, (task.id, call)
