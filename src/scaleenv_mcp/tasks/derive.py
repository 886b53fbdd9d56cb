"""Checks derived from what a verified reference solution actually changed."""

from __future__ import annotations

from ..engine.diff import StateDiff
from ..spec.model import DomainSpec
from ..spec.task import CheckSpec

__all__ = ["checks_from_diff"]


def checks_from_diff(spec: DomainSpec, changes: StateDiff) -> list[CheckSpec]:
    checks: list[CheckSpec] = []
    new_ids = {row["id"] for table in changes.tables.values() for row in table.added}
    for entity, table in changes.tables.items():
        fields = spec.entities[entity].fields
        for change in table.changed:
            for fname, (old, new) in change.fields.items():
                if fields[fname].kind == "number" and isinstance(old, int | float) and isinstance(new, int | float):
                    delta = round(new - old, 2)
                    checks.append(CheckSpec(kind="field_changed_by", entity=entity, id=change.id, field=fname,
                                            delta=delta, description=f"{entity} {change.id}.{fname} changed by {delta:+g}"))  # fmt: skip
                else:
                    checks.append(CheckSpec(kind="field_equals", entity=entity, id=change.id, field=fname,
                                            value=new, description=f"{entity} {change.id}.{fname} is {new!r}"))  # fmt: skip
        for row in table.added:
            where = {k: v for k, v in row.items() if k != "id" and v not in new_ids}
            checks.append(CheckSpec(kind="row_exists", entity=entity, where=where,
                                    description=f"a new {entity} exists with {where}"))  # fmt: skip
        for row in table.removed:
            checks.append(CheckSpec(kind="row_absent", entity=entity, id=row["id"],
                                    description=f"{entity} {row['id']} was removed"))  # fmt: skip
    checks.append(CheckSpec(kind="no_other_changes", description="nothing else in the state changed"))
    return checks
