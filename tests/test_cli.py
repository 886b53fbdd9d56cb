"""The ``scaleenv`` command as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scaleenv_mcp.cli import main

from .conftest import ROOT, SHIPPED


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for folder in ("servers", "manifests")
        for p in sorted((root / folder).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's inputs and generated files, safe to regenerate."""
    for folder in ("synthesis", "servers", "manifests"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.mark.e2e
@pytest.mark.parametrize("domain", SHIPPED)
def test_synth_reproduces_the_committed_files_byte_for_byte(domain: str, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One domain per test, so the tier spreads over the cores; together they cover every generated file."""
    committed = tree_bytes(project)
    shutil.rmtree(project / "servers" / domain)
    for generated in (project / "manifests").glob(f"{domain}.*"):
        generated.unlink()
    (project / "manifests/index.json").unlink()
    (project / "servers/__init__.py").unlink()
    assert main(["--root", str(project), "synth", domain]) == 0
    assert tree_bytes(project) == committed
    index = json.loads((project / "manifests/index.json").read_text())
    assert len(index["domains"]) >= 12


@pytest.mark.e2e
def test_a_second_synth_rewrites_nothing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    committed = tree_bytes(project)
    assert main(["--root", str(project), "synth", "retail"]) == 0
    assert "0 file(s) changed" in capsys.readouterr().out
    assert tree_bytes(project) == committed


def test_a_broken_blueprint_is_rejected_and_nothing_is_written(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_bytes(project)
    blueprint = project / "synthesis/domains/retail.yaml"
    blueprint.write_text(blueprint.read_text().replace("ref: customer}", "ref: client}", 1))
    assert main(["--root", str(project), "synth", "retail"]) == 2  # invalid blueprint: 2; a gate failure: 1
    err = capsys.readouterr().err
    assert "retail.yaml: invalid blueprint" in err and "unknown entity 'client'" in err
    assert tree_bytes(project) == before


@pytest.mark.e2e
def test_synth_from_a_blueprint_path_adds_a_domain(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (project / "synthesis/domains/retail.yaml").read_text().replace("name: retail", "name: corner_shop", 1)
    path = project / "corner_shop.yaml"
    path.write_text(source)
    assert main(["--root", str(project), "synth", "--blueprint", str(path)]) == 0
    assert (project / "servers/corner_shop/spec.json").is_file()
    assert "corner_shop: 5 entities" in capsys.readouterr().out
    assert main(["--root", str(project), "list", "--json"]) == 0
    names = [d["name"] for d in json.loads(capsys.readouterr().out)["domains"]]
    assert "corner_shop" in names and "retail" in names


def test_list_shows_every_shipped_domain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "list"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out


@pytest.mark.parametrize(("client", "key"), [("claude", "mcpServers"), ("cursor", "mcpServers"), ("vscode", "servers")])
def test_client_config_registers_the_stdio_server(client: str, key: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(ROOT), "client-config", "hotel", "--client", client]) == 0
    entry = json.loads(capsys.readouterr().out)[key]["scaleenv-hotel"]
    assert entry["args"][-2:] == ["serve", "hotel"]
    assert entry["env"]["SCALEENV_ROOT"] == str(ROOT)
    assert Path(entry["command"]).exists()


@pytest.mark.e2e
def test_unknown_domain_is_a_clear_error_not_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scaleenv_mcp", "serve", "atlantis"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "no generated domain 'atlantis'" in proc.stderr and "retail" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_hand_edited_generated_spec_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = project / "servers/retail/spec.json"
    spec_file.write_text(spec_file.read_text().replace('"count": 24', '"count": 25'))
    assert main(["--root", str(project), "client-config", "retail"]) == 2
    assert "edited by hand" in capsys.readouterr().err


def test_version_and_help_that_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    import scaleenv_mcp

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"scaleenv-mcp {scaleenv_mcp.__version__}"
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "episodes at once (default: 2)" in text and "results folder (one agent per folder) (default: runs/latest)" in text
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    assert "(default: 48)" in capsys.readouterr().out


def test_output_piped_into_head_ends_quietly() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m scaleenv_mcp graph it_helpdesk | head -n 1", shell=True, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith("it_helpdesk:")
    assert proc.stderr == ""


def test_eval_records_who_ran_and_refuses_to_mix_agents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["--root", str(ROOT), "eval", "--agent", "oracle", "--domain", "retail", "--tasks", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["agent"] == "oracle" and summary["model"] is None
    assert summary["options"]["trials"] == 1 and summary["options"]["domains"] == ["retail"]
    capsys.readouterr()
    assert main(["--root", str(ROOT), "eval", "--agent", "noop", "--domain", "retail", "--tasks", "1", "--out", str(out),
                 "--resume"]) == 2  # fmt: skip
    assert "holds results of another agent (oracle)" in capsys.readouterr().err


def test_the_command_starts_without_importing_the_mcp_sdk_or_litellm() -> None:
    code = (
        "import sys; from scaleenv_mcp.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('mcp', 'litellm', 'networkx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_task_stats_describe_the_stored_mix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "retail", "--stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    kinds = {k: v["count"] for k, v in stats["kinds"].items()}
    assert sum(kinds.values()) == stats["tasks"] == sum(stats["difficulty"].values()) == 48
    assert kinds["refusal"] >= 3 and kinds["information"] >= 3 and stats["write_tools"]["covered"] == stats["write_tools"]["total"]
    assert main(["tasks", "retail", "--stats"]) == 0
    assert "refusal" in capsys.readouterr().out
