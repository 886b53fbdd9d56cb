"""What changed between two states of one domain: rows added, removed and changed per table.

Two ways to get one: :func:`diff` compares two whole states (any two, at a cost that grows
with their size); :func:`journal_diff` reads only the rows a state's undo journal says were
touched since its baseline (a cost that grows with the changes). Both list rows in the same
order, so either can feed the grader.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from .state import State

__all__ = ["RowChange", "StateDiff", "TableDiff", "diff", "journal_diff"]


class RowChange(BaseModel):
    id: str
    fields: dict[str, tuple[Any, Any]]
    """field -> (before, after)"""


class TableDiff(BaseModel):
    added: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    changed: list[RowChange] = []

    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


class StateDiff(BaseModel):
    """Rows added, removed and changed per table between two states of one domain."""

    tables: dict[str, TableDiff] = {}

    def is_empty(self) -> bool:
        return all(t.is_empty() for t in self.tables.values())

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            name: {"added": len(t.added), "removed": len(t.removed), "changed": len(t.changed)} for name, t in self.tables.items()
        }


def _row_change(row_id: str, old: dict[str, Any], new: dict[str, Any]) -> RowChange:
    return RowChange(id=row_id, fields={f: (old[f], new[f]) for f in new if old[f] != new[f]})


def diff(before: State, after: State, entities: Iterable[str] | None = None) -> StateDiff:
    """What changed from ``before`` to ``after`` (in ``entities`` only, when given); tables with no change are left out."""
    tables: dict[str, TableDiff] = {}
    for entity in before.spec.entities if entities is None else [e for e in before.spec.entities if e in set(entities)]:
        old = {r["id"]: r for r in before.rows(entity)}
        new = {r["id"]: r for r in after.rows(entity)}
        table = TableDiff(
            added=[new[i] for i in new if i not in old],
            removed=[old[i] for i in old if i not in new],
            changed=[_row_change(i, old[i], new[i]) for i in new if i in old and old[i] != new[i]],
        )
        if not table.is_empty():
            tables[entity] = table
    return StateDiff(tables=tables)


def journal_diff(state: State, originals: dict[tuple[str, str], dict[str, Any] | None]) -> StateDiff:
    """What changed since the baseline, given the originals of the touched rows."""
    order = {name: i for i, name in enumerate(state.spec.entities)}
    touched = sorted(originals.items(), key=lambda item: (order[item[0][0]], item[0][1]))
    tables: dict[str, TableDiff] = {}
    for (entity, row_id), original in touched:
        current = state.get(entity, row_id)
        table = tables.setdefault(entity, TableDiff())
        if original is None and current is not None:
            table.added.append(current)
        elif original is not None and current is None:
            table.removed.append(original)
        elif original is not None and current is not None and original != current:
            table.changed.append(_row_change(row_id, original, current))
    return StateDiff(tables={e: t for e, t in tables.items() if not t.is_empty()})
