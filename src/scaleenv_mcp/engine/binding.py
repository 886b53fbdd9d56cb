"""Binding tool arguments from a state: candidate calls built from real rows.

Procedural tests need valid calls for every tool, and task instantiation needs to bind
a chain's arguments to real customers, real orders in the right status, real amounts.
Both use this module. Candidates come from the rows of referenced entities, from the
fields a lookup or search filters on, and from the values a tool's rules compare a
parameter against (``amount == bill.amount`` makes the bill's amount a candidate).

Arguments that go together are drawn together, as the rules say: a list's items meet the
per-item rules (tested as queries on the candidate rows: the order's own items, the user's own
cards, also through an object item's ``bind``); a lookup by several fields takes them from one
row; a list that must match another position by position follows it; a list starts and ends
where the rules name; amounts a rule adds up add up; a parameter named like a field of a list's
rows takes it from them. See "How arguments are drawn" in docs/blueprint-language.md.
"""

from __future__ import annotations

import ast
import datetime as dt
import random
from collections.abc import Iterator, Mapping
from typing import Any

from ..spec.expr import Expr, ExprError, parse
from ..spec.memo import per_spec
from ..spec.model import CreateEffect, DomainSpec, ParamSpec, RuleSpec, ToolSpec
from ..spec.types import NUMERIC, ref_var
from .runtime import execute
from .samples import code_from_pattern
from .seed import sample_text
from .state import State

__all__ = [
    "StateEnv",
    "bound_edge_values",
    "candidate_calls",
    "collision_calls",
    "find_successful_call",
    "pair_search",
    "param_candidates",
    "rows_meeting_rules",
    "satisfying_call",
    "seed_keys",
    "time_edge_values",
]

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


def _static(spec: DomainSpec, what: str, tool_name: str, name: str) -> list[Any]:
    """What a parameter's candidates take from the spec alone (the fields its rules read with it, the
    literals they compare it with, text shaped like its field), worked out once per spec: the binder
    asks for them on every draw, and walking the rules' syntax trees each time was a fifth of the
    cost of generating tasks."""
    memo: dict[tuple[str, str, str], list[Any]] = per_spec(spec, "binder_static", lambda _spec: {})
    key = (what, tool_name, name)
    if key not in memo:
        tool = spec.tools[tool_name]
        if what == "related":
            memo[key] = list(_related_fields(tool, name))
        elif what == "literals":
            memo[key] = _compared_literals(tool, name)
        else:
            memo[key] = _text_like(spec, tool_name, name)
    return memo[key]


def param_candidates(state: State, tool_name: str, name: str, param: ParamSpec, rows: dict[str, dict[str, Any]]) -> list[Any]:
    """Plausible values for one parameter, given the rows already bound for this call."""
    spec = state.spec
    tool = spec.tools[tool_name]
    values: list[Any] = []
    for var, attr in _static(spec, "related", tool_name, name):
        row = rows.get(var)
        if row is not None and attr in row and row[attr] is not None:
            values.append(row[attr])
            if param.kind == "number" and isinstance(row[attr], int | float):
                values += [row[attr] + 1, max(0, row[attr] - 1), round(row[attr] / 2, 2)]
    if param.type in ("string", "text"):  # free text a rule holds to a few values: reason in ['no longer needed', ...]
        values += _static(spec, "literals", tool_name, name)
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
        values += _static(spec, "text", tool_name, name)
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


def _compared_literals(tool: ToolSpec, param: str) -> list[Any]:
    """The literal values a rule compares a plain parameter with (``reason in ['a', 'b']``, ``code == 'X'``)."""
    found: list[Any] = []
    for rule in tool.requires:
        for node in ast.walk(rule.expr.node):
            if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq | ast.In)):
                continue
            left, right = node.left, node.comparators[0]
            if not (isinstance(left, ast.Name) and left.id == param):
                continue
            items = right.elts if isinstance(right, ast.List | ast.Tuple) else [right]
            found += [i.value for i in items if isinstance(i, ast.Constant) and i.value is not None]
    return found


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
    together = _lists_together(tool)
    ends = _list_ends(tool)
    has_lists = any(p.type == "list" for p in tool.params.values())
    items_met = _ItemRules(state, tool_name)
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
        looked_up = _one_row_lookup(state, tool, rng)  # a name and a zip code of one person, not of two
        args.update(looked_up)
        for pname, param in tool.params.items():
            if param.type == "ref" or pname in looked_up:
                continue
            if not param.required and rng.random() < 0.4:
                continue
            if param.type == "list":
                keep = rng.random() < 0.8  # most lists keep their per-item rules (the user's own cards, the order's own items)
                listed = ref_rows.get(pname)
                if listed and keep:
                    listed = items_met.rows(pname, listed, args, rows) or listed
                items = None
                if keep and pname in together and together[pname][0] in args:
                    items = _following_list(state, tool, pname, together[pname], args, listed, rng)
                elif keep and pname in ends and listed and rng.random() < 0.7:  # the trip's ends the rules name
                    items = _list_with_ends(state, tool, pname, ends[pname], args, rows, listed, rng)
                if items is None:
                    items = _list_candidate(state, tool_name, pname, param, rows, rng, listed,
                                            items_met if keep else None, args)  # fmt: skip
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
        if has_lists and rng.random() < 0.8:  # most calls keep what the lists say: the trip's ends, the amounts adding up
            _tie_to_lists(state, tool, args, looked_up)
            if items_met.sums:
                _fill_sums(state, tool_name, items_met.sums, args, rows)
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


def _extended(state: State, entity: str, chain: list[str], rng: random.Random) -> list[str]:
    """``chain`` with one more row that a pairs search of the domain finds together with its last one (a
    third flight leaving where the second lands); ``chain`` as it is when none does."""
    keys = {t.search.pairs.key for t in state.spec.tools.values() if t.search and t.search.pairs and t.search.entity == entity and t.search.pairs.entity == entity}
    last = state.get(entity, chain[-1])
    if last is None:
        return chain
    for second_field, first_field in sorted(k for k in keys if k is not None):
        if last.get(first_field) is None:
            continue
        nexts = [r for r in state.find(entity, {second_field: last[first_field]}, limit=10) if r["id"] not in chain]
        for row in rng.sample(nexts, len(nexts)):
            if pair_search(state, entity, last, row) is not None:
                return [*chain, row["id"]]
    return chain


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


# ---------------------------------------------------------------- lists and rows that go together

MAX_ITEM_ROWS = 2000
"""candidate rows a list's per-item rules are tested on (as queries) for one choice of the other arguments"""


class _ItemRules:
    """The rows a list's items may be, by the per-item rules that read only the item and what was chosen
    before it (the user, the order): each rule tested as a query on the candidate rows, once per choice.

    A list of refs is filtered on its rows (the order's own items, flights open for booking); an object
    list on the rows one of its ref fields names, through the rule's ``bind`` (the payment method of a
    ``{payment_id, amount}`` item must be the user's)."""

    def __init__(self, state: State, tool_name: str) -> None:
        self.state = state
        self.tool = state.spec.tools[tool_name]
        self.entities = state.spec.view(tool_name).entities
        self.cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.sums = _sum_rules(self.tool)

    def table(self, entity: str) -> list[dict[str, Any]]:
        """Every row of a table, read once for all the calls drawn on this state."""
        if entity not in self.tables:
            self.tables[entity] = self.state.rows(entity)
        return self.tables[entity]

    def _usable(self, pname: str, known: set[str], item_field: str | None) -> list[tuple[RuleSpec, dict[str, Any]]]:
        usable: list[tuple[RuleSpec, dict[str, Any]]] = []
        for rule in self.tool.requires:
            if rule.for_each != pname or not rule.as_:
                continue
            binds = dict(rule.bind_exprs)
            refs = rule.expr.references()
            if item_field is not None:  # an object item: only what the rule reads through this field's row
                binds = {v: e for v, e in binds.items() if e.references()[:1] == [(rule.as_, item_field)]}
                if any(n == rule.as_ and a != item_field for n, a in refs) or not binds:
                    continue
            if all(n in known or n == rule.as_ or n in binds for n, _ in refs):
                usable.append((rule, binds))
        return usable

    def rows(
        self, pname: str, pool: list[dict[str, Any]], args: Mapping[str, Any], rows: Mapping[str, dict[str, Any]],
        *, item_field: str | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The rows of ``pool`` an item of ``pname`` may be (its field ``item_field``'s row, for an object list)."""
        known = {"today", "now", pname, *args, *rows}
        usable = self._usable(pname, known, item_field)
        if not usable:
            return pool
        read = sorted({n for rule, _ in usable for n, _ in rule.expr.references() if n in known and n != pname})
        key = (pname, item_field, len(pool), tuple((n, rows[n].get("id") if n in rows else repr(args.get(n))) for n in read))
        if key not in self.cache:
            spec = self.state.spec
            base = {"today": spec.today, "now": spec.clock, **args, **rows}
            kept = []
            for row in pool[:MAX_ITEM_ROWS]:
                item: Any = row if item_field is None else {item_field: row["id"]}
                env = StateEnv(self.state, {**base, pname: [item if item_field is not None else row["id"]]})
                if all(self._holds_for(rule, binds, env, item) for rule, binds in usable):
                    kept.append(row)
            self.cache[key] = kept
        return self.cache[key]

    def _holds_for(self, rule: RuleSpec, binds: dict[str, Any], env: StateEnv, item: Any) -> bool:
        env.values[str(rule.as_)] = item
        for bvar, expr in binds.items():
            try:
                row_id = expr.evaluate(env)
            except (ExprError, KeyError, TypeError):
                return False
            env.values[bvar] = self.state.get(self.entities[bvar], row_id) if row_id is not None else None
        return _holds(rule.expr, env)


def _call_of(node: ast.AST, name: str) -> ast.Call | None:
    return node if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name else None


def _list_read(node: ast.AST, params: Mapping[str, ParamSpec]) -> tuple[str, str | None] | None:
    """(list parameter, field) for ``len(L)`` (no field) or ``each('entity', 'field', L)``."""
    call = _call_of(node, "len") or _call_of(node, "each")
    if call is None or not call.args or not isinstance(call.args[-1], ast.Name):
        return None
    name = call.args[-1].id
    if name not in params or params[name].type != "list":
        return None
    if _call_of(node, "each") is not None:
        second = call.args[1] if len(call.args) == 3 else None
        return (name, second.value) if isinstance(second, ast.Constant) and isinstance(second.value, str) else None
    return name, None


def _lists_together(tool: ToolSpec) -> dict[str, tuple[str, str | None]]:
    """Lists whose items go together position by position, from the rules: ``len(a) == len(b)`` (as many
    replacements as items), ``each('item', 'product_id', a) == each('item', 'product_id', b)`` (each
    replacement of the same product as the item it replaces). The later list follows the earlier:
    list -> (the list it follows, the field its rows share with the other's, position by position)."""
    order = list(tool.params)
    out: dict[str, tuple[str, str | None]] = {}
    for rule in tool.requires:
        if rule.for_each is not None:
            continue
        for node in ast.walk(rule.expr.node):
            if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
                continue
            a, b = _list_read(node.left, tool.params), _list_read(node.comparators[0], tool.params)
            if a is None or b is None or a[0] == b[0] or a[1] != b[1]:
                continue
            lead, follower = sorted([a[0], b[0]], key=order.index)
            if follower not in out or out[follower][1] is None:
                out[follower] = (lead, a[1])
    return out


def _following_list(
    state: State, tool: ToolSpec, pname: str, follows: tuple[str, str | None], args: Mapping[str, Any],
    pool: list[dict[str, Any]] | None, rng: random.Random,
) -> list[Any] | None:  # fmt: skip
    """A list drawn item by item against the list it follows: as many items, each (with a field) a row
    sharing that field with the other's item at its position, another row where one exists."""
    lead_name, field = follows
    lead = args[lead_name]
    param = tool.params[pname]
    if not isinstance(lead, list) or not lead or param.items is None or param.items.type != "ref" or not pool:
        return None
    if field is None:
        return [row["id"] for row in (rng.sample(pool, len(lead)) if len(pool) >= len(lead) else rng.choices(pool, k=len(lead)))]
    lead_entity = str(tool.params[lead_name].ref_entity)
    out = []
    for lead_id in lead:
        lead_row = state.get(lead_entity, lead_id) if isinstance(lead_id, str) else None
        same = [r for r in pool if lead_row is not None and r.get(field) == lead_row.get(field)]
        other = [r for r in same if r["id"] != lead_id] or same
        if not other:
            return None
        out.append(rng.choice(other)["id"])
    return out


def _list_ends(tool: ToolSpec) -> dict[str, list[tuple[int, str, Expr]]]:
    """What the rules say a list of refs starts or ends with: ``each('flight', 'origin', flights)[0] ==
    reservation.origin`` gives flights -> (0, 'origin', reservation.origin); wherever the comparison sits
    (inside an ``or``, a branch of ``x if c else y``), so each is a preference the draw may follow."""
    out: dict[str, list[tuple[int, str, Expr]]] = {}
    for rule in tool.requires:
        if rule.for_each is not None:
            continue
        for node in ast.walk(rule.expr.node):
            if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
                continue
            for side, other in ((node.left, node.comparators[0]), (node.comparators[0], node.left)):
                if not isinstance(side, ast.Subscript) or _call_of(side.value, "each") is None:
                    continue
                read = _list_read(side.value, tool.params)
                position = {"0": 0, "-1": -1}.get(ast.unparse(side.slice))  # the first or the last item
                if read is None or read[1] is None or position is None:
                    continue
                out.setdefault(read[0], []).append((position, read[1], parse(ast.unparse(other))))
    return out


def _list_with_ends(
    state: State, tool: ToolSpec, pname: str, ends: list[tuple[int, str, Expr]], args: Mapping[str, Any],
    rows: Mapping[str, dict[str, Any]], pool: list[dict[str, Any]], rng: random.Random,
) -> list[Any] | None:  # fmt: skip
    """A list of refs that starts and ends where the rules say (a changed trip from the reservation's
    origin to its destination): one row with both, or two rows a pairs search finds together."""
    spec = state.spec
    env = StateEnv(state, {"today": spec.today, "now": spec.clock, **args, **rows})
    wanted: dict[int, list[tuple[str, Any]]] = {0: [], -1: []}
    for position, field, other in ends:
        try:
            value = other.evaluate(env)
        except (ExprError, KeyError, TypeError):
            continue
        if value is not None and not isinstance(value, list | dict):
            wanted[position].append((field, value))
    start = rng.choice(wanted[0]) if wanted[0] else None
    end = rng.choice(wanted[-1]) if wanted[-1] else None
    if start is None and end is None:
        return None

    def fits(row: dict[str, Any], want: tuple[str, Any] | None) -> bool:
        return want is None or row.get(want[0]) == want[1]

    firsts = [r for r in pool if fits(r, start)]
    direct = [r for r in firsts if fits(r, end)]
    if direct and rng.random() < 0.5:
        return [rng.choice(direct)["id"]]
    entity = str(tool.params[pname].ref_entity)
    keys = {t.search.pairs.key for t in spec.tools.values() if t.search and t.search.pairs and t.search.entity == entity and t.search.pairs.entity == entity}
    ids = {r["id"] for r in pool}
    for second_field, first_field in sorted(k for k in keys if k is not None):
        for first in rng.sample(firsts, min(12, len(firsts))):
            for second in state.find(entity, {second_field: first.get(first_field)}, limit=10):
                if second["id"] in ids and fits(second, end) and pair_search(state, entity, first, second) is not None:
                    return [first["id"], second["id"]]
    return [rng.choice(direct)["id"]] if direct else None


def _one_row_lookup(state: State, tool: ToolSpec, rng: random.Random) -> dict[str, Any]:
    """The values of a lookup by several fields taken together from one row (a person's first name, last
    name and zip code); drawn one by one they almost never name a row."""
    if tool.lookup is None or len(tool.lookup.by) < 2 or rng.random() >= 0.8:
        return {}
    for row in state.sample(tool.lookup.entity, rng, 1):
        values = {p: row.get(f) for f, p in tool.lookup.by.items()}
        if all(v is not None and param_fits(tool.params[p], v) for p, v in values.items()):
            return values
    return {}


def _chain_ends(spec: DomainSpec, entity: str) -> set[str]:
    """Fields of a row that end a chain rather than start it: ``destination`` when a pairs search joins
    ``second.origin == first.destination`` (a trip starts at its first flight's origin and ends at its
    last flight's destination)."""
    keys = {t.search.pairs.key for t in spec.tools.values() if t.search and t.search.pairs and t.search.entity == entity and t.search.pairs.entity == entity}
    return {first for key in keys if key is not None for _, first in [key]}


def _tie_to_lists(state: State, tool: ToolSpec, args: dict[str, Any], given: Mapping[str, Any]) -> None:
    """A plain parameter named like a field of the rows a list of refs names takes that field from them:
    a trip's origin from its first flight, its destination from its last (by the domain's chain)."""
    spec = state.spec
    for lname, lparam in tool.params.items():
        ids = args.get(lname)
        if lparam.items is None or lparam.items.type != "ref" or not isinstance(ids, list) or not ids:
            continue
        entity = str(lparam.items.ref)
        fields = spec.entities[entity].fields
        ends = _chain_ends(spec, entity)
        first, last = state.get(entity, ids[0]), state.get(entity, ids[-1])
        for pname, param in tool.params.items():
            if pname in given or pname == lname or pname not in fields or param.type in ("list", "ref"):
                continue
            if pname not in args and not param.required:
                continue
            row = last if pname in ends else first
            value = row.get(pname) if row is not None else None
            if value is not None and param_fits(param, value):
                args[pname] = value


def _sum_rules(tool: ToolSpec) -> list[tuple[tuple[str, str], Expr]]:
    """((object list, field), what its items must add up to) for every ``sum(values(L, 'f')) == X`` a rule requires."""
    out: list[tuple[tuple[str, str], Expr]] = []
    for rule in tool.requires:
        if rule.for_each is not None:
            continue
        for node in ast.walk(rule.expr.node):
            if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
                continue
            for side, other in ((node.left, node.comparators[0]), (node.comparators[0], node.left)):
                summed = _summed_items(side, tool.params)
                if summed is not None:
                    out.append((summed, parse(ast.unparse(other))))
    return out


def _fill_sums(state: State, tool_name: str, sums: list[tuple[tuple[str, str], Expr]], args: dict[str, Any], rows: Mapping[str, dict[str, Any]]) -> None:
    """Object items whose field a rule adds up (``sum(values(payments, 'amount')) == price``) get amounts
    that add up to it: items whose row caps them (a gift card's balance, read from the per-item rule on
    that field) take what they can, the others share the rest."""
    spec = state.spec
    tool = spec.tools[tool_name]
    entities = spec.view(tool_name).entities
    for summed, other in sums:
        if not isinstance(args.get(summed[0]), list) or not args[summed[0]]:
            continue
        env = StateEnv(state, {"today": spec.today, "now": spec.clock, **args, **rows})
        for local, expr in tool.let_exprs.items():
            try:
                env.values[local] = expr.evaluate(env)
            except (ExprError, KeyError, TypeError):
                break
        try:
            target = other.evaluate(env)
        except (ExprError, KeyError, TypeError):
            continue
        if isinstance(target, int | float) and not isinstance(target, bool):
            _share(state, tool, entities, summed, args, float(target))


def _summed_items(node: ast.AST, params: Mapping[str, ParamSpec]) -> tuple[str, str] | None:
    """(object list, field) for ``sum(values(L, 'field'))``."""
    outer = _call_of(node, "sum")
    inner = _call_of(outer.args[0], "values") if outer is not None and len(outer.args) == 1 else None
    if inner is None or len(inner.args) != 2 or not isinstance(inner.args[0], ast.Name) or not isinstance(inner.args[1], ast.Constant):
        return None
    name, field = inner.args[0].id, inner.args[1].value
    if name not in params or params[name].fields is None or not isinstance(field, str) or field not in (params[name].fields or {}):
        return None
    return name, field


def _share(state: State, tool: ToolSpec, entities: Mapping[str, str], summed: tuple[str, str], args: dict[str, Any], target: float) -> None:
    lname, field = summed
    spec = tool.params[lname].fields or {}
    whole = spec[field].type == "int"
    items = [dict(i) for i in args[lname]]
    caps: list[float | None] = []
    for item in items:
        cap: float | None = None
        for rule in tool.requires:
            if rule.for_each != lname or not rule.as_ or (rule.as_, field) not in rule.expr.references():
                continue
            env = StateEnv(state, {rule.as_: item})
            for bvar, expr in rule.bind_exprs.items():
                try:
                    env.values[bvar] = state.get(entities[bvar], expr.evaluate(env))
                except (ExprError, KeyError, TypeError):
                    env.values[bvar] = None
            for var, attr in rule.expr.references():
                row = env.values.get(var)
                if var != rule.as_ and attr and isinstance(row, Mapping) and isinstance(row.get(attr), int | float) and not isinstance(row.get(attr), bool):
                    cap = float(row[attr]) if cap is None else min(cap, float(row[attr]))
        caps.append(cap)
    remaining = target
    free = [i for i, c in enumerate(caps) if c is None]
    capped = [i for i, c in enumerate(caps) if c is not None]
    for i in capped:
        amount = remaining if (not free and i == capped[-1]) else min(float(caps[i] or 0), remaining)
        items[i][field] = amount
        remaining -= amount
    for n, i in enumerate(free):
        amount = remaining if n == len(free) - 1 else remaining / (len(free) - n)
        items[i][field] = amount
        remaining -= amount
    for item in items:
        item[field] = round(item[field]) if whole else round(item[field], 2)
    args[lname] = items


def _list_candidate(
    state: State,
    tool_name: str,
    pname: str,
    param: ParamSpec,
    rows: dict[str, dict[str, Any]],
    rng: random.Random,
    pool: list[dict[str, Any]] | None,
    items_met: _ItemRules | None = None,
    args: Mapping[str, Any] | None = None,
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
            if paired is not None and most >= 3 and rng.random() < 0.5:  # and now and then a third leg: a two-stop trip
                paired = _extended(state, str(param.items.ref), paired, rng)
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
            value = model.get(fname) if f.type != "ref" or items_met is None else None
            if value is not None and param_fits(f, value) and (f.type != "ref" or state.get(str(f.ref), value)):
                item[fname] = value
                continue
            if f.type == "ref":  # an item's row meets the per-item rules on it (a payment method of the user's own)
                options = items_met.table(str(f.ref)) if items_met is not None else state.rows(str(f.ref))
                if items_met is not None:
                    options = items_met.rows(pname, options, args or {}, rows, item_field=fname) or options
            else:
                options = param_candidates(state, tool_name, fname, f, rows)
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


# ---------------------------------------------------------------- where bugs hide


def collision_calls(state: State, tool_name: str, base: Mapping[str, Any], rng: random.Random, rows_per_group: int = 3) -> list[dict[str, Any]]:
    """Calls that would give a created or changed row the values an existing row already holds, for
    every unique field and ``unique_together`` group the tool's effects fill from its arguments (a
    dentist and a start time already booked): a missing "already taken" rule shows up as a
    ``constraint_violation`` here, where random draws almost never meet an existing row.

    Each starts from ``base`` (a valid call where one exists) and sets only the arguments that fill
    the group; a group filled from anything else (a default, a fresh code) cannot collide."""
    spec = state.spec
    tool = spec.tools[tool_name]
    out: list[dict[str, Any]] = []
    targets: list[tuple[str, dict[str, str]]] = []
    for effect in [*tool.effects, *(e for loop in tool.loops for e in loop.do)]:
        if isinstance(effect, CreateEffect):
            targets.append((effect.create, {f: str(v) for f, v in effect.values.items() if isinstance(v, str)}))
    entities = spec.view(tool_name).entities
    for assignment in tool.all_assignments:
        if assignment.op == "=" and assignment.var in entities:
            targets.append((entities[assignment.var], {assignment.field: assignment.value.text}))
    for entity, sources in targets:
        espec = spec.entities[entity]
        groups = [[f] for f, fs in espec.fields.items() if fs.unique] + [list(g) for g in espec.unique_together]
        for group in groups:
            if not all(f in sources for f in group):
                continue
            for row in state.sample(entity, rng, rows_per_group):
                args = _arguments_giving(state, tool, {f: (sources[f], row[f]) for f in group}, base)
                if args is not None and args not in out:
                    out.append(args)
    return out


def _arguments_giving(state: State, tool: ToolSpec, wanted: Mapping[str, tuple[str, Any]], base: Mapping[str, Any]) -> dict[str, Any] | None:
    """``base`` with the arguments set so that each expression in ``wanted`` yields its value: a plain
    parameter takes the value, ``x.id`` takes it as the ref parameter of ``x``, ``x.f`` takes a row of
    x's entity whose f holds it. None when an expression is anything else."""
    args = dict(base)
    by_var = {ref_var(p): p for p, param in tool.params.items() if param.type == "ref"}
    for text, value in wanted.values():
        text = text.strip()
        if value is None:
            return None
        if text in tool.params and tool.params[text].type not in ("ref", "list"):
            args[text] = value
            continue
        var, _, attr = text.partition(".")
        if not attr or var not in by_var or not attr.isidentifier():
            return None
        pname = by_var[var]
        if attr == "id":
            args[pname] = value
            continue
        found = state.find(str(tool.params[pname].ref), {attr: value}, limit=1)
        if not found:
            return None
        args[pname] = found[0]["id"]
    return args


_TIME_FUNCTIONS = {"hours_between": dt.timedelta(hours=1), "minutes_between": dt.timedelta(minutes=1), "days_between": dt.timedelta(days=1)}


def time_edge_values(spec: DomainSpec, tool_name: str) -> dict[str, list[str]]:
    """Datetimes and dates at the edges of every time rule on a parameter: for
    ``hours_between(now, starts_at) >= 24``, ``starts_at`` at now+24h and a minute either side (a day
    either side for dates), where an off-by-one in a rule or a window hides."""
    tool = spec.tools[tool_name]
    now = dt.datetime.fromisoformat(spec.clock)
    out: dict[str, list[str]] = {}
    exprs = [r.expr for r in tool.requires] + list(tool.let_exprs.values())
    for expr in exprs:
        for node in ast.walk(expr.node):
            if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
                continue
            sides = [node.left, node.comparators[0]]
            call = next((s for s in sides if isinstance(s, ast.Call) and isinstance(s.func, ast.Name) and s.func.id in _TIME_FUNCTIONS), None)
            bound = next((s for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, int | float) and not isinstance(s.value, bool)), None)
            if call is None or bound is None or len(call.args) != 2:
                continue
            assert isinstance(call.func, ast.Name) and isinstance(bound.value, int | float)
            names = [a.id if isinstance(a, ast.Name) else None for a in call.args]
            for position, name in enumerate(names):
                other = names[1 - position]
                if name is None or name not in tool.params or other not in ("now", "today"):
                    continue
                param = tool.params[name]
                if param.type not in ("date", "datetime"):
                    continue
                unit = _TIME_FUNCTIONS[call.func.id]
                sign = 1 if position == 1 else -1  # between(now, x): x = now + n units; between(x, now): x = now - n units
                try:
                    edge = now + sign * unit * bound.value
                except OverflowError:  # a bound past any calendar: no edge to try
                    continue
                if param.type == "date":
                    try:
                        values = [(edge.date() + dt.timedelta(days=d)).isoformat() for d in (-1, 0, 1)]
                    except OverflowError:
                        continue
                else:
                    step = dt.timedelta(minutes=1) if call.func.id != "days_between" else dt.timedelta(days=1)
                    try:
                        values = [(edge + k * step).isoformat() for k in (-1, 0, 1)]
                    except OverflowError:
                        continue
                out.setdefault(name, [])
                out[name] += [v for v in values if v not in out[name]]
    return out


def bound_edge_values(spec: DomainSpec, tool_name: str) -> dict[str, list[float]]:
    """Numbers at the bounds of the fields a plain parameter sets, adds to or fills in a new row
    (``account.daily_limit = limit``, ``product.stock -= quantity``, a bag's ``weight_kg``): the
    field's min and max, and one past each."""
    tool = spec.tools[tool_name]
    entities = spec.view(tool_name).entities
    filled: list[tuple[str, str, str]] = [(entities[a.var], a.field, a.value.text.strip()) for a in tool.all_assignments if a.var in entities]
    for effect in [*tool.effects, *(e for loop in tool.loops for e in loop.do)]:
        if isinstance(effect, CreateEffect):  # a new row's field set straight from a parameter (a bag's weight)
            filled += [(effect.create, f, v.strip()) for f, v in effect.values.items() if isinstance(v, str)]
    out: dict[str, list[float]] = {}
    for entity, fname, pname in filled:
        if pname not in tool.params or tool.params[pname].kind != "number":
            continue
        f = spec.entities[entity].fields[fname]
        values = [v for b in (f.min, f.max) if b is not None for v in (b - 1, b, b + 1)]
        out.setdefault(pname, [])
        out[pname] += [v for v in values if v not in out[pname]]
    return out


# ---------------------------------------------------------------- rules as queries


class StateEnv:
    """Values by name over a state, for expressions evaluated outside a call: one candidate row (and the
    rows it binds) with the call's clock, or a call's arguments and rows read before it runs."""

    def __init__(self, state: State, values: dict[str, Any]) -> None:
        self.state = state
        self.values = values

    def lookup(self, name: str) -> Any:
        return self.values[name]

    def query(self, entity: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        return self.state.find(entity, where)


MAX_ROWS_QUERIED = 5000
"""rows of one table a rule is tested on when the gate looks for arguments that meet every rule"""


def _family(tool: ToolSpec, var: str) -> dict[str, Any]:
    """The row variables a ref parameter's row brings with it: itself and what ``bind`` reaches from it."""
    family: dict[str, Any] = {var: None}
    changed = True
    while changed:
        changed = False
        for bvar, expr in tool.bind_exprs.items():
            source, attr = expr.references()[0]
            if bvar not in family and source in family and attr:
                family[bvar] = expr
                changed = True
    return family


def _holds(rule_expr: Any, env: StateEnv) -> bool:
    try:
        return bool(rule_expr.evaluate(env))
    except (ExprError, KeyError, TypeError):
        return False


def rows_meeting_rules(state: State, tool_name: str, rules: list[RuleSpec]) -> dict[str, tuple[list[dict[str, Any]], RuleSpec | None]]:
    """For each ref parameter: the rows of its table that meet every rule reading only that row (and
    the rows it binds, the clock, counts and totals), found by testing the rules as queries over the
    table, and the first such rule no row meets alone (None when each is met by some row)."""
    spec = state.spec
    tool = spec.tools[tool_name]
    entities = spec.view(tool_name).entities
    out: dict[str, tuple[list[dict[str, Any]], RuleSpec | None]] = {}
    for var, pname in tool.ref_params.items():
        family = _family(tool, var)
        own = [r for r in rules if r.for_each is None and {n for n, a in r.expr.references() if a is not None or n not in ("today", "now")} <= set(family)
               and any(n == var or n in family for n, _ in r.expr.references())]  # fmt: skip
        if not own:
            continue
        met: dict[int, int] = dict.fromkeys(range(len(own)), 0)
        rows: list[dict[str, Any]] = []
        for row in state.head(entities[var], MAX_ROWS_QUERIED):
            env = StateEnv(state, {"today": spec.today, "now": spec.clock, var: row})
            for bvar, expr in family.items():
                if expr is not None:
                    try:
                        row_id = expr.evaluate(env)
                    except (ExprError, KeyError, TypeError):
                        row_id = None
                    env.values[bvar] = state.get(entities[bvar], row_id) if row_id is not None else None
            results = [_holds(rule.expr, env) for rule in own]
            for i, ok in enumerate(results):
                met[i] += ok
            if all(results):
                rows.append(row)
        unmet = next((own[i] for i, n in met.items() if n == 0), None)
        out[pname] = (rows, unmet)
    return out


def seed_keys(spec: DomainSpec, tool_name: str, rule: RuleSpec, state: State | None = None) -> list[str]:
    """The blueprint keys whose seed data a rule reads (what would supply a row that meets it), with
    the values the seed holds now for a choice among a few (an enum, a bool: ``weights`` list True first)."""
    entities = spec.view(tool_name).entities
    keys: list[str] = []
    for name, attr in rule.expr.references():
        if attr is None or name not in entities:
            continue
        entity = entities[name]
        f = spec.entities[entity].fields.get(attr)
        if f is None:
            continue
        base = f"entities.{entity}.fields.{attr}"
        if f.derive:
            key = f"{base}.derive"
        elif f.choices:
            key = f"{base}.choices"
        elif f.type in ("enum", "bool"):
            key = f"{base}.weights" + (" (read as [true, false])" if f.type == "bool" else "")
            if state is not None:
                counts = state.value_counts(entity, attr)
                key += " now " + ", ".join(f"{str(v).lower() if isinstance(v, bool) else v}: {n}" for v, n in sorted(counts.items(), key=str))
        elif f.kind in ("number",) or f.type in ("date", "datetime"):
            key = f"{base}.range"
        else:
            key = f"{base}.sample"
        for k in (key, f"entities.{entity}.count"):
            if k not in keys:
                keys.append(k)
    return keys


def satisfying_call(state: State, tool_name: str, *, keep: list[RuleSpec] | None = None, limit: int = 300) -> tuple[dict[str, Any] | None, str]:
    """Arguments that meet all of a tool's rules together, searched for in the rows (each rule's
    conditions as queries over the tables, then calls combining the rows that meet them), and when
    there are none, why: the rule no row meets and the seed keys that would supply one.

    ``keep``: rules the call must keep besides the tool's own (agent-kept ones: the tool accepts a
    call that breaks them, so a success alone does not show they held)."""
    spec = state.spec
    tool = spec.tools[tool_name]
    keep = keep or []
    rules = [r for r in tool.requires if r.kept_by == "tool"] + keep
    found = rows_meeting_rules(state, tool_name, rules)
    for pname, (_, unmet) in found.items():
        if unmet is not None:
            entity = str(tool.params[pname].ref)
            keys = seed_keys(spec, tool_name, unmet, state)
            return None, (f"no {entity} row meets the rule '{unmet.check}' ({unmet.error}); "
                          f"seed keys that would supply one: {', '.join(keys) or 'none found'}")  # fmt: skip
    pools = {pname: rows for pname, (rows, _) in found.items()}
    empty = [p for p, rows in pools.items() if not rows]
    if empty:
        pname = empty[0]
        entity = str(tool.params[pname].ref)
        own = [r for r in rules if any(n in _family(tool, ref_var(pname)) for n, _ in r.expr.references())]
        checks = "; ".join(f"'{r.check}'" for r in own)
        keys = [k for r in own for k in seed_keys(spec, tool_name, r, state)]
        return None, (f"no {entity} row meets these rules together (each alone is met): {checks}; "
                      f"seed keys that would supply one: {', '.join(dict.fromkeys(keys)) or 'none found'}")  # fmt: skip
    rng = random.Random(f"{spec.name}:{tool_name}:satisfying")
    scratch = State.from_snapshot(spec, state.snapshot())
    furthest = ""
    try:
        for args in candidate_calls(state, tool_name, rng, limit, pools={p: r for p, r in pools.items() if r}, like_rows=True):
            with scratch.trial():
                result = execute(scratch, tool_name, args)
            if result.ok and not any(r.error in result.breaches for r in keep):
                return args, ""
            if not result.ok and result.error is not None:
                furthest = result.error.message
            elif result.ok:
                furthest = "; ".join(e for e in result.breaches if e in {r.error for r in keep})
    finally:
        scratch.close()
    return None, (f"the binder could not draw arguments that meet the rules together: rows meeting each parameter's "
                  f"own rules exist, but none of the {limit} calls it drew from them kept every rule (the last failed "
                  f"with: {furthest or 'nothing tried'}); the seed may be fine, the binder cannot yet draw what goes together here")  # fmt: skip
