"""A tool call's result as MCP shows it: one spelling for the server, the NeMo Gym routes, the
in-process harness and the replies to messages the SDK cannot read, so an agent sees the same text
whichever path answered it."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from ..engine.runtime import ToolResult

__all__ = ["text_content", "tool_result", "tool_text"]


def tool_result(result: ToolResult) -> types.CallToolResult:
    """A runtime result as MCP shows it: the row as JSON (and structured), or the error's code,
    message and details; in-process agents are shown exactly the same text."""
    if result.ok:
        return types.CallToolResult(content=[text_content(result.data)], structured_content=result.data)
    assert result.error is not None
    message = f"{result.error.code}: {result.error.message}"
    payload = {"error": result.error.code, "message": result.error.message, **result.error.details}
    return types.CallToolResult(content=[types.TextContent(type="text", text=message), text_content(payload)], is_error=True)


def tool_text(result: types.CallToolResult) -> str:
    """What an agent reads of a result: its text parts, joined."""
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def text_content(data: Any) -> types.TextContent:
    return types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False, sort_keys=False))
