"""The language reference (docs/blueprint-language.md) names every blueprint key and every
function the interpreter allows, and the proposer's prompts point to it: a key or function added
without its documentation fails here."""

from __future__ import annotations

import re

from pydantic import BaseModel

from scaleenv_mcp.spec import model
from scaleenv_mcp.spec.expr import PURE_FUNCTIONS, QUERY_FUNCTIONS
from scaleenv_mcp.spec.types import FIELD_TYPES, SAMPLE_KINDS

from ..conftest import ROOT

REFERENCE = (ROOT / "docs" / "blueprint-language.md").read_text()
CODE = set(re.findall(r"`([^`]+)`", REFERENCE)) | set(re.findall(r"^\s*([a-z_]+):", REFERENCE, flags=re.M))


def keys(cls: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in cls.model_fields.items()}


def test_every_blueprint_key_is_documented() -> None:
    classes = [model.DomainSpec, model.ActorSpec, model.EntitySpec, model.NearDuplicates, model.FieldSpec, model.ToolSpec,
               model.ParamSpec, model.RuleSpec, model.LookupSpec, model.SearchSpec, model.CreateEffect, model.DeleteEffect,
               model.IncludeSpec, model.PerParent, model.ForEachEffect, model.PairSpec, model.ExampleSpec, model.ExpectedError]  # fmt: skip
    missing = {f"{cls.__name__}.{key}" for cls in classes for key in keys(cls) if key not in CODE and f"{key}:" not in REFERENCE}
    assert not missing, sorted(missing)


def test_every_function_field_type_and_sample_kind_is_documented() -> None:
    for name in [*PURE_FUNCTIONS, *QUERY_FUNCTIONS]:
        assert f"`{name}(" in REFERENCE, name
    for kind in [*FIELD_TYPES, *SAMPLE_KINDS]:
        assert f"`{kind}`" in REFERENCE, kind


def test_the_proposer_prompts_name_every_function_and_point_to_the_reference() -> None:
    tools = (ROOT / "synthesis" / "prompts" / "tools.md").read_text()
    assert "docs/blueprint-language.md" in tools
    assert "docs/blueprint-language.md" in (ROOT / "synthesis" / "prompts" / "seed.md").read_text()
    for name in [*PURE_FUNCTIONS, *QUERY_FUNCTIONS]:
        assert f"{name}(" in tools or f"{name}," in tools or f"{name}." in tools, name
