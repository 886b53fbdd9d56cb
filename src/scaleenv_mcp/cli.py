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


def cmd_synth(args: argparse.Namespace) -> int:
    from .graph import graph_json
    from .proctest import test_domain
    from .synthesis.codegen import generate_domain, write_index
    from .tasks import generate_tasks

    paths = _paths(args)
    failed = 0
    for file in _blueprint_files(args, paths):
        try:
            spec = load_blueprint(file)
        except BlueprintError as exc:
            print(str(exc), file=sys.stderr)
            failed += 1
            continue
        report = test_domain(spec)
        if not report.passed:
            verdict = "kept anyway (--allow-failing)" if args.allow_failing else "rejected; nothing was written"
            print(f"{spec.name}: procedural tests failed, {verdict}:", file=sys.stderr)
            for line in report.reasons():
                print(f"  {line}", file=sys.stderr)
            if not args.allow_failing:
                failed += 1
                continue
        extra = {"quality": report.summary(), "graph": graph_json(spec)}
        tasks = generate_tasks(spec, count=args.tasks, seed=args.task_seed)
        if len(tasks) < args.tasks:
            print(f"{spec.name}: only {len(tasks)} of {args.tasks} tasks could be verified", file=sys.stderr)
        changed = generate_domain(spec, paths, _relative(file, paths.root), extra, tasks)
        writes = len(spec.write_tools())
        print(
            f"{spec.name}: {len(spec.entities)} entities, {len(spec.tools)} tools ({writes} write); "
            f"tests {'passed' if report.passed else 'FAILED'} ({report.calls} calls); {len(tasks)} verified tasks; "
            f"{len(changed)} file(s) changed"
        )
    if write_index(paths):
        print("manifests/index.json updated")
    if failed:
        print(f"{failed} domain(s) rejected", file=sys.stderr)
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
