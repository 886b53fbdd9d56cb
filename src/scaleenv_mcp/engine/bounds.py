"""Bounds on a call's arguments, checked before any work is done on them.

A tool's arguments come from a model or a hostile client, so what a call costs must not grow
with what it sends: a 40,000-item list is refused on its length, before any item is looked
at (item-by-item schema validation took about a second per call and blocked the event loop
for every other client); an argument nested 300 deep or holding megabytes of text is refused
on a budget that stops counting at the limit; and text that is not valid Unicode (a lone
surrogate such as ``"\\ud800"``, which JSON can spell but UTF-8 cannot) is refused here, since
SQLite and every transport's encoder would raise on it later.

Every caller (the runtime, the coordinator before its policy monitor reads the named rows, and
the stdio transport for a line its JSON parser rejects) asks :func:`argument_problem`, so
the same input gets the same one-line ``invalid_arguments`` message on every path.
:func:`bounded_copy` is what an episode's call log keeps of arguments that were refused: small,
shallow and encodable, so listing the calls never fails.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..spec.model import MAX_ITEMS, ParamSpec

__all__ = [
    "MAX_ARGUMENT_DEPTH",
    "MAX_ARGUMENT_TEXT",
    "MAX_ARGUMENT_VALUES",
    "argument_problem",
    "bounded_copy",
    "printable",
]

MAX_ARGUMENT_DEPTH = 8
"""levels of lists and objects inside the arguments object (a list of objects of values needs 3)"""
MAX_ARGUMENT_VALUES = 10_000
"""values (scalars, lists and objects) in one call's arguments"""
MAX_ARGUMENT_TEXT = 100_000
"""characters of text (values and names) in one call's arguments"""

_SCALARS = (str, int, float)  # bool is an int; None is checked apart
_KEPT_ITEMS = 20
"""items of a list or object a refused call's log entry keeps; and levels, and characters of a text"""
_KEPT_DEPTH = 4
_KEPT_CHARS = 200


def _is_text(value: str) -> bool:
    """Whether a string can be encoded as UTF-8 (no lone surrogates)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _where(path: tuple[str | int, ...]) -> str:
    """``passengers[0].first_name``: a path as the schema messages write it."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "arguments"


def _bad_text(value: str) -> str:
    position = next(i for i, ch in enumerate(value) if 0xD800 <= ord(ch) <= 0xDFFF)
    return f"text that is not valid Unicode (a lone surrogate {value[position].encode('utf-8', 'backslashreplace').decode()} at character {position})"


def argument_problem(arguments: Mapping[str, Any], params: Mapping[str, ParamSpec] | None = None) -> str | None:
    """Why ``arguments`` are refused before validation, in one line, or None.

    Checked in this order, each at a cost bounded by the limits and not by the input: a list
    argument longer than its parameter's ``max_items`` (the length alone is read), then the
    whole value: nesting, number of values, amount of text, text that is not valid Unicode,
    names that are not text and values that are not JSON. What passes is safe to store, encode
    and log; whether it is *valid* is the schema's question, answered after this."""
    if params:
        for name, param in params.items():
            value = arguments.get(name)
            if param.type == "list" and isinstance(value, list):
                most = param.max_items if param.max_items is not None else MAX_ITEMS
                if len(value) > most:
                    return f"{name}: {len(value):,} items; at most {most} allowed"
    return None if _plain(arguments) else _walk(arguments)


_SHORT = 1_000
"""a text no longer than this, in ASCII, needs no closer look"""


def _plain(arguments: Mapping[str, Any]) -> bool:
    """Whether the arguments certainly pass: the shapes tools take (scalars, lists of scalars or of
    flat objects), short ASCII text, and totals under the limits; checked by exact type, inline.

    A no sends them to :func:`_walk`, which finds the problem, if any, and says where. The common
    call costs under a microsecond per value here, about a third of the full walk."""
    if len(arguments) > 64:
        return False
    values, text = len(arguments), 0
    for key, value in arguments.items():
        if type(key) is not str or len(key) > 256 or not key.isascii():
            return False
        kind = type(value)
        if kind is str:
            if len(value) > _SHORT or not value.isascii():
                return False
            text += len(value)
        elif kind is list:
            if len(value) > MAX_ITEMS:
                return False
            values += len(value)
            for item in value:
                kind = type(item)
                if kind is str:
                    if len(item) > _SHORT or not item.isascii():
                        return False
                    text += len(item)
                elif kind is dict:
                    if len(item) > 64:
                        return False
                    values += len(item)
                    for name, field in item.items():
                        if type(name) is not str or len(name) > 256 or not name.isascii():
                            return False
                        kind = type(field)
                        if kind is str:
                            if len(field) > _SHORT or not field.isascii():
                                return False
                            text += len(field)
                        elif field is not None and kind is not int and kind is not float and kind is not bool:
                            return False
                elif item is not None and kind is not int and kind is not float and kind is not bool:
                    return False
        elif value is not None and kind is not int and kind is not float and kind is not bool:
            return False
    return values <= MAX_ARGUMENT_VALUES and text <= MAX_ARGUMENT_TEXT


_Node = tuple[Any, int, "_Node | None", "str | int"]
"""(value, depth, parent node, key in the parent): paths are rebuilt only for a message"""


def _path(node: _Node) -> tuple[str | int, ...]:
    keys: list[str | int] = []
    current: _Node | None = node
    while current is not None and current[2] is not None:
        keys.append(current[3])
        current = current[2]
    return tuple(reversed(keys))


def _walk(arguments: Mapping[str, Any]) -> str | None:
    """The full check, depth first, stopping at the first problem or the first limit passed.

    Exact types are tested first (``type(v) is str``): an ``isinstance`` against an ABC costs
    about a microsecond per value, and this runs on every call with a list argument."""
    values, text = 0, 0
    stack: list[_Node] = [(arguments, 0, None, "")]
    while stack:
        node = stack.pop()
        value, depth = node[0], node[1]
        values += 1
        if values > MAX_ARGUMENT_VALUES:
            return f"{_where(_path(node))}: the arguments hold more than {MAX_ARGUMENT_VALUES:,} values"
        kind = type(value)
        if kind is str or (kind is not dict and kind is not list and isinstance(value, str)):
            text += len(value)
            if text > MAX_ARGUMENT_TEXT:
                return f"{_where(_path(node))}: the arguments hold more than {MAX_ARGUMENT_TEXT:,} characters of text"
            if not _is_text(value):
                return f"{_where(_path(node))}: {_bad_text(value)}"
            continue
        if value is None or kind is int or kind is float or kind is bool:
            continue
        is_list = kind is list or (kind is not dict and isinstance(value, list))
        if not is_list and not (kind is dict or isinstance(value, Mapping)):
            if isinstance(value, _SCALARS):
                continue
            return f"{_where(_path(node))}: a {kind.__name__} is not a JSON value (text, number, true/false, null, list or object)"
        if depth >= MAX_ARGUMENT_DEPTH:
            return f"{_where(_path(node))}: nested more than {MAX_ARGUMENT_DEPTH} levels deep"
        if len(value) > MAX_ARGUMENT_VALUES:
            what = "items" if is_list else "fields"
            return f"{_where(_path(node))}: {len(value):,} {what}; the arguments hold at most {MAX_ARGUMENT_VALUES:,} values"
        if is_list:
            stack.extend((item, depth + 1, node, i) for i, item in zip(range(len(value) - 1, -1, -1), reversed(value), strict=True))
            continue
        children: list[_Node] = []
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str):
                return f"{_where(_path(node))}: names must be text, got {type(key).__name__}"
            text += len(key)
            if text > MAX_ARGUMENT_TEXT:
                return f"{_where(_path(node))}: the arguments hold more than {MAX_ARGUMENT_TEXT:,} characters of text"
            if not _is_text(key):
                return f"{_where(_path(node))}: a name is {_bad_text(key)}"
            children.append((item, depth + 1, node, key))
        stack.extend(reversed(children))
    return None


def printable(text: str, limit: int = _KEPT_CHARS) -> str:
    """``text`` as UTF-8 can carry it (a lone surrogate written as ``\\ud800``), cut to ``limit`` characters."""
    cut = text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} chars)"
    return cut if _is_text(cut) else cut.encode("utf-8", "backslashreplace").decode("utf-8")


def bounded_copy(value: Any, depth: int = 0) -> Any:
    """A small JSON copy of ``value`` for a log: at most a few levels, items and characters, encodable.

    What is cut is marked (``"... (40,000 items)"``), so a listing shows that a call was oversized
    without holding it."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return printable(value)
    if depth >= _KEPT_DEPTH and isinstance(value, list | Mapping):
        return f"... (nested deeper than {depth} levels)"
    if isinstance(value, list):
        kept = [bounded_copy(item, depth + 1) for item in value[:_KEPT_ITEMS]]
        return [*kept, f"... ({len(value):,} items)"] if len(value) > _KEPT_ITEMS else kept
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i == _KEPT_ITEMS:
                out["..."] = f"{len(value):,} fields"
                break
            out[printable(key if isinstance(key, str) else repr(key))] = bounded_copy(item, depth + 1)
        return out
    return printable(repr(value))
