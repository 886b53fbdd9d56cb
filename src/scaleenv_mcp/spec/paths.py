"""Where a project's blueprints, generated servers and manifests live.

The root is ``$SCALEENV_ROOT`` when set, else the nearest folder at or above the current
directory that has ``synthesis/domains`` or ``manifests/index.json``, else the source
checkout this package was installed from (an editable install).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ProjectPaths", "project_paths"]


class ProjectPaths:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def blueprints(self) -> Path:
        return self.root / "synthesis" / "domains"

    @property
    def prompts(self) -> Path:
        return self.root / "synthesis" / "prompts"

    @property
    def servers(self) -> Path:
        return self.root / "servers"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    def server_dir(self, domain: str) -> Path:
        return self.servers / domain

    def manifest(self, domain: str) -> Path:
        return self.manifests / f"{domain}.json"


def _is_root(path: Path) -> bool:
    return (path / "synthesis" / "domains").is_dir() or (path / "manifests" / "index.json").is_file()


def project_paths(root: str | Path | None = None) -> ProjectPaths:
    if root is not None:
        return ProjectPaths(Path(root))
    env = os.environ.get("SCALEENV_ROOT")
    if env:
        return ProjectPaths(Path(env))
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _is_root(candidate):
            return ProjectPaths(candidate)
    checkout = Path(__file__).resolve().parents[2]
    if _is_root(checkout):
        return ProjectPaths(checkout)
    return ProjectPaths(here)
