"""Shipping: where domains are found, what the registry would accept, and the wheel as users install it.

The fast tests pin the path resolution order and the MCP Registry's publish rules (its own
validators, reproduced in ``export/registry.py``, plus the ``skillsaw`` linter's). The e2e tests
build the sdist and the wheel, install the wheel into a fresh venv with its dependencies from
the package index, and use it from an empty folder the way a new user would.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio
import pytest

import scaleenv_mcp as se
from scaleenv_mcp import _version
from scaleenv_mcp.cli import main
from scaleenv_mcp.export import registry
from scaleenv_mcp.export.registry import NAMESPACE, PACKAGE, REPOSITORY, PublishError, publish_problems, server_json, server_name
from scaleenv_mcp.spec import paths as paths_module
from scaleenv_mcp.spec.catalog import domain_names, load_domain_tasks
from scaleenv_mcp.spec.paths import ProjectPaths, package_corpus, project_paths

from .conftest import PATHS, ROOT, SHIPPED, shipped_spec

README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _project(folder: Path, marker: str = "manifests") -> Path:
    if marker == "manifests":
        (folder / "manifests").mkdir(parents=True)
        (folder / "manifests" / "index.json").write_text('{"domains": []}\n')
    else:
        (folder / "synthesis" / "domains").mkdir(parents=True)
    return folder.resolve()


# ---------------------------------------------------------------- where domains are found


def test_resolution_order_root_then_env_then_enclosing_project_then_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, other, elsewhere = _project(tmp_path / "mine"), _project(tmp_path / "other"), _project(tmp_path / "elsewhere")
    (mine / "sub" / "deeper").mkdir(parents=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.delenv("SCALEENV_ROOT", raising=False)

    monkeypatch.chdir(mine / "sub" / "deeper")  # the nearest project at or above the current folder
    assert project_paths().root == mine
    monkeypatch.setenv("SCALEENV_ROOT", str(other))  # the environment beats the folder
    assert project_paths().root == other
    assert project_paths(elsewhere).root == elsewhere  # an explicit root beats both
    monkeypatch.delenv("SCALEENV_ROOT")

    monkeypatch.chdir(empty)  # nothing here: the domains that came with the installation
    shipped = package_corpus()
    assert shipped is not None and project_paths().root == shipped.root
    assert sorted(domain_names(shipped)) == sorted(SHIPPED)
    assert project_paths(create=True).root == empty.resolve()  # but a new project is written here, never into the package

    blueprints_only = _project(tmp_path / "drafts", marker="blueprints")  # blueprints not compiled yet: still the user's project
    monkeypatch.chdir(blueprints_only)
    assert project_paths().root == blueprints_only


def test_an_installed_wheel_reads_its_bundled_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The site-packages layout: no checkout around the package, the corpus under ``_corpus``."""
    package = tmp_path / "site-packages" / "scaleenv_mcp"
    corpus = _project(package / "_corpus")
    monkeypatch.setattr(paths_module, "_PACKAGE_DIR", package)
    monkeypatch.setattr(paths_module, "CORPUS_DIR", package / "_corpus")
    monkeypatch.delenv("SCALEENV_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert project_paths().root == corpus
    (corpus / "synthesis" / "prompts").mkdir(parents=True)
    assert ProjectPaths(tmp_path).prompts == corpus / "synthesis" / "prompts"  # a project without prompts uses the package's

    monkeypatch.setattr(paths_module, "CORPUS_DIR", tmp_path / "nowhere")  # a wheel built without domains
    assert package_corpus() is None and project_paths().root == tmp_path.resolve()


def test_list_and_load_work_from_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SCALEENV_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(d["name"] for d in listed["domains"]) == sorted(SHIPPED)
    assert se.load("retail").spec.content_hash() == shipped_spec("retail").content_hash()


# ---------------------------------------------------------------- the registry's publish rules


def _entry(domain: str = "retail") -> dict[str, Any]:
    return server_json(shipped_spec(domain), tasks=len(load_domain_tasks(PATHS, domain)))


def test_every_shipped_domain_is_publishable_and_vouched_for_by_the_readme() -> None:
    declared = registry.declared_names(README)
    assert declared == {server_name(d) for d in SHIPPED}, "README.md must carry one 'mcp-name:' line per shipped domain"
    for domain in SHIPPED:
        data = _entry(domain)
        assert publish_problems(data, readme=README) == [], domain
        assert data["name"] == f"{NAMESPACE}/{domain.replace('_', '-')}"
        assert data["version"] == data["packages"][0]["version"] == _version.__version__
        assert data["packages"][0]["identifier"] == PACKAGE and data["repository"] == {"url": REPOSITORY, "source": "github"}


def test_the_package_metadata_agrees_with_the_registry_entries(capsys: pytest.CaptureFixture[str]) -> None:
    project = PYPROJECT["project"]
    assert project["name"] == PACKAGE and project["urls"]["Repository"] == REPOSITORY
    assert "version" in project["dynamic"] and PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "scaleenv_mcp._version.__version__"
    assert project["license"] == "Apache-2.0" and (ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert REPOSITORY.removeprefix("https://github.com/").split("/")[0] == NAMESPACE.removeprefix("io.github.")  # GitHub login owns the namespace
    with pytest.raises(SystemExit):
        main(["publish", "--help"])
    assert f"(default: {NAMESPACE})" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda d: d.update(version="latest"), "version"),
        (lambda d: d.update(version="^0.1.0"), "version"),
        (lambda d: d.update(name="io.github.someone-else/retail"), "vouches only"),
        (lambda d: d.update(name="io.github.scaleenv/retail_"), "not namespace/name"),
        (lambda d: d.update(repository={"url": "https://example.com/scaleenv-mcp", "source": "github"}), "repository"),
        (lambda d: d.pop("repository"), "repository"),
        (lambda d: d["packages"][0].update(version="0.0.9"), "packages[0].version"),
        (lambda d: d["packages"][0].update(identifier="someone-elses-package"), "packages[0].identifier"),
        (lambda d: d["packages"][0].update(registryBaseUrl="https://test.pypi.org"), "PyPI package"),
        (lambda d: d.update(description="x" * 101), "description"),
        (lambda d: d["_meta"][registry.PUBLISHER_META]["scaleenv"].update(padding="x" * 4096), "4096"),
    ],
)
def test_each_publish_rule_catches_its_break(change: Any, rule: str) -> None:
    data = copy.deepcopy(_entry())
    change(data)
    problems = publish_problems(data, readme=README)
    assert any(rule in p for p in problems), problems


def test_the_readme_must_name_the_server_whole() -> None:
    """The registry's match: a longer name with ours as its prefix does not vouch for ours."""
    data = _entry("retail")
    assert publish_problems(data, readme="mcp-name: io.github.scaleenv/retail-banking\n")
    assert publish_problems(data, readme="mcp-name: io.github.scaleenv/retail2") != []
    assert publish_problems(data, readme="see mcp-name: io.github.scaleenv/retail-banking and mcp-name: io.github.scaleenv/retail") == []
    assert publish_problems(data, readme="<!-- mcp-name: io.github.scaleenv/retail -->") == []


def test_publish_refuses_another_namespace_and_a_domain_the_package_does_not_ship(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PublishError, match=r"vouches only for io\.github\.scaleenv"):
        server_json(shipped_spec("retail"), tasks=1, namespace="io.github.example")
    assert main(["publish", "retail", "--namespace", "io.github.example", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "mcp-name" in err and not (tmp_path / "a").exists()

    package = _project(tmp_path / "package")  # a package that ships only airline
    (package / "manifests" / "index.json").write_text('{"domains": [{"name": "airline"}]}\n')
    monkeypatch.setattr(paths_module, "package_corpus", lambda: ProjectPaths(package))
    assert main(["publish", "retail", "--out", str(tmp_path / "b")]) == 2
    assert "not shipped in the scaleenv-mcp package" in capsys.readouterr().err and not (tmp_path / "b").exists()


def test_the_published_entries_pass_the_skillsaw_linter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """skillsaw's registry rules (schema, name grammar, one exact release, the repository's shape) on every entry."""
    skillsaw = pytest.importorskip("skillsaw.cli", reason="the registry linter is skillsaw's").main

    assert main(["publish", "--all", "--out", str(tmp_path / "good")]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["skillsaw", "lint", "--strict", "--format", "json", "--no-progress", str(tmp_path / "good")])
    with pytest.raises(SystemExit) as exit_:
        skillsaw()
    report = json.loads(capsys.readouterr().out)
    assert report["stats"]["repo_type"] == "mcp-registry" and report["violations"] == [] and exit_.value.code in (0, None)
    bad = json.loads((tmp_path / "good" / "retail" / "server.json").read_text())
    bad["version"] = "^1.0.0"  # and the linter does see a broken one (in a folder of its own: skillsaw caches by folder)
    (tmp_path / "broken" / "retail").mkdir(parents=True)
    (tmp_path / "broken" / "retail" / "server.json").write_text(json.dumps(bad))
    monkeypatch.setattr(sys, "argv", ["skillsaw", "lint", "--strict", "--format", "json", "--no-progress", str(tmp_path / "broken")])
    with pytest.raises(SystemExit) as exit_:
        skillsaw()
    assert exit_.value.code == 1 and [v["file_path"] for v in json.loads(capsys.readouterr().out)["violations"]] == ["retail/server.json"]


# ---------------------------------------------------------------- the wheel in a fresh venv (e2e)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who never saw the checkout: no SCALEENV_ROOT, no PYTHONPATH, no venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCALEENV_ROOT", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


def _run(args: list[str], cwd: Path, timeout: float = 240, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env or _clean_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} -> {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.mark.e2e
def test_the_built_wheel_works_from_an_empty_folder_in_a_fresh_venv(tmp_path: Path) -> None:
    """sdist, then the wheel from it (as ``python -m build`` does), installed with its dependencies from the index."""
    dist, venv, empty = tmp_path / "dist", tmp_path / "venv", tmp_path / "empty"
    empty.mkdir()
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=tmp_path)
    wheel = next(dist.glob("scaleenv_mcp-*.whl"))
    _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())], cwd=tmp_path)
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python, scaleenv = venv / "bin" / "python", venv / "bin" / "scaleenv"
    _run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path, timeout=600)

    listed = json.loads(_run([str(scaleenv), "list", "--json"], cwd=empty).stdout)
    assert sorted(d["name"] for d in listed["domains"]) == sorted(SHIPPED)

    _run([str(scaleenv), "eval", "--agent", "oracle", "--tasks", "2", "--domain", "retail", "--out", "out"], cwd=empty)
    records = [json.loads(line) for line in (empty / "out" / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["reward"] == 1.0 and r["success"] for r in records)

    probe = """
import importlib.metadata, json, scaleenv_mcp as se
from scaleenv_mcp.adapters.trl import environment_class
d = se.load("retail")
env = environment_class("retail")()
env.reset(task_id="retail-001")
meta = importlib.metadata.metadata("scaleenv-mcp")
print(json.dumps({"module": se.__file__, "hash": d.spec.content_hash(), "tasks": len(d.tasks),
                  "trl": env.find_customer_by_email(email="olivia.weber9574@letterly.io"),
                  "readme": meta.get_payload(), "license": meta["License-Expression"]}))
"""
    seen = json.loads(_run([str(python), "-c", probe], cwd=empty).stdout)
    assert seen["module"].startswith(str(venv)) and seen["hash"] == shipped_spec("retail").content_hash()
    assert seen["tasks"] == len(load_domain_tasks(PATHS, "retail")) and "olivia.weber9574@letterly.io" in seen["trl"]
    assert registry.declared_names(seen["readme"]) == {server_name(d) for d in SHIPPED} and seen["license"] == "Apache-2.0"

    from mcp import Client, StdioServerParameters

    expected = se.load("retail").episode().call("find_customer_by_email", {"email": "olivia.weber9574@letterly.io"}).data

    async def session() -> None:
        params = StdioServerParameters(command=str(scaleenv), args=["serve", "retail"], cwd=str(empty), env=_clean_env())
        with anyio.fail_after(60):
            async with Client(params) as client:
                assert len((await client.list_tools()).tools) == len(shipped_spec("retail").tools)
                result = await client.call_tool("find_customer_by_email", {"email": "olivia.weber9574@letterly.io"})
                assert not result.is_error and result.structured_content == expected

    anyio.run(session)
    assert sorted(p.name for p in empty.iterdir()) == ["out"]  # nothing written to the user's folder but what they asked for


@pytest.mark.e2e
def test_the_adapters_and_the_checkout_server_work_without_scaleenv_root(tmp_path: Path) -> None:
    """OpenEnv (needs openenv-core, so in this environment) from an empty folder; ``python -m servers.retail`` in the checkout."""
    env = _clean_env()
    if "PYTHONPATH" in os.environ:  # a worktree run: keep pointing at the sources under test, never at a root
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    probe = """
from scaleenv_mcp.adapters.openenv import ScaleenvSessionFactory
session = ScaleenvSessionFactory("retail").create(task="retail-004")
print(len(session.list_tools()), session.call_tool("find_customer_by_email", {"email": "olivia.weber9574@letterly.io"}).error is None)
session.close()
"""
    out = _run([sys.executable, "-c", probe], cwd=tmp_path, env=env).stdout.split()
    assert out == [str(len(shipped_spec("retail").tools)), "True"]

    from mcp import Client, StdioServerParameters

    async def session() -> None:
        params = StdioServerParameters(command=sys.executable, args=["-m", "servers.retail"], cwd=str(ROOT), env=env)
        with anyio.fail_after(30):
            async with Client(params) as client:
                assert len((await client.list_tools()).tools) == len(shipped_spec("retail").tools)

    anyio.run(session)


def test_citation_cites_this_release_and_both_papers() -> None:
    import yaml

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    by_name = {r["title"].split(":")[0]: r for r in citation["references"]}
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert citation["version"] == _version.__version__ and citation["license"] == PYPROJECT["project"]["license"]
    assert citation["repository-code"] == REPOSITORY
    assert by_name["ScaleEnv"]["url"] == "https://arxiv.org/abs/2602.06820"
    assert by_name["EnvScaler"]["url"] == "https://arxiv.org/abs/2601.05808"
    assert by_name["EnvScaler"]["repository-code"] == "https://github.com/RUC-NLPIR/EnvScaler"


@pytest.mark.e2e
def test_citation_cff_is_valid_cff_1_2_0(tmp_path: Path) -> None:
    """Validated by cffconvert against the CFF 1.2.0 schema (in its own venv: it pins an old jsonschema)."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "cffconvert>=2,<3"], cwd=tmp_path)
    done = _run([str(venv / "bin" / "cffconvert"), "--validate", "-i", str(ROOT / "CITATION.cff")], cwd=tmp_path)
    assert re.search(r"valid according to schema version 1\.2\.0", done.stdout + done.stderr)
