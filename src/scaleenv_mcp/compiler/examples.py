"""Intent examples: the author's own statement of what a call does, checked at compile time.

The gate proves a domain executable (no crash, no broken constraint, every tool reachable) but
cannot know what a tool is *for*: a refund of the quantity instead of the total passes every
invariant. A tool's ``examples`` say it outright (on these seeded rows, with these fields set,
this call changes exactly these fields to these values, adds these rows, removes these, or
fails with this error), and each one that does not hold is a defect whose message is a diff of
what was expected against what the call did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from ..engine.diff import StateDiff
from ..engine.runtime import execute
from ..engine.seed import seed_state
from ..engine.state import State
from ..spec.model import DomainSpec, ExampleSpec

__all__ = ["example_problems"]

TOLERANCE = 0.005
"""numbers compare equal within half a cent (money is stored to two places)"""


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, int | float) and isinstance(actual, int | float) and not isinstance(expected, bool) and not isinstance(actual, bool):
        return abs(float(expected) - float(actual)) <= TOLERANCE
    return bool(expected == actual)


Observer = Callable[[State, str, Any, StateDiff], None]
"""told of every example call that succeeded: the state before it, the tool, the arguments, the changes"""


def example_problems(
    spec: DomainSpec, state: State | None = None, observe: Observer | None = None
) -> list[tuple[str, int, dict[str, Any], str]]:
    """(tool, example index, its call, what went wrong) for every example that does not hold on the
    seeded state (``state``, else the domain's own seed). ``observe`` sees each successful call
    (the gate counts the effect branches examples take)."""
    if not any(t.examples for t in spec.tools.values()):
        return []
    seeded = state if state is not None else seed_state(spec)
    image = seeded.snapshot()
    out: list[tuple[str, int, dict[str, Any], str]] = []
    try:
        for name, tool in spec.tools.items():
            for index, example in enumerate(tool.examples):
                trial = State.from_snapshot(spec, image)
                try:
                    problem = _check(spec, trial, name, example, observe)
                finally:
                    trial.close()
                if problem:
                    label = f" ({example.description})" if example.description else ""
                    out.append((name, index, example.call, f"tools.{name}.examples[{index}]{label}: {problem}"))
    finally:
        if state is None:
            seeded.close()
    return out


def _entity_of(spec: DomainSpec, row_id: str) -> str | None:
    prefix = row_id.rsplit("-", 1)[0]
    return next((name for name, e in spec.entities.items() if e.id_prefix == prefix), None)


def _check(spec: DomainSpec, state: State, tool: str, example: ExampleSpec, observe: Observer | None) -> str:
    for row_id, values in example.given.items():
        entity = _entity_of(spec, row_id)
        if entity is None:
            return f"given: {row_id} is not the id of any entity (ids look like {', '.join(sorted(e.id_prefix + '-0001' for e in spec.entities.values())[:3])})"
        unknown = sorted(set(values) - set(spec.entities[entity].fields))
        if unknown:
            return f"given: {entity} has no field {', '.join(unknown)}"
        problem = _give(spec, state, entity, row_id, values)
        if problem:
            return problem
    before = state.fork() if observe is not None else None
    state.track()
    result = execute(state, tool, example.call)
    if before is not None:
        if result.ok:
            assert observe is not None
            observe(before, tool, example.call, state.changes())
        before.close()
    if example.error is not None:
        if result.ok:
            return f"expected error {example.error.code} ({example.error.message!r}), but the call succeeded and made {_said(state.changes())}"
        assert result.error is not None
        if result.error.code != example.error.code or example.error.message not in result.error.message:
            return f"expected error {example.error.code} ({example.error.message!r}), got {result.error.code}: {result.error.message}"
        return ""
    if not result.ok:
        assert result.error is not None
        return f"expected changes, but the call failed with {result.error.code}: {result.error.message}"
    lines = _diff(example, state.changes())
    return "; ".join(lines) if lines else ""


def _give(spec: DomainSpec, state: State, entity: str, row_id: str, values: dict[str, Any]) -> str:
    """Set a seeded row's fields, or add the row when the seed did not draw it: an example that brings
    its own rows (a reservation with exactly one segment and one payment) does not depend on what the
    seed drew, so it holds under any domain name and seed."""
    try:
        if state.get(entity, row_id) is not None:
            if values:
                state.update(entity, row_id, values)
            return ""
        fields = spec.entities[entity].fields
        missing = sorted(n for n, f in fields.items() if n not in values and not f.nullable)
        if missing:
            return f"given: {row_id} is a new row (the seed did not draw it), so it must set {', '.join(missing)}"
        state.insert(entity, {"id": row_id, **{n: values.get(n) for n in fields}})
    except sqlite3.Error as exc:
        return f"given: {row_id} cannot hold {values} ({exc})"
    return ""


def _diff(example: ExampleSpec, changes: StateDiff) -> list[str]:
    """Expected against actual, one line per difference."""
    lines: list[str] = []
    changed = {c.id: c.fields for t in changes.tables.values() for c in t.changed}
    for row_id, fields in example.changes.items():
        made = changed.get(row_id, {})
        for fname, want in fields.items():
            if fname not in made:
                lines.append(f"{row_id}.{fname}: expected {want!r}, left unchanged")
            elif not _same(want, made[fname][1]):
                lines.append(f"{row_id}.{fname}: expected {want!r}, got {made[fname][1]!r}")
    for row_id, made in changed.items():
        for fname, (before, after) in made.items():
            if fname not in example.changes.get(row_id, {}):
                lines.append(f"{row_id}.{fname}: changed {before!r} -> {after!r}, not expected")
    for entity, table in changes.tables.items():
        wanted = list(example.created.get(entity, []))
        unmatched = list(table.added)
        for item in wanted:
            match = next((r for r in unmatched if all(k in r and _same(v, r[k]) for k, v in item.items())), None)
            if match is None:
                lines.append(f"{entity}: expected a new row with {item}, got {[_short(r) for r in unmatched] or 'none'}")
            else:
                unmatched.remove(match)
        lines += [f"{entity}: a new row {_short(r)}, not expected" for r in unmatched if not wanted]
    for entity, items in example.created.items():
        if entity not in changes.tables or not changes.tables[entity].added:
            lines += [f"{entity}: expected a new row with {item}, got none" for item in items]
    removed = {r["id"] for t in changes.tables.values() for r in t.removed}
    lines += [f"{row_id}: expected to be deleted, still there" for row_id in example.deleted if row_id not in removed]
    lines += [f"{row_id}: deleted, not expected" for row_id in sorted(removed - set(example.deleted))]
    return lines


def _short(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def _said(changes: StateDiff) -> str:
    return str(changes.summary()) if not changes.is_empty() else "no change"
