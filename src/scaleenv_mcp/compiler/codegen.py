"""Emit ``servers/<domain>/`` and ``manifests/<domain>.json`` from a spec, byte-for-byte reproducibly.

A generated server package is deliberately small: a docstring a person can read to
understand the domain, the canonical spec as JSON, and two lines that hand it to the
shared runtime. Nothing here depends on the time, the machine or dictionary order that
the spec does not fix, so regenerating an unchanged blueprint changes no byte.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

from .._version import __version__
from ..engine.seed import seed_state
from ..spec.model import CreateEffect, DomainSpec, Effect, ForEachEffect, RuleSpec
from ..spec.paths import ProjectPaths
from ..spec.task import REWARD_MODES, TaskSpec, tasks_jsonl

__all__ = ["build_manifest", "generate_domain", "write_index"]


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _write(path: Path, text: str) -> bool:
    """Write only when the content differs; return whether the file changed."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _effect_text(effect: Effect) -> str:
    if isinstance(effect, str):
        return effect
    if isinstance(effect, CreateEffect):
        return f"create {effect.create}"
    if isinstance(effect, ForEachEffect):
        source = effect.for_each if isinstance(effect.for_each, str) else f"{effect.for_each.entity} rows"
        return f"for each {effect.as_} in {source}: {'; '.join(_effect_text(e) for e in effect.do)}"
    return f"delete {effect.delete}"


def _precondition(rule: RuleSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"check": rule.check, "error": rule.error, "kept_by": rule.kept_by}
    if rule.for_each is not None:
        out["for_each"] = rule.for_each if isinstance(rule.for_each, str) else f"{rule.for_each.entity} rows"
    return out


def build_manifest(spec: DomainSpec, source: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest: what a harness or a person needs to know about a domain without running it."""
    state = seed_state(spec)
    rows = state.counts()
    state.close()
    tools = []
    for name, tool in spec.tools.items():
        tools.append(
            {
                "name": name,
                "description": tool.description,
                "read_only": not tool.is_write,
                "input_schema": tool.input_schema(),
                "output_schema": spec.view(name).output_schema,
                "preconditions": [_precondition(r) for r in tool.requires],
                "effects": [_effect_text(e) for e in tool.effects],
            }
        )
    manifest: dict[str, Any] = {
        "name": spec.name,
        "title": spec.title,
        "version": spec.version,
        "description": spec.description,
        "spec_sha256": spec.content_hash(),
        "generator": f"scaleenv-mcp {__version__}",
        "source": source,
        "server": {"module": f"servers.{spec.name}", "command": ["scaleenv", "serve", spec.name]},
        "counts": {
            "entities": len(spec.entities),
            "tools": len(spec.tools),
            "read_tools": sum(1 for t in spec.tools.values() if not t.is_write),
            "write_tools": sum(1 for t in spec.tools.values() if t.is_write),
            "preconditions": sum(len(t.requires) for t in spec.tools.values()),
            "agent_kept_rules": sum(r.kept_by == "agent" for t in spec.tools.values() for r in t.requires),
            "initial_rows": rows,
        },
        "entities": {name: e.json_schema() for name, e in spec.entities.items()},
        "tools": tools,
        "resources": [f"scaleenv://{spec.name}/schema", f"scaleenv://{spec.name}/policy"],
        "prompts": ["policy"],
        "reward": {
            "modes": list(REWARD_MODES),
            "default": "fraction",
            "gates": ["no_other_changes", "policy"],
            "actor": spec.actor.model_dump() if spec.actor else None,
        },
        "training": {
            "deterministic": True,
            "clock": spec.clock,
            "episode": "one isolated state per episode, rebuilt from the task's seed (sha256 in the task); "
            "the same calls give the same results and the same reward",
            "controls": ["reset", "snapshot", "restore", "diff", "verify"],
            "hidden_from_agent": ["checks", "solutions", "rewards", "actor"],
            "graded_on": "the end state and the final answer",
        },
    }
    if spec.provenance:
        manifest["provenance"] = spec.provenance
    manifest.update(extra or {})
    return manifest


def _server_init(spec: DomainSpec, source: str) -> str:
    reads = [n for n, t in spec.tools.items() if not t.is_write]
    writes = []
    for name, tool in spec.tools.items():
        if tool.is_write:
            rules = " ".join(f"[{r.check}]" + (" (kept by the agent)" if r.kept_by == "agent" else "") for r in tool.requires)
            rules = rules or "[no preconditions]"
            writes.append(f"  - {name}: {rules}")
    entities = ", ".join(f"{n} ({e.count} rows)" for n, e in spec.entities.items())
    doc = "\n".join(
        [
            f"{spec.title}: an MCP server generated by `scaleenv synth` from {source}.",
            "",
            f"Do not edit this package; change the blueprint and run `scaleenv synth {spec.name}`.",
            "",
            *textwrap.wrap(spec.description, 88),
            "",
            *textwrap.wrap(f"Entities: {entities}.", 88),
            *textwrap.wrap(f"Read tools: {', '.join(reads)}.", 88),
            "Write tools and their rules:",
            *writes,
            "",
            f"Run: python -m servers.{spec.name} (stdio), or add --http --port 8000 (streamable HTTP).",
        ]
    )
    return (
        f'"""{doc}\n"""\n\n'
        "from pathlib import Path\n\n"
        "from scaleenv_mcp import serving\n"
        "from scaleenv_mcp.spec import DomainSpec, load_spec_file\n\n"
        'SPEC_FILE = Path(__file__).with_name("spec.json")\n'
        f'SPEC_SHA256 = "{spec.content_hash()}"\n\n\n'
        "def load_spec() -> DomainSpec:\n"
        "    return load_spec_file(SPEC_FILE, SPEC_SHA256)\n\n\n"
        "def build_server() -> serving.DomainServer:\n"
        f'    """The {spec.name} MCP server; each client starts from the seeded initial state."""\n'
        "    return serving.build_server(load_spec())\n"
    )


_SERVER_MAIN = (
    '"""Serve this domain: stdio by default, streamable HTTP with --http [--port N]."""\n\n'
    "from scaleenv_mcp.serving import serve_main\n\n"
    "from . import load_spec\n\n"
    "raise SystemExit(serve_main(load_spec()))\n"
)
_SERVERS_INIT = '"""Generated MCP servers, one package per domain (emitted by `scaleenv synth`; do not edit)."""\n'


def generate_domain(
    spec: DomainSpec,
    paths: ProjectPaths,
    source: str,
    extra: dict[str, Any] | None = None,
    tasks: list[TaskSpec] | None = None,
) -> list[Path]:
    """Emit the server package, manifest and tasks of one domain; return the files that changed."""
    changed: list[Path] = []
    server_dir = paths.server_dir(spec.name)
    extra = dict(extra or {})
    task_text = tasks_jsonl(tasks or [])
    if tasks is not None:
        extra["tasks"] = {
            "count": len(tasks),
            "file": f"{spec.name}.tasks.jsonl",
            "sha256": hashlib.sha256(task_text.encode()).hexdigest(),
            "information": sum(1 for t in tasks if t.kind == "information"),
            "max_steps": max((t.difficulty["steps"] for t in tasks), default=0),
            "max_branches": max((t.difficulty["branches"] for t in tasks), default=0),
            **extra.get("tasks", {}),  # what the compiler adds: the candidates each acceptance rule rejected
        }
    files = {
        paths.servers / "__init__.py": _SERVERS_INIT,
        server_dir / "__init__.py": _server_init(spec, source),
        server_dir / "__main__.py": _SERVER_MAIN,
        server_dir / "spec.json": spec.canonical_json() + "\n",
        paths.manifest(spec.name): _dump(build_manifest(spec, source, extra)),
    }
    if tasks is not None:
        files[paths.manifests / f"{spec.name}.tasks.jsonl"] = task_text
    for path, text in files.items():
        if _write(path, text):
            changed.append(path)
    return changed


def write_index(paths: ProjectPaths) -> bool:
    """Rebuild ``manifests/index.json`` from the manifests present; return whether it changed."""
    domains = []
    for manifest_path in sorted(paths.manifests.glob("*.json")):
        if manifest_path.name == "index.json":
            continue
        m = json.loads(manifest_path.read_text(encoding="utf-8"))
        if "spec_sha256" not in m:
            continue
        domains.append(
            {
                "name": m["name"],
                "title": m["title"],
                "version": m["version"],
                "spec_sha256": m["spec_sha256"],
                "entities": m["counts"]["entities"],
                "tools": m["counts"]["tools"],
                "write_tools": m["counts"]["write_tools"],
                "manifest": manifest_path.name,
                **({"quality": m["quality"]["passed"]} if "quality" in m else {}),
                **({"tasks": m["tasks"]["count"]} if "tasks" in m else {}),
            }
        )
    return _write(paths.manifests / "index.json", _dump({"domains": domains}))
