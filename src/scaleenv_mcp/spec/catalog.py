"""Finding and loading generated domains (``servers/<domain>/spec.json``, ``manifests/``).

A domain name is a snake_case identifier, never a path: ``serve ../x`` is refused here, so
no spec is ever loaded from outside the project's ``servers/`` folder, and every spec is
checked against the hash its manifest recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..errors import ScaleenvError
from .load import parse_blueprint
from .model import DomainSpec
from .paths import ProjectPaths
from .problems import BlueprintError, Problem
from .task import TaskSpec, load_tasks

__all__ = ["DomainNotFound", "domain_names", "load_domain", "load_domain_tasks", "load_spec_file", "read_index"]


class DomainNotFound(ScaleenvError, LookupError):
    """A domain name with no generated server; the message lists what exists."""

    default_status = 404


_CACHE_SIZE = 64  # compiled specs kept per process: more than every shipped domain, bounded for long-lived servers
_cache: OrderedDict[tuple[str, str, str | None], DomainSpec] = OrderedDict()
_task_cache: OrderedDict[tuple[str, str], tuple[TaskSpec, ...]] = OrderedDict()
_cache_lock = threading.Lock()


def load_spec_file(path: Path, expected_sha256: str | None = None) -> DomainSpec:
    """Load a generated spec, refusing one whose content no longer matches its hash.

    Parsing and validating a spec costs tens of milliseconds, and its derived views (tool views,
    schemas, the graph) are cached on the spec object, so a process that loads a domain again (an
    evaluation, the test suite, ``se.load`` in a loop) gets the same immutable spec back as long as
    the file's bytes are unchanged: the key is the path and the sha256 of those bytes, so an edited
    or regenerated file is parsed afresh. Specs are frozen models, so sharing one is safe.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BlueprintError(str(path), [Problem(path="(file)", message=str(exc))]) from None
    key = (str(path), hashlib.sha256(raw).hexdigest(), expected_sha256)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BlueprintError(str(path), [Problem(path="(file)", message=str(exc))]) from None
    spec = parse_blueprint(data, str(path))
    if expected_sha256 and spec.content_hash() != expected_sha256:
        raise BlueprintError(
            str(path),
            [Problem(path="(hash)", message="spec.json was edited by hand; regenerate it with `scaleenv synth`")],
        )
    with _cache_lock:
        _cache[key] = spec
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
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
    raw = path.read_bytes()
    key = (str(path), hashlib.sha256(raw).hexdigest())
    with _cache_lock:
        cached = _task_cache.get(key)
    if cached is None:  # as for specs: the same bytes give the same (frozen) tasks; a new list each call
        cached = tuple(load_tasks(raw.decode("utf-8")))
        with _cache_lock:
            _task_cache[key] = cached
            while len(_task_cache) > _CACHE_SIZE:
                _task_cache.popitem(last=False)
    return list(cached)
