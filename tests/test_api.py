"""The public API as a user imports it: pinned names, episodes, compile, synthesize, evaluate, README snippets."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import scaleenv_mcp as se

from .conftest import ROOT
from .llm_server import scripted_llm
from .synthesis.test_pipeline import llm_script

PUBLIC = [
    "BlueprintError", "CheckResult", "Domain", "DomainNotFound", "DomainReport", "DomainSpec", "Episode", "EpisodeRecord",
    "EvalError", "EvalReport", "GateFailed", "LLMError", "Metrics", "Problem", "StateDiff", "SynthesisFailed", "TaskSpec",
    "ToolError", "ToolResult", "Verification", "__version__", "compile_blueprint", "evaluate", "load", "synthesize",
    "EpisodeResult", "ModelError", "run_episode",
]  # fmt: skip


def test_the_public_names_are_pinned_and_all_resolve() -> None:
    assert sorted(se.__all__) == sorted(PUBLIC)
    for name in se.__all__:
        assert getattr(se, name) is not None, name
    with pytest.raises(AttributeError):
        _ = se.no_such_name  # type: ignore[attr-defined]


def test_importing_the_package_does_not_import_the_heavy_layers() -> None:
    code = "import sys, scaleenv_mcp; print(sorted(m for m in ('litellm', 'mcp', 'networkx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_an_episode_calls_snapshots_restores_resets_and_verifies() -> None:
    domain = se.load("retail")
    task = next(t for t in domain.tasks if t.kind == "action")
    with domain.episode(task) as ep:
        assert ep.instruction == task.instruction
        assert not ep.verify().success
        saved = ep.snapshot()
        for call in task.solution:
            assert ep.call(call.tool, call.arguments).ok
        verdict = ep.verify()
        assert verdict.success and verdict.reward == 1.0
        assert [c.tool for c in ep.calls] == [c.tool for c in task.solution]
        assert not ep.diff().is_empty()
        ep.restore(saved)
        assert ep.diff().is_empty() and not ep.verify().success
        for call in task.solution:
            ep.call(call.tool, call.arguments)
        ep.reset()
        assert ep.diff().is_empty()
    assert ep.id not in domain._coordinator.episodes  # closed with the block


def test_a_failed_call_is_a_typed_error_and_changes_nothing() -> None:
    ep = se.load("retail").episode()
    result = ep.call("cancel_order", {"order_id": "ORD-9999"})
    assert isinstance(result, se.ToolResult) and not result.ok
    assert result.error is not None and result.error.code == "not_found"
    assert ep.diff().is_empty()
    with pytest.raises(LookupError, match="has no task"):
        ep.verify()


def test_load_refuses_unknown_domains_and_paths() -> None:
    with pytest.raises(se.DomainNotFound, match="known domains"):
        se.load("atlantis")
    with pytest.raises(se.DomainNotFound, match="not a domain name"):
        se.load("../servers/retail")


def test_compile_blueprint_gates_and_generates_tasks_without_writing(tmp_path: Path) -> None:
    before = sorted(p.stat().st_mtime_ns for p in (ROOT / "manifests").iterdir())
    domain = se.compile_blueprint(ROOT / "synthesis/domains/library_loans.yaml", tasks=3)
    assert domain.report is not None and domain.report.passed
    assert len(domain.tasks) == 3 and domain.name == "library_loans"
    with domain.episode(domain.tasks[0]) as ep:
        for call in domain.tasks[0].solution:
            ep.call(call.tool, call.arguments)
        assert ep.verify(answer=_answer(domain.tasks[0])).success
    assert sorted(p.stat().st_mtime_ns for p in (ROOT / "manifests").iterdir()) == before


def _answer(task: se.TaskSpec) -> str | None:
    from scaleenv_mcp.tasks.grader import format_answer_value

    return next((format_answer_value(c.value) for c in task.checks if c.kind == "answer"), None)


@pytest.mark.e2e
def test_compile_blueprint_raises_typed_errors() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    data["tools"]["cancel_order"]["effects"][1] = "product.stok += order.quantity"
    with pytest.raises(se.BlueprintError) as info:
        se.compile_blueprint(data)
    assert any(p.path == "tools.cancel_order.effects[1]" for p in info.value.problems)
    data = yaml.safe_load((ROOT / "synthesis/domains/retail.yaml").read_text())
    data["tools"]["place_order"]["requires"][1]["check"] = "product.stock + 5 >= quantity"
    with pytest.raises(se.GateFailed) as gate:
        se.compile_blueprint(data, tasks=0)
    assert not gate.value.report.passed and "effect_broke_constraint in place_order" in str(gate.value)


def test_synthesize_returns_a_compiled_domain_through_a_local_model(tmp_path: Path) -> None:
    (tmp_path / "synthesis").mkdir()
    import shutil

    shutil.copytree(ROOT / "synthesis/prompts", tmp_path / "synthesis/prompts")
    with scripted_llm(llm_script({})) as llm:
        domain = se.synthesize("pet grooming salon", model="openai/scripted", api_base=llm.url, tasks=4, root=tmp_path)
    assert domain.name == "pet_grooming_salon" and domain.report is not None and domain.report.passed
    assert len(domain.tasks) == 4
    assert not (tmp_path / "synthesis/domains").exists()  # nothing written but the cache
    assert any((tmp_path / ".scaleenv-cache/llm").iterdir())


def test_evaluate_returns_a_typed_report(tmp_path: Path) -> None:
    report = se.evaluate("oracle", domains=["hotel"], tasks=1, out=tmp_path / "run")
    assert isinstance(report, se.EvalReport) and report.agent == "oracle"
    assert report.overall.pass_at_1 == 1.0 and report.records[0].success
    with pytest.raises(se.EvalError, match="unknown agent"):
        se.evaluate("gpt", domains=["hotel"], tasks=1, out=tmp_path / "x")


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "import scaleenv_mcp as se" in b]


@pytest.mark.e2e
@pytest.mark.parametrize("index", range(len(readme_python_blocks())))
def test_the_readme_api_snippets_run(index: int, tmp_path: Path) -> None:
    code = readme_python_blocks()[index].replace('"runs/api-oracle"', repr(str(tmp_path / "run")))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
