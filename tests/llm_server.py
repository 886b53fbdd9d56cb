"""A small OpenAI-compatible chat-completions server for tests, started on 127.0.0.1.

It is scripted: a function gets each request body and returns what to answer (tool
calls, text, an HTTP error, a delay first). No code of ours is mocked; litellm talks
to it over real HTTP exactly as it would to a provider.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Reply:
    content: str | None = None
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    """fields a proxy adds to the assistant message (token ids, logprobs)"""


Script = Callable[[dict[str, Any]], Reply]


def queue(*replies: Reply) -> Script:
    """Answer with the given replies in order (the last one repeats)."""
    items = list(replies)

    def script(_: dict[str, Any]) -> Reply:
        return items.pop(0) if len(items) > 1 else items[0]

    return script


@dataclass
class ScriptedLLM:
    url: str
    requests: list[dict[str, Any]]


def _app(script: Script, requests: list[dict[str, Any]]) -> Starlette:
    counter = iter(range(1, 1_000_000))

    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        requests.append(body)
        reply = script(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return JSONResponse({"error": {"message": "scripted failure", "type": "server_error"}}, status_code=reply.status)
        n = next(counter)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, **reply.extra}
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{n}_{i}", "type": "function",
                 "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                for i, (name, args) in enumerate(reply.tool_calls)
            ]  # fmt: skip
        return JSONResponse(
            {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scripted_llm(script: Script) -> Iterator[ScriptedLLM]:
    requests: list[dict[str, Any]] = []
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app(script, requests), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("scripted LLM server did not start")
        time.sleep(0.02)
    try:
        yield ScriptedLLM(f"http://127.0.0.1:{port}/v1", requests)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
