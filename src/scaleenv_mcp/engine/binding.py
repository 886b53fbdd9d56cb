"""Binding tool arguments from a state: candidate calls built from real rows.

Procedural tests need valid calls for every tool, and task instantiation needs to bind
a chain's arguments to real customers, real orders in the right status, real amounts.
Both use this module. Candidates come from the rows of referenced entities, from the
fields a lookup or search filters on, and from the values a tool's rules compare a
parameter against (``amount == bill.amount`` makes the bill's amount a candidate).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Mapping
from typing import Any

from ..spec.model import CreateEffect, DomainSpec, ParamSpec, ToolSpec
from ..spec.types import NUMERIC, ref_var
from .runtime import execute
from .samples import code_from_pattern
from .seed import sample_text
from .state import State

__all__ = ["candidate_calls", "find_successful_call", "pair_search", "param_candidates"]

_TEXT = "Checked the settings with the user and confirmed the fix works."


def _related_fields(tool: ToolSpec, param: str) -> list[tuple[str, str]]:
    """(variable, field) pairs that appear in the same rule or effect as ``param``, in a fixed order."""
    related: set[tuple[str, str]] = set()
    texts = [r.expr for r in tool.requires] + [a.value for a in tool.assignments.values()]
    for expr in texts:
        refs = expr.references()
        if any(name == param and attr is None for name, attr in refs):
            related.update((name, attr) for name, attr in refs if attr is not None and attr != "id")  # an id is never a plain value
    return sorted(related)


def param_candidates(state: State, tool_name: str, name: str, param: ParamSpec, rows: dict[str, dict[str, Any]]) -> list[Any]:
    """Plausible values for one parameter, given the rows already bound for this call."""
    spec = state.spec
    tool = spec.tools[tool_name]
    values: list[Any] = []
    for var, attr in _related_fields(tool, name):
        row = rows.get(var)
        if row is not None and attr in row and row[attr] is not None:
            values.append(row[attr])
            if param.kind == "number" and isinstance(row[attr], int | float):
                values += [row[attr] + 1, max(0, row[attr] - 1), round(row[attr] / 2, 2)]
    if tool.lookup and name in tool.lookup.by.values():
        field = next(f for f, p in tool.lookup.by.items() if p == name)
        values += [r[field] for r in state.head(tool.lookup.entity, 20)]
    if tool.search:
        for fname, op, pname in tool.search.filters:
            if pname == name and fname != "id":
                sample = [r[fname] for r in state.head(tool.search.entity, 20) if r[fname] is not None]
                if op == "contains":
                    sample = [str(v).split()[-1] for v in sample]
                values += sample
    if param.type == "enum":
        values += list(param.values or [])
    elif param.type == "bool":
        values += [True, False]
    elif param.type in NUMERIC:
        lo = param.min if param.min is not None else 0
        hi = param.max if param.max is not None else 100
        base = [1, 2, 3, 5, 10, 20, 50, lo, hi, (lo + hi) / 2]
        values += [v for v in base if lo <= v <= hi]
    elif param.type == "date":
        today = dt.date.fromisoformat(spec.today)
        # the past too: a birth date, a date a rule says must already have passed
        values += [(today + dt.timedelta(days=d)).isoformat() for d in (0, 1, 2, 3, 7, 14, 30, 60, -1, -7, -30, -365, -12000)]
    elif param.type == "datetime":
        now = dt.datetime.fromisoformat(spec.clock)
        values += [spec.clock] + [
            (now.replace(hour=10, minute=0, second=0) + dt.timedelta(days=d, hours=h)).isoformat()
            for d in (1, 2, 3, 7, 14, -1, -7, -30) for h in (0, 4)
        ]  # fmt: skip
    elif param.type in ("string", "text") and not values:
        values += _text_like(spec, tool_name, name)
    if param.kind == "number":
        values = [_fit_number(param, v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        values = [v for v in values if v is not None]
    elif param.type == "enum":
        values = [v for v in values if v in (param.values or [])]
    if param.max_length is not None:
        values = [v[: param.max_length] if isinstance(v, str) else v for v in values]
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def _text_like(spec: DomainSpec, tool_name: str, name: str) -> list[Any]:
    """Free text for a parameter, shaped like the field it will be stored in (a city, an address)."""
    tool = spec.tools[tool_name]
    entities = list(dict.fromkeys([*spec.view(tool_name).entities.values(), *spec.entities]))
    for entity in entities:
        field = spec.entities[entity].fields.get(name)
        if field is None or field.kind != "string":
            continue
        if field.choices:
            return [c for c in field.choices if isinstance(c, str)]
        if field.pattern:  # a code of the field's form (a card's last four digits)
            rng = random.Random(f"{spec.name}:{tool.description}:{name}")
            return list(dict.fromkeys(code_from_pattern(field.pattern, rng) for _ in range(4)))
        if field.sample:
            rng = random.Random(f"{spec.name}:{tool.description}:{name}")
            return list(dict.fromkeys(sample_text(field.sample, field, rng) for _ in range(4)))
    return [_TEXT]


def _fit_number(param: ParamSpec, value: float) -> float | int | None:
    if param.type == "int":
        value = round(value)
    elif param.type == "money":
        value = round(float(value), 2)
    if param.min is not None and value < param.min:
        return None
    if param.max is not None and value > param.max:
        return None
    return value


def _copied_params(tool: ToolSpec) -> tuple[str, dict[str, str]] | None:
    """(entity, field -> parameter) for a tool that creates a row from its plain parameters."""
    for effect in tool.effects:
        if isinstance(effect, CreateEffect):
            fields = {f: str(text) for f, text in effect.values.items() if isinstance(text, str) and text in tool.params
                      and tool.params[text].type != "ref"}  # fmt: skip
            if len(fields) > 1:
                return effect.create, fields
    return None


def candidate_calls(
    state: State,
    tool_name: str,
    rng: random.Random,
    limit: int = 200,
    pools: Mapping[str, list[dict[str, Any]]] | None = None,
    *,
    like_rows: bool = False,
) -> Iterator[dict[str, Any]]:
    """Up to ``limit`` argument sets for a tool, drawn from the state (not all will succeed).

    ``pools`` gives the rows a ref parameter is drawn from (a user's own orders, say); without
    one, every row of the table is a candidate. ``like_rows``: a tool that creates a row takes its
    plain values together from one existing row (a ticket's subject, category and priority), so
    they agree as the seeded rows do; drawn one by one they may not ("P1" for a flickering monitor)."""
    spec = state.spec
    tool = spec.tools[tool_name]
    entities = spec.view(tool_name).entities
    copied = _copied_params(tool) if like_rows else None
    ref_rows = {
        pname: list(pools[pname]) if pools and pname in pools else state.rows(str(p.ref_entity))
        for pname, p in tool.params.items()
        if p.ref_entity is not None
    }
    equal = _equalities(tool)
    each_equal = [
        (str(rule.for_each), f, other, g)
        for rule in tool.requires if isinstance(rule.for_each, str) and rule.as_
        for var, f, other, g in rule.expr.equalities() if var == rule.as_ and other != rule.as_
    ]  # fmt: skip
    for _ in range(limit):
        args: dict[str, Any] = {}
        rows: dict[str, dict[str, Any]] = {}
        for pname, param in tool.params.items():
            if param.type == "ref":
                pool = ref_rows[pname]
                if not pool:
                    break
                if not param.required and rng.random() < 0.3:
                    continue
                var = ref_var(pname)
                where = {f: rows[other][g] for v, f, other, g in equal if v == var and other in rows and g in rows[other]}
                if where and rng.random() < 0.8:  # most calls keep the rules' equalities (the card of the reservation's owner)
                    given = pools is not None and pname in pools
                    matching = [r for r in pool if all(r.get(f) == x for f, x in where.items())] if given else []
                    pool = matching or state.find(str(param.ref), where, limit=50) or pool
                row = rng.choice(pool)
                args[pname] = row["id"]
                rows[var] = row
                _bind_known(state, tool, entities, rows)
        for pname, param in tool.params.items():
            if param.type == "ref":
                continue
            if not param.required and rng.random() < 0.4:
                continue
            if param.type == "list":
                listed = ref_rows.get(pname)
                where = {f: rows[other][g] for p, f, other, g in each_equal if p == pname and other in rows and g in rows[other]}
                if listed and where and rng.random() < 0.8:  # most lists keep their per-item equalities (the user's own cards)
                    listed = [r for r in listed if all(r.get(f) == x for f, x in where.items())] or listed
                items = _list_candidate(state, tool_name, pname, param, rows, rng, listed)
                if items is not None:
                    args[pname] = items
                continue
            options = param_candidates(state, tool_name, pname, param, rows)
            if options:
                args[pname] = rng.choice(options)
        if copied is not None:
            entity, fields = copied
            for model in state.sample(entity, rng, 1):
                for fname, pname in fields.items():
                    value = model.get(fname)
                    if value is not None and param_fits(tool.params[pname], value):
                        args[pname] = value
        elif like_rows:  # a value named like a field it sets: one that field holds somewhere (a daily limit of 2,000, not 0.01)
            for pname, (entity, fname) in _field_params(spec, tool_name).items():
                if pname in args and rng.random() < 0.7:
                    for model in state.sample(entity, rng, 1):
                        if model.get(fname) is not None and param_fits(tool.params[pname], model[fname]):
                            args[pname] = model[fname]
        yield args


PAIRED_SHARE = 0.5
"""lists of two rows drawn as a pair a pairs search finds (a one-stop trip), where the domain has one"""


def pair_search(
    state: State, entity: str, first: dict[str, Any], second: dict[str, Any], *, phrased: bool = False
) -> tuple[str, dict[str, Any], list[dict[str, Any]]] | None:
    """A pairs search of the domain (one with a ``phrase`` when ``phrased``) that returns ``first`` and
    ``second`` together: (its tool, the arguments that find them, every pair those arguments find)."""
    for name, tool in state.spec.tools.items():
        search = tool.search
        pairs = search.pairs if search is not None else None
        if search is None or pairs is None or search.entity != entity or pairs.entity != entity or (phrased and pairs.phrase is None):
            continue
        args = pairs.filled(search, first, second)
        result = execute(state, name, args)
        found = result.data["items"] if result.ok and result.data is not None else []
        if any(p["first"]["id"] == first["id"] and p["second"]["id"] == second["id"] for p in found):
            return name, args, found
    return None


def _paired(state: State, entity: str, pool: list[dict[str, Any]], rng: random.Random) -> list[str] | None:
    """The ids of a first row from ``pool`` and a second row that a pairs search of the domain returns
    together (a flight and its connection); None when a few tries find none."""
    keys = {t.search.pairs.key for t in state.spec.tools.values() if t.search and t.search.pairs and t.search.entity == entity and t.search.pairs.entity == entity}
    for second_field, first_field in sorted(k for k in keys if k is not None):
        for first in rng.sample(pool, min(12, len(pool))):
            if first.get(first_field) is None:
                continue
            for second in state.find(entity, {second_field: first[first_field]}, limit=5):
                if pair_search(state, entity, first, second) is not None:
                    return [first["id"], second["id"]]
    return None


def _bind_known(state: State, tool: ToolSpec, entities: Mapping[str, str], rows: dict[str, dict[str, Any]]) -> None:
    """The rows a tool's ``bind`` reaches from the rows chosen so far (a segment's reservation)."""
    for var, expr in tool.bind_exprs.items():
        source, attr = expr.references()[0]
        if var not in rows and source in rows and attr:
            target = state.get(entities[var], rows[source].get(attr))
            if target is not None:
                rows[var] = target


def _equalities(tool: ToolSpec) -> list[tuple[str, str, str, str]]:
    """(var, field, other var, other field) for every ``a.f == b.g`` a rule requires outright: a ref
    parameter's row is drawn to agree with rows already chosen."""
    return [found for rule in tool.requires if rule.for_each is None for found in rule.expr.equalities()]


def _list_candidate(
    state: State,
    tool_name: str,
    pname: str,
    param: ParamSpec,
    rows: dict[str, dict[str, Any]],
    rng: random.Random,
    pool: list[dict[str, Any]] | None,
) -> list[Any] | None:
    """A plausible list: a few distinct rows (from ``pool``) for a list of refs, values for a list of
    values, and objects whose values are taken together from one row with fields of those names
    (a traveller's first and last name and date of birth), as people give them."""
    most = min(param.max_items or 3, 3)
    count = rng.randint(min(max(1, param.min_items), most), most)
    if param.items is not None and param.items.type == "ref":
        if not pool:
            return None
        if most >= 2 and rng.random() < PAIRED_SHARE:  # rows a pairs search finds together: a flight and its connection
            paired = _paired(state, str(param.items.ref), pool, rng)
            if paired is not None:
                return paired
        return [row["id"] for row in rng.sample(pool, min(count, len(pool)))]
    if param.items is not None:
        options = param_candidates(state, tool_name, pname, param.items, rows)
        return rng.sample(options, min(count, len(options))) if options else None
    fields = param.fields or {}
    like = max(state.spec.entities, key=lambda e: sum(f in state.spec.entities[e].fields for f in fields))
    out = []
    for model in state.sample(like, rng, count) or [{}] * count:
        item: dict[str, Any] = {}
        for fname, f in fields.items():
            if not f.required and rng.random() < 0.3:
                continue
            value = model.get(fname)
            if value is not None and param_fits(f, value) and (f.type != "ref" or state.get(str(f.ref), value)):
                item[fname] = value
                continue
            options = state.rows(str(f.ref)) if f.type == "ref" else param_candidates(state, tool_name, fname, f, rows)
            if options:
                choice = rng.choice(options)
                item[fname] = choice["id"] if f.type == "ref" else choice
        out.append(item)
    return out


def _field_params(spec: DomainSpec, tool_name: str) -> dict[str, tuple[str, str]]:
    """Plain parameters that set a field (``account.daily_limit = limit``) or are named like a field
    of a row the tool works on -> (that row's entity, the field)."""
    tool = spec.tools[tool_name]
    entities = spec.view(tool_name).entities
    out: dict[str, tuple[str, str]] = {}
    for a in tool.assignments.values():
        if a.op == "=" and a.var in entities and a.value.text in tool.params and tool.params[a.value.text].type != "ref":
            out[a.value.text] = (entities[a.var], a.field)
    for pname, param in tool.params.items():
        if param.type == "ref" or pname in out:
            continue
        entity = next((e for e in entities.values() if pname in spec.entities[e].fields), None)
        if entity is not None and spec.entities[entity].fields[pname].type == param.type:
            out[pname] = (entity, pname)
    return out


def param_fits(param: ParamSpec, value: Any) -> bool:
    """Whether a stored value is one the parameter accepts (its enum values, bounds, length)."""
    if param.type == "enum":
        return value in (param.values or [])
    if param.kind == "number":
        return isinstance(value, int | float) and _fit_number(param, value) == value
    if isinstance(value, str) and param.max_length is not None:
        return len(value) <= param.max_length
    return True


def find_successful_call(
    state: State, tool_name: str, seed: int = 0, limit: int = 400
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A call that succeeds on ``state`` (tried on forks, so ``state`` is untouched): (args, result)."""
    rng = random.Random(f"{state.spec.name}:{tool_name}:{seed}")
    image = state.snapshot()
    scratch = State.from_snapshot(state.spec, image)
    try:
        for args in candidate_calls(state, tool_name, rng, limit):
            result = execute(scratch, tool_name, args)
            if result.ok:
                assert result.data is not None
                return args, result.data
    finally:
        scratch.close()
    return None
