"""From domain names to shipped domains: propose through an LLM, gate, repair, write, compile.

A proposal that validates is gated by the procedural tests; one that fails goes back to the
model with the gate's defects and their reproduce lines, up to ``max_repairs`` rounds
(:func:`build_name_async`). One that passes becomes ``synthesis/domains/<name>.yaml`` and is
compiled exactly like a hand-written blueprint; one that never passes (or never validates) is
kept under ``synthesis/rejected/`` as ``<name>.yaml`` with ``<name>.reasons.json`` beside it, for a
person to read, and nothing else is written for it.

Many names run side by side (``concurrency``; the model's answers are the wait, so one event
loop overlaps them while the CPU-bound gate runs in a worker thread), under an optional
:class:`Budget` (no name starts once it is spent; the running ones finish), and
``synthesis/synth-names.json`` records what became of each name so that ``resume`` skips the
names a previous run already wrote or rejected. Every outcome is a value; the CLI prints them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.abc
import anyio.to_thread
import yaml

from ..compiler.codegen import write_index
from ..compiler.pipeline import TASKS_PER_DOMAIN, CompiledDomain, GateFailed, build_stamp, compile_spec, emit, relative_source
from ..compiler.proctest import DomainReport, gate
from ..engine.seed import SeedError
from ..llm import ModelOptions
from ..spec.load import parse_blueprint
from ..spec.model import DomainSpec
from ..spec.paths import ProjectPaths
from ..spec.task import TaskSpec
from .proposer import Budget, LLMError, Proposal, SynthesisFailed, domain_name, near_duplicates, propose_domain, repair_proposal

__all__ = [
    "BuiltName",
    "NameOutcome",
    "build_name",
    "build_name_async",
    "rejected_dir",
    "state_file",
    "synthesize_names",
]

Status = Literal["written", "never_validated", "rejected", "skipped", "done_before", "not_started"]
_DONE = ("written", "rejected", "never_validated")
"""statuses a later ``resume`` run skips"""


def rejected_dir(paths: ProjectPaths) -> Path:
    """Where rejected proposals are kept: outside ``servers/`` and ``manifests/``, never shipped."""
    return paths.root / "synthesis" / "rejected"


def state_file(paths: ProjectPaths) -> Path:
    """What became of each name in earlier runs (read by ``resume``), beside the outputs."""
    return paths.root / "synthesis" / "synth-names.json"


@dataclass
class NameOutcome:
    """What became of one domain name."""

    name: str
    status: Status
    proposal: Proposal | None = None
    compiled: CompiledDomain | None = None
    blueprint: Path | None = None
    changed: list[Path] = field(default_factory=list)
    error: str = ""
    twin: str = ""
    """for a skipped name: the earlier name it is near-identical to"""
    reasons: Path | None = None
    """for a rejected or never-validated name: the ``.reasons.json`` kept beside its proposal"""
    before: str = ""
    """for a name done in an earlier run (``done_before``): what became of it then"""


def _cache_dir(paths: ProjectPaths) -> Path:
    return paths.root / ".scaleenv-cache" / "llm"


@dataclass
class BuiltName:
    """One name proposed, gated (and repaired) and compiled, in a form that travels between processes
    (no files written)."""

    name: str
    proposal: Proposal | None
    error: str = ""
    blueprint: dict[str, Any] | None = None
    report: DomainReport | None = None
    tasks: list[TaskSpec] = field(default_factory=list)
    tasks_wanted: int = 0
    task_seed: int = 0
    stage: str = ""
    """for a proposal that never validated: the stage that did not"""
    problems: list[str] = field(default_factory=list)
    """why it was not shipped: the stage's validation problems, or the last gate's defects"""
    gate_rounds: list[list[str]] = field(default_factory=list)
    """the gate's defects of each failed round, in order (each one sent back to the model but the last)"""

    @property
    def passed(self) -> bool:
        return self.blueprint is not None and not self.problems


def _gate_and_compile(spec: DomainSpec, tasks: int, task_seed: int, allow_failing: bool) -> tuple[DomainReport, list[TaskSpec], list[str]]:
    """The gate, and the tasks when it passes (or failing is allowed); the defects' lines when it
    does not. A compile that finds more (an effect branch no task takes, a shipped seed that cannot
    be filled) is a gate failure too: the model can repair it the same way."""
    report = gate(spec)
    if not report.passed and not allow_failing:
        return report, [], report.reasons()
    try:
        compiled = compile_spec(spec, tasks=tasks, task_seed=task_seed, allow_failing=allow_failing, report=report)
    except GateFailed as exc:
        return exc.report, [], exc.report.reasons()
    except SeedError as exc:
        return report, [], [f"unseedable seed data, the domain's own seed: {exc}"]
    return compiled.report, compiled.tasks, []


async def build_name_async(
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
    budget: Budget | None = None,
) -> BuiltName:
    """Propose a blueprint for ``name`` and gate it; while the gate rejects it, send its defects back
    (:func:`repair_proposal`), up to ``max_repairs`` rounds; compile the tasks of the one that passes.
    Raises ``LLMError`` when the model cannot be reached."""
    target = paths.blueprints / f"{domain_name(name)}.yaml"
    reach: dict[str, Any] = {"prompts": paths.prompts, "cache_dir": _cache_dir(paths), "max_repairs": max_repairs,
                             "llm": llm, "budget": budget}  # fmt: skip
    try:
        proposal = await propose_domain(name, model=model, seed=seed, count_tools=count_tools, **reach)
    except SynthesisFailed as exc:
        return BuiltName(name=name, proposal=exc.proposal, error=str(exc), problems=exc.problems, stage=exc.stage)
    rounds: list[list[str]] = []
    for round_ in range(max_repairs + 1):
        proposal.repairs["gate"] = round_
        proposal.blueprint["provenance"] = proposal.provenance()
        spec = parse_blueprint(proposal.blueprint, str(target))
        report, made, defects = await anyio.to_thread.run_sync(_gate_and_compile, spec, tasks, task_seed, allow_failing)
        built = BuiltName(name=name, proposal=proposal, blueprint=proposal.blueprint, report=report, tasks=made,
                          tasks_wanted=tasks, task_seed=task_seed, gate_rounds=rounds)  # fmt: skip
        if not defects:
            return built
        rounds.append(defects)
        built.problems = defects
        built.error = str(GateFailed(report)) if report.defects or report.violations else f"{spec.name}: {defects[0]}"
        if round_ == max_repairs:
            return built
        try:
            await repair_proposal(proposal, defects, **reach)
        except SynthesisFailed as exc:  # the repair never validated: the last gated blueprint is what is kept
            built.error = f"{built.error}\n{exc}"
            return built
    raise AssertionError("unreachable")


def build_name(name: str, paths: ProjectPaths, **options: Any) -> BuiltName:
    """:func:`build_name_async` in an event loop of its own (a Ray task runs this)."""
    return anyio.run(lambda: build_name_async(name, paths, **options))


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
    concurrency: int | None = None,
    budget: Budget | None = None,
    resume: bool = False,
) -> list[NameOutcome]:
    """Synthesize each name (near-duplicates skipped); raise ``LLMError`` when the model is unreachable.

    ``concurrency`` names run at once (default 4 here; with Ray, every name). No name starts once
    ``budget`` is spent (those are ``not_started``; the running ones finish). With ``resume``, a name
    an earlier run wrote or rejected is ``done_before`` and not asked again. With ``ray`` (``"local"``
    or a cluster address) each name is proposed, gated and compiled as a Ray task; this process
    writes the results as they arrive, in the same files as without Ray.
    """
    budget = budget if budget is not None else Budget()
    kept, dropped = near_duplicates(list(names))
    outcomes: list[NameOutcome] = []

    def record(outcome: NameOutcome) -> None:
        outcomes.append(outcome)
        if outcome.status in _DONE:
            _remember(paths, outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    for name, twin in dropped:
        record(NameOutcome(name=name, status="skipped", twin=twin))
    if resume:
        earlier = _previous(paths)
        for name in [n for n in kept if n in earlier]:
            kept.remove(name)
            record(NameOutcome(name=name, status="done_before", before=earlier[name]))
    options: dict[str, Any] = {
        "model": model, "seed": seed, "count_tools": count_tools, "max_repairs": max_repairs, "llm": llm,
        "tasks": tasks, "task_seed": task_seed, "allow_failing": allow_failing,
    }  # fmt: skip
    if ray is not None:
        for one in _built_on_ray(kept, paths, options, ray, concurrency or len(kept) or 1, budget):
            if isinstance(one, str):
                record(NameOutcome(name=one, status="not_started"))
            else:
                record(_write(one, paths, allow_failing=allow_failing))
    else:
        anyio.run(lambda: _build_here(kept, paths, options, concurrency or 4, budget, allow_failing, record))
    write_index(paths)
    return outcomes


async def _build_here(
    names: list[str], paths: ProjectPaths, options: dict[str, Any], concurrency: int, budget: Budget, allow_failing: bool,
    record: Callable[[NameOutcome], None],
) -> None:  # fmt: skip
    """Every name in this process, ``concurrency`` at a time; the first ``LLMError`` stops them all."""
    limiter = anyio.CapacityLimiter(concurrency)
    writing = anyio.Lock()
    failure: list[LLMError] = []

    async def one(name: str, group: anyio.abc.TaskGroup) -> None:
        async with limiter:
            if budget.spent():
                record(NameOutcome(name=name, status="not_started"))
                return
            try:
                built = await build_name_async(name, paths, **options, budget=budget)
            except LLMError as exc:
                failure.append(exc)
                group.cancel_scope.cancel()
                return
        async with writing:  # one writer at a time: the emitted files and the state file are shared
            outcome = await anyio.to_thread.run_sync(lambda: _write(built, paths, allow_failing=allow_failing))
        record(outcome)

    async with anyio.create_task_group() as group:
        for name in names:
            group.start_soon(one, name, group)
    if failure:
        raise failure[0]


def _built_on_ray(
    names: Sequence[str], paths: ProjectPaths, options: dict[str, Any], address: str, concurrency: int, budget: Budget
) -> Iterator[BuiltName | str]:
    """``build_name`` for the names as Ray tasks, ``concurrency`` in flight, yielded as each finishes;
    a name never started because ``budget`` was spent is yielded as its text. The budget is charged
    as each result arrives (a Ray task cannot share it while running)."""
    ray: Any = importlib.import_module("ray")  # Ray's typing covers too little to check remote calls
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=None if address == "local" else address, include_dashboard=False if address == "local" else None,
                 log_to_driver=False, configure_logging=False)  # fmt: skip
    try:
        remote = ray.remote(num_cpus=1)(build_name)
        waiting = list(names)
        running: list[Any] = []
        while waiting or running:
            while waiting and len(running) < concurrency and not budget.spent():
                running.append(remote.remote(waiting.pop(0), paths, **options))
            if not running:
                yield from waiting
                return
            done, running = ray.wait(running, num_returns=1)
            built: BuiltName = ray.get(done[0])
            if built.proposal is not None:
                budget.charge(sum(built.proposal.tokens.values()), built.proposal.cost)
            yield built
    finally:
        if started_here:
            ray.shutdown()


def _write(built: BuiltName, paths: ProjectPaths, *, allow_failing: bool) -> NameOutcome:
    """Write what was built for one name: the blueprint and domain, or the rejected proposal and its reasons."""
    name, proposal = built.name, built.proposal
    stem = domain_name(name)
    target = paths.blueprints / f"{stem}.yaml"
    kept, reasons = rejected_dir(paths) / f"{stem}.yaml", rejected_dir(paths) / f"{stem}.reasons.json"
    if built.blueprint is None or built.report is None or (built.problems and not allow_failing):
        status: Status = "never_validated" if built.report is None else "rejected"
        kept.parent.mkdir(parents=True, exist_ok=True)
        data = (proposal.blueprint if proposal is not None else None) or {}
        kept.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
        reasons.write_text(json.dumps(_reasons(built, status), indent=2) + "\n", encoding="utf-8")
        return NameOutcome(name=name, status=status, proposal=proposal, blueprint=kept, error=built.error, reasons=reasons)
    text = yaml.safe_dump(built.blueprint, sort_keys=False, allow_unicode=True, width=110)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    for stale in (kept, reasons):  # an earlier run's rejection of this name no longer holds
        stale.unlink(missing_ok=True)
    spec = parse_blueprint(built.blueprint, str(target))
    source = relative_source(target, paths.root)
    stamp = build_stamp(text, source, tasks=built.tasks_wanted, task_seed=built.task_seed)  # a later `synth --all` skips it
    compiled = CompiledDomain(spec=spec, report=built.report, tasks=built.tasks, tasks_wanted=built.tasks_wanted, build=stamp)
    changed = emit(compiled, paths, source)
    return NameOutcome(name=name, status="written", proposal=proposal, compiled=compiled, blueprint=target, changed=changed)


def _reasons(built: BuiltName, status: str) -> dict[str, Any]:
    """Why a proposal was not shipped, for the person reading ``synthesis/rejected/``."""
    proposal = built.proposal
    out: dict[str, Any] = {"name": built.name, "status": status, "problems": built.problems, "error": built.error,
                           "gate_rounds": built.gate_rounds}  # fmt: skip
    if built.report is not None:
        out["gate"] = built.report.summary()
    if proposal is not None:
        out |= {"model": proposal.model, "seed": proposal.seed, "repair_rounds": proposal.repairs, "calls": proposal.calls,
                "cached_calls": proposal.cached_calls, "tokens": proposal.tokens, "cost": proposal.cost}  # fmt: skip
        if status == "never_validated":
            out["last_reply"] = proposal.last_reply
    return out


def _previous(paths: ProjectPaths) -> dict[str, str]:
    """The names an earlier run wrote or rejected, whose files are still there, and what became of each."""
    path = state_file(paths)
    try:
        names = json.loads(path.read_text(encoding="utf-8")).get("names", {}) if path.is_file() else {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {
        name: str(entry["status"]) for name, entry in names.items()
        if isinstance(entry, dict) and entry.get("status") in _DONE and (paths.root / str(entry.get("file", ""))).is_file()
    }  # fmt: skip


def _remember(paths: ProjectPaths, outcome: NameOutcome) -> None:
    """Record one name's outcome in the state file (rewritten whole, through a temporary file)."""
    path = state_file(paths)
    try:
        state = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        state = {}
    found = state.get("names") if isinstance(state, dict) else None
    names: dict[str, Any] = found if isinstance(found, dict) else {}
    evidence = outcome.blueprint if outcome.status == "written" else outcome.reasons
    names[outcome.name] = {"status": outcome.status, "domain": domain_name(outcome.name),
                           "file": relative_source(evidence, paths.root) if evidence is not None else ""}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"names": names}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
