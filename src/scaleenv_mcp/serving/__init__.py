"""The serving layer: a domain as an MCP server (tools, resources, prompts) over stdio or streamable HTTP.

Names load on first use, so that importing ``scaleenv_mcp.serving.options`` (the CLI's parser)
does not import the MCP SDK.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .options import add_serve_options
    from .server import (
        CONTROL_TOKEN_ENV,
        HANDLE_SCOPE_KEY,
        DomainServer,
        ServeError,
        ServerMode,
        ServerPlan,
        build_server,
        serve,
        serve_main,
        serve_stdio,
        tool_definitions,
    )

__all__ = [
    "CONTROL_TOKEN_ENV",
    "HANDLE_SCOPE_KEY",
    "DomainServer",
    "ServeError",
    "ServerMode",
    "ServerPlan",
    "add_serve_options",
    "build_server",
    "serve",
    "serve_main",
    "serve_stdio",
    "tool_definitions",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'scaleenv_mcp.serving' has no attribute {name!r}")
    value = getattr(import_module(".options" if name == "add_serve_options" else ".server", __name__), name)
    globals()[name] = value
    return value
