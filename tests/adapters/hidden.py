"""An information task whose answer no tool shows: the sum of a customer's order totals.

If the expected value turns up in what an adapter hands the agent or writes for a dataset
(a check's wording, a failed check's "expected ..." detail), a policy could learn the answer
from its reward channel instead of from the tools."""

from __future__ import annotations

import scaleenv_mcp as se

TASK = "retail-017"
WRONG_ANSWER = "Your orders come to 800.00 in total."


def expected_value() -> str:
    """The answer check's expected value as text, checked to be absent from the request itself."""
    task = se.load("retail").task(TASK)
    (answer,) = [c for c in task.checks if c.kind == "answer"]
    text = str(answer.value)
    assert task.kind == "information" and len(text) >= 5 and text not in task.instruction
    return text
