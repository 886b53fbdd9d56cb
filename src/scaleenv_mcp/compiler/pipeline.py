"""The compile pipeline as library functions: validate -> gate -> tasks -> emit.

:func:`compile_spec` proves a validated spec executable (the procedural tests are the gate)
and gives it verified tasks, writing nothing; :func:`emit` writes the generated server,
manifest and tasks of a compiled domain; :func:`synth_blueprints` does both for blueprint
files and reports each one's outcome as a value. The CLI only prints what these return.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..engine.seed import SeedError
from ..spec.errors import BlueprintError
from ..spec.graph import graph_json
from ..spec.load import load_blueprint
from ..spec.model import DomainSpec
from ..spec.paths import ProjectPaths
from ..spec.task import TaskSpec
from ..tasks.generate import generate_tasks
from .codegen import generate_domain, write_index
from .proctest import DEFECTS, Coverage, DomainReport, Violation, gate, replay_tasks

__all__ = [
    "TASKS_PER_DOMAIN",
    "CompiledDomain",
    "GateFailed",
    "SynthOutcome",
    "compile_spec",
    "emit",
    "relative_source",
    "synth_blueprints",
]

TASKS_PER_DOMAIN = 48
"""verified tasks a compiled domain ships with, unless asked otherwise"""


class GateFailed(RuntimeError):
    """The procedural tests rejected a domain; ``report`` says which tool failed how, reproducibly."""

    def __init__(self, report: DomainReport) -> None:
        self.report = report
        lines = "\n".join(f"  {line}" for line in report.reasons())
        super().__init__(f"{report.domain}: procedural tests failed:\n{lines}")


@dataclass
class CompiledDomain:
    """A spec proven executable, with its gate report, graph and verified tasks (nothing written yet)."""

    spec: DomainSpec
    report: DomainReport
    tasks: list[TaskSpec]
    tasks_wanted: int

    def manifest_extra(self) -> dict[str, Any]:
        """What the manifest records beyond the spec: the gate's verdict and the graph."""
        return {"quality": self.report.summary(), "graph": graph_json(self.spec)}


def compile_spec(
    spec: DomainSpec,
    *,
    tasks: int = TASKS_PER_DOMAIN,
    task_seed: int = 0,
    allow_failing: bool = False,
    report: DomainReport | None = None,
) -> CompiledDomain:
    """Gate a spec with the procedural tests and generate verified tasks; raise :class:`GateFailed`
    when the gate rejects it (unless ``allow_failing``), :class:`SeedError` when the domain's own
    seed cannot be filled."""
    report = report if report is not None else gate(spec)
    shipped = next((d for d in report.defects if d.kind == "unseedable" and d.seed == 0), None)
    if shipped is not None:  # the domain's own seed cannot be filled: an invalid blueprint, not a gate verdict
        raise SeedError(shipped.message)
    if not report.passed and not allow_failing:
        raise GateFailed(report)
    generated = generate_tasks(spec, count=tasks, seed=task_seed) if tasks > 0 else []
    report = _cover_branches(spec, report, generated)
    if not report.passed and not allow_failing:
        raise GateFailed(report)
    return CompiledDomain(spec=spec, report=report, tasks=generated, tasks_wanted=tasks)


def _cover_branches(spec: DomainSpec, report: DomainReport, tasks: list[TaskSpec]) -> DomainReport:
    """The effect branches no gate call took, asked of the tasks' solutions; each one left is a
    ``branch_never_taken`` defect (an effect nothing runs is an effect nothing checks)."""
    if not report.uncovered:
        return report
    coverage = Coverage(spec)
    replay_tasks(spec, coverage, tasks)
    left = {b.describe() for b in coverage.uncovered()}
    still = [line for line in report.uncovered if line in left]
    defects = [
        Violation(kind="branch_never_taken", tool=line.split(":", 1)[0], message=f"{DEFECTS['branch_never_taken']}: {line}",
                  state_snapshot="-", seed=None)
        for line in still
    ]  # fmt: skip
    return report.model_copy(update={"uncovered": still, "defects": [*report.defects, *defects], "passed": report.passed and not defects})


def emit(compiled: CompiledDomain, paths: ProjectPaths, source: str) -> list[Path]:
    """Write ``servers/<domain>/``, its manifest and tasks; return the files whose bytes changed."""
    return generate_domain(compiled.spec, paths, source, compiled.manifest_extra(), compiled.tasks)


def relative_source(path: Path, root: Path) -> str:
    """How a manifest names its blueprint: relative to the project when inside it."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.name


@dataclass
class SynthOutcome:
    """What happened to one blueprint file."""

    source: Path
    status: Literal["written", "invalid", "rejected"]
    compiled: CompiledDomain | None = None
    changed: list[Path] = field(default_factory=list)
    error: str = ""
    """the validation problems (invalid) or the gate's reasons (rejected), for people"""


def synth_blueprints(
    files: Iterable[Path],
    paths: ProjectPaths,
    *,
    tasks: int = TASKS_PER_DOMAIN,
    task_seed: int = 0,
    allow_failing: bool = False,
    on_outcome: Callable[[SynthOutcome], None] | None = None,
) -> list[SynthOutcome]:
    """Validate, gate, give tasks and emit each blueprint; an invalid or rejected one writes nothing.

    ``manifests/index.json`` is rebuilt at the end from the manifests present.
    """
    outcomes: list[SynthOutcome] = []
    for file in files:
        outcome = _synth_one(file, paths, tasks=tasks, task_seed=task_seed, allow_failing=allow_failing)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    write_index(paths)
    return outcomes


def _synth_one(file: Path, paths: ProjectPaths, *, tasks: int, task_seed: int, allow_failing: bool) -> SynthOutcome:
    try:
        spec = load_blueprint(file)
    except BlueprintError as exc:
        return SynthOutcome(source=file, status="invalid", error=str(exc))
    try:
        compiled = compile_spec(spec, tasks=tasks, task_seed=task_seed, allow_failing=allow_failing)
    except GateFailed as exc:
        return SynthOutcome(source=file, status="rejected", error=str(exc))
    except SeedError as exc:
        return SynthOutcome(source=file, status="invalid", error=f"{file}: {exc}")
    changed = emit(compiled, paths, relative_source(file, paths.root))
    return SynthOutcome(source=file, status="written", compiled=compiled, changed=changed)
