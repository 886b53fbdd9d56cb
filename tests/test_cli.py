"""The ``scaleenv`` command as a user runs it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scaleenv_mcp.cli import main

from .conftest import REPRODUCED, ROOT, SHIPPED
from .llm_server import Reply, scripted_llm


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for folder in ("servers", "manifests")
        for p in sorted((root / folder).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's inputs and generated files, safe to regenerate."""
    for folder in ("synthesis", "servers", "manifests"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.mark.e2e
@pytest.mark.parametrize("domain", REPRODUCED)
def test_synth_reproduces_the_committed_files_byte_for_byte(domain: str, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One domain per test, so the tier spreads over the cores; the day's rotation (``tests/conftest.py``)
    picks which, so that over days every domain's generated files are recompiled."""
    committed = tree_bytes(project)
    shutil.rmtree(project / "servers" / domain)
    for generated in (project / "manifests").glob(f"{domain}.*"):
        generated.unlink()
    (project / "manifests/index.json").unlink()
    (project / "servers/__init__.py").unlink()
    assert main(["--root", str(project), "synth", domain]) == 0
    assert tree_bytes(project) == committed
    index = json.loads((project / "manifests/index.json").read_text())
    assert len(index["domains"]) >= 12


@pytest.mark.e2e
def test_a_second_synth_rewrites_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On the committed corpus a synth finds the domain up to date (its build stamp matches) and
    compiles nothing; forced, it compiles and still changes no byte."""
    committed = tree_bytes(project)
    assert main(["--root", str(project), "synth", "retail"]) == 0
    assert "retail: up to date" in capsys.readouterr().out
    assert tree_bytes(project) == committed
    assert main(["--root", str(project), "synth", "retail", "--force"]) == 0
    assert "0 file(s) changed" in capsys.readouterr().out
    assert tree_bytes(project) == committed


def test_a_broken_blueprint_is_rejected_and_nothing_is_written(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_bytes(project)
    blueprint = project / "synthesis/domains/retail.yaml"
    blueprint.write_text(blueprint.read_text().replace("ref: customer}", "ref: client}", 1))
    assert main(["--root", str(project), "synth", "retail"]) == 2  # invalid blueprint: 2; a gate failure: 1
    err = capsys.readouterr().err
    assert "retail.yaml: invalid blueprint" in err and "unknown entity 'client'" in err
    assert tree_bytes(project) == before


@pytest.mark.e2e
def test_synth_from_a_blueprint_path_adds_a_domain(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (project / "synthesis/domains/retail.yaml").read_text().replace("name: retail", "name: corner_shop", 1)
    path = project / "corner_shop.yaml"
    path.write_text(source)
    assert main(["--root", str(project), "synth", "--blueprint", str(path)]) == 0
    assert (project / "servers/corner_shop/spec.json").is_file()
    assert "corner_shop: 5 entities" in capsys.readouterr().out
    assert main(["--root", str(project), "list", "--json"]) == 0
    names = [d["name"] for d in json.loads(capsys.readouterr().out)["domains"]]
    assert "corner_shop" in names and "retail" in names


def test_list_shows_every_shipped_domain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "list"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out


@pytest.mark.parametrize(("client", "key"), [("claude", "mcpServers"), ("cursor", "mcpServers"), ("vscode", "servers")])
def test_client_config_registers_the_stdio_server(client: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "client-config", "hotel", "--client", client]) == 0
    entry = json.loads(capsys.readouterr().out)[key]["scaleenv-hotel"]
    assert entry["args"][-2:] == ["serve", "hotel"]
    assert entry["env"]["SCALEENV_ROOT"] == str(ROOT)
    assert Path(entry["command"]).exists()


@pytest.mark.e2e
def test_unknown_domain_is_a_clear_error_not_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "atlantis"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "no generated domain 'atlantis'" in proc.stderr and "retail" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_hand_edited_generated_spec_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = project / "servers/retail/spec.json"
    spec_file.write_text(spec_file.read_text().replace('"count": 24', '"count": 25'))
    assert main(["--root", str(project), "client-config", "retail"]) == 2
    assert "edited by hand" in capsys.readouterr().err


def test_version_and_help_that_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    import scaleenv_mcp

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"scaleenv-mcp {scaleenv_mcp.__version__}"
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "episodes at once (default: 2)" in text and "results folder (one agent per folder) (default: runs/latest)" in text
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    assert "(default: 48)" in capsys.readouterr().out


def test_output_piped_into_head_ends_quietly() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m scaleenv_mcp graph it_helpdesk | head -n 1", shell=True, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith("it_helpdesk:")
    assert proc.stderr == ""


@pytest.mark.e2e
@pytest.mark.parametrize("args", [["graph", "retail"], ["graph", "retail", "--dot"], ["graph", "airline", "--json"], ["list"]])
def test_a_reader_gone_before_the_output_is_flushed_gets_no_broken_pipe_message(args: list[str]) -> None:
    """What `| head -1` does to buffered output (no PYTHONUNBUFFERED): the only write is the flush
    at the end, after the reader has left. Made certain here by closing the pipe before the start."""
    reader, writer = os.pipe()
    os.close(reader)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    try:
        proc = subprocess.run([sys.executable, "-m", "scaleenv_mcp", *args], stdout=writer, stderr=subprocess.PIPE,
                              cwd=ROOT, env=env, text=True, timeout=60)  # fmt: skip
    finally:
        os.close(writer)
    assert proc.returncode == 0 and proc.stderr == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["eval", "--agent", "oracle", "--tasks", "0"], "argument --tasks: must be at least 1, not 0"),
        (["eval", "--agent", "oracle", "--tasks", "-3"], "argument --tasks: must be at least 1, not -3"),
        (["eval", "--agent", "oracle", "--trials", "0"], "argument --trials: must be at least 1, not 0"),
        (["eval", "--agent", "oracle", "--concurrency", "-1"], "argument --concurrency: must be at least 1"),
        (["eval", "--agent", "oracle", "--timeout", "0"], "argument --timeout: must be a positive number of seconds"),
        (["eval", "--agent", "oracle", "--tasks", "two"], "argument --tasks: 'two' is not a whole number"),
        (["tasks", "retail", "--count", "0"], "argument --count: must be at least 1, not 0"),
        (["synth", "retail", "--tasks", "-1"], "argument --tasks: must be at least 0, not -1"),
        (["serve", "retail", "--http", "--port", "99999"], "argument --port: 99999 is not a port (0 to 65535)"),
        (["serve", "retail", "--http", "--port", "-1"], "argument --port: -1 is not a port"),
        (["serve", "retail", "--http", "--nemo-gym", "--gym-grace-seconds", "0"], "argument --gym-grace-seconds: '0' must be a positive"),
    ],
)
def test_bad_counts_and_ports_are_refused_in_one_line(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert says in line and line.startswith(f"scaleenv {args[0]}: ") and "--help" in line


def test_the_library_refuses_a_count_of_zero_too(tmp_path: Path) -> None:
    import scaleenv_mcp as se

    with pytest.raises(se.EvalError, match="--tasks must be at least 1"):
        se.evaluate("oracle", domains=["retail"], tasks=0, out=tmp_path)


@pytest.mark.e2e
def test_ctrl_c_during_eval_says_what_was_saved_and_how_to_resume(tmp_path: Path) -> None:
    answered: list[int] = []

    def script(_: dict[str, Any]) -> Reply:  # two episodes end at once, the rest hang until interrupted
        answered.append(1)
        return Reply(content="I cannot help with that.") if len(answered) <= 2 else Reply(content="late", delay=60)

    out = tmp_path / "run"
    with scripted_llm(script) as llm:
        args = ["--root", str(ROOT), "eval", "--agent", "litellm:openai/m", "--domain", "retail", "--tasks", "6",
                "--api-base", llm.url, "--api-key", "k", "--out", str(out)]  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-m", "scaleenv_mcp", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(answered) < 4 or not (out / "results.jsonl").is_file() or len((out / "results.jsonl").read_text().splitlines()) < 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted:")]
    assert f"2 finished episode(s) saved in {out / 'results.jsonl'}" in line
    resume = shlex.split(line.split("continue with: ", 1)[1])
    assert resume[0] == "scaleenv" and resume[1:] == [*args[:-3], "KEY", *args[-2:], "--resume"]  # the key is not echoed


def test_eval_records_who_ran_and_refuses_to_mix_agents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["--root", str(ROOT), "eval", "--agent", "oracle", "--domain", "retail", "--tasks", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agent"] == "oracle" and summary["model"] is None
    assert summary["options"]["trials"] == 1 and summary["options"]["domains"] == ["retail"]
    capsys.readouterr()
    assert main(["--root", str(ROOT), "eval", "--agent", "noop", "--domain", "retail", "--tasks", "1", "--out", str(out),
                 "--resume"]) == 2  # fmt: skip
    assert "holds results of another agent (oracle)" in capsys.readouterr().err


def test_the_command_starts_without_importing_the_mcp_sdk_or_litellm() -> None:
    code = (
        "import sys; from scaleenv_mcp.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('mcp', 'litellm', 'networkx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_task_stats_describe_the_stored_mix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "retail", "--stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    kinds = {k: v["count"] for k, v in stats["kinds"].items()}
    assert sum(kinds.values()) == stats["tasks"] == sum(stats["difficulty"].values()) == 48
    assert kinds["refusal"] >= 3 and kinds["information"] >= 3 and stats["write_tools"]["covered"] == stats["write_tools"]["total"]
    decisions = stats["decisions"]  # each refusal on an agent-kept rule has its allowed counterpart
    assert decisions and all(d["refused"] == d["allowed"] >= 1 for d in decisions.values())
    import scaleenv_mcp as se

    refusing = sum(1 for t in se.load("retail").tasks if t.refused is not None)  # refusals and partial refusals
    assert sum(d["refused"] for d in decisions.values()) == refusing >= kinds["refusal"]
    assert main(["tasks", "retail", "--stats"]) == 0
    out = capsys.readouterr().out
    assert "refusal" in out and "policy decisions (agent-kept rules):" in out


@pytest.mark.e2e
def test_task_stats_print_the_candidates_each_acceptance_rule_rejected(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The compiler records the rejections in the manifest's tasks section; --stats reads them from there."""
    from scaleenv_mcp.compiler.pipeline import compile_spec, emit
    from scaleenv_mcp.compiler.proctest import gate
    from scaleenv_mcp.spec.load import load_blueprint
    from scaleenv_mcp.spec.paths import ProjectPaths

    spec = load_blueprint(project / "synthesis/domains/hotel.yaml")
    compiled = compile_spec(spec, tasks=3, report=gate(spec, seeds=1, calls_per_tool=1), allow_failing=True)
    rejected = compiled.generation.rejected_json()
    assert rejected and all(n > 0 for n in rejected.values())
    emit(compiled, ProjectPaths(project), "synthesis/domains/hotel.yaml")
    manifest = json.loads((project / "manifests/hotel.json").read_text())
    assert manifest["tasks"]["rejected"] == rejected and manifest["tasks"]["count"] == 3
    assert main(["--root", str(project), "tasks", "hotel", "--stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rejected"] == rejected
    assert main(["--root", str(project), "tasks", "hotel", "--stats"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "candidates rejected" in x)
    for reason, n in rejected.items():
        assert f"{reason} {n}" in line


def test_task_stats_lines_follow_the_manifests_rejection_counts(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A generation's report, recorded as the compiler records it, is what --stats prints, most frequent first."""
    from scaleenv_mcp.spec.load import load_blueprint
    from scaleenv_mcp.tasks.generation import GenerationReport, generate_tasks

    report = GenerationReport()
    generate_tasks(load_blueprint(project / "synthesis/domains/car_rental.yaml"), count=8, report=report)
    path = project / "manifests/car_rental.json"
    manifest = json.loads(path.read_text())
    manifest["tasks"]["rejected"] = report.rejected_json()
    path.write_text(json.dumps(manifest))
    assert main(["--root", str(project), "tasks", "car_rental", "--stats", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["rejected"]
    assert counts == report.rejected_json() and sum(counts.values()) > 0
    assert list(counts.values()) == sorted(counts.values(), reverse=True)
    assert main(["--root", str(project), "tasks", "car_rental", "--stats"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "candidates rejected" in x)
    assert line.strip() == "candidates rejected, per acceptance rule: " + ", ".join(f"{r} {n}" for r, n in counts.items())
    del manifest["tasks"]["rejected"]  # a manifest written before the counts were recorded says so
    path.write_text(json.dumps(manifest))
    assert main(["--root", str(project), "tasks", "car_rental", "--stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rejected"] is None


def test_tasks_show_prints_the_brief_the_script_the_reference_and_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    import scaleenv_mcp as se
    from scaleenv_mcp.spec.task import opening_message

    tasks = se.load("retail").tasks
    held = next(t for t in tasks if t.hidden)
    acting = next(t for t in tasks if t.kind == "action" and t.id != held.id)
    assert main(["--root", str(ROOT), "tasks", "retail", "--show", held.id, acting.id]) == 0
    out = capsys.readouterr().out
    for task in (held, acting):
        assert f"**{task.id}** ({task.kind}" in out
        assert opening_message(task) in out
        assert all(f"{c.tool}(" in out for c in task.solution)
    assert all(sentence in out for sentence in held.hidden.values())
    assert main(["--root", str(ROOT), "tasks", "retail", "--show", "retail-999"]) == 2
    assert "no stored task 'retail-999' in retail" in capsys.readouterr().err


def test_the_readme_conversations_are_what_tasks_show_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's sample conversations are stored tasks as `scaleenv tasks DOMAIN --show ID` prints them."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- conversations: ([^>]+) -->\n(.*?)<!-- /conversations -->", readme, re.DOTALL)
    assert found is not None, "README.md lost its conversations block"
    ids = found.group(1).split()
    shown = []
    for task_id in ids:
        domain = task_id.rsplit("-", 1)[0]
        assert main(["--root", str(ROOT), "tasks", domain, "--show", task_id]) == 0
        shown.append(capsys.readouterr().out)
    assert len(set(ids)) >= 3 and found.group(2) == "\n".join(shown), "regenerate the block with scaleenv tasks DOMAIN --show ID"


def test_test_renamed_also_gates_each_domain_under_another_name(capsys: pytest.CaptureFixture[str]) -> None:
    """Under another name the seed draws other data, so an example that leaned on the draw would fail
    there (tests/compiler/test_examples.py shows one); the shipped ones hold under both."""
    assert main(["--root", str(ROOT), "test", "hotel", "--renamed", "--seeds", "1", "--calls", "4", "--jobs", "1"]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:] if line and not line.startswith(" ")}
    assert rows == {"hotel": "pass", "other_hotel": "pass"}
