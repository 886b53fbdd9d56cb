"""``scaleenv eval`` as users run it: real stdio servers, a scripted OpenAI-compatible LLM on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scaleenv_mcp.cli import main
from scaleenv_mcp.harness.results import EpisodeRecord, pass_hat_k, summarize
from scaleenv_mcp.spec.catalog import load_domain_tasks
from scaleenv_mcp.spec.task import TaskSpec

from ..conftest import PATHS, ROOT, SHIPPED, rotation
from ..llm_server import Reply, queue, scripted_llm


def run_eval(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict[str, Any]:
    assert main(["--root", str(ROOT), "eval", "--json", *args]) == code
    return dict(json.loads(capsys.readouterr().out))


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.e2e
def test_oracle_succeeds_and_noop_fails_on_every_domain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In process on every domain; as an external agent does (a stdio subprocess per episode, two
    trials) on the day's rotation of four (``tests/conftest.py``), since a subprocess per episode per
    domain was most of this tier's time."""
    every = run_eval(capsys, "--agent", "oracle", "--tasks", "1", "--concurrency", "2", "--out", str(tmp_path / "i"))
    assert sorted(every["domains"]) == sorted(SHIPPED) and every["overall"]["pass@1"] == 1.0
    domains = [arg for d in rotation(SHIPPED, 4, salt="eval") for arg in ("--domain", d)]
    oracle = run_eval(capsys, "--agent", "oracle", *domains, "--tasks", "1", "--trials", "2", "--concurrency", "2", "--out",
                      str(tmp_path / "o"), "--isolation", "process")  # fmt: skip
    assert len(oracle["domains"]) == 4
    assert oracle["overall"]["pass@1"] == 1.0 and oracle["overall"]["pass^2"] == 1.0
    assert oracle["overall"]["episodes"] == 1 * 2 * len(oracle["domains"]) and oracle["overall"]["infra_faults"] == 0
    noop = run_eval(capsys, "--agent", "noop", "--tasks", "1", "--concurrency", "2", "--out", str(tmp_path / "n"))
    assert noop["overall"]["pass@1"] == 0.0
    assert all(m["pass@1"] == 0.0 for m in noop["domains"].values())


@pytest.mark.e2e
def test_random_agent_is_a_floor_and_leaves_trajectories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    summary = run_eval(capsys, "--agent", "random", "--domain", "retail", "--tasks", "4", "--out", str(out))
    assert summary["overall"]["pass@1"] < 0.5
    for record in records(out):
        trajectory = json.loads((out / record["trajectory"]).read_text())
        assert record["steps"] == sum(1 for m in trajectory["messages"] if m["role"] == "tool") > 0


def multi_step_task(domain: str = "retail") -> TaskSpec:
    return next(t for t in load_domain_tasks(PATHS, domain) if t.kind == "action" and len(t.solution) >= 3 and not t.hidden)


def test_litellm_agent_completes_a_multi_step_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = multi_step_task()
    replies = [Reply(tool_calls=[(c.tool, c.arguments)]) for c in task.solution] + [Reply(content="All done for you.")]
    out = tmp_path / "llm"
    with scripted_llm(queue(*replies)) as llm:
        summary = run_eval(
            capsys, "--agent", "litellm:openai/scripted-model", "--task-ids", task.id,
            "--api-base", llm.url, "--api-key", "test-key", "--out", str(out),
        )  # fmt: skip
    assert summary["overall"]["pass@1"] == 1.0
    (record,) = records(out)
    # the scripted user every task has ends the talk on a reply without a question
    assert record["agent"] == "litellm:openai/scripted-model" and record["termination"] == "user_stopped"
    assert record["tokens"] == {"prompt": 100 * len(replies), "completion": 20 * len(replies)}
    messages = json.loads((out / record["trajectory"]).read_text())["messages"]
    assert [m["role"] for m in messages] == ["system", "user"] + ["assistant", "tool"] * len(task.solution) + ["assistant"]
    calls = [m["tool_calls"][0]["function"] for m in messages if m.get("tool_calls")]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [(c.tool, c.arguments) for c in task.solution]
    assert messages[1]["content"] == task.instruction and messages[-1]["content"] == "All done for you."
    # the model was given the MCP tools as functions and the policy as the system prompt
    first = llm.requests[0]
    assert {t["function"]["name"] for t in first["tools"]} >= {c.tool for c in task.solution}
    assert "Identify the customer by email" in first["messages"][0]["content"]


def test_conversational_mode_with_a_simulated_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = multi_step_task()
    email = next(iter(task.user.values()))
    agent_turns = [Reply(content="Sure, what is your email?")]
    agent_turns += [Reply(tool_calls=[(c.tool, c.arguments)]) for c in task.solution] + [Reply(content="Done.")]
    user_turns = [Reply(content="Hi, I need help with an order."), Reply(content=f"It is {email}."), Reply(content="###STOP###")]

    def script(body: dict[str, Any]) -> Reply:
        turns = agent_turns if body.get("tools") else user_turns
        return turns.pop(0)

    out = tmp_path / "conv"
    with scripted_llm(script) as llm:
        summary = run_eval(
            capsys, "--agent", "litellm:openai/agent-model", "--user-sim", "openai/user-model", "--task-ids", task.id,
            "--api-base", llm.url, "--api-key", "k", "--out", str(out),
        )  # fmt: skip
    assert summary["overall"]["pass@1"] == 1.0
    (record,) = records(out)
    assert record["user_sim"] == "openai/user-model" and record["termination"] == "user_stopped"
    user_requests = [r for r in llm.requests if not r.get("tools")]
    assert task.instruction in user_requests[0]["messages"][0]["content"]  # only the simulated user holds it
    agent_requests = [r for r in llm.requests if r.get("tools")]
    assert all(task.instruction not in json.dumps(r["messages"]) for r in agent_requests)
    messages = json.loads((out / record["trajectory"]).read_text())["messages"]
    assert messages[1] == {"role": "user", "content": "Hi, I need help with an order."}
    assert {"role": "user", "content": f"It is {email}."} in messages


def test_transient_llm_errors_are_retried(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    task = next(t for t in load_domain_tasks(PATHS, "hotel") if t.kind == "action")
    replies = [Reply(status=503), Reply(status=500)]
    replies += [Reply(tool_calls=[(c.tool, c.arguments)]) for c in task.solution] + [Reply(content="Done.")]
    with scripted_llm(queue(*replies)) as llm:
        # a keyless local server: no --api-key needed
        summary = run_eval(capsys, "--agent", "litellm:openai/m", "--task-ids", task.id, "--api-base", llm.url,
                           "--out", str(tmp_path / "t"))  # fmt: skip
    assert summary["overall"]["pass@1"] == 1.0 and summary["overall"]["infra_faults"] == 0
    assert summary["agent"] == "litellm:openai/m" and summary["model"] == "openai/m"


def test_a_refused_api_key_stops_the_run_with_one_line_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every episode would fail the same way: the run stops at the first, not after retrying each."""
    out = tmp_path / "k"
    with scripted_llm(queue(Reply(status=401))) as llm:
        code = main(["--root", str(ROOT), "eval", "--agent", "litellm:openai/m", "--domain", "retail", "--tasks", "8",
                     "--api-base", llm.url, "--api-key", "wrong", "--out", str(out)])  # fmt: skip
    assert code == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("scaleenv: openai/m: authentication failed: set OPENAI_API_KEY (or pass --api-key)")
    assert "--resume" in line and len(line) < 250 and captured.out == ""
    assert 1 <= len(llm.requests) <= 2  # the episodes already running (--concurrency 2), each asked once
    assert len(records(out)) <= 2


def test_a_missing_api_key_names_the_providers_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["--root", str(ROOT), "eval", "--agent", "litellm:openai/gpt-4o-mini", "--domain", "retail", "--tasks", "4",
                 "--out", str(tmp_path / "m")])  # fmt: skip
    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "set OPENAI_API_KEY" in line


@pytest.mark.e2e
def test_a_dead_llm_endpoint_is_an_infrastructure_fault_not_an_agent_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ..llm_server import free_port

    task = multi_step_task()
    summary = run_eval(capsys, "--agent", "litellm:openai/m", "--task-ids", task.id, "--api-base",
                       f"http://127.0.0.1:{free_port()}/v1", "--api-key", "k", "--out", str(tmp_path / "d"), code=1)  # fmt: skip
    assert summary["overall"]["infra_faults"] == 1 and summary["overall"]["tasks"] == 0
    assert summary["overall"]["pass@1"] is None
    (fault,) = summary["infra_faults"]
    assert fault["kind"] == "llm_error" and "failed after 4 attempts" in fault["message"]


@pytest.mark.e2e
def test_a_slow_llm_times_out_as_an_infrastructure_fault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = multi_step_task()
    with scripted_llm(queue(Reply(content="late", delay=3))) as llm:
        summary = run_eval(capsys, "--agent", "litellm:openai/m", "--task-ids", task.id, "--api-base", llm.url,
                           "--api-key", "k", "--llm-timeout", "0.5", "--out", str(tmp_path / "s"), code=1)  # fmt: skip
    (fault,) = summary["infra_faults"]
    assert fault["kind"] == "llm_error"


@pytest.mark.e2e
def test_a_crashing_server_is_an_infrastructure_fault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder in ("servers", "manifests"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "synthesis" / "domains").mkdir(parents=True)
    spec_file = tmp_path / "servers/retail/spec.json"
    spec_file.write_text(spec_file.read_text().replace('"count": 24', '"count": 23'))  # the server refuses to start
    assert main(["--root", str(tmp_path), "eval", "--json", "--agent", "oracle", "--domain", "retail", "--tasks", "1",
                 "--out", str(tmp_path / "c")]) == 1  # every episode an infrastructure fault: exit 1  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert summary["overall"]["infra_faults"] == 1 and summary["infra_faults"][0]["kind"] == "server_crash"


def test_pass_hat_k_follows_its_definition() -> None:
    assert pass_hat_k(4, 2, 1) == 0.5 and pass_hat_k(4, 2, 2) == 1 / 6 and pass_hat_k(3, 3, 3) == 1.0
    rows = [
        EpisodeRecord(domain="d", task_id="a", agent="x", trial=t, success=s, reward=float(s), infra_error=None)
        for t, s in [(1, True), (2, True), (3, False)]
    ] + [EpisodeRecord.model_validate({"domain": "d", "task_id": "b", "agent": "x", "trial": 1, "success": False,
                                       "reward": 0.0, "infra_error": {"kind": "timeout", "message": ""}})]  # fmt: skip
    overall = summarize(rows, k_max=2).summary_json()["overall"]
    assert overall["tasks"] == 1 and overall["infra_faults"] == 1
    assert overall["pass@1"] == round(2 / 3, 4) and overall["pass^2"] == round(1 / 3, 4)


@pytest.mark.e2e
def test_a_killed_run_resumes_to_the_same_records(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "scaleenv_mcp", "--root", str(ROOT), "eval", "--agent", "oracle",
               "--domain", "retail", "--domain", "library_loans", "--tasks", "3", "--concurrency", "1",
               "--isolation", "process"]  # fmt: skip
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*command, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not ((killed / "results.jsonl").exists() and len(records(killed)) >= 2):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = records(killed)
    assert 2 <= len(partial) < 6
    subprocess.run([*command, "--out", str(killed), "--resume"], check=True, capture_output=True, timeout=300)
    whole = tmp_path / "whole"
    subprocess.run([*command, "--out", str(whole)], check=True, capture_output=True, timeout=300)

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["domain"], r["task_id"], r["trial"], r["success"], r["reward"], r["steps"], r["termination"])

    assert sorted(map(key, records(killed))) == sorted(map(key, records(whole)))
    assert len(records(killed)) == 6  # the finished ones were not run again
    refused = subprocess.run([*command, "--out", str(whole)], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--resume" in refused.stderr


def test_an_agents_malformed_arguments_are_its_failure_not_an_infrastructure_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = multi_step_task()
    first = task.solution[0]
    surrogate = '{"email": "\\ud800"}'  # a lone surrogate: not valid Unicode text on the wire
    deep = '{"email": ' + "[" * 250 + "]" * 250 + "}"
    replies = [Reply(tool_calls=[(first.tool, surrogate)]), Reply(tool_calls=[(first.tool, deep)]),
               Reply(tool_calls=[(first.tool, "{not json")]), Reply(content="I could not do it.")]  # fmt: skip
    out = tmp_path / "bad"
    with scripted_llm(queue(*replies)) as llm:
        summary = run_eval(capsys, "--agent", "litellm:openai/m", "--task-ids", task.id, "--api-base", llm.url,
                           "--out", str(out))  # fmt: skip
    assert summary["overall"]["infra_faults"] == 0 and summary["overall"]["pass@1"] == 0.0
    (record,) = records(out)
    assert record["termination"] == "user_stopped" and record["infra_error"] is None
    tool_replies = [m["content"] for m in json.loads((out / record["trajectory"]).read_text())["messages"] if m["role"] == "tool"]
    assert "not valid JSON text" in tool_replies[0] and "nested deeper than 32" in tool_replies[1]
    assert "not a JSON object" in tool_replies[2]


@pytest.mark.e2e
def test_in_process_episodes_give_the_same_results_as_a_process_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--agent", "oracle", "--domain", "hotel", "--domain", "retail", "--tasks", "3"]
    inproc = run_eval(capsys, *common, "--out", str(tmp_path / "a"))
    process = run_eval(capsys, *common, "--isolation", "process", "--out", str(tmp_path / "b"))
    assert inproc["options"]["isolation"] == "inproc" and process["options"]["isolation"] == "process"
    assert inproc["overall"] == process["overall"] and inproc["overall"]["pass@1"] == 1.0

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["task_id"], r["success"], r["reward"], r["steps"], [c["passed"] for c in r["checks"]])

    assert sorted(map(key, records(tmp_path / "a"))) == sorted(map(key, records(tmp_path / "b")))


def test_fresh_tasks_from_new_seeds_are_won_by_the_oracle_and_not_by_doing_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``eval --seeds A-B`` runs tasks generated on the spot from states no stored task starts from."""
    stored = {t.id for t in load_domain_tasks(PATHS, "hotel")}
    for agent, reward in (("oracle", 1.0), ("noop", 0.0)):
        out = tmp_path / agent
        code = main(["--root", str(ROOT), "eval", "--agent", agent, "--domain", "hotel", "--seeds", "90-91", "--tasks", "2",
                     "--out", str(out), "--json"])  # fmt: skip
        assert code == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["overall"]["episodes"] == 4 and summary["overall"]["mean_reward"] == reward
        ids = {json.loads(line)["task_id"] for line in (out / "results.jsonl").read_text().splitlines()}
        assert ids.isdisjoint(stored) and {i.split("-")[1] for i in ids} == {"s90", "s91"}
    assert main(["--root", str(ROOT), "eval", "--agent", "oracle", "--seeds", "1-2", "--isolation", "process"]) == 2
    assert "--seeds runs fresh tasks in process" in capsys.readouterr().err
