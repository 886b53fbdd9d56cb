"""The blueprint's JSON Schema, for editors: completion, hover text and red squiggles while typing.

It is derived, never written by hand: the shapes come from the pydantic models (the same ones
that load a blueprint), and each key's description from the language reference
(``docs/blueprint-language.md``) where the reference describes it (a table row or a YAML
comment in the key's section), else from the model. ``scaleenv schema`` writes it; the shipped
blueprints point YAML language servers at the committed copy, ``docs/blueprint.schema.json``, and
a test regenerates it to keep the models, the reference and the file in step.

What a schema cannot say (an unknown entity in a ``ref``, a type error in an expression) is
still checked when the blueprint loads, with its line and column.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .model import DomainSpec

__all__ = ["SCHEMA_ID", "blueprint_schema", "reference_descriptions", "schema_text"]

SCHEMA_ID = "https://github.com/scaleenv/scaleenv-mcp/docs/blueprint.schema.json"

_SECTIONS: dict[str, tuple[str, ...]] = {
    "DomainSpec": ("The domain",),
    "ActorSpec": ("The domain",),
    "EntitySpec": ("Entities", "Seed data"),
    "FieldSpec": ("Fields", "Seed data", "Wording"),
    "NearDuplicates": ("Seed data",),
    "PerParent": ("Seed data", "Entities"),
    "ToolSpec": ("Tools", "Computed answers", "Joined rows", "Local values", "Wording"),
    "ParamSpec": ("Parameters", "List parameters"),
    "LookupSpec": ("Reads: lookup and search",),
    "SearchSpec": ("Reads: lookup and search", "Pairs"),
    "PairSpec": ("Pairs",),
    "IncludeSpec": ("Joined rows",),
    "RuleSpec": ("Rules", "Rules the agent keeps"),
    "CreateEffect": ("Effects",),
    "DeleteEffect": ("Effects",),
    "ForEachEffect": ("Per-item effects", "Effects"),
}
"""which sections of the reference describe each model's keys, first match wins"""

_OWN: dict[tuple[str, str], str] = {
    ("DomainSpec", "title"): "the domain's title, for people",
    ("DomainSpec", "version"): "the blueprint's version (semver), recorded in the manifest",
    ("DomainSpec", "entities"): "the records of the state: entity name -> entity (see Entities)",
    ("DomainSpec", "tools"): "the operations an agent may call: tool name -> tool (see Tools)",
    ("EntitySpec", "description"): "what a row is, for people and for the tool schemas",
    ("EntitySpec", "fields"): "the entity's typed columns: field name -> field ('id' is implicit)",
    ("ToolSpec", "params"): "the tool's parameters: name -> parameter; a ref parameter <x>_id binds the row variable <x>",
    ("ToolSpec", "lookup"): "find exactly one row by fields a user knows: {entity, by: {field: param}}",
    ("ToolSpec", "search"): "list rows filtered by parameters: {entity, where, order_by, descending, limit}",
    ("ToolSpec", "requires"): "rules checked in order before any effect: {check: EXPR, error: TEXT}",
    ("ToolSpec", "effects"): "changes made in one transaction: assignments, create, delete or for_each",
    ("RuleSpec", "check"): "an expression that must be true for the call to go ahead",
    ("RuleSpec", "error"): "the message of a call the check refuses (or, kept_by: agent, the policy line)",
    ("CreateEffect", "values"): "field -> expression giving its value; fields left out take their default",
    ("ForEachEffect", "do"): "the effects applied for each item: assignments, create or delete",
    ("LookupSpec", "entity"): "the entity of the row found",
    ("LookupSpec", "as"): "the row variable the found row is bound to (default: the entity's name)",
    ("SearchSpec", "entity"): "the entity whose rows are listed",
    ("SearchSpec", "where"): "filters 'field OP param' (== != < <= > >= contains, and in for a list parameter); an absent optional parameter skips its filter",
    ("SearchSpec", "order_by"): "the field rows are listed by",
    ("SearchSpec", "descending"): "list in descending order",
    ("IncludeSpec", "entity"): "the entity of the joined rows",
    ("IncludeSpec", "order_by"): "the field the joined rows are listed by",
    ("IncludeSpec", "limit"): "most joined rows returned (1 to 100)",
    ("PerParent", "min"): "fewest rows seeded per parent row",
    ("PerParent", "max"): "most rows seeded per parent row",
}
"""keys neither the reference's tables nor the models describe in words"""

_ROW = re.compile(r"^\|(?P<keys>[^|]+)\|(?:[^|]*\|)*?(?P<text>[^|]+)\|\s*$")
_COMMENT = re.compile(r"^\s*(?:- )?(?P<key>[a-z_]+):[^#]*#\s*(?P<text>.+)$")


def reference_descriptions(reference: str) -> dict[str, dict[str, str]]:
    """Section heading -> key -> what the reference says about the key (a table row's last
    column, or a YAML example's trailing comment)."""
    out: dict[str, dict[str, str]] = {}
    section = ""
    for line in reference.splitlines():
        if line.startswith("#"):
            section = line.lstrip("#").strip()
            continue
        row = _ROW.match(line)
        if row and not set(row["text"].strip()) <= {"-", " "}:
            keys = re.findall(r"`([a-z_]+)`", row["keys"])
            if keys and re.fullmatch(r"\s*`[a-z_]+`(\s*,\s*`[a-z_]+`)*\s*", row["keys"]):
                for key in keys:
                    out.setdefault(section, {}).setdefault(key, _plain(row["text"]))
            continue
        comment = _COMMENT.match(line)
        if comment:
            out.setdefault(section, {}).setdefault(comment["key"], _plain(comment["text"]))
    return out


def _plain(text: str) -> str:
    return " ".join(text.strip().split())


def blueprint_schema(reference: str) -> dict[str, Any]:
    """The JSON Schema of a blueprint, with descriptions from ``reference`` (the language reference's text)."""
    described = reference_descriptions(reference)
    schema = DomainSpec.model_json_schema(by_alias=True, mode="validation")
    models = dict(schema.get("$defs", {}))
    models["DomainSpec"] = schema
    for name, model in models.items():
        sections = _SECTIONS.get(name, ())
        for key, prop in model.get("properties", {}).items():
            text = next((described[s][key] for s in sections if key in described.get(s, {})), None)
            text = text or prop.get("description") or _OWN.get((name, key))
            if text is not None:
                prop["description"] = text
            prop.pop("title", None)
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "scaleenv-mcp blueprint",
        "description": "A domain for scaleenv-mcp: entities, tools, rules, seed data and wording "
        "(docs/blueprint-language.md). Cross-references and expression types are checked when it loads.",
    }
    out.update({k: v for k, v in schema.items() if k not in ("title", "description")})
    return out


def schema_text(reference_path: Path | None) -> str:
    """The schema as the committed file holds it: stable key order, two-space indent, a final newline
    (without the reference, descriptions come from the models alone)."""
    reference = reference_path.read_text(encoding="utf-8") if reference_path is not None else ""
    return json.dumps(blueprint_schema(reference), indent=2, ensure_ascii=False) + "\n"
