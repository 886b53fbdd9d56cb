"""Synthesis that repairs gate failures, runs many names side by side under a budget, resumes, and
caches by endpoint: against the scripted OpenAI-compatible server (real HTTP through litellm)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from scaleenv_mcp.cli import main
from scaleenv_mcp.llm import LLMError, ModelOptions, ResponseCache, complete

from ..conftest import ROOT
from ..llm_server import Reply, free_port, scripted_llm
from .test_pipeline import FIXTURE, stage_replies

NEVER_MET = {"check": "appointment.price > 1000", "error": "Only premium appointments can be cancelled."}
"""a rule no seeded appointment meets (prices are 15 to 60): valid, but the gate finds the tool never succeeds"""


def gate_failing_tools() -> dict[str, Any]:
    tools = json.loads(json.dumps(FIXTURE["tools"]))
    tools["cancel_appointment"]["requires"] = [NEVER_MET, *tools["cancel_appointment"]["requires"]]
    return {"tools": tools}


def repair_script(*, repaired: bool) -> Any:
    """Stage answers from the recorded blueprint, with tools the gate rejects; the repair round answers
    with the whole recorded blueprint (``repaired``) or the same broken tools again."""
    replies = stage_replies()
    fixed = {"policy": FIXTURE["policy"], "entities": FIXTURE["entities"], "tools": FIXTURE["tools"]}
    broken = {**fixed, **gate_failing_tools()}

    def script(body: dict[str, Any]) -> Reply:
        stage = re.search(r"Stage: (\w+)", body["messages"][1]["content"]).group(1)  # type: ignore[union-attr]
        if stage == "tools":
            return Reply(content=json.dumps(gate_failing_tools()))
        if stage == "repair":
            return Reply(content=json.dumps(fixed if repaired else broken))
        return Reply(content=json.dumps(replies[stage]))

    return script


def never_valid_script(delay: float = 0.0) -> Any:
    """Every tools answer is invalid, so a name stops at the tools stage (no gate, no compile: fast)."""
    replies = stage_replies()

    def script(body: dict[str, Any]) -> Reply:
        stage = re.search(r"Stage: (\w+)", body["messages"][1]["content"]).group(1)  # type: ignore[union-attr]
        if stage == "tools":
            return Reply(content='{"tools": {"open_tour": {"description": "x"}}}', delay=delay)
        return Reply(content=json.dumps(replies[stage]), delay=delay)

    return script


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "synthesis", tmp_path / "synthesis", ignore=shutil.ignore_patterns("__pycache__", "rejected", "synth-names.json"))
    (tmp_path / "servers").mkdir()
    (tmp_path / "manifests").mkdir()
    return tmp_path


def synth(project: Path, url: str, *args: str) -> int:
    return main(["--root", str(project), "synth", "--model", "openai/scripted", "--api-base", url, "--api-key", "k", "--tasks", "0", *args])


def stage_of(request: dict[str, Any]) -> str:
    return re.search(r"Stage: (\w+)", request["messages"][1]["content"]).group(1)  # type: ignore[union-attr]


def names_file(project: Path, *names: str) -> str:
    path = project / "names.txt"
    path.write_text("\n".join(names) + "\n")
    return str(path)


@pytest.mark.e2e
def test_a_gate_failure_goes_back_to_the_model_and_the_repair_is_written(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with scripted_llm(repair_script(repaired=True)) as llm:
        assert synth(project, llm.url, "--from-name", "pet grooming salon") == 0
    out = capsys.readouterr().out
    assert "pet_grooming_salon: 9 tools; tests passed" in out
    repair = [r for r in llm.requests if stage_of(r) == "repair"]
    assert len(repair) == 1
    sent = repair[0]["messages"][1]["content"]
    assert "never_succeeds in cancel_appointment" in sent and "[reproduce: cancel_appointment(" in sent
    assert "appointment.price > 1000" in sent  # the blueprint that failed went back with its defects
    blueprint = (project / "synthesis/domains/pet_grooming_salon.yaml").read_text()
    assert "price > 1000" not in blueprint and "gate: 1" in blueprint  # provenance counts the gate round
    assert json.loads((project / "manifests/pet_grooming_salon.json").read_text())["quality"]["passed"]
    assert not (project / "synthesis/rejected/pet_grooming_salon.yaml").exists()


@pytest.mark.e2e
def test_a_proposal_that_never_passes_the_gate_is_kept_with_its_reasons(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with scripted_llm(repair_script(repaired=False)) as llm:
        assert synth(project, llm.url, "--from-name", "pet grooming salon", "--max-repairs", "1") == 1
    err = capsys.readouterr().err
    assert "procedural tests failed" in err and "synthesis/rejected/pet_grooming_salon.reasons.json" in err
    assert sum(1 for r in llm.requests if stage_of(r) == "repair") == 1
    reasons = json.loads((project / "synthesis/rejected/pet_grooming_salon.reasons.json").read_text())
    assert reasons["status"] == "rejected" and len(reasons["gate_rounds"]) == 2  # the first answer and the one repair
    assert any(line.startswith("never_succeeds in cancel_appointment") for line in reasons["problems"])
    assert reasons["repair_rounds"]["gate"] == 1
    assert "price > 1000" in (project / "synthesis/rejected/pet_grooming_salon.yaml").read_text()
    assert not (project / "synthesis/domains/pet_grooming_salon.yaml").exists() and not (project / "servers/pet_grooming_salon").exists()


def test_a_name_that_never_validates_is_kept_with_its_reasons(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with scripted_llm(never_valid_script()) as llm:
        assert synth(project, llm.url, "--from-name", "haunted lighthouse tours", "--max-repairs", "0") == 1
    reasons = json.loads((project / "synthesis/rejected/haunted_lighthouse_tours.reasons.json").read_text())
    assert reasons["status"] == "never_validated" and "open_tour" in reasons["last_reply"]
    assert any("tools.open_tour" in p for p in reasons["problems"])
    kept = (project / "synthesis/rejected/haunted_lighthouse_tours.yaml").read_text()
    assert "title:" in kept and "entities:" in kept  # what the stages before the failing one gave


def test_the_budget_stops_new_names_and_the_running_one_finishes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = names_file(project, "haunted lighthouse tours", "moon base cafeteria", "river ferry company")
    with scripted_llm(never_valid_script()) as llm:
        code = synth(project, llm.url, "--from-names", names, "--max-repairs", "0", "--concurrency", "1", "--max-tokens-total", "100")
    assert code == 1
    captured = capsys.readouterr()
    # the first name spends 3 calls x 120 tokens and is carried to its end; the others never start
    assert len(llm.requests) == 3 and {stage_of(r) for r in llm.requests} == {"domain", "entities", "tools"}
    assert "spent: 360 tokens" in captured.out
    assert "not started 'moon base cafeteria': the budget is spent" in captured.out
    assert "2 name(s) not started" in captured.err


def test_resume_skips_names_an_earlier_run_finished(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = names_file(project, "haunted lighthouse tours", "moon base cafeteria")
    with scripted_llm(never_valid_script()) as llm:
        assert synth(project, llm.url, "--from-names", names, "--max-repairs", "0", "--max-tokens-total", "100", "--concurrency", "1") == 1
        first = len(llm.requests)
        assert first == 3  # one name done, one not started
        assert synth(project, llm.url, "--from-names", names, "--max-repairs", "0", "--resume") == 1
        out = capsys.readouterr().out
        assert "skipped 'haunted lighthouse tours': never validated in an earlier run (--resume)" in out
        assert {r["messages"][1]["content"].split("Domain: ")[1].splitlines()[0] for r in llm.requests[first:]} == {"moon base cafeteria"}
    state = json.loads((project / "synthesis/synth-names.json").read_text())["names"]
    assert set(state) == {"haunted lighthouse tours", "moon base cafeteria"}


@pytest.mark.parametrize("concurrency", [1, 2])
def test_names_run_side_by_side_up_to_the_concurrency(project: Path, concurrency: int) -> None:
    names = names_file(project, "haunted lighthouse tours", "moon base cafeteria")
    with scripted_llm(never_valid_script(delay=0.15)) as llm:
        assert synth(project, llm.url, "--from-names", names, "--max-repairs", "0", "--concurrency", str(concurrency)) == 1
    order = [(r["messages"][1]["content"].split("Domain: ")[1].splitlines()[0], stage_of(r)) for r in llm.requests]
    assert len(order) == 6
    first_names = {name for name, _ in order[:2]}
    # side by side, both names' first questions are asked before either gets its answer; one at a time, never
    assert first_names == ({"haunted lighthouse tours", "moon base cafeteria"} if concurrency == 2 else {order[0][0]})


def test_the_cache_keys_on_the_endpoint_and_never_serves_a_failure(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    messages = [{"role": "user", "content": "hello"}]

    async def ask(url: str) -> str:
        key = cache.key("openai/scripted", messages, 0, api_base=url)
        hit = cache.get(key)
        if hit is not None:
            return str(hit["text"])
        response = await complete("openai/scripted", messages, options=ModelOptions(api_base=url, api_key="k", retries=0), seed=0)
        text = str(response.choices[0].message.content or "")
        cache.put(key, {"text": text})
        return text

    with scripted_llm(lambda _: Reply(content="from A")) as a:
        assert anyio.run(ask, a.url) == "from A"
        assert anyio.run(ask, a.url) == "from A" and len(a.requests) == 1  # the second answer came from the cache
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMError, match=re.escape(dead)):  # endpoint B is dead: B's error, not A's answer
        anyio.run(ask, dead)
    answers = [Reply(status=400), Reply(content="")]
    with scripted_llm(lambda _: answers.pop(0) if answers else Reply(content="now it works")) as c:
        with pytest.raises(LLMError):
            anyio.run(ask, c.url)  # a refusal is not stored
        assert anyio.run(ask, c.url) == ""  # an empty answer is returned once but not stored
        assert anyio.run(ask, c.url) == "now it works" and len(c.requests) == 3
