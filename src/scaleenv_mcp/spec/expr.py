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


QUERY_FUNCTIONS: dict[str, Kind] = {"count": "number", "exists": "bool", "total": "number"}
"""Functions that read the state: ``count('loan', member_id=member.id, status='active')``,
``exists(...)`` and ``total('payment', 'amount', order_id=order.id)``; the first argument
is an entity name given as a string literal. Keywords may carry a lookup suffix:
``check_in__lt=x`` (also ``__lte``, ``__gt``, ``__gte``, ``__ne``, ``__in``)."""

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

    def evaluate(self, env: Env) -> Any:
        return _Evaluator(env, self.text).visit(self.node)

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
                if name == "total" and not (
                    len(child.args) == 2 and isinstance(child.args[1], ast.Constant) and isinstance(child.args[1].value, str)
                ):
                    raise ExprError(f"in {text!r}: total() needs an entity and a field name in quotes")
                if name != "total" and len(child.args) != 1:
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
        elif not isinstance(child, _ALLOWED_NODES):
            raise ExprError(f"in {text!r}: {type(child).__name__} is not allowed in an expression")


_ALLOWED_NODES = (
    ast.Attribute, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare,
    ast.Call, ast.keyword, ast.List, ast.Tuple, ast.IfExp, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
    ast.operator, ast.cmpop,
)  # fmt: skip


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


class _Evaluator:
    def __init__(self, env: Env, text: str) -> None:
        self.env = env
        self.text = text

    def visit(self, node: ast.AST) -> Any:
        try:
            return self._visit(node)
        except ExprError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise ExprError(f"cannot evaluate {self.text!r}: {exc}") from exc

    def _visit(self, node: ast.AST) -> Any:
        match node:
            case ast.Constant(value=value):
                return value
            case ast.Name(id=name):
                try:
                    return self.env.lookup(name)
                except KeyError:
                    raise ExprError(f"in {self.text!r}: unknown name {name!r}") from None
            case ast.Attribute(value=ast.Name(id=name), attr=attr):
                row = self._visit(node.value)
                if row is None:
                    raise ExprError(f"in {self.text!r}: {name} is not set, so {name}.{attr} has no value")
                if not isinstance(row, Mapping) or attr not in row:
                    raise ExprError(f"in {self.text!r}: {name} has no field {attr!r}")
                return row[attr]
            case ast.BoolOp(op=ast.And(), values=operands):
                result: Any = True
                for operand_node in operands:
                    result = self._visit(operand_node)
                    if not result:
                        return result
                return result
            case ast.BoolOp(op=ast.Or(), values=operands):
                result = False
                for operand_node in operands:
                    result = self._visit(operand_node)
                    if result:
                        return result
                return result
            case ast.UnaryOp(op=unary, operand=operand):
                inner = self._visit(operand)
                if isinstance(unary, ast.Not):
                    return not inner
                return -inner if isinstance(unary, ast.USub) else +inner
            case ast.BinOp(left=left, op=binary, right=right):
                return _binop(binary, self._visit(left), self._visit(right))
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                current = self._visit(left)
                for cmp, comparator in zip(ops, comparators, strict=True):
                    other = self._visit(comparator)
                    if (current is None or other is None) and not isinstance(cmp, ast.Eq | ast.NotEq | ast.Is | ast.IsNot):
                        return False
                    if not _COMPARE[type(cmp)](current, other):
                        return False
                    current = other
                return True
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return self._visit(body) if self._visit(test) else self._visit(orelse)
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return [self._visit(e) for e in elts]
            case ast.Call(func=ast.Name(id=name), args=args, keywords=keywords):
                if name in QUERY_FUNCTIONS:
                    return self._query(name, args, keywords)
                fn = PURE_FUNCTIONS[name][0]
                return fn(*[self._visit(a) for a in args])
        raise ExprError(f"in {self.text!r}: cannot evaluate {type(node).__name__}")

    def _query(self, name: str, args: Sequence[ast.expr], keywords: Sequence[ast.keyword]) -> Any:
        entity = args[0].value  # type: ignore[attr-defined]
        where = {kw.arg: self._visit(kw.value) for kw in keywords if kw.arg}
        rows = self.env.query(entity, where)
        if name == "count":
            return len(rows)
        if name == "exists":
            return bool(rows)
        field_name = args[1].value  # type: ignore[attr-defined]
        return round(sum(float(r[field_name] or 0) for r in rows), 2)


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
