"""Eval trajectories as training data, in the four shapes trainers read.

Each shape has its own rules, and getting one wrong fails silently at training time, so they
are spelled out here and tested by loading each file back with its consumer:

- ``openai``: OpenAI fine-tuning JSONL. ``messages`` + ``tools``; tool-call arguments are a
  JSON *string*; only the keys OpenAI accepts are kept (a proxy's token ids and logprobs are
  not, since the upload would be refused).
- ``hf``: a Parquet file for ``datasets``/TRL. ``messages`` with arguments as *objects* and a
  ``tools`` column. Arguments differ in shape from call to call, which Arrow would merge into one
  struct (every call gaining every other call's keys as nulls); they are stored with the
  ``datasets.Json`` feature, so each loads back exactly as it was.
- ``sharegpt``: LlamaFactory's ShareGPT with tools: ``conversations`` of ``human``,
  ``gpt``, ``function_call``, ``observation`` in strict alternation (human/observation at even
  positions, gpt/function_call at odd ones, ending on the model's turn), ``system`` and
  ``tools`` (a JSON string). Consecutive turns of one side are merged to keep the alternation.
- ``hermes``: the Hermes function-calling ShareGPT (NousResearch ``hermes-function-calling-v1``):
  ``system`` lists the tools in ``<tools>``, calls are ``<tool_call>`` blocks holding
  ``{"name", "arguments"}`` in ``gpt`` turns, and results are ``<tool_response>`` blocks holding
  ``{"name", "content"}`` (the tool's name and its result, a JSON value where the result is JSON)
  in ``tool`` turns, the results of one turn's parallel calls together in one ``tool`` turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ScaleenvError
from ..harness.results import EpisodeRecord, latest_records

__all__ = ["FORMATS", "ExportError", "Trajectory", "export_trajectories", "hf_features", "hf_row", "read_trajectories"]

Format = Literal["openai", "hf", "sharegpt", "hermes"]
FORMATS: tuple[Format, ...] = ("openai", "hf", "sharegpt", "hermes")
SUFFIX: dict[Format, str] = {"openai": ".jsonl", "hf": ".parquet", "sharegpt": ".json", "hermes": ".jsonl"}

_OPENAI_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name"}


class ExportError(ScaleenvError):
    """Nothing sensible to export (no runs, no records pass the filter, a missing extra)."""

    default_status = 400


@dataclass(frozen=True)
class Trajectory:
    """One finished episode: its record (reward, success) and its OpenAI-format conversation."""

    record: EpisodeRecord
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]


def read_trajectories(
    runs: Iterable[Path], *, success_only: bool = False, min_reward: float | None = None
) -> Iterator[Trajectory]:
    """Episodes from eval run folders (``results.jsonl`` + ``trajectories/``), filtered.

    Infrastructure faults are never exported: they are not the agent's behaviour. When a run
    was resumed, the last record of an episode is the one that counts.
    """
    for run in runs:
        results = run / "results.jsonl"
        if not results.is_file():
            raise ExportError(f"{run}: no results.jsonl (pass a folder written by `scaleenv eval --out`)")
        try:
            latest = latest_records(results)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
        for record in latest.values():
            if record.infra_error is not None or not record.trajectory:
                continue
            if success_only and not record.success:
                continue
            if min_reward is not None and record.reward < min_reward:
                continue
            path = (run / record.trajectory).resolve()
            if not path.is_relative_to(run.resolve()) or not path.is_file():
                raise ExportError(f"{run}: trajectory {record.trajectory!r} of {record.task_id} is missing")
            data = json.loads(path.read_text(encoding="utf-8"))
            yield Trajectory(record, list(data.get("messages") or []), list(data.get("tools") or []))


def export_trajectories(trajectories: Iterable[Trajectory], to: Format, out: Path) -> int:
    """Write ``trajectories`` to ``out`` in format ``to``; return how many were written."""
    rows = [row for t in trajectories if (row := _ROW[to](t)) is not None]
    if not rows:
        raise ExportError("no episode passed the filter; nothing written")
    out.parent.mkdir(parents=True, exist_ok=True)
    if to == "hf":
        _write_hf(rows, out)
    elif to == "sharegpt":
        out.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    else:
        with out.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def _arguments(call: dict[str, Any]) -> Any:
    raw = call.get("function", {}).get("arguments", "{}")
    if isinstance(raw, str):
        try:
            return json.loads(raw or "{}")
        except json.JSONDecodeError:
            return raw  # what the model wrote, malformed as it was: the trainer should see it as is
    return raw


def _openai(t: Trajectory) -> dict[str, Any]:
    messages = []
    for message in t.messages:
        kept = {k: v for k, v in message.items() if k in _OPENAI_KEYS}
        if kept.get("tool_calls"):
            kept["tool_calls"] = [
                {
                    "id": c.get("id"),
                    "type": "function",
                    "function": {
                        "name": c.get("function", {}).get("name"),
                        "arguments": c["function"]["arguments"]
                        if isinstance(c.get("function", {}).get("arguments"), str)
                        else json.dumps(_arguments(c), ensure_ascii=False),
                    },
                }
                for c in kept["tool_calls"]
            ]
        messages.append(kept)
    return {"messages": messages, "tools": t.tools}


def _meta(t: Trajectory) -> dict[str, Any]:
    r = t.record
    return {"domain": r.domain, "task_id": r.task_id, "agent": r.agent, "trial": r.trial, "reward": r.reward, "success": r.success}


def hf_row(t: Trajectory) -> dict[str, Any]:
    """One ``hf`` row: the episode's record fields, its messages with arguments as objects, its tools."""
    messages = []
    for message in t.messages:
        calls = [
            {"id": c.get("id") or "", "type": "function", "function": {"name": c.get("function", {}).get("name") or "", "arguments": _arguments(c)}}
            for c in message.get("tool_calls") or []
        ]  # fmt: skip
        messages.append(
            {
                "role": message["role"],
                "content": message.get("content") if isinstance(message.get("content"), str) else None,
                "tool_calls": calls or None,
                "tool_call_id": message.get("tool_call_id"),
            }
        )
    return {**_meta(t), "messages": messages, "tools": t.tools}


def hf_features(datasets: Any) -> Any:
    """The ``datasets`` features of :func:`hf_row` (also the ``hf-dataset`` folder's): arguments and
    tools as ``Json``, since they differ in shape from call to call."""
    text = datasets.Value("string")
    call = {"id": text, "type": text, "function": {"name": text, "arguments": datasets.Json()}}
    return datasets.Features(
        {
            "domain": text,
            "task_id": text,
            "agent": text,
            "trial": datasets.Value("int64"),
            "reward": datasets.Value("float64"),
            "success": datasets.Value("bool"),
            "messages": datasets.List({"role": text, "content": text, "tool_calls": datasets.List(call), "tool_call_id": text}),
            "tools": datasets.List(datasets.Json()),
        }
    )


def _write_hf(rows: list[dict[str, Any]], out: Path) -> None:
    try:
        import datasets
    except ImportError:
        raise ExportError("--to hf needs the `datasets` package: pip install 'scaleenv-mcp[export]'") from None
    datasets.disable_progress_bars()  # a file write, not a long job: no bar in the CLI's output
    datasets.Dataset.from_list(rows, features=hf_features(datasets)).to_parquet(str(out))


def _content(message: dict[str, Any]) -> str:
    raw = message.get("content")
    return raw if isinstance(raw, str) else ""


def _turns(t: Trajectory) -> tuple[str, list[tuple[str, str]]]:
    """The system text and the (ShareGPT role, value) turns of a conversation."""
    system = ""
    turns: list[tuple[str, str]] = []
    for message in t.messages:
        role = message.get("role")
        content = _content(message)
        if role == "system":
            system = f"{system}\n\n{content}".strip()
        elif role == "user":
            turns.append(("human", content))
        elif role == "tool":
            turns.append(("observation", content))
        elif role == "assistant":
            calls = message.get("tool_calls") or []
            if calls:
                payload = [{"name": c.get("function", {}).get("name"), "arguments": _arguments(c)} for c in calls]
                turns.append(("function_call", json.dumps(payload[0] if len(payload) == 1 else payload, ensure_ascii=False)))
            elif content:
                turns.append(("gpt", content))
    return system, turns


_MODEL_SIDE = {"gpt", "function_call"}


def _sharegpt(t: Trajectory) -> dict[str, Any] | None:
    system, turns = _turns(t)
    merged: list[tuple[str, list[str]]] = []
    for kind, value in turns:
        if merged and (merged[-1][0] in _MODEL_SIDE) == (kind in _MODEL_SIDE):
            previous_kind, values = merged[-1]
            if previous_kind == kind:
                values.append(value)  # parallel results, or two user lines in a row
            else:  # text then a call in one model turn: the call is what acts; the later turn wins
                merged[-1] = (kind, [value])
            continue
        merged.append((kind, [value]))
    while merged and merged[0][0] != "human":
        merged.pop(0)
    while merged and merged[-1][0] not in _MODEL_SIDE:
        merged.pop()
    if not merged:
        return None
    conversations = [
        {"from": kind, "value": json.dumps(values, ensure_ascii=False) if kind == "observation" and len(values) > 1 else "\n\n".join(values)}
        for kind, values in merged
    ]  # fmt: skip
    tools = [tool.get("function", tool) for tool in t.tools]
    return {"conversations": conversations, "system": system, "tools": json.dumps(tools, ensure_ascii=False), **_meta(t)}


def _tool_content(text: str) -> Any:
    """A result as Hermes' ``content``: the JSON value when the text is JSON (a tool's data), else the text
    (an error message)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _hermes(t: Trajectory) -> dict[str, Any]:
    tools = json.dumps(t.tools, ensure_ascii=False)
    conversations: list[dict[str, str]] = []
    policy = ""
    names: dict[str, str] = {}  # tool call id -> tool name, for the results that answer them
    for message in t.messages:
        role = message.get("role")
        content = _content(message)
        if role == "system":
            policy = f"{policy}\n\n{content}".strip()
        elif role == "user":
            conversations.append({"from": "human", "value": content})
        elif role == "assistant":
            blocks = [content] if content else []
            for c in message.get("tool_calls") or []:
                call = {"name": c.get("function", {}).get("name"), "arguments": _arguments(c)}
                names[str(c.get("id"))] = str(call["name"])
                blocks.append(f"<tool_call>\n{json.dumps(call, ensure_ascii=False)}\n</tool_call>")
            conversations.append({"from": "gpt", "value": "\n".join(blocks)})
        elif role == "tool":
            name = message.get("name") or names.get(str(message.get("tool_call_id")), "")
            response = json.dumps({"name": name, "content": _tool_content(content)}, ensure_ascii=False)
            block = f"<tool_response>\n{response}\n</tool_response>"
            if conversations and conversations[-1]["from"] == "tool":  # parallel calls: one turn of results
                conversations[-1]["value"] += "\n" + block
            else:
                conversations.append({"from": "tool", "value": block})
    system = (
        "You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. "
        "You may call one or more functions to assist with the user query. Don't make assumptions about what values to "
        f"plug into functions. Here are the available tools: <tools> {tools} </tools> For each function call return a json "
        "object with function name and arguments within <tool_call></tool_call> XML tags.\n\n" + policy
    )
    return {"conversations": [{"from": "system", "value": system}, *conversations], **_meta(t)}


_ROW = {"openai": _openai, "hf": hf_row, "sharegpt": _sharegpt, "hermes": _hermes}
