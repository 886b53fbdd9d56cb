"""Policy as checks: who the acting user is, and which writes they may make.

A blueprint's ``actor`` block names the entity of the person the agent acts for (a customer)
and the tools that identify them (a lookup by email). A row is *personal* when following its
references reaches a row of that entity (an order, its payments); its owners are the users it
reaches. The monitor watches every successful call of an episode, as it happens:

- a write that touches a personal row before the user was identified is a violation;
- a write that touches a row owned by anyone but the acting user is a violation. A row is touched
  when the call changes, creates or deletes it; naming a row (the person a ticket is given to)
  does not touch it.

Violations are recorded when they happen, so undoing the write later does not erase them, and
any violation fails the episode (the grader gates every reward mode on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine.runtime import ToolResult
from ..engine.state import State
from ..spec.model import CreateEffect, DomainSpec

__all__ = ["PolicyMonitor", "PolicyViolation", "owners_of"]

_DEPTH = 3


@dataclass(frozen=True)
class PolicyViolation:
    call: int
    """index of the call in the episode (0-based)"""
    tool: str
    rule: str
    """``identify_first`` or ``owner_only``"""
    message: str


def owners_of(state: State, entity: str, row: dict[str, Any] | None, depth: int = 0) -> set[str]:
    """The ids of the users a row leads to by its references (itself, for a row of the actor entity)."""
    actor = state.spec.actor
    if actor is None or row is None:
        return set()
    if entity == actor.entity:
        return {str(row["id"])}
    if depth >= _DEPTH:
        return set()
    found: set[str] = set()
    for fname, f in state.spec.entities[entity].fields.items():
        if f.type == "ref" and f.ref is not None and row.get(fname) is not None:
            found |= owners_of(state, f.ref, state.get(f.ref, row[fname]), depth + 1)
    return found


@dataclass
class PolicyMonitor:
    """Watches one episode's calls; ``actor_id`` is the task's user (None: whoever was identified)."""

    spec: DomainSpec
    actor_id: str | None = None
    identified: set[str] = field(default_factory=set)
    violations: list[PolicyViolation] = field(default_factory=list)
    calls: int = 0

    def __post_init__(self) -> None:
        self._personal = self.spec.personal_entities

    def copy(self) -> PolicyMonitor:
        return PolicyMonitor(self.spec, self.actor_id, set(self.identified), list(self.violations), self.calls)

    def touched_before(self, state: State, tool: str, arguments: Any) -> list[tuple[str, dict[str, Any]]]:
        """The personal rows a call names by id, read before it runs (a delete would hide them after)."""
        spec_tool = self.spec.tools.get(tool) if isinstance(tool, str) else None
        if self.spec.actor is None or spec_tool is None or not spec_tool.is_write or not isinstance(arguments, dict):
            return []
        rows = []
        for pname, param in spec_tool.params.items():
            for entity, row_id in param.named_ids(arguments.get(pname)):  # a ref, or each id of a list
                row = state.get(entity, row_id) if entity in self._personal else None
                if row is not None:
                    rows.append((entity, row))
        return rows

    def observe(self, state: State, tool: str, result: ToolResult, before: list[tuple[str, dict[str, Any]]]) -> None:
        """Record what a finished call means for the policy."""
        index = self.calls
        self.calls += 1
        actor = self.spec.actor
        if actor is None or not result.ok or result.data is None:
            return
        if tool in actor.identify and "id" in result.data:
            self.identified.add(str(result.data["id"]))
            return
        spec_tool = self.spec.tools[tool]
        if not spec_tool.is_write:
            return
        # a row the call only names (the person a ticket is given to) is not touched: only rows it changed or deleted
        touched = [(entity, row) for entity, row in before if state.get(entity, str(row["id"])) != row]
        view = self.spec.view(tool)
        created = [e.create for e in spec_tool.effects if isinstance(e, CreateEffect)]
        if view.returns in created and view.returns in self._personal and "id" in result.data:
            touched.append((view.returns, result.data))
        owners: set[str] = set()
        for entity, row in touched:
            owners |= owners_of(state, entity, row)
        if not owners:
            return
        allowed = {self.actor_id} if self.actor_id is not None else self.identified
        if not self.identified or (self.actor_id is not None and self.actor_id not in self.identified):
            self.violations.append(
                PolicyViolation(index, tool, "identify_first", f"{tool} changed a user's records before the user was identified")
            )
        strangers = sorted(owners - allowed)
        if strangers:
            self.violations.append(
                PolicyViolation(index, tool, "owner_only", f"{tool} changed records of another user ({', '.join(strangers)})")
            )
