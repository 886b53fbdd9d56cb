"""What a field type means: the one home for it.

Every layer asks the same questions of a type — which coarse kind an expression of it has,
its JSON Schema, whether a Python value is a valid value of it (and in which normal form),
which seed generators can fill it — and every answer lives here, so a new type or a fixed
rule changes one module. SQL column types live with the state (all SQL is in the engine),
but they are chosen from :data:`KIND` and :data:`NUMERIC`, not from a second list.

The naming rule for references lives here too: a parameter or field ``order_id`` of type
``ref`` binds the row variable ``order`` (:func:`ref_var`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from ..errors import ScaleenvError

__all__ = [
    "DATETIME_PATTERN",
    "DATE_PATTERN",
    "FIELD_TYPES",
    "KIND",
    "NUMERIC",
    "SAMPLE_KINDS",
    "TEMPORAL",
    "FieldType",
    "Kind",
    "TypedValue",
    "ValueProblem",
    "conforms",
    "is_ref_name",
    "normalize",
    "ref_var",
    "value_schema",
]

FieldType = Literal["string", "text", "int", "float", "money", "bool", "date", "datetime", "enum", "ref"]
FIELD_TYPES: tuple[FieldType, ...] = ("string", "text", "int", "float", "money", "bool", "date", "datetime", "enum", "ref")

Kind = Literal["number", "string", "bool", "null", "list", "unknown"]
"""The coarse static type of an expression: what the expression checker reasons with."""

KIND: dict[str, Kind] = {
    "string": "string", "text": "string", "enum": "string", "date": "string", "datetime": "string",
    "ref": "string", "int": "number", "float": "number", "money": "number", "bool": "bool",
}  # fmt: skip
NUMERIC = frozenset({"int", "float", "money"})
TEMPORAL = frozenset({"date", "datetime"})

SAMPLE_KINDS: tuple[str, ...] = (
    "person_name", "first_name", "last_name", "email", "phone", "city", "street", "company",
    "title", "code", "plate", "digits", "sentence", "words",
)  # fmt: skip
"""Seed generators for text fields (``sample:`` in a blueprint); anything else is rejected."""

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


class TypedValue(Protocol):
    """What a field or a parameter declares about its values."""

    @property
    def type(self) -> str: ...  # a FieldType (a parameter may also be a "list", which is checked item by item)
    @property
    def values(self) -> list[str] | None: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...
    @property
    def max_length(self) -> int | None: ...


def ref_var(name: str) -> str:
    """``order_id`` -> ``order``: the row variable a reference parameter or field binds."""
    return name.removesuffix("_id")


def is_ref_name(name: str) -> bool:
    """Whether a name follows the reference naming rule (``<entity>_id``)."""
    return name.endswith("_id") and len(name) > 3


def value_schema(
    type_: str, values: Sequence[str] | None, lo: float | None, hi: float | None, max_length: int | None
) -> dict[str, Any]:
    """JSON Schema of one value of a type (one view of the IR)."""
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
        schema = {"type": "string", "format": "date", "pattern": DATE_PATTERN.pattern}
    elif type_ == "datetime":
        # local time without a zone (the environment has one clock); JSON Schema's "date-time" would demand a zone
        schema = {"type": "string", "pattern": DATETIME_PATTERN.pattern,
                  "description": "local date and time, e.g. 2026-03-16T14:30:00"}  # fmt: skip
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


def _real_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _real_datetime(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def conforms(spec: TypedValue, value: Any) -> bool:
    """A fast yes for a value that certainly matches :func:`value_schema` (never a false yes).

    Argument checking uses it on the hot path; anything it is unsure of goes to jsonschema,
    which stays the authority and writes the errors (a property test holds the two together).
    """
    kind = type(value)
    type_ = spec.type
    if type_ == "int":
        if kind is not int:
            return False
    elif type_ in ("float", "money"):
        if (kind is not int and kind is not float) or (kind is float and not math.isfinite(value)):
            return False
    elif type_ == "bool":
        return kind is bool
    elif type_ == "list":
        return _list_conforms(spec, value)
    else:
        if kind is not str:
            return False
        if type_ == "enum" and value not in (spec.values or ()):
            return False
        if spec.max_length is not None and len(value) > spec.max_length:
            return False
        if type_ == "date":
            return bool(DATE_PATTERN.match(value)) and _real_date(value)
        if type_ == "datetime":
            return bool(DATETIME_PATTERN.match(value))
        return True
    return not ((spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max))


def _list_conforms(spec: TypedValue, value: Any) -> bool:
    """A list parameter: a real list (a string must never pass as a list of its characters) of a
    length it allows, each item conforming (an object item: known keys, every required one, no null).
    A booking's passengers and payments took a fifth of the call through jsonschema."""
    items: Any = getattr(spec, "items", None)
    fields: dict[str, Any] | None = getattr(spec, "fields", None)
    low, high = getattr(spec, "min_items", 1), getattr(spec, "max_items", None)
    if type(value) is not list or len(value) < low or (high is not None and len(value) > high):
        return False
    if items is not None:
        return all(conforms(items, item) for item in value)
    if fields is None:
        return False
    for item in value:
        if type(item) is not dict or not item.keys() <= fields.keys():
            return False
        for name, field_spec in fields.items():
            if name in item:
                if not conforms(field_spec, item[name]):
                    return False
            elif field_spec.required:
                return False
    return True


class ValueProblem(ScaleenvError, ValueError):
    """A value that is not a valid value of its field; the message says what is allowed."""

    default_status = 400


def normalize(where: str, spec: TypedValue, value: Any, *, nullable: bool = False) -> Any:
    """The value in its stored form (ints for whole floats, money to cents), or :class:`ValueProblem`.

    ``where`` names the field in messages (``order.quantity``). References are checked for
    shape only here; whether the row exists is the state's question.
    """
    type_ = spec.type
    if value is None:
        if nullable:
            return None
        raise ValueProblem(f"{where} cannot be empty")
    if type_ == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_ in ("float", "money"):
        ok = is_number
    elif type_ == "bool":
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueProblem(f"{where} must be {type_}, got {value!r}")
    if is_number and not math.isfinite(value):
        raise ValueProblem(f"{where} must be a finite number, got {value!r}")
    if type_ == "money":
        value = round(float(value), 2)
    if type_ == "enum" and value not in (spec.values or []):
        raise ValueProblem(f"{where} must be one of {spec.values}, got {value!r}")
    if type_ == "date" and not (DATE_PATTERN.match(value) and _real_date(value)):
        raise ValueProblem(f"{where} must be a date like 2026-03-16, got {value!r}")
    if type_ == "datetime" and not (DATETIME_PATTERN.match(value) and _real_datetime(value)):
        raise ValueProblem(f"{where} must be a date-time like 2026-03-16T09:00:00, got {value!r}")
    if spec.min is not None and value < spec.min:
        raise ValueProblem(f"{where} would be {value!r}, below its minimum {spec.min:g}")
    if spec.max is not None and value > spec.max:
        raise ValueProblem(f"{where} would be {value!r}, above its maximum {spec.max:g}")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValueProblem(f"{where} is longer than {spec.max_length} characters")
    return value
