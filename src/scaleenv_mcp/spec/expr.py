"""A small, safe expression language for preconditions, effects and seed derivations.

Blueprints (some written by an LLM) describe business rules as text such as
``order.status in ['pending', 'paid']`` or ``product.stock -= quantity``. We parse that
text with :mod:`ast` and *interpret* a whitelisted subset ourselves: nothing is ever
passed to ``eval``/``exec``, attribute access is limited to row fields, and the only
callable names are the functions defined in this module. An expression that uses
anything else is rejected when the blueprint is loaded, not when a tool runs.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

from ..errors import ScaleenvError
from .types import Kind

__all__ = [
    "QUERY_FUNCTIONS",
    "Assignment",
    "Env",
    "Expr",
    "ExprError",
    "Kind",
    "parse",
    "parse_assignment",
    "row_matches",
    "span",
    "split_lookup",
]


class ExprError(ScaleenvError, ValueError):
    """An expression that cannot be parsed, is not allowed, or fails at evaluation.

    ``start``/``end`` locate the offending part in the expression's text when it is known (a
    blueprint error puts a caret under it)."""

    default_status = 400

    def __init__(self, message: str, start: int | None = None, end: int | None = None) -> None:
        super().__init__(message)
        self.start = start
        self.end = end


def span(text: str, node: ast.AST) -> tuple[int, int]:
    """Character offsets of ``node`` in the ``text`` it was parsed from (ast counts UTF-8 bytes per line)."""
    lines = text.split("\n")

    def offset(lineno: int, col: int) -> int:
        before = sum(len(line) + 1 for line in lines[: lineno - 1])
        line = lines[lineno - 1] if lineno - 1 < len(lines) else ""
        return before + len(line.encode()[:col].decode(errors="ignore"))

    start = offset(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
    end = offset(getattr(node, "end_lineno", None) or 1, getattr(node, "end_col_offset", None) or 0)
    return start, max(end, start + 1)


class Env(Protocol):
    """What an expression can see while it is evaluated."""

    def lookup(self, name: str) -> Any:
        """Value of a bare name (a parameter, a bound row, ``today``, ``now``); KeyError if unknown."""

    def query(self, entity: str, where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rows of ``entity`` whose fields equal ``where`` (used by count/exists/total)."""


Compiled = Callable[[Env], Any]
"""an expression turned into nested closures: evaluated without walking its syntax tree"""


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or len(value) < 10:
        raise ExprError(f"expected a date like '2026-03-15', got {value!r}")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError as exc:
        raise ExprError(f"expected a date like '2026-03-15', got {value!r}") from exc


def _add_days(value: Any, days: Any) -> str:
    if not isinstance(days, int | float):
        raise ExprError(f"add_days needs a number of days, got {days!r}")
    shifted = _as_date(value) + dt.timedelta(days=int(days))
    if isinstance(value, str) and len(value) > 10:
        return shifted.isoformat() + value[10:]
    return shifted.isoformat()


def _days_between(start: Any, end: Any) -> int:
    return (_as_date(end) - _as_date(start)).days


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        value += "T00:00:00"  # a date is its midnight
    if not isinstance(value, str):
        raise ExprError(f"expected a date-time like '2026-03-15T14:30:00', got {value!r}")
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ExprError(f"expected a date-time like '2026-03-15T14:30:00', got {value!r}") from exc


def _add_minutes(value: Any, minutes: Any) -> str:
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or abs(minutes) > 10_000_000:
        raise ExprError(f"add_minutes/add_hours need a number (within 19 years), got {minutes!r}")
    return (_as_datetime(value) + dt.timedelta(minutes=int(minutes))).isoformat()


def _add_hours(value: Any, hours: Any) -> str:
    if not isinstance(hours, int | float) or isinstance(hours, bool):
        raise ExprError(f"add_hours needs a number of hours, got {hours!r}")
    return _add_minutes(value, round(hours * 60))


def _minutes_between(start: Any, end: Any) -> int:
    return int((_as_datetime(end) - _as_datetime(start)).total_seconds() // 60)


def _hours_between(start: Any, end: Any) -> float:
    return round((_as_datetime(end) - _as_datetime(start)).total_seconds() / 3600, 2)


def _date_of(value: Any) -> str:
    return _as_date(value).isoformat()


def _lower(value: Any) -> str:
    return str(value).lower()


def _len(value: Any) -> int:
    if not isinstance(value, str | list | tuple):
        raise ExprError(f"len() needs text or a list, got {value!r}")
    return len(value)


def _round(value: Any, digits: Any = 0) -> float:
    return round(float(value), int(digits))


def _sum(value: Any) -> float:
    """The sum of a list of numbers (a missing value counts as 0), to the cent."""
    if not isinstance(value, list | tuple):
        raise ExprError(f"sum() needs a list, got {value!r}")
    if any(not isinstance(v, int | float) or isinstance(v, bool) for v in value if v is not None):
        raise ExprError(f"sum() needs a list of numbers, got {value!r}")
    return round(sum(float(v or 0) for v in value), 2)


def _values(items: Any, name: Any) -> list[Any]:
    """One field of every object item of a list, in order (null where an item leaves it out):
    ``values(payments, 'amount')``."""
    if not isinstance(items, list | tuple) or not isinstance(name, str):
        raise ExprError("values() needs a list of objects and a field name in quotes")
    return [item.get(name) if isinstance(item, Mapping) else None for item in items]


def _count_same(first: Any, second: Any) -> int:
    """At how many positions two lists hold the same value: ``count_same(item_ids, new_item_ids) == 0``
    (no item replaced by itself)."""
    if not isinstance(first, list | tuple) or not isinstance(second, list | tuple):
        raise ExprError("count_same() needs two lists")
    return sum(1 for a, b in zip(first, second, strict=False) if a == b)


def _count_of(items: Any, value: Any) -> int:
    """How many times a value occurs in a list: ``count_of(item_ids, line.item_id)``."""
    if not isinstance(items, list | tuple):
        raise ExprError(f"count_of() needs a list, got {items!r}")
    return sum(1 for v in items if v == value)


PURE_FUNCTIONS: dict[str, tuple[Callable[..., Any], Kind]] = {
    "add_days": (_add_days, "string"),
    "days_between": (_days_between, "number"),
    "add_hours": (_add_hours, "string"),
    "add_minutes": (_add_minutes, "string"),
    "hours_between": (_hours_between, "number"),
    "minutes_between": (_minutes_between, "number"),
    "date": (_date_of, "string"),
    "lower": (_lower, "string"),
    "len": (_len, "number"),
    "abs": (abs, "number"),
    "round": (_round, "number"),
    "min": (min, "number"),
    "max": (max, "number"),
    "sum": (_sum, "number"),
    "values": (_values, "list"),
    "count_of": (_count_of, "number"),
    "count_same": (_count_same, "number"),
}

LOOKUPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "lte": lambda a, b: a is not None and b is not None and a <= b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "gte": lambda a, b: a is not None and b is not None and a >= b,
    "in": lambda a, b: a in b,
}


def split_lookup(key: str) -> tuple[str, str]:
    """``check_in__lt`` -> (``check_in``, ``lt``); a bare field compares for equality."""
    field_name, sep, op = key.rpartition("__")
    if sep and op in LOOKUPS:
        return field_name, op
    return key, "eq"


def row_matches(row: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether a row satisfies query keywords such as ``status='open', due__lt=today``."""
    for key, value in where.items():
        field_name, op = split_lookup(key)
        if not LOOKUPS[op](row.get(field_name), value):
            return False
    return True


QUERY_FUNCTIONS: dict[str, Kind] = {"count": "number", "exists": "bool", "total": "number", "each": "list", "column": "list"}
"""Functions that read the state: ``count('loan', member_id=member.id, status='active')``,
``exists(...)``, ``total('payment', 'amount', order_id=order.id)`` and ``each('flight', 'origin',
flight_ids)`` (one field of the row each id of a list names, in the list's order, duplicates kept)
and ``column('segment', 'flight_id', reservation_id=r.id)`` (one field of every matching row, by id);
the first argument is an entity name given as a string literal. Keywords may carry a lookup
suffix: ``check_in__lt=x`` (also ``__lte``, ``__gt``, ``__gte``, ``__ne``, ``__in``)."""

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


@dataclass(frozen=True)
class Expr:
    """A parsed, checked expression. Evaluate it against an :class:`Env`."""

    text: str
    node: ast.expr = field(repr=False, compare=False)

    @cached_property
    def evaluate(self) -> Compiled:
        """``expr.evaluate(env)``: the value of the expression in ``env``. The expression is compiled
        on first use into closures (see :func:`_compile`), which are then called directly."""
        return _compiled(self.node, self.text)

    def __getstate__(self) -> dict[str, Any]:
        """Without the compiled closures: a spec crosses processes as data and compiles again there."""
        return {k: v for k, v in self.__dict__.items() if k != "evaluate"}

    def references(self) -> list[tuple[str, str | None]]:
        """Every ``name`` and ``name.field`` the expression reads, in order."""
        return list(self._references)

    @cached_property
    def _references(self) -> tuple[tuple[str, str | None], ...]:
        """Walked once: binding asks for them for every candidate call (the node never changes)."""
        found: list[tuple[str, str | None]] = []
        _collect_refs(self.node, found)
        return tuple(found)

    def equalities(self) -> list[tuple[str, str, str, str]]:
        """``(a, f, b, g)`` for every ``a.f == b.g`` the expression requires outright (alone or joined by
        ``and``), both ways round: what a binder keeps so rows agree, and what a pairs search is found by."""
        return list(self._equalities)

    @cached_property
    def _equalities(self) -> tuple[tuple[str, str, str, str], ...]:
        out: list[tuple[str, str, str, str]] = []
        stack: list[ast.AST] = [self.node]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
                stack.extend(node.values)
            elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
                a, b = node.left, node.comparators[0]
                if isinstance(a, ast.Attribute) and isinstance(a.value, ast.Name) and isinstance(b, ast.Attribute) and isinstance(b.value, ast.Name):
                    out += [(a.value.id, a.attr, b.value.id, b.attr), (b.value.id, b.attr, a.value.id, a.attr)]
        return tuple(out)

    def query_calls(self) -> list[tuple[str, list[str], list[str]]]:
        """(entity, positional field names after the entity, keyword field names) per query call."""
        calls = []
        for n in ast.walk(self.node):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in QUERY_FUNCTIONS:
                entity = n.args[0].value if n.args and isinstance(n.args[0], ast.Constant) else ""
                positional = [a.value for a in n.args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                calls.append((str(entity), positional, [split_lookup(k.arg)[0] for k in n.keywords if k.arg]))
        return calls

    def kind(self, resolve: Callable[[str, str | None], Kind]) -> Kind:
        """Coarse static type, given how names and fields resolve; 'unknown' when unsure."""
        return _infer(self.node, resolve)


@dataclass(frozen=True)
class Assignment:
    """``var.field = expr``, ``var.field += expr`` or ``var.field -= expr``."""

    text: str
    var: str
    field: str
    op: Literal["=", "+=", "-="]
    value: Expr


MAX_TEXT = 2_000
"""characters in one expression"""
MAX_NODES = 400
"""syntax nodes in one expression"""
MAX_DEPTH = 40
"""nesting depth of one expression (the evaluator recurses; this keeps it far from Python's limit)"""
MAX_VALUE = 100_000
"""characters (or items) a string (or list) built by an expression may have"""


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


def _bounded(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ExprError("expected a non-empty expression")
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression of {len(text):,} characters; at most {MAX_TEXT:,} are allowed")
    return text.strip()


def _check_size(node: ast.AST, text: str) -> None:
    """Count nodes and depth without recursion, before anything recursive sees the tree."""
    stack: list[tuple[ast.AST, int]] = [(node, 1)]
    count = 0
    while stack:
        current, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExprError(f"in {_shown(text)}: more than {MAX_NODES} parts; split the rule or simplify it")
        if depth > MAX_DEPTH:
            raise ExprError(f"in {_shown(text)}: nested deeper than {MAX_DEPTH} levels; simplify it")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(current))


def _ast(text: str, mode: str) -> ast.AST:
    try:
        return ast.parse(text, mode=mode)
    except SyntaxError as exc:
        where = (exc.offset - 1) if exc.offset and (exc.lineno or 1) == 1 else None
        if where is not None:
            where = min(len(text.encode()[:where].decode(errors="ignore")), max(len(text) - 1, 0))
        hint = "; compare with == (a rule is a condition, not an assignment)" if mode == "eval" and _is_assignment(text) else ""
        raise ExprError(f"cannot parse {_shown(text)}: {exc.msg}{hint}", where, None if where is None else where + 1) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"cannot parse {_shown(text)}: too deeply nested") from None


def _is_assignment(text: str) -> bool:
    try:
        tree = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)


def parse(text: str) -> Expr:
    """Parse and check an expression; raise :class:`ExprError` saying what is not allowed."""
    text = _bounded(text)
    tree = _ast(text, "eval")
    assert isinstance(tree, ast.Expression)
    _check_size(tree.body, text)
    _check(tree.body, text)
    return Expr(text, tree.body)


def parse_assignment(text: str) -> Assignment:
    """Parse ``var.field = expr`` (or ``+=`` / ``-=``)."""
    text = _bounded(text)
    tree = _ast(text, "exec")
    assert isinstance(tree, ast.Module)
    _check_size(tree, text)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign | ast.AugAssign):
        raise ExprError(f"effect {text!r} must be one assignment like \"order.status = 'cancelled'\"")
    stmt = tree.body[0]
    if isinstance(stmt, ast.Assign):
        if len(stmt.targets) != 1:
            raise ExprError(f"effect {text!r} assigns more than one target")
        target, op, value = stmt.targets[0], "=", stmt.value
    else:
        if not isinstance(stmt.op, ast.Add | ast.Sub):
            raise ExprError(f"effect {text!r}: only =, += and -= are allowed")
        target, op, value = stmt.target, "+=" if isinstance(stmt.op, ast.Add) else "-=", stmt.value
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
        raise ExprError(f"effect {text!r} must assign to a field like order.status")
    _check(value, text)
    value_text = ast.get_source_segment(text.strip(), value) or ast.unparse(value)
    return Assignment(text.strip(), target.value.id, target.attr, op, Expr(value_text, value))  # type: ignore[arg-type]


def _check(node: ast.AST, text: str) -> None:
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute):
            if not isinstance(child.value, ast.Name):
                raise ExprError(f"in {text!r}: only one level of field access (row.field) is allowed")
            if child.attr.startswith("_"):
                raise ExprError(f"in {text!r}: field names cannot start with '_'")
        elif isinstance(child, ast.Call):
            if not isinstance(child.func, ast.Name):
                raise ExprError(f"in {text!r}: only plain function calls are allowed")
            name = child.func.id
            if name not in PURE_FUNCTIONS and name not in QUERY_FUNCTIONS:
                options = sorted([*PURE_FUNCTIONS, *QUERY_FUNCTIONS])
                close = difflib.get_close_matches(name, options, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (functions: {', '.join(options)})"
                raise ExprError(f"in {text!r}: unknown function {name!r}{hint}", *span(text, child.func))
            if name in QUERY_FUNCTIONS:
                first = child.args[0] if child.args else None
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    raise ExprError(f"in {text!r}: {name}() needs an entity name in quotes first")
                if name in ("total", "column") and not (
                    len(child.args) == 2 and isinstance(child.args[1], ast.Constant) and isinstance(child.args[1].value, str)
                ):
                    raise ExprError(f"in {text!r}: {name}() needs an entity and a field name in quotes")
                if name == "each" and not (
                    len(child.args) == 3 and not child.keywords and isinstance(child.args[1], ast.Constant) and isinstance(child.args[1].value, str)
                ):
                    raise ExprError(f"in {text!r}: each() needs an entity and a field name in quotes, then a list of ids")
                if name not in ("total", "each", "column") and len(child.args) != 1:
                    raise ExprError(f"in {text!r}: {name}() takes filters as field=value keywords")
            elif child.keywords:
                raise ExprError(f"in {text!r}: {name}() takes no keyword arguments")
            if any(k.arg is None for k in child.keywords) or any(isinstance(a, ast.Starred) for a in child.args):
                raise ExprError(f"in {text!r}: * and ** are not allowed")
        elif isinstance(child, ast.BinOp) and type(child.op) not in _BINOPS:
            raise ExprError(f"in {text!r}: operator {type(child.op).__name__} is not allowed")
        elif isinstance(child, ast.Compare):
            for op in child.ops:
                if type(op) not in _COMPARE:
                    raise ExprError(f"in {text!r}: comparison {type(op).__name__} is not allowed")
        elif isinstance(child, ast.UnaryOp) and not isinstance(child.op, ast.Not | ast.USub | ast.UAdd):
            raise ExprError(f"in {text!r}: operator {type(child.op).__name__} is not allowed")
        elif isinstance(child, ast.Constant) and not isinstance(child.value, str | int | float | bool | type(None)):
            raise ExprError(f"in {text!r}: constant {child.value!r} is not allowed")
        elif isinstance(child, ast.Name) and child.id.startswith("_"):
            raise ExprError(f"in {text!r}: names cannot start with '_'")
        elif isinstance(child, ast.Subscript) and not _plain_index(child.slice):
            raise ExprError(f"in {text!r}: a list is indexed by a whole number ([0], [-1]) or sliced by them ([1:], [:-1])", *span(text, child))
        elif not isinstance(child, _ALLOWED_NODES):
            raise ExprError(f"in {text!r}: {type(child).__name__} is not allowed in an expression")


_ALLOWED_NODES = (
    ast.Attribute, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare,
    ast.Call, ast.keyword, ast.List, ast.Tuple, ast.IfExp, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    ast.operator, ast.cmpop, ast.Subscript, ast.Slice,
)  # fmt: skip


def _whole(node: ast.AST | None) -> bool:
    """A whole-number literal, maybe negative: what an index or a slice bound may be."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool)


def _plain_index(node: ast.AST) -> bool:
    """``[0]``, ``[-1]``, ``[1:]``, ``[:-1]``: order within a list (the first flight, each one after it), nothing computed."""
    if isinstance(node, ast.Slice):
        return node.step is None and all(b is None or _whole(b) for b in (node.lower, node.upper))
    return _whole(node)


def _collect_refs(node: ast.AST, found: list[tuple[str, str | None]]) -> None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        found.append((node.value.id, node.attr))
        return
    if isinstance(node, ast.Name):
        found.append((node.id, None))
        return
    if isinstance(node, ast.Call):
        for arg in node.args:
            _collect_refs(arg, found)
        for kw in node.keywords:
            _collect_refs(kw.value, found)
        return
    for child in ast.iter_child_nodes(node):
        _collect_refs(child, found)


def _compiled(node: ast.expr, text: str) -> Compiled:
    """The whole expression as one closure; a type or value error while evaluating becomes an
    :class:`ExprError` naming the expression (as one an interpreter would raise)."""
    inner = _compile(node, text)

    def evaluate(env: Env) -> Any:
        try:
            return inner(env)
        except ExprError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ExprError(f"cannot evaluate {text!r}: {exc}") from exc

    return evaluate


def _compile(node: ast.AST, text: str) -> Compiled:
    """One node as a closure over its children's closures (built once per expression: a tool's rules
    and effects run on every call, and walking the tree each time cost a fifth of a write call)."""
    match node:
        case ast.Constant(value=value):
            return lambda env: value
        case ast.Name(id=name):
            return _name(name, text)
        case ast.Attribute(value=ast.Name(id=name), attr=attr):
            return _field(name, attr, text)
        case ast.BoolOp(op=ast.And(), values=operands):
            conjuncts = [_compile(o, text) for o in operands]

            def all_of(env: Env) -> Any:
                result: Any = True
                for operand in conjuncts:
                    result = operand(env)
                    if not result:
                        return result
                return result

            return all_of
        case ast.BoolOp(op=ast.Or(), values=operands):
            disjuncts = [_compile(o, text) for o in operands]

            def any_of(env: Env) -> Any:
                result: Any = False
                for operand in disjuncts:
                    result = operand(env)
                    if result:
                        return result
                return result

            return any_of
        case ast.UnaryOp(op=unary, operand=operand):
            inner = _compile(operand, text)
            if isinstance(unary, ast.Not):
                return lambda env: not inner(env)
            if isinstance(unary, ast.USub):
                return lambda env: -inner(env)
            return lambda env: +inner(env)
        case ast.BinOp(left=left, op=binary, right=right):
            lhs, rhs = _compile(left, text), _compile(right, text)
            return lambda env: _binop(binary, lhs(env), rhs(env))
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            return _comparison(left, ops, comparators, text)
        case ast.IfExp(test=test, body=body, orelse=orelse):
            condition, then, otherwise = _compile(test, text), _compile(body, text), _compile(orelse, text)
            return lambda env: then(env) if condition(env) else otherwise(env)
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            items = [_compile(e, text) for e in elts]
            return lambda env: [item(env) for item in items]
        case ast.Subscript(value=value, slice=index):
            return _subscript(_compile(value, text), index, text)
        case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
            if name in QUERY_FUNCTIONS:
                return _query(name, args, keywords, text)
            arguments = [_compile(a, text) for a in args]

            def call(env: Env) -> Any:
                fn = PURE_FUNCTIONS[name][0]
                return fn(*[a(env) for a in arguments])

            return call
    kind = type(node).__name__

    def refused(env: Env) -> Any:
        raise ExprError(f"in {text!r}: cannot evaluate {kind}")

    return refused


def _name(name: str, text: str) -> Compiled:
    def value_of(env: Env) -> Any:
        try:
            return env.lookup(name)
        except KeyError:
            raise ExprError(f"in {text!r}: unknown name {name!r}") from None

    return value_of


def _field(name: str, attr: str, text: str) -> Compiled:
    row_of = _name(name, text)

    def field_of(env: Env) -> Any:
        row = row_of(env)
        if type(row) is dict and attr in row:  # a row, as nearly always
            return row[attr]
        if row is None:
            raise ExprError(f"in {text!r}: {name} is not set, so {name}.{attr} has no value")
        if not isinstance(row, Mapping) or attr not in row:
            raise ExprError(f"in {text!r}: {name} has no field {attr!r}")
        return row[attr]

    return field_of


_NULL_SAFE = (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)
"""comparisons that hold or fail on a null; any other with a null operand is false"""


def _comparison(left: ast.expr, ops: Sequence[ast.cmpop], comparators: Sequence[ast.expr], text: str) -> Compiled:
    first = _compile(left, text)
    steps = [(_COMPARE[type(op)], isinstance(op, _NULL_SAFE), _compile(c, text)) for op, c in zip(ops, comparators, strict=True)]
    if len(steps) == 1:
        holds, null_safe, second = steps[0]

        def compare(env: Env) -> bool:
            a, b = first(env), second(env)
            if (a is None or b is None) and not null_safe:
                return False
            return bool(holds(a, b))

        return compare

    def chain(env: Env) -> bool:
        current = first(env)
        for holds, null_safe, comparator in steps:
            other = comparator(env)
            if (current is None or other is None) and not null_safe:
                return False
            if not holds(current, other):
                return False
            current = other
        return True

    return chain


def _subscript(of: Compiled, index: ast.expr, text: str) -> Compiled:
    if isinstance(index, ast.Slice):
        lower = _compile(index.lower, text) if index.lower is not None else None
        upper = _compile(index.upper, text) if index.upper is not None else None

        def sliced(env: Env) -> Any:
            seq = _indexable(of(env), text)
            low = lower(env) if lower is not None else None
            high = upper(env) if upper is not None else None
            return list(seq[low:high]) if not isinstance(seq, str) else seq[low:high]

        return sliced
    position_of = _compile(index, text)

    def item(env: Env) -> Any:
        seq = _indexable(of(env), text)
        position = position_of(env)
        if not -len(seq) <= position < len(seq):
            raise ExprError(f"in {text!r}: no item {position} in a list of {len(seq)}")
        return seq[position]

    return item


def _indexable(seq: Any, text: str) -> Any:
    if not isinstance(seq, list | tuple | str):
        raise ExprError(f"in {text!r}: only a list or text can be indexed, not {seq!r}")
    return seq


def _query(name: str, args: Sequence[ast.expr], keywords: Sequence[ast.keyword], text: str) -> Compiled:
    """count / exists / total / column / each: the entity and field names are literals (checked at parse)."""
    entity = args[0].value  # type: ignore[attr-defined]
    if name == "each":
        field_name, ids_of = args[1].value, _compile(args[2], text)  # type: ignore[attr-defined]
        return lambda env: _each(env, entity, field_name, ids_of(env), text)
    where_of = [(kw.arg, _compile(kw.value, text)) for kw in keywords if kw.arg]

    def rows_of(env: Env) -> list[dict[str, Any]]:
        return env.query(entity, {key: value(env) for key, value in where_of})

    if name == "count":
        return lambda env: len(rows_of(env))
    if name == "exists":
        return lambda env: bool(rows_of(env))
    field_name = args[1].value  # type: ignore[attr-defined]
    if name == "column":
        return lambda env: [r[field_name] for r in sorted(rows_of(env), key=lambda r: str(r["id"]))]
    return lambda env: round(sum(float(r[field_name] or 0) for r in rows_of(env)), 2)


def _each(env: Env, entity: str, field_name: str, ids: Any, text: str) -> list[Any]:
    if not isinstance(ids, list | tuple):
        raise ExprError(f"in {text!r}: each() needs a list of ids, got {ids!r}")
    rows = {r["id"]: r for r in env.query(entity, {"id__in": sorted({str(i) for i in ids})})} if ids else {}
    return [rows[i][field_name] if i in rows else None for i in ids]


def _binop(op: ast.operator, left: Any, right: Any) -> Any:
    """An arithmetic operation whose result size is checked before it is built."""
    if isinstance(op, ast.Mult):
        sized, times = (left, right) if isinstance(left, str | list) else (right, left)
        if isinstance(sized, str | list) and isinstance(times, int) and len(sized) * max(0, times) > MAX_VALUE:
            raise ExprError(f"the result would have {len(sized) * times:,} items; at most {MAX_VALUE:,} are allowed")
    joined = isinstance(op, ast.Add) and isinstance(left, str | list) and isinstance(right, str | list)
    if joined and len(left) + len(right) > MAX_VALUE:
        raise ExprError(f"the result would have {len(left) + len(right):,} items; at most {MAX_VALUE:,} are allowed")
    if isinstance(left, int | float) and isinstance(right, int | float) and max(abs(left), abs(right)) > 1e300:
        raise ExprError("a number in the expression is too large")
    return _BINOPS[type(op)](left, right)


def _infer(node: ast.AST, resolve: Callable[[str, str | None], Kind]) -> Kind:
    match node:
        case ast.Constant(value=value):
            if value is None:
                return "null"
            if isinstance(value, bool):
                return "bool"
            return "number" if isinstance(value, int | float) else "string"
        case ast.Name(id=name):
            return resolve(name, None)
        case ast.Attribute(value=ast.Name(id=name), attr=attr):
            return resolve(name, attr)
        case ast.BoolOp(values=values):
            kinds = {_infer(v, resolve) for v in values} - {"null"}
            return kinds.pop() if len(kinds) == 1 else "unknown"
        case ast.Compare() | ast.UnaryOp(op=ast.Not()):
            return "bool"
        case ast.UnaryOp(operand=operand):
            return _infer(operand, resolve)
        case ast.BinOp(left=left, op=op, right=right):
            kinds = {_infer(left, resolve), _infer(right, resolve)}
            if kinds == {"number"}:
                return "number"
            if kinds == {"string"} and isinstance(op, ast.Add):
                return "string"
            return "unknown"
        case ast.IfExp(body=body, orelse=orelse):
            a, b = _infer(body, resolve), _infer(orelse, resolve)
            return a if a == b else "unknown"
        case ast.List() | ast.Tuple():
            return "list"
        case ast.Subscript(value=value, slice=ast.Slice()):
            sliced = _infer(value, resolve)  # a slice of text is text, of a list a list
            return sliced if sliced in ("string", "list") else "unknown"
        case ast.Call(func=ast.Name(id=name)):
            if name in QUERY_FUNCTIONS:
                return QUERY_FUNCTIONS[name]
            return PURE_FUNCTIONS[name][1] if name in PURE_FUNCTIONS else "unknown"
    return "unknown"


_ARGS: dict[str, tuple[Kind, ...]] = {
    "add_days": ("string", "number"),
    "days_between": ("string", "string"),
    "add_hours": ("string", "number"),
    "add_minutes": ("string", "number"),
    "hours_between": ("string", "string"),
    "minutes_between": ("string", "string"),
    "date": ("string",),
    "abs": ("number",),
    "round": ("number", "number"),
    "sum": ("list",),
    "values": ("list", "string"),
    "count_of": ("list",),
    "count_same": ("list", "list"),
}
"""what each function's arguments must be (``min``/``max`` take numbers, ``len`` text or a list)"""

_ARTICLE = {"number": "a number", "string": "text", "bool": "true/false", "list": "a list", "null": "null"}
_VERB = {ast.Add: "adds", ast.Sub: "subtracts", ast.Mult: "multiplies", ast.Div: "divides", ast.FloorDiv: "divides",
         ast.Mod: "takes the remainder of"}  # fmt: skip


def type_problems(
    node: ast.AST, resolve: Callable[[str, str | None], Kind], field_kind: Callable[[str, str], Kind]
) -> list[tuple[str, ast.AST]]:
    """Type errors in an expression, each with the node it is about: a comparison of a number with
    text, arithmetic on text, a function given the wrong kind of value, a count() filter whose value
    cannot equal its field. ``resolve`` gives the kind of a name (or ``name.field``), ``field_kind``
    the kind of an entity's field (for query filters); 'unknown' is never an error."""
    found: list[tuple[str, ast.AST]] = []

    def kind(n: ast.AST) -> Kind:
        return _infer(n, resolve)

    def known(k: Kind) -> bool:
        return k not in ("unknown", "null")

    for child in ast.walk(node):
        match child:
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                current = left
                for op, other in zip(ops, comparators, strict=True):
                    a, b = kind(current), kind(other)
                    if isinstance(op, ast.In | ast.NotIn):
                        if known(b) and b not in ("list", "string"):
                            found.append((f"'in' needs a list or text on its right; this is {_ARTICLE[b]}", other))
                        elif isinstance(other, ast.List | ast.Tuple) and known(a):
                            for item in other.elts:
                                k = kind(item)
                                if known(k) and k != a:
                                    found.append((f"{_ARTICLE[a]} can never be in a list of {_ARTICLE[k]} values", item))
                                    break
                        elif b == "string" and known(a) and a != "string":
                            found.append((f"'in' text needs text on its left; this is {_ARTICLE[a]}", current))
                    elif known(a) and known(b) and a != b:
                        left_text, right_text = ast.unparse(current), ast.unparse(other)
                        found.append((f"{left_text} is {_ARTICLE[a]} but {right_text} is {_ARTICLE[b]}; compare like with like", other))
                    elif isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE) and a in ("bool", "list") and a == b:
                        found.append((f"{_ARTICLE[a]} values cannot be ordered with <, <=, > or >=", child))
                    current = other
            case ast.BinOp(left=left, op=op, right=right):
                a, b = kind(left), kind(right)
                if not (known(a) and known(b)):
                    continue
                fine = (a == b == "number") or (isinstance(op, ast.Add) and a == b and a in ("string", "list")) or (
                    isinstance(op, ast.Mult) and {a, b} in ({"string", "number"}, {"list", "number"}))  # fmt: skip
                if not fine:
                    verb = _VERB.get(type(op), "combines")
                    found.append((f"{verb} {_ARTICLE[a]} and {_ARTICLE[b]}; arithmetic needs numbers (+ also joins two texts)", child))
            case ast.UnaryOp(op=ast.USub() | ast.UAdd(), operand=operand):
                k = kind(operand)
                if known(k) and k != "number":
                    found.append((f"a sign on {_ARTICLE[k]}; only numbers have one", child))
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
                wanted: tuple[Kind, ...] = _ARGS.get(name, ())
                if name in ("min", "max") and len(args) > 1:
                    wanted = tuple("number" for _ in args)
                for i, (arg, want) in enumerate(zip(args, wanted, strict=False)):
                    k = kind(arg)
                    if known(k) and k != want:
                        found.append((f"{name}() needs {_ARTICLE[want]} as argument {i + 1}, not {_ARTICLE[k]}", arg))
                if name == "len" and args and known(kind(args[0])) and kind(args[0]) not in ("string", "list"):
                    found.append((f"len() needs text or a list, not {_ARTICLE[kind(args[0])]}", args[0]))
                if name in QUERY_FUNCTIONS and args and isinstance(args[0], ast.Constant):
                    entity = str(args[0].value)
                    for kw in keywords:
                        fname, lookup = split_lookup(str(kw.arg))
                        f, k = field_kind(entity, fname), kind(kw.value)
                        if lookup == "in":
                            if known(k) and k != "list":
                                found.append((f"{kw.arg}= needs a list, not {_ARTICLE[k]}", kw.value))
                        elif known(f) and known(k) and f != k:
                            found.append((f"{entity}.{fname} is {_ARTICLE[f]} but {kw.arg}= gives {_ARTICLE[k]}", kw.value))
                    if name == "total" and len(args) == 2 and isinstance(args[1], ast.Constant):
                        summed = str(args[1].value)
                        f = field_kind(entity, summed)
                        if known(f) and f != "number":
                            found.append((f"total() adds up a number field; {entity}.{summed} is {_ARTICLE[f]}", args[1]))
    return found
