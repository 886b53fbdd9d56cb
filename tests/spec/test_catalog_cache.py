"""Loading a domain again costs nothing while its files are unchanged, and an edited file is read afresh.

The cache is what keeps the test suite and long evaluations from re-parsing the same spec (and
recomputing its views) on every ``load``; it must never hand back a spec whose file has changed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scaleenv_mcp.spec import BlueprintError
from scaleenv_mcp.spec.catalog import load_domain, load_domain_tasks
from scaleenv_mcp.spec.paths import ProjectPaths


def _project(src: ProjectPaths, dest: Path) -> ProjectPaths:
    (dest / "servers").mkdir(parents=True)
    shutil.copytree(src.server_dir("retail"), dest / "servers" / "retail")
    shutil.copytree(src.manifests, dest / "manifests")
    return ProjectPaths(dest)


def test_an_unchanged_domain_is_the_same_spec_and_an_edited_one_is_reparsed(paths: ProjectPaths, tmp_path: Path) -> None:
    project = _project(paths, tmp_path)
    first = load_domain(project, "retail")
    assert load_domain(project, "retail") is first  # no second parse: its views stay computed
    assert load_domain_tasks(project, "retail") == load_domain_tasks(project, "retail")
    assert load_domain_tasks(project, "retail") is not load_domain_tasks(project, "retail")  # a list the caller may change

    spec_file = project.server_dir("retail") / "spec.json"
    data = json.loads(spec_file.read_text())
    data["description"] = "A retail shop, its description edited by hand."
    spec_file.write_text(json.dumps(data))
    with pytest.raises(BlueprintError, match="edited by hand"):  # the stored hash still guards a cached domain
        load_domain(project, "retail")

    manifest = json.loads(project.manifest("retail").read_text())
    manifest["spec_sha256"] = None  # a manifest without a hash: the edited spec loads, as itself
    project.manifest("retail").write_text(json.dumps(manifest))
    assert load_domain(project, "retail").description == "A retail shop, its description edited by hand."

    tasks_file = project.manifests / "retail.tasks.jsonl"
    first_line = tasks_file.read_text().splitlines()[0]
    tasks_file.write_text(first_line + "\n")
    assert len(load_domain_tasks(project, "retail")) == 1
