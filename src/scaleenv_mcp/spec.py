"""The one vocabulary: a domain as validated data (the IR).

A blueprint (YAML, written by a person or proposed by an LLM) is parsed into a
:class:`DomainSpec`. Validation is two-layered: pydantic checks shapes and types, then
:func:`check_spec` checks what pydantic cannot (a reference to an unknown entity, an
effect on a field that does not exist or has the wrong type, an expression that reads a
name nothing binds). Every problem carries the path to the offending node, so a
blueprint author (or an LLM in a repair loop) knows exactly what to fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .expr import Assignment, Expr, ExprError, Kind, parse, parse_assignment

__all__ = [
    "BlueprintError",
    "CreateEffect",
    "DeleteEffect",
    "DomainSpec",
    "EntitySpec",
    "FieldSpec",
    "FieldType",
    "LookupSpec",
    "ParamSpec",
    "Problem",
    "RuleSpec",
    "SearchSpec",
    "ToolSpec",
    "check_spec",
    "load_blueprint",
    "parse_blueprint",
]

FieldType = Literal["string", "text", "int", "float", "money", "bool", "date", "datetime", "enum", "ref"]
IDENT = r"^[a-z][a-z0-9_]*$"
_KIND: dict[str, Kind] = {
    "string": "string", "text": "string", "enum": "string", "date": "string", "datetime": "string",
    "ref": "string", "int": "number", "float": "number", "money": "number", "bool": "bool",
}  # fmt: skip
NUMERIC = {"int", "float", "money"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Model):
    """A typed column of an entity, with the constraints the runtime enforces."""

    type: FieldType
    description: str = ""
    ref: str | None = Field(None, description="entity a 'ref' field points to")
    values: list[str] | None = Field(None, description="allowed values of an 'enum' field")
    unique: bool = False
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(None, ge=1)
    default: Any = Field(None, description="value used when a create effect omits the field; 'today'/'now' use the clock")
    identifying: bool = Field(False, description="a fact a user would know and say (an email, a flight number)")
    # Seed-data hints: how the initial state fills this field.
    sample: str | None = Field(None, description="value generator, e.g. person_name, email, city, company, sentence")
    choices: list[Any] | None = Field(None, description="seed values to pick from")
    range: tuple[Any, Any] | None = Field(None, description="seed range; for dates, day offsets from the clock")
    weights: list[float] | None = Field(None, description="seed weights for enum values or choices")
    derive: str | None = Field(
        None, description="seed expression over the row, the rows it references, and 'sampled' (this field's own hint)"
    )
    ref_where: str | None = Field(None, description="seed: only reference rows for which this holds (their fields by name)")
    null_rate: float = Field(0.0, ge=0, le=1)

    @cached_property
    def derive_expr(self) -> Expr | None:
        return parse(self.derive) if self.derive else None

    @cached_property
    def ref_where_expr(self) -> Expr | None:
        return parse(self.ref_where) if self.ref_where else None

    @property
    def kind(self) -> Kind:
        return _KIND[self.type]

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of a value of this field (one view of the IR)."""
        schema = _value_schema(self.type, self.values, self.min, self.max, self.max_length)
        if self.ref:
            schema["description"] = f"id of a {self.ref}"
        if self.description:
            schema["description"] = self.description
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        return schema


class EntitySpec(_Model):
    """A kind of row in the state (a table)."""

    description: str = ""
    id_prefix: str = Field(..., pattern=r"^[A-Z][A-Z0-9]{0,5}$", description="ids look like PREFIX-0001")
    label: str | None = Field(None, description="field that names a row to a person (e.g. name, title)")
    count: int = Field(20, ge=0, le=1_000_000, description="rows in the seeded initial state")
    fields: dict[str, FieldSpec]
    unique_together: list[list[str]] = []
    seed_effects: list[str] = Field(
        [], description="assignments applied to referenced rows while seeding, e.g. \"copy.status = 'on_loan'\""
    )

    @cached_property
    def seed_assignments(self) -> list[Assignment]:
        return [parse_assignment(text) for text in self.seed_effects]

    @field_validator("fields")
    @classmethod
    def _field_names(cls, fields: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in fields:
            if not re.match(IDENT, name):
                raise ValueError(f"field name {name!r} must be snake_case")
            if name == "id":
                raise ValueError("'id' is implicit (PREFIX-0001); do not declare it")
        return fields

    def json_schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {"id": {"type": "string", "description": f"{self.id_prefix}-0001 style id"}}
        props.update({name: f.json_schema() for name, f in self.fields.items()})
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


class ParamSpec(_Model):
    """A tool parameter; same types as fields."""

    type: FieldType
    description: str = ""
    ref: str | None = None
    values: list[str] | None = None
    required: bool = True
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(None, ge=1)

    @property
    def kind(self) -> Kind:
        return _KIND[self.type]

    def json_schema(self) -> dict[str, Any]:
        schema = _value_schema(self.type, self.values, self.min, self.max, self.max_length)
        text = self.description or (f"id of the {self.ref}" if self.ref else "")
        if text:
            schema["description"] = text
        return schema


class RuleSpec(_Model):
    """A precondition: when ``check`` is false the call fails with ``error`` and changes nothing."""

    check: str
    error: str

    @cached_property
    def expr(self) -> Expr:
        return parse(self.check)


class LookupSpec(_Model):
    """Find exactly one row by fields a user knows (e.g. a customer by email)."""

    entity: str
    by: dict[str, str] = Field(..., min_length=1, description="field -> parameter")
    as_: str | None = Field(None, alias="as")

    @property
    def var(self) -> str:
        return self.as_ or self.entity


_WHERE = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(==|!=|<=|>=|<|>|contains)\s*([a-z][a-z0-9_]*)\s*$")


class SearchSpec(_Model):
    """List rows of an entity filtered by parameters; a filter whose parameter is absent is skipped."""

    entity: str
    where: list[str] = []
    order_by: str | None = None
    descending: bool = False
    limit: int = Field(50, ge=1, le=500)

    @field_validator("where")
    @classmethod
    def _where_form(cls, where: list[str]) -> list[str]:
        for clause in where:
            if not _WHERE.match(clause):
                raise ValueError(f"filter {clause!r} must look like 'field == param' (ops: == != < <= > >= contains)")
        return where

    @property
    def filters(self) -> list[tuple[str, str, str]]:
        """(field, op, param) per clause."""
        return [_WHERE.match(c).groups() for c in self.where]  # type: ignore[union-attr,misc]


class CreateEffect(_Model):
    """Insert a row; ``values`` maps fields to expressions; unset fields take their default."""

    create: str
    as_: str | None = Field(None, alias="as")
    values: dict[str, str | bool | int | float | None] = {}

    @property
    def var(self) -> str:
        return self.as_ or self.create

    @cached_property
    def value_exprs(self) -> dict[str, Expr]:
        return {k: parse(_literal_text(v)) for k, v in self.values.items()}


class DeleteEffect(_Model):
    """Delete the row bound to a variable."""

    delete: str


Effect = str | CreateEffect | DeleteEffect


class ToolSpec(_Model):
    """An operation an agent can call: parameters, how rows are found, rules, effects, result."""

    description: str = Field(..., min_length=10)
    params: dict[str, ParamSpec] = {}
    lookup: LookupSpec | None = None
    search: SearchSpec | None = None
    bind: dict[str, str] = Field({}, description="variable -> expression giving an id (e.g. product: order.product_id)")
    requires: list[RuleSpec] = []
    effects: list[Effect] = []
    returns: str | None = Field(None, description="variable whose row is returned (default: the main row)")

    @field_validator("params", "bind")
    @classmethod
    def _idents(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(IDENT, name):
                raise ValueError(f"name {name!r} must be snake_case")
        return value

    @property
    def is_write(self) -> bool:
        return bool(self.effects)

    @cached_property
    def assignments(self) -> dict[int, Assignment]:
        """Compiled string effects by position."""
        return {i: parse_assignment(e) for i, e in enumerate(self.effects) if isinstance(e, str)}

    @cached_property
    def bind_exprs(self) -> dict[str, Expr]:
        return {var: parse(text) for var, text in self.bind.items()}

    @property
    def ref_params(self) -> dict[str, str]:
        """Variable name -> parameter for every 'ref' parameter (order_id binds ``order``)."""
        return {name[:-3]: name for name, p in self.params.items() if p.type == "ref"}

    @property
    def result_var(self) -> str | None:
        if self.returns:
            return self.returns
        if self.search:
            return None
        for effect in self.effects:
            if isinstance(effect, CreateEffect):
                return effect.var
        if self.lookup:
            return self.lookup.var
        return next(iter(self.ref_params), None)

    def input_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {name: p.json_schema() for name, p in self.params.items()},
            "required": [name for name, p in self.params.items() if p.required],
            "additionalProperties": False,
        }


class DomainSpec(_Model):
    """A whole domain: entities (the state's schema), tools, policy, clock and seed."""

    name: str = Field(..., pattern=IDENT, max_length=48)
    title: str
    description: str = Field(..., min_length=20)
    version: str = "1.0.0"
    policy: str = Field(..., min_length=40, description="rules an agent must follow, shown as a prompt")
    clock: str = Field("2026-03-16T09:00:00", description="the environment's fixed 'now'")
    seed: int = 0
    entities: dict[str, EntitySpec] = Field(..., min_length=1)
    tools: dict[str, ToolSpec] = Field(..., min_length=1)
    provenance: dict[str, Any] | None = Field(None, description="who proposed this blueprint (model, prompts, seed)")

    @field_validator("entities", "tools")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(IDENT, name) or len(name) > 64:
                raise ValueError(f"name {name!r} must be snake_case, at most 64 characters")
        return value

    @field_validator("clock")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", value):
            raise ValueError("clock must look like 2026-03-16T09:00:00")
        return value

    @model_validator(mode="after")
    def _cross_references(self) -> DomainSpec:
        problems = check_spec(self)
        if problems:
            raise ValueError("\n".join(str(p) for p in problems))
        return self

    @property
    def today(self) -> str:
        return self.clock[:10]

    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the spec: identifies a domain version exactly."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def canonical_json(self) -> str:
        """Declaration order is kept on purpose: it fixes seeding order and tool listing order."""
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_defaults=True), indent=1)

    def write_tools(self) -> list[str]:
        return [name for name, tool in self.tools.items() if tool.is_write]


# ---------------------------------------------------------------- semantic checks


class Problem(BaseModel):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def check_spec(spec: DomainSpec) -> list[Problem]:
    """Cross-reference checks pydantic cannot express; empty when the spec is sound."""
    return list(_entity_problems(spec)) + list(_tool_problems(spec))


def _entity_problems(spec: DomainSpec) -> Iterator[Problem]:
    for ename, entity in spec.entities.items():
        base = f"entities.{ename}"
        if entity.label and entity.label not in entity.fields:
            yield Problem(path=f"{base}.label", message=f"unknown field {entity.label!r} (fields: {_names(entity.fields)})")
        for group in entity.unique_together:
            for fname in group:
                if fname not in entity.fields:
                    yield Problem(path=f"{base}.unique_together", message=f"unknown field {fname!r}")
        for i, text in enumerate(entity.seed_effects):
            path = f"{base}.seed_effects[{i}]"
            scope = _row_scope(spec, ename)
            resolved = _assignment_target(path, text, scope, spec, "this entity references")
            if not isinstance(resolved, tuple):
                yield from [resolved] if resolved else []
                continue
            assignment, target_name, target_entity = resolved
            if assignment.field not in target_entity.fields:
                yield Problem(path=path, message=f"unknown field {assignment.field!r} on entity {target_name!r}")
                continue
            yield from _reference_problems(path, assignment.value, scope, spec)
        for fname, f in entity.fields.items():
            path = f"{base}.fields.{fname}"
            yield from _typed_value_problems(path, f.type, f.ref, f.values, spec)
            if f.default is not None and f.type == "enum" and f.values and f.default not in f.values:
                yield Problem(path=f"{path}.default", message=f"{f.default!r} is not one of {f.values}")
            if f.min is not None and f.max is not None and f.min > f.max:
                yield Problem(path=path, message=f"min {f.min} is greater than max {f.max}")
            if f.weights is not None:
                options = f.choices or f.values or ([True, False] if f.type == "bool" else [])
                if len(f.weights) != len(options):
                    yield Problem(path=f"{path}.weights", message=f"{len(f.weights)} weights for {len(options)} values")
            if f.ref_where:
                if f.type != "ref" or f.ref not in spec.entities:
                    yield Problem(path=f"{path}.ref_where", message="'ref_where' needs a 'ref' field to a known entity")
                else:
                    try:
                        where = f.ref_where_expr
                    except ExprError as exc:
                        yield Problem(path=f"{path}.ref_where", message=str(exc))
                    else:
                        assert where is not None
                        target = spec.entities[f.ref]
                        scope = {n: ("value", t.type) for n, t in target.fields.items()}
                        scope.update({"id": ("value", "string"), "today": ("value", "date"), "now": ("value", "datetime")})
                        yield from _reference_problems(f"{path}.ref_where", where, scope, spec)  # type: ignore[arg-type]
            if f.derive:
                try:
                    expr = f.derive_expr
                except ExprError as exc:
                    yield Problem(path=f"{path}.derive", message=str(exc))
                    continue
                assert expr is not None
                scope = _row_scope(spec, ename)
                yield from _reference_problems(f"{path}.derive", expr, scope, spec)


def _typed_value_problems(
    path: str, type_: str, ref: str | None, values: list[str] | None, spec: DomainSpec
) -> Iterator[Problem]:
    if type_ == "ref":
        if not ref:
            yield Problem(path=path, message="a 'ref' needs 'ref: <entity>'")
        elif ref not in spec.entities:
            yield Problem(path=f"{path}.ref", message=f"unknown entity {ref!r} (entities: {_names(spec.entities)})")
    elif ref:
        yield Problem(path=f"{path}.ref", message=f"'ref' is only for type 'ref', not {type_!r}")
    if type_ == "enum" and not values:
        yield Problem(path=path, message="an 'enum' needs a non-empty 'values' list")


def _row_scope(spec: DomainSpec, entity: str) -> dict[str, tuple[str, str | None]]:
    """Names visible while seeding one row: its own fields and the rows its refs point to."""
    scope: dict[str, tuple[str, str | None]] = {
        "today": ("value", "date"),
        "now": ("value", "datetime"),
        "sampled": ("value", None),  # in a derive: the value the field's own seed hints produced
    }
    for fname, f in spec.entities[entity].fields.items():
        scope[fname] = ("value", f.type)
        if f.type == "ref" and f.ref in spec.entities and fname.endswith("_id"):
            scope[fname[:-3]] = ("row", f.ref)
    return scope


def _tool_problems(spec: DomainSpec) -> Iterator[Problem]:
    for tname, tool in spec.tools.items():
        base = f"tools.{tname}"
        # scope: name -> ("row", entity) | ("value", type)
        scope: dict[str, tuple[str, str | None]] = {"today": ("value", "date"), "now": ("value", "datetime")}
        for pname, p in tool.params.items():
            ppath = f"{base}.params.{pname}"
            yield from _typed_value_problems(ppath, p.type, p.ref, p.values, spec)
            scope[pname] = ("value", p.type)
            if p.type == "ref":
                if not pname.endswith("_id"):
                    yield Problem(path=ppath, message="a 'ref' parameter must be named <something>_id")
                elif p.ref in spec.entities:
                    scope[pname[:-3]] = ("row", p.ref)
        if tool.lookup and tool.search:
            yield Problem(path=base, message="a tool has either 'lookup' or 'search', not both")
        if tool.lookup:
            yield from _lookup_problems(f"{base}.lookup", tool, spec, scope)
        if tool.search:
            yield from _search_problems(f"{base}.search", tool, spec)
            if tool.effects:
                yield Problem(path=f"{base}.effects", message="a 'search' tool is read-only; it cannot have effects")
        for var, text in tool.bind.items():
            path = f"{base}.bind.{var}"
            try:
                expr = parse(text)
            except ExprError as exc:
                yield Problem(path=path, message=str(exc))
                continue
            refs = expr.references()
            target = _ref_target(refs, scope, spec) if len(refs) == 1 else None
            if target is None:
                yield Problem(path=path, message=f"{text!r} must be a ref parameter or a ref field like order.product_id")
                continue
            scope[var] = ("row", target)
        for i, rule in enumerate(tool.requires):
            path = f"{base}.requires[{i}].check"
            try:
                expr = rule.expr
            except ExprError as exc:
                yield Problem(path=path, message=str(exc))
                continue
            yield from _reference_problems(path, expr, scope, spec)
        yield from _effect_problems(base, tool, spec, scope)
        result = tool.result_var
        if tool.returns and (tool.returns not in scope or scope[tool.returns][0] != "row"):
            rows = [n for n, (k, _) in scope.items() if k == "row"]
            yield Problem(path=f"{base}.returns", message=f"{tool.returns!r} is not a row variable (rows: {rows})")
        elif not tool.search and result is None:
            yield Problem(path=base, message="a tool must return something: add 'lookup', 'search', a ref parameter or 'returns'")


def _lookup_problems(
    path: str, tool: ToolSpec, spec: DomainSpec, scope: dict[str, tuple[str, str | None]]
) -> Iterator[Problem]:
    lookup = tool.lookup
    assert lookup is not None
    entity = spec.entities.get(lookup.entity)
    if entity is None:
        yield Problem(path=f"{path}.entity", message=f"unknown entity {lookup.entity!r} (entities: {_names(spec.entities)})")
        return
    for fname, pname in lookup.by.items():
        if fname not in entity.fields and fname != "id":
            yield Problem(path=f"{path}.by.{fname}", message=f"unknown field {fname!r} of {lookup.entity} (fields: {_names(entity.fields)})")
        if pname not in tool.params:
            yield Problem(path=f"{path}.by.{fname}", message=f"unknown parameter {pname!r} (parameters: {_names(tool.params)})")
    scope[lookup.var] = ("row", lookup.entity)


def _search_problems(path: str, tool: ToolSpec, spec: DomainSpec) -> Iterator[Problem]:
    search = tool.search
    assert search is not None
    entity = spec.entities.get(search.entity)
    if entity is None:
        yield Problem(path=f"{path}.entity", message=f"unknown entity {search.entity!r} (entities: {_names(spec.entities)})")
        return
    for i, (fname, op, pname) in enumerate(search.filters):
        if fname not in entity.fields and fname != "id":
            yield Problem(path=f"{path}.where[{i}]", message=f"unknown field {fname!r} of {search.entity} (fields: {_names(entity.fields)})")
        if pname not in tool.params:
            yield Problem(path=f"{path}.where[{i}]", message=f"unknown parameter {pname!r} (parameters: {_names(tool.params)})")
        elif op == "contains" and tool.params[pname].kind != "string":
            yield Problem(path=f"{path}.where[{i}]", message="'contains' needs a text parameter")
    if search.order_by and search.order_by not in entity.fields and search.order_by != "id":
        yield Problem(path=f"{path}.order_by", message=f"unknown field {search.order_by!r} of {search.entity}")


def _effect_problems(
    base: str, tool: ToolSpec, spec: DomainSpec, scope: dict[str, tuple[str, str | None]]
) -> Iterator[Problem]:
    for i, effect in enumerate(tool.effects):
        path = f"{base}.effects[{i}]"
        if isinstance(effect, str):
            resolved = _assignment_target(path, effect, scope, spec, "this tool has bound")
            if not isinstance(resolved, tuple):
                yield from [resolved] if resolved else []
                continue
            assignment, target_name, entity = resolved
            field = entity.fields.get(assignment.field)
            if field is None:
                yield Problem(
                    path=path,
                    message=f"unknown field {assignment.field!r} on entity {target_name!r} (fields: {_names(entity.fields)})",
                )
                continue
            yield from _reference_problems(path, assignment.value, scope, spec)
            if assignment.op != "=" and field.type not in NUMERIC:
                yield Problem(path=path, message=f"{assignment.op} needs a number field; {target_name}.{assignment.field} is {field.type}")
            yield from _value_type_problems(path, assignment.value, field, f"{target_name}.{assignment.field}", scope, spec)
        elif isinstance(effect, CreateEffect):
            created = spec.entities.get(effect.create)
            if created is None:
                yield Problem(path=f"{path}.create", message=f"unknown entity {effect.create!r} (entities: {_names(spec.entities)})")
                continue
            for fname, raw in effect.values.items():
                vpath = f"{path}.values.{fname}"
                field = created.fields.get(fname)
                if field is None:
                    yield Problem(path=vpath, message=f"unknown field {fname!r} on entity {effect.create!r} (fields: {_names(created.fields)})")
                    continue
                try:
                    expr = parse(_literal_text(raw))
                except ExprError as exc:
                    yield Problem(path=vpath, message=str(exc))
                    continue
                yield from _reference_problems(vpath, expr, scope, spec, field=field)
                yield from _value_type_problems(vpath, expr, field, f"{effect.create}.{fname}", scope, spec)
            for fname, field in created.fields.items():
                if fname not in effect.values and field.default is None and not field.nullable:
                    yield Problem(path=f"{path}.values", message=f"field {fname!r} has no value and no default")
            scope[effect.var] = ("row", effect.create)
        else:
            target = scope.get(effect.delete)
            if target is None or target[0] != "row":
                yield Problem(path=f"{path}.delete", message=f"{effect.delete!r} is not a row this tool has bound")


def _assignment_target(
    path: str, text: str, scope: dict[str, tuple[str, str | None]], spec: DomainSpec, owner: str
) -> tuple[Assignment, str, EntitySpec] | Problem | None:
    """Parse ``var.field = ...`` and find the entity of ``var``; a Problem if either fails
    (None when the entity itself is unknown, which is reported where it is declared)."""
    try:
        assignment = parse_assignment(text)
    except ExprError as exc:
        return Problem(path=path, message=str(exc))
    target = scope.get(assignment.var)
    if target is None or target[0] != "row":
        rows = [n for n, (k, _) in scope.items() if k == "row"]
        return Problem(path=path, message=f"{assignment.var!r} is not a row {owner} (rows: {rows})")
    entity = spec.entities.get(str(target[1]))
    if entity is None:
        return None
    return assignment, str(target[1]), entity


def _reference_problems(
    path: str, expr: Expr, scope: dict[str, tuple[str, str | None]], spec: DomainSpec, field: FieldSpec | None = None
) -> Iterator[Problem]:
    for name, attr in expr.references():
        if name not in scope:
            hint = ""
            if field is not None and field.values and name in field.values:
                hint = f"; to use the value write \"'{name}'\" in quotes"
            yield Problem(path=path, message=f"unknown name {name!r} in {expr.text!r} (known: {sorted(scope)}){hint}")
            continue
        kind, target = scope[name]
        if attr is None:
            continue
        if kind != "row":
            yield Problem(path=path, message=f"{name!r} is a value, not a row, so {name}.{attr} is invalid")
        elif str(target) in spec.entities and attr != "id" and attr not in spec.entities[str(target)].fields:
            yield Problem(path=path, message=f"unknown field {attr!r} on entity {target!r} in {expr.text!r}")
    for entity, positional, keywords in expr.query_calls():
        if entity not in spec.entities:
            yield Problem(path=path, message=f"unknown entity {entity!r} in {expr.text!r}")
            continue
        for fname in [*positional, *keywords]:
            if fname != "id" and fname not in spec.entities[entity].fields:
                yield Problem(path=path, message=f"unknown field {fname!r} of {entity!r} in {expr.text!r}")


def _value_type_problems(
    path: str, expr: Expr, field: FieldSpec, where: str, scope: dict[str, tuple[str, str | None]], spec: DomainSpec
) -> Iterator[Problem]:
    kind = expr.kind(lambda name, attr: _resolve_kind(name, attr, scope, spec))
    expected = field.kind
    if kind == "null" and not field.nullable:
        yield Problem(path=path, message=f"{where} is not nullable but {expr.text!r} is null")
    elif kind not in ("unknown", "null") and kind != expected:
        yield Problem(path=path, message=f"{where} is {field.type} but {expr.text!r} gives a {kind}")
    elif field.type == "enum" and field.values:
        node = expr.node
        value = getattr(node, "value", None)
        if isinstance(value, str) and value not in field.values:
            yield Problem(path=path, message=f"{value!r} is not a value of {where} (values: {field.values})")


def _resolve_kind(name: str, attr: str | None, scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> Kind:
    if name not in scope:
        return "unknown"
    kind, target = scope[name]
    if attr is None:
        return _KIND.get(str(target), "unknown") if kind == "value" else "unknown"
    if attr == "id":
        return "string"
    entity = spec.entities.get(str(target))
    if entity is None or attr not in entity.fields:
        return "unknown"
    return entity.fields[attr].kind


def _ref_target(refs: list[tuple[str, str | None]], scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> str | None:
    name, attr = refs[0]
    if name not in scope:
        return None
    kind, target = scope[name]
    if attr is None:
        return None
    if kind == "row" and str(target) in spec.entities:
        field = spec.entities[str(target)].fields.get(attr)
        if field is not None and field.type == "ref":
            return field.ref
    return None


def _value_schema(
    type_: str, values: list[str] | None, lo: float | None, hi: float | None, max_length: int | None
) -> dict[str, Any]:
    schema: dict[str, Any]
    if type_ == "int":
        schema = {"type": "integer"}
    elif type_ in ("float", "money"):
        schema = {"type": "number"}
    elif type_ == "bool":
        schema = {"type": "boolean"}
    elif type_ == "enum":
        schema = {"type": "string", "enum": list(values or [])}
    elif type_ == "date":
        schema = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    elif type_ == "datetime":
        # local time without a zone (the environment has one clock); JSON Schema's "date-time" would demand a zone
        schema = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$",
                  "description": "local date and time, e.g. 2026-03-16T14:30:00"}
    else:
        schema = {"type": "string"}
    if type_ in NUMERIC:
        if lo is not None:
            schema["minimum"] = int(lo) if type_ == "int" else lo
        if hi is not None:
            schema["maximum"] = int(hi) if type_ == "int" else hi
    if max_length is not None and schema["type"] == "string":
        schema["maxLength"] = max_length
    return schema


def _literal_text(value: str | int | float | bool | None) -> str:
    """Create-effect values are expressions; YAML numbers, booleans and null become literals."""
    return value if isinstance(value, str) else repr(value)


def _names(mapping: dict[str, Any]) -> str:
    return ", ".join(mapping) or "none"


# ---------------------------------------------------------------- loading


class BlueprintError(ValueError):
    """A blueprint that does not validate; ``problems`` say where and what, ``source`` which file."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: invalid blueprint ({len(problems)} problem{'s' * (len(problems) != 1)})\n{lines}")


def parse_blueprint(data: Any, source: str = "<blueprint>") -> DomainSpec:
    """Validate already-parsed blueprint data into a spec, or raise :class:`BlueprintError`."""
    if not isinstance(data, dict):
        raise BlueprintError(source, [Problem(path="(top)", message="expected a mapping with name, entities, tools, ...")])
    try:
        return DomainSpec.model_validate(data)
    except ValidationError as exc:
        raise BlueprintError(source, _problems_from(exc)) from None


def load_blueprint(path: str | Path) -> DomainSpec:
    """Read a YAML (or JSON) blueprint file into a validated spec."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BlueprintError(str(path), [Problem(path="(file)", message=f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BlueprintError(str(path), [Problem(path="(yaml)", message=str(exc).replace("\n", " "))]) from None
    return parse_blueprint(data, str(path))


def _problems_from(exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = _format_loc(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "value_error" and "\n" in msg or (not err["loc"] and ": " in msg):
            for line in msg.splitlines():
                p, _, m = line.partition(": ")
                problems.append(Problem(path=p, message=m))
            continue
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the blueprint format)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif "input" in err and err["type"] not in ("value_error",):
            msg = f"{msg} (got {err['input']!r})" if not isinstance(err["input"], dict | list) else msg
        problems.append(Problem(path=loc or "(top)", message=msg))
    return problems


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in ("str", "CreateEffect", "DeleteEffect"):
            out += f"<{part}>"
        else:
            out += f".{part}" if out else str(part)
    return out


# ---------------------------------------------------------------- tasks and checks


class ToolCall(_Model):
    """One call of a tool: a step of a reference solution or of a trajectory."""

    tool: str
    arguments: dict[str, Any] = {}


CheckKind = Literal[
    "row_exists", "row_absent", "field_equals", "field_changed_by", "no_other_changes", "answer_contains"
]


class CheckSpec(_Model):
    """A declarative assertion on the end state (or on the agent's final answer).

    - ``row_exists``: a row of ``entity`` with the fields in ``where`` exists that did not
      exist initially (new rows are matched by content, so their generated ids may differ).
    - ``row_absent``: the row ``entity``/``id`` no longer exists.
    - ``field_equals``: ``entity``/``id``.``field`` equals ``value``.
    - ``field_changed_by``: numeric ``entity``/``id``.``field`` changed by ``delta`` from the initial state.
    - ``no_other_changes``: nothing changed beyond what the other checks of the task name.
    - ``answer_contains``: the agent's final answer mentions ``value``.
    """

    kind: CheckKind
    description: str
    entity: str | None = None
    id: str | None = None
    field: str | None = None
    value: Any = None
    delta: float | None = None
    where: dict[str, Any] = {}


class TaskSpec(_Model):
    """An instruction, its initial state, its checks, and a verified reference solution."""

    id: str
    domain: str
    kind: Literal["action", "information"]
    instruction: str
    user: dict[str, Any] = Field({}, description="facts the user knows and may reveal (name, email, ...)")
    initial_state: dict[str, Any] = Field(..., description="how to rebuild it: {'seed': N, 'sha256': ...}")
    checks: list[CheckSpec]
    solution: list[ToolCall]
    difficulty: dict[str, int]
