"""Finding and loading generated domains (``servers/<domain>/spec.json``, ``manifests/``).

A domain name is a snake_case identifier, never a path: ``serve ../x`` is refused here, so
no spec is ever loaded from outside the project's ``servers/`` folder, and every spec is
checked against the hash its manifest recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import BlueprintError, Problem
from .load import parse_blueprint
from .model import DomainSpec
from .paths import ProjectPaths
from .task import TaskSpec, load_tasks

__all__ = ["DomainNotFound", "domain_names", "load_domain", "load_domain_tasks", "load_spec_file", "read_index"]


class DomainNotFound(LookupError):
    """A domain name with no generated server; the message lists what exists."""


def load_spec_file(path: Path, expected_sha256: str | None = None) -> DomainSpec:
    """Load a generated spec, refusing one whose content no longer matches its hash."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BlueprintError(str(path), [Problem(path="(file)", message=str(exc))]) from None
    spec = parse_blueprint(data, str(path))
    if expected_sha256 and spec.content_hash() != expected_sha256:
        raise BlueprintError(
            str(path),
            [Problem(path="(hash)", message="spec.json was edited by hand; regenerate it with `scaleenv synth`")],
        )
    return spec


def read_index(paths: ProjectPaths) -> dict[str, Any]:
    index = paths.manifests / "index.json"
    if not index.is_file():
        return {"domains": []}
    data: dict[str, Any] = json.loads(index.read_text(encoding="utf-8"))
    return data


def domain_names(paths: ProjectPaths) -> list[str]:
    return [d["name"] for d in read_index(paths).get("domains", [])]


def load_domain(paths: ProjectPaths, name: str) -> DomainSpec:
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
        raise DomainNotFound(f"{name!r} is not a domain name (snake_case, like retail or clinic_appointments)")
    spec_file = paths.server_dir(name) / "spec.json"
    if not spec_file.is_file():
        known = ", ".join(domain_names(paths)) or "none (run `scaleenv synth --all`)"
        raise DomainNotFound(f"no generated domain {name!r} under {paths.root}; known domains: {known}")
    manifest = paths.manifest(name)
    expected = json.loads(manifest.read_text())["spec_sha256"] if manifest.is_file() else None
    return load_spec_file(spec_file, expected)


def load_domain_tasks(paths: ProjectPaths, name: str) -> list[TaskSpec]:
    """The verified tasks stored next to a domain's manifest (empty if none were generated)."""
    path = paths.manifests / f"{name}.tasks.jsonl"
    if not path.is_file():
        return []
    return list(load_tasks(path.read_text(encoding="utf-8")))
