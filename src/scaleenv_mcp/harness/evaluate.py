"""Evaluation as one library call: choose tasks, run an agent on them, return a typed report.

``scaleenv eval`` is this function plus argument parsing and printing; ``summary.json``
records who ran (agent, model) and how (options), so a results folder explains itself.

A model whose API key is missing or refused fails every episode the same way, so the first such
episode stops the run with one line that names the variable to set (the episodes already
finished are kept, and ``--resume`` carries on), instead of a fault per episode.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio

from ..compiler.pipeline import TASKS_PER_SEED, seeded_tasks
from ..errors import ScaleenvError
from ..llm import ModelOptions, auth_failure
from ..spec.catalog import domain_names, load_domain, load_domain_tasks
from ..spec.paths import ProjectPaths
from ..spec.task import AnswerChannel, TaskSpec
from .agents import Agent
from .factory import make_agent
from .results import EpisodeRecord, EvalReport, ResultStore, summarize
from .runner import EvalPlan, run_eval

__all__ = ["EvalError", "EvalOptions", "ModelOptions", "run_evaluation", "select_tasks"]


class EvalError(ScaleenvError, ValueError):
    """Options that cannot make an evaluation (an unknown domain, task or agent): one line for people."""

    default_status = 400


class _Unauthorized(ScaleenvError):
    """Raised from the progress hook on an episode the provider refused: it cancels the other episodes."""

    default_status = 401

    def __init__(self, advice: str) -> None:
        super().__init__(advice)
        self.advice = advice


def _unauthorized(exc: BaseException) -> _Unauthorized | None:
    """The :class:`_Unauthorized` in what a task group raised (it wraps errors in exception groups)."""
    if isinstance(exc, _Unauthorized):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        return next((found for inner in exc.exceptions if (found := _unauthorized(inner)) is not None), None)
    return None


def select_tasks(
    paths: ProjectPaths,
    *,
    domains: Sequence[str] | None = None,
    per_domain: int | None = None,
    task_ids: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[TaskSpec]:
    """Explicit task ids, or the first ``per_domain`` tasks (all when None) of each domain (all when
    None); with ``seeds``, fresh verified tasks from each domain seeded with each of them instead
    (``per_domain`` per seed, :data:`TASKS_PER_SEED` by default), as ``scaleenv tasks --seeds`` makes them."""
    known = domain_names(paths)
    if seeds is not None:
        if task_ids:
            raise EvalError("--seeds draws fresh tasks; it does not combine with --task-ids")
        fresh: list[TaskSpec] = []
        for d in domains or known:
            if d not in known:
                raise EvalError(f"unknown domain {d!r}; known: {', '.join(known)}")
            fresh += seeded_tasks(load_domain(paths, d), seeds, per_domain or TASKS_PER_SEED)
        return fresh
    if task_ids:
        by_domain: dict[str, list[TaskSpec]] = {}
        chosen: list[TaskSpec] = []
        for task_id in task_ids:
            domain = next((d for d in sorted(known, key=len, reverse=True) if task_id.startswith(d + "-")), None)
            if domain is None:
                raise EvalError(f"task id {task_id!r} names no known domain ({', '.join(known)})")
            tasks = by_domain.setdefault(domain, load_domain_tasks(paths, domain))
            task = next((t for t in tasks if t.id == task_id), None)
            if task is None:
                span = f"{tasks[0].id}..{tasks[-1].id}" if tasks else "no tasks"
                raise EvalError(f"unknown task {task_id!r}; {domain} has {span}")
            chosen.append(task)
        return chosen
    wanted = list(domains or known)
    for d in wanted:
        if d not in known:
            raise EvalError(f"unknown domain {d!r}; known: {', '.join(known)}")
    chosen = []
    for d in wanted:
        tasks = load_domain_tasks(paths, d)
        if not tasks:
            raise EvalError(f"{d} has no stored tasks; run `scaleenv synth {d}`")
        chosen += tasks[:per_domain] if per_domain else tasks
    return chosen


@dataclass(frozen=True)
class EvalOptions:
    """Everything an evaluation is asked to do, as one value (what ``scaleenv eval``'s flags say):
    which tasks, how many trials and how, and how the model is reached. Checked when made
    (:class:`EvalError`, one line), so a run never starts on options that cannot work."""

    domains: Sequence[str] | None = None
    """the domains to draw tasks from (None: every one)"""
    per_domain: int | None = None
    """the first N tasks of each domain (None: all)"""
    task_ids: Sequence[str] | None = None
    """exactly these tasks"""
    trials: int = 1
    concurrency: int = 2
    out: Path = Path("runs/latest")
    resume: bool = False
    max_steps: int = 30
    """tool calls per episode at most"""
    timeout: float = 300.0
    """seconds per episode"""
    user_sim: str | None = None
    """the simulated user's litellm model (None: the task's scripted user)"""
    model: ModelOptions = field(default_factory=ModelOptions)
    """how a ``litellm:MODEL`` agent (and the simulated user) reach their model"""
    isolation: Literal["inproc", "process"] = "inproc"
    ray: str | None = None
    """``local`` or a cluster address: run the episodes on Ray"""
    ray_workers: int | None = None
    answer_channel: AnswerChannel = "typed"
    seeds: Sequence[int] | None = None
    """draw fresh verified tasks from the domains seeded with these instead of the stored ones
    (``per_domain`` per seed); they run in process, where a task may bring its own state"""

    def __post_init__(self) -> None:
        if self.trials < 1 or self.concurrency < 1 or self.max_steps < 1 or self.timeout <= 0:
            raise EvalError("--trials, --concurrency and --max-steps must be at least 1, and --timeout positive")
        if self.per_domain is not None and self.per_domain < 1:
            raise EvalError(f"--tasks must be at least 1, not {self.per_domain} (leave it out for every task)")
        if self.ray_workers is not None and self.ray_workers < 1:
            raise EvalError("--ray-workers must be at least 1")
        if self.seeds is not None and (self.isolation != "inproc" or self.ray is not None):
            raise EvalError("--seeds runs fresh tasks in process: leave out --isolation process and --ray")
        if self.seeds is not None and any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in self.seeds):
            raise EvalError("--seeds are whole numbers from 0")

    def summary(self, tasks: Sequence[TaskSpec]) -> dict[str, Any]:
        """The options as ``summary.json`` records them (the keys it always had)."""
        return {
            "trials": self.trials, "concurrency": self.concurrency, "max_steps": self.max_steps, "timeout": self.timeout,
            "user_sim": self.user_sim, "api_base": self.model.api_base, "llm_timeout": self.model.timeout,
            "isolation": self.isolation, "answer_channel": self.answer_channel,
            "domains": sorted({t.domain for t in tasks}), "tasks": len(tasks), "ray": self.ray, "ray_workers": self.ray_workers,
            **({"seeds": list(self.seeds)} if self.seeds is not None else {}),
        }  # fmt: skip


def run_evaluation(
    agent: str | Agent,
    options: EvalOptions,
    *,
    paths: ProjectPaths,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> EvalReport:
    """Run ``agent`` (a name such as ``oracle`` or ``litellm:openai/gpt-4o``, or an :class:`Agent`)
    on the tasks ``options`` choose, ``options.trials`` times each; write results, trajectories and
    ``summary.json`` under ``options.out``; return the report. Raises :class:`EvalError` for options
    that cannot work.

    ``options.ray="local"`` runs the episodes on a Ray instance started for this run, ``ray=ADDRESS``
    on that cluster (``ray_workers`` workers, default one per CPU); results are the same as a local run."""
    domains, per_domain, task_ids = options.domains, options.per_domain, options.task_ids
    trials, out, ray, user_sim = options.trials, options.out, options.ray, options.user_sim
    tasks = select_tasks(paths, domains=domains, per_domain=per_domain, task_ids=task_ids, seeds=options.seeds)
    by_id = {t.id: t for t in tasks}
    if ray is not None:
        if not isinstance(agent, str):
            raise EvalError("--ray needs an agent by name (oracle, noop, random, litellm:MODEL): each worker makes its own")
        try:
            import ray as _ray  # noqa: F401
        except ImportError:
            raise EvalError("--ray needs Ray: pip install 'scaleenv-mcp[ray]'") from None
    agent_name = agent if isinstance(agent, str) else agent.name
    llm: dict[str, Any] = {}
    if isinstance(agent, str):
        if user_sim and not agent.startswith("litellm:"):
            raise EvalError("--user-sim needs a litellm:MODEL agent (oracle, noop and random do not converse)")
        if agent.startswith("litellm:"):
            llm = {"model": options.model, "user_sim": user_sim}
        try:
            agent = make_agent(agent, by_id, **llm)
        except ValueError as exc:
            raise EvalError(str(exc)) from None
    try:
        store = ResultStore(out, resume=options.resume, agent=agent.name)
    except FileExistsError as exc:
        raise EvalError(str(exc)) from None
    plan = EvalPlan(
        root=paths.root, tasks=tasks, agent=agent, trials=trials, concurrency=options.concurrency, max_steps=options.max_steps,
        timeout=options.timeout, user_sim=user_sim, isolation=options.isolation, answer_channel=options.answer_channel,
    )  # fmt: skip
    if on_start is not None:
        on_start(
            sum(1 for t in tasks for trial in range(1, trials + 1) if not store.finished((t.domain, t.id, agent.name, trial)))
        )
    def progress(record: EpisodeRecord) -> None:
        advice = auth_failure(record.infra_error.message) if record.infra_error is not None else None
        if advice is not None:  # every later episode would fail the same way
            raise _Unauthorized(advice)
        if on_episode is not None:
            on_episode(record)

    try:
        if ray is not None:
            from .distributed import RayUnavailable, run_eval_ray

            try:
                records = run_eval_ray(
                    plan, store, agent=agent_name, llm=llm, address=None if ray == "local" else ray, workers=options.ray_workers,
                    progress=progress,
                )  # fmt: skip
            except RayUnavailable as exc:
                raise EvalError(str(exc)) from None
        else:
            records = anyio.run(run_eval, plan, store, progress)
    except Exception as exc:
        refused = _unauthorized(exc)
        if refused is None:
            raise
        done = sum(1 for r in store.records() if r.infra_error is None)
        raise EvalError(
            f"{refused.advice}; the run stopped ({done} episode(s) finished in {out}; add --resume to carry on)"
        ) from None
    chosen = {(t.domain, t.id) for t in tasks}
    records = [r for r in records if (r.domain, r.task_id) in chosen and r.agent == agent.name]
    model = agent.name.removeprefix("litellm:") if agent.name.startswith("litellm:") else None
    report = summarize(records, k_max=trials, agent=agent.name, model=model, options=options.summary(tasks))
    (out / "summary.json").write_text(json.dumps(report.summary_json(), indent=2) + "\n")
    return report
