"""Evaluation spread over a Ray cluster: Ray places the workers and queues the episodes.

Each worker is a Ray actor that holds its own evaluation plan, so a pool of in-process episode
services (one per domain, seeded once) serves every episode sent to it, ``concurrency`` at a
time. A worker returns each episode's record and trajectory to the driver, which alone writes
the results folder: one ``results.jsonl``, fsynced per record as in a local run, so ``--resume``
works the same, whichever machine ran an episode.

``address=None`` starts a local Ray instance for this run. With an address (``auto``, a head's
``host:port`` or ``ray://...``), the project folder (blueprints, servers, manifests; not runs or
caches) is shipped to the workers as Ray's ``working_dir``, so the nodes need no copy of it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ScaleenvError
from ..spec.catalog import load_domain_tasks
from ..spec.paths import ProjectPaths
from ..spec.task import TaskSpec
from .factory import make_agent
from .results import EpisodeRecord, ResultStore
from .runner import EvalPlan, run_eval_episode

__all__ = ["EpisodeWorker", "RayUnavailable", "run_eval_ray"]

_SHIP_EXCLUDES = ["runs/", "exports/", "registry/", ".git/", ".scaleenv-cache/", "**/__pycache__/", "*.egg-info/", ".venv/"]


class RayUnavailable(ScaleenvError, RuntimeError):
    """The cluster could not be reached or started (one line for people, before any episode ran)."""

    default_status = 503


class EpisodeWorker:
    """A Ray actor's body: a plan over the tasks it may be sent, and a scratch folder."""

    def __init__(self, root: str | None, agent: str, llm: dict[str, Any], task_ids: Sequence[str], options: dict[str, Any]) -> None:
        paths = ProjectPaths(Path(root) if root else Path.cwd())
        wanted = set(task_ids)
        domains = sorted({t.rsplit("-", 1)[0] for t in wanted})
        tasks = [t for d in domains for t in load_domain_tasks(paths, d) if t.id in wanted]
        self.plan = EvalPlan(root=paths.root, tasks=tasks, agent=make_agent(agent, {t.id: t for t in tasks}, **llm), **options)
        self.tasks = {t.id: t for t in tasks}
        self.scratch = Path(tempfile.mkdtemp(prefix="scaleenv-ray-"))

    async def run(self, task_id: str, trial: int) -> tuple[dict[str, Any], str]:
        """One episode: its record (as JSON data) and its trajectory file's text."""
        record = await run_eval_episode(self.plan, self.tasks[task_id], trial, self.scratch)
        written = self.scratch / record.trajectory
        text = written.read_text(encoding="utf-8")
        written.unlink()
        return record.model_dump(mode="json"), text

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def run_eval_ray(
    plan: EvalPlan,
    store: ResultStore,
    *,
    agent: str,
    llm: dict[str, Any],
    address: str | None,
    workers: int | None = None,
    progress: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Run every (task, trial) not yet in ``store`` on Ray workers; records land in ``store`` as they finish."""
    ray: Any = importlib.import_module("ray")  # Ray's own typing covers too little to check actor calls

    pending = [
        (task, trial)
        for task in plan.tasks
        for trial in range(1, plan.trials + 1)
        if not store.finished((task.domain, task.id, plan.agent.name, trial))
    ]
    if not pending:
        return store.records()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address is None:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(
                    address=address, log_to_driver=False, configure_logging=False,
                    runtime_env={"working_dir": str(plan.root), "excludes": _SHIP_EXCLUDES},
                )  # fmt: skip
        except Exception as exc:  # boundary: Ray raises ConnectionError, ValueError, RuntimeError, ... here
            ray.shutdown()
            raise RayUnavailable(f"Ray at {address or 'a new local instance'}: {str(exc).splitlines()[0][:300]}") from None
    root = str(plan.root) if address is None else None  # shipped: each worker starts in its working_dir copy
    count = max(1, min(workers or int(ray.cluster_resources().get("CPU", 1)), len(pending)))
    options: dict[str, Any] = {
        "trials": plan.trials, "concurrency": plan.concurrency, "max_steps": plan.max_steps,
        "timeout": plan.timeout, "user_sim": plan.user_sim, "isolation": plan.isolation, "answer_channel": plan.answer_channel,
    }  # fmt: skip
    task_ids = sorted({task.id for task, _ in pending})
    actor = ray.remote(num_cpus=1)(EpisodeWorker).options(max_concurrency=plan.concurrency)
    actors = [actor.remote(root, agent, llm, task_ids, options) for _ in range(count)]
    try:
        running: dict[Any, tuple[TaskSpec, int]] = {}
        for n, (task, trial) in enumerate(pending):  # Ray queues each actor's calls; it runs `concurrency` at once
            running[actors[n % count].run.remote(task.id, trial)] = (task, trial)
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            running.pop(done[0])
            data, trajectory = ray.get(done[0])
            record = EpisodeRecord.model_validate(data)
            path = store.out / record.trajectory
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(trajectory, encoding="utf-8")
            store.append(record)
            if progress:
                progress(record)
    finally:
        for a in actors:
            with contextlib.suppress(Exception):  # a worker already gone has nothing left to clean
                ray.get(a.close.remote(), timeout=30)
            ray.kill(a)
        if started_here:
            ray.shutdown()
    return store.records()

