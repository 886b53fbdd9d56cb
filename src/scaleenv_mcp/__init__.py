"""scaleenv-mcp: synthesize tool-use environments and serve each one as an MCP server."""

from __future__ import annotations

__version__ = "0.1.0"

from .runtime import ToolError, ToolResult, execute
from .seed import seed_state
from .spec import BlueprintError, DomainSpec, load_blueprint, parse_blueprint
from .state import State, StateDiff, diff

__all__ = [
    "BlueprintError",
    "DomainSpec",
    "State",
    "StateDiff",
    "ToolError",
    "ToolResult",
    "__version__",
    "diff",
    "execute",
    "load_blueprint",
    "parse_blueprint",
    "seed_state",
]
