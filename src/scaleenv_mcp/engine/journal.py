"""The undo journal: the original of every row a state's writes touched since its baseline.

With it, a reset writes back only those rows (and only the columns written), and
verification diffs only those rows: both cost what an episode changed, not what the state
holds. The journal is plain data; the state does the SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Journal", "RowKey"]

RowKey = tuple[str, str]
"""(entity, row id)"""


@dataclass
class Journal:
    originals: dict[RowKey, dict[str, Any] | None] = field(default_factory=dict)
    """(entity, id) -> the row at the baseline (None: it did not exist)"""
    touched: dict[RowKey, set[str] | None] = field(default_factory=dict)
    """(entity, id) -> columns written since the baseline (None: unknown, so all)"""

    def seen(self, key: RowKey) -> bool:
        return key in self.originals

    def remember(self, key: RowKey, original: dict[str, Any] | None, columns: Iterable[str] | None) -> None:
        """Record a write to ``key``; ``original`` is only kept the first time the row is touched."""
        if key not in self.originals:
            self.originals[key] = original
            self.touched[key] = set()
        touched = self.touched.get(key)
        if touched is not None:
            if columns is None:
                self.touched[key] = None
            else:
                touched.update(columns)

    def mark(self) -> int:
        """Where the journal stands, for :meth:`undo_to` (rows are kept in the order first touched)."""
        return len(self.originals)

    def undo_to(self, mark: int) -> None:
        """Forget the rows first touched after ``mark`` (their writes were rolled back).

        The columns recorded for rows touched before it may stay recorded: a reset then also writes
        back a column that did not change, with its baseline value, which changes nothing. So an
        undone call costs what it touched, where copying the journal before every call cost what
        the whole episode had touched."""
        originals = self.originals
        while len(originals) > mark:
            key = next(reversed(originals))
            del originals[key]
            self.touched.pop(key, None)

    def copy(self) -> Journal:
        return Journal(dict(self.originals), {k: (set(v) if v is not None else None) for k, v in self.touched.items()})

    @classmethod
    def from_originals(cls, originals: dict[RowKey, dict[str, Any] | None]) -> Journal:
        """A journal restored with a snapshot: which columns were written is unknown, so all are."""
        return cls(dict(originals), dict.fromkeys(originals))

    def columns(self, key: RowKey, all_columns: list[str]) -> list[str]:
        """The columns to write back for a row (every column when unknown or none recorded)."""
        touched = self.touched.get(key)
        return [c for c in all_columns if touched is None or c in touched] or all_columns
