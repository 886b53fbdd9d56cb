"""The compile pipeline as library functions: validate -> gate -> tasks -> emit.

:func:`compile_spec` proves a validated spec executable (the procedural tests are the gate)
and gives it verified tasks, writing nothing; :func:`emit` writes the generated server,
manifest and tasks of a compiled domain; :func:`synth_blueprints` does both for blueprint
files and reports each one's outcome as a value. The CLI only prints what these return.

Compiling a domain costs seconds to a minute (the gate runs every tool hundreds of times, the tasks
are verified by replay), so :func:`synth_blueprints` skips a blueprint whose output is current: the
manifest records a :func:`build_stamp`, the hash of everything the output depends on (the
blueprint's bytes, where it lives, the task options, and :func:`generator_sha256`, the source of
every layer that shapes the output). Hashing the code rather than trusting a version constant means
a change to the compiler can never be missed; ``force`` recompiles anyway.

A domain's tasks start from many states, not one, so a policy cannot memorise one state's rows:
:func:`seeded_tasks` seeds the domain with each seed asked for and draws verified tasks from that
state, lazily and for as long as asked. The shipped set takes :data:`TASKS_PER_SEED` tasks from each
of :data:`SHIPPED_SEEDS` seeds (the domain's own first), and :func:`task_split` puts each task in
train, validation or test by its seed (:data:`SPLIT`), so no state is seen in two splits.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ..engine.seed import SeedError, seed_state
from ..errors import ScaleenvError
from ..spec.graph import graph_json
from ..spec.load import MAX_BYTES, load_blueprint
from ..spec.model import DomainSpec
from ..spec.paths import ProjectPaths
from ..spec.problems import BlueprintError
from ..spec.task import TaskSpec
from ..tasks.generation import GenerationReport, generate_tasks
from .codegen import generate_domain, write_index
from .proctest import DEFECTS, Coverage, DomainReport, Violation, gate, replay_tasks

__all__ = [
    "HELD_OUT_DOMAINS",
    "SHIPPED_DRAWS",
    "SHIPPED_SEEDS",
    "SPLIT",
    "TASKS_PER_DOMAIN",
    "TASKS_PER_SEED",
    "CompiledDomain",
    "GateFailed",
    "SynthOutcome",
    "build_stamp",
    "compile_spec",
    "emit",
    "generator_sha256",
    "is_current",
    "relative_source",
    "seeded_tasks",
    "shipped_tasks",
    "split_manifest",
    "synth_blueprints",
    "task_split",
]

TASKS_PER_DOMAIN = 48
"""verified tasks a compiled domain ships with, unless asked otherwise"""

SHIPPED_SEEDS = 8
"""states the shipped tasks are drawn from: the domain's own seed and the seven after it"""

TASKS_PER_SEED = 6
"""verified tasks the shipped set draws from each seeded state (6 x 8 = 48)"""

Split = Literal["train", "validation", "test"]

SPLIT: dict[Split, tuple[int, ...]] = {"train": (0, 1, 2, 3, 4, 5), "validation": (6,), "test": (7,)}
"""which split a task's state belongs to, by the seed's offset from the domain's own seed modulo
:data:`SHIPPED_SEEDS`: the shipped seeds 0-5 train, 6 validation, 7 test, and every fresh seed
after them follows the same cycle, so the split of any task is known from its seed alone"""

HELD_OUT_DOMAINS = ("hotel", "telecom_plans")
"""domains whose every task is held out of training (all of their tasks are ``test``): a policy is
also measured on domains whose tools and policy it never saw"""


def task_split(spec: DomainSpec, task: TaskSpec) -> Split:
    """The split a task belongs to: ``test`` on a held-out domain, else by its state's seed."""
    if spec.name in HELD_OUT_DOMAINS:
        return "test"
    seed = task.initial_state.get("seed")
    offset = (seed if isinstance(seed, int) else spec.seed) - spec.seed
    return next(name for name, offsets in SPLIT.items() if offset % SHIPPED_SEEDS in offsets)


def split_manifest(spec: DomainSpec, tasks: Iterable[TaskSpec]) -> dict[str, Any]:
    """The manifest's ``split`` section: the rule, and the task ids of each split."""
    ids: dict[str, list[str]] = {name: [] for name in SPLIT}
    for task in tasks:
        ids[task_split(spec, task)].append(task.id)
    return {
        "by": "seed",
        "seeds": {name: [spec.seed + k for k in offsets] for name, offsets in SPLIT.items()},
        "held_out_domain": spec.name in HELD_OUT_DOMAINS,
        "held_out_domains": list(HELD_OUT_DOMAINS),
        "tasks": ids,
    }


def seeded_tasks(
    spec: DomainSpec,
    seeds: Iterable[int],
    per_seed: int,
    *,
    task_seed: int = 0,
    id_prefix: str | None = None,
    report: GenerationReport | None = None,
    before: Sequence[TaskSpec] = (),
) -> Iterator[TaskSpec]:
    """Verified tasks from fresh states, lazily: for each seed, the domain seeded with it and
    ``per_seed`` tasks drawn from that state (fewer if it cannot yield them), each recording its
    seed. Ids are ``<domain>-s<seed>-<nnn>`` (unique across seeds) unless ``id_prefix`` numbers
    them ``<id_prefix>-<nnn>`` across the whole run. ``seeds`` may be endless (``itertools.count()``):
    a trainer draws as many tasks as it wants and pays for one state at a time. ``report`` counts
    what every seed's generation kept and rejected. Trait shares are aimed at over ``before`` and
    the last :data:`_TRAIT_WINDOW` tasks made, not within each seed's few."""
    if per_seed < 1:
        raise ValueError(f"tasks per seed must be at least 1 (got {per_seed})")
    made = 0
    recent: list[TaskSpec] = list(before)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"a seed is a whole number from 0 (got {seed!r})")
        state = seed_state(spec, seed=seed)
        try:
            batch = generate_tasks(
                spec, count=per_seed, seed=task_seed * 1_000_003 + seed, initial=state, state_seed=seed,
                id_prefix=f"{spec.name}-s{seed}", report=report, before=recent,
            )  # fmt: skip
        finally:
            state.close()
        recent = [*recent, *batch][-_TRAIT_WINDOW:]
        for task in batch:
            made += 1
            yield task if id_prefix is None else task.model_copy(update={"id": f"{id_prefix}-{made:03d}"})


_TRAIT_WINDOW = 48
"""tasks a stream of seeds looks back on to aim at the trait shares (a shipped set's size)"""

SHIPPED_DRAWS = 6
"""draws of tasks tried on one shipped seed when the set so far lacks a write tool or an aggregate"""


def shipped_tasks(
    spec: DomainSpec, count: int = TASKS_PER_DOMAIN, task_seed: int = 0, report: GenerationReport | None = None
) -> list[TaskSpec]:
    """The shipped set: ``count`` tasks spread over :data:`SHIPPED_SEEDS` seeds from the domain's
    own, numbered ``<domain>-001`` onwards.

    Six tasks from one state cannot cover every write tool of a domain on their own, so the mix is
    steered across seeds: while the set so far lacks a write tool, an aggregate question or a
    refusal, each seed's draw is chosen among :data:`SHIPPED_DRAWS` draws of that state as the one
    that brings most of what is missing (the first draw on a tie, so the set is reproducible).
    ``report`` counts the candidates of every draw tried, kept or not: what making the set cost."""
    tasks: list[TaskSpec] = []
    for k in range(SHIPPED_SEEDS):
        want = -(-(count - len(tasks)) // (SHIPPED_SEEDS - k))
        if want <= 0:
            break
        best: list[TaskSpec] = []
        best_gain = -1
        for draw in range(SHIPPED_DRAWS):
            batch = list(seeded_tasks(spec, [spec.seed + k], want, task_seed=task_seed + draw * SHIPPED_SEEDS, report=report,
                                      before=tasks))  # fmt: skip
            gain = len(_lacking(spec, tasks) - _lacking(spec, [*tasks, *batch])) + min(len(batch), want)
            if gain > best_gain:
                best, best_gain = batch, gain
            if not _lacking(spec, tasks) or not _lacking(spec, [*tasks, *batch]):
                break
        tasks.extend(best)
    return [t.model_copy(update={"id": f"{spec.name}-{i:03d}"}) for i, t in enumerate(tasks, 1)]


def _lacking(spec: DomainSpec, tasks: list[TaskSpec]) -> set[str]:
    """What a shipped set still lacks: write tools no solution uses, an aggregate, a refusal."""
    used = {c.tool for t in tasks for c in t.solution if spec.tools[c.tool].is_write}
    lacking = set(spec.write_tools()) - used
    if not any(t.difficulty.get("aggregates") for t in tasks):
        lacking.add("(aggregate)")
    if spec.write_tools() and not any(t.kind == "refusal" for t in tasks):
        lacking.add("(refusal)")
    return lacking


class GateFailed(ScaleenvError, RuntimeError):
    """The procedural tests rejected a domain; ``report`` says which tool failed how, reproducibly."""

    default_status = 400

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
    generation: GenerationReport = field(default_factory=GenerationReport)
    """what generating the tasks cost: candidates rejected per acceptance rule, over every draw tried"""
    build: dict[str, Any] | None = None
    """the :func:`build_stamp` of the inputs it was compiled from, when they are a blueprint's text"""

    def manifest_extra(self) -> dict[str, Any]:
        """What the manifest records beyond the spec: the gate's verdict, the graph, the split, (in its
        ``tasks`` section) the candidates each acceptance rule rejected, and the build stamp a later
        synth compares to skip it."""
        extra = {
            "quality": self.report.summary(), "graph": graph_json(self.spec), "split": split_manifest(self.spec, self.tasks),
            "tasks": {"rejected": self.generation.rejected_json()},
        }  # fmt: skip
        return extra | ({"build": self.build} if self.build is not None else {})


_GENERATOR_LAYERS = ("spec", "engine", "tasks", "compiler")
"""the packages whose code shapes a compiled domain (the layers the compiler imports, and itself)"""


@functools.cache
def generator_sha256(package: Path | None = None) -> str:
    """The hash of the source of every layer that shapes compiled output, and of the version, in
    ``package`` (default: this one, the code that compiles).

    Line endings are normalised, so a checkout on any platform hashes the same; computed once per
    process (the files of a running program do not change under it)."""
    package = package if package is not None else Path(__file__).resolve().parents[1]
    files = [package / "_version.py", *sorted(f for layer in _GENERATOR_LAYERS for f in (package / layer).rglob("*.py"))]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.relative_to(package).as_posix().encode() + b"\0")
        digest.update(file.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def build_stamp(blueprint_text: str, source: str, *, tasks: int, task_seed: int) -> dict[str, Any]:
    """What a manifest records about the inputs it was compiled from: one hash over all of them
    (``sha256``), and the generator's hash and the options beside it, so a person can see which changed."""
    generator = generator_sha256()
    text = blueprint_text.replace("\r\n", "\n")
    inputs = json.dumps([text, source, generator, tasks, task_seed])
    return {"sha256": hashlib.sha256(inputs.encode()).hexdigest(), "generator_sha256": generator, "tasks": tasks,
            "task_seed": task_seed}  # fmt: skip


def is_current(paths: ProjectPaths, name: str, stamp: dict[str, Any], *, allow_failing: bool = False) -> bool:
    """Whether the output of domain ``name`` was compiled from exactly these inputs and is all there:
    the same build stamp in its manifest, the server's files present, the tasks file the manifest's
    hash names, and a gate that passed (a domain kept with ``allow_failing`` is current only for a
    run that allows it)."""
    try:
        data = json.loads(paths.manifest(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or (data.get("build") or {}).get("sha256") != stamp["sha256"]:
        return False
    if not (data.get("quality") or {}).get("passed") and not allow_failing:
        return False
    server = paths.server_dir(name)
    if not all((server / f).is_file() for f in ("__init__.py", "__main__.py", "spec.json")):
        return False
    if not (paths.servers / "__init__.py").is_file():
        return False
    tasks = data.get("tasks")
    if isinstance(tasks, dict):
        path = paths.manifests / str(tasks.get("file", ""))
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != tasks.get("sha256"):
            return False
    return True


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
    generation = GenerationReport()
    generated = shipped_tasks(spec, tasks, task_seed, report=generation) if tasks > 0 else []
    report = _cover_branches(spec, report, generated)
    if not report.passed and not allow_failing:
        raise GateFailed(report)
    return CompiledDomain(spec=spec, report=report, tasks=generated, tasks_wanted=tasks, generation=generation)


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
    status: Literal["written", "invalid", "rejected", "current", "compiled"]
    """``compiled`` only between a worker's compile and the write that makes it ``written``"""
    compiled: CompiledDomain | None = None
    changed: list[Path] = field(default_factory=list)
    error: str = ""
    """the validation problems (invalid) or the gate's reasons (rejected), for people"""
    name: str = ""
    """the domain's name (for ``current``, where nothing was compiled)"""


def synth_blueprints(
    files: Iterable[Path],
    paths: ProjectPaths,
    *,
    tasks: int = TASKS_PER_DOMAIN,
    task_seed: int = 0,
    allow_failing: bool = False,
    on_outcome: Callable[[SynthOutcome], None] | None = None,
    force: bool = False,
    jobs: int = 1,
) -> list[SynthOutcome]:
    """Validate, gate, give tasks and emit each blueprint; an invalid or rejected one writes nothing,
    and one whose output is current (:func:`is_current`) is not compiled again unless ``force``.

    With ``jobs`` above 1 the blueprints compile in that many processes (a compile is CPU-bound
    Python, so threads would not help); the output is the same bytes either way, because each domain
    is compiled from its own blueprint alone and this process writes every file, in file order.
    ``manifests/index.json`` is rebuilt at the end from the manifests present.
    """
    files = list(files)
    compile_one = functools.partial(_synth_one, paths=paths, tasks=tasks, task_seed=task_seed, allow_failing=allow_failing, force=force)
    outcomes: list[SynthOutcome] = []
    with contextlib.ExitStack() as stack:
        results: Iterable[SynthOutcome]
        if jobs > 1 and len(files) > 1:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=min(jobs, len(files))))
            results = pool.map(compile_one, files)
        else:
            results = map(compile_one, files)
        for outcome in results:
            if outcome.status == "compiled":
                assert outcome.compiled is not None
                outcome.changed = emit(outcome.compiled, paths, relative_source(outcome.source, paths.root))
                outcome.status = "written"
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    write_index(paths)
    return outcomes


def _current_name(text: str) -> str | None:
    """The domain name a blueprint's text declares, read without validating it (None: no name)."""
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name.isidentifier() else None


def _synth_one(file: Path, paths: ProjectPaths, *, tasks: int, task_seed: int, allow_failing: bool, force: bool) -> SynthOutcome:
    source = relative_source(file, paths.root)
    try:
        text = file.read_text(encoding="utf-8") if file.stat().st_size <= MAX_BYTES else None
    except (OSError, UnicodeDecodeError):
        text = None  # load_blueprint below says what is wrong with it
    stamp = build_stamp(text, source, tasks=tasks, task_seed=task_seed) if text is not None else None
    name = _current_name(text) if text is not None else None
    if stamp is not None and name is not None and not force and is_current(paths, name, stamp, allow_failing=allow_failing):
        return SynthOutcome(source=file, status="current", name=name)
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
    compiled.build = stamp
    return SynthOutcome(source=file, status="compiled", compiled=compiled, name=spec.name)
