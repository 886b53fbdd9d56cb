"""The ``scaleenv`` command: thin wrappers over the library, one subcommand per job."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from .catalog import DomainNotFound, load_domain, read_index
from .paths import ProjectPaths, project_paths
from .spec import BlueprintError, DomainSpec, load_blueprint

__all__ = ["main", "serve_main"]


class CliError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def _paths(args: argparse.Namespace) -> ProjectPaths:
    return project_paths(getattr(args, "root", None))


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
    if not files:
        raise CliError("say which domains: scaleenv synth DOMAIN ..., --all, or --blueprint PATH")
    return files


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.name


def _compile(spec: DomainSpec, source: str, paths: ProjectPaths, args: argparse.Namespace, report: Any = None) -> bool:
    """Gate, tasks and generated files for one validated spec; False if the gate rejects it."""
    from .graph import graph_json
    from .proctest import test_domain
    from .synthesis.codegen import generate_domain
    from .tasks import generate_tasks

    report = report if report is not None else test_domain(spec)
    if not report.passed:
        verdict = "kept anyway (--allow-failing)" if args.allow_failing else "rejected; nothing was written"
        print(f"{spec.name}: procedural tests failed, {verdict}:", file=sys.stderr)
        for line in report.reasons():
            print(f"  {line}", file=sys.stderr)
        if not args.allow_failing:
            return False
    extra = {"quality": report.summary(), "graph": graph_json(spec)}
    tasks = generate_tasks(spec, count=args.tasks, seed=args.task_seed)
    if len(tasks) < args.tasks:
        print(f"{spec.name}: only {len(tasks)} of {args.tasks} tasks could be verified", file=sys.stderr)
    changed = generate_domain(spec, paths, source, extra, tasks)
    print(
        f"{spec.name}: {len(spec.entities)} entities, {len(spec.tools)} tools ({len(spec.write_tools())} write); "
        f"tests {'passed' if report.passed else 'FAILED'} ({report.calls} calls); {len(tasks)} verified tasks; "
        f"{len(changed)} file(s) changed"
    )
    return True


def cmd_synth(args: argparse.Namespace) -> int:
    from .synthesis.codegen import write_index

    if args.from_name or args.from_names:
        return _synth_from_names(args)
    paths = _paths(args)
    failed = 0
    for file in _blueprint_files(args, paths):
        try:
            spec = load_blueprint(file)
        except BlueprintError as exc:
            print(str(exc), file=sys.stderr)
            failed += 1
            continue
        if not _compile(spec, _relative(file, paths.root), paths, args):
            failed += 1
    if write_index(paths):
        print("manifests/index.json updated")
    if failed:
        print(f"{failed} domain(s) rejected", file=sys.stderr)
        return 1
    return 0


def _synth_from_names(args: argparse.Namespace) -> int:
    import yaml

    from .proctest import test_domain
    from .spec import parse_blueprint
    from .synthesis.codegen import write_index
    from .synthesis.proposer import LLMError, SynthesisFailed, domain_name, near_duplicates, propose_domain

    if not args.model:
        raise CliError("--from-name/--from-names need --model MODEL (any litellm model, e.g. openai/gpt-4o)")
    paths = _paths(args)
    if args.from_names:
        try:
            lines = Path(args.from_names).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CliError(f"cannot read {args.from_names}: {exc.strerror}") from None
        names = [n.strip() for n in lines if n.strip() and not n.lstrip().startswith("#")]
    else:
        names = [args.from_name]
    names, dropped = near_duplicates(names)
    for name, twin in dropped:
        print(f"skipped {name!r}: near-identical to {twin!r}")
    failed = 0
    for name in names:
        target = paths.blueprints / f"{domain_name(name)}.yaml"
        try:
            proposal = anyio.run(
                lambda: propose_domain(
                    name, model=args.model, prompts=paths.prompts, cache_dir=paths.root / ".scaleenv-cache" / "llm",
                    seed=args.seed, count_tools=args.count_tools, max_repairs=args.max_repairs,
                    api_base=args.api_base, api_key=args.api_key,
                )
            )  # fmt: skip
        except LLMError as exc:
            raise CliError(f"the model could not be reached: {exc}") from None
        except SynthesisFailed as exc:
            print(str(exc), file=sys.stderr)
            failed += 1
            continue
        cost = f", cost ${proposal.cost:.4f}" if proposal.cost else ""
        print(
            f"{domain_name(name)}: {proposal.calls} LLM call(s), {proposal.cached_calls} from cache, "
            f"{proposal.tokens['prompt']}+{proposal.tokens['completion']} tokens{cost}; "
            f"repair rounds: {proposal.repairs}"
        )
        spec = parse_blueprint(proposal.blueprint, str(target))
        report = test_domain(spec)
        text = yaml.safe_dump(proposal.blueprint, sort_keys=False, allow_unicode=True, width=110)
        if not report.passed and not args.allow_failing:
            rejected = paths.root / "synthesis" / "rejected" / target.name
            rejected.parent.mkdir(parents=True, exist_ok=True)
            rejected.write_text(text, encoding="utf-8")
            print(f"{spec.name}: not shipped; the proposed blueprint is kept at {_relative(rejected, paths.root)}", file=sys.stderr)
        target.parent.mkdir(parents=True, exist_ok=True)
        if report.passed or args.allow_failing:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
        if not _compile(spec, _relative(target, paths.root), paths, args, report):
            failed += 1
    write_index(paths)
    if failed:
        print(f"{failed} domain(s) not shipped", file=sys.stderr)
        return 1
    return 0


def _specs(args: argparse.Namespace) -> list[DomainSpec]:
    paths = _paths(args)
    names = list(args.domains)
    if getattr(args, "all", False):
        names += [d["name"] for d in read_index(paths).get("domains", [])]
    if not names:
        raise CliError("say which domains: DOMAIN ... or --all")
    return [load_domain(paths, name) for name in names]


def cmd_test(args: argparse.Namespace) -> int:
    from .proctest import test_domain

    reports = [test_domain(spec, calls_per_tool=args.calls) for spec in _specs(args)]
    if args.json:
        print(json.dumps({"domains": [r.model_dump(mode="json") | {"score": r.score} for r in reports]}, indent=2))
    else:
        print(f"{'domain':<24} {'result':<6} {'calls':>6} {'min/tool':>8} {'violations':>10}  defects")
        for r in reports:
            s = r.summary()
            print(
                f"{r.domain:<24} {'pass' if r.passed else 'FAIL':<6} {r.calls:>6} {s['min_calls_per_tool']:>8} "
                f"{len(r.violations):>10}  {', '.join(s['defects']) or '-'}"
            )
            for line in r.reasons():
                print(f"    {line}")
    return 0 if all(r.passed for r in reports) else 1


def cmd_tasks(args: argparse.Namespace) -> int:
    from .tasks import generate_tasks

    spec = load_domain(_paths(args), args.domain)
    tasks = generate_tasks(spec, count=args.count, seed=args.seed)
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


def _eval_tasks(args: argparse.Namespace, paths: ProjectPaths) -> list[Any]:
    from .catalog import domain_names, load_domain_tasks

    known = domain_names(paths)
    if args.task_ids:
        by_domain: dict[str, list[Any]] = {}
        chosen = []
        for task_id in args.task_ids:
            domain = next((d for d in sorted(known, key=len, reverse=True) if task_id.startswith(d + "-")), None)
            if domain is None:
                raise CliError(f"task id {task_id!r} names no known domain ({', '.join(known)})")
            tasks = by_domain.setdefault(domain, load_domain_tasks(paths, domain))
            task = next((t for t in tasks if t.id == task_id), None)
            if task is None:
                raise CliError(f"unknown task {task_id!r}; {domain} has {tasks[0].id}..{tasks[-1].id}")
            chosen.append(task)
        return chosen
    domains = args.domain or known
    for d in domains:
        if d not in known:
            raise CliError(f"unknown domain {d!r}; known: {', '.join(known)}")
    chosen = []
    for d in domains:
        tasks = load_domain_tasks(paths, d)
        if not tasks:
            raise CliError(f"{d} has no stored tasks; run `scaleenv synth {d}`")
        chosen += tasks[: args.tasks] if args.tasks else tasks
    return chosen


def _summary_table(summary: dict[str, Any], k_max: int) -> str:
    cols = ["tasks", "episodes", "infra_faults", "mean_reward", "pass@1"] + [f"pass^{k}" for k in range(2, k_max + 1)]
    head = f"{'domain':<24}" + "".join(f"{c:>13}" for c in cols)
    lines = [head]
    rows = [*summary["domains"].items(), ("overall", summary["overall"])]
    for name, m in rows:
        cells = "".join(f"{('-' if m[c] is None else m[c]):>13}" for c in cols)
        lines.append(f"{name:<24}{cells}")
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from .harness.agents import make_agent
    from .harness.results import ResultStore, summarize
    from .harness.runner import EvalPlan, run_eval

    paths = _paths(args)
    tasks = _eval_tasks(args, paths)
    if args.user_sim and not args.agent.startswith("litellm:"):
        raise CliError("--user-sim needs a litellm:MODEL agent (oracle, noop and random do not converse)")
    try:
        agent = make_agent(
            args.agent,
            {t.id: t for t in tasks},
            api_base=args.api_base,
            api_key=args.api_key,
            user_sim=args.user_sim,
            timeout=args.llm_timeout,
        ) if args.agent.startswith("litellm:") else make_agent(args.agent, {t.id: t for t in tasks})
    except ValueError as exc:
        raise CliError(str(exc)) from None
    out = Path(args.out)
    try:
        store = ResultStore(out, resume=args.resume)
    except FileExistsError as exc:
        raise CliError(str(exc)) from None
    plan = EvalPlan(
        root=paths.root, tasks=tasks, agent=agent, trials=args.trials, concurrency=args.concurrency,
        max_steps=args.max_steps, timeout=args.timeout, user_sim=args.user_sim,
    )  # fmt: skip

    def progress(record: dict[str, Any]) -> None:
        if not args.json:
            status = f"infra fault ({record['infra_error']['kind']})" if record["infra_error"] else (
                "success" if record["success"] else f"reward {record['reward']}")
            print(f"{record['task_id']} t{record['trial']}: {status}", file=sys.stderr)

    records = anyio.run(run_eval, plan, store, progress)
    chosen = {(t.domain, t.id) for t in tasks}
    records = [r for r in records if (r["domain"], r["task_id"]) in chosen and r["agent"] == agent.name]
    summary = summarize(records, k_max=args.trials)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_summary_table(summary, args.trials))
        for fault in summary["infra_faults"]:
            print(f"infra fault: {fault['task_id']} t{fault['trial']}: {fault['kind']}: {fault['message']}")
        print(f"results: {store.path}")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from .graph import build_graph, graph_dot, graph_json

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


# ---------------------------------------------------------------- list


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


# ---------------------------------------------------------------- serve


def _serve(spec: DomainSpec, args: argparse.Namespace) -> int:
    from .catalog import load_domain_tasks
    from .server import build_server, serve_http, serve_stdio

    tasks = load_domain_tasks(project_paths(getattr(args, "root", None)), spec.name)
    if args.task and not tasks:
        raise CliError(f"{spec.name} has no stored tasks; run `scaleenv synth {spec.name}` first")
    try:
        server = build_server(spec, tasks=tasks, task_id=args.task, control_path=args.control)
    except LookupError as exc:
        raise CliError(str(exc)) from None
    if args.http:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: serving on {args.host}, reachable beyond this machine", file=sys.stderr)
        serve_http(server, host=args.host, port=args.port)
    else:
        anyio.run(serve_stdio, server)
    return 0


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--task", help="start every session on this task's initial state; offers its instruction as a prompt")
    parser.add_argument("--control", help="Unix socket path for the harness-only control channel (verify, snapshot, ...)")


def cmd_serve(args: argparse.Namespace) -> int:
    spec = load_domain(_paths(args), args.domain)
    return _serve(spec, args)


def serve_main(spec: DomainSpec, argv: Sequence[str] | None = None) -> int:
    """Entry point of a generated ``servers/<domain>`` package (``python -m servers.<domain>``)."""
    parser = argparse.ArgumentParser(prog=f"python -m servers.{spec.name}", description=spec.title)
    _add_serve_options(parser)
    args = parser.parse_args(argv)
    try:
        return _serve(spec, args)
    except CliError as exc:
        print(f"scaleenv: {exc}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------- client-config


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaleenv", description=__doc__)
    parser.add_argument("--root", help="project folder (default: found from the current directory)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="compile blueprints into servers/ and manifests/")
    p.add_argument("domains", nargs="*", help="domain names under synthesis/domains/")
    p.add_argument("--all", action="store_true", help="every blueprint under synthesis/domains/")
    p.add_argument("--blueprint", action="append", help="a blueprint file (repeatable)")
    p.add_argument("--allow-failing", action="store_true", help="write domains that fail procedural tests")
    p.add_argument("--tasks", type=int, default=32, help="verified tasks to generate per domain (default 32)")
    p.add_argument("--task-seed", type=int, default=0, help="seed for task generation (default 0)")
    p.add_argument("--from-name", help="synthesize a new domain from its name with an LLM (needs --model)")
    p.add_argument("--from-names", help="a file with one domain name per line; near-duplicates are skipped")
    p.add_argument("--model", help="litellm model for --from-name, e.g. openai/gpt-4o")
    p.add_argument("--count-tools", type=int, default=10, help="about how many tools to ask for (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed for the LLM and the new domain's data (default 0)")
    p.add_argument("--max-repairs", type=int, default=2, help="repair rounds per stage (default 2)")
    p.add_argument("--api-base", help="OpenAI-compatible endpoint for the model")
    p.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("test", help="procedural tests: exercise every tool and check invariants")
    p.add_argument("domains", nargs="*")
    p.add_argument("--all", action="store_true", help="every generated domain")
    p.add_argument("--json", action="store_true")
    p.add_argument("--calls", type=int, default=24, help="minimum generated calls per tool (default 24)")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("tasks", help="generate verified tasks for a domain by graph expansion")
    p.add_argument("domain")
    p.add_argument("--count", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("eval", help="run an agent on tasks over MCP stdio and report pass@1 / pass^k")
    p.add_argument("--domain", action="append", help="a domain to evaluate (repeatable; default: all)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--tasks", type=int, help="the first N tasks of each domain")
    which.add_argument("--task-ids", nargs="+", help="explicit task ids, e.g. retail-003")
    p.add_argument("--agent", required=True, help="oracle, noop, random, or litellm:MODEL")
    p.add_argument("--trials", type=int, default=1, help="trials per task (pass^k up to this k)")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--out", default="runs/latest", help="results folder (default runs/latest)")
    p.add_argument("--resume", action="store_true", help="continue a previous run in --out, skipping finished episodes")
    p.add_argument("--json", action="store_true")
    p.add_argument("--max-steps", type=int, default=30, help="tool calls per episode")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per episode")
    p.add_argument("--user-sim", help="MODEL that plays the user (conversational mode)")
    p.add_argument("--api-base", help="OpenAI-compatible endpoint for litellm models")
    p.add_argument("--api-key", help="API key for litellm models (default: the provider's environment variable)")
    p.add_argument("--llm-timeout", type=float, default=120.0, help="seconds per LLM call")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("graph", help="the tool dependency graph of a domain")
    p.add_argument("domain")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--dot", action="store_true")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("list", help="list generated domains")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("serve", help="serve a domain as an MCP server (stdio by default)")
    p.add_argument("domain")
    _add_serve_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("client-config", help="print the JSON that registers a domain's stdio server in a client")
    p.add_argument("domain")
    p.add_argument("--client", choices=["claude", "vscode", "cursor"], default="claude")
    p.set_defaults(func=cmd_client_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, DomainNotFound, BlueprintError) as exc:
        print(f"scaleenv: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
