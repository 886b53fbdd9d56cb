"""The editor schema (docs/blueprint.schema.json) is derived from the models and the language
reference: regenerating it gives the committed file byte for byte, every shipped blueprint
declares it for YAML language servers and validates against it, and a key the reference
describes carries the reference's words on hover."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from scaleenv_mcp.cli import main
from scaleenv_mcp.spec.schema import blueprint_schema, reference_descriptions, schema_text

from ..conftest import ROOT

REFERENCE = ROOT / "docs" / "blueprint-language.md"
COMMITTED = ROOT / "docs" / "blueprint.schema.json"
BLUEPRINTS = sorted((ROOT / "synthesis" / "domains").glob("*.yaml"))
DECLARATION = "# yaml-language-server: $schema=../../docs/blueprint.schema.json"


def test_regenerating_the_schema_gives_the_committed_file_byte_for_byte() -> None:
    assert schema_text(REFERENCE) == COMMITTED.read_text(encoding="utf-8"), "run: scaleenv schema -o docs/blueprint.schema.json"


def test_the_schema_command_writes_the_same_schema(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schema.json"
    assert main(["--root", str(ROOT), "schema", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    assert main(["--root", str(ROOT), "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "scaleenv-mcp blueprint"


@pytest.mark.parametrize("blueprint", BLUEPRINTS, ids=lambda p: p.stem)
def test_every_shipped_blueprint_declares_the_schema_and_meets_it(blueprint: Any) -> None:
    text = blueprint.read_text(encoding="utf-8")
    assert text.splitlines()[0] == DECLARATION
    assert (blueprint.parent / DECLARATION.split("=", 1)[1]).resolve() == COMMITTED.resolve()
    validator = Draft202012Validator(json.loads(COMMITTED.read_text(encoding="utf-8")))
    assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == []


def test_an_editor_sees_a_misspelt_key_and_a_wrong_type() -> None:
    validator = Draft202012Validator(blueprint_schema(REFERENCE.read_text(encoding="utf-8")))
    data = yaml.safe_load(BLUEPRINTS[0].read_text(encoding="utf-8"))
    entity = next(iter(data["entities"].values()))
    field = next(iter(entity["fields"].values()))
    field["nulable"] = True
    field["type"] = "integer"
    messages = sorted(e.message for e in validator.iter_errors(data))
    assert any("'nulable' was unexpected" in m for m in messages), messages
    assert any("'integer' is not one of" in m for m in messages), messages


def test_keys_the_reference_describes_carry_its_words_and_every_key_has_a_description() -> None:
    reference = REFERENCE.read_text(encoding="utf-8")
    described = reference_descriptions(reference)
    schema = blueprint_schema(reference)
    models = {**schema["$defs"], "DomainSpec": schema}
    assert models["FieldSpec"]["properties"]["weights"]["description"] == described["Seed data"]["weights"]
    assert models["FieldSpec"]["properties"]["nullable"]["description"] == described["Fields"]["nullable"]
    assert models["ParamSpec"]["properties"]["max_items"]["description"] == described["Parameters"]["max_items"]
    missing = [f"{m}.{k}" for m, d in models.items() for k, p in d.get("properties", {}).items() if not p.get("description")]
    assert missing == []
