"""Deterministic initial data for a domain.

Rows are generated entity by entity in reference order, so every reference points at a
row that exists; fields with a ``derive`` expression are computed from the row and the
rows it references (an order's total from its product's price), which keeps seed data
consistent with the domain's rules. The same spec and seed always give the same bytes.
"""

from __future__ import annotations

import ast
import datetime as dt
import random
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ScaleenvError
from ..spec.expr import Expr, ExprError, row_matches, split_lookup
from ..spec.model import DomainSpec, EntitySpec, FieldSpec
from ..spec.types import NUMERIC, is_ref_name, ref_var
from . import samples as S
from .state import State

__all__ = ["SeedError", "add_near_copies", "entity_order", "sample_text", "seed_state"]


class SeedError(ScaleenvError, ValueError):
    """The spec's seed hints cannot produce valid rows (e.g. too few unique values)."""

    default_status = 400


def entity_order(spec: DomainSpec) -> list[str]:
    """Entities ordered so that each comes after the entities its non-nullable refs point to."""
    order = spec.seeding_order
    if order.cycle is not None:
        raise SeedError(f"reference cycle among entities: {' -> '.join(order.cycle)}; make one ref nullable")
    return list(order.order)


def seed_state(spec: DomainSpec, seed: int | None = None, *, scale: float = 1.0) -> State:
    """A fresh state holding the domain's seeded initial rows.

    ``scale`` multiplies every entity's row count (benchmarks grow states this way).
    """
    rng = random.Random(f"{spec.name}:{spec.seed if seed is None else seed}")
    generated: dict[str, list[dict[str, Any]]] = {}
    pools = _Pools()
    for name in entity_order(spec):
        entity = spec.entities[name]
        plan = _plan(spec, name, entity, scale, rng, generated)
        count = len(plan)
        copies = max(0, round(entity.near_duplicates.count * scale)) if entity.near_duplicates and count else 0
        generated[name] = _rows(spec, name, entity, count, rng, generated, pools, copies, plan)
    state = State.empty(spec)
    try:
        with state.atomic():
            for name, rows in generated.items():
                state.insert_many(name, rows)
    except Exception as exc:
        state.close()
        raise SeedError(f"{spec.name}: seeded rows break a constraint: {exc}") from exc
    return state


def _plan(
    spec: DomainSpec, name: str, entity: EntitySpec, scale: float, rng: random.Random, generated: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """What each row to seed must hold: the fixed rows as given, then per parent row a drawn number
    of rows pointing at it (``per_parent``), or else ``count`` rows with nothing fixed."""
    plan: list[dict[str, Any]] = [dict(row) for row in entity.rows]
    for i, fixed in enumerate(plan):
        for fname, value in fixed.items():
            f = entity.fields[fname]
            if f.type == "ref" and value is not None and _row_by_id(generated.get(f.ref or "", []), value) is None:
                raise SeedError(f"{spec.name}.{name}.rows[{i}].{fname}: no {f.ref} {value!r} (fixed rows point at seeded ids)")
    if entity.per_parent is not None:
        pp = entity.per_parent
        for parent in generated.get(str(entity.fields[pp.field].ref), []):
            plan += [{pp.field: parent["id"]} for _ in range(rng.randint(pp.min, pp.max))]
        return plan
    return plan + [{} for _ in range(max(0, round(entity.count * scale)) - len(plan))]


class _Pools(dict[tuple[str, str], list[dict[str, Any]]]):
    """(entity, field) -> referenced rows still satisfying the field's ref_where, for one seeding run;
    ``checks`` counts the rows filtered, so a correlated ref_where cannot run away."""

    checks: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[tuple[str, str], _Link | None] = {}
        """(entity, field) -> how its correlated ref_where narrows the candidates (None: it does not)"""
        self.indexes: dict[tuple[str, tuple[str, ...]], tuple[int, dict[tuple[Any, ...], list[int]]]] = {}
        """(entity, fields) -> (rows indexed, values of the fields -> positions of the rows holding them)"""


class _Link:
    """What a correlated ``ref_where`` such as ``exists('reservation', id=row.reservation_id,
    customer_id=customer_id)`` implies: a candidate's ``target_fields`` equal the ``query_fields``
    of some row the query's other keywords (those reading only ``row``) select. Only candidates
    that pass this are tested against the whole expression, so building a pool costs the rows
    it may hold, not the table (seeding airline was cubic in its size through this filter). The
    rows kept, and their order, are exactly those the full scan keeps: the same seed gives the
    same bytes."""

    def __init__(self, query: str, own: list[ast.keyword], pairs: list[tuple[str, str]]) -> None:
        self.query = query
        self.own = own
        self.query_fields = tuple(q for q, _ in pairs)
        self.target_fields = tuple(t for _, t in pairs)


def _link(spec: DomainSpec, f: FieldSpec, where: Expr) -> _Link | None:
    """The narrowing a ref_where allows, when it is (a conjunction holding) an ``exists`` whose
    keywords tie a field of the query's rows to a field of the candidate by equality."""
    target = spec.entities.get(f.ref or "")
    if target is None:
        return None
    assigned = {a.field for e in spec.entities.values() for a in e.seed_assignments}  # values seed effects change
    node = where.node
    conjuncts = node.values if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And) else [node]
    for part in conjuncts:
        match part:
            case ast.Call(func=ast.Name(id="exists"), args=[ast.Constant(value=str(query)), *_], keywords=keywords):
                own: list[ast.keyword] = []
                pairs: list[tuple[str, str]] = []
                for kw in keywords:
                    if kw.arg is None:
                        continue
                    name, op = split_lookup(kw.arg)
                    if op == "eq" and isinstance(kw.value, ast.Name) and kw.value.id in target.fields and kw.value.id not in assigned:
                        pairs.append((name, kw.value.id))
                    elif all(n.id == "row" for n in ast.walk(kw.value) if isinstance(n, ast.Name)):
                        own.append(kw)
                    # any other keyword only narrows the query further: leaving it out keeps the test necessary
                if pairs and own:
                    return _Link(query, own, pairs)
    return None


def _linked(
    spec: DomainSpec, link: _Link, ref: str, targets: list[dict[str, Any]], own: Mapping[str, Any],
    generated: Mapping[str, list[dict[str, Any]]], pools: _Pools,
) -> list[dict[str, Any]] | None:
    """The targets that can pass ``link``'s test, in table order (None: the test cannot be made)."""
    key = (ref, link.target_fields)
    indexed = pools.indexes.get(key)
    if indexed is None or indexed[0] != len(targets):
        index: dict[tuple[Any, ...], list[int]] = {}
        try:
            for position, t in enumerate(targets):
                index.setdefault(tuple(t.get(name) for name in link.target_fields), []).append(position)
        except TypeError:  # a value that cannot be hashed
            return None
        indexed = pools.indexes[key] = (len(targets), index)
    env = _RowEnv(spec, {"row": own}, generated)
    try:
        where = {kw.arg: Expr(kw.arg or "", kw.value).evaluate(env) for kw in link.own if kw.arg}
        values = {tuple(m.get(name) for name in link.query_fields) for m in env.query(link.query, where)}
    except (ExprError, TypeError):
        return None
    positions = sorted(p for v in values for p in indexed[1].get(v, ()))
    return [targets[p] for p in positions]


MAX_WHERE_CHECKS = 1_000_000
"""rows a seeding run may test against ref_where filters: a correlated filter (``row.user_id``) is
re-run for every distinct value it reads, which on a large seed would otherwise not end"""


class _RowEnv:
    def __init__(
        self, spec: DomainSpec, values: dict[str, Any], generated: Mapping[str, list[dict[str, Any]]], state: State | None = None
    ):
        self.spec = spec
        self.values = values
        self.generated = generated
        self.state = state
        """rows are read from here instead of ``generated`` (copying rows into a seeded state)"""

    def lookup(self, name: str) -> Any:
        if name == "today":
            return self.spec.today
        if name == "now":
            return self.spec.clock
        if name in self.values:
            return self.values[name]
        raise KeyError(name)

    def query(self, entity: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.state is not None:
            return self.state.find(entity, where)
        rows = self.generated.get(entity, [])
        if "id" in where:  # a query by id (``exists('reservation', id=row.reservation_id, ...)``) reads one row, not the table
            found = _row_by_id(rows, where["id"])
            return [found] if found is not None and row_matches(found, where) else []
        return [r for r in rows if row_matches(r, where)]


FRESH_AFTER = 3
"""draws of a row after which a unique text value is numbered by the row's place, not by the draw.

A unique text value that collides is drawn again with the draw's number appended ("The Brave
Compass 2"), so each number gives the field another sample space. Numbered by the draw, the spaces
fill one after another as a table grows, and each new row tries them in turn: draws grew with the
table (retail's 17,143 products took 254,060 draws; 64,972 now), and past 60 spaces (36,000
products) seeding failed. From this draw on, the number is FRESH_AFTER plus the row's place, which
no other row of the table gets, so the value is new. A table well inside its sample space rarely
gets this far: three shipped domains, with few cities or company names to share, changed with it."""


def _rows(
    spec: DomainSpec,
    name: str,
    entity: EntitySpec,
    count: int,
    rng: random.Random,
    generated: dict[str, list[dict[str, Any]]],
    pools: _Pools,
    copies: int = 0,
    plan: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """``count`` rows (each holding what ``plan`` fixes for it), then ``copies`` near duplicates of
    them (see ``EntitySpec.near_duplicates``)."""
    rows: list[dict[str, Any]] = []
    seen_unique: dict[str, set[Any]] = {f: set() for f, fs in entity.fields.items() if fs.unique}
    seen_groups: list[set[tuple[Any, ...]]] = [set() for _ in entity.unique_together]
    width = max(4, len(str(count + copies)))
    generated[name] = rows  # self-references see earlier rows
    for index in range(1, count + copies + 1):
        for attempt in range(60):
            if index > count:
                row = _near_copy(spec, name, entity, rng.choice(rows[:count]), rng, generated, pools, attempt)
            else:
                hint = attempt if attempt < FRESH_AFTER else FRESH_AFTER + index  # see FRESH_AFTER
                row = _one_row(spec, name, entity, rng, generated, pools, hint, plan[index - 1] if plan else {})
            if any(row[f] in seen_unique[f] for f in seen_unique if row[f] is not None):
                continue
            keys = [tuple(row[f] for f in group) for group in entity.unique_together]
            if any(k in seen for k, seen in zip(keys, seen_groups, strict=True)):
                continue
            break
        else:
            raise SeedError(f"{spec.name}.{name}: cannot make row {index} unique after 60 tries; widen the seed hints")
        row = {"id": f"{entity.id_prefix}-{index:0{width}d}", **row}
        _apply_seed_effects(spec, entity, row, generated)
        for f, seen_values in seen_unique.items():
            seen_values.add(row[f])
        for k, seen in zip(keys, seen_groups, strict=True):
            seen.add(k)
        rows.append(row)
    return rows


def _one_row(
    spec: DomainSpec,
    name: str,
    entity: EntitySpec,
    rng: random.Random,
    generated: Mapping[str, list[dict[str, Any]]],
    pools: _Pools,
    attempt: int,
    fixed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for fname, f in entity.fields.items():
        if fixed and fname in fixed:
            values[fname] = _coerce(f, fixed[fname])
        elif not f.derive:
            values[fname] = _sample(spec, name, fname, f, rng, generated, pools, values, attempt)
    return _derived(spec, name, entity, values, rng, generated, pools, attempt)


def _near_copy(
    spec: DomainSpec,
    name: str,
    entity: EntitySpec,
    source: Mapping[str, Any],
    rng: random.Random,
    generated: Mapping[str, list[dict[str, Any]]],
    pools: _Pools,
    attempt: int,
) -> dict[str, Any]:
    """A row like ``source`` but for the fields it varies and its unique ones: a date a few days off,
    a time a few hours off, another value of anything else."""
    assert entity.near_duplicates is not None
    values = {f: v for f, v in source.items() if f != "id" and not entity.fields[f].derive}
    for fname in [*entity.near_duplicates.vary, *(f for f, x in entity.fields.items() if x.unique)]:
        f = entity.fields[fname]
        old = values.get(fname)
        if f.type in ("date", "datetime") and isinstance(old, str):
            step = rng.choice([-3, -2, -1, 1, 2, 3])
            moment = dt.datetime.fromisoformat(old if f.type == "datetime" else old + "T00:00:00")
            moved = moment + (dt.timedelta(hours=step) if f.type == "datetime" else dt.timedelta(days=step))
            values[fname] = moved.isoformat() if f.type == "datetime" else moved.date().isoformat()
            continue
        for _ in range(10):
            values[fname] = _sample(spec, name, fname, f, rng, generated, pools, values, attempt)
            if values[fname] != old:
                break
    return _derived(spec, name, entity, values, rng, generated, pools, attempt)


NAME_VARIANTS = ("II", "Plus", "Deluxe", "Mini", "Classic", "Pro")
"""what sets a copy's unique name apart from its row's: the same product in another edition"""


def add_near_copies(
    spec: DomainSpec, state: State, entity: str, row_id: str, vary: Sequence[str], count: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Insert ``count`` rows like ``row_id``'s into a seeded ``state`` and return them: each equal to
    it but for the fields in ``vary`` (a date a few days off, a time a few hours off, another value
    of anything else), its unique fields (a unique name gets a variant: "The Brave Compass Plus";
    other unique values are drawn afresh) and what is derived from those. Ids follow the table's
    highest. The same state, arguments and ``rng`` give the same rows, so a task can record how its
    state was made and have it rebuilt byte for byte. Raises :class:`SeedError` when the row is
    missing, the entity cannot be copied, or a copy cannot be made unique."""
    espec = spec.entities.get(entity)
    if espec is None:
        raise SeedError(f"{spec.name}: no entity {entity!r} to copy rows of")
    if espec.seed_effects:
        raise SeedError(f"{spec.name}.{entity}: rows with seed effects cannot be copied (the copy would change other rows)")
    source = state.get(entity, row_id)
    if source is None:
        raise SeedError(f"{spec.name}.{entity}: no row {row_id!r} to copy")
    for fname in vary:
        f = espec.fields.get(fname)
        if f is None or f.derive or f.ref_where_expr is not None:
            raise SeedError(f"{spec.name}.{entity}.{fname}: not a field a copy can vary (unknown, derived or a filtered reference)")
    changing = [*dict.fromkeys([*vary, *(n for n, f in espec.fields.items() if f.unique and not f.derive)])]
    if any(espec.fields[n].ref_where_expr is not None for n in changing):
        raise SeedError(f"{spec.name}.{entity}: a unique filtered reference cannot be drawn again for a copy")
    # a derived field that reads its own draw (``sampled``) keeps the row's value: a copy of a flight keeps its route
    kept = [
        n for n, f in espec.fields.items()
        if not f.derive or (f.derive_expr is not None and any(name == "sampled" for name, _ in f.derive_expr.references()))
    ]  # fmt: skip
    made: list[dict[str, Any]] = []
    for _ in range(count):
        for attempt in range(30):
            values = {n: v for n, v in source.items() if n in kept}
            for fname in changing:
                values[fname] = _varied(spec, state, entity, fname, values, rng, attempt)
            row = {"id": state.next_id(entity), **_derived(spec, entity, espec, values, rng, {}, _Pools(), attempt, state)}
            if any(row[n] is not None and state.find(entity, {n: row[n]}, limit=1) for n, f in espec.fields.items() if f.unique):
                continue
            if any(state.find(entity, {n: row[n] for n in group}, limit=1) for group in espec.unique_together):
                continue
            try:
                state.insert(entity, row)
            except sqlite3.IntegrityError:
                continue  # a field constraint the draw broke: draw again
            made.append(row)
            break
        else:
            raise SeedError(f"{spec.name}.{entity}: cannot make a copy of {row_id} unique after 30 tries")
    return made


def _varied(
    spec: DomainSpec, state: State, entity: str, fname: str, values: Mapping[str, Any], rng: random.Random, attempt: int
) -> Any:
    """Another value for one field of a copy (see :func:`add_near_copies`)."""
    f = spec.entities[entity].fields[fname]
    old = values.get(fname)
    if f.type in ("date", "datetime") and isinstance(old, str):
        step = rng.choice([-3, -2, -1, 1, 2, 3])
        moment = dt.datetime.fromisoformat(old if f.type == "datetime" else old + "T00:00:00")
        moved = moment + (dt.timedelta(hours=step) if f.type == "datetime" else dt.timedelta(days=step))
        return moved.isoformat() if f.type == "datetime" else moved.date().isoformat()
    if f.unique and f.kind == "string" and fname == spec.entities[entity].label and f.sample in (None, "title", "words") \
            and not f.pattern and isinstance(old, str):
        variant = f"{old} {rng.choice(NAME_VARIANTS)}" + (f" {attempt + 1}" if attempt else "")
        return variant[: f.max_length] if f.max_length is not None else variant
    if f.type == "ref":
        others = [r["id"] for r in state.sample(str(f.ref), rng, 8) if r["id"] != old]
        return rng.choice(others) if others else old
    value: Any = old
    for _ in range(10):
        value = _sample(spec, entity, fname, f, rng, {}, _Pools(), values, attempt)
        if value != old:
            break
    return value


def _derived(
    spec: DomainSpec,
    name: str,
    entity: EntitySpec,
    values: dict[str, Any],
    rng: random.Random,
    generated: Mapping[str, list[dict[str, Any]]],
    pools: _Pools,
    attempt: int,
    state: State | None = None,
) -> dict[str, Any]:
    """``values`` (every field not derived) with the derived fields computed, in field order; the
    rows referenced are read from ``state`` when given (a copy made into a seeded state)."""
    env_values: dict[str, Any] = dict(values)
    for fname, f in entity.fields.items():
        if f.type == "ref" and is_ref_name(fname) and not f.derive:
            if state is not None:
                env_values[ref_var(fname)] = state.get(str(f.ref), values[fname]) if values[fname] is not None else None
            else:
                env_values[ref_var(fname)] = _row_by_id(generated.get(f.ref or "", []), values[fname])
    for fname, f in entity.fields.items():
        if not f.derive:
            continue
        assert f.derive_expr is not None
        if any(name == "sampled" for name, _ in f.derive_expr.references()):  # a fixed row's value stands in for the draw
            given = fname in values
            env_values["sampled"] = values[fname] if given else _sample(spec, name, fname, f, rng, generated, pools, values, attempt)
        try:
            value = f.derive_expr.evaluate(_RowEnv(spec, env_values, generated, state))
        except ExprError as exc:
            raise SeedError(f"{spec.name}.{name}.{fname}: derive failed: {exc}") from exc
        value = _coerce(f, value)
        values[fname] = value
        env_values[fname] = value
        if f.type == "ref" and is_ref_name(fname):  # a derived reference: later derives read through it (line.product.name)
            env_values[ref_var(fname)] = _row_by_id(generated.get(f.ref or "", []), value)
    for fname, f in entity.fields.items():  # a field group chosen by an enum: the others stay empty
        if f.applies_expr is None:
            continue
        try:
            applies = f.applies_expr.evaluate(_RowEnv(spec, env_values, generated, state))
        except ExprError as exc:
            raise SeedError(f"{spec.name}.{name}.{fname}: applies_when failed: {exc}") from exc
        if not applies:
            values[fname] = None
    return {fname: values[fname] for fname in entity.fields}


def _row_by_id(rows: list[dict[str, Any]], row_id: Any) -> dict[str, Any] | None:
    """Seeded ids are PREFIX-<position>, so the row is found without a scan."""
    if isinstance(row_id, str) and "-" in row_id:
        suffix = row_id.rsplit("-", 1)[1]
        if suffix.isdigit() and 0 < int(suffix) <= len(rows) and rows[int(suffix) - 1]["id"] == row_id:
            return rows[int(suffix) - 1]
    return next((r for r in rows if r["id"] == row_id), None)


def _apply_seed_effects(
    spec: DomainSpec, entity: EntitySpec, row: dict[str, Any], generated: Mapping[str, list[dict[str, Any]]]
) -> None:
    """Keep referenced rows consistent with a new row (a loan marks its copy on loan)."""
    if not entity.seed_effects:
        return
    env_values: dict[str, Any] = dict(row)
    target_entities: dict[str, str] = {}
    for fname, f in entity.fields.items():
        if f.type == "ref" and is_ref_name(fname):
            env_values[ref_var(fname)] = _row_by_id(generated.get(f.ref or "", []), row[fname])
            target_entities[ref_var(fname)] = str(f.ref)
    for assignment in entity.seed_assignments:
        target = env_values.get(assignment.var)
        if target is None:
            continue
        value = assignment.value.evaluate(_RowEnv(spec, env_values, generated))
        if assignment.op != "=":
            value = target[assignment.field] + (value if assignment.op == "+=" else -value)
        target_entity = spec.entities[target_entities[assignment.var]]
        target[assignment.field] = _coerce(target_entity.fields[assignment.field], value)


def _coerce(f: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "money":
        value = round(float(value), 2)
    elif f.type == "float":
        value = round(float(value), 3)
    elif f.type == "int":
        value = round(float(value))
    if f.type in NUMERIC:
        if f.min is not None and value < f.min:
            value = type(value)(f.min)
        if f.max is not None and value > f.max:
            value = type(value)(f.max)
    return value


def _pick(rng: random.Random, options: list[Any], weights: list[float] | None) -> Any:
    return rng.choices(options, weights=weights)[0] if weights else rng.choice(options)


def _sample(
    spec: DomainSpec,
    entity: str,
    fname: str,
    f: FieldSpec,
    rng: random.Random,
    generated: Mapping[str, list[dict[str, Any]]],
    pools: _Pools,
    row: Mapping[str, Any],
    attempt: int,
) -> Any:
    if f.nullable and f.null_rate and rng.random() < f.null_rate:
        return None
    if f.choices:
        return _coerce(f, _pick(rng, list(f.choices), f.weights))
    if f.type == "ref":
        targets = generated.get(f.ref or "", [])
        if f.ref_where_expr is not None:
            return _pick_where(spec, entity, fname, f, rng, generated, pools, row)
        if not targets:
            if f.nullable:
                return None
            raise SeedError(f"{spec.name}.{entity}.{fname}: no {f.ref} rows to reference; raise its count or relax ref_where")
        return rng.choice(targets)["id"]
    if f.type == "enum":
        return _pick(rng, list(f.values or []), f.weights)
    if f.type == "bool":
        return bool(_pick(rng, [True, False], f.weights or [0.5, 0.5]))
    if f.type in NUMERIC:
        default_hi = {"int": 100, "float": 100.0, "money": 500.0}[f.type]
        lo, hi = f.range or (f.min if f.min is not None else 0, f.max if f.max is not None else default_hi)
        if f.type == "int":
            return _coerce(f, rng.randint(int(lo), int(hi)))
        return _coerce(f, rng.uniform(float(lo), float(hi)))
    if f.type in ("date", "datetime"):
        return _date(spec, f, rng)
    if f.pattern:
        return S.code_from_pattern(f.pattern, rng)
    return _text(f.sample or "words", f, rng, row, index_hint=attempt)


def _pick_where(
    spec: DomainSpec,
    entity: str,
    fname: str,
    f: FieldSpec,
    rng: random.Random,
    generated: Mapping[str, list[dict[str, Any]]],
    pools: _Pools,
    building: Mapping[str, Any] | None = None,
) -> Any:
    """A referenced row satisfying ``ref_where``, in amortized constant time.

    The matching rows are filtered once (once per value of what the where reads of the row being
    built, as ``row.user_id``: a correlated reference); a pick is re-checked because seed effects
    may have changed it since (a copy lent out is no longer available), and dropped if so.
    """
    where: Expr | None = f.ref_where_expr
    assert where is not None
    reads = sorted({attr for name, attr in where.references() if name == "row" and attr})
    own = dict(building or {})
    key = (entity, fname if not reads else f"{fname}:{[own.get(a) for a in reads]!r}")
    pool = pools.get(key)
    if pool is None:
        targets = generated.get(f.ref or "", [])
        if reads and f.ref != entity:  # a self-reference's targets grow while they are read
            if (entity, fname) not in pools.links:
                pools.links[(entity, fname)] = _link(spec, f, where)
            link = pools.links[(entity, fname)]
            narrowed = _linked(spec, link, str(f.ref), targets, own, generated, pools) if link is not None else None
            targets = narrowed if narrowed is not None else targets
        pools.checks += len(targets)
        if pools.checks > MAX_WHERE_CHECKS:
            raise SeedError(
                f"{spec.name}.{entity}.{fname}: ref_where tested more than {MAX_WHERE_CHECKS:,} rows while seeding; "
                "lower the counts or read fewer fields of the row being seeded"
            )
        pool = [t for t in targets if where.evaluate(_RowEnv(spec, {**t, "row": own}, generated))]
        pools[key] = pool
    while pool:
        index = rng.randrange(len(pool))
        row = pool[index]
        if where.evaluate(_RowEnv(spec, {**row, "row": own}, generated)):
            return row["id"]
        pool[index] = pool[-1]
        pool.pop()
    if f.nullable:
        return None
    raise SeedError(f"{spec.name}.{entity}.{fname}: no {f.ref} rows match ref_where; raise its count or relax ref_where")


def _date(spec: DomainSpec, f: FieldSpec, rng: random.Random) -> str:
    today = dt.date.fromisoformat(spec.today)
    lo, hi = f.range or (-365, 0)

    def as_day(bound: Any) -> dt.date:
        if isinstance(bound, int | float):
            return today + dt.timedelta(days=int(bound))
        return dt.date.fromisoformat(str(bound)[:10])

    start, end = as_day(lo), as_day(hi)
    day = start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))
    if f.type == "date":
        return day.isoformat()
    minutes = rng.randrange(8 * 60, 20 * 60, 15)
    return f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:00"


def sample_text(kind: str, f: FieldSpec, rng: random.Random) -> str:
    """One realistic value of a text seed hint (a city, a street, a person's name, ...)."""
    return _text(kind, f, rng, {}, 0)


def _text(kind: str, f: FieldSpec, rng: random.Random, row: Mapping[str, Any], index_hint: int) -> str:
    first, last = rng.choice(S.FIRST_NAMES), rng.choice(S.LAST_NAMES)
    if kind == "person_name":
        value = f"{first} {last}"
    elif kind == "first_name":
        value = first
    elif kind == "last_name":
        value = last
    elif kind == "email":
        person = next((v for v in row.values() if isinstance(v, str) and " " in v and v.istitle()), f"{first} {last}")
        names = person.lower().replace("'", "").split()[:2]
        # digits no name gives away: an agent finds a person by what they say, never by guessing first.last@
        styles = (".".join(names), "".join(n[0] for n in names[:-1]) + names[-1], "_".join(reversed(names)))
        value = f"{rng.choice(styles)}{rng.randint(10, 9999)}@{rng.choice(S.EMAIL_DOMAINS)}"
    elif kind == "phone":
        value = f"+1-555-{rng.randint(100, 999):03d}-{rng.randint(0, 9999):04d}"
    elif kind == "city":
        value = rng.choice(S.CITIES)
    elif kind == "street":
        value = f"{rng.randint(1, 240)} {rng.choice(S.STREETS)}"
    elif kind == "company":
        value = rng.choice(S.COMPANIES)
    elif kind == "title":
        value = f"The {rng.choice(S.ADJECTIVES).title()} {rng.choice(S.NOUNS).title()}"
    elif kind == "code":
        letters = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(2))
        value = f"{letters}{rng.randint(100, 9999)}"
    elif kind == "plate":
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
        value = f"{rng.randint(1, 9)}{letters}{rng.randint(100, 999)}"
    elif kind == "digits":
        value = "".join(rng.choice("0123456789") for _ in range(10))
    elif kind == "sentence":
        words = [rng.choice(S.ADJECTIVES + S.NOUNS) for _ in range(rng.randint(5, 9))]
        value = " ".join(words).capitalize() + "."
    else:  # "words"
        value = f"{rng.choice(S.ADJECTIVES).title()} {rng.choice(S.NOUNS).title()}"
    if index_hint and kind not in ("email",) and f.unique:
        value = f"{value} {index_hint + 1}"
    if f.max_length is not None:
        value = value[: f.max_length]
    return value
