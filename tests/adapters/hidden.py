"""An information task whose answer no tool shows: the sum of a customer's order totals.

If the expected value turns up in what an adapter hands the agent or writes for a dataset
(a check's wording, a failed check's "expected ..." detail), a policy could learn the answer
from its reward channel instead of from the tools."""

from __future__ import annotations

import json

import scaleenv_mcp as se

SEARCHED = ("retail", "food_delivery", "airline", "hotel", "car_rental", "retail_banking", "telecom_plans", "library_loans")
"""shipped domains searched in order: a regenerated task set may move the question to another one"""


def _hidden_task() -> tuple[str, str]:
    """The first shipped question whose answer appears in no tool result of its reference (a total)."""
    for name in SEARCHED:
        domain = se.load(name)
        for task in domain.tasks:
            check = next((c for c in task.checks if c.kind == "answer"), None)
            if task.kind != "information" or check is None or len(str(check.value)) < 5:
                continue
            with domain.episode(task) as ep:
                shown = "".join(json.dumps(ep.call(c.tool, c.arguments).data) for c in task.solution)
            if str(check.value) not in shown and str(check.value) not in task.instruction:
                return name, task.id
    raise LookupError(f"no question whose answer no tool shows in {', '.join(SEARCHED)}")


DOMAIN, TASK = _hidden_task()
WRONG_ANSWER = "Your orders come to 800.00 in total."


def expected_value() -> str:
    """The answer check's expected value as text, checked to be absent from the request itself."""
    task = se.load(DOMAIN).task(TASK)
    (answer,) = [c for c in task.checks if c.kind == "answer"]
    text = str(answer.value)
    assert task.kind == "information" and len(text) >= 5 and text not in task.instruction
    return text
