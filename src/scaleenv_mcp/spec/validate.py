"""Cross-reference checks of a spec: what pydantic cannot express.

A reference to an unknown entity, an effect on a field that does not exist or has the
wrong type, an expression that reads a name nothing binds: each is a :class:`Problem` with
the path to the offending node and what is allowed, so a blueprint author (or an LLM in a
repair loop) knows exactly what to fix.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Generator, Iterator
from functools import partial
from typing import Any

from .expr import (
    _ARTICLE,
    QUERY_FUNCTIONS,
    Assignment,
    Expr,
    ExprError,
    parse,
    parse_assignment,
    span,
    split_lookup,
    type_problems,
)
from .model import (
    MAX_ITEMS,
    CreateEffect,
    DomainSpec,
    EntitySpec,
    FieldSpec,
    ForEachEffect,
    IncludeSpec,
    ParamSpec,
    ToolSpec,
    literal_text,
)
from .problems import Problem, did_you_mean
from .types import KIND, NUMERIC, Kind, ValueProblem, is_ref_name, normalize, ref_var

__all__ = ["check_spec"]


def check_spec(spec: DomainSpec) -> list[Problem]:
    """Cross-reference checks pydantic cannot express; empty when the spec is sound."""
    return [*_entity_problems(spec), *_size_problems(spec), *_tool_problems(spec), *_actor_problems(spec)]


def seed_rows_at_most(spec: DomainSpec, name: str, depth: int = 0) -> int:
    """The most rows an entity can be seeded with: its count (or its fixed rows), or per parent
    row the most its ``per_parent`` allows."""
    entity = spec.entities[name]
    if entity.per_parent is not None and depth < 8:
        f = entity.fields.get(entity.per_parent.field)
        if f is not None and f.ref in spec.entities:
            return len(entity.rows) + entity.per_parent.max * seed_rows_at_most(spec, str(f.ref), depth + 1)
    return max(entity.count, len(entity.rows))


MAX_SEED_ROWS = 200_000
"""rows in a seeded initial state (every entity's ``count`` together)"""


def _size_problems(spec: DomainSpec) -> Iterator[Problem]:
    total = sum(seed_rows_at_most(spec, name) for name in spec.entities)
    if total > MAX_SEED_ROWS:
        yield Problem(path="entities", message=f"{total:,} seed rows in all (counts); at most {MAX_SEED_ROWS:,} are allowed")
    cycle = spec.seeding_order.cycle
    if cycle is not None:
        yield Problem(
            path=f"entities.{cycle[0]}",
            message=f"reference cycle {' -> '.join(cycle)}: no order can seed it; make one of these refs nullable",
        )


def _actor_problems(spec: DomainSpec) -> Iterator[Problem]:
    actor = spec.actor
    if actor is None:
        return
    if actor.entity not in spec.entities:
        yield Problem(path="actor.entity", message=f"unknown entity {actor.entity!r}{did_you_mean(actor.entity, spec.entities, 'entities')}")
        return
    for i, name in enumerate(actor.identify):
        tool = spec.tools.get(name)
        if tool is None:
            yield Problem(path=f"actor.identify[{i}]", message=f"unknown tool {name!r}{did_you_mean(name, spec.tools, 'tools')}")
        elif tool.lookup is None or tool.lookup.entity != actor.entity or tool.is_write:
            yield Problem(path=f"actor.identify[{i}]", message=f"{name!r} must be a read-only lookup of {actor.entity}")


def _entity_problems(spec: DomainSpec) -> Iterator[Problem]:
    for ename, entity in spec.entities.items():
        base = f"entities.{ename}"
        if entity.label and entity.label not in entity.fields:
            yield Problem(path=f"{base}.label", message=f"unknown field {entity.label!r}{did_you_mean(entity.label, entity.fields, 'fields')}")
        for group in entity.unique_together:
            for fname in group:
                if fname not in entity.fields:
                    yield Problem(path=f"{base}.unique_together", message=f"unknown field {fname!r}")
        if entity.per_parent is not None:
            pp, at = entity.per_parent, f"{base}.per_parent"
            f = entity.fields.get(pp.field)
            if f is None or f.type != "ref" or f.derive:
                yield Problem(path=f"{at}.field", message=f"{pp.field!r} is not a ref field of {ename} (refs: "
                              f"{', '.join(n for n, x in entity.fields.items() if x.type == 'ref') or 'none'})")  # fmt: skip
            if pp.min > pp.max:
                yield Problem(path=at, message=f"min {pp.min} is greater than max {pp.max}")
        for i, fixed in enumerate(entity.rows):
            for fname, value in fixed.items():
                f = entity.fields.get(fname)
                if f is None:
                    yield Problem(path=f"{base}.rows[{i}].{fname}", message=f"unknown field {fname!r}{did_you_mean(fname, entity.fields, 'fields')}")
                elif f.derive and not (f.derive_expr is not None and any(n == "sampled" for n, _ in f.derive_expr.references())):
                    yield Problem(path=f"{base}.rows[{i}].{fname}", message="a derived field is computed; leave it out (unless its derive reads 'sampled')")
                elif f.type != "ref":
                    try:
                        normalize(f"{ename}.{fname}", f, value, nullable=f.nullable)
                    except ValueProblem as exc:
                        yield Problem(path=f"{base}.rows[{i}].{fname}", message=str(exc))
        if entity.near_duplicates is not None:
            for i, fname in enumerate(entity.near_duplicates.vary):
                f = entity.fields.get(fname)
                if f is None:
                    yield Problem(path=f"{base}.near_duplicates.vary[{i}]", message=f"unknown field {fname!r}{did_you_mean(fname, entity.fields, 'fields')}")
                elif f.derive:
                    yield Problem(path=f"{base}.near_duplicates.vary[{i}]", message=f"{fname!r} is derived; vary the fields it is derived from")
        for i, text in enumerate(entity.seed_effects):
            path = f"{base}.seed_effects[{i}]"
            scope = _row_scope(spec, ename)
            resolved = _assignment_target(path, text, scope, spec, "this entity references")
            if not isinstance(resolved, tuple):
                yield from [resolved] if resolved else []
                continue
            assignment, target_name, target_entity = resolved
            if assignment.field not in target_entity.fields:
                hint = did_you_mean(assignment.field, target_entity.fields, "fields")
                yield Problem(path=path, message=f"unknown field {assignment.field!r} on entity {target_name!r}{hint}")
                continue
            target_field = target_entity.fields[assignment.field]
            problems = list(_reference_problems(path, assignment.value, scope, spec, field=target_field, shown=assignment.text))
            yield from problems
            if not problems:
                written = f"{target_name}.{assignment.field}"
                yield from _value_type_problems(path, assignment.value, target_field, written, scope, spec, assignment.text)
        for fname, f in entity.fields.items():
            path = f"{base}.fields.{fname}"
            yield from _typed_value_problems(path, f.type, f.ref, f.values, spec)
            if f.default is not None and f.type == "enum" and f.values and f.default not in f.values:
                yield Problem(path=f"{path}.default", message=f"{f.default!r} is not one of {f.values}")
            if f.min is not None and f.max is not None and f.min > f.max:
                yield Problem(path=path, message=f"min {f.min} is greater than max {f.max}")
            for j, choice in enumerate(f.choices or []):
                if f.type == "ref":
                    break
                try:
                    normalize(f"{ename}.{fname}", f, choice, nullable=f.nullable)
                except ValueProblem as exc:
                    yield Problem(path=f"{path}.choices[{j}]", message=str(exc))
            yield from _field_wording_problems(path, f)
            if f.pattern and f.type not in ("string", "text"):
                yield Problem(path=f"{path}.pattern", message=f"a code pattern is for text fields, not {f.type!r}")
            if f.applies_when:
                if not f.nullable:
                    yield Problem(path=f"{path}.applies_when", message="a field that applies only sometimes must be nullable")
                try:
                    applies = parse(f.applies_when)
                except ExprError as exc:
                    yield _parse_problem(f"{path}.applies_when", f.applies_when, exc)
                else:
                    own: dict[str, tuple[str, str | None]] = {n: ("value", x.type) for n, x in entity.fields.items() if n != fname}
                    yield from _reference_problems(f"{path}.applies_when", applies, own, spec, expect="bool", what="'applies_when'")
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
                        yield _parse_problem(f"{path}.ref_where", f.ref_where, exc)
                    else:
                        assert where is not None
                        target = spec.entities[f.ref]
                        scope = {n: ("value", t.type) for n, t in target.fields.items()}
                        scope.update({"id": ("value", "string"), "today": ("value", "date"), "now": ("value", "datetime")})
                        scope["row"] = ("row", ename)  # the row being seeded: its fields drawn before this one
                        yield from _reference_problems(f"{path}.ref_where", where, scope, spec, expect="bool", what="'ref_where'")
                        earlier = list(entity.fields)[: list(entity.fields).index(fname)]
                        for name, attr in where.references():
                            if name == "row" and attr is not None and attr in entity.fields and (
                                attr not in earlier or entity.fields[attr].derive
                            ):
                                yield Problem(path=f"{path}.ref_where", message=f"row.{attr} is not drawn before {fname}; "
                                              f"a correlated reference reads fields declared above it")  # fmt: skip
            if f.derive:
                try:
                    expr = f.derive_expr
                except ExprError as exc:
                    yield _parse_problem(f"{path}.derive", f.derive, exc)
                    continue
                assert expr is not None
                scope = _row_scope(spec, ename)
                yield from _reference_problems(f"{path}.derive", expr, scope, spec, expect=f.kind, what=f"the derive of {ename}.{fname} ({f.type})")


def _typed_value_problems(
    path: str, type_: str, ref: str | None, values: list[str] | None, spec: DomainSpec
) -> Iterator[Problem]:
    if type_ == "ref":
        if not ref:
            yield Problem(path=path, message="a 'ref' needs 'ref: <entity>'")
        elif ref not in spec.entities:
            yield Problem(path=f"{path}.ref", message=f"unknown entity {ref!r}{did_you_mean(ref, spec.entities, 'entities')}")
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
        if f.type == "ref" and f.ref in spec.entities and is_ref_name(fname):
            scope[ref_var(fname)] = ("row", f.ref)
    return scope


_KIND_TYPE: dict[str, str] = {"number": "float", "string": "string", "bool": "bool", "list": "list"}
"""a local value's kind as the field type that stands for it in a scope"""

_SLOT = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _field_wording_problems(path: str, f: FieldSpec) -> Iterator[Problem]:
    if f.mention is not None and "{value}" not in f.mention:
        yield Problem(path=f"{path}.mention", message="a mention places the value as {value}, e.g. 'ending in {value}'")
    if f.question is not None and ({*_SLOT.findall(f.question)} - {"it"} or "{" in _SLOT.sub("", f.question)):
        yield Problem(path=f"{path}.question", message="the only slot of a question is {it}")
    if f.value_phrases is not None:
        if f.type != "enum":
            yield Problem(path=f"{path}.value_phrases", message=f"'value_phrases' is for enum fields, not {f.type!r}")
        for value, text in f.value_phrases.items():
            if value not in (f.values or []):
                yield Problem(path=f"{path}.value_phrases.{value}", message=f"unknown value {value!r} (values: {', '.join(f.values or [])})")
            elif not text.strip() or len(text) > 60:
                yield Problem(path=f"{path}.value_phrases.{value}", message="a phrase of 1 to 60 characters")


def _tool_problems(spec: DomainSpec) -> Iterator[Problem]:
    for tname, tool in spec.tools.items():
        base = f"tools.{tname}"
        # scope: name -> ("row", entity) | ("value", type)
        scope: dict[str, tuple[str, str | None]] = {"today": ("value", "date"), "now": ("value", "datetime")}
        for pname, p in tool.params.items():
            ppath = f"{base}.params.{pname}"
            if p.type == "list":
                yield from _list_param_problems(ppath, p, spec)
                scope[pname] = ("value", "list")
                continue
            yield from _param_shape_problems(ppath, p)
            yield from _typed_value_problems(ppath, p.type, p.ref, p.values, spec)
            scope[pname] = ("value", p.type)
            if p.type == "ref":
                if not is_ref_name(pname):
                    yield Problem(path=ppath, message="a 'ref' parameter must be named <something>_id")
                elif p.ref in spec.entities:
                    scope[ref_var(pname)] = ("row", p.ref)
        for i, text in enumerate(tool.phrasings):
            for slot in _SLOT.findall(text):
                if slot not in tool.params:
                    yield Problem(
                        path=f"{base}.phrasings[{i}]",
                        message=f"unknown slot {{{slot}}}{_slot_hint(slot, tool.params)}",
                    )
            if _SLOT.sub("", text).count("{") or _SLOT.sub("", text).count("}"):
                yield Problem(path=f"{base}.phrasings[{i}]", message="a stray brace; slots look like {order_id}")
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
        for name, text in tool.let.items():
            path = f"{base}.let.{name}"
            if name in scope:
                yield Problem(path=path, message=f"{name!r} is already a parameter or a row of this tool; choose another name")
                continue
            if tool.search:
                yield Problem(path=path, message="a 'search' tool has no rules or effects to use a local value")
                continue
            problems = list(_expression_problems(path, text, scope, spec))
            yield from problems
            scope[name] = ("value", None if problems else _KIND_TYPE.get(parse(text).kind(partial(_resolve_kind, scope=scope, spec=spec))))
        for i, rule in enumerate(tool.requires):
            path = f"{base}.requires[{i}].check"
            inner = scope
            if rule.for_each is not None or rule.as_ is not None or rule.bind:
                loop_scope = yield from _loop_scope(f"{base}.requires[{i}]", tname, tool, rule.for_each, rule.as_, rule.bind, scope, spec)
                if loop_scope is None:
                    continue
                inner = loop_scope
            try:
                expr = rule.expr
            except ExprError as exc:
                yield _parse_problem(path, rule.check, exc)
                continue
            yield from _reference_problems(path, expr, inner, spec, expect="bool", what="a rule's check")
            if rule.kept_by == "agent":
                yield from _agent_rule_problems(f"{base}.requires[{i}]", tool, rule.error, spec.policy)
        yield from _effect_problems(base, tool, spec, scope)
        for name, text in tool.compute.items():
            path = f"{base}.compute.{name}"
            if tool.search or tool.returns:
                yield Problem(path=f"{base}.compute", message="a tool returns either computed values or rows ('search', 'returns'), not both")
                break
            yield from _expression_problems(path, text, scope, spec)
        yield from _include_problems(base, tool, spec, scope)
        result = tool.result_var
        if tool.returns and not tool.compute and (tool.returns not in scope or scope[tool.returns][0] != "row"):
            rows = [n for n, (k, _) in scope.items() if k == "row"]
            yield Problem(path=f"{base}.returns", message=f"{tool.returns!r} is not a row variable (rows: {rows})")
        elif not tool.search and not tool.compute and result is None:  # a compute tool returns its computed values
            yield Problem(path=base, message="a tool must return something: add 'lookup', 'search', a ref parameter or 'returns'")


def _policy_words(text: str) -> str:
    """Text compared as the agent reads it: case, spacing and closing punctuation do not matter."""
    return " ".join(text.lower().split()).rstrip(" .;:")


def _agent_rule_problems(path: str, tool: ToolSpec, statement: str, policy: str) -> Iterator[Problem]:
    """An agent-kept rule binds the agent only if the policy it reads states it, word for word."""
    if not tool.is_write:
        yield Problem(path=f"{path}.kept_by", message="only a write tool can have a rule the agent keeps (a read breaks no policy)")
    elif _policy_words(statement) not in _policy_words(policy):
        yield Problem(
            path=f"{path}.error",
            message=f"an agent-kept rule must be stated in the policy the agent reads; add this line to 'policy': {statement!r}",
        )


def _param_shape_problems(path: str, p: ParamSpec) -> Iterator[Problem]:
    """List keys on a parameter that is not a list."""
    for key in ("items", "fields", "max_items"):
        if getattr(p, key) is not None:
            yield Problem(path=f"{path}.{key}", message=f"'{key}' is for type 'list', not {p.type!r}")


def _list_param_problems(path: str, p: ParamSpec, spec: DomainSpec) -> Iterator[Problem]:
    """A list declares its items (one value, or an object of values) and at most how many it takes."""
    if p.max_items is None:
        yield Problem(path=path, message=f"a list needs 'max_items' (at most {MAX_ITEMS}): every call is bounded")
    elif p.min_items > p.max_items:
        yield Problem(path=f"{path}.min_items", message=f"min_items {p.min_items} is above max_items {p.max_items}")
    if (p.items is None) == (p.fields is None):
        yield Problem(path=path, message="a list needs exactly one of 'items' (one value each) or 'fields' (an object each)")
        return
    parts = {"items": p.items} if p.items is not None else {f"fields.{n}": f for n, f in (p.fields or {}).items()}
    if p.fields is not None and not p.fields:
        yield Problem(path=f"{path}.fields", message="an object item needs at least one field")
    for key, item in parts.items():
        assert item is not None
        ipath = f"{path}.{key}"
        if item.type == "list":
            yield Problem(path=ipath, message="an item cannot be a list; one level of lists")
            continue
        if key.startswith("fields.") and not re.match(r"^[a-z][a-z0-9_]*$", key[7:]):
            yield Problem(path=ipath, message="a field name must be snake_case")
        yield from _param_shape_problems(ipath, item)
        yield from _typed_value_problems(ipath, item.type, item.ref, item.values, spec)


def _loop_scope(
    path: str,
    tname: str,
    tool: ToolSpec,
    source: str | IncludeSpec | None,
    var: str | None,
    bind: dict[str, str],
    scope: dict[str, tuple[str, str | None]],
    spec: DomainSpec,
) -> Generator[Problem, None, dict[str, tuple[str, str | None]] | None]:
    """The names a per-item rule or effect sees: the tool's, the item (``as``) and its per-item binds."""
    if source is None or not var:
        yield Problem(path=path, message="per-item checks need both 'for_each' (a list parameter or rows) and 'as' (a name)")
        return None
    if var in scope:
        yield Problem(path=f"{path}.as", message=f"{var!r} is already a name of this tool; choose another")
        return None
    if not re.match(r"^[a-z][a-z0-9_]*$", var):
        yield Problem(path=f"{path}.as", message=f"{var!r} must be snake_case")
        return None
    inner = dict(scope)
    if isinstance(source, IncludeSpec):
        problems = list(_join_problems(f"{path}.for_each", source, scope, spec))
        yield from problems
        if problems:
            return None
        inner[var] = ("row", source.entity)
    else:
        param = tool.params.get(source)
        if param is None or param.type != "list":
            lists = [n for n, p in tool.params.items() if p.type == "list"]
            known = ", ".join([*lists, *spec.row_sets]) or "none"
            hint = did_you_mean(source, [*lists, *spec.row_sets], "lists and row sets") or f" (lists and row sets: {known})"
            yield Problem(path=f"{path}.for_each", message=f"{source!r} is not a list parameter or a row set (or give rows as {{entity, by}}){hint}")
            return None
        if param.items is not None:
            item = param.items
            inner[var] = ("row", item.ref) if item.type == "ref" and item.ref in spec.entities else ("value", item.type)
        else:
            inner[var] = ("item", f"{tname}.{source}")
    for bvar, text in bind.items():
        bpath = f"{path}.bind.{bvar}"
        if bvar in inner:
            yield Problem(path=bpath, message=f"{bvar!r} is already a name of this tool; choose another")
            return None
        try:
            expr = parse(text)
        except ExprError as exc:
            yield Problem(path=bpath, message=str(exc))
            return None
        refs = expr.references()
        target = _ref_target(refs, inner, spec) if len(refs) == 1 else None
        if target is None:
            yield Problem(path=bpath, message=f"{text!r} must be a ref field like {var}.flight_id")
            return None
        inner[bvar] = ("row", target)
    return inner


def _lookup_problems(path: str, tool: ToolSpec, spec: DomainSpec, scope: dict[str, tuple[str, str | None]]) -> Iterator[Problem]:
    lookup = tool.lookup
    assert lookup is not None
    entity = spec.entities.get(lookup.entity)
    if entity is None:
        yield Problem(path=f"{path}.entity", message=f"unknown entity {lookup.entity!r}{did_you_mean(lookup.entity, spec.entities, 'entities')}")
        return
    for fname, pname in lookup.by.items():
        if fname not in entity.fields and fname != "id":
            yield Problem(
                path=f"{path}.by.{fname}", message=f"unknown field {fname!r} of {lookup.entity}{did_you_mean(fname, entity.fields, 'fields')}"
            )
        if pname not in tool.params:
            yield Problem(path=f"{path}.by.{fname}", message=f"unknown parameter {pname!r}{did_you_mean(pname, tool.params, 'parameters')}")
        elif tool.params[pname].type == "list":
            yield Problem(path=f"{path}.by.{fname}", message=f"{pname!r} is a list; a lookup finds a row by single values")
    scope[lookup.var] = ("row", lookup.entity)


def _search_problems(path: str, tool: ToolSpec, spec: DomainSpec) -> Iterator[Problem]:
    search = tool.search
    assert search is not None
    entity = spec.entities.get(search.entity)
    if entity is None:
        yield Problem(path=f"{path}.entity", message=f"unknown entity {search.entity!r}{did_you_mean(search.entity, spec.entities, 'entities')}")
        return
    yield from _filter_problems(path, tool, search.entity, entity, search.filters)
    if search.order_by and search.order_by not in entity.fields and search.order_by != "id":
        yield Problem(path=f"{path}.order_by", message=f"unknown field {search.order_by!r} of {search.entity}")
    if search.pairs is not None:
        yield from _pair_problems(f"{path}.pairs", tool, spec)


def _filter_problems(
    path: str, tool: ToolSpec, name: str, entity: EntitySpec, filters: list[tuple[str, str, str]]
) -> Iterator[Problem]:
    """Each ``field OP param`` of a search: a field of its entity, a single-valued parameter of the tool."""
    for i, (fname, op, pname) in enumerate(filters):
        if fname not in entity.fields and fname != "id":
            yield Problem(path=f"{path}.where[{i}]", message=f"unknown field {fname!r} of {name}{did_you_mean(fname, entity.fields, 'fields')}")
        if pname not in tool.params:
            yield Problem(path=f"{path}.where[{i}]", message=f"unknown parameter {pname!r}{did_you_mean(pname, tool.params, 'parameters')}")
        elif tool.params[pname].type == "list":
            yield Problem(path=f"{path}.where[{i}]", message=f"{pname!r} is a list; a search filters by single values")
        elif op == "contains" and tool.params[pname].kind != "string":
            yield Problem(path=f"{path}.where[{i}]", message="'contains' needs a text parameter")


def _pair_problems(path: str, tool: ToolSpec, spec: DomainSpec) -> Iterator[Problem]:
    """A pairs search: a known entity, filters on its fields by the tool's parameters, and a join
    over ``first`` and ``second`` that ties them by one equality (the pairs are found through it)."""
    assert tool.search is not None and tool.search.pairs is not None
    pairs = tool.search.pairs
    second = spec.entities.get(pairs.entity)
    if second is None:
        yield Problem(path=f"{path}.entity", message=f"unknown entity {pairs.entity!r}{did_you_mean(pairs.entity, spec.entities, 'entities')}")
        return
    yield from _filter_problems(path, tool, pairs.entity, second, pairs.filters)
    scope: dict[str, tuple[str, str | None]] = {"today": ("value", "date"), "now": ("value", "datetime"),
                                               "first": ("row", tool.search.entity), "second": ("row", pairs.entity)}  # fmt: skip
    scope.update({p: ("value", "list" if s.type == "list" else s.type) for p, s in tool.params.items()})
    problems = list(_expression_problems(f"{path}.join", pairs.join, scope, spec))
    yield from problems
    if pairs.phrase is not None:
        for slot in _SLOT.findall(pairs.phrase):
            if slot not in tool.params:
                yield Problem(path=f"{path}.phrase", message=f"unknown slot {{{slot}}}{_slot_hint(slot, tool.params)}")
    if not problems and pairs.key is None:
        yield Problem(path=f"{path}.join", message="the join needs one 'second.<field> == first.<field>' (joined by 'and') to find pairs by")


def _effect_problems(base: str, tool: ToolSpec, spec: DomainSpec, scope: dict[str, tuple[str, str | None]]) -> Iterator[Problem]:
    yield from _effects_problems(f"{base}.effects", base.removeprefix("tools."), tool, list(tool.effects), spec, scope)


def _effects_problems(
    at: str, tname: str, tool: ToolSpec, effects: list[Any], spec: DomainSpec, scope: dict[str, tuple[str, str | None]]
) -> Iterator[Problem]:
    for i, effect in enumerate(effects):
        path = f"{at}[{i}]"
        if isinstance(effect, ForEachEffect):
            if at != f"tools.{tname}.effects":
                yield Problem(path=path, message="a for_each cannot hold another for_each; one level of per-row effects")
                continue
            inner = yield from _loop_scope(path, tname, tool, effect.for_each, effect.as_, effect.bind, scope, spec)
            if inner is None:
                continue
            yield from _when_problems(path, effect.when, inner, spec)
            yield from _effects_problems(f"{path}.do", tname, tool, list(effect.do), spec, inner)
        elif isinstance(effect, str):
            resolved = _assignment_target(path, effect, scope, spec, "this tool has bound")
            if not isinstance(resolved, tuple):
                yield from [resolved] if resolved else []
                continue
            assignment, target_name, entity = resolved
            field = entity.fields.get(assignment.field)
            if field is None:
                yield Problem(
                    path=path,
                    message=f"unknown field {assignment.field!r} on entity {target_name!r}{did_you_mean(assignment.field, entity.fields, 'fields')}",
                )
                continue
            problems = list(_reference_problems(path, assignment.value, scope, spec, field=field, shown=assignment.text))
            yield from problems
            if assignment.op != "=" and field.type not in NUMERIC:
                yield Problem(
                    path=path, message=f"{assignment.op} needs a number field; {target_name}.{assignment.field} is {field.type}"
                )
            elif not problems:
                yield from _value_type_problems(path, assignment.value, field, f"{target_name}.{assignment.field}", scope, spec, assignment.text)
        elif isinstance(effect, CreateEffect):
            yield from _when_problems(path, effect.when, scope, spec)
            created = spec.entities.get(effect.create)
            if created is None:
                yield Problem(
                    path=f"{path}.create", message=f"unknown entity {effect.create!r}{did_you_mean(effect.create, spec.entities, 'entities')}"
                )
                continue
            for fname, raw in effect.values.items():
                vpath = f"{path}.values.{fname}"
                field = created.fields.get(fname)
                if field is None:
                    yield Problem(
                        path=vpath,
                        message=f"unknown field {fname!r} on entity {effect.create!r}{did_you_mean(fname, created.fields, 'fields')}",
                    )
                    continue
                try:
                    expr = parse(literal_text(raw))
                except ExprError as exc:
                    yield _parse_problem(vpath, literal_text(raw), exc)
                    continue
                problems = list(_reference_problems(vpath, expr, scope, spec, field=field))
                yield from problems
                if not problems:
                    yield from _value_type_problems(vpath, expr, field, f"{effect.create}.{fname}", scope, spec)
            for fname, field in created.fields.items():
                if fname not in effect.values and field.default is None and not field.nullable and not field.pattern:
                    yield Problem(path=f"{path}.values", message=f"field {fname!r} has no value and no default")
            scope[effect.var] = ("row", effect.create)
        else:
            yield from _when_problems(path, effect.when, scope, spec)
            target = scope.get(effect.delete)
            if target is None or target[0] != "row":
                yield Problem(path=f"{path}.delete", message=f"{effect.delete!r} is not a row this tool has bound")


def _include_problems(base: str, tool: ToolSpec, spec: DomainSpec, scope: dict[str, tuple[str, str | None]]) -> Iterator[Problem]:
    """Joined rows: a known entity, fields of it, expressions over what the tool can see, a name the row does not have."""
    if tool.include and (tool.search or tool.compute):
        yield Problem(path=f"{base}.include", message="rows are joined into a returned row; a 'search' or 'compute' tool has none")
        return
    returned = scope.get(str(tool.result_var))
    own = spec.entities[str(returned[1])].fields if returned and returned[0] == "row" and returned[1] in spec.entities else {}
    for name, join in tool.include.items():
        path = f"{base}.include.{name}"
        if name in own or name == "id":
            yield Problem(path=path, message=f"{name!r} is a field of the returned row; name the joined rows otherwise")
        yield from _join_problems(path, join, scope, spec)


def _join_problems(path: str, join: IncludeSpec, scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> Iterator[Problem]:
    """Rows of an entity matching ``by`` (joined into a result, or gone through by a ``for_each``): a
    known entity, fields of it, and expressions over what the tool can see."""
    entity = spec.entities.get(join.entity)
    if entity is None:
        yield Problem(path=f"{path}.entity", message=f"unknown entity {join.entity!r}{did_you_mean(join.entity, spec.entities, 'entities')}")
        return
    if join.order_by and join.order_by not in entity.fields:
        yield Problem(path=f"{path}.order_by", message=f"unknown field {join.order_by!r} of {join.entity}")
    for fname, text in join.by.items():
        if fname not in entity.fields and fname != "id":
            yield Problem(path=f"{path}.by.{fname}", message=f"unknown field {fname!r} of {join.entity}{did_you_mean(fname, entity.fields, 'fields')}")
            continue
        yield from _expression_problems(f"{path}.by.{fname}", text, scope, spec)


def _when_problems(path: str, text: str | None, scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> Iterator[Problem]:
    """A conditional effect's condition: parsed, and reading only what the tool can see."""
    if text is not None:
        yield from _expression_problems(f"{path}.when", text, scope, spec, expect="bool", what="'when'")


def _expression_problems(
    path: str, text: str, scope: dict[str, tuple[str, str | None]], spec: DomainSpec, expect: Kind | None = None, what: str = ""
) -> Iterator[Problem]:
    """An expression that parses, reads only names and fields in ``scope``, and is well typed."""
    try:
        expr = parse(text)
    except ExprError as exc:
        yield _parse_problem(path, text, exc)
        return
    yield from _reference_problems(path, expr, scope, spec, expect=expect, what=what)


def _assignment_target(
    path: str, text: str, scope: dict[str, tuple[str, str | None]], spec: DomainSpec, owner: str
) -> tuple[Assignment, str, EntitySpec] | Problem | None:
    """Parse ``var.field = ...`` and find the entity of ``var``; a Problem if either fails
    (None when the entity itself is unknown, which is reported where it is declared)."""
    try:
        assignment = parse_assignment(text)
    except ExprError as exc:
        return _parse_problem(path, text, exc)
    target = scope.get(assignment.var)
    if target is None or target[0] != "row":
        rows = [n for n, (k, _) in scope.items() if k == "row"]
        return Problem(path=path, message=f"{assignment.var!r} is not a row {owner} (rows: {rows})")
    entity = spec.entities.get(str(target[1]))
    if entity is None:
        return None
    return assignment, str(target[1]), entity


def _reference_problems(
    path: str,
    expr: Expr,
    scope: dict[str, tuple[str, str | None]],
    spec: DomainSpec,
    field: FieldSpec | None = None,
    shown: str | None = None,
    expect: Kind | None = None,
    what: str = "",
) -> Iterator[Problem]:
    """Names and fields an expression reads, then (when they all resolve) its types, each problem
    with the offending part's offsets in ``shown`` (the text the expression was parsed from).
    ``expect`` is the kind the expression must give (a rule's check: a bool); ``what`` names it."""
    text = shown if shown is not None else expr.text
    at = partial(_at, path, text)
    found = False
    for node in _name_nodes(expr.node):
        name = node.value.id if isinstance(node, ast.Attribute) else node.id  # type: ignore[attr-defined]
        attr = node.attr if isinstance(node, ast.Attribute) else None
        if name not in scope:
            hint = ""
            if field is not None and field.values and name in field.values:
                hint = f"; to use the value write \"'{name}'\" in quotes"
            elif not (close := did_you_mean(name, scope)).startswith(" "):
                hint = close
            else:
                hint = f" (known: {', '.join(sorted(scope))})"
            found = True
            yield at(f"unknown name {name!r} in {expr.text!r}{hint}", node if attr is None else node.value)  # type: ignore[attr-defined]
            continue
        kind, target = scope[name]
        if attr is None:
            continue
        if kind == "item":
            fields = _item_fields(spec, str(target))
            if attr not in fields:
                found = True
                yield at(f"unknown field {attr!r} of an item of {target!r} in {expr.text!r}{did_you_mean(attr, fields, 'fields')}", node)
        elif kind != "row":
            found = True
            yield at(f"{name!r} is a value, not a row, so {name}.{attr} is invalid", node)
        elif str(target) in spec.entities and attr != "id" and attr not in spec.entities[str(target)].fields:
            found = True
            options = ["id", *spec.entities[str(target)].fields]
            yield at(f"unknown field {attr!r} on entity {target!r} in {expr.text!r}{did_you_mean(attr, options, 'fields')}", node)
    for call in (n for n in ast.walk(expr.node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in QUERY_FUNCTIONS):
        first = call.args[0] if call.args else None
        entity = str(first.value) if isinstance(first, ast.Constant) else ""
        if entity not in spec.entities:
            found = True
            yield at(f"unknown entity {entity!r} in {expr.text!r}{did_you_mean(entity, spec.entities, 'entities')}", first or call)
            continue
        named: list[tuple[str, ast.AST]] = [(str(a.value), a) for a in call.args[1:] if isinstance(a, ast.Constant)]
        named += [(split_lookup(k.arg)[0], k) for k in call.keywords if k.arg]
        for fname, node in named:
            if fname != "id" and fname not in spec.entities[entity].fields:
                found = True
                options = ["id", *spec.entities[entity].fields]
                yield at(f"unknown field {fname!r} of {entity!r} in {expr.text!r}{did_you_mean(fname, options, 'fields')}", node)
    if found:
        return  # types of unknown names would only repeat the mistake

    def resolve(name: str, attr: str | None) -> Kind:
        return _resolve_kind(name, attr, scope, spec)

    def field_kind(entity: str, fname: str) -> Kind:
        if fname == "id":
            return "string"
        f = spec.entities[entity].fields.get(fname) if entity in spec.entities else None
        return f.kind if f is not None else "unknown"

    enums = list(_enum_problems(at, expr, scope, spec))
    yield from enums
    if enums:
        return
    typed = type_problems(expr.node, resolve, field_kind)
    for message, node in typed[:1]:  # one mistake, one problem: the first type error says enough
        yield at(f"{message}, in {expr.text!r}", node)
    if not typed and expect is not None:
        got = expr.kind(resolve)
        if got not in ("unknown", "null", expect):
            yield at(f"{what or 'this'} must give {_ARTICLE[expect]}, but {expr.text!r} gives {_ARTICLE[got]}", expr.node)


def _at(path: str, text: str, message: str, node: ast.AST) -> Problem:
    """A problem about one part of an expression: its offsets, for a caret under it."""
    start, end = span(text, node)
    return Problem(path=path, message=message, expr=text, start=start, end=end)


def _parse_problem(path: str, text: str, exc: ExprError) -> Problem:
    """An expression that does not parse or is not allowed, pointing where the parser stopped."""
    return Problem(path=path, message=str(exc), expr=text.strip() if isinstance(text, str) else None, start=exc.start, end=exc.end)


def _name_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every ``name`` and ``name.field`` node, in reading order (the first argument of a query is an entity, not a name)."""
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)) or isinstance(node, ast.Name):
        yield node
        return
    children = [*node.args, *(k.value for k in node.keywords)] if isinstance(node, ast.Call) else ast.iter_child_nodes(node)
    for child in children:
        yield from _name_nodes(child)


def _value_type_problems(
    path: str,
    expr: Expr,
    field: FieldSpec,
    where: str,
    scope: dict[str, tuple[str, str | None]],
    spec: DomainSpec,
    shown: str | None = None,
) -> Iterator[Problem]:
    """A value written into a field: of the field's kind, not null unless nullable, one of an enum's values."""
    at = partial(_at, path, shown if shown is not None else expr.text)
    kind = expr.kind(lambda name, attr: _resolve_kind(name, attr, scope, spec))
    expected = field.kind
    if kind == "null" and not field.nullable:
        yield at(f"{where} is not nullable but {expr.text!r} is null", expr.node)
    elif kind not in ("unknown", "null") and kind != expected:
        yield at(f"{where} is {field.type} but {expr.text!r} gives {_ARTICLE[kind]}", expr.node)
    elif (arm := next((n for n in _result_nodes(expr.node) if _infer_kind(n, scope, spec) not in ("unknown", "null", expected)), None)):
        got = _infer_kind(arm, scope, spec)
        yield at(f"{where} is {field.type} but {ast.unparse(arm)} gives {_ARTICLE[got]}", arm)
    elif field.type == "enum" and field.values:
        for node in _string_results(expr.node):
            if node.value not in field.values:
                yield at(f"{node.value!r} is not a value of {where}{did_you_mean(str(node.value), field.values, 'values')}", node)
                break


def _result_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The arms an expression's value comes from (both arms of ``x if c else y``, nested)."""
    if isinstance(node, ast.IfExp):
        yield from _result_nodes(node.body)
        yield from _result_nodes(node.orelse)
    else:
        yield node


def _infer_kind(node: ast.AST, scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> Kind:
    return Expr(ast.unparse(node), node).kind(lambda name, attr: _resolve_kind(name, attr, scope, spec))  # type: ignore[arg-type]


def _string_results(node: ast.AST) -> Iterator[ast.Constant]:
    """The text literals an expression can give as its value (either arm of ``x if c else y``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, ast.IfExp):
        yield from _string_results(node.body)
        yield from _string_results(node.orelse)


def _enum_problems(at: Any, expr: Expr, scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> Iterator[Problem]:
    """``order.status == 'canceled'`` is never true: a text compared with an enum field must be one of its values."""
    for node in ast.walk(expr.node):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        for a, b in itertools.pairwise(sides):
            for field_node, other in ((a, b), (b, a)):
                f = _field_of(field_node, scope, spec)
                if f is None or f.type != "enum" or not f.values:
                    continue
                literals = other.elts if isinstance(other, ast.List | ast.Tuple) else [other]
                for lit in literals:
                    if isinstance(lit, ast.Constant) and isinstance(lit.value, str) and lit.value not in f.values:
                        yield at(f"{lit.value!r} is not a value of {ast.unparse(field_node)}{did_you_mean(str(lit.value), f.values, 'values')}", lit)
                        return


def _field_of(node: ast.AST, scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> FieldSpec | None:
    """The field a ``row.field`` node (or a bare field name in a row's own scope) reads."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        kind, target = scope.get(node.value.id, ("", None))
        entity = spec.entities.get(str(target)) if kind == "row" else None
        return entity.fields.get(node.attr) if entity is not None else None
    return None


def _item_fields(spec: DomainSpec, target: str) -> dict[str, ParamSpec]:
    """The fields of an object item of a list parameter, by its ``tool.param`` name."""
    tname, _, pname = target.partition(".")
    return spec.tools[tname].params[pname].fields or {}


def _resolve_kind(name: str, attr: str | None, scope: dict[str, tuple[str, str | None]], spec: DomainSpec) -> Kind:
    if name not in scope:
        return "unknown"
    kind, target = scope[name]
    if attr is None:
        if kind == "value" and target == "list":
            return "list"
        return KIND.get(str(target), "unknown") if kind == "value" else "unknown"
    if kind == "item":
        item = _item_fields(spec, str(target)).get(attr)
        return item.kind if item is not None else "unknown"
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
    if kind == "item":
        item = _item_fields(spec, str(target)).get(attr)
        return item.ref if item is not None and item.type == "ref" and item.ref in spec.entities else None
    if kind == "row" and str(target) in spec.entities:
        field = spec.entities[str(target)].fields.get(attr)
        if field is not None and field.type == "ref":
            return field.ref
    return None


def _slot_hint(slot: str, params: dict[str, Any]) -> str:
    """What a phrasing slot may name: a parameter, so '{dentist}' suggests '{dentist_id}'."""
    close = did_you_mean(slot, params, "")
    if close.startswith(";"):
        return f"; did you mean {{{close[16:-2]}}}?"
    return f"; slots are the parameters: {_names(params)}"


def _names(mapping: dict[str, Any]) -> str:
    return ", ".join(mapping) or "none"
