"""From domain names to shipped domains: propose through an LLM, gate, write, compile.

A proposal that validates but fails the procedural gate is kept under
``synthesis/rejected/`` for a person to read, and nothing else is written for it; one that
passes becomes ``synthesis/domains/<name>.yaml`` and is compiled exactly like a hand-written
blueprint. Every outcome is a value; the CLI prints them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import yaml

from ..compiler.codegen import write_index
from ..compiler.pipeline import TASKS_PER_DOMAIN, CompiledDomain, GateFailed, compile_spec, emit, relative_source
from ..compiler.proctest import DomainReport, gate
from ..llm import ModelOptions
from ..spec.load import parse_blueprint
from ..spec.paths import ProjectPaths
from ..spec.task import TaskSpec
from .proposer import Proposal, SynthesisFailed, domain_name, near_duplicates, propose_domain

__all__ = ["BuiltName", "NameOutcome", "build_name", "propose_in_project", "synthesize_names"]


@dataclass
class NameOutcome:
    """What became of one domain name."""

    name: str
    status: Literal["written", "never_validated", "rejected", "skipped"]
    proposal: Proposal | None = None
    compiled: CompiledDomain | None = None
    blueprint: Path | None = None
    changed: list[Path] = field(default_factory=list)
    error: str = ""
    twin: str = ""
    """for a skipped name: the earlier name it is near-identical to"""


def propose_in_project(
    name: str,
    paths: ProjectPaths,
    *,
    model: str,
    seed: int = 0,
    count_tools: int = 10,
    max_repairs: int = 2,
    llm: ModelOptions | None = None,
) -> Proposal:
    """A validated proposal for one name, with the project's prompt templates and LLM cache."""
    return anyio.run(
        lambda: propose_domain(
            name, model=model, prompts=paths.prompts, cache_dir=paths.root / ".scaleenv-cache" / "llm",
            seed=seed, count_tools=count_tools, max_repairs=max_repairs, llm=llm,
        )
    )  # fmt: skip


def synthesize_names(
    names: Sequence[str],
    paths: ProjectPaths,
    *,
    model: str,
    seed: int = 0,
    count_tools: int = 10,
    max_repairs: int = 2,
    llm: ModelOptions | None = None,
    tasks: int = TASKS_PER_DOMAIN,
    task_seed: int = 0,
    allow_failing: bool = False,
    on_outcome: Callable[[NameOutcome], None] | None = None,
    ray: str | None = None,
) -> list[NameOutcome]:
    """Synthesize each name (near-duplicates skipped); raise ``LLMError`` when the model is unreachable.

    With ``ray`` (``"local"`` or a cluster address) each name is proposed, gated and compiled as
    a Ray task; this process writes the results as they arrive, in the same files as without Ray.
    """
    kept, dropped = near_duplicates(list(names))
    outcomes = [NameOutcome(name=name, status="skipped", twin=twin) for name, twin in dropped]
    for outcome in outcomes:
        if on_outcome is not None:
            on_outcome(outcome)
    options: dict[str, Any] = {
        "model": model, "seed": seed, "count_tools": count_tools, "max_repairs": max_repairs, "llm": llm,
        "tasks": tasks, "task_seed": task_seed, "allow_failing": allow_failing,
    }  # fmt: skip
    built = _built_on_ray(kept, paths, options, ray) if ray is not None else (build_name(name, paths, **options) for name in kept)
    for one in built:
        outcome = _write(one, paths, allow_failing=allow_failing)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    write_index(paths)
    return outcomes


@dataclass
class BuiltName:
    """One name proposed, gated and compiled, in a form that travels between processes (no files written)."""

    name: str
    proposal: Proposal | None
    error: str = ""
    blueprint: dict[str, Any] | None = None
    report: DomainReport | None = None
    tasks: list[TaskSpec] = field(default_factory=list)
    tasks_wanted: int = 0


def build_name(
    name: str,
    paths: ProjectPaths,
    *,
    model: str,
    seed: int,
    count_tools: int,
    max_repairs: int,
    llm: ModelOptions | None,
    tasks: int,
    task_seed: int,
    allow_failing: bool,
) -> BuiltName:
    """Propose a blueprint for ``name``, gate it and, if it passes (or failing is allowed), compile its tasks."""
    target = paths.blueprints / f"{domain_name(name)}.yaml"
    try:
        proposal = propose_in_project(
            name, paths, model=model, seed=seed, count_tools=count_tools, max_repairs=max_repairs, llm=llm,
        )  # fmt: skip
    except SynthesisFailed as exc:
        return BuiltName(name=name, proposal=exc.proposal, error=str(exc))
    spec = parse_blueprint(proposal.blueprint, str(target))
    report = gate(spec)
    built = BuiltName(name=name, proposal=proposal, blueprint=proposal.blueprint, report=report, tasks_wanted=tasks)
    if report.passed or allow_failing:
        built.tasks = compile_spec(spec, tasks=tasks, task_seed=task_seed, allow_failing=allow_failing, report=report).tasks
    return built


def _built_on_ray(names: Sequence[str], paths: ProjectPaths, options: dict[str, Any], address: str) -> Iterator[BuiltName]:
    """``build_name`` for every name as Ray tasks, yielded as each finishes."""
    ray: Any = importlib.import_module("ray")  # Ray's typing covers too little to check remote calls
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=None if address == "local" else address, include_dashboard=False if address == "local" else None,
                 log_to_driver=False, configure_logging=False)  # fmt: skip
    try:
        remote = ray.remote(num_cpus=1)(build_name)
        running = [remote.remote(name, paths, **options) for name in names]
        while running:
            done, running = ray.wait(running, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


def _write(built: BuiltName, paths: ProjectPaths, *, allow_failing: bool) -> NameOutcome:
    """Write what was built for one name: the blueprint and domain, or the rejected blueprint."""
    name, proposal = built.name, built.proposal
    if built.blueprint is None or built.report is None:
        return NameOutcome(name=name, status="never_validated", proposal=proposal, error=built.error)
    target = paths.blueprints / f"{domain_name(name)}.yaml"
    text = yaml.safe_dump(built.blueprint, sort_keys=False, allow_unicode=True, width=110)
    if not built.report.passed and not allow_failing:
        rejected = paths.root / "synthesis" / "rejected" / target.name
        rejected.parent.mkdir(parents=True, exist_ok=True)
        rejected.write_text(text, encoding="utf-8")
        return NameOutcome(name=name, status="rejected", proposal=proposal, blueprint=rejected, error=str(GateFailed(built.report)))
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    spec = parse_blueprint(built.blueprint, str(target))
    compiled = CompiledDomain(spec=spec, report=built.report, tasks=built.tasks, tasks_wanted=built.tasks_wanted)
    changed = emit(compiled, paths, relative_source(target, paths.root))
    return NameOutcome(name=name, status="written", proposal=proposal, compiled=compiled, blueprint=target, changed=changed)
