"""Checks derived from what a verified reference solution actually changed."""

from __future__ import annotations

from typing import Any

from ..engine.diff import StateDiff
from ..spec.model import CreateEffect, DomainSpec
from ..spec.task import CheckSpec, TextCompare

__all__ = ["checks_from_diff"]


def checks_from_diff(spec: DomainSpec, changes: StateDiff) -> list[CheckSpec]:
    """Field checks for changed rows, row checks (with their links) for new and removed rows, and
    the "nothing else changed" gate. New rows are listed parents first, so a child's check can
    name the check of the new parent it must hang off."""
    checks: list[CheckSpec] = []
    new_ids = {row["id"] for table in changes.tables.values() for row in table.added}
    check_of_row: dict[str, int] = {}
    rank = spec.parents_first.rank
    for entity in sorted(changes.tables, key=lambda e: rank[e]):
        drawn = _drawn_codes(spec, entity)
        for row in changes.tables[entity].added:
            where = {k: v for k, v in row.items() if k != "id" and k not in drawn and v not in new_ids}
            links = {k: check_of_row[v] for k, v in row.items() if k != "id" and v in check_of_row}
            check_of_row[row["id"]] = len(checks)
            linked = f", linked to {sorted(links)}" if links else ""
            compare = _free_text(spec, entity, where)
            checks.append(CheckSpec(kind="row_exists", entity=entity, where=where, links=links, compare=compare,
                                    description=f"a new {entity} exists with {where}{linked}{_how(compare)}"))  # fmt: skip
    for entity, table in changes.tables.items():
        fields = spec.entities[entity].fields
        for change in table.changed:
            for fname, (old, new) in change.fields.items():
                if fields[fname].kind == "number" and isinstance(old, int | float) and isinstance(new, int | float):
                    delta = round(new - old, 2)
                    checks.append(CheckSpec(kind="field_changed_by", entity=entity, id=change.id, field=fname,
                                            delta=delta, description=f"{entity} {change.id}.{fname} changed by {delta:+g}"))  # fmt: skip
                else:
                    compare = _free_text(spec, entity, {fname: new})
                    checks.append(CheckSpec(kind="field_equals", entity=entity, id=change.id, field=fname, value=new,
                                            compare=compare, description=f"{entity} {change.id}.{fname} is {new!r}{_how(compare)}"))  # fmt: skip
        for row in table.removed:
            checks.append(CheckSpec(kind="row_absent", entity=entity, id=row["id"],
                                    description=f"{entity} {row['id']} was removed"))  # fmt: skip
    checks.append(CheckSpec(kind="no_other_changes", description="nothing else in the state changed"))
    return checks


def _drawn_codes(spec: DomainSpec, entity: str) -> set[str]:
    """Fields of ``entity`` whose new values are codes the environment draws (a booking reference by
    ``pattern``) because no create sets them: the agent cannot choose them, and which row gets which
    code follows the order rows are made in, so a check that named one would fail a correct agent
    that did two bookings the other way round."""
    creates = [e for tool in spec.tools.values() for e in [*tool.effects, *(x for loop in tool.loops for x in loop.do)]
               if isinstance(e, CreateEffect) and e.create == entity]  # fmt: skip
    return {f for f, spec_f in spec.entities[entity].fields.items() if spec_f.pattern and not any(f in c.values for c in creates)}


def _free_text(spec: DomainSpec, entity: str, values: dict[str, Any]) -> dict[str, TextCompare]:
    """How each free-text value (a note, a reason, an address line) is compared, as its field says:
    an agent that writes "Leave at the door." for "leave at the door" did what was asked."""
    fields = spec.entities[entity].fields
    return {f: fields[f].compare for f, v in values.items() if isinstance(v, str) and fields[f].type in ("string", "text")}


def _how(compare: dict[str, TextCompare]) -> str:
    return f" (text compared {', '.join(sorted({f'{f} {how}' for f, how in compare.items()}))})" if compare else ""
