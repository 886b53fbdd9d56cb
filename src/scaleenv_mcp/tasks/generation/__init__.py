"""Verifiable tasks, generated as a pipeline of named stages.

A task is built the way a support conversation unfolds: a user wants one or more things done.
Read the stages in order:

1. :mod:`.draft`: the candidate under construction, for a user drawn at random and looked up;
2. :mod:`.goals`: one strategy per kind of goal (action, information, aggregate, refusal) adds
   the user's requests and the reference calls that meet them;
3. :mod:`.assembly`: the checks, the words, the facts held back, the TaskSpec;
4. :mod:`.acceptance`: named rules a candidate must pass, each giving a reason when it does not;
5. :mod:`.generator`: :func:`generate_tasks`, the loop that balances the :mod:`.mix` and counts
   what it kept and rejected in a :class:`GenerationReport`.

The chain is executed on a fork of the initial state; checks are derived from what actually
changed, and a task is kept only if every step succeeded and its checks pass on the end state and
fail on the initial state.
"""

from __future__ import annotations

from .acceptance import Rejection
from .draft import initial_state_ref, persona_tool
from .generator import GenerationReport, generate_tasks
from .mix import DEFAULT_MIX, TaskMix

__all__ = [
    "DEFAULT_MIX",
    "GenerationReport",
    "Rejection",
    "TaskMix",
    "generate_tasks",
    "initial_state_ref",
    "persona_tool",
]
