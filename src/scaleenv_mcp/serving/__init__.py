"""The serving layer: a domain as an MCP server (tools, resources, prompts) over stdio or streamable HTTP."""

from __future__ import annotations

from .server import (
    EPISODE_META_KEY,
    DomainServer,
    ServeError,
    add_serve_options,
    build_server,
    serve,
    serve_http,
    serve_main,
    serve_stdio,
    tool_definitions,
)

__all__ = [
    "EPISODE_META_KEY",
    "DomainServer",
    "ServeError",
    "add_serve_options",
    "build_server",
    "serve",
    "serve_http",
    "serve_main",
    "serve_stdio",
    "tool_definitions",
]
