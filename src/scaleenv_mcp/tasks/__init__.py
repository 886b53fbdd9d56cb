"""The tasks layer: task generation by graph expansion, checks derived from effects, and the grader."""

from __future__ import annotations

from .generate import generate_tasks, persona_tool
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
