"""Where a project's blueprints, generated servers and manifests live.

Reading (``list``, ``serve``, ``eval``, ``load``, the adapters) takes the first of:

1. an explicit root (``--root``, ``root=``), then ``$SCALEENV_ROOT``;
2. the nearest project at or above the current folder: one with ``manifests/index.json`` or
   ``synthesis/domains/`` (a user's own domains live in their own project folder);
3. the domains that came with this installation (:func:`package_corpus`): the source checkout
   of an editable install, else the compiled corpus inside the installed wheel
   (``scaleenv_mcp/_corpus/``, copied there at build time by ``setup.py``);
4. the current folder (which then has no domains, and says so).

Writing (``synth``) takes ``create=True``: steps 1, 2 and 4 only, so a new project starts in
the current folder and nothing is ever written into the installed package or, from another
folder, into the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CORPUS_DIR", "ProjectPaths", "package_corpus", "project_paths"]

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
CORPUS_DIR = _PACKAGE_DIR / "_corpus"
"""Where a built wheel carries ``servers/``, ``manifests/`` and ``synthesis/`` (absent in a checkout)."""


class ProjectPaths:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def blueprints(self) -> Path:
        return self.root / "synthesis" / "domains"

    @property
    def prompts(self) -> Path:
        """The project's synthesis prompt templates, else the ones that came with the package."""
        own = self.root / "synthesis" / "prompts"
        if own.is_dir():
            return own
        shipped = package_corpus()
        return shipped.root / "synthesis" / "prompts" if shipped is not None else own

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

    def __repr__(self) -> str:
        return f"ProjectPaths({str(self.root)!r})"


def _is_root(path: Path) -> bool:
    return (path / "synthesis" / "domains").is_dir() or (path / "manifests" / "index.json").is_file()


def _enclosing_project(here: Path) -> Path | None:
    for candidate in (here, *here.parents):
        if _is_root(candidate):
            return candidate
    return None


def package_corpus() -> ProjectPaths | None:
    """The domains this installation ships: an editable install's checkout, else the wheel's corpus.

    The checkout is recognised by this very file sitting at ``<checkout>/src/scaleenv_mcp/``
    (the src layout); an installed wheel has ``_corpus/manifests/index.json`` next to its
    modules. ``None`` when neither holds compiled domains (e.g. a wheel built without them).
    """
    checkout = _PACKAGE_DIR.parents[1]
    if _PACKAGE_DIR.parent.name == "src" and (checkout / "manifests" / "index.json").is_file():
        return ProjectPaths(checkout)
    if (CORPUS_DIR / "manifests" / "index.json").is_file():
        return ProjectPaths(CORPUS_DIR)
    return None


def project_paths(root: str | Path | None = None, *, create: bool = False) -> ProjectPaths:
    """The project to read domains from (or, with ``create``, to write them into); see the module doc."""
    if root is not None:
        return ProjectPaths(Path(root))
    env = os.environ.get("SCALEENV_ROOT")
    if env:
        return ProjectPaths(Path(env))
    here = Path.cwd().resolve()
    found = _enclosing_project(here)
    if found is not None:
        return ProjectPaths(found)
    if not create:
        shipped = package_corpus()
        if shipped is not None:
            return shipped
    return ProjectPaths(here)
