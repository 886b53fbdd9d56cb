"""``scaleenv synth`` skips a blueprint whose compiled output is current, by a hash of everything the
output depends on (blueprint, options, the compiler's code), and says so; ``--force`` recompiles."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from scaleenv_mcp.cli import main
from scaleenv_mcp.compiler.pipeline import build_stamp, generator_sha256

from ..conftest import ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one small blueprint and nothing compiled yet."""
    text = (ROOT / "tests/fixtures/pet_grooming_salon.yaml").read_text()
    (tmp_path / "synthesis/domains").mkdir(parents=True)
    (tmp_path / "synthesis/domains/pet_salon.yaml").write_text("name: pet_salon\nseed: 0\n" + text)
    return tmp_path


def synth(project: Path, *args: str) -> int:
    return main(["--root", str(project), "synth", "--all", "--tasks", "0", *args])


def outputs(project: Path) -> dict[str, bytes]:
    files = [*sorted((project / "servers").rglob("*.*")), *sorted((project / "manifests").glob("*"))]
    return {p.relative_to(project).as_posix(): p.read_bytes() for p in files if "__pycache__" not in p.parts}


@pytest.mark.e2e
def test_an_unchanged_blueprint_is_up_to_date_and_an_edited_one_recompiles(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blueprint = project / "synthesis/domains/pet_salon.yaml"
    assert synth(project) == 0
    assert "pet_salon: 4 entities, 9 tools" in capsys.readouterr().out
    manifest = json.loads((project / "manifests/pet_salon.json").read_text())
    assert manifest["build"]["generator_sha256"] == generator_sha256() and manifest["build"]["tasks"] == 0
    first = outputs(project)

    assert synth(project) == 0
    assert capsys.readouterr().out.strip() == "pet_salon: up to date (blueprint, options and compiler unchanged; --force recompiles)"
    os.utime(blueprint)  # a newer time alone changes nothing: the check is by content
    assert synth(project) == 0 and "up to date" in capsys.readouterr().out

    blueprint.write_text(blueprint.read_text() + "# an edit\n")
    assert synth(project) == 0
    out = capsys.readouterr().out
    assert "up to date" not in out and "pet_salon: 4 entities, 9 tools" in out and "1 file(s) changed" in out  # the stamp only
    assert synth(project) == 0 and "up to date" in capsys.readouterr().out

    assert synth(project, "--force") == 0
    assert "0 file(s) changed" in capsys.readouterr().out
    assert outputs(project)["servers/pet_salon/spec.json"] == first["servers/pet_salon/spec.json"]
    assert synth(project, "--task-seed", "1") == 0  # other options: other output
    assert "up to date" not in capsys.readouterr().out

    (project / "servers/pet_salon/spec.json").unlink()  # output missing: not current, whatever the manifest says
    assert synth(project) == 0 and "up to date" not in capsys.readouterr().out
    assert (project / "servers/pet_salon/spec.json").is_file()


def test_the_build_stamp_changes_with_every_input_and_only_with_them() -> None:
    stamp = build_stamp("name: a\n", "synthesis/domains/a.yaml", tasks=48, task_seed=0)
    assert stamp == build_stamp("name: a\r\n", "synthesis/domains/a.yaml", tasks=48, task_seed=0)  # line endings do not count
    others = [
        build_stamp("name: b\n", "synthesis/domains/a.yaml", tasks=48, task_seed=0),
        build_stamp("name: a\n", "elsewhere/a.yaml", tasks=48, task_seed=0),
        build_stamp("name: a\n", "synthesis/domains/a.yaml", tasks=12, task_seed=0),
        build_stamp("name: a\n", "synthesis/domains/a.yaml", tasks=48, task_seed=1),
    ]
    assert len({stamp["sha256"], *(o["sha256"] for o in others)}) == 5
    assert len(generator_sha256()) == 64 and stamp["generator_sha256"] == generator_sha256()


def test_the_generator_hash_covers_the_code_of_every_layer_below_synthesis(tmp_path: Path) -> None:
    """A copy of the package with one line changed in a layer that shapes the output hashes differently
    (so the corpus recompiles); a change in a layer above the compiler does not."""
    copy = tmp_path / "scaleenv_mcp"
    shutil.copytree(ROOT / "src/scaleenv_mcp", copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert generator_sha256(copy) == generator_sha256()
    (copy / "cli.py").write_text((copy / "cli.py").read_text() + "\n# the command line does not shape a domain\n")
    assert generator_sha256.__wrapped__(copy) == generator_sha256()
    for layer in ("engine/runtime.py", "compiler/codegen.py", "spec/model.py", "tasks/generation/generator.py", "_version.py"):
        edited = tmp_path / layer.replace("/", "_") / "scaleenv_mcp"
        shutil.copytree(copy, edited)
        (edited / layer).write_text((edited / layer).read_text() + "\n# a change\n")
        assert generator_sha256(edited) != generator_sha256(), layer


@pytest.mark.e2e
def test_blueprints_compiled_side_by_side_give_the_bytes_compiled_one_after_another(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--jobs`` spreads the corpus over the cores; the output must not depend on it (each domain is
    compiled from its own blueprint alone, and files are written by one process, in file order)."""
    text = (project / "synthesis/domains/pet_salon.yaml").read_text()
    (project / "synthesis/domains/dog_spa.yaml").write_text(text.replace("name: pet_salon", "name: dog_spa", 1))
    assert main(["--root", str(project), "synth", "--all", "--tasks", "4", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.index("dog_spa: 4 entities") < out.index("pet_salon: 4 entities")  # reported in file order
    side_by_side = outputs(project)
    assert main(["--root", str(project), "synth", "--all", "--tasks", "4", "--jobs", "1", "--force"]) == 0
    assert outputs(project) == side_by_side and set(side_by_side) >= {"servers/dog_spa/spec.json", "manifests/pet_salon.tasks.jsonl"}
