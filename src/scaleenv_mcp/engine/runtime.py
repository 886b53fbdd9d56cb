"""The one seam every caller uses: ``execute(state, tool, arguments) -> ToolResult``.

The MCP server, the task verifier, the procedural tests and the benchmarks all run tools
through this function, so they all see the same validation, the same rules and the same
errors. A call either succeeds completely or changes nothing: effects run inside a
SQLite savepoint that is rolled back on the first failure.
"""

from __future__ import annotations

import math
import random
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaError

from ..errors import ScaleenvError
from ..spec.expr import Assignment, Expr, ExprError
from ..spec.memo import per_spec
from ..spec.model import (
    CreateEffect,
    DeleteEffect,
    DomainSpec,
    FieldSpec,
    ForEachEffect,
    IncludeSpec,
    PairSpec,
    ParamSpec,
    RuleSpec,
    SearchSpec,
    ToolSpec,
    ToolView,
)
from ..spec.types import ValueProblem, conforms, normalize
from .bounds import argument_problem, printable
from .samples import code_from_pattern
from .state import State

__all__ = ["ToolError", "ToolResult", "execute"]


@dataclass(frozen=True, slots=True)
class ToolError:
    """Why a call failed. ``code`` is stable for programs; ``message`` is for people and models."""

    code: str  # unknown_tool | invalid_arguments | not_found | precondition_failed | constraint_violation
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    data: dict[str, Any] | None = None
    error: ToolError | None = None
    breaches: tuple[str, ...] = ()
    """agent-kept rules the call broke (the tool accepted it): for the policy monitor, never for the agent"""
    shown: tuple[str, ...] | None = None
    """ids of the rows ``data`` shows (a row, its joined rows, a search's items), known from how it was
    built; None when only walking it can tell (a computed answer): for the policy monitor"""

    def to_dict(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, "data": self.data}
        assert self.error is not None
        return {"ok": False, "error": self.error.to_dict()}


class _Failure(ScaleenvError):
    """A tool call refused inside :func:`execute`; it becomes the call's :class:`ToolError`, never escapes."""

    default_status = 400

    def __init__(self, error: ToolError) -> None:
        super().__init__(error.message)
        self.error = error


def _fail(code: str, message: str, **details: Any) -> _Failure:
    return _Failure(ToolError(code, message, details))


# ---------------------------------------------------------------- execution


class _CallEnv:
    __slots__ = ("breaches", "state", "touched", "values")

    def __init__(self, values: dict[str, Any], state: State) -> None:
        self.values = values
        self.state = state
        self.breaches: list[str] = []
        """agent-kept rules that did not hold: the call goes on, the monitor is told"""

        self.touched: dict[tuple[str, str], None] = {}
        """rows the call created or changed, in order: their field groups are checked at the end"""

    def lookup(self, name: str) -> Any:
        return self.values[name]

    def query(self, entity: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.state.find(entity, where)


def execute(state: State, tool: str, arguments: Any) -> ToolResult:
    """Run one tool call against ``state``. Never raises for bad input; a failure changes nothing."""
    spec = state.spec
    tool_spec = spec.tools.get(tool) if isinstance(tool, str) else None
    if tool_spec is None:
        shown = _short(repr(tool), 120) if isinstance(tool, str) else type(tool).__name__  # repr escapes a lone surrogate
        return ToolResult(
            False,
            error=ToolError("unknown_tool", f"unknown tool {shown}; available tools: {', '.join(spec.tools)}", {"tool": printable(str(tool))}),
        )
    breaches: list[str] = []
    try:
        with state.reading_once():  # a call reads its rows again and again; SQLite is asked once per row
            data = _run(state, tool, tool_spec, arguments, breaches)
        return ToolResult(True, data=data, breaches=tuple(breaches), shown=_shown(tool_spec, data))
    except _Failure as failure:
        return ToolResult(False, error=failure.error)


def _run(state: State, name: str, tool: ToolSpec, arguments: Any, breaches: list[str]) -> dict[str, Any]:
    compiled = state.spec.view(name)
    args = _validated_arguments(tool, compiled, arguments)
    env = _CallEnv({**args, "today": state.spec.today, "now": state.spec.clock}, state)
    env.breaches = breaches
    _bind_rows(state, tool, compiled, args, env)
    if tool.search:
        return _search(state, tool, args)
    for local, expr in tool.let_exprs.items():  # local values, in order, each seeing the ones before
        try:
            env.values[local] = expr.evaluate(env)
        except ExprError as exc:
            raise _fail("precondition_failed", f"cannot work out {local}: {exc}", rule=f"let {local}") from None
    for rule in tool.requires:
        if rule.for_each is None or rule.as_ is None:
            _check_rule(rule, env)
            continue
        for position, _ in enumerate(_each(state, tool, compiled, rule.for_each, rule.as_, rule.bind_exprs, env, "rule")):
            _check_rule(rule, env, position)
        env.values.pop(rule.as_, None)
    if tool.effects:
        _apply_effects(state, tool, compiled, env)
    if tool.compute:  # a computed answer (a quote, a calculation) instead of a row
        out: dict[str, Any] = {}
        for key, expr in tool.compute_exprs.items():
            try:
                out[key] = expr.evaluate(env)
            except ExprError as exc:
                raise _fail("precondition_failed", f"cannot work out {key}: {exc}", rule=f"compute {key}") from None
            if isinstance(out[key], float):
                out[key] = round(out[key], 6)
        return out
    var = str(tool.result_var)
    row = env.values.get(var)
    if row is None:
        raise _fail("not_found", f"nothing to return: {var} is not set")
    if tool.effects and not isinstance(tool.effects[-1], DeleteEffect):
        row = state.get(compiled.entities[var], row["id"]) or row  # effects may have changed it
    out = dict(row)
    for joined, join in tool.include.items():  # joined rows: a booking with its segments
        try:
            where = {f: expr.evaluate(env) for f, expr in join.by_exprs.items()}
        except ExprError as exc:
            raise _fail("not_found", f"cannot join {joined}: {exc}") from None
        out[joined] = state.find(join.entity, where, order_by=join.order_by, limit=join.limit)  # read no more than shown
    return out


def _shown(tool: ToolSpec, data: dict[str, Any]) -> tuple[str, ...] | None:
    """The ids of the rows a result shows, from its known shape (the order a walk would find them in)."""
    if tool.compute:
        return None
    if tool.search is not None:
        if tool.search.pairs is not None:
            return tuple(str(item[side]["id"]) for item in data["items"] for side in ("first", "second"))
        return tuple(str(row["id"]) for row in data["items"])
    return (str(data["id"]), *(str(row["id"]) for joined in tool.include for row in data[joined]))


def _check_rule(rule: RuleSpec, env: _CallEnv, position: int | None = None) -> None:
    """One precondition; ``position`` names the item a per-item rule failed on.

    A rule the agent keeps never stops the call: a real system's tools are permissive and staff
    apply the policy, so the breach is only recorded (once per rule) for the policy monitor. A rule
    that cannot be evaluated is not shown to hold, so it counts as broken."""
    item = {} if position is None else {"item": position}
    if rule.kept_by == "agent":
        try:
            holds = bool(rule.expr.evaluate(env))
        except ExprError:
            holds = False
        if not holds and rule.error not in env.breaches:
            env.breaches.append(rule.error)
        return
    try:
        holds = rule.expr.evaluate(env)
    except ExprError as exc:
        raise _fail("precondition_failed", f"{rule.error} ({exc})", rule=rule.check, **item) from None
    if not holds:
        raise _fail("precondition_failed", rule.error, rule=rule.check, values=_rule_values(rule.expr, env), **item)


def _each(
    state: State,
    tool: ToolSpec,
    compiled: ToolView,
    source: str | IncludeSpec,
    var: str,
    binds: Mapping[str, Expr],
    env: _CallEnv,
    what: str,
) -> Iterator[None]:
    """Bind ``var`` (and the per-item binds) to each item of a list parameter or each joined row in turn.

    Which rows are joined is read once, before the first item, with their limit: what the effects
    create while iterating is not iterated over. Each row is read again when its turn comes, so it
    holds what the items before it changed (the same flight listed twice, a seat count)."""
    entity: str | None
    if isinstance(source, IncludeSpec):
        try:
            where = {f: expr.evaluate(env) for f, expr in source.by_exprs.items()}
        except ExprError as exc:
            raise _fail("not_found", f"cannot read the rows of {what} {var}: {exc}") from None
        entity = source.entity
        items: list[Any] = [row["id"] for row in state.find(entity, where, order_by=source.order_by, limit=source.limit, keep=True)]
    else:
        items = list(env.values.get(source) or [])
        entity = tool.params[source].ref_entity  # a list of ids: each item is its row (every id was checked when bound)
    for item in items:
        if entity is not None:
            item = state.get(entity, item)
            if item is None:
                continue  # removed by an item before it
        env.values[var] = item
        for bvar, expr in binds.items():
            try:
                row_id = expr.evaluate(env)
            except ExprError as exc:
                raise _fail("not_found", str(exc)) from None
            env.values[bvar] = state.get(compiled.entities[bvar], row_id) if row_id is not None else None
        yield


def _validated_arguments(tool: ToolSpec, view: ToolView, arguments: Any) -> dict[str, Any]:
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise _fail("invalid_arguments", f"arguments must be an object, got {type(arguments).__name__}")
    params = tool.params
    problem = argument_problem(arguments, params)  # sizes, nesting and encodability first: no work beyond the limits
    if problem is not None:
        raise _fail("invalid_arguments", problem, expected={n: p.json_schema() for n, p in params.items()})
    # null for an optional argument means "not given" (several MCP clients send it for every field)
    arguments = {k: v for k, v in arguments.items() if not (v is None and k in params and not params[k].required)}
    fast = all(key in params for key in arguments) and all(
        conforms(p, arguments[name]) if name in arguments else not p.required for name, p in params.items()
    )
    errors = [] if fast else sorted(view.validator.iter_errors(dict(arguments)), key=lambda e: list(e.absolute_path))
    if errors:
        messages = [_short(_schema_message(tool, e)) for e in errors[:8]]
        raise _fail(
            "invalid_arguments",
            "; ".join(messages),
            expected={n: p.json_schema() for n, p in params.items()},
        )
    args: dict[str, Any] = {}
    for pname, param in params.items():
        value = arguments.get(pname)
        if value is not None and (not fast or param.type in _NORMALIZED_ANEW):
            try:
                value = _normalized(pname, param, value)
            except ValueProblem as exc:
                raise _fail("invalid_arguments", _short(str(exc))) from None
        args[pname] = value
    return args


_NORMALIZED_ANEW = frozenset({"money", "datetime", "list"})
"""types whose stored form a value the fast check passed may still differ from (money to cents), or
that :func:`normalize` checks further (a real date-time; each item): every other passed value is
already what normalize would return"""


def _normalized(where: str, param: ParamSpec, value: Any) -> Any:
    """An argument in its stored form; a list's items each in theirs (an object's missing optional fields are None)."""
    if param.type != "list":
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueProblem(f"{where}: {value!r} is not a finite number")
        return normalize(where, param, value)
    if param.items is not None:
        return [_normalized(f"{where}[{i}]", param.items, item) for i, item in enumerate(value)]
    fields = param.fields or {}
    return [
        {fname: None if item.get(fname) is None else _normalized(f"{where}[{i}].{fname}", f, item[fname]) for fname, f in fields.items()}
        for i, item in enumerate(value)
    ]


def _short(text: str, limit: int = 300) -> str:
    """An error message echoes the caller's value at most once and at most ``limit`` characters long."""
    return text if len(text) <= limit else text[: limit - 20] + f"... ({len(text):,} chars)"


def _schema_message(tool: ToolSpec, error: SchemaError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")  # travellers[0].name
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = missing[0] if missing else error.message
        return f"{path}: missing required field {name!r}" if path else f"missing required argument {name!r}"
    if error.validator == "additionalProperties" and not path:
        extra = sorted(set(error.instance) - set(tool.params)) if isinstance(error.instance, dict) else []
        return f"unexpected argument(s) {', '.join(map(repr, extra))}; allowed: {', '.join(tool.params) or 'none'}"
    if error.validator == "enum":
        return f"{path}: {error.instance!r} is not one of {error.validator_value}"
    return f"{path}: {error.message}" if path else error.message


def _bind_rows(state: State, tool: ToolSpec, compiled: ToolView, args: dict[str, Any], env: _CallEnv) -> None:
    for pname, param in tool.list_params.items():  # every id a list names must exist before any rule reads it
        for position, (entity, row_id) in enumerate(param.named_ids(args[pname])):
            if state.get(entity, row_id) is None:
                shown = _short(repr(row_id), 120)
                raise _fail("not_found", f"{pname}: no {entity} with id {shown}", entity=entity, id=shown, item=position)
    for var, pname in tool.ref_params.items():
        value = args[pname]
        entity = compiled.entities[var]
        if value is None:
            env.values[var] = None
            continue
        row = state.get(entity, value)
        if row is None:
            shown = _short(repr(value), 120)
            raise _fail("not_found", f"no {entity} with id {shown}", entity=entity, id=shown)
        env.values[var] = row
    if tool.lookup:
        where = {f: args[p] for f, p in tool.lookup.by.items()}
        rows = state.find(tool.lookup.entity, where, nocase=True)
        if not rows:
            said = ", ".join(f"{f} {_short(repr(v), 120)}" for f, v in where.items())
            raise _fail("not_found", f"no {tool.lookup.entity} with {said}", entity=tool.lookup.entity)
        env.values[tool.lookup.var] = rows[0]
    for var, expr in tool.bind_exprs.items():
        try:
            row_id = expr.evaluate(env)
        except ExprError as exc:
            raise _fail("not_found", str(exc)) from None
        entity = compiled.entities[var]
        env.values[var] = state.get(entity, row_id) if row_id is not None else None


def _rule_values(expr: Expr, env: _CallEnv) -> dict[str, Any]:
    """The current values a failed rule read: lets a model see why it failed."""
    out: dict[str, Any] = {}
    for name, attr in expr.references():
        value = env.values.get(name)
        if attr is None:
            if name not in ("today", "now") or name in expr.text:
                out[name] = value if not isinstance(value, dict) else value.get("id")
        elif isinstance(value, dict):
            out[f"{name}.{attr}"] = value.get(attr)
    return out


def _search(state: State, tool: ToolSpec, args: dict[str, Any]) -> dict[str, Any]:
    search = tool.search
    assert search is not None
    filters = [(fname, op, args[pname]) for fname, op, pname in search.filters if args.get(pname) is not None]
    filters += [(fname, op, text) for fname, op, text in search.fixed]  # 'status == available': always applied
    if search.pairs is not None:
        return _pairs(state, search, search.pairs, filters, args)
    rows = state.search(search.entity, filters, order_by=search.order_by, descending=search.descending, limit=search.limit + 1)
    truncated = len(rows) > search.limit
    rows = rows[: search.limit]
    return {"items": rows, "count": len(rows), "truncated": truncated}


PAIR_FIRSTS = 200
"""first rows a pairs search reads; for each, at most PAIR_SECONDS rows tied to it by the join's equality"""
PAIR_SECONDS = 50


def _pairs(state: State, search: SearchSpec, pairs: PairSpec, filters: list[tuple[str, str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    """Pairs {first, second}: each first row, with the rows of the second entity the join ties to it,
    found through the join's equality (an index), never by trying every pair."""
    assert pairs.key is not None  # validation requires one
    second_field, first_field = pairs.key
    seconds = [(fname, op, args[pname]) for fname, op, pname in pairs.filters if args.get(pname) is not None]
    seconds += [(fname, op, text) for fname, op, text in pairs.fixed]
    firsts = state.search(search.entity, filters, order_by=search.order_by, descending=search.descending, limit=PAIR_FIRSTS)
    env = _CallEnv({**args, "today": state.spec.today, "now": state.spec.clock}, state)
    items: list[dict[str, Any]] = []
    for first in firsts:
        if first.get(first_field) is None:
            continue
        tied = [(second_field, "==", first[first_field]), *seconds]
        for second in state.search(pairs.entity, tied, order_by=None, descending=False, limit=PAIR_SECONDS):
            env.values["first"], env.values["second"] = first, second
            try:
                holds = pairs.join_expr.evaluate(env)
            except ExprError:
                holds = False
            if holds and second["id"] != first["id"]:
                items.append({"first": first, "second": second})
                if len(items) > search.limit:
                    return {"items": items[: search.limit], "count": search.limit, "truncated": True}
    return {"items": items, "count": len(items), "truncated": False}


def _apply_effects(state: State, tool: ToolSpec, compiled: ToolView, env: _CallEnv) -> None:
    try:
        with state.atomic(statements=_write_statements(state, tool, compiled)):
            for index, effect in enumerate(tool.effects):
                if isinstance(effect, ForEachEffect):
                    for _ in _each(state, tool, compiled, effect.for_each, effect.as_, effect.bind_exprs, env, "for_each"):
                        if effect.when_expr is None or effect.when_expr.evaluate(env):
                            for inner, step in enumerate(effect.do):
                                _apply(state, compiled, env, step, effect.assignments.get(inner))
                else:
                    _apply(state, compiled, env, effect, tool.assignments.get(index))
            _check_field_groups(state, env)
    except ExprError as exc:
        raise _fail("constraint_violation", str(exc)) from None
    except sqlite3.IntegrityError as exc:
        raise _fail("constraint_violation", _integrity_message(str(exc))) from None


def _write_statements(state: State, tool: ToolSpec, compiled: ToolView) -> int:
    """1 when the effects write with one statement at most (one assignment to a row whose fields have
    no groups to check afterwards), else 2 (meaning: more than one)."""
    effects = tool.effects
    if len(effects) != 1 or not isinstance(effects[0], str):
        return 2
    assignment = tool.assignments.get(0)
    if assignment is None or per_spec(state.spec, "field_groups", _field_groups)[compiled.entities[assignment.var]]:
        return 2
    return 1


def _apply(state: State, compiled: ToolView, env: _CallEnv, effect: str | CreateEffect | DeleteEffect, assignment: Assignment | None) -> None:
    """One effect: an assignment, or a create or delete (skipped when its condition does not hold)."""
    if isinstance(effect, str):
        assert assignment is not None  # compiled with the spec
        _assign(state, compiled, env, assignment)
    elif effect.when_expr is not None and not effect.when_expr.evaluate(env):
        return  # a conditional effect whose condition does not hold
    elif isinstance(effect, CreateEffect):
        _create(state, effect, env)
    else:
        row = env.values.get(effect.delete)
        if row is None:
            raise _fail("not_found", f"cannot delete: {effect.delete} is not set")
        state.delete(compiled.entities[effect.delete], row["id"])
        env.touched.pop((compiled.entities[effect.delete], row["id"]), None)


def _check_field_groups(state: State, env: _CallEnv) -> None:
    """After the effects, every row the call created or changed has a value in exactly the fields
    that apply to it (a card's number when it is a card, none when it is a gift card)."""
    groups = per_spec(state.spec, "field_groups", _field_groups)
    for entity, row_id in env.touched:
        fields = groups[entity]
        row = state.get(entity, row_id) if fields else None
        if row is None:
            continue
        for fname, f in fields:
            assert f.applies_expr is not None
            applies = bool(f.applies_expr.evaluate(_RowValues(row)))
            if applies and row[fname] is None:
                raise _fail("constraint_violation", f"{entity}.{fname} needs a value when {f.applies_when}", field=f"{entity}.{fname}")
            if not applies and row[fname] is not None:
                raise _fail("constraint_violation", f"{entity}.{fname} applies only when {f.applies_when}", field=f"{entity}.{fname}")


def _field_groups(spec: DomainSpec) -> dict[str, list[tuple[str, FieldSpec]]]:
    """entity -> its fields that apply only when a condition holds"""
    return {e: [(n, f) for n, f in entity.fields.items() if f.applies_expr is not None] for e, entity in spec.entities.items()}


class _RowValues:
    """One row's own fields, for a field group's condition."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = row

    def lookup(self, name: str) -> Any:
        return self.row[name]

    def query(self, entity: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise ExprError("a field group's condition reads the row's own fields only")


def _assign(state: State, compiled: ToolView, env: _CallEnv, assignment: Assignment) -> None:
    row = env.values.get(assignment.var)
    if row is None:
        raise _fail("not_found", f"cannot change {assignment.var}.{assignment.field}: {assignment.var} is not set")
    entity = compiled.entities[assignment.var]
    field_spec = state.spec.entities[entity].fields[assignment.field]
    value = assignment.value.evaluate(env)
    if assignment.op != "=":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail("constraint_violation", f"{assignment.text}: {value!r} is not a number")
        if value == 0:
            return  # adding nothing changes nothing (a card's empty balance stays empty)
        current = row[assignment.field] or 0
        value = current + value if assignment.op == "+=" else current - value
    value = _checked(state, f"{entity}.{assignment.field}", field_spec, value)
    state.update(entity, row["id"], {assignment.field: value})
    env.values[assignment.var] = {**row, assignment.field: value}
    env.touched[(entity, row["id"])] = None


def _create(state: State, effect: CreateEffect, env: _CallEnv) -> None:
    entity = state.spec.entities[effect.create]
    row: dict[str, Any] = {"id": state.next_id(effect.create)}
    for fname, fspec in entity.fields.items():
        if fname in effect.values:
            value = effect.value_exprs[fname].evaluate(env)
        elif fspec.default == "today" and fspec.type in ("date", "datetime"):
            value = state.spec.today if fspec.type == "date" else state.spec.clock
        elif fspec.default == "now" and fspec.type in ("date", "datetime"):
            value = state.spec.clock if fspec.type == "datetime" else state.spec.today
        elif fspec.pattern:
            value = _fresh_code(state, effect.create, fname, fspec.pattern, str(row["id"]))
        else:
            value = fspec.default
        row[fname] = _checked(state, f"{effect.create}.{fname}", fspec, value)
    state.insert(effect.create, row)
    env.values[effect.var] = row
    env.touched[(effect.create, row["id"])] = None


def _fresh_code(state: State, entity: str, fname: str, pattern: str, row_id: str) -> str:
    """A code by the field's pattern no row holds yet, drawn from the new row's id: the same state
    and call give the same code."""
    rng = random.Random(f"{state.spec.name}:{entity}:{fname}:{row_id}")
    for _ in range(50):
        code = code_from_pattern(pattern, rng)
        if not state.find(entity, {fname: code}, limit=1):
            return code
    raise _fail("constraint_violation", f"no free {entity}.{fname} code of the form {pattern!r} after 50 draws")


def _checked(state: State, where: str, f: FieldSpec, value: Any) -> Any:
    """Coerce and check one value against its field; the message says what is allowed."""
    try:
        value = normalize(where, f, value, nullable=f.nullable)
    except ValueProblem as exc:
        raise _fail("constraint_violation", str(exc), field=where) from None
    if f.type == "ref" and value is not None and state.get(str(f.ref), value) is None:
        raise _fail("not_found", f"{where}: no {f.ref} with id {value!r}")
    return value


def _integrity_message(raw: str) -> str:
    if "FOREIGN KEY" in raw:
        return "the change would leave a reference to a row that does not exist (or delete a row still referenced)"
    if "UNIQUE" in raw:
        fields = raw.split(":", 1)[-1].strip()
        return f"the change would duplicate a value that must be unique ({fields})"
    return f"the change breaks a constraint of the state ({raw})"
