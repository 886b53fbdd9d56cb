"""One task as a person reads it: who calls and why, what they say first, what they keep back, the
turns that test the agent, the reference solution and what the grader checks.

A task file is JSON made for machines; someone choosing tasks to train on, or checking that a
generated conversation is one a person would have, needs the brief, the script and the reference
side by side (``scaleenv tasks DOMAIN --show ID``, and the README's sample conversations).
"""

from __future__ import annotations

import json
from typing import Any

from ..spec.task import CheckSpec, TaskSpec, opening_message

__all__ = ["show_task"]


def _call(tool: str, arguments: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items())
    return f"{tool}({args})"


def _check(check: CheckSpec) -> str:
    return check.description if check.kind != "no_other_changes" else "nothing else changed (a gate: otherwise no reward)"


def show_task(task: TaskSpec) -> str:
    """The task as Markdown: brief, script, reference solution and checks."""
    traits = ", ".join(t.replace("_", " ") for t in task.traits) or "none"
    seed = task.initial_state.get("seed")
    lines = [f"**{task.id}** ({task.kind}; traits: {traits}; state seed {seed})", ""]
    script = task.script
    if script is not None:
        lines += [f"- **Who calls:** {script.persona}", f"- **Why:** {script.reason}"]
    lines.append(f"- **Says first:** {opening_message(task)}")
    for about, sentence in task.hidden.items():
        lines.append(f"- **Says only when asked for the {about}:** {sentence}")
    if script is not None and script.change_of_mind is not None:
        change = script.change_of_mind
        lines.append(f"- **Changes their mind:** first asks \"{change.first}\"; when the agent proposes it "
                     f"(or by their message {change.turn}), says \"{change.then}\"")  # fmt: skip
    if script is not None and script.push_back is not None:
        lines.append(f"- **Pushes back once after a no:** {script.push_back}")
    if task.refused is not None:
        lines.append(f"- **Must not be done (the policy forbids it):** `{_call(task.refused.tool, task.refused.arguments)}`")
    lines += ["- **Reference solution:**", *(f"  {i}. `{_call(c.tool, c.arguments)}`" for i, c in enumerate(task.solution, 1))]
    lines += ["- **Checks:**", *(f"  - {_check(c)}" for c in task.checks if c.kind != "reason")]
    return "\n".join(lines) + "\n"
