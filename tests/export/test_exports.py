"""Exports load back in the libraries that consume them, with each format's rules kept.

Trajectories come from real eval runs (the oracle, noop, and a litellm agent driven by the
scripted endpoint on 127.0.0.1 that talks, calls two tools at once and answers), exported by the
CLI, and read back with ``datasets``, OpenAI's own message types and a transformers chat template.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.cli import main
from scaleenv_mcp.spec.paths import ProjectPaths

from ..llm_server import Reply, queue, scripted_llm
from .chat_template import chat_template

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    se.evaluate("oracle", domains=["retail"], tasks=4, out=root / "oracle")
    se.evaluate("noop", domains=["retail"], tasks=4, out=root / "noop")
    task = se.load("retail").task("retail-001")
    email = re.search(r"[\w.+-]+@[\w.-]+", task.instruction)
    assert email is not None
    replies = queue(
        Reply(content="Let me look you up.", tool_calls=[("find_customer_by_email", {"email": email.group().rstrip(".")}),
                                                          ("find_customer_by_email", {"email": "nobody@example.com"})]),
        Reply(content="Here is what I found.", extra={"token_ids": [1, 2, 3]}),
    )  # fmt: skip
    with scripted_llm(replies) as llm:
        se.evaluate("litellm:openai/m", task_ids=[task.id], api_base=llm.url, api_key="k", out=root / "llm")
    return {"oracle": root / "oracle", "noop": root / "noop", "llm": root / "llm"}


def export(*args: str) -> int:
    return main(["export", *args])


def trajectories(run: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    return [json.loads((run / r["trajectory"]).read_text()) for r in records]


def test_openai_export_matches_openais_message_types_with_arguments_as_json_strings(runs: dict[str, Path], tmp_path: Path) -> None:
    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
    from pydantic import TypeAdapter

    out = tmp_path / "o.jsonl"
    assert export("trajectories", str(runs["oracle"]), str(runs["llm"]), "--to", "openai", "--out", str(out)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5
    message_type, tool_type = TypeAdapter(ChatCompletionMessageParam), TypeAdapter(ChatCompletionToolParam)
    for row, original in zip(rows, trajectories(runs["oracle"]) + trajectories(runs["llm"]), strict=True):
        assert set(row) == {"messages", "tools"}
        for message in row["messages"]:
            message_type.validate_python(message, strict=True)
            assert "token_ids" not in message  # OpenAI refuses unknown keys
        for tool in row["tools"]:
            tool_type.validate_python(tool)
        sent = [c for m in original["messages"] for c in m.get("tool_calls") or []]
        exported = [c for m in row["messages"] for c in m.get("tool_calls") or []]
        assert [json.loads(c["function"]["arguments"]) for c in exported] == [json.loads(c["function"]["arguments"]) for c in sent]
        assert all(isinstance(c["function"]["arguments"], str) for c in exported)


def test_hf_export_loads_with_datasets_arguments_intact_and_renders_through_a_chat_template(runs: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="the chat template check needs transformers")
    out = tmp_path / "t.parquet"
    assert export("trajectories", str(runs["oracle"]), str(runs["llm"]), "--to", "hf", "--out", str(out)) == 0
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert len(ds) == 5 and {"messages", "tools", "reward", "task_id"} <= set(ds.column_names)
    originals = {(t["task_id"], t["agent"]): t for run in ("oracle", "llm") for t in trajectories(runs[run])}
    for row in ds:
        original = originals[(row["task_id"], row["agent"])]
        sent = [json.loads(c["function"]["arguments"]) for m in original["messages"] for c in m.get("tool_calls") or []]
        loaded = [c["function"]["arguments"] for m in row["messages"] for c in m["tool_calls"] or []]
        assert loaded == sent  # objects, exactly: no keys from other calls merged in as nulls
        assert row["tools"] == original["tools"]
    text = chat_template().apply_chat_template(ds[0]["messages"], tools=ds[0]["tools"], tokenize=False)
    first_call = next(c for m in ds[0]["messages"] for c in m["tool_calls"] or [])
    assert json.dumps(first_call["function"]["arguments"]) in text and ds[0]["tools"][0]["function"]["name"] in text


def test_sharegpt_export_alternates_strictly_and_loads_with_datasets(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert export("trajectories", str(runs["oracle"]), str(runs["llm"]), "--to", "sharegpt", "--out", str(out)) == 0
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert len(ds) == 5
    for row in ds:
        roles = [turn["from"] for turn in row["conversations"]]
        # LlamaFactory: human/observation at even positions, gpt/function_call at odd ones, ending on the model
        assert all(r in ("human", "observation") for r in roles[0::2]), roles
        assert all(r in ("gpt", "function_call") for r in roles[1::2]), roles
        assert len(roles) % 2 == 0 and row["system"] and json.loads(row["tools"])[0]["name"]
    llm_row = next(r for r in ds if r["agent"].startswith("litellm"))
    turns = llm_row["conversations"]
    assert [t["from"] for t in turns] == ["human", "function_call", "observation", "gpt"]
    calls = json.loads(turns[1]["value"])  # two calls in one turn: a list, as LlamaFactory reads parallel calls
    assert [c["name"] for c in calls] == ["find_customer_by_email"] * 2 and len(json.loads(turns[2]["value"])) == 2


def test_hermes_export_carries_tools_and_parseable_tool_calls(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "h.jsonl"
    assert export("trajectories", str(runs["oracle"]), "--to", "hermes", "--out", str(out)) == 0
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    for row, original in zip(ds, trajectories(runs["oracle"]), strict=True):
        system, *rest = row["conversations"]
        tools = json.loads(re.search(r"<tools> (.*) </tools>", system["value"]).group(1))  # type: ignore[union-attr]
        assert tools == original["tools"]
        calls = [json.loads(b) for t in rest if t["from"] == "gpt" for b in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", t["value"])]
        expected = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for m in original["messages"] for c in m.get("tool_calls") or []]
        assert [(c["name"], c["arguments"]) for c in calls] == expected
        assert all(t["value"].startswith("<tool_response>") for t in rest if t["from"] == "tool")


def test_hermes_tool_turns_wrap_each_result_with_its_tool_name(runs: dict[str, Path], tmp_path: Path) -> None:
    """Hermes' format: ``<tool_response>{"name": ..., "content": ...}</tool_response>``, a JSON result as a
    JSON value, an error as its text, and parallel calls' results in one tool turn, in call order."""
    out = tmp_path / "h.jsonl"
    assert export("trajectories", str(runs["oracle"]), str(runs["llm"]), "--to", "hermes", "--out", str(out)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    originals = trajectories(runs["oracle"]) + trajectories(runs["llm"])
    wrapped = 0
    for row, original in zip(rows, originals, strict=True):
        names = {c["id"]: c["function"]["name"] for m in original["messages"] for c in m.get("tool_calls") or []}
        results = [(names[m["tool_call_id"]], m["content"]) for m in original["messages"] if m["role"] == "tool"]
        tool_turns = [t["value"] for t in row["conversations"] if t["from"] == "tool"]
        blocks = [b for value in tool_turns for b in re.findall(r"<tool_response>\n(.*?)\n</tool_response>", value, re.S)]
        assert "".join(tool_turns).count("<tool_response>") == len(blocks) == len(results)
        for block, (name, text) in zip(blocks, results, strict=True):
            response = json.loads(block)
            assert set(response) == {"name", "content"} and response["name"] == name
            assert response["content"] == (json.loads(text) if text.lstrip().startswith(("{", "[")) else text)
            wrapped += 1
    assert wrapped >= 10
    llm_turns = [t["from"] for t in rows[-1]["conversations"]]
    assert llm_turns.count("tool") == 1  # the two parallel calls' results: one turn with two blocks
    errors = [json.loads(b)["content"] for t in rows[-1]["conversations"] if t["from"] == "tool"
              for b in re.findall(r"<tool_response>\n(.*?)\n</tool_response>", t["value"], re.S)]  # fmt: skip
    assert isinstance(errors[0], dict) and isinstance(errors[1], str) and errors[1].startswith("not_found")


def test_filters_keep_only_what_was_asked(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.jsonl"
    assert export("trajectories", str(runs["oracle"]), str(runs["noop"]), "--to", "openai", "--out", str(out)) == 0
    assert len(out.read_text().splitlines()) == 8
    assert export("trajectories", str(runs["oracle"]), str(runs["noop"]), "--to", "openai", "--out", str(out), "--success-only") == 0
    assert len(out.read_text().splitlines()) == 4
    assert export("trajectories", str(runs["noop"]), "--to", "openai", "--out", str(tmp_path / "none.jsonl"), "--min-reward", "0.5") == 2
    assert "nothing written" in capsys.readouterr().err and not (tmp_path / "none.jsonl").exists()
    assert export("trajectories", str(tmp_path), "--to", "openai") == 2
    assert "no results.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_task_export_keeps_checks_and_solutions_out_of_the_prompt_split(fmt: str, tmp_path: Path) -> None:
    assert main(["export", "tasks", "retail", "airline", "--to", fmt, "--out", str(tmp_path)]) == 0
    loader = "json" if fmt == "jsonl" else "parquet"
    prompts = datasets.load_dataset(loader, data_files=str(tmp_path / f"prompts.{fmt}"), split="train")
    grading = datasets.load_dataset(loader, data_files=str(tmp_path / f"grading.{fmt}"), split="train")
    loaded = {name: se.load(name) for name in ("retail", "airline")}
    stored = {t.id: t for domain in loaded.values() for t in domain.tasks}
    assert sorted(prompts["task_id"]) == sorted(grading["task_id"]) == sorted(stored)
    assert set(prompts.column_names) == {"task_id", "domain", "split", "kind", "difficulty", "prompt", "tools"}
    from scaleenv_mcp.compiler.pipeline import task_split

    for row in (*prompts, *grading):  # each row carries its task's split, decided by its seed
        assert row["split"] == task_split(loaded[row["domain"]].spec, stored[row["task_id"]])
    assert {r["split"] for r in grading} == {"train", "validation", "test"}
    for row in prompts:
        task = stored[row["task_id"]]
        assert row["prompt"][1] == {"role": "user", "content": task.instruction}
        answer_tool = {"submit_answer"} if task.kind == "information" else set()  # a question's typed answer channel
        assert {t["function"]["name"] for t in row["tools"]} == set(loaded[task.domain].tools) | answer_tool
        assert task.actor is None or task.actor not in json.dumps(row)
    for row in grading:
        task = stored[row["task_id"]]
        assert [c["tool"] for c in row["solution"]] == [c.tool for c in task.solution]
        assert len(row["checks"]) == len(task.checks)


def test_publish_writes_server_json_that_the_registry_schema_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], paths: ProjectPaths
) -> None:
    from importlib.resources import files

    import jsonschema

    pytest.importorskip("skillsaw", reason="the registry's schema files come with skillsaw")
    schema = json.loads((files("skillsaw.schemas.mcp_registry") / "v2025_12_11" / "server.schema.json").read_text())
    assert main(["publish", "--all", "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*/server.json"))
    assert len(written) == len(json.loads((paths.manifests / "index.json").read_text())["domains"])
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    for path in written:
        data = json.loads(path.read_text())
        assert not list(validator.iter_errors(data)), path
        assert data["$schema"].endswith("/2025-12-11/server.schema.json")
        training = data["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["scaleenv"]
        assert training["deterministic"] and training["reward"]["modes"] == ["fraction", "binary", "product"]
        assert training["spec_sha256"] == se.load(path.parent.name).spec.content_hash()
    before = {p: p.read_bytes() for p in written}
    assert main(["publish", "--all", "--out", str(tmp_path)]) == 0
    assert {p: p.read_bytes() for p in written} == before and "(unchanged)" in capsys.readouterr().out
    assert main(["publish", "retail", "--namespace", "not a namespace/x", "--out", str(tmp_path / "bad")]) == 2
    assert "reverse-DNS" in capsys.readouterr().err and not (tmp_path / "bad").exists()
