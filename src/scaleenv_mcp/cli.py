"""The ``scaleenv`` command: parse arguments, call the library, print. No pipeline logic lives here."""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ._version import __version__
from .errors import ScaleenvError
from .llm import ModelOptions
from .spec.catalog import DomainNotFound, load_domain, load_domain_tasks, read_index
from .spec.model import DomainSpec
from .spec.paths import ProjectPaths, project_paths
from .spec.problems import BlueprintError
from .spec.task import TaskSpec

if TYPE_CHECKING:
    from tqdm import tqdm

    from .compiler.proctest import DomainReport
    from .export.trajectories import Trajectory

__all__ = ["build_parser", "main"]


class CliError(ScaleenvError):
    """A user error: printed as one line, exit status 2, no traceback."""

    default_status = 400


def _model_options(args: argparse.Namespace, *, timeout: float = 120.0) -> ModelOptions:
    """How the command's model is reached (``--api-base``, ``--api-key``), built once for whatever calls it."""
    try:
        return ModelOptions(api_base=args.api_base, api_key=args.api_key, timeout=timeout)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _paths(args: argparse.Namespace, *, create: bool = False) -> ProjectPaths:
    """The project to read from; ``create`` for commands that write (never into the installed package)."""
    return project_paths(getattr(args, "root", None), create=create)


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (what was wrong, and where help is), not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for a count: ``--tasks 0`` would otherwise mean "every task", and a negative
    count means nothing."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    """An argparse type for a duration: positive and finite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _dollars(text: str) -> float:
    """An argparse type for a spending limit: a positive, finite amount."""
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive amount, not {text}")
    return value


@contextlib.contextmanager
def _progress(total: int, what: str, *, quiet: bool = False) -> Iterator[tqdm[Any]]:
    """A progress bar on stderr with counts and ETA (hidden when stderr is not a terminal, or ``quiet``)."""
    from tqdm import tqdm

    disable = True if quiet else None  # None: tqdm decides, showing the bar only on a terminal
    with tqdm(total=total, desc=what, unit=what.rsplit(maxsplit=1)[-1], file=sys.stderr, disable=disable, leave=False) as bar:
        yield bar


def _say(text: str) -> None:
    """A line for the person at the terminal, written past any progress bar."""
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


# ---------------------------------------------------------------- synth


def _blueprint_files(args: argparse.Namespace, paths: ProjectPaths) -> list[Path]:
    files: list[Path] = [Path(p) for p in args.blueprint or []]
    if args.all:
        files += sorted(paths.blueprints.glob("*.yaml"))
    for name in args.domains:
        candidate = paths.blueprints / f"{name}.yaml"
        if not candidate.is_file():
            known = ", ".join(p.stem for p in sorted(paths.blueprints.glob("*.yaml"))) or "none"
            raise CliError(f"no blueprint {candidate}; known: {known}")
        files.append(candidate)
    if args.all and not files and not args.blueprint and not args.domains:
        raise CliError(f"--all: no blueprints under {paths.blueprints} (the shipped domains come compiled: scaleenv list)")
    if not files:
        raise CliError("say which domains: scaleenv synth DOMAIN ..., --all, or --blueprint PATH")
    return files


def cmd_synth(args: argparse.Namespace) -> int:
    if args.from_name or args.from_names:
        return _synth_from_names(args)
    from .compiler.pipeline import SynthOutcome, synth_blueprints

    paths = _paths(args, create=True)
    files = _blueprint_files(args, paths)
    with _progress(len(files), "synth domains") as bar:

        def report(outcome: SynthOutcome) -> None:
            bar.update(1)
            if outcome.status == "current":
                print(f"{outcome.name}: up to date (blueprint, options and compiler unchanged; --force recompiles)", flush=True)
                return
            if outcome.status != "written":
                _say(outcome.error)
                return
            compiled = outcome.compiled
            assert compiled is not None
            spec, quality = compiled.spec, compiled.report
            if not quality.passed:
                _say(f"{spec.name}: procedural tests failed, kept anyway (--allow-failing):")
                for line in quality.reasons():
                    _say(f"  {line}")
            if len(compiled.tasks) < compiled.tasks_wanted:
                _say(f"{spec.name}: only {len(compiled.tasks)} of {compiled.tasks_wanted} tasks could be verified")
            print(
                f"{spec.name}: {len(spec.entities)} entities, {len(spec.tools)} tools ({len(spec.write_tools())} write); "
                f"tests {'passed' if quality.passed else 'FAILED'} ({quality.calls} calls); "
                f"{len(compiled.tasks)} verified tasks; {len(outcome.changed)} file(s) changed",
                flush=True,
            )

        outcomes = synth_blueprints(
            files, paths, tasks=args.tasks, task_seed=args.task_seed, allow_failing=args.allow_failing, on_outcome=report,
            force=args.force, jobs=args.jobs,
        )
    invalid = sum(1 for o in outcomes if o.status == "invalid")
    rejected = sum(1 for o in outcomes if o.status == "rejected")
    if invalid or rejected:
        print(
            f"{invalid} invalid blueprint(s), {rejected} domain(s) rejected by the gate; nothing written for them",
            file=sys.stderr,
        )
    return 2 if invalid else 1 if rejected else 0


def _synth_from_names(args: argparse.Namespace) -> int:
    from .synthesis.names import NameOutcome, synthesize_names
    from .synthesis.proposer import Budget, LLMError, domain_name

    if args.ray is not None and importlib.util.find_spec("ray") is None:
        raise CliError("--ray needs Ray: pip install 'scaleenv-mcp[ray]'")
    if not args.model:
        raise CliError("--from-name/--from-names need --model MODEL (any litellm model, e.g. openai/gpt-4o)")
    paths = _paths(args, create=True)
    if args.from_names:
        try:
            lines = Path(args.from_names).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CliError(f"cannot read {args.from_names}: {exc.strerror}") from None
        names = [n.strip() for n in lines if n.strip() and not n.lstrip().startswith("#")]
    else:
        names = [args.from_name]

    def report(outcome: NameOutcome) -> None:
        if outcome.status == "skipped":
            print(f"skipped {outcome.name!r}: near-identical to {outcome.twin!r}")
            return
        if outcome.status == "done_before":
            print(f"skipped {outcome.name!r}: {outcome.before.replace('_', ' ')} in an earlier run (--resume)")
            return
        if outcome.status == "not_started":
            print(f"not started {outcome.name!r}: the budget is spent")
            return
        proposal = outcome.proposal
        where = f"; the proposal and its reasons are kept at {outcome.blueprint} and {outcome.reasons}"
        if outcome.status == "never_validated":
            print(outcome.error + where, file=sys.stderr)
            return
        assert proposal is not None
        cost = f", cost ${proposal.cost:.4f}" if proposal.cost else ""
        print(
            f"{domain_name(outcome.name)}: {proposal.calls} LLM call(s), {proposal.cached_calls} from cache, "
            f"{proposal.tokens['prompt']}+{proposal.tokens['completion']} tokens{cost}; repair rounds: {proposal.repairs}"
        )
        if outcome.status == "rejected":
            print(outcome.error, file=sys.stderr)
            print(f"{domain_name(outcome.name)}: not shipped{where}", file=sys.stderr)
            return
        compiled = outcome.compiled
        assert compiled is not None
        print(
            f"{compiled.spec.name}: {len(compiled.spec.tools)} tools; tests {'passed' if compiled.report.passed else 'FAILED'}; "
            f"{len(compiled.tasks)} verified tasks; {len(outcome.changed)} file(s) changed"
        )

    budget = Budget(max_tokens=args.max_tokens_total, max_cost=args.max_cost)
    try:
        outcomes = synthesize_names(
            names, paths, model=args.model, seed=args.seed, count_tools=args.count_tools, max_repairs=args.max_repairs,
            llm=_model_options(args), tasks=args.tasks, task_seed=args.task_seed,
            allow_failing=args.allow_failing, on_outcome=report, ray=args.ray, concurrency=args.concurrency,
            budget=budget, resume=args.resume,
        )  # fmt: skip
    except LLMError as exc:
        raise CliError(f"the model could not be reached: {exc}") from None
    if len(names) > 1 or budget.max_tokens is not None or budget.max_cost is not None:
        unpriced = f" ({budget.unpriced_calls} call(s) without a known price)" if budget.unpriced_calls else ""
        print(f"spent: {budget.tokens} tokens, ${budget.cost:.4f}{unpriced}")
    waiting = sum(1 for o in outcomes if o.status == "not_started")
    if waiting:
        print(f"{waiting} name(s) not started: the budget is spent; rerun with --resume to go on", file=sys.stderr)
    failed = sum(1 for o in outcomes if o.status in ("never_validated", "rejected"))
    if failed:
        print(f"{failed} domain(s) not shipped", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- test, tasks, graph


def _specs(args: argparse.Namespace) -> list[DomainSpec]:
    paths = _paths(args)
    names = list(args.domains)
    if getattr(args, "all", False):
        names += [d["name"] for d in read_index(paths).get("domains", [])]
    if not names:
        raise CliError("say which domains: DOMAIN ... or --all")
    return [load_domain(paths, name) for name in names]


def cmd_test(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    specs = _specs(args)
    if args.renamed:  # the seed draws from the domain's name: another name, other data, the same rules
        specs = [s for spec in specs for s in (spec, spec.model_copy(update={"name": f"other_{spec.name}"[:48]}))]
    run = functools.partial(_gate, seeds=args.seeds, calls_per_tool=args.calls)
    reports: list[DomainReport] = []
    with _progress(len(specs), "test domains") as bar, contextlib.ExitStack() as stack:
        if args.jobs > 1 and len(specs) > 1:
            results = stack.enter_context(ProcessPoolExecutor(max_workers=min(args.jobs, len(specs)))).map(run, specs)
        else:
            results = map(run, specs)
        for report in results:
            reports.append(report)
            bar.update(1)
    if args.json:
        print(json.dumps({"domains": [r.model_dump(mode="json") | {"score": r.score} for r in reports]}, indent=2))
    else:
        print(f"{'domain':<30} {'result':<6} {'calls':>6} {'min/tool':>8} {'violations':>10}  defects")
        for r in reports:
            s = r.summary()
            print(
                f"{r.domain:<30} {'pass' if r.passed else 'FAIL':<6} {r.calls:>6} {s['min_calls_per_tool']:>8} "
                f"{len(r.violations):>10}  {', '.join(s['defects']) or '-'}"
            )
            for line in r.reasons():
                print(f"    {line}")
            for branch in r.uncovered:  # effect branches no gate call took (tasks and examples may still take them)
                print(f"    not taken by a gate call: {branch}")
    return 0 if all(r.passed for r in reports) else 1


def _gate(spec: DomainSpec, *, seeds: int, calls_per_tool: int) -> DomainReport:
    """One domain's gate (a module-level function, so ``--jobs`` can run it in another process)."""
    from .compiler.proctest import gate

    return gate(spec, seeds=seeds, calls_per_tool=calls_per_tool)


def cmd_tasks(args: argparse.Namespace) -> int:
    from .tasks.generation import generate_tasks

    spec = load_domain(_paths(args), args.domain)
    if args.show:
        return _show_tasks(_paths(args), spec, args.show)
    if args.seeds is not None:
        if args.stats or args.paraphrase:
            raise CliError("--seeds streams fresh tasks; it does not combine with --stats or --paraphrase")
        return _print_seeded_tasks(spec, args.seeds, args.count or 6, args.json)
    args.count = args.count or 32
    if args.stats:
        paths = _paths(args)
        return _print_task_stats(spec, load_domain_tasks(paths, spec.name), args.json, _recorded_rejections(paths, spec.name))
    with _progress(args.count, "generate tasks") as bar:

        def kept(_task: TaskSpec) -> None:
            bar.update(1)

        tasks = generate_tasks(spec, count=args.count, seed=args.seed, on_task=kept)
    if args.paraphrase:
        tasks = _paraphrased(args, tasks)
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in tasks], indent=2))
        return 0
    for t in tasks:
        d = t.difficulty
        print(f"{t.id} [{t.kind}; {d['steps']} steps, {d['writes']} writes, {d['branches']} goals, {d['rules']} rules]")
        print(f"  {t.instruction}")
    if len(tasks) < args.count:
        print(f"only {len(tasks)} of {args.count} tasks could be verified", file=sys.stderr)
    return 0


def _show_tasks(paths: ProjectPaths, spec: DomainSpec, ids: list[str]) -> int:
    """Stored tasks as a person reads them: brief, script, reference solution and checks."""
    from .tasks.show import show_task

    stored = {t.id: t for t in load_domain_tasks(paths, spec.name)}
    unknown = [i for i in ids if i not in stored]
    if unknown:
        sample = ", ".join(list(stored)[:3])
        raise CliError(f"no stored task {', '.join(map(repr, unknown))} in {spec.name} (its tasks are {sample}, ...)")
    print("\n".join(show_task(stored[i]) for i in ids), end="")
    return 0


def _seed_range(text: str) -> range:
    """``A-B`` (both included) or one seed ``A``: the states ``tasks --seeds`` draws from."""
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds as A-B or A, whole numbers from 0 (got {text!r})") from None
    if first < 0 or last < first:
        raise argparse.ArgumentTypeError(f"expected seeds A-B with 0 <= A <= B (got {text!r})")
    return range(first, last + 1)


def _print_seeded_tasks(spec: DomainSpec, seeds: range, per_seed: int, as_json: bool) -> int:
    """Stream fresh verified tasks, ``per_seed`` from each seeded state (6 by default, as the shipped
    sets take), as they are made (JSON: one per line)."""
    from .compiler.pipeline import seeded_tasks, task_split

    made = 0
    for t in seeded_tasks(spec, seeds, per_seed):
        made += 1
        if as_json:
            print(json.dumps({**t.model_dump(mode="json"), "split": task_split(spec, t)}), flush=True)
            continue
        d = t.difficulty
        print(f"{t.id} [{t.kind}; seed {t.initial_state['seed']}, {task_split(spec, t)}; {d['steps']} steps, {d['writes']} writes]")
        print(f"  {t.instruction}", flush=True)
    if made < per_seed * len(seeds):
        print(f"only {made} of {per_seed * len(seeds)} tasks could be verified", file=sys.stderr)
    return 0


def _paraphrased(args: argparse.Namespace, tasks: list[TaskSpec]) -> list[TaskSpec]:
    from .llm import LLMError
    from .synthesis.paraphrase import paraphrase_tasks

    try:
        results, counts = paraphrase_tasks(
            tasks, model=args.paraphrase, cache_dir=_paths(args, create=True).root / ".scaleenv-cache" / "llm", seed=args.seed,
            llm=_model_options(args),
        )  # fmt: skip
    except LLMError as exc:
        raise CliError(f"the model could not be reached: {exc}") from None
    for r in results:
        if not r.kept:
            _say(f"{r.task.id}: the paraphrase lost {', '.join(r.missing[:5])}; the generated wording stays")
    kept = sum(1 for r in results if r.kept)
    _say(f"paraphrased {kept} of {len(results)} tasks ({counts['calls']} LLM calls, {counts['cached']} from cache)")
    return [r.task for r in results]


def _recorded_rejections(paths: ProjectPaths, name: str) -> dict[str, int] | None:
    """The candidates each acceptance rule rejected while the shipped set was made, as the manifest
    records them; None for a manifest written before they were recorded (or none at all)."""
    try:
        manifest = json.loads(paths.manifest(name).read_text())
    except FileNotFoundError:
        return None
    rejected = manifest.get("tasks", {}).get("rejected")
    return {str(k): int(v) for k, v in rejected.items()} if isinstance(rejected, dict) else None


def _print_task_stats(spec: DomainSpec, tasks: list[TaskSpec], as_json: bool, rejected: dict[str, int] | None = None) -> int:
    from .tasks.stats import task_stats

    stats = task_stats(spec, tasks, rejected=rejected)
    if as_json:
        print(json.dumps(stats, indent=2))
        return 0
    kinds = ", ".join(f"{k} {v['count']} ({v['share']:.0%})" for k, v in stats["kinds"].items())
    labels = ", ".join(f"{k} {v}" for k, v in stats["difficulty"].items())
    writes = stats["write_tools"]
    print(f"{spec.name}: {stats['tasks']} stored tasks; {kinds}")
    print(f"  difficulty: {labels}; {stats['mean_steps']} steps on average; {stats['with_conditions']} name a row by a condition, "
          f"{stats['with_hidden_facts']} hold facts back until asked, {stats['with_aggregates']} ask for a count, total or "
          f"latest date, {stats['with_distractors']} name a row that has a near duplicate")
    for family, m in stats["mix"].items():
        print(f"  mix: {family.replace('_', ' ')} {m['count']} ({m['share']:.0%}; at least {m['at_least']:.0%}: "
              f"{'met' if m['met'] else 'NOT met'})")
    print(f"  write tools in reference solutions: {writes['covered']} of {writes['total']}"
          + (f" (never: {', '.join(stats['never_used'])})" if stats["never_used"] else ""))  # fmt: skip
    decisions = ", ".join(f"{tool} {d['refused']} refused / {d['allowed']} allowed" for tool, d in stats["decisions"].items())
    print(f"  policy decisions (agent-kept rules): {decisions or 'none'}")
    print(f"  per task: {stats['mean_calls']} calls, {stats['mean_writes']} writes, {stats['mean_distinct_tools']} distinct tools; "
          f"{stats['with_persona_and_reason']} of {stats['tasks']} have a persona and a reason for calling")
    for trait, t in stats["traits"].items():
        target = "no target (the domain has no goodwill tool)" if t["target"] is None else (
            f"target {t['target']:.0%}: {'met' if t['met'] else 'NOT met'}")
        print(f"  trait {trait.replace('_', ' ')}: {t['count']} ({t['share']:.0%} of {t['of']}; {target})")
    if stats["rejected"] is None:
        print("  candidates rejected: not recorded in the manifest (regenerate it with `scaleenv synth`)")
    else:
        reasons = ", ".join(f"{reason} {n}" for reason, n in stats["rejected"].items())
        print(f"  candidates rejected, per acceptance rule: {reasons or 'none'}")
    return 0


def _chosen_domains(args: argparse.Namespace) -> list[str]:
    from .spec.catalog import domain_names

    names = domain_names(_paths(args)) if args.all else list(args.domains)
    if not names:
        raise CliError("name at least one domain, or pass --all")
    return names


def cmd_export(args: argparse.Namespace) -> int:
    from .export.tasks import export_tasks
    from .export.trajectories import SUFFIX, ExportError, export_trajectories, read_trajectories

    try:
        if args.what == "trajectories":
            runs = [Path(r) for r in args.runs]
            found = read_trajectories(runs, success_only=args.success_only, min_reward=args.min_reward)
            if args.to == "hf-dataset":
                return _export_hf_dataset(args, runs=runs, found=found)
            out = Path(args.out) if args.out else Path(f"exports/trajectories.{args.to}{SUFFIX[args.to]}")
            count = export_trajectories(found, args.to, out)
            print(f"{count} trajectories -> {out} ({args.to})")
            return 0
        paths = _paths(args)
        chosen = [(load_domain(paths, n), load_domain_tasks(paths, n)) for n in _chosen_domains(args)]
        if args.to == "hf-dataset":
            return _export_hf_dataset(args, domains=chosen)
        prompts, grading, count = export_tasks(chosen, args.to, Path(args.out or "exports/tasks"))
        if grading is None:
            print(f"{count} tasks -> {prompts} (NeMo Gym rows; serve the domain with --http --nemo-gym to grade them)")
        else:
            print(f"{count} tasks -> {prompts} (for the policy) and {grading} (checks and solutions: keep it on the reward side)")
        return 0
    except ExportError as exc:
        raise CliError(str(exc)) from None


def _export_hf_dataset(
    args: argparse.Namespace,
    *,
    domains: Sequence[tuple[DomainSpec, Sequence[TaskSpec]]] = (),
    runs: Sequence[Path] = (),
    found: Iterable[Trajectory] = (),
) -> int:
    """``--to hf-dataset``: a ``datasets`` folder with its dataset card."""
    from .export.hf_dataset import write_task_dataset, write_trajectory_dataset

    out = Path(args.out or f"exports/hf-dataset/{args.what}")
    if args.what == "tasks":
        written = write_task_dataset(domains, out)
    else:
        filters = [*(["--success-only"] if args.success_only else []), *([f"--min-reward {args.min_reward:g}"] if args.min_reward is not None else [])]
        written = write_trajectory_dataset(found, runs, out, filters=filters)
    splits = ", ".join(f"{name} {rows}" for name, rows in written.splits.items())
    print(f"{args.what} -> {written.path} (datasets.load_from_disk; splits: {splits}; card: {written.card})")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from .export.registry import PACKAGE, PublishError, server_json, write_server_json
    from .spec.catalog import domain_names
    from .spec.paths import package_corpus

    if not re.fullmatch(r"[a-zA-Z0-9.-]+", args.namespace):
        raise CliError(f"--namespace {args.namespace!r} is not a reverse-DNS name like io.github.yourname")
    paths = _paths(args)
    shipped = package_corpus()
    in_package = set(domain_names(shipped)) if shipped is not None else set()
    specs = [load_domain(paths, name) for name in _chosen_domains(args)]
    for spec in specs:  # every entry runs the package: a domain it does not carry cannot be served from it
        if spec.name not in in_package:
            raise CliError(f"{spec.name} is not shipped in the {PACKAGE} package, so a registry entry for it could not start it")
    for spec in specs:
        name = spec.name
        manifest = json.loads(paths.manifest(name).read_text(encoding="utf-8")) if paths.manifest(name).is_file() else None
        try:
            data = server_json(spec, namespace=args.namespace, tasks=len(load_domain_tasks(paths, name)), manifest=manifest)
        except PublishError as exc:
            raise CliError(str(exc)) from None
        out = Path(args.out) / name / "server.json"
        changed = write_server_json(data, out)
        print(f"{data['name']} -> {out}{'' if changed else ' (unchanged)'}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from .spec.graph import build_graph, graph_dot, graph_json

    spec = load_domain(_paths(args), args.domain)
    graph = build_graph(spec)
    if args.dot:
        print(graph_dot(spec, graph), end="")
        return 0
    data = graph_json(spec, graph)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    facts = data["facts"]
    print(f"{spec.name}: {facts['nodes']} tools, {facts['edges']} edges; entry tools: {', '.join(facts['entry_tools'])}")
    for edge in data["edges"]:
        print(f"  {edge['from']} -> {edge['to']}: {'; '.join(edge['data'] + edge['enables'])}")
    if facts["unreachable_tools"]:
        print(f"unreachable: {', '.join(facts['unreachable_tools'])}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .export.report import ReportError, build_report

    try:
        result = build_report([Path(r) for r in args.runs], Path(args.html), paths=_paths(args))
    except ReportError as exc:
        raise CliError(str(exc)) from None
    print(f"{result.runs} run(s), {result.episodes} episode page(s), {result.domains} domain page(s) -> {result.index}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """The blueprint JSON Schema for editors, described from the language reference when it is at hand."""
    from .spec.paths import package_corpus
    from .spec.schema import schema_text

    candidates = [_paths(args).root, *([c.root] if (c := package_corpus()) is not None else [])]
    reference = next((r / "docs" / "blueprint-language.md" for r in candidates if (r / "docs" / "blueprint-language.md").is_file()), None)
    if reference is None:
        _say("docs/blueprint-language.md not found: key descriptions come from the models only")
    text = schema_text(reference)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return 0
    Path(args.output).write_text(text, encoding="utf-8")
    _say(f"wrote {args.output}")
    return 0


def cmd_corpus(args: argparse.Namespace) -> int:
    """Every compiled domain's figures, and what holds across the corpus (industries, near duplicates, tau2 distance)."""
    from .export.corpus import corpus_figures, corpus_markdown, corpus_svg, corpus_table

    paths = _paths(args)
    corpus = corpus_figures(paths)
    if not corpus.domains:
        raise CliError(f"no compiled domains under {paths.root} (run `scaleenv synth --all`)")
    if args.plot:
        if not args.plot.endswith(".svg"):
            raise CliError(f"--plot writes SVG: name a file ending in .svg, not {args.plot!r}")
        Path(args.plot).write_text(corpus_svg(corpus), encoding="utf-8")
        _say(f"wrote {args.plot}")
    if args.json:
        print(json.dumps(corpus.to_json(), indent=2))
    elif args.markdown:
        sys.stdout.write(corpus_markdown(corpus))
    else:
        print(corpus_table(corpus))
    return 0


# ---------------------------------------------------------------- eval


def _summary_table(summary: dict[str, Any], k_max: int) -> str:
    cols = ["tasks", "episodes", "infra_faults", "mean_reward", "pass@1"] + [f"pass^{k}" for k in range(2, k_max + 1)]
    lines = [f"{'domain':<24}" + "".join(f"{c:>13}" for c in cols)]
    for name, m in [*summary["domains"].items(), ("overall", summary["overall"])]:
        lines.append(f"{name:<24}" + "".join(f"{('-' if m[c] is None else m[c]):>13}" for c in cols))
    return "\n".join(lines)


def _interrupted(args: argparse.Namespace) -> None:
    """After Ctrl-C: what the run saved, and the command that carries on from there."""
    from .harness.results import EpisodeRecord

    results = Path(args.out) / "results.jsonl"
    latest: dict[tuple[str, str, str, int], bool] = {}  # episode -> finished (a resumed fault is a later line)
    if results.is_file():
        for line in results.read_text(encoding="utf-8").splitlines():
            try:
                record = EpisodeRecord.model_validate_json(line)
            except ValueError:  # a line cut short by the interrupt
                continue
            latest[(record.domain, record.task_id, record.agent, record.trial)] = record.infra_error is None
    finished = sum(latest.values())
    faults = len(latest) - finished
    again = list(getattr(args, "argv", sys.argv[1:])) + ([] if args.resume else ["--resume"])
    for i, word in enumerate(again):  # the hint goes to the terminal and its scrollback: not the key itself
        if word == "--api-key" and i + 1 < len(again):
            again[i + 1] = "KEY"
        elif word.startswith("--api-key="):
            again[i] = "--api-key=KEY"
    print(
        f"\ninterrupted: {finished} finished episode(s) saved in {results}"
        + (f" ({faults} infrastructure fault(s), run again on resume)" if faults else "")
        + f"; continue with: scaleenv {shlex.join(again)}",
        file=sys.stderr,
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from .harness.evaluate import EvalError, EvalOptions, run_evaluation
    from .harness.results import EpisodeRecord

    paths = _paths(args)
    bar: tqdm[Any] | None = None

    def started(total: int) -> None:
        nonlocal bar
        from tqdm import tqdm

        bar = tqdm(total=total, desc="eval episodes", unit="episode", file=sys.stderr, disable=None, leave=False)

    def finished(record: EpisodeRecord) -> None:
        if bar is not None:
            bar.update(1)
        if not args.json:
            fault = record.infra_error
            status = f"infra fault ({fault.kind})" if fault else "success" if record.success else f"reward {record.reward}"
            _say(f"{record.task_id} t{record.trial}: {status}")

    try:
        options = EvalOptions(
            domains=args.domain, per_domain=args.tasks, task_ids=args.task_ids, trials=args.trials,
            concurrency=args.concurrency, out=Path(args.out), resume=args.resume, max_steps=args.max_steps,
            timeout=args.timeout, user_sim=args.user_sim, model=_model_options(args, timeout=args.llm_timeout),
            isolation=args.isolation, ray=args.ray, ray_workers=args.ray_workers, answer_channel=args.answer_channel,
            seeds=list(args.seeds) if args.seeds is not None else None,
        )  # fmt: skip
        report = run_evaluation(args.agent, options, paths=paths, on_episode=finished, on_start=started)
    except EvalError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()  # off the terminal before the message (closing again below does nothing)
        _interrupted(args)
        raise
    finally:
        if bar is not None:
            bar.close()
    summary = report.summary_json()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_summary_table(summary, args.trials))
        for fault in report.infra_faults:
            print(f"infra fault: {fault.task_id} t{fault.trial}: {fault.kind}: {fault.message}")
        print(f"results: {Path(args.out) / 'results.jsonl'}")
    if report.all_infra_faults:
        print("every episode was an infrastructure fault: nothing about the agent was measured", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------- list, serve, client-config


def cmd_list(args: argparse.Namespace) -> int:
    index = read_index(_paths(args))
    domains = index.get("domains", [])
    if args.json:
        print(json.dumps(index, indent=2))
        return 0
    if not domains:
        print("no generated domains; run `scaleenv synth --all`")
        return 0
    print(f"{'domain':<24} {'entities':>8} {'tools':>6} {'writes':>6}  title")
    for d in domains:
        print(f"{d['name']:<24} {d['entities']:>8} {d['tools']:>6} {d['write_tools']:>6}  {d['title']}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serving.server import ServeError, serve

    spec = load_domain(_paths(args), args.domain)
    try:
        serve(spec, args, root=getattr(args, "root", None))
    except ServeError as exc:
        raise CliError(str(exc)) from None
    return 0


def cmd_client_config(args: argparse.Namespace) -> int:
    paths = _paths(args)
    load_domain(paths, args.domain)  # fail now, not inside the client, if the domain is unknown
    entry: dict[str, Any] = {
        "command": sys.executable,
        "args": ["-m", "scaleenv_mcp", "serve", args.domain],
        "env": {"SCALEENV_ROOT": str(paths.root)},
    }
    key = f"scaleenv-{args.domain}"
    if args.client == "vscode":
        config: dict[str, Any] = {"servers": {key: {"type": "stdio", **entry}}}
    else:  # claude (Claude Desktop / Claude Code .mcp.json) and cursor share the mcpServers shape
        config = {"mcpServers": {key: entry}}
    print(json.dumps(config, indent=2))
    return 0


# ---------------------------------------------------------------- main


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows every option's default (``%(default)s``), but not ``None`` or ``False``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or action.default == []:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from .serving.options import add_serve_options

    parser = _Parser(prog="scaleenv", description=__doc__, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"scaleenv-mcp {__version__}")
    parser.add_argument("--root", help="project folder (default: found from the current directory, or $SCALEENV_ROOT)")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, formatter_class=_Formatter)

    p = command("synth", "compile blueprints into servers/ and manifests/ (or synthesize new ones from names)")
    p.add_argument("domains", nargs="*", help="domain names under synthesis/domains/")
    p.add_argument("--all", action="store_true", help="every blueprint under synthesis/domains/")
    p.add_argument("--blueprint", action="append", help="a blueprint file (repeatable)")
    p.add_argument("--allow-failing", action="store_true", help="write domains that fail procedural tests")
    p.add_argument("--force", action="store_true",
                   help="recompile every domain asked for, even one whose output is up to date (same blueprint, options and compiler)")
    p.add_argument("--tasks", type=_at_least(0), default=48, help="verified tasks to generate per domain")
    p.add_argument("--task-seed", type=int, default=0, help="seed for task generation")
    p.add_argument("--jobs", type=_at_least(1), default=os.cpu_count() or 1,
                   help="blueprints compiled side by side, one process each (default: the machine's cores); the output is the same")
    p.add_argument("--from-name", help="synthesize a new domain from its name with an LLM (needs --model)")
    p.add_argument("--from-names", help="a file with one domain name per line; near-duplicates are skipped")
    p.add_argument("--model", help="litellm model for --from-name, e.g. openai/gpt-4o")
    p.add_argument("--count-tools", type=_at_least(1), default=10, help="about how many tools to ask the model for")
    p.add_argument("--seed", type=int, default=0, help="seed for the LLM and the new domain's data")
    p.add_argument("--max-repairs", type=_at_least(0), default=2,
                   help="repair rounds per synthesis stage, and rounds sending the gate's defects back to the model")
    p.add_argument("--concurrency", type=_at_least(1), default=None,
                   help="names synthesized side by side (default 4; with --ray, every name)")
    p.add_argument("--max-tokens-total", type=_at_least(1), default=None,
                   help="start no new name once the fresh LLM calls used this many tokens (running ones finish)")
    p.add_argument("--max-cost", type=_dollars, default=None,
                   help="start no new name once the fresh LLM calls cost this many dollars (litellm's prices)")
    p.add_argument("--resume", action="store_true",
                   help="skip names an earlier run wrote or rejected (recorded in synthesis/synth-names.json)")
    p.add_argument("--api-base", help="OpenAI-compatible endpoint for the model (no key needed for a keyless one)")
    p.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="with --from-names: synthesize the names as Ray tasks (a local instance, or the cluster at ADDRESS)")  # fmt: skip
    p.set_defaults(func=cmd_synth)

    p = command("test", "procedural tests: exercise every tool with generated calls and check invariants")
    p.add_argument("domains", nargs="*", help="generated domains to test")
    p.add_argument("--all", action="store_true", help="every generated domain")
    p.add_argument("--json", action="store_true", help="print the full reports as JSON")
    p.add_argument("--calls", type=_at_least(1), default=24, help="minimum generated calls per tool, per seed")
    p.add_argument("--seeds", type=_at_least(1), default=3, help="gate runs, each on other seed data and other calls")
    p.add_argument("--renamed", action="store_true",
                   help="also gate each domain under another name (other_NAME), whose seed data is drawn afresh: an example "
                        "that leans on what the seed happened to draw fails there")
    p.add_argument("--jobs", type=_at_least(1), default=os.cpu_count() or 1,
                   help="domains tested side by side, one process each (default: the machine's cores)")
    p.set_defaults(func=cmd_test)

    p = command("tasks", "generate verified tasks for a domain by graph expansion")
    p.add_argument("domain", help="a generated domain")
    p.add_argument("--count", type=_at_least(1), default=None,
                   help="how many tasks to generate (default 32); with --seeds, how many from each seeded state (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed for task generation")
    p.add_argument("--seeds", type=_seed_range, metavar="A-B",
                   help="stream fresh tasks from the domain seeded with each of seeds A to B (ids <domain>-s<seed>-<nnn>)")
    p.add_argument("--json", action="store_true", help="print the tasks as JSON (with checks and solutions)")
    p.add_argument("--stats", action="store_true", help="describe the stored tasks instead: kinds, difficulty, write tools covered")
    p.add_argument("--show", nargs="+", metavar="ID",
                   help="print stored tasks as a person reads them: who calls and why, the script, the reference, the checks")  # fmt: skip
    p.add_argument("--paraphrase", metavar="MODEL",
                   help="reword each instruction with a litellm model; a rewording that loses a fact is not kept")  # fmt: skip
    p.add_argument("--api-base", help="OpenAI-compatible endpoint for --paraphrase")
    p.add_argument("--api-key", help="API key for --paraphrase (default: the provider's environment variable)")
    p.set_defaults(func=cmd_tasks)

    p = command("eval", "run an agent on tasks over MCP stdio and report pass@1 / pass^k")
    p.add_argument("--domain", action="append", help="a domain to evaluate (repeatable; default: all)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--tasks", type=_at_least(1), help="the first N tasks of each domain (default: all)")
    which.add_argument("--task-ids", nargs="+", help="explicit task ids, e.g. retail-003")
    p.add_argument("--agent", required=True, help="oracle, noop, random, or litellm:MODEL")
    p.add_argument("--trials", type=_at_least(1), default=1, help="trials per task (pass^k up to this k)")
    p.add_argument("--concurrency", type=_at_least(1), default=2, help="episodes at once")
    p.add_argument("--out", default="runs/latest", help="results folder (one agent per folder)")
    p.add_argument("--resume", action="store_true", help="continue a previous run in --out, skipping finished episodes")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--max-steps", type=_at_least(1), default=30, help="tool calls per episode")
    p.add_argument("--timeout", type=_seconds, default=300.0, help="seconds per episode")
    p.add_argument("--user-sim", help="MODEL that plays the user (conversational mode)")
    p.add_argument("--api-base", help="OpenAI-compatible endpoint for litellm models (no key needed for a keyless one)")
    p.add_argument("--api-key", help="API key for litellm models (default: the provider's environment variable)")
    p.add_argument("--llm-timeout", type=_seconds, default=120.0, help="seconds per LLM call")
    p.add_argument(
        "--isolation", choices=["inproc", "process"], default="inproc",
        help="inproc: each episode an MCP session with an in-process server; process: a `scaleenv serve` stdio subprocess each",
    )  # fmt: skip
    p.add_argument("--answer-channel", choices=["typed", "prose"], default="typed",
                   help="typed: a question is answered through the task's submit_answer tool, by equality; prose: the final message")  # fmt: skip
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="spread episodes over Ray: a local instance, or the cluster at ADDRESS (auto, host:port, ray://...)")  # fmt: skip
    p.add_argument("--ray-workers", type=_at_least(1), help="Ray workers (default: one per CPU of the cluster)")
    p.add_argument("--seeds", type=_seed_range, metavar="A-B",
                   help="run fresh verified tasks from each domain seeded with each of seeds A to B (--tasks per seed, default 6) instead of the stored ones")  # fmt: skip
    p.set_defaults(func=cmd_eval)

    p = command("export", "training data: eval trajectories in a trainer's format, or tasks as prompt and grading splits")
    what = p.add_subparsers(dest="what", required=True)
    q = what.add_parser("trajectories", help="episodes from eval runs", formatter_class=_Formatter)
    q.add_argument("runs", nargs="+", help="eval results folders (scaleenv eval --out)")
    q.add_argument("--to", choices=["openai", "hf", "sharegpt", "hermes", "hf-dataset"], required=True,
                   help="openai: fine-tuning JSONL; hf: Parquet for datasets/TRL; sharegpt: LlamaFactory JSON; hermes: Hermes JSONL; "
                        "hf-dataset: a datasets folder with a dataset card, ready to publish")  # fmt: skip
    q.add_argument("--out", help="output file, or folder for hf-dataset (default: exports/trajectories.<format>.<ext>, exports/hf-dataset/trajectories)")
    q.add_argument("--success-only", action="store_true", help="only episodes that succeeded")
    q.add_argument("--min-reward", type=float, help="only episodes with at least this reward")
    q = what.add_parser("tasks", help="tasks for a trainer: prompts.<ext> and grading.<ext>", formatter_class=_Formatter)
    q.add_argument("domains", nargs="*", help="generated domains")
    q.add_argument("--all", action="store_true", help="every generated domain")
    q.add_argument("--to", choices=["jsonl", "parquet", "nemo-gym", "hf-dataset"], default="jsonl",
                   help="jsonl or parquet: prompt and grading splits; nemo-gym: Responses-API rows for NeMo Gym and verifiers; "
                        "hf-dataset: the two splits as a datasets folder with a dataset card")  # fmt: skip
    q.add_argument("--out", help="output folder (default: exports/tasks, or exports/hf-dataset/tasks)")
    p.set_defaults(func=cmd_export)

    p = command("report", "a static HTML site from eval runs: figures, plots, every episode, each domain's tool graph")
    p.add_argument("runs", nargs="+", help="eval results folders (scaleenv eval --out); several are compared")
    p.add_argument("--html", required=True, metavar="DIR", help="folder to write the site into (new, empty, or an earlier report)")
    p.set_defaults(func=cmd_report)

    p = command("publish", "write an MCP Registry server.json per domain")
    p.add_argument("domains", nargs="*", help="generated domains")
    p.add_argument("--all", action="store_true", help="every generated domain")
    p.add_argument("--namespace", default="io.github.scaleenv", help="the registry namespace; only the one the package's README vouches for is accepted")
    p.add_argument("--out", default="registry", help="folder for <domain>/server.json")
    p.set_defaults(func=cmd_publish)

    p = command("schema", "the blueprint JSON Schema, for editors (YAML language servers)")
    p.add_argument("-o", "--output", help="write it to this file (default: standard output)")
    p.set_defaults(func=cmd_schema)

    p = command("corpus", "every compiled domain's figures: tools, rules, tasks, traits, industries, near duplicates")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the figures as JSON")
    form.add_argument("--markdown", action="store_true", help="the README's corpus table (domain, industry, tools, tasks)")
    p.add_argument("--plot", metavar="FILE.svg", help="also draw domains by tools and entities, coloured by industry")
    p.set_defaults(func=cmd_corpus)

    p = command("graph", "the tool dependency graph of a domain, with the reason for every edge")
    p.add_argument("domain", help="a generated domain")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="nodes, edges and facts as JSON")
    form.add_argument("--dot", action="store_true", help="Graphviz DOT")
    p.set_defaults(func=cmd_graph)

    p = command("list", "list generated domains")
    p.add_argument("--json", action="store_true", help="print manifests/index.json")
    p.set_defaults(func=cmd_list)

    p = command("serve", "serve a domain as an MCP server (stdio by default)")
    p.add_argument("domain", help="a generated domain")
    add_serve_options(p)
    p.set_defaults(func=cmd_serve)

    p = command("client-config", "print the JSON that registers a domain's stdio server in a client")
    p.add_argument("domain", help="a generated domain")
    p.add_argument("--client", choices=["claude", "vscode", "cursor"], default="claude", help="which client's format")
    p.set_defaults(func=cmd_client_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # for messages that repeat the command (how to resume an interrupted eval)
    try:
        status = int(args.func(args))
        # Flush here, not at interpreter exit: a reader that went away (`scaleenv graph X | head -1`)
        # then raises below, where it is handled, instead of as "Exception ignored ... BrokenPipeError".
        sys.stdout.flush()
        return status
    except (CliError, DomainNotFound, BlueprintError) as exc:
        print(f"scaleenv: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Stop quietly, and point stdout at /dev/null so the flush at exit has nowhere to fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
