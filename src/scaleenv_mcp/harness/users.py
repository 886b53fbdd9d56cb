"""A scripted user: no LLM, the same replies every run, so tasks with held-back facts run end to end.

It opens with what the user says first, gives a held-back fact when the agent's message names it
("could you tell me your email?"), says "yes, please go ahead" to a question about anything else
(a few times at most), and stops when the agent answers without asking. The oracle, the tests
and any evaluation without ``--user-sim`` use it on tasks that hold facts back.
"""

from __future__ import annotations

from ..spec.task import TaskSpec
from .loop import STOP

__all__ = ["ScriptedUser"]

_GO_AHEADS = 3


class ScriptedUser:
    def __init__(self, task: TaskSpec) -> None:
        self.task = task
        self.revealed: list[str] = []
        self._go_aheads = 0

    async def __call__(self, agent_text: str | None) -> str:
        if agent_text is None:
            return self.task.opening or self.task.instruction
        text = agent_text.lower()
        asked = [about for about in self.task.hidden if about.lower() in text and about not in self.revealed]
        if asked:
            self.revealed += asked
            return " ".join(self.task.hidden[a] for a in asked)
        if text.rstrip().endswith("?") and self._go_aheads < _GO_AHEADS:
            self._go_aheads += 1
            return "Yes, please go ahead with what I asked."
        return STOP
