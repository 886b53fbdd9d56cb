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
from pathlib import Path
from typing import Any

import pytest
from transformers.utils import get_json_schema

import scaleenv_mcp as se
from scaleenv_mcp.adapters.trl import environment_class, scaleenv_reward
from scaleenv_mcp.serving.server import openai_tools
from scaleenv_mcp.spec.catalog import domain_names
from scaleenv_mcp.spec.paths import ProjectPaths

from ..export.test_exports import _chat_template

TASKS = ["retail-004", "retail-001", "airline-002", "hotel-005", "it_helpdesk-003"]


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
    report = se.evaluate(agent, task_ids=TASKS, out=tmp_path / "run")
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
