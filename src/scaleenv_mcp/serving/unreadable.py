"""Replies to the messages the MCP SDK cannot read.

The SDK parses a message with pydantic before anything of ours sees it. Over stdio, a line it cannot
parse is dropped without a reply, and the client waits for ever; over HTTP, on the session
revisions, it answers 400 with the parser's own text (several lines that echo the input back, or
"recursion limit exceeded" for arguments nested past pydantic's depth). Such a message is read here
again, leniently, and answered the way every other path answers it: a tool call whose arguments
break a bound gets the ``invalid_arguments`` tool error that ``execute`` gives (a lone surrogate,
nesting, size), any other request an error with its id and one line that says why, and a message
without a usable id (not JSON, a batch, an id of another type) an error with a null id.

Nothing here runs on a message the SDK reads: the lenient read happens only after its parser
refused one, so a well-formed call is parsed once, as before.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.shared.message import SessionMessage

from ..engine.bounds import argument_problem, printable
from ..engine.runtime import ToolError, ToolResult
from .tool_results import tool_result

__all__ = ["UnreadableLines", "answer_refused_lines", "refused_unreadable", "serve_answering", "unreadable_request_reply"]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""a JSON escape of a UTF-16 surrogate: the only way JSON text can spell a string UTF-8 cannot carry"""

MAX_DIGITS = 4_300
"""digits of an integer read back (Python's own limit on converting text to int)"""

_TOO_LONG = object()
"""what an integer past :data:`MAX_DIGITS` reads as"""


def unreadable_request_reply(raw: bytes | str) -> dict[str, Any]:
    """The JSON-RPC reply to a message the SDK's parser refused (see the module's docstring).

    The tool error is built by :func:`.tool_results.tool_result`, as every other one is, so a client
    cannot tell which parser refused its call."""
    long_numbers: list[int] = []

    def number(text: str) -> Any:
        if len(text.lstrip("-")) > MAX_DIGITS:
            long_numbers.append(len(text.lstrip("-")))
            return _TOO_LONG  # no id, no argument: never echoed, never taken for a value
        return int(text)

    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    too_deep = False
    try:
        message = json.loads(text, parse_int=number)
    except RecursionError:  # deeper than Python's reader goes: the top level still names the request
        message, too_deep = _top_level(text), True
    except ValueError:
        return _error(None, types.PARSE_ERROR, "parse error: not JSON this server can read")
    if isinstance(message, list):
        return _error(None, types.INVALID_REQUEST, "invalid request: one JSON-RPC message at a time (batches are not supported)")
    if not isinstance(message, dict):
        return _error(None, types.PARSE_ERROR, "parse error: not JSON this server can read")
    if not isinstance(message.get("method"), str):
        return _error(None, types.INVALID_REQUEST, "invalid message: neither a request nor a notification this server can read")
    if "id" not in message:
        return _error(None, types.INVALID_REQUEST, "invalid request: a notification this server cannot read")
    request_id = message["id"]
    if not _usable_id(request_id):
        return _error(None, types.INVALID_REQUEST, "invalid request: the id must be a whole number or a string")
    if message.get("jsonrpc") != "2.0":
        return _error(request_id, types.INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
    params = message.get("params")
    if params is not None and not isinstance(params, dict):
        return _error(request_id, types.INVALID_PARAMS, "invalid params: params must be an object")
    if too_deep:
        problem: str | None = "nested deeper than this server reads"
    elif long_numbers:
        problem = f"a number of {max(long_numbers):,} digits: at most {MAX_DIGITS:,} are read"
    else:
        arguments = params.get("arguments") if params is not None else None
        problem = argument_problem(arguments) if isinstance(arguments, dict) else None
    if message["method"] == "tools/call" and problem is not None:
        result = tool_result(ToolResult(False, error=ToolError("invalid_arguments", problem)))
        return {"jsonrpc": "2.0", "id": request_id, "result": result.model_dump(by_alias=True, exclude_none=True, mode="json")}
    if problem is None and _SURROGATE_ESCAPE.search(text.encode("utf-8", "replace")):
        problem = "text that is not valid Unicode (a lone surrogate)"
    why = problem or f"this {printable(message['method'], 60)!r} request does not have the form its method takes"
    return _error(request_id, types.INVALID_PARAMS, f"invalid params: {why}")


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}:,]|[^\s\[\]{}:,"]+', re.DOTALL)
"""a JSON string (an unterminated one runs to the end: matched once, never tried again from each of
its quotes, which made the scan quadratic), a structural character, or a bare scalar"""

_MAX_TOKENS = 2_000_000
"""tokens :func:`_top_level` reads at most: more than a whole HTTP body holds (1 MiB; under a second
for the worst one measured, 0.2-0.5 s for most)"""


_WANTED = frozenset({"jsonrpc", "id", "method"})
"""the top-level members a reply needs"""


def _top_level(text: str) -> dict[str, Any] | None:
    """The top-level object's ``jsonrpc``, ``id`` and ``method`` of a message nested past what
    :func:`json.loads` reads, found without recursing; None when it is not an object. Only those
    members' values are decoded, so the cost is about the regular expression's, linear in the text
    (a stdio line longer than :data:`_MAX_TOKENS` tokens has its id past them not found)."""
    found: dict[str, Any] = {}
    depth, key, expect_value = 0, None, False
    for count, match in enumerate(_TOKEN.finditer(text)):
        if count >= _MAX_TOKENS:
            break
        token = match.group()
        if token in "[{":
            if depth == 0 and token == "[":
                return None
            depth += 1
            expect_value = False
        elif token in "]}":
            depth -= 1
            if depth == 0:
                break
        elif depth != 1:
            continue
        elif token == ":":
            expect_value = key is not None
        elif token == ",":
            key, expect_value = None, False
        elif expect_value:
            if key in _WANTED:
                with contextlib.suppress(ValueError):
                    found[str(key)] = json.loads(token)
            key, expect_value = None, False
        elif token.startswith('"'):
            key = token[1:-1] if "\\" not in token and len(token) > 1 and token.endswith('"') else _decoded(token)
    if depth == 0 and not found:
        return None
    found.setdefault("params", {})
    return found


def _decoded(token: str) -> str | None:
    if len(token) < 2 or not token.endswith('"'):
        return None  # unterminated: no key (and no exception raised per token)
    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _usable_id(value: Any) -> bool:
    """An id a reply can carry back: a whole number (not true or false) or a string that prints as itself."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and printable(value, len(value)) == value


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def refused_unreadable(reply: bytes, request: bytes) -> bool:
    """Whether an SDK reply (over HTTP, with status 400) is its refusal of a ``request`` its parser
    could not read: a JSON-RPC error without an id, for a body the SDK's own parser refuses. (A 400
    without an id also answers a readable request sent without its session: that one stands.)"""
    try:
        error = json.loads(reply)
    except ValueError:
        return False
    if not isinstance(error, dict) or error.get("id") is not None or not isinstance(error.get("error"), dict):
        return False
    try:
        types.jsonrpc_message_adapter.validate_json(request, by_name=False)
    except ValueError:
        return True
    return False


class UnreadableLines:
    """stdin as the SDK's stdio transport reads it, each line remembered until the transport has
    turned it into a message or a refusal (:func:`answer_refused_lines` takes them in turn)."""

    def __init__(self, lines: AsyncIterable[str]) -> None:
        self.lines = lines
        self.pending: deque[str] = deque()

    async def __aiter__(self) -> AsyncIterator[str]:
        async for line in self.lines:
            self.pending.append(line)
            yield line


async def answer_refused_lines(
    lines: UnreadableLines,
    parsed: ObjectReceiveStream[SessionMessage | Exception],
    replies: ObjectSendStream[SessionMessage],
    onward: ObjectSendStream[SessionMessage | Exception],
) -> None:
    """Pass the transport's messages on to the server; answer each line it refused instead.

    The SDK's reader turns every line into exactly one item, a message or the exception its parser
    raised, in order, so the item and the line it came from are taken together. A blank line is
    nothing to answer."""
    async with onward:
        async for item in parsed:
            line = lines.pending.popleft() if lines.pending else ""
            if not isinstance(item, Exception):
                await onward.send(item)
            elif line.strip():
                reply = unreadable_request_reply(line)
                await replies.send(SessionMessage(types.jsonrpc_message_adapter.validate_python(reply, by_name=False)))


async def serve_answering(
    lines: UnreadableLines,
    parsed: ObjectReceiveStream[SessionMessage | Exception],
    replies: ObjectSendStream[SessionMessage],
    run: Callable[[MemoryObjectReceiveStream[SessionMessage | Exception]], Awaitable[None]],
) -> None:
    """Run ``run(messages)`` (the server, on the messages the transport parsed) while the refused
    lines are answered beside it."""
    onward, messages = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(answer_refused_lines, lines, parsed, replies, onward)
        async with messages:
            await run(messages)
        tg.cancel_scope.cancel()
