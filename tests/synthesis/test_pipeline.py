"""``scaleenv synth --from-name``: an LLM (a scripted local server here) proposes, our code validates, repairs, gates."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client, StdioServerParameters

from scaleenv_mcp.cli import main

from ..conftest import ROOT
from ..llm_server import Reply, free_port, scripted_llm

FIXTURE = yaml.safe_load((Path(__file__).parents[1] / "fixtures/pet_grooming_salon.yaml").read_text())
HINTS = ("sample", "choices", "range", "weights", "derive", "ref_where", "null_rate")


def stage_replies() -> dict[str, dict[str, Any]]:
    """The recorded answers, one per stage, cut from one realistic blueprint."""
    entities = {
        name: {**{k: v for k, v in e.items() if k not in ("count", "fields")},
               "fields": {f: {k: v for k, v in spec.items() if k not in HINTS} for f, spec in e["fields"].items()}}
        for name, e in FIXTURE["entities"].items()
    }  # fmt: skip
    seed = {
        name: {"count": e["count"], "fields": {f: {k: v for k, v in spec.items() if k in HINTS} for f, spec in e["fields"].items()}}
        for name, e in FIXTURE["entities"].items()
    }
    return {
        "domain": {k: FIXTURE[k] for k in ("title", "description", "policy")},
        "entities": {"entities": entities},
        "tools": {"tools": FIXTURE["tools"]},
        "seed": {"entities": seed},
    }


def llm_script(requests_by_stage: dict[str, int]) -> Any:
    replies = stage_replies()
    broken_tools = json.loads(json.dumps(replies["tools"]))
    broken_tools["tools"]["cancel_appointment"]["effects"] = ["appointment.stauts = 'cancelled'"]

    def script(body: dict[str, Any]) -> Reply:
        prompt = body["messages"][1]["content"]
        stage = re.search(r"Stage: (\w+)", prompt).group(1)  # type: ignore[union-attr]
        requests_by_stage[stage] = requests_by_stage.get(stage, 0) + 1
        repairing = len(body["messages"]) > 2
        if "haunted lighthouse" in prompt and stage == "tools":
            return Reply(content='{"tools": {"open_tour": {"description": "x"}}}')  # never valid
        if stage == "domain" and not repairing:
            return Reply(content="Sure! Here is a great design for your salon.")  # not JSON at all
        if stage == "tools" and not repairing:
            return Reply(content="```json\n" + json.dumps(broken_tools) + "\n```")
        return Reply(content=json.dumps(replies[stage]))

    return script


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in ("synthesis", "servers", "manifests"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def generated(project: Path, name: str) -> dict[str, bytes]:
    files = [project / f"synthesis/domains/{name}.yaml", project / f"manifests/{name}.json",
             project / f"manifests/{name}.tasks.jsonl", *sorted((project / "servers" / name).glob("*.*"))]  # fmt: skip
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in files}


def synth(project: Path, url: str, *args: str) -> int:
    return main(["--root", str(project), "synth", "--model", "openai/scripted", "--api-base", url, "--api-key", "k", *args])


@pytest.mark.e2e
def test_a_domain_name_becomes_a_tested_served_environment(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls: dict[str, int] = {}
    with scripted_llm(llm_script(calls)) as llm:
        assert synth(project, llm.url, "--from-name", "pet grooming salon") == 0
        out = capsys.readouterr().out
        assert "pet_grooming_salon: 6 LLM call(s), 0 from cache" in out and "tests passed" in out
        assert calls == {"domain": 2, "entities": 1, "tools": 2, "seed": 1}
        # the problems were fed back to the model with their paths
        repair = next(r for r in llm.requests if "Stage: tools" in r["messages"][1]["content"] and len(r["messages"]) > 2)
        assert "unknown field 'stauts' on entity 'appointment'" in repair["messages"][-1]["content"]
        first = generated(project, "pet_grooming_salon")

        manifest = json.loads(first["manifests/pet_grooming_salon.json"])
        assert manifest["quality"]["passed"] and manifest["tasks"]["count"] >= 30
        provenance = manifest["provenance"]
        assert provenance["model"] == "openai/scripted" and provenance["seed"] == 0
        assert provenance["repair_rounds"] == {"domain": 1, "entities": 0, "tools": 1, "seed": 0, "gate": 0}
        assert set(provenance["prompt_templates"]) == {"domain", "entities", "tools", "seed"}

        before = len(llm.requests)
        assert synth(project, llm.url, "--from-name", "pet grooming salon") == 0
        assert len(llm.requests) == before  # every call came from the cache
        assert "0 LLM call(s), 6 from cache" in capsys.readouterr().out
        assert generated(project, "pet_grooming_salon") == first

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "scaleenv_mcp", "--root", str(project), "serve", "pet_grooming_salon"]
    )

    async def use_it() -> None:
        with anyio.fail_after(30):
            async with Client(params) as client:
                assert "book_appointment" in {t.name for t in (await client.list_tools()).tools}
                spec = yaml.safe_load((project / "synthesis/domains/pet_grooming_salon.yaml").read_text())
                assert spec["provenance"]["from_name"] == "pet grooming salon"
                result = await client.call_tool("list_groomers", {"active": True})
                assert not result.is_error and result.structured_content["count"] >= 1  # type: ignore[index]

    anyio.run(use_it)


def test_a_domain_that_never_validates_is_reported_not_shipped(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls: dict[str, int] = {}
    with scripted_llm(llm_script(calls)) as llm:
        assert synth(project, llm.url, "--from-name", "haunted lighthouse tours", "--max-repairs", "2") == 1
    err = capsys.readouterr().err
    assert "haunted lighthouse tours: the tools stage never validated after 2 repair round(s)" in err
    assert "tools.open_tour" in err
    assert calls["tools"] == 3
    assert not (project / "synthesis/domains/haunted_lighthouse_tours.yaml").exists()
    assert not (project / "servers/haunted_lighthouse_tours").exists()


def test_near_duplicate_names_are_skipped_and_reported(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = project / "names.txt"
    names.write_text("pet grooming salon\n# a comment\nPet Grooming Salons\n\n")
    with scripted_llm(llm_script({})) as llm:
        assert synth(project, llm.url, "--from-names", str(names)) == 0
    out = capsys.readouterr().out
    assert "skipped 'Pet Grooming Salons': near-identical to 'pet grooming salon'" in out
    assert out.count("LLM call(s)") == 1


@pytest.mark.e2e
def test_a_dead_endpoint_gives_one_clear_error(project: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scaleenv_mcp", "--root", str(project), "synth", "--from-name", "bakery", "--model",
         "openai/x", "--api-base", f"http://127.0.0.1:{free_port()}/v1", "--api-key", "k", "--max-repairs", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "the model could not be reached" in proc.stderr and "Connection error" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_names_synthesized_on_ray_give_the_same_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = tmp_path / "names.txt"
    names.write_text("pet grooming salon\nhaunted lighthouse tours\n")
    runs = {}
    for mode in ("here", "ray"):
        project = tmp_path / mode
        for folder in ("synthesis", "servers", "manifests"):
            shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
        with scripted_llm(llm_script({})) as llm:
            extra = ["--ray"] if mode == "ray" else []
            assert synth(project, llm.url, "--from-names", str(names), "--max-repairs", "1", *extra) == 1  # one never validates
        err = capsys.readouterr().err
        assert "haunted lighthouse tours: the tools stage never validated" in err and "1 domain(s) not shipped" in err
        runs[mode] = generated(project, "pet_grooming_salon") | {"index": (project / "manifests/index.json").read_bytes()}
        assert not (project / "servers/haunted_lighthouse_tours").exists()
    assert runs["ray"] == runs["here"]
