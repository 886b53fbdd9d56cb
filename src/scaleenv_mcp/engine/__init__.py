"""The engine layer: SQLite state with snapshots and an undo journal, seeding, and ``execute``.

``execute(state, tool, arguments)`` is the one seam through which the MCP server, the task
verifier, the procedural tests and the benchmarks all run tools.
"""

from __future__ import annotations

from .diff import RowChange, StateDiff, TableDiff, diff
from .runtime import ToolError, ToolResult, execute
from .seed import SeedError, seed_state
from .state import State

__all__ = [
    "RowChange",
    "SeedError",
    "State",
    "StateDiff",
    "TableDiff",
    "ToolError",
    "ToolResult",
    "diff",
    "execute",
    "seed_state",
]
