"""The one vocabulary: a domain as validated data (the IR), and its static views.

A blueprint (YAML, written by a person or proposed by an LLM) is parsed into a
:class:`DomainSpec`. Validation is two-layered: pydantic checks shapes and types here, then
:func:`scaleenv_mcp.spec.validate.check_spec` checks what pydantic cannot (a reference to an
unknown entity, an effect on a field that does not exist or has the wrong type, an
expression that reads a name nothing binds).

Static questions about a tool (which rows it binds, what it returns, which fields it reads
and writes, its JSON Schemas) are answered here, once per spec, by :class:`ToolView`: the
graph, the runtime, the code generator and the server all ask the spec, and none of them
keeps a cache of its own.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .expr import Assignment, Expr, parse, parse_assignment
from .problems import ProblemsFound, did_you_mean
from .types import KIND, SAMPLE_KINDS, FieldType, Kind, ref_var, value_schema

__all__ = [
    "ActorSpec",
    "CreateEffect",
    "DeleteEffect",
    "DomainSpec",
    "Effect",
    "EntitySpec",
    "ExampleSpec",
    "ExpectedError",
    "FieldSpec",
    "ForEachEffect",
    "IncludeSpec",
    "LookupSpec",
    "PairSpec",
    "ParamSpec",
    "RuleSpec",
    "SearchSpec",
    "Setting",
    "ToolSpec",
    "ToolView",
]

IDENT = r"^[a-z][a-z0-9_]*$"


def literal_text(value: str | int | float | bool | None) -> str:
    """Create-effect values are expressions; YAML numbers, booleans and null become literals."""
    return value if isinstance(value, str) else repr(value)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __getstate__(self) -> dict[Any, Any]:
        """Pickled without the views computed from it (``cached_property``: validators, compiled
        statements), which are rebuilt on use: a spec crosses to another process (``synth --jobs``)
        as the data it is, and some of those views cannot be pickled."""
        state = super().__getstate__()
        cached = _cached_views(type(self))
        if cached and any(name in state["__dict__"] for name in cached):
            state = {**state, "__dict__": {k: v for k, v in state["__dict__"].items() if k not in cached}}
        return state


@functools.cache
def _cached_views(cls: type) -> frozenset[str]:
    return frozenset(name for klass in cls.__mro__ for name, value in vars(klass).items() if isinstance(value, cached_property))


class FieldSpec(StrictModel):
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
    compare: Literal["exact", "normalized", "contains"] = Field(
        "normalized",
        description="how free text an agent writes here is checked: exact, normalized (case, spacing, trailing punctuation) or contains",
    )
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
    # Wording: how people say this field in a request (tasks read like people, not like columns).
    phrase: str | None = Field(None, min_length=1, max_length=60, description="noun phrase for the field, e.g. 'delivery date'")
    question: str | None = Field(
        None, min_length=5, max_length=120, description="how a user asks for it; {it} is the row ('When was {it} placed?'), left out when the row is the user"
    )
    value_phrases: dict[str, str] | None = Field(None, description="how enum values read, e.g. {extra_data_10gb: 'the 10 GB data pack'}")
    pattern: str | None = Field(
        None, max_length=40, pattern=r"^[^{}]*[A9][^{}]*$",
        description="fresh codes: A a letter, 9 a digit, anything else as written (PNR-AA9999); a create that leaves the field out draws one",
    )
    applies_when: str | None = Field(
        None, description="a field group chosen by an enum: the field has a value exactly when this holds (kind == 'card')"
    )
    mention: str | None = Field(
        None, min_length=7, max_length=60, description="how a row is singled out by this field: 'ending in {value}'"
    )

    @cached_property
    def derive_expr(self) -> Expr | None:
        return parse(self.derive) if self.derive else None

    @cached_property
    def ref_where_expr(self) -> Expr | None:
        return parse(self.ref_where) if self.ref_where else None

    @cached_property
    def applies_expr(self) -> Expr | None:
        return parse(self.applies_when) if self.applies_when else None

    @field_validator("sample")
    @classmethod
    def _sample_kind(cls, sample: str | None) -> str | None:
        if sample is not None and sample not in SAMPLE_KINDS:
            raise ValueError(f"unknown sample kind {sample!r}{did_you_mean(sample, SAMPLE_KINDS, 'kinds')}")
        return sample

    @property
    def kind(self) -> Kind:
        return KIND[self.type]

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of a value of this field (one view of the IR)."""
        schema = value_schema(self.type, self.values, self.min, self.max, self.max_length)
        if self.ref:
            schema["description"] = f"id of a {self.ref}"
        if self.description:
            schema["description"] = self.description
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        return schema


class NearDuplicates(StrictModel):
    """Seeded rows that look like others: the same product in another colour, a flight an hour later,
    a namesake customer. A careless lookup finds the wrong one; a task naming such a row must say
    what tells it apart."""

    count: int = Field(..., ge=1, le=10_000, description="extra rows, each a copy of a seeded row")
    vary: list[str] = Field(
        [], description="fields that differ from the row copied (unique fields always do); dates and times move by 1-3 days or hours"
    )


class PerParent(StrictModel):
    """Seed so many rows per row of a parent ("1 to 5 payment methods per user") instead of ``count``."""

    field: str = Field(..., description="the ref field whose parent each row belongs to")
    min: int = Field(1, ge=0, le=1000)
    max: int = Field(3, ge=0, le=1000)


class EntitySpec(StrictModel):
    """A kind of row in the state (a table)."""

    description: str = ""
    id_prefix: str = Field(..., pattern=r"^[A-Z][A-Z0-9]{0,5}$", description="ids look like PREFIX-0001")
    label: str | None = Field(None, description="field that names a row to a person (e.g. name, title)")
    noun: str | None = Field(None, min_length=1, max_length=40, description="what people call a row, e.g. 'booking'")
    count: int = Field(20, ge=0, le=1_000_000, description="rows in the seeded initial state")
    fields: dict[str, FieldSpec]
    unique_together: list[list[str]] = []
    seed_effects: list[str] = Field(
        [], description="assignments applied to referenced rows while seeding, e.g. \"copy.status = 'on_loan'\""
    )
    near_duplicates: NearDuplicates | None = Field(None, description="seed rows that are near copies of others (distractors)")
    rows: list[dict[str, Any]] = Field(
        [], max_length=1000, description="fixed rows seeded first, as given (ids PREFIX-0001, ...); fields left out are drawn"
    )
    per_parent: PerParent | None = Field(None, description="rows per parent row, instead of count")

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


MAX_ITEMS = 100
"""items a list parameter may declare (``max_items``): every call is bounded"""


class ParamSpec(StrictModel):
    """A tool parameter; same types as fields, or ``list`` of such values or of small objects.

    A list declares its items either as one value (``items: {type: ref, ref: flight}``) or as an
    object of named values (``fields: {first_name: {type: string}, ...}``), and how many it takes
    (``min_items``, ``max_items``): a booking of several passengers is one call, not five."""

    type: FieldType | Literal["list"]
    description: str = ""
    ref: str | None = None
    values: list[str] | None = None
    required: bool = True
    min: float | None = None
    max: float | None = None
    max_length: int | None = Field(None, ge=1)
    items: ParamSpec | None = Field(None, description="a list's items, each one value of this type")
    fields: dict[str, ParamSpec] | None = Field(None, description="a list's items, each an object of these values")
    min_items: int = Field(1, ge=0, le=MAX_ITEMS, description="fewest items of a list")
    max_items: int | None = Field(None, ge=1, le=MAX_ITEMS, description="most items of a list (required for a list)")

    @property
    def kind(self) -> Kind:
        return "list" if self.type == "list" else KIND[self.type]

    @property
    def ref_entity(self) -> str | None:
        """The entity whose ids this parameter takes: its own ``ref``, or its items' for a list of refs."""
        if self.type == "ref":
            return self.ref
        if self.type == "list" and self.items is not None and self.items.type == "ref":
            return self.items.ref
        return None

    @property
    def takes_ids(self) -> bool:
        """Whether an argument names rows by internal id (a ref, or a list with refs in its items)."""
        if self.type == "list":
            parts = [self.items] if self.items is not None else list((self.fields or {}).values())
            return any(p is not None and p.type == "ref" for p in parts)
        return self.type == "ref"

    def named_ids(self, value: Any) -> list[tuple[str, str]]:
        """(entity, id) for every row an argument names: a ref, each id of a list of refs, each
        ref value of a list of objects. Anything malformed names nothing."""
        if self.type == "ref":
            return [(str(self.ref), value)] if isinstance(value, str) else []
        if self.type != "list" or not isinstance(value, list):
            return []
        if self.items is not None:
            return [pair for item in value for pair in self.items.named_ids(item)]
        out: list[tuple[str, str]] = []
        for item in value:
            if isinstance(item, dict):
                for fname, f in (self.fields or {}).items():
                    out += f.named_ids(item.get(fname))
        return out

    def json_schema(self) -> dict[str, Any]:
        if self.type == "list":
            schema: dict[str, Any] = {"type": "array", "items": self.item_schema(), "minItems": self.min_items}
            if self.max_items is not None:
                schema["maxItems"] = self.max_items
        else:
            schema = value_schema(self.type, self.values, self.min, self.max, self.max_length)
        text = self.description or (f"id of the {self.ref}" if self.ref else "")
        if text:
            schema["description"] = text
        return schema

    def item_schema(self) -> dict[str, Any]:
        """JSON Schema of one item of a list."""
        if self.items is not None:
            return self.items.json_schema()
        fields = self.fields or {}
        return {
            "type": "object",
            "properties": {name: f.json_schema() for name, f in fields.items()},
            "required": [name for name, f in fields.items() if f.required],
            "additionalProperties": False,
        }


class IncludeSpec(StrictModel):
    """Rows joined into a tool's result: a reservation with its segments."""

    entity: str
    by: dict[str, str] = Field(..., min_length=1, description="field of the joined rows -> expression it equals (booking_id: booking.id)")
    order_by: str | None = None
    limit: int = Field(20, ge=1, le=100)

    @cached_property
    def by_exprs(self) -> dict[str, Expr]:
        return {f: parse(text) for f, text in self.by.items()}


class RuleSpec(StrictModel):
    """A precondition: when ``check`` is false the call fails with ``error`` and changes nothing.

    With ``for_each`` the check holds for every item of a list parameter (or every joined row),
    each bound to ``as`` in turn: every flight of a trip is open for booking.

    ``kept_by: agent`` makes it a business rule the agent must keep, as staff do in real systems
    (a cancellation window, who may get compensation): the tool accepts the call, and breaking the
    rule is a policy violation the monitor records and the grader zeroes every reward on. Its
    ``error`` is then the rule as the policy states it, and the policy text must say it. A rule the
    tool keeps (``kept_by: tool``, the default) is an integrity constraint: a full flight, a
    balance that cannot go negative."""

    check: str
    error: str
    kept_by: Literal["tool", "agent"] = Field(
        "tool", description="tool: the call fails with the error; agent: the call succeeds and breaking the rule is a policy violation"
    )
    for_each: str | IncludeSpec | None = Field(None, description="a list parameter, or rows {entity, by}: check each in turn")
    as_: str | None = Field(None, alias="as", description="the name each item is bound to")
    bind: dict[str, str] = Field({}, description="per item: variable -> expression giving an id")

    @cached_property
    def expr(self) -> Expr:
        return parse(self.check)

    @cached_property
    def bind_exprs(self) -> dict[str, Expr]:
        return {var: parse(text) for var, text in self.bind.items()}


class LookupSpec(StrictModel):
    """Find exactly one row by fields a user knows (e.g. a customer by email)."""

    entity: str
    by: dict[str, str] = Field(..., min_length=1, description="field -> parameter")
    as_: str | None = Field(None, alias="as")

    @property
    def var(self) -> str:
        return self.as_ or self.entity


_WHERE = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(==|!=|<=|>=|<|>|(?<=\s)contains(?=\s)|(?<=\s)in(?=\s))\s*([a-z][a-z0-9_]*|'[^']*')\s*$")


def _where_form(where: list[str]) -> list[str]:
    for clause in where:
        if not _WHERE.match(clause):
            raise ValueError(f"filter {clause!r} must look like 'field == param' or 'field == 'text'' (ops: == != < <= > >= contains in)")
    return where


class _Filtered:
    """``filters`` of the ``where`` a search (or the second row of its pairs) declares; a mixin, so
    each model keeps its own field order (the canonical JSON, and so the content hash, follow it)."""

    if TYPE_CHECKING:  # declared by each model; an annotation here would make pydantic list it first
        where: list[str]

    @property
    def filters(self) -> list[tuple[str, str, str]]:
        """(field, op, param) per clause by a parameter."""
        clauses = [_WHERE.match(c).groups() for c in self.where]  # type: ignore[union-attr]
        return [(f, op, p) for f, op, p in clauses if not p.startswith("'")]

    @property
    def fixed(self) -> list[tuple[str, str, str]]:
        """(field, op, text) per clause by a quoted literal: ``status == 'available'`` (always applied)."""
        clauses = [_WHERE.match(c).groups() for c in self.where]  # type: ignore[union-attr]
        return [(f, op, p[1:-1]) for f, op, p in clauses if p.startswith("'")]


class PairSpec(StrictModel, _Filtered):
    """A search that returns pairs: each row found, with a row of ``entity`` that ``join`` ties to it
    (a flight and the connecting flight of a one-stop trip). ``where`` filters the second rows."""

    entity: str = Field(..., description="the entity of the second row of each pair")
    where: list[str] = Field([], description="filters on the second row by parameters, as in a search")
    join: str = Field(..., description="what ties the two: over 'first' and 'second', with one 'second.f == first.g'")
    phrase: str | None = Field(
        None, min_length=5, max_length=120,
        description="how a person names one pair; slots are the search's parameters ('the one-stop trip from {origin} to {destination}')",
    )

    _where = field_validator("where")(_where_form)

    def filled(self, search: SearchSpec, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        """The search's arguments that find this pair: each ``field == param`` read off the row it filters."""
        args = {p: first[f] for f, op, p in search.filters if op == "==" and first.get(f) is not None}
        args.update({p: second[f] for f, op, p in self.filters if op == "==" and second.get(f) is not None})
        return args

    @cached_property
    def join_expr(self) -> Expr:
        return parse(self.join)

    @cached_property
    def key(self) -> tuple[str, str] | None:
        """(second's field, first's field) of the equality the pairs are found by (an index, not a scan)."""
        return next(((f, g) for a, f, b, g in self.join_expr.equalities() if (a, b) == ("second", "first")), None)


class SearchSpec(StrictModel, _Filtered):
    """List rows of an entity filtered by parameters; a filter whose parameter is absent is skipped."""

    entity: str
    where: list[str] = []
    order_by: str | None = None
    descending: bool = False
    limit: int = Field(50, ge=1, le=500)
    pairs: PairSpec | None = Field(None, description="return pairs {first, second} instead of rows (one-stop trips)")

    _where = field_validator("where")(_where_form)


class CreateEffect(StrictModel):
    """Insert a row; ``values`` maps fields to expressions; unset fields take their default."""

    create: str
    as_: str | None = Field(None, alias="as")
    values: dict[str, str | bool | int | float | None] = {}
    when: str | None = Field(None, description="create only when this holds (a conditional effect)")

    @property
    def var(self) -> str:
        return self.as_ or self.create

    @cached_property
    def when_expr(self) -> Expr | None:
        return parse(self.when) if self.when else None

    @cached_property
    def value_exprs(self) -> dict[str, Expr]:
        return {k: parse(literal_text(v)) for k, v in self.values.items()}


class DeleteEffect(StrictModel):
    """Delete the row bound to a variable."""

    delete: str
    when: str | None = Field(None, description="delete only when this holds (a conditional effect)")

    @cached_property
    def when_expr(self) -> Expr | None:
        return parse(self.when) if self.when else None


class ForEachEffect(StrictModel):
    """Per-row effects: ``do`` runs once for each item of a list parameter (or each joined row),
    bound to ``as``; a booking creates one segment per flight, a cancellation refunds each payment."""

    for_each: str | IncludeSpec = Field(..., description="a list parameter, or rows {entity, by, order_by, limit}")
    as_: str = Field(..., alias="as", description="the name each item is bound to")
    bind: dict[str, str] = Field({}, description="per item: variable -> expression giving an id (method: pay.method_id)")
    when: str | None = Field(None, description="run for an item only when this holds")
    do: list[str | CreateEffect | DeleteEffect] = Field(..., min_length=1, max_length=20)

    @cached_property
    def when_expr(self) -> Expr | None:
        return parse(self.when) if self.when else None

    @cached_property
    def bind_exprs(self) -> dict[str, Expr]:
        return {var: parse(text) for var, text in self.bind.items()}

    @cached_property
    def assignments(self) -> dict[int, Assignment]:
        return {i: parse_assignment(e) for i, e in enumerate(self.do) if isinstance(e, str)}


Effect = str | CreateEffect | DeleteEffect | ForEachEffect


class ExpectedError(StrictModel):
    """The failure an example expects: its code, and a piece of its message."""

    code: str = Field(..., description="precondition_failed, not_found, invalid_arguments, constraint_violation, ...")
    message: str = Field("", description="a substring the error message must contain")


class ExampleSpec(StrictModel):
    """Intent, stated by the author: on these rows, this call makes exactly these changes (or fails
    so). Examples run when the domain compiles; one that does not hold fails the compile with a diff,
    so a refund of the quantity instead of the total cannot pass as a working tool."""

    description: str = Field("", description="what the example shows, for people")
    given: dict[str, dict[str, Any]] = Field(
        {},
        description=(
            "rows by id, each with fields set before the call ({ORD-0003: {status: paid}}; {} leaves it as seeded); an id "
            "the seed did not draw (ORD-9001) is a new row the example brings, with every field it needs, so the example "
            "holds whatever the seed drew"
        ),
    )
    call: dict[str, Any] = Field(..., description="the call's arguments")
    changes: dict[str, dict[str, Any]] = Field({}, description="every row the call changes, by id: field -> its new value")
    created: dict[str, list[dict[str, Any]]] = Field(
        {}, description="rows the call adds, by entity: each item lists fields the new row holds (its id is not given)"
    )
    deleted: list[str] = Field([], description="ids of the rows the call removes")
    error: ExpectedError | None = Field(None, description="the call fails instead: nothing changes")

    @model_validator(mode="after")
    def _one_outcome(self) -> ExampleSpec:
        if self.error is not None and (self.changes or self.created or self.deleted):
            raise ValueError("an example expects either an error or changes (changes, created, deleted), not both")
        return self


class ToolSpec(StrictModel):
    """An operation an agent can call: parameters, how rows are found, rules, effects, result."""

    description: str = Field(..., min_length=10)
    params: dict[str, ParamSpec] = {}
    lookup: LookupSpec | None = None
    search: SearchSpec | None = None
    bind: dict[str, str] = Field({}, description="variable -> expression giving an id (e.g. product: order.product_id)")
    let: dict[str, str] = Field(
        {}, description="local values, in order, after rows are bound and before the rules (e.g. fee: 'flight.fare * 0.1')"
    )
    requires: list[RuleSpec] = []
    effects: list[Effect] = []
    returns: str | None = Field(None, description="variable whose row is returned (default: the main row)")
    compute: dict[str, str] = Field(
        {}, description="return these computed values instead of a row (a quote, a calculation): name -> expression"
    )
    include: dict[str, IncludeSpec] = Field({}, description="rows joined into the returned row, by name (segments of a booking)")
    phrasings: list[Annotated[str, Field(min_length=3, max_length=300)]] = Field(
        [], max_length=8, description="how a user asks for this call; {param} slots, e.g. 'please cancel {order_id}'"
    )
    reasons: list[Annotated[str, Field(min_length=3, max_length=120)]] = Field(
        [],
        max_length=8,
        description="why a user asks for this write, as short first-person clauses ('my plans changed'); a task's caller says one",
    )
    goodwill: bool = Field(
        False, description="a goodwill gesture (a credit, a voucher): asked for only with a complaint; the policy grants or withholds it"
    )
    examples: list[ExampleSpec] = Field(
        [], max_length=20, description="given rows, this call makes these changes or this error: checked when the domain compiles"
    )

    @field_validator("params", "bind", "let", "compute")
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
    def all_assignments(self) -> list[Assignment]:
        """Every assignment the tool can make, per-row ones included (what it may write)."""
        nested = [a for loop in self.loops for a in loop.assignments.values()]
        return [*self.assignments.values(), *nested]

    @cached_property
    def loops(self) -> list[ForEachEffect]:
        return [e for e in self.effects if isinstance(e, ForEachEffect)]

    @cached_property
    def list_params(self) -> dict[str, ParamSpec]:
        return {name: p for name, p in self.params.items() if p.type == "list"}

    @cached_property
    def bind_exprs(self) -> dict[str, Expr]:
        return {var: parse(text) for var, text in self.bind.items()}

    @cached_property
    def let_exprs(self) -> dict[str, Expr]:
        return {name: parse(text) for name, text in self.let.items()}

    @cached_property
    def compute_exprs(self) -> dict[str, Expr]:
        return {name: parse(text) for name, text in self.compute.items()}

    @cached_property
    def ref_params(self) -> dict[str, str]:
        """Variable name -> parameter for every 'ref' parameter (order_id binds ``order``)."""
        return {ref_var(name): name for name, p in self.params.items() if p.type == "ref"}

    @cached_property
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


class ActorSpec(StrictModel):
    """Who the agent acts for, and how they are identified: the policy the grader enforces.

    Rows whose references lead to a row of ``entity`` belong to that user; a write that touches
    another user's rows, or a user's rows before the user was identified, is a policy violation.
    """

    entity: str = Field(..., description="the entity of the person the agent acts for (e.g. customer)")
    identify: list[str] = Field(..., min_length=1, description="tools whose successful call identifies the user")


def _named_rows(item: Any, sets: dict[str, Any], params: dict[str, Any]) -> Any:
    """A rule or effect whose ``for_each`` names a row set (and no list parameter), with the set written in."""
    if isinstance(item, dict) and isinstance(item.get("for_each"), str) and item["for_each"] in sets and item["for_each"] not in params:
        return {**item, "for_each": sets[item["for_each"]]}
    return item


Setting = Literal["customer_service", "operations", "personal", "professional"]
"""Who the agent works for (``DomainSpec.setting``): the corpus counts domains outside customer service."""


class DomainSpec(StrictModel):
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
    provenance: dict[str, Any] | None = Field(
        None, description="how this blueprint was made: written by hand, ported from a named source, or proposed by a model (model, prompts, seed)"
    )
    industry: str | None = Field(
        None, min_length=2, max_length=40, description="the industry the domain belongs to ('Aviation', 'Healthcare'); the corpus groups by it"
    )
    setting: Setting | None = Field(
        None,
        description=(
            "who the agent works for: customer_service (a company's staff serving its customers), operations (staff running "
            "the business itself), personal (an assistant to one person), professional (a tool for someone's own work)"
        ),
    )
    actor: ActorSpec | None = Field(None, description="who the agent acts for and how they are identified (policy checks)")
    row_sets: dict[str, IncludeSpec] = Field(
        {}, description="named rows {entity, by, order_by, limit} that a for_each or an include names instead of repeating them"
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_row_sets(cls, data: Any) -> Any:
        """A ``for_each`` or ``include`` that names a row set is that row set, written once for every tool
        (a reservation's segments): expanded before validation, so each use is checked in its own tool's
        scope. A tool's own list parameter of the same name comes first."""
        if not isinstance(data, dict) or not isinstance(data.get("row_sets"), dict) or not isinstance(data.get("tools"), dict):
            return data
        sets = data["row_sets"]
        tools = {}
        for name, tool in data["tools"].items():
            if isinstance(tool, dict):
                params: dict[str, Any] = tool["params"] if isinstance(tool.get("params"), dict) else {}
                tool = dict(tool)
                for key in ("requires", "effects"):
                    if isinstance(tool.get(key), list):
                        tool[key] = [_named_rows(item, sets, params) for item in tool[key]]
                if isinstance(tool.get("include"), dict):
                    tool["include"] = {k: sets[v] if isinstance(v, str) and v in sets else v for k, v in tool["include"].items()}
            tools[name] = tool
        return {**data, "tools": tools}

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
        from .validate import check_spec  # validation reads these models; it cannot be imported first

        problems = check_spec(self)
        if problems:
            raise ProblemsFound(problems)
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

    # ------------------------------------------------------------ static views

    @cached_property
    def views(self) -> dict[str, ToolView]:
        """The static facts of every tool, computed once per spec (the spec is immutable)."""
        return {name: ToolView.of(self, tool) for name, tool in self.tools.items()}

    def view(self, tool: str) -> ToolView:
        return self.views[tool]

    @cached_property
    def parents_first(self) -> ParentsFirst:
        """Entities with the ones they reference first (every reference counts)."""
        return _parents_first(self, follow_nullable=True)

    @cached_property
    def personal_entities(self) -> frozenset[str]:
        """Entities whose rows belong to a user: the actor entity, and those whose references reach it
        within three steps (an order, its payments). Empty without an ``actor``."""
        actor = self.actor
        if actor is None:
            return frozenset()

        def reaches(entity: str, depth: int) -> bool:
            if entity == actor.entity:
                return True
            return depth < 3 and any(
                f.type == "ref" and f.ref in self.entities and reaches(str(f.ref), depth + 1)
                for f in self.entities[entity].fields.values()
            )

        return frozenset(e for e in self.entities if reaches(e, 0))

    @cached_property
    def seeding_order(self) -> ParentsFirst:
        """Entities in an order that seeds every non-nullable reference before it is needed."""
        return _parents_first(self, follow_nullable=False)


@dataclass(frozen=True)
class ParentsFirst:
    """An order of entities in which referenced entities come first, when references allow one."""

    order: tuple[str, ...]
    rank: dict[str, int]
    cycle: tuple[str, ...] | None
    """a reference cycle that stops a strict order (the order is still usable, cycle edges aside)"""


def _parents_first(spec: DomainSpec, *, follow_nullable: bool) -> ParentsFirst:
    order: list[str] = []
    marks: dict[str, int] = {}
    cycle: tuple[str, ...] | None = None

    def visit(name: str, chain: tuple[str, ...]) -> None:
        nonlocal cycle
        if marks.get(name) == 2:
            return
        if marks.get(name) == 1:
            cycle = cycle or (*chain, name)
            return
        marks[name] = 1
        for f in spec.entities[name].fields.values():
            if f.type != "ref" or f.ref not in spec.entities or (f.nullable and not follow_nullable):
                continue
            if f.ref == name:  # a row referencing its own kind: no order helps when every reference counts
                if follow_nullable:
                    cycle = cycle or (name, name)
                continue
            visit(str(f.ref), (*chain, name))
        marks[name] = 2
        order.append(name)

    for name in spec.entities:
        visit(name, ())
    return ParentsFirst(tuple(order), {name: i for i, name in enumerate(order)}, cycle)


@dataclass(frozen=True)
class ToolView:
    """What a tool binds, returns, reads and writes, and its schemas: answered from the spec alone."""

    entities: dict[str, str]
    """row variable -> entity, for every row the tool binds, looks up or creates"""
    returns: str
    """the entity whose rows a successful call returns"""
    output_schema: dict[str, Any]
    input_schema: dict[str, Any]
    writes: dict[str, frozenset[str]]
    """entity -> fields a write may change; '*' marks rows created or deleted"""
    reads: dict[str, frozenset[str]]
    """entity -> fields the tool's rules read (through bound rows or count/exists/total)"""
    validator: Draft202012Validator

    @classmethod
    def of(cls, spec: DomainSpec, tool: ToolSpec) -> ToolView:
        entities = _tool_entities(spec, tool)
        if tool.compute:  # a computed answer, not a row: no entity is returned
            returns, output = "", _computed_schema(spec, tool, entities)
        else:
            returns = tool.search.entity if tool.search else entities[str(tool.result_var)]
            output = _output_schema(spec, tool, returns)
        input_schema = tool.input_schema()
        return cls(
            entities=entities,
            returns=returns,
            output_schema=output,
            input_schema=input_schema,
            writes=_written_fields(tool, entities),
            reads=_read_fields(tool, entities),
            validator=Draft202012Validator(input_schema, format_checker=Draft202012Validator.FORMAT_CHECKER),
        )


def _tool_entities(spec: DomainSpec, tool: ToolSpec) -> dict[str, str]:
    out: dict[str, str] = {}
    for var, pname in tool.ref_params.items():
        out[var] = str(tool.params[pname].ref)
    if tool.lookup:
        out[tool.lookup.var] = tool.lookup.entity
    for var, expr in tool.bind_exprs.items():
        out[var] = _bound_entity(spec, tool, out, expr)
    for effect in tool.effects:
        if isinstance(effect, CreateEffect):
            out[effect.var] = effect.create
    for source, var, binds, inner in _per_item(tool):
        entity = _item_entity(tool, source)
        if entity is not None:
            out[var] = entity
        for bvar, expr in binds.items():
            out[bvar] = _bound_entity(spec, tool, out, expr, item=(var, source))
        out.update({e.var: e.create for e in inner if isinstance(e, CreateEffect)})
    return out


def _per_item(tool: ToolSpec) -> list[tuple[str | IncludeSpec, str, dict[str, Expr], list[Effect]]]:
    """(source, item name, per-item binds, per-item effects) of every ``for_each``, rules' first."""
    out: list[tuple[str | IncludeSpec, str, dict[str, Expr], list[Effect]]] = []
    for rule in tool.requires:
        if rule.for_each is not None and rule.as_:
            out.append((rule.for_each, rule.as_, rule.bind_exprs, []))
    for loop in tool.loops:
        out.append((loop.for_each, loop.as_, loop.bind_exprs, list(loop.do)))
    return out


def _item_entity(tool: ToolSpec, source: str | IncludeSpec) -> str | None:
    """The entity whose rows a ``for_each`` binds: joined rows, or a list of refs (None for values and objects)."""
    if isinstance(source, IncludeSpec):
        return source.entity
    param = tool.params.get(source)
    return param.ref_entity if param is not None and param.type == "list" else None


def _bound_entity(
    spec: DomainSpec, tool: ToolSpec, rows: dict[str, str], expr: Expr, item: tuple[str, str | IncludeSpec] | None = None
) -> str:
    """The entity a ``bind`` expression's id points to: a ref field of a bound row, or of a list's object item."""
    source, attr = expr.references()[0]
    if source in rows:
        return str(spec.entities[rows[source]].fields[str(attr)].ref)
    if item is not None and source == item[0] and isinstance(item[1], str):
        fields = tool.params[item[1]].fields or {}
        return str(fields[str(attr)].ref)
    raise KeyError(source)


def _output_schema(spec: DomainSpec, tool: ToolSpec, entity: str) -> dict[str, Any]:
    """JSON Schema of a successful result (MCP ``outputSchema``)."""
    if tool.search:
        item = spec.entities[entity].json_schema()
        pairs = tool.search.pairs
        if pairs is not None and pairs.entity in spec.entities:
            item = {"type": "object", "properties": {"first": item, "second": spec.entities[pairs.entity].json_schema()},
                    "required": ["first", "second"], "additionalProperties": False}  # fmt: skip
        return {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": item},
                "count": {"type": "integer", "description": "number of items returned"},
                "truncated": {"type": "boolean", "description": f"true when more than {tool.search.limit} rows matched"},
            },
            "required": ["items", "count", "truncated"],
            "additionalProperties": False,
        }
    schema = spec.entities[entity].json_schema()
    for name, join in tool.include.items():
        if join.entity in spec.entities:
            schema["properties"][name] = {"type": "array", "items": spec.entities[join.entity].json_schema(),
                                          "description": f"the {join.entity} rows of this {entity}, at most {join.limit}"}  # fmt: skip
            schema["required"] = [*schema["required"], name]
    return schema


_JSON_TYPE = {"number": "number", "string": "string", "bool": "boolean", "list": "array"}


def _computed_schema(spec: DomainSpec, tool: ToolSpec, entities: dict[str, str]) -> dict[str, Any]:
    """JSON Schema of a tool's computed values, each typed by what its expression yields."""
    kinds: dict[str, Kind] = {"today": "string", "now": "string"}
    kinds.update({p: param.kind for p, param in tool.params.items()})

    def resolve(name: str, attr: str | None) -> Kind:
        if attr is not None and name in entities:
            f = spec.entities[entities[name]].fields.get(attr)
            return KIND[f.type] if f is not None else "unknown"
        return kinds.get(name, "unknown")

    for local, expr in tool.let_exprs.items():
        kinds[local] = expr.kind(resolve)
    props: dict[str, Any] = {}
    for name, expr in tool.compute_exprs.items():
        json_type = _JSON_TYPE.get(expr.kind(resolve))
        props[name] = {"type": [json_type, "null"]} if json_type else {}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _written_fields(tool: ToolSpec, entities: dict[str, str]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    effects: list[Effect] = [*tool.effects, *(e for loop in tool.loops for e in loop.do)]
    for assignment in tool.all_assignments:
        out.setdefault(entities[assignment.var], set()).add(assignment.field)
    for effect in effects:
        if isinstance(effect, CreateEffect):
            out.setdefault(effect.create, set()).add("*")
        elif isinstance(effect, DeleteEffect):
            out.setdefault(entities[effect.delete], set()).add("*")
    return {entity: frozenset(fields) for entity, fields in out.items()}


def _read_fields(tool: ToolSpec, entities: dict[str, str]) -> dict[str, frozenset[str]]:
    """What the rules read, directly or through a local value (``let``), and what a conditional effect tests."""
    out: dict[str, set[str]] = {}
    effects: list[Effect] = [*tool.effects, *(e for loop in tool.loops for e in loop.do)]
    conditions = [e.when_expr for e in effects if isinstance(e, CreateEffect | DeleteEffect | ForEachEffect) and e.when_expr]
    joins = [*tool.include.values(), *(s for s, _, _, _ in _per_item(tool) if isinstance(s, IncludeSpec))]
    if tool.search and tool.search.pairs:
        out.setdefault(tool.search.pairs.entity, set()).add("*")
    for join in joins:
        out.setdefault(join.entity, set()).update({"*", *join.by})
    for expr in [*tool.let_exprs.values(), *(r.expr for r in tool.requires), *conditions, *tool.compute_exprs.values()]:
        for name, attr in expr.references():
            if attr is not None and name in entities:
                out.setdefault(entities[name], set()).add(attr)
        for entity, positional, keywords in expr.query_calls():
            out.setdefault(entity, set()).update({"*", *positional, *keywords})
    return {entity: frozenset(fields) for entity, fields in out.items()}
