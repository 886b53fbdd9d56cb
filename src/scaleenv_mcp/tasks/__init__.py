"""The tasks layer: task generation by graph expansion, checks derived from effects, and the grader.

Names load on first use: a server needs the grader, not the generator (which imports networkx),
and `scaleenv serve` starts that much sooner.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .generation import generate_tasks, persona_tool
    from .grader import CheckResult, Verification, evaluate_checks, format_answer_value, verify_states

__all__ = [
    "CheckResult",
    "Verification",
    "evaluate_checks",
    "format_answer_value",
    "generate_tasks",
    "persona_tool",
    "verify_states",
]

_HOME = {"generate_tasks": ".generation", "persona_tool": ".generation"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'scaleenv_mcp.tasks' has no attribute {name!r}")
    value = getattr(import_module(_HOME.get(name, ".grader"), __name__), name)
    globals()[name] = value
    return value
