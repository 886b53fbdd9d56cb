"""What one call changed, read from the state's undo journal.

The action strategy records the rows a write created (so a later goal can name "the new booking
you just made"), and the minimality rule asks whether a write changed anything or undid another.
Only the rows in the journal are read, so the cost follows the changes, not the tables.
"""

from __future__ import annotations

from typing import Any

from ...engine.runtime import execute
from ...engine.state import State

__all__ = ["Changes", "Mark", "call_changes", "changes_since", "journal_mark"]

Mark = dict[tuple[str, str], dict[str, Any] | None]
"""The rows earlier calls touched, as they were at one moment: (entity, id) -> the row, or None."""

Changes = tuple[set[tuple[str, str]], dict[tuple[str, str], set[str]], set[tuple[str, str]]]
"""(rows added, fields changed per row, rows removed), each row as (entity, id)."""


def journal_mark(state: State) -> Mark:
    """The rows earlier calls touched, as they are now (read from the journal: cheap)."""
    return {key: state.get(*key) for key in state.journal()}


def call_changes(state: State, tool: str, args: dict[str, Any]) -> Changes:
    """Run one call on a tracked state; return the rows it added, the fields it changed per row, and
    the rows it removed."""
    mark = journal_mark(state)
    execute(state, tool, args)
    return changes_since(state, mark)


def changes_since(state: State, before: Mark) -> Changes:
    """What changed since ``before`` was taken: rows added, fields changed per row, rows removed."""
    added: set[tuple[str, str]] = set()
    changed: dict[tuple[str, str], set[str]] = {}
    removed: set[tuple[str, str]] = set()
    for key, original in state.journal().items():
        was = before.get(key, original)
        now = state.get(*key)
        if was is None and now is not None:
            added.add(key)
        elif was is not None and now is None:
            removed.add(key)
        elif was is not None and now is not None and was != now:
            changed[key] = {f for f in now if now[f] != was[f]}
    return added, changed, removed
