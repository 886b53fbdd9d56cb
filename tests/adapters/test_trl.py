"""TRL: the generated environment classes pass through what TRL applies to them.

TRL itself needs torch (a GPU stack), so this tests the pieces it uses, from the real packages:
``transformers.utils.get_json_schema`` (how TRL turns each tool method into a schema), a
tokenizer's ``apply_chat_template(tools=[methods])`` (how the tools reach the prompt), and the
calls TRL makes (``factory()``, ``reset(**row)``, ``method(**arguments)``, reward functions
with ``completions`` and ``environments``), replaying real eval trajectories.
"""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers", reason="TRL's schema extraction and chat templates come from transformers")

from transformers.utils import get_json_schema

import scaleenv_mcp as se
from scaleenv_mcp.adapters.trl import environment_class, scaleenv_reward
from scaleenv_mcp.serving.server import openai_tools
from scaleenv_mcp.spec.catalog import domain_names
from scaleenv_mcp.spec.paths import ProjectPaths

from ..conftest import ROOT
from ..export.chat_template import chat_template as _chat_template
from .hidden import DOMAIN, TASK, WRONG_ANSWER, expected_value


def _sample() -> list[str]:
    """Tasks of every kind over four domains (the kinds matter, not which ids a generation gave them)."""
    wanted = [("retail", "action"), ("retail", "information"), ("airline", "information"), ("hotel", "refusal"),
              ("it_helpdesk", "action")]  # fmt: skip
    return [next(t.id for t in se.load(domain).tasks if t.kind == kind) for domain, kind in wanted]


TASKS = _sample()


def test_every_tool_method_yields_our_schema_through_transformers(paths: ProjectPaths) -> None:
    for domain in domain_names(paths):
        env = environment_class(domain)()
        # TRL's own rule: public functions of the class other than reset/get_reward are the tools
        methods = [n for n, _ in inspect.getmembers(type(env), predicate=inspect.isfunction) if n not in ("reset", "get_reward") and not n.startswith("_")]
        ours = {t["function"]["name"]: t["function"] for t in openai_tools(se.load(domain).spec)}
        assert sorted(methods) == sorted(ours), domain
        for name in methods:
            derived = get_json_schema(getattr(env, name))["function"]
            expected = ours[name]
            assert derived["name"] == name and derived["description"] == " ".join(expected["description"].split())
            props = expected["parameters"]["properties"]
            got = derived["parameters"].get("properties", {})
            assert set(got) == set(props), (domain, name)
            for param, spec in props.items():
                assert got[param]["type"] == spec["type"], (domain, name, param)
                assert got[param].get("enum") == spec.get("enum"), (domain, name, param)
                said = " ".join(spec.get("description", param).split())
                if spec["type"] != "array":
                    assert got[param]["description"] == said
                    continue
                # a list says how many items it takes and, for objects, each field (list[dict] cannot)
                assert got[param]["description"].startswith(said) and f"{spec['maxItems']} " in got[param]["description"]
                assert got[param]["items"]["type"] == spec["items"]["type"], (domain, name, param)
                for field in spec["items"].get("properties", {}):
                    assert field in got[param]["description"], (domain, name, param, field)
            assert set(derived["parameters"].get("required", [])) == set(expected["parameters"].get("required", []))


@pytest.mark.parametrize("agent", ["oracle", "noop"])
def test_trl_style_rollouts_pay_what_scaleenv_eval_pays(agent: str, tmp_path: Path) -> None:
    report = se.evaluate(agent, task_ids=TASKS, out=tmp_path / "run", answer_channel="prose")  # TRL grades the final reply
    assert main_export_tasks(tmp_path) == 0
    rows = {r["task_id"]: r for r in map(json.loads, (tmp_path / "tasks" / "prompts.jsonl").read_text().splitlines())}
    for record in report.records:
        env = environment_class(record.domain)()  # TRL: factory()
        assert env.reset(**rows[record.task_id]) is None  # TRL: reset(**row); None leaves the prompt as it is
        messages = json.loads((tmp_path / "run" / record.trajectory).read_text())["messages"]
        results = iter(m["content"] for m in messages if m["role"] == "tool")
        for message in messages:
            for call in message.get("tool_calls") or []:
                text = getattr(env, call["function"]["name"])(**json.loads(call["function"]["arguments"]))
                assert text == next(results)  # the agent reads what it reads over MCP
        assert scaleenv_reward([messages[2:]], environments=[env]) == [record.reward]
        assert env.verification is not None and env.verification.success is record.success


def main_export_tasks(tmp_path: Path) -> int:
    from scaleenv_mcp.cli import main

    return main(["export", "tasks", "retail", "airline", "hotel", "it_helpdesk", "--out", str(tmp_path / "tasks")])


def test_tools_reach_the_prompt_through_a_chat_template_and_bad_calls_read_as_errors() -> None:
    env: Any = environment_class("retail")()
    env.reset(task_id="retail-004")
    tools = [getattr(env, n) for n in se.load("retail").tools]
    text = _chat_template().apply_chat_template([{"role": "user", "content": "hi"}], tools=tools, tokenize=False)
    assert '"name": "find_customer_by_email"' in text and '"email"' in text
    assert env.get_order(order_id="ORD-9999").startswith("not_found")
    assert "order_id" in env.get_order()  # a missing argument is the agent's error, told as over MCP
    other = environment_class("hotel")()
    assert scaleenv_reward(["done"], environments=[object()]) == [None]
    with pytest.raises(RuntimeError, match="reset"):
        getattr(other, next(iter(se.load("hotel").tools)))()  # a tool before reset
    with pytest.raises(ValueError, match="task_id"):
        env.reset(prompt=[])


def test_nothing_the_environment_returns_carries_the_expected_answer() -> None:
    env: Any = environment_class(DOMAIN)()
    shown = [repr(env.reset(task_id=TASK))]
    for call in se.load(DOMAIN).task(TASK).solution:
        shown.append(getattr(env, call.tool)(**call.arguments))
    rewards = scaleenv_reward([[{"role": "assistant", "content": WRONG_ANSWER}]], environments=[env])
    assert rewards == [0.0] and expected_value() not in "".join(shown) + json.dumps(rewards)


def test_the_class_and_an_episode_in_progress_pickle_and_carry_on() -> None:
    """AsyncGRPOTrainer pickles the factory to its workers: the class comes back as itself, and an
    instance mid-episode comes back with its state (the calls so far replayed on the task)."""
    cls = environment_class("retail")
    assert pickle.loads(pickle.dumps(cls)) is cls and environment_class("retail") is cls
    fresh: Any = pickle.loads(pickle.dumps(cls()))
    assert fresh.verification is None
    with pytest.raises(RuntimeError, match="reset"):
        fresh.get_order(order_id="ORD-0001")
    task = se.load("retail").task("retail-004")
    env: Any = cls()
    env.reset(task_id=task.id)
    first, *rest = task.solution
    getattr(env, first.tool)(**first.arguments)
    copy: Any = pickle.loads(pickle.dumps(env))
    assert type(copy) is cls and copy is not env
    for call in rest:  # the copy carries on where the original stood; the original is untouched
        assert getattr(copy, call.tool)(**call.arguments) == getattr(env, call.tool)(**call.arguments)
    assert scaleenv_reward(["Done."], environments=[copy]) == [1.0]
    assert pickle.loads(pickle.dumps(copy)).verification == copy.verification


@pytest.mark.e2e
def test_an_episode_pickled_mid_way_carries_on_in_a_fresh_process() -> None:
    """The worker has never built the class: unpickling builds it from ``ENVIRONMENTS.retail``."""
    task = se.load("retail").task("retail-004")
    first, *rest = task.solution
    again: Any = environment_class("retail")()
    again.reset(task_id=task.id)
    getattr(again, first.tool)(**first.arguments)
    code = (
        "import pickle, sys\n"
        "env = pickle.loads(sys.stdin.buffer.read())\n"
        f"for tool, arguments in {[(c.tool, dict(c.arguments)) for c in rest]!r}:\n"
        "    print(getattr(env, tool)(**arguments))\n"
        "from scaleenv_mcp.adapters.trl import scaleenv_reward\n"
        "print(type(env).__qualname__, scaleenv_reward(['Done.'], environments=[env]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(again), capture_output=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    *texts, last = proc.stdout.decode().strip().splitlines()
    assert last == "ENVIRONMENTS.retail [1.0]"
    assert not any(t.startswith(("error", "not_found", "invalid")) for t in texts)
