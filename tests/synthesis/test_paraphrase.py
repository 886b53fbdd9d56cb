"""``scaleenv tasks --paraphrase MODEL``: a model rewords the requests (the scripted endpoint on
127.0.0.1 plays it); a rewording that loses a fact is not kept; answers are cached."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from scaleenv_mcp.cli import main
from scaleenv_mcp.spec.task import TaskSpec
from scaleenv_mcp.synthesis.paraphrase import missing_facts, required_facts

from ..conftest import ROOT
from ..llm_server import Reply, free_port, scripted_llm


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for folder in ("synthesis", "servers", "manifests"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


_calls = itertools.count()


def reword(body: dict[str, Any]) -> Reply:
    """Every other request loses its email; the rest are reworded with every fact kept."""
    text = body["messages"][0]["content"].split("Request: ", 1)[1]
    if next(_calls) % 2 and "@" in text:
        return Reply(content=re.sub(r"[\w.+-]+@[\w.-]+\w", "my usual address", text))
    return Reply(content="Hello! " + text.replace("Hi, I'm", "this is").replace("Please", "Could you please"))


def run(project: Path, url: str, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], str]:
    code = main(["--root", str(project), "tasks", "retail", "--count", "6", "--json",
                 "--paraphrase", "openai/scripted", "--api-base", url, "--api-key", "k"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def test_rewordings_that_keep_every_fact_replace_the_template_and_the_rest_do_not(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(project), "tasks", "retail", "--count", "6", "--json"]) == 0
    originals = {t["id"]: TaskSpec.model_validate(t) for t in json.loads(capsys.readouterr().out)}
    with scripted_llm(reword) as llm:
        tasks, err = run(project, llm.url, capsys)
        assert len(llm.requests) == 6
        again, err_again = run(project, llm.url, capsys)
        assert len(llm.requests) == 6 and again == tasks  # every answer came from the cache
    kept = [t for t in tasks if t["instruction"] != originals[t["id"]].instruction]
    lost = [t for t in tasks if t["instruction"] == originals[t["id"]].instruction]
    assert kept and lost
    for t in kept:
        original = originals[t["id"]]
        assert t["instruction"].startswith("Hello! ") and not missing_facts(original, t["instruction"])
        assert t["checks"] == [c.model_dump(mode="json") for c in original.checks]  # the rewording changes no check
    for t in lost:
        assert "the paraphrase lost" in err and f"{t['id']}:" in err
    assert f"paraphrased {len(kept)} of 6 tasks (6 LLM calls, 0 from cache)" in err
    assert "(0 LLM calls, 6 from cache)" in err_again


def test_the_facts_a_rewording_must_keep() -> None:
    task = TaskSpec.model_validate(
        {"id": "x-1", "domain": "x", "kind": "action", "instruction": "Hi, I'm Samir Olsen; my email is samir@x.org. "
         "I'd like to order 5 of the product called The Brave Compass for 2026-03-20 at 10:00, business class.",
         "initial_state": {"seed": 0}, "checks": [], "solution": [{"tool": "book", "arguments": {"cabin": "business", "n": 5}}],
         "difficulty": {}}
    )  # fmt: skip
    facts = required_facts(task)
    for fact in ("samir@x.org", "Samir Olsen", "Brave Compass", "2026-03-20 at 10:00", "5", "business"):
        assert fact in facts, (fact, facts)
    assert missing_facts(task, "Samir Olsen here (samir@x.org): 5 x Brave Compass, 2026-03-20 at 10:00, business.") == []
    assert missing_facts(task, "Samir Olsen here (samir@x.org): some Brave Compass, 2026-03-20 at 10:00, business.") == ["5"]


def test_a_dead_endpoint_is_one_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--root", str(project), "tasks", "retail", "--count", "1", "--paraphrase", "openai/x",
                 "--api-base", f"http://127.0.0.1:{free_port()}/v1", "--api-key", "k"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "the model could not be reached" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_rewording_that_rambles_on_is_not_kept(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def ramble(body: dict[str, Any]) -> Reply:  # every fact kept, buried in 20,000 characters
        text = body["messages"][0]["content"].split("Request: ", 1)[1]
        return Reply(content=text + " and so on" * 2_000)

    with scripted_llm(ramble) as llm:
        tasks, err = run(project, llm.url, capsys)
    assert "paraphrased 0 of 6 tasks" in err and "characters; at most" in err
    assert all(len(t["instruction"]) < 1_000 for t in tasks)
