"""Requests reworded by a model, kept only when every fact the task needs survives.

The generated wording is grammatical but regular; a model can make it read like many different
people. A model can also drop or change a fact (an email, a quantity, a date, the name of the
thing to cancel), and then the task would ask for something else than its checks pay. So each
paraphrase is checked mechanically: every fact of the original (emails, numbers, dates, codes,
names, and every argument value of the reference solution that the original states) must appear
in it word for word, or the original wording stays. Answers are cached like synthesis calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from ..llm import ModelOptions, ResponseCache, add_usage, complete
from ..spec.task import TaskSpec

__all__ = ["Paraphrased", "missing_facts", "paraphrase_tasks", "required_facts"]

_PROMPT = (
    "Rewrite this request to a customer-service agent the way a real customer might say it: your own words and "
    "sentence order, natural and brief. Keep every name, email, number, date, time and code exactly as written, "
    "and keep every request in it. Reply with the rewritten request only.\n\nRequest: {text}"
)
_GROWTH, _MIN_LIMIT = 3, 600
"""a rewording may be at most three times the original's length (600 characters at least)"""
_FACT_PATTERNS = [
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),  # emails
    re.compile(r"\d{4}-\d{2}-\d{2}(?: at \d{2}:\d{2})?"),  # dates and times
    re.compile(r"(?<![\w.@-])\+?[\w-]*\d[\w.-]*(?<![.-])"),  # numbers, amounts, codes, phone numbers
    re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b"),  # names of people and things
]


@dataclass
class Paraphrased:
    task: TaskSpec
    kept: bool
    missing: list[str]
    """facts the model's wording lost (empty when kept)"""


def required_facts(task: TaskSpec) -> list[str]:
    """What a rewording must still say, word for word."""
    text = task.instruction
    facts: list[str] = []
    for pattern in _FACT_PATTERNS:
        facts += pattern.findall(text)
    facts = [f.removeprefix("Hi ").removeprefix("The ") for f in facts]
    for call in task.solution:
        for value in call.arguments.values():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                word = str(value)
                if re.search(rf"(?<![\w@.-]){re.escape(word)}(?![\w@-])", text):
                    facts.append(word)
    return sorted(set(facts), key=facts.index)


def missing_facts(task: TaskSpec, candidate: str) -> list[str]:
    return [f for f in required_facts(task) if f not in candidate]


async def _one(task: TaskSpec, model: str, cache: ResponseCache, seed: int, options: ModelOptions) -> tuple[str, int, int]:
    messages = [{"role": "user", "content": _PROMPT.format(text=task.instruction)}]
    key = cache.key(model, messages, seed, api_base=options.api_base)
    hit = cache.get(key)
    if hit is not None:
        return str(hit["text"]), 0, 1
    response = await complete(model, messages, seed=seed, options=options)
    tokens = {"prompt": 0, "completion": 0}
    cost = add_usage(response, tokens)
    text = (response.choices[0].message.content or "").strip()
    cache.put(key, {"text": text, "tokens": tokens, "cost": cost})
    return text, 1, 0


def paraphrase_tasks(
    tasks: Sequence[TaskSpec],
    *,
    model: str,
    cache_dir: Path,
    seed: int = 0,
    llm: ModelOptions | None = None,
    concurrency: int = 4,
    on_task: Callable[[Paraphrased], None] | None = None,
) -> tuple[list[Paraphrased], dict[str, int]]:
    """Each task with the model's wording if it keeps every fact, else unchanged; and the call counts.

    Raises :class:`~scaleenv_mcp.llm.LLMError` when the model cannot be reached."""
    cache = ResponseCache(cache_dir)
    options = llm or ModelOptions()
    results: list[Paraphrased | None] = [None] * len(tasks)
    counts = {"calls": 0, "cached": 0}
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def run(i: int, task: TaskSpec) -> None:
        async with limiter:
            text, called, cached = await _one(task, model, cache, seed, options)
        counts["calls"] += called
        counts["cached"] += cached
        limit = max(_MIN_LIMIT, _GROWTH * len(task.instruction))
        if not text:
            missing = ["(an empty reply)"]
        elif len(text) > limit:  # a reply that rambles on is not a request a user would write
            missing = [f"(a reply of {len(text):,} characters; at most {limit:,})"]
        else:
            missing = missing_facts(task, text)
        done = Paraphrased(task.model_copy(update={"instruction": text}) if not missing else task, not missing, missing)
        results[i] = done
        if on_task is not None:
            on_task(done)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for i, task in enumerate(tasks):
                tg.start_soon(run, i, task)

    try:
        anyio.run(main)
    except BaseExceptionGroup as group:  # one unreachable model fails every call alike: say it once
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [r for r in results if r is not None], counts
