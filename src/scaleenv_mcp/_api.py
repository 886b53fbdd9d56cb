"""The public API: a compiled domain, its episodes, and the four jobs (load, compile, synthesize, evaluate).

Small on purpose, like Gymnasium's make/reset/step::

    import scaleenv_mcp as se
    domain = se.load("retail")
    ep = domain.episode("retail-002")
    result = ep.call("find_customer_by_email", {"email": "..."})
    saved = ep.snapshot(); ep.restore(saved); ep.reset()
    verdict = ep.verify(answer="...")

Everything here delegates to the layers below; no pipeline logic lives in this module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from .compiler.pipeline import SHIPPED_SEEDS, TASKS_PER_DOMAIN, TASKS_PER_SEED, GateFailed, compile_spec, seeded_tasks
from .compiler.proctest import DomainReport
from .engine.diff import StateDiff
from .engine.runtime import ToolResult
from .episodes.coordinator import Coordinator
from .harness.agents import Agent
from .harness.evaluate import EvalOptions, ModelOptions, run_evaluation
from .harness.results import EpisodeRecord, EvalReport
from .serving.server import DomainServer, ServerPlan
from .spec.catalog import load_domain, load_domain_tasks
from .spec.graph import build_graph
from .spec.load import load_blueprint, parse_blueprint
from .spec.model import DomainSpec, ToolSpec
from .spec.paths import project_paths
from .spec.task import AnswerChannel, RewardMode, TaskSpec, ToolCall
from .synthesis.names import build_name
from .synthesis.proposer import SynthesisFailed
from .tasks.grader import Verification

__all__ = ["Domain", "Episode", "compile_blueprint", "evaluate", "load", "synthesize"]


@dataclass(eq=False)
class Domain:
    """A compiled domain: its spec, tools, verified tasks, dependency graph and seeded initial state."""

    spec: DomainSpec
    tasks: list[TaskSpec]
    report: DomainReport | None = None
    """the procedural tests' verdict, when this domain was compiled here (None when loaded)"""
    _coordinator: Coordinator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._coordinator = Coordinator(self.spec, self.tasks)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tools(self) -> Mapping[str, ToolSpec]:
        return self.spec.tools

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The tool dependency graph (edges carry their reasons: ``data`` and ``enables``)."""
        return build_graph(self.spec)

    def task(self, task_id: str) -> TaskSpec:
        return self._coordinator.task(task_id)

    def episode(self, task: str | TaskSpec | None = None, *, answer_channel: AnswerChannel = "typed") -> Episode:
        """A new episode on the task's initial state, or on the seeded state without a task.

        ``answer_channel``: how a question's answer is graded: ``typed`` (the episode lists the task's
        ``submit_answer`` tool; the submitted value is compared by equality) or ``prose`` (the final
        message given to :meth:`Episode.verify`)."""
        handle = self._coordinator.start(task, channel=answer_channel)  # a generated task starts from its own seed's state too
        return Episode(self._coordinator, handle.id, handle.task)

    def generate_tasks(self, n: int | None = None, *, seeds: Iterable[int] | None = None, per_seed: int = TASKS_PER_SEED) -> Iterator[TaskSpec]:
        """Fresh verified tasks from new states, lazily: ``per_seed`` from each seed in ``seeds``
        (default: every seed after the shipped ones, without end), stopping after ``n`` tasks when
        given. Each task records its seed, starts from the domain seeded with it (pass it to
        :meth:`episode`), and has an id unique across seeds (``<domain>-s<seed>-<nnn>``); its split
        follows from its seed (:func:`~scaleenv_mcp.compiler.pipeline.task_split`). A trainer can draw
        50,000 of them without holding more than one state's tasks at a time."""
        if n is not None and n < 0:
            raise ValueError(f"n must be at least 0 (got {n})")
        chosen = seeds if seeds is not None else itertools.count(self.spec.seed + SHIPPED_SEEDS)
        stream = seeded_tasks(self.spec, chosen, per_seed)
        return stream if n is None else itertools.islice(stream, n)

    def server(self, task: str | None = None) -> DomainServer:
        """This domain as an MCP server object (serve it, or connect ``mcp.Client`` to it in memory)."""
        return ServerPlan.per_connection(self.spec, tasks=self.tasks, task_id=task).build()


class Episode:
    """One run on one domain: its own state, calls, snapshots and verification.

    Use it as a context manager, or call :meth:`close`, to free its state.
    """

    def __init__(self, coordinator: Coordinator, episode_id: str, task: TaskSpec | None) -> None:
        self._coordinator = coordinator
        self.id = episode_id
        self.task = task

    @property
    def instruction(self) -> str | None:
        return self.task.instruction if self.task else None

    def call(self, tool: str, arguments: Mapping[str, Any] | None = None) -> ToolResult:
        """Run one tool call; a failed call (``result.ok`` false, ``result.error`` says why) changes nothing."""
        return self._coordinator.call(self.id, tool, dict(arguments or {}))

    @property
    def calls(self) -> list[ToolCall]:
        return list(self._coordinator.episode(self.id).calls)

    def snapshot(self, name: str | None = None) -> str:
        """Save the current state; returns the name to :meth:`restore` it by (any number of times)."""
        return self._coordinator.snapshot(self.id, name)

    def restore(self, name: str) -> None:
        self._coordinator.restore(self.id, name)

    def reset(self) -> None:
        """Back to the episode's initial state (costs what the episode changed)."""
        self._coordinator.reset(self.id)

    def diff(self) -> StateDiff:
        """What the episode changed so far."""
        return self._coordinator.diff(self.id)

    def verify(self, answer: str | None = None, *, mode: RewardMode = "fraction") -> Verification:
        """Reward (in ``mode``; every mode is in ``rewards``), success and per-check detail for the current
        state, what the agent was shown and submitted, and its final message ``answer``."""
        return self._coordinator.verify(self.id, answer, mode=mode)

    def close(self) -> None:
        if self.id in self._coordinator.episodes:
            self._coordinator.end(self.id)

    def __enter__(self) -> Episode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load(name: str, *, root: str | Path | None = None) -> Domain:
    """A generated domain (``servers/<name>/``) with its stored tasks; raises ``DomainNotFound``."""
    paths = project_paths(root)
    return Domain(load_domain(paths, name), load_domain_tasks(paths, name))


def compile_blueprint(
    source: str | Path | Mapping[str, Any] | DomainSpec,
    *,
    tasks: int = TASKS_PER_DOMAIN,
    task_seed: int = 0,
    allow_failing: bool = False,
) -> Domain:
    """Validate a blueprint (a YAML path, parsed data or a spec), gate it with the procedural tests
    and give it verified tasks. Nothing is written. Raises ``BlueprintError`` or ``GateFailed``."""
    if isinstance(source, DomainSpec):
        spec = source
    elif isinstance(source, Mapping):
        spec = parse_blueprint(dict(source))
    else:
        spec = load_blueprint(source)
    compiled = compile_spec(spec, tasks=tasks, task_seed=task_seed, allow_failing=allow_failing)
    return Domain(compiled.spec, compiled.tasks, compiled.report)


def synthesize(
    name: str,
    *,
    model: str,
    seed: int = 0,
    count_tools: int = 10,
    max_repairs: int = 2,
    api_base: str | None = None,
    api_key: str | None = None,
    tasks: int = TASKS_PER_DOMAIN,
    root: str | Path | None = None,
) -> Domain:
    """A domain from its name through any litellm model, compiled like a blueprint; a proposal the gate
    rejects goes back to the model with the gate's defects, up to ``max_repairs`` rounds. Only the LLM
    cache (``.scaleenv-cache/llm/``, in the project or the current folder) is written. Raises
    ``LLMError``, ``SynthesisFailed`` or ``GateFailed`` (the last gated proposal's report)."""
    paths = project_paths(root, create=True)
    built = build_name(
        name, paths, model=model, seed=seed, count_tools=count_tools, max_repairs=max_repairs,
        llm=ModelOptions(api_base=api_base, api_key=api_key), tasks=tasks, task_seed=0, allow_failing=False,
    )  # fmt: skip
    if built.proposal is not None and (built.blueprint is None or built.report is None):
        raise SynthesisFailed(built.proposal.name, built.stage, built.problems, built.proposal)
    if built.blueprint is None or built.report is None:
        raise AssertionError("a built name has a proposal")
    if built.problems:
        raise GateFailed(built.report)
    spec = parse_blueprint(built.blueprint, f"<synthesized {name!r}>")
    return Domain(spec, built.tasks, built.report)


def evaluate(
    agent: str | Agent,
    *,
    domains: Sequence[str] | None = None,
    tasks: int | None = None,
    task_ids: Sequence[str] | None = None,
    trials: int = 1,
    concurrency: int = 2,
    out: str | Path = "runs/latest",
    resume: bool = False,
    max_steps: int = 30,
    timeout: float = 300.0,
    user_sim: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    root: str | Path | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    isolation: Literal["inproc", "process"] = "inproc",
    answer_channel: AnswerChannel = "typed",
) -> EvalReport:
    """Run an agent (``"oracle"``, ``"noop"``, ``"random"``, ``"litellm:MODEL"`` or an :class:`Agent`)
    over MCP on stored tasks; results, trajectories and ``summary.json`` go to ``out``. ``answer_channel``:
    questions are answered through the task's ``submit_answer`` tool (typed) or in the final message (prose)."""
    options = EvalOptions(
        domains=domains, per_domain=tasks, task_ids=task_ids, trials=trials, concurrency=concurrency, out=Path(out),
        resume=resume, max_steps=max_steps, timeout=timeout, user_sim=user_sim,
        model=ModelOptions(api_base=api_base, api_key=api_key), isolation=isolation, answer_channel=answer_channel,
    )  # fmt: skip
    return run_evaluation(agent, options, paths=project_paths(root), on_episode=on_episode)
