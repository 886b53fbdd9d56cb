"""Build hook: the compiled domains ship inside the wheel, so an installed package works from any folder.

Everything else about the package is declared in ``pyproject.toml``; this file only adds one
step to ``build_py``. After the modules are copied into the build folder, the compiled corpus
at the checkout root is copied next to them as package data, under ``scaleenv_mcp/_corpus/``:

- ``manifests/`` (index, per-domain manifests, stored tasks) and ``servers/`` (each domain's
  ``spec.json`` and its generated package), read by ``scaleenv list/serve/eval``, ``se.load``
  and the adapters;
- ``synthesis/domains/`` (the blueprints the corpus was compiled from: the manifests name
  them as their source, and users copy them to start their own) and ``synthesis/prompts/``
  (the synthesis templates, used when a user's own project has none).

Why a copy at build time rather than a package-dir mapping: the corpus stays where
``scaleenv synth --all`` writes it (the checkout root, byte for byte, with ``python -m
servers.retail`` working in the checkout), nothing generated is duplicated in git, and the
wheel gets exactly those files whether it is built from the checkout or from the sdist
(``MANIFEST.in`` puts the same folders in the sdist). ``scaleenv_mcp.spec.paths`` finds the
copy as the last fallback. An editable install skips the copy: it reads the checkout itself.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
CORPUS = ("manifests", "servers", "synthesis/domains", "synthesis/prompts", "docs")  # docs: the language reference and the blueprint schema the blueprints point at
TARGET = Path("scaleenv_mcp") / "_corpus"


def corpus_files(root: Path) -> list[tuple[Path, Path]]:
    """(source, path inside the corpus) for every shipped file; caches and bytecode are left out."""
    files = []
    for part in CORPUS:
        folder = root / part
        if not (folder / ".").is_dir():
            raise SystemExit(f"cannot build: {folder} is missing (run `scaleenv synth --all` in the checkout first)")
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and "__pycache__" not in relative.parts and path.suffix not in {".pyc", ".pyo"}:
                files.append((path, relative))
    if not (root / "manifests" / "index.json").is_file():
        raise SystemExit("cannot build: manifests/index.json is missing (run `scaleenv synth --all` first)")
    return files


class build_py_with_corpus(build_py):  # noqa: N801 (setuptools command naming)
    """``build_py``, then the corpus copied into ``<build_lib>/scaleenv_mcp/_corpus/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's corpus in place
        for source, relative in corpus_files(HERE):
            destination = Path(self.build_lib) / TARGET / relative
            self.mkpath(str(destination.parent))
            self.copy_file(str(source), str(destination))


setup(cmdclass={"build_py": build_py_with_corpus})
