"""An MCP Registry ``server.json`` per domain: how to run it, and what a trainer must know.

The registry stores metadata, not code: each entry points at our PyPI package and the
arguments that start one domain (``uvx scaleenv-mcp serve <domain>`` over stdio; the wheel
carries the compiled domains). What the schema has no field for (determinism, the episode
model, limits, reward modes) goes under the publisher-provided ``_meta`` key, the one place
the official registry keeps custom data.

Publishing is more than the schema. At publish time the official registry (its validators in
github.com/modelcontextprotocol/registry, ``internal/validators``) also checks, and
:func:`publish_problems` checks the same before anything is written:

- the name is ``namespace/name`` with its grammar, and the publisher owns the namespace
  (``io.github.<owner>`` by GitHub login);
- the PyPI package proves it belongs to that name: its README, as PyPI shows it, holds
  ``mcp-name: <server name>`` (matched whole, so ``.../retail`` is not proven by
  ``.../retail-banking``); our README carries one such line per shipped domain;
- ``version`` is one release, never ``latest`` or a range; we use the package version for
  the entry and the package alike, so an entry names the release that serves it;
- the repository is a ``https://github.com/<owner>/<repo>`` URL with ``source: github``;
- the publisher-provided ``_meta`` is at most 4 KB, the description at most 100 characters,
  and PyPI packages come from ``https://pypi.org``.

Why the namespace is fixed: every entry runs the one package ``scaleenv-mcp``, whose README
can only vouch for the names written in it. An entry under another namespace would fail the
ownership check (and would claim a package its publisher does not own), so
``server_json`` refuses any namespace but :data:`NAMESPACE`; a fork that publishes its own
package changes ``PACKAGE``, ``NAMESPACE`` and ``REPOSITORY`` here together with the
``mcp-name`` lines of its README and ``[project.urls]`` (a test ties them together).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .._version import __version__
from ..episodes.service import IDLE_SECONDS, MAX_EPISODES, MAX_PER_CREATOR
from ..errors import ScaleenvError
from ..harness.agents import MAX_ARGUMENT_BYTES, MAX_ARGUMENT_DEPTH
from ..spec.model import DomainSpec
from ..spec.task import REWARD_MODES

__all__ = [
    "NAMESPACE",
    "PACKAGE",
    "PUBLISHER_META",
    "REPOSITORY",
    "SCHEMA_URL",
    "PublishError",
    "declared_names",
    "publish_problems",
    "server_json",
    "server_name",
    "write_server_json",
]

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
PUBLISHER_META = "io.modelcontextprotocol.registry/publisher-provided"
PACKAGE = "scaleenv-mcp"
"""The PyPI distribution every entry runs (``[project] name`` in pyproject.toml)."""
NAMESPACE = "io.github.scaleenv"
"""The registry namespace the package's README vouches for (GitHub login ``scaleenv``)."""
REPOSITORY = "https://github.com/scaleenv/scaleenv-mcp"
"""The source repository (``[project.urls] Repository`` in pyproject.toml)."""
PYPI = "https://pypi.org"
_DESCRIPTION_MAX = 100  # the schema's maxLength
_META_MAX_BYTES = 4096  # the registry's limit on the publisher-provided extension
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]/[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]")
_NAME_BYTE = re.compile(r"[a-zA-Z0-9._/-]")
_GITHUB_REPO = re.compile(r"https?://(www\.)?github\.com/[\w.-]+/[\w.-]+/?")
_RELEASE = re.compile(r"\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.+-]+)?")  # one release: no range, no wildcard, not "latest"
_MCP_NAME_LINE = re.compile(r"mcp-name: ([a-zA-Z0-9._/-]+)")


class PublishError(ScaleenvError, ValueError):
    """An entry the official registry would refuse; the message says which rule and what to do."""

    default_status = 400


def server_name(domain: str, namespace: str = NAMESPACE) -> str:
    """The registry name of one domain: ``<namespace>/<domain with hyphens>``."""
    return f"{namespace}/{domain.replace('_', '-')}"


def declared_names(readme: str) -> set[str]:
    """The server names a package README vouches for with ``mcp-name:`` lines."""
    return set(_MCP_NAME_LINE.findall(readme))


def _declares(readme: str, name: str) -> bool:
    """The registry's own test: ``mcp-name: <name>`` ending at a character no name may contain."""
    marker = f"mcp-name: {name}"
    start = readme.find(marker)
    while start >= 0:
        end = start + len(marker)
        if end == len(readme) or not _NAME_BYTE.fullmatch(readme[end]):
            return True
        start = readme.find(marker, start + 1)
    return False


def publish_problems(data: dict[str, Any], *, readme: str | None = None) -> list[str]:
    """What the official registry would refuse in one entry, beyond its JSON Schema (empty: publishable).

    ``readme`` is the package's long description as PyPI will show it (our README.md); when
    given, the ``mcp-name`` ownership line is checked too.
    """
    problems: list[str] = []
    name = data.get("name", "")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"name {name!r}: not namespace/name (letters, digits, '.', '-'; '_' only after the '/')")
    elif not name.startswith(f"{NAMESPACE}/"):
        problems.append(f"name {name!r}: the {PACKAGE} package vouches only for names under {NAMESPACE}/")
    version = data.get("version")
    if not isinstance(version, str) or not _RELEASE.fullmatch(version):
        problems.append(f"version {version!r}: one release like 1.2.3 (not a range, not 'latest')")
    repository = data.get("repository") or {}
    if repository.get("source") != "github" or not _GITHUB_REPO.fullmatch(str(repository.get("url", ""))):
        problems.append(f"repository {repository!r}: a https://github.com/<owner>/<repo> URL with source 'github'")
    description = data.get("description", "")
    if not description or len(description) > _DESCRIPTION_MAX:
        problems.append(f"description: 1 to {_DESCRIPTION_MAX} characters, has {len(description)}")
    meta = (data.get("_meta") or {}).get(PUBLISHER_META)
    size = len(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()) if meta is not None else 0
    if size > _META_MAX_BYTES:
        problems.append(f"_meta {PUBLISHER_META}: {size} bytes, the registry keeps at most {_META_MAX_BYTES}")
    for i, package in enumerate(data.get("packages") or []):
        where = f"packages[{i}]"
        if package.get("registryType") != "pypi" or package.get("registryBaseUrl", PYPI) != PYPI:
            problems.append(f"{where}: a PyPI package from {PYPI}")
        if package.get("identifier") != PACKAGE:
            problems.append(f"{where}.identifier {package.get('identifier')!r}: entries run {PACKAGE}")
        if package.get("version") != version:
            problems.append(f"{where}.version {package.get('version')!r}: the entry's version {version!r} (the release that serves it)")
        if readme is not None and isinstance(name, str) and not _declares(readme, name):
            problems.append(f"{where}: the {PACKAGE} README has no line 'mcp-name: {name}' (the registry's ownership check)")
    return problems


def _short(text: str, limit: int) -> str:
    """The first sentence, cut at a word if still too long: the schema's description is one line."""
    first = text.strip().split(". ")[0].rstrip(".")
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def server_json(
    spec: DomainSpec, *, tasks: int, manifest: dict[str, Any] | None = None, namespace: str = NAMESPACE
) -> dict[str, Any]:
    """The ``server.json`` of one domain: valid against the 2025-12-11 schema and publishable.

    Raises :class:`PublishError` for a namespace other than :data:`NAMESPACE` (see the module
    doc for why), and if the entry breaks any other publish rule.
    """
    if namespace != NAMESPACE:
        raise PublishError(
            f"namespace {namespace!r}: the registry checks that the PyPI package {PACKAGE} says 'mcp-name: <name>' in its "
            f"README, and it vouches only for {NAMESPACE}/<domain>; to publish under your own namespace, publish your own package"
        )
    training = {
        "domain": spec.name,
        "domain_version": spec.version,
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
    data = {
        "$schema": SCHEMA_URL,
        "name": server_name(spec.name, namespace),
        "title": spec.title[:100],
        "description": _short(spec.description, _DESCRIPTION_MAX),
        "repository": {"url": REPOSITORY, "source": "github"},
        "version": __version__,
        "packages": [
            {
                "registryType": "pypi",
                "registryBaseUrl": PYPI,
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
                        "description": "A project folder with your own servers/ and manifests/ (default: the domains in the package)",
                        "isRequired": False,
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
    problems = publish_problems(data)
    if problems:
        raise PublishError(f"{data['name']}: {problems[0]}")
    return data


def write_server_json(data: dict[str, Any], out: Path) -> bool:
    """Write one ``server.json``; return whether it changed (the output is byte-for-byte stable)."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if out.is_file() and out.read_text(encoding="utf-8") == text:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return True
