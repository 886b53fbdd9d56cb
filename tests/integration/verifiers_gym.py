"""Run inside a venv with the real ``verifiers`` package (it pins mcp 2.0.0, so it cannot share ours).

Usage: python verifiers_gym.py BASE_URL ROWS.jsonl RUN_DIR

Loads the rows with verifiers' own ``NeMoGymTaskset``, seeds each task through
``NeMoGymTask.setup`` (``POST /seed_session``), replays the eval trajectory's tool calls through
the session's MCP endpoint with verifiers' own MCP client helper, records the replies as a
trace and scores it with the task's ``nemo_gym`` reward (``trace_to_nemo_response`` +
``POST /verify``). Prints one JSON line per task: task id, reward, metrics, tool texts.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import verifiers.v1 as vf
from verifiers.v1.graph import MessageNode
from verifiers.v1.harnesses.utils.mcp import mcp_client
from verifiers.v1.tasksets.nemo_gym.taskset import NeMoGymConfig, NeMoGymTaskConfig, NeMoGymTaskset
from verifiers.v1.tasksets.nemo_gym.toolset import NeMoGymState
from verifiers.v1.trace import AgentInfo, Trace, TraceTask
from verifiers.v1.types import AssistantMessage, SystemMessage, ToolCall, ToolMessage, UserMessage


def message(m: dict[str, Any]) -> Any:
    if m["role"] == "system":
        return SystemMessage(content=m["content"])
    if m["role"] == "user":
        return UserMessage(content=m["content"])
    if m["role"] == "tool":
        return ToolMessage(tool_call_id=m["tool_call_id"], content=m["content"])
    calls = [ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"]["arguments"]) for c in m.get("tool_calls") or []]
    return AssistantMessage(content=m.get("content"), tool_calls=calls or None)


async def main(base: str, rows: Path, run: Path) -> None:
    config = NeMoGymConfig(dataset=rows, task=NeMoGymTaskConfig(resources_url=base))
    tasks = {t.data.row["task_id"]: t for t in NeMoGymTaskset(config).load()}
    for line in (run / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        task = tasks[record["task_id"]]
        messages = json.loads((run / record["trajectory"]).read_text())["messages"]
        trace: Any = Trace(task=TraceTask(type=type(task).__name__, data=task.data), agent=AgentInfo(config=vf.AgentConfig()), state=NeMoGymState())
        await task.setup(trace, None)  # POST /seed_session with the row; the cookie and MCP endpoint land in the state
        state = trace.state
        assert state.mcp_url, "the resources server named no MCP endpoint"
        texts: list[str] = []
        parent = None
        async with mcp_client({"url": state.mcp_url, "headers": state.mcp_headers, "timeout": 30, "connect_timeout": 30}) as client:
            for m in messages:
                if m["role"] == "tool":
                    continue  # the tool results come from the server below, not from the old run
                node = MessageNode(parent=parent, message=message(m), sampled=m["role"] == "assistant")
                trace.nodes.append(node)
                parent = len(trace.nodes) - 1
                for call in m.get("tool_calls") or []:
                    result = await client.call_tool(call["function"]["name"], json.loads(call["function"]["arguments"]))
                    text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
                    texts.append(text)
                    trace.nodes.append(MessageNode(parent=parent, message=ToolMessage(tool_call_id=call["id"], content=text)))
                    parent = len(trace.nodes) - 1
        reward = await task.nemo_gym(trace)  # verifiers' reward: the trace as a Responses object, POST /verify
        print(json.dumps({"task_id": record["task_id"], "reward": reward, "metrics": trace.metrics, "texts": texts}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
