"""What a layer works out once per domain spec and shares across its states and episodes.

A spec is loaded once and shared (the catalog hands out the same object while its files are
unchanged), so facts derived from it (SQL texts, the policy's view of the tools) are kept per spec
object and dropped with it. Keyed by identity: a spec is a pydantic model, not a hashable value.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .model import DomainSpec

__all__ = ["per_spec"]

T = TypeVar("T")

_MEMO: dict[tuple[int, str], tuple[weakref.ref[DomainSpec], Any]] = {}


def per_spec(spec: DomainSpec, name: str, build: Callable[[DomainSpec], T]) -> T:
    """``build(spec)``, made once per spec object and ``name``; the entry goes when the spec does."""
    key = (id(spec), name)
    entry = _MEMO.get(key)
    if entry is not None and entry[0]() is spec:
        value: T = entry[1]
        return value
    value = build(spec)
    _MEMO[key] = (weakref.ref(spec, lambda _ref: _MEMO.pop(key, None)), value)
    return value
