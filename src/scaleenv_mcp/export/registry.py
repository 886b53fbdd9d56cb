"""An MCP Registry ``server.json`` per domain: how to run it, and what a trainer must know.

The registry stores metadata, not code: each entry points at our PyPI package and the
arguments that start one domain (``scaleenv serve <domain>`` over stdio). What the schema has
no field for (determinism, the episode model, limits, reward modes) goes under the
publisher-provided ``_meta`` key, the one place the official registry keeps custom data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._version import __version__
from ..episodes.service import IDLE_SECONDS, MAX_EPISODES, MAX_PER_CREATOR
from ..harness.agents import MAX_ARGUMENT_BYTES, MAX_ARGUMENT_DEPTH
from ..spec.model import DomainSpec
from ..spec.task import REWARD_MODES

__all__ = ["PUBLISHER_META", "SCHEMA_URL", "server_json", "write_server_json"]

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
PUBLISHER_META = "io.modelcontextprotocol.registry/publisher-provided"
PACKAGE = "scaleenv-mcp"
_DESCRIPTION_MAX = 100  # the schema's maxLength


def _short(text: str, limit: int) -> str:
    """The first sentence, cut at a word if still too long: the schema's description is one line."""
    first = text.strip().split(". ")[0].rstrip(".")
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def server_json(spec: DomainSpec, *, namespace: str, tasks: int, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``server.json`` of one domain (valid against the 2025-12-11 registry schema)."""
    training = {
        "domain": spec.name,
        "spec_sha256": spec.content_hash(),
        "tools": len(spec.tools),
        "tasks": tasks,
        "deterministic": True,
        "clock": spec.clock,
        "episode_model": (
            "one isolated state per episode, seeded from the task (its sha256 is in the task); the same calls give "
            "the same results; reset, snapshot and restore on the control plane; over HTTP many episodes per process, "
            "each behind its own /episodes/<token>/mcp endpoint"
        ),
        "reward": {
            "modes": list(REWARD_MODES),
            "default": "fraction",
            "from": "checks on the end state and the final answer; gated on no other changes and the policy",
            "hidden_from_agent": ["checks", "solutions", "rewards"],
        },
        "limits": {
            "tool_argument_bytes": MAX_ARGUMENT_BYTES,
            "tool_argument_depth": MAX_ARGUMENT_DEPTH,
            "idle_seconds": IDLE_SECONDS,
            "max_episodes": MAX_EPISODES,
            "max_per_creator": MAX_PER_CREATOR,
        },
        "generator": f"{PACKAGE} {__version__}",
    }
    if manifest is not None and "quality" in manifest:
        training["gate"] = {k: manifest["quality"].get(k) for k in ("passed", "seeds", "calls", "violations")}
    return {
        "$schema": SCHEMA_URL,
        "name": f"{namespace}/{spec.name.replace('_', '-')}",
        "title": spec.title[:100],
        "description": _short(spec.description, _DESCRIPTION_MAX),
        "version": spec.version,
        "packages": [
            {
                "registryType": "pypi",
                "registryBaseUrl": "https://pypi.org",
                "identifier": PACKAGE,
                "version": __version__,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "packageArguments": [
                    {"type": "positional", "value": "serve", "valueHint": "command"},
                    {"type": "positional", "value": spec.name, "valueHint": "domain"},
                ],
                "environmentVariables": [
                    {
                        "name": "SCALEENV_ROOT",
                        "description": "A checkout holding servers/ and manifests/ (the package does not ship the domains)",
                        "isRequired": True,
                        "format": "filepath",
                    },
                    {
                        "name": "SCALEENV_CONTROL_TOKEN",
                        "description": "Bearer token for the episode control plane (needed beyond loopback)",
                        "isRequired": False,
                        "isSecret": True,
                    }
                ],
            }
        ],
        "_meta": {PUBLISHER_META: {"scaleenv": training}},
    }


def write_server_json(data: dict[str, Any], out: Path) -> bool:
    """Write one ``server.json``; return whether it changed (the output is byte-for-byte stable)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out.is_file() and out.read_text(encoding="utf-8") == text:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return True
