"""Procedural testing: exercise every tool with generated calls and check invariants.

A synthetic environment fails quietly: a rule that can never hold, an effect that breaks
a constraint the rules did not guard, a write no user could ever reach. Here every tool
is called many times (valid calls bound from real rows, calls that break each rule,
wrong types, missing and extra arguments, unknown ids, boundary values, hostile text),
on the seeded state and along a random walk of successful writes, and every call is
checked against the invariants below. A domain with any violation or defect fails the
gate, and the report says which tool, with which arguments, from which state.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import BaseModel

from ..engine.binding import (
    StateEnv,
    bound_edge_values,
    candidate_calls,
    collision_calls,
    find_successful_call,
    satisfying_call,
    time_edge_values,
)
from ..engine.diff import StateDiff, diff
from ..engine.runtime import ToolResult, execute
from ..engine.seed import SeedError, seed_state
from ..engine.state import State
from ..spec.expr import Expr, ExprError
from ..spec.graph import build_graph, graph_facts
from ..spec.model import CreateEffect, DeleteEffect, DomainSpec, ForEachEffect, ParamSpec
from ..spec.task import TaskSpec
from ..tasks.distractors import apply_recipe, task_recipe
from .examples import example_problems

__all__ = ["GATE_SEEDS", "CallRecord", "DomainReport", "ToolReport", "Violation", "gate", "test_domain"]

DEFECTS = {
    "never_succeeds": "no generated call of this tool ever succeeded: its rules cannot be met from the seed data",
    "policy_never_kept": "every call breaks the policy: no call from the seed data keeps the agent's rule",
    "branch_never_taken": "no gate call and no task's solution takes this branch of an effect, so nothing shows it works",
    "example_failed": "an example the blueprint gives for this tool does not hold",
    "unseedable": "the seed hints cannot fill the state on this gate seed",
    "unreachable_write_tool": "no entry tool leads to this write tool, so no task could ever use it",
}
SEED_DATA = "(seed data)"
"""the tool named by a defect of the seed data itself (a gate seed the blueprint cannot fill)"""
HOSTILE = [
    "'; DROP TABLE customer; --",
    'Robert\'); DELETE FROM "order"; --',
    "%",
    "_",
    "\x00",
    "Zoë 🚀 مرحبا 日本",
    "A" * 10_000,
]


class CallRecord(BaseModel):
    tool: str
    arguments: dict[str, Any]


class Violation(BaseModel):
    kind: str
    tool: str
    message: str
    arguments: dict[str, Any] = {}
    state_snapshot: str
    """sha256 prefix of the state the call ran on"""
    state_prefix: list[CallRecord] = []
    """calls that lead from the seeded state to that state (empty: the seeded state itself)"""
    seed: int | None = 0
    """the gate run that found it: data seeded with ``spec.seed + seed``, calls drawn with ``seed``
    (None: a defect of the tool graph, the same on every run)"""


class ToolReport(BaseModel):
    calls: int = 0
    succeeded: int = 0
    failed_by_code: dict[str, int] = {}
    calls_by_category: dict[str, int] = {}
    rules_seen_failing: int = 0
    rules_total: int = 0


class DomainReport(BaseModel):
    domain: str
    passed: bool
    calls: int
    tools: dict[str, ToolReport]
    violations: list[Violation]
    defects: list[Violation]
    graph: dict[str, Any]
    seeds: list[int] = [0]
    """the gate runs this report covers (see :func:`gate`)"""
    uncovered: list[str] = []
    """effect branches no gate call took (see :class:`Coverage`); the compile asks the tasks next"""

    @property
    def score(self) -> float:
        bad = len({(v.tool, v.kind) for v in self.violations}) + len(self.defects)
        return round(1 - bad / max(1, len(self.tools)), 4)

    def summary(self) -> dict[str, Any]:
        """The deterministic part recorded in the manifest (no timings)."""
        return {
            "passed": self.passed,
            "score": self.score,
            "calls": self.calls,
            "min_calls_per_tool": min((t.calls for t in self.tools.values()), default=0),
            "tools_succeeding": sum(1 for t in self.tools.values() if t.succeeded),
            "violations": len(self.violations),
            "defects": [(f"{d.kind}: {d.tool}" if d.tool != SEED_DATA else d.kind) + (f" (seed {d.seed})" if d.seed is not None else "") for d in self.defects],
            "seeds": self.seeds,
        }

    def reasons(self) -> list[str]:
        """One line per distinct problem, for people."""
        lines = []
        seen: set[tuple[str, str]] = set()
        for v in [*self.defects, *self.violations]:
            if (v.kind, v.tool) in seen:
                continue
            seen.add((v.kind, v.tool))
            if v.kind == "unseedable":
                lines.append(f"unseedable seed data, {v.message}")
                seen.discard((v.kind, v.tool))  # every seed the blueprint cannot fill is named
                continue
            if v.kind == "example_failed":
                lines.append(f"example_failed in {v.tool}: {v.message} [call: {v.tool}({v.arguments}) on the seeded state]")
                seen.discard((v.kind, v.tool))  # every failing example is shown
                continue
            where = "the seeded state" if not v.state_prefix else f"after {len(v.state_prefix)} call(s) from the seed"
            lines.append(
                f"{v.kind} in {v.tool}: {v.message} [reproduce: {v.tool}({v.arguments}) on {where} of gate seed {v.seed or 0}, "
                f"snapshot {v.state_snapshot}]"
            )
        return lines


@dataclass(frozen=True)
class Branch:
    """One way an effect of a tool can go: a conditional create or delete applied or skipped, a
    ``for_each`` whose body runs, one side of a conditional expression in an assignment."""

    tool: str
    where: str
    outcome: str

    def describe(self) -> str:
        return f"{self.tool}: {self.where} is never {self.outcome}"


def _precall(state: State, tool_name: str, args: Mapping[str, Any]) -> StateEnv | None:
    spec = state.spec
    tool = spec.tools[tool_name]
    entities = spec.view(tool_name).entities
    given = {p: args.get(p) for p in tool.params}  # an optional argument left out reads as None, as in a call
    env = StateEnv(state, {**given, "today": spec.today, "now": spec.clock})
    try:
        for var, pname in tool.ref_params.items():
            env.values[var] = state.get(entities[var], args.get(pname)) if args.get(pname) is not None else None
        if tool.lookup:
            found = state.find(tool.lookup.entity, {f: args.get(p) for f, p in tool.lookup.by.items()}, nocase=True, limit=1)
            env.values[tool.lookup.var] = found[0] if found else None
        for var, expr in tool.bind_exprs.items():
            row_id = expr.evaluate(env)
            env.values[var] = state.get(entities[var], row_id) if row_id is not None else None
        for local, expr in tool.let_exprs.items():
            env.values[local] = expr.evaluate(env)
    except (ExprError, KeyError, TypeError):
        return None
    return env


class Coverage:
    """Which ways every effect of a domain can go, and which of them a call has been seen to take.

    A branch nothing takes is an effect nobody has run: a late fee never charged, a refund loop
    never entered. The gate's calls and the tasks' solutions are observed; what is left is reported."""

    def __init__(self, spec: DomainSpec) -> None:
        self.spec = spec
        self.branches: list[Branch] = []
        self.seen: set[Branch] = set()
        self._probes: dict[str, list[tuple[Branch, Any]]] = {}
        for name in spec.write_tools():
            for branch, probe in _branch_probes(spec, name):
                self.branches.append(branch)
                self._probes.setdefault(name, []).append((branch, probe))

    def observe(self, before: State, tool: str, args: Any, changes: StateDiff) -> None:
        """A successful call of ``tool`` with ``args`` on ``before`` made ``changes``."""
        probes = [(b, p) for b, p in self._probes.get(tool, []) if b not in self.seen]
        if not probes or not isinstance(args, dict):
            return
        env: StateEnv | bool | None = False
        for branch, probe in probes:
            if isinstance(probe, ast.expr):  # a conditional expression's test, read on the state before
                if env is False:
                    env = _precall(before, tool, args)
                if not isinstance(env, StateEnv):
                    continue
                try:
                    taken = bool(Expr(ast.unparse(probe), probe).evaluate(env))
                except (ExprError, KeyError, TypeError):
                    continue
                if taken == (branch.outcome == "taken when true"):
                    self.seen.add(branch)
            elif probe(changes):
                self.seen.add(branch)

    def uncovered(self) -> list[Branch]:
        return [b for b in self.branches if b not in self.seen]


def _rows_of(changes: StateDiff, entity: str, how: str) -> int:
    table = changes.tables.get(entity)
    if table is None:
        return 0
    return len(table.added) if how == "added" else len(table.removed) if how == "removed" else len(table.changed) + len(table.added) + len(table.removed)


def replay_tasks(spec: DomainSpec, coverage: Coverage, tasks: Sequence[TaskSpec]) -> None:
    """Observe every write of the tasks' solutions, each task from the state it starts on (its seed's,
    with its distractors)."""
    states: dict[int, State] = {}
    try:
        for task in tasks:
            seed = int(task.initial_state.get("seed", spec.seed))
            if seed not in states:
                states[seed] = seed_state(spec, seed=seed)
            state = states[seed].fork()
            recipe = task_recipe(spec, task.initial_state)
            if recipe is not None:  # the task's own distractors, as its episodes see them
                apply_recipe(spec, state, recipe)
            try:
                for call in task.solution:
                    before = state.fork() if spec.tools.get(call.tool) is not None and spec.tools[call.tool].is_write else None
                    state.track()
                    result = execute(state, call.tool, call.arguments)
                    if before is not None:
                        if result.ok:
                            coverage.observe(before, call.tool, call.arguments, state.changes())
                        before.close()
            finally:
                state.close()
    finally:
        for state in states.values():
            state.close()


def _branch_probes(spec: DomainSpec, tool_name: str) -> list[tuple[Branch, Any]]:
    """Every branch of a tool's effects that a call's changes (or the state before it) can show,
    each with how to tell it was taken: a function of the changes, or a test to evaluate."""
    tool = spec.tools[tool_name]
    entities = spec.view(tool_name).entities
    out: list[tuple[Branch, Any]] = []

    def written(effect: Any) -> list[tuple[str, str]]:
        """(entity, how) an effect writes: created rows, deleted rows, changed rows."""
        if isinstance(effect, CreateEffect):
            return [(effect.create, "added")]
        if isinstance(effect, DeleteEffect):
            return [(entities[effect.delete], "removed")]
        if isinstance(effect, ForEachEffect):
            return [w for inner in effect.do for w in written(inner)] + [
                (entities[a.var], "any") for a in effect.assignments.values() if a.var in entities
            ]
        return []

    top = list(tool.effects)
    for index, effect in enumerate(top):
        others = [w for j, e in enumerate(top) if j != index for w in written(e)]
        if isinstance(effect, CreateEffect | DeleteEffect) and effect.when:
            entity, how = written(effect)[0]
            if any(e == entity and h in (how, "any") for e, h in others):
                continue  # another effect writes these rows too: the changes cannot tell them apart
            kind = "create" if isinstance(effect, CreateEffect) else "delete"
            where = f"effects[{index}] ({kind} {entity} when {effect.when})"
            out.append((Branch(tool_name, where, "applied"), lambda ch, e=entity, h=how: _rows_of(ch, e, h) > 0))
            out.append((Branch(tool_name, where, "skipped"), lambda ch, e=entity, h=how: _rows_of(ch, e, h) == 0))
        elif isinstance(effect, ForEachEffect):
            own = [(e, h) for e, h in written(effect) if all(e != o for o, _ in others)]
            if not own:
                continue
            source = effect.for_each if isinstance(effect.for_each, str) else f"{effect.for_each.entity} rows"
            where = f"effects[{index}] (for_each {source} as {effect.as_})"
            out.append((Branch(tool_name, where, "run"), lambda ch, own=own: any(_rows_of(ch, e, h) > 0 for e, h in own)))
        elif isinstance(effect, str) and index in tool.assignments:
            assignment = tool.assignments[index]
            for node in ast.walk(assignment.value.node):
                if isinstance(node, ast.IfExp):
                    where = f"effects[{index}] ({assignment.text}): the condition {ast.unparse(node.test)}"
                    out.append((Branch(tool_name, where, "taken when true"), node.test))
                    out.append((Branch(tool_name, where, "taken when false"), node.test))
    return out


@dataclass
class _Run:
    spec: DomainSpec
    rng: random.Random
    tools: dict[str, ToolReport] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    rules_failing: dict[str, set[str]] = field(default_factory=dict)
    kept: dict[str, set[str]] = field(default_factory=dict)
    """tool -> the errors of its agent-kept rules that held in some successful call"""
    near_misses: dict[str, tuple[int, dict[str, Any], str]] = field(default_factory=dict)
    """tool -> the failing call that passed the most rules: (rules passed, arguments, message)"""
    coverage: Coverage | None = None
    validators: dict[str, Draft202012Validator] = field(default_factory=dict)
    entity_validators: dict[str, Draft202012Validator] = field(default_factory=dict)
    _full_diffed: set[tuple[str, bool]] = field(default_factory=set)
    """(tool, succeeded) already cross-checked against a whole-table diff"""
    _work: tuple[bytes, State] | None = None
    """the working copy of the current image (every call on it is rolled back)"""
    _before: tuple[bytes, State] | None = None
    """an untouched copy of the current image, read by the cross-checks"""

    def validator(self, tool: str) -> Draft202012Validator:
        if tool not in self.validators:
            self.validators[tool] = Draft202012Validator(self.spec.view(tool).output_schema)
        return self.validators[tool]

    def entity_validator(self, entity: str) -> Draft202012Validator:
        if entity not in self.entity_validators:
            self.entity_validators[entity] = Draft202012Validator(self.spec.entities[entity].json_schema())
        return self.entity_validators[entity]

    def violate(self, kind: str, tool: str, message: str, args: Any, image: bytes, prefix: list[CallRecord]) -> None:
        self.violations.append(
            Violation(
                kind=kind,
                tool=tool,
                message=message,
                arguments=args if isinstance(args, dict) else {"(not an object)": repr(args)},
                state_snapshot=hashlib.sha256(image).hexdigest()[:16],
                state_prefix=list(prefix),
            )
        )

    def _state_for(self, image: bytes) -> State:
        """One working state per image, reused call after call (each call is rolled back): opening
        a copy per call would cost the whole state's size, and grow the gate with the square of
        the domain."""
        if self._work is None or self._work[0] is not image:
            self.close()
            state = State.from_snapshot(self.spec, image)
            state.track()
            self._work = (image, state)
        return self._work[1]

    def _pristine(self, image: bytes) -> State:
        """An untouched copy of ``image``, opened once per image for the cross-checks (opening one per
        check cost the whole state's size each time)."""
        if self._before is None or self._before[0] is not image:
            if self._before is not None:
                self._before[1].close()
            self._before = (image, State.from_snapshot(self.spec, image))
        return self._before[1]

    def close(self) -> None:
        if self._work is not None:
            self._work[1].close()
            self._work = None
        if self._before is not None:
            self._before[1].close()
            self._before = None

    def check_call(self, image: bytes, prefix: list[CallRecord], tool: str, args: Any, category: str) -> ToolResult | None:
        """Run one call on ``image`` (in a savepoint, rolled back after) and check every invariant."""
        report = self.tools[tool]
        report.calls += 1
        report.calls_by_category[category] = report.calls_by_category.get(category, 0) + 1
        state = self._state_for(image)
        with state.trial():
            checked = self._run_and_check(state, image, prefix, tool, args)
        if checked is None:  # it raised: start the next call from a fresh copy
            self.close()
            return None
        result, changes = checked
        if result.ok and self.coverage is not None and self.spec.tools[tool].is_write:
            self.coverage.observe(self._pristine(image), tool, args, changes)
        with state.trial():
            repeat = execute(state, tool, args)
            if repeat.to_dict() != result.to_dict() or state.changes() != changes:
                self.violate("nondeterministic", tool, "a second run differed", args, image, prefix)
        return result

    def _run_and_check(
        self, state: State, image: bytes, prefix: list[CallRecord], tool: str, args: Any
    ) -> tuple[ToolResult, StateDiff] | None:
        spec = self.spec
        report = self.tools[tool]
        try:
            result = execute(state, tool, args)
        except Exception as exc:  # the invariant under test
            self.violate("uncaught_exception", tool, f"{type(exc).__name__}: {exc}", args, image, prefix)
            return None
        changes = state.changes()  # from the journal: the cost of the call, not of the state
        if (tool, result.ok) not in self._full_diffed:
            # once per tool and outcome, every table the tool can reach (its rows, the rows its effects
            # create, and whatever the journal names) is compared whole too, so that a change the
            # journal missed cannot hide behind it; the cost follows the tool, not the domain's size
            self._full_diffed.add((tool, result.ok))
            view = spec.view(tool)
            reach = {*view.entities.values(), *view.writes, *changes.tables}
            whole = diff(self._pristine(image), state, reach)
            if whole != changes:
                self.violate("journal_missed_change", tool, str(whole.summary()), args, image, prefix)
        if result.ok:
            report.succeeded += 1
            held = {r.error for r in spec.tools[tool].requires if r.kept_by == "agent"} - set(result.breaches)
            if held:
                self.kept.setdefault(tool, set()).update(held)
            errors = list(self.validator(tool).iter_errors(result.data))
            if errors:
                self.violate("output_schema", tool, errors[0].message, args, image, prefix)
            if not spec.tools[tool].is_write and not changes.is_empty():
                self.violate("read_only_changed_state", tool, str(changes.summary()), args, image, prefix)
            self._check_declared(tool, changes, args, image, prefix)
            self._check_integrity(tool, state, changes, args, image, prefix)
        else:
            assert result.error is not None
            code = result.error.code
            report.failed_by_code[code] = report.failed_by_code.get(code, 0) + 1
            if not changes.is_empty():
                self.violate("failed_call_changed_state", tool, str(changes.summary()), args, image, prefix)
            if isinstance(args, dict) and tool not in self.near_misses:
                self.near_misses[tool] = (-1, args, result.error.message)
            if code == "constraint_violation":
                self.violate("effect_broke_constraint", tool, result.error.message, args, image, prefix)
            if code == "precondition_failed":
                rule = str(result.error.details.get("rule"))
                self.rules_failing.setdefault(tool, set()).add(rule)
                checks = [r.check for r in spec.tools[tool].requires]
                passed = checks.index(rule) if rule in checks else -1
                if isinstance(args, dict) and passed > self.near_misses.get(tool, (-2,))[0]:
                    self.near_misses[tool] = (passed, args, result.error.message)
        return result, changes

    def _check_declared(self, tool: str, changes: StateDiff, args: Any, image: bytes, prefix: list[CallRecord]) -> None:
        declared = self.spec.view(tool).writes
        for entity, table in changes.tables.items():
            allowed = declared.get(entity, frozenset())
            if (table.added or table.removed) and "*" not in allowed:
                self.violate("undeclared_change", tool, f"rows of {entity} were added or removed", args, image, prefix)
            for row in table.changed:
                extra = set(row.fields) - allowed
                if extra:
                    fields = ", ".join(f"{entity}.{f}" for f in sorted(extra))
                    self.violate("undeclared_change", tool, f"changed {fields}", args, image, prefix)

    def _check_integrity(
        self, tool: str, state: State, changes: StateDiff, args: Any, image: bytes, prefix: list[CallRecord]
    ) -> None:
        # the tables a call can leave dangling: those it changed, and those referring to a table it removed rows from
        emptied = {e for e, t in changes.tables.items() if t.removed}
        touched = set(changes.tables) | {
            name for name, entity in self.spec.entities.items() if any(f.ref in emptied for f in entity.fields.values())
        }
        problems = state.integrity_problems(touched)
        for entity, table in changes.tables.items():
            rows = [*table.added, *(state.get(entity, c.id) for c in table.changed)]
            for row in rows:
                if row is None:
                    continue
                for error in self.entity_validator(entity).iter_errors(row):
                    problems.append(f"{entity} {row['id']}: {error.message}")
        if problems:
            self.violate("integrity", tool, "; ".join(problems[:3]), args, image, prefix)


def _bad_type(param: ParamSpec) -> Any:
    if param.kind == "number":
        return "12"
    if param.kind == "bool":
        return "yes"
    return 12345


def _boundaries(param: ParamSpec) -> list[Any]:
    if param.kind == "number":
        values: list[Any] = [0, -1, 10**9]
        if param.min is not None:
            values += [param.min - 1, param.min]
        if param.max is not None:
            values += [param.max, param.max + 1]
        if param.type == "int":
            values.append(2.5)
        return values
    if param.type in ("date", "datetime"):
        return ["2026-02-30", "not-a-date", "1900-01-01", "2999-12-31"]
    if param.type == "enum":
        return ["", (param.values or ["x"])[0].upper()]
    if param.type == "bool":
        return [0, 1]
    limit = param.max_length or 200
    return ["", "x" * limit, "x" * (limit + 1)]


def _list_boundaries(param: ParamSpec, valid: Any) -> list[Any]:
    """Lists at and past their bounds, with a repeated item, and with one bad item (a wrong type,
    an unknown id, an object missing a field or carrying an extra one)."""
    items = list(valid) if isinstance(valid, list) and valid else []
    first: Any = items[0] if items else None
    most = param.max_items or 1
    values: list[Any] = [[], [first] * (most + 1), [first, first], items[:1]]
    if param.items is not None:
        values += [[*items, _bad_type(param.items)], [*items, *[None]]]
        if param.items.type == "ref":
            values.append([*items, "ZZ-0000"])
        else:
            values += [[*items, b] for b in _boundaries(param.items)[:4]]
    elif isinstance(first, dict):
        for fname, f in (param.fields or {}).items():
            values.append([*items, {k: v for k, v in first.items() if k != fname}])
            values.append([*items, {**first, fname: _bad_type(f)}])
            values.append([{**first, fname: "ZZ-0000" if f.type == "ref" else _boundaries(f)[-1]}])
        values += [[{**first, "unexpected_field": 1}], [*items, "not an object"]]
    return values


def _generated_calls(state: State, tool: str, rng: random.Random, per_tool: int) -> list[tuple[str, Any]]:
    """Calls of every category for one tool, starting from a valid call where one exists."""
    spec = state.spec
    params = spec.tools[tool].params
    found = find_successful_call(state, tool, seed=rng.randint(0, 1 << 30))
    base: dict[str, Any] = dict(found[0]) if found else next(candidate_calls(state, tool, rng, 1), {})
    calls: list[tuple[str, Any]] = [("valid", base)]
    calls += [("bound", args) for args in candidate_calls(state, tool, rng, max(6, per_tool // 2))]
    # where bugs hide: values an existing row already holds in a unique field or group, and values
    # at the edges of every time rule and of the bounds of the fields a parameter sets
    calls += [("collision", args) for args in collision_calls(state, tool, base, rng)]
    for name, values in time_edge_values(spec, tool).items():
        calls += [("time_edge", {**base, name: value}) for value in values]
    for name, numbers in bound_edge_values(spec, tool).items():
        calls += [("bound_edge", {**base, name: value}) for value in numbers]
    for name, param in params.items():
        if param.required:
            calls.append(("missing", {k: v for k, v in base.items() if k != name}))
        calls.append(("wrong_type", {**base, name: _bad_type(param)}))
        calls.append(("null", {**base, name: None}))
        if param.type == "ref":
            calls.append(("unknown_id", {**base, name: "ZZ-0000"}))
        values = _list_boundaries(param, base.get(name)) if param.type == "list" else _boundaries(param)
        for value in values:
            calls.append(("boundary", {**base, name: value}))
        if param.kind == "string" and param.type not in ("enum", "ref", "date", "datetime"):
            calls += [("hostile", {**base, name: text}) for text in HOSTILE]
        elif param.type == "ref":
            calls.append(("hostile", {**base, name: HOSTILE[0]}))
    calls.append(("extra", {**base, "unexpected_argument": 1}))
    calls.append(("not_an_object", [base]))
    while len(calls) < per_tool:
        calls += [("bound", args) for args in candidate_calls(state, tool, rng, per_tool - len(calls))]
    return calls


def test_domain(
    spec: DomainSpec, *, seed: int = 0, calls_per_tool: int = 24, walk_steps: int = 24, initial: State | None = None
) -> DomainReport:
    """Exercise every tool of a domain and check invariants; the report says whether it passes."""
    rng = random.Random(f"proctest:{spec.name}:{seed}")
    state = initial.fork() if initial is not None else seed_state(spec)
    run = _Run(spec, rng, tools={name: ToolReport() for name in spec.tools}, coverage=Coverage(spec))
    image = state.snapshot()
    for tool in spec.tools:
        for category, args in _generated_calls(state, tool, rng, calls_per_tool):
            run.check_call(image, [], tool, args, category)

    # A random walk of successful writes, exercising tools on states the seed alone never shows.
    writes = spec.write_tools()
    prefix: list[CallRecord] = []
    for step in range(walk_steps if writes else 0):
        tool = rng.choice(writes)
        found = find_successful_call(state, tool, seed=step, limit=80)
        if found is None:
            continue
        args = found[0]
        image = state.snapshot()
        run.check_call(image, prefix, tool, args, "walk")
        probe = rng.choice(list(spec.tools))
        for probe_args in candidate_calls(state, probe, rng, 2):
            run.check_call(image, prefix, probe, probe_args, "walk")
        execute(state, tool, args)
        prefix.append(CallRecord(tool=tool, arguments=args))
    state.close()
    run.close()

    for tool, report in run.tools.items():
        report.rules_total = len(spec.tools[tool].requires)
        report.rules_seen_failing = len(run.rules_failing.get(tool, set()))
    defects: list[Violation] = []
    seeded = seed_state(spec) if initial is None else initial
    seeded_image = seeded.snapshot()
    snapshot = hashlib.sha256(seeded_image).hexdigest()[:16]
    for tool, report in run.tools.items():
        if report.succeeded == 0:
            # before declaring it: arguments that meet every rule together, searched for in the rows
            met, why_not = satisfying_call(seeded, tool)
            if met is not None:
                run.check_call(seeded_image, [], tool, met, "search")
            if report.succeeded:
                continue
            _, args, why = run.near_misses.get(tool, (0, {}, "every call failed"))
            defects.append(
                Violation(kind="never_succeeds", tool=tool,
                          message=f"{DEFECTS['never_succeeds']}; {why_not or 'a call meeting every rule failed'}; the furthest call failed with: {why}",
                          arguments=met or args, state_snapshot=snapshot)
            )  # fmt: skip
            continue
        for rule in spec.tools[tool].requires:
            if rule.kept_by != "agent" or rule.error in run.kept.get(tool, set()):
                continue
            met, why_not = satisfying_call(seeded, tool, keep=[rule])
            if met is not None:
                run.check_call(seeded_image, [], tool, met, "search")
            if rule.error in run.kept.get(tool, set()):
                continue
            defects.append(
                Violation(kind="policy_never_kept", tool=tool, message=f"{DEFECTS['policy_never_kept']} '{rule.error}'; {why_not}",
                          arguments=met or {}, state_snapshot=snapshot)
            )  # fmt: skip
    run.close()
    graph = build_graph(spec)
    facts = graph_facts(spec, graph)
    for tool in facts["unreachable_write_tools"]:
        defects.append(
            Violation(
                kind="unreachable_write_tool", tool=tool, message=DEFECTS["unreachable_write_tool"], state_snapshot=snapshot
            )
        )
    return DomainReport(
        domain=spec.name,
        passed=not run.violations and not defects,
        calls=sum(t.calls for t in run.tools.values()),
        tools=run.tools,
        violations=run.violations,
        defects=defects,
        graph=facts,
        uncovered=[b.describe() for b in run.coverage.uncovered()] if run.coverage is not None else [],
    )


test_domain.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, despite the name

GATE_SEEDS = 3

_STATIC_DEFECTS = {"unreachable_write_tool"}
"""Defects of the tool graph alone: the same on every seed, so reported once and without one."""


def gate(spec: DomainSpec, *, seeds: int = GATE_SEEDS, calls_per_tool: int = 24) -> DomainReport:
    """The procedural tests on ``seeds`` runs, so that a verdict does not hang on one draw of luck.

    Run ``k`` seeds the data with ``spec.seed + k`` (other rows, other statuses, other dates) and
    draws its calls with seed ``k``; run 0 is the shipped state. A domain passes only if every run
    passes; every defect and violation says which run found it.
    """
    reports: list[DomainReport] = []
    upfront: list[Violation] = []  # defects found before any run: failing examples, seeds that cannot be filled
    by_examples = Coverage(spec)  # the effect branches the examples take count as taken
    with contextlib.suppress(SeedError):  # the shipped seed cannot be filled: run 0 says so below
        upfront += [
            Violation(kind="example_failed", tool=tool, message=message, arguments=call, state_snapshot="-", seed=None)
            for tool, _, call, message in example_problems(spec, observe=by_examples.observe)
        ]
    taken = {b.describe() for b in by_examples.seen}
    for k in range(max(1, seeds)):
        try:
            initial = seed_state(spec, seed=spec.seed + k)
        except SeedError as exc:  # one line for this run; the other runs are still made and reported
            upfront.append(
                Violation(kind="unseedable", tool=SEED_DATA, message=f"gate seed {k} (data seed {spec.seed + k}): {exc}",
                          state_snapshot="-", seed=k)
            )  # fmt: skip
            continue
        report = test_domain(spec, seed=k, calls_per_tool=calls_per_tool, initial=initial)
        initial.close()
        for item in [*report.violations, *report.defects]:
            item.seed = None if item.kind in _STATIC_DEFECTS else k
        reports.append(report)
    if not reports:
        return DomainReport(domain=spec.name, passed=False, calls=0, tools={name: ToolReport() for name in spec.tools},
                            violations=[], defects=upfront, graph={}, seeds=[])  # fmt: skip
    first = reports[0]
    tools = {
        name: ToolReport(
            calls=sum(r.tools[name].calls for r in reports),
            succeeded=sum(r.tools[name].succeeded for r in reports),
            failed_by_code={code: sum(r.tools[name].failed_by_code.get(code, 0) for r in reports)
                            for code in {c for r in reports for c in r.tools[name].failed_by_code}},
            calls_by_category={cat: sum(r.tools[name].calls_by_category.get(cat, 0) for r in reports)
                               for cat in {c for r in reports for c in r.tools[name].calls_by_category}},
            rules_seen_failing=max(r.tools[name].rules_seen_failing for r in reports),
            rules_total=first.tools[name].rules_total,
        )
        for name in first.tools
    }  # fmt: skip
    return DomainReport(
        domain=spec.name,
        passed=all(r.passed for r in reports) and not upfront,
        calls=sum(r.calls for r in reports),
        tools={name: tools[name] for name in sorted(tools, key=list(first.tools).index)},
        violations=[v for r in reports for v in r.violations],
        defects=[*upfront, *(d for r in reports for d in r.defects if d.kind not in _STATIC_DEFECTS or r is first)],
        graph=first.graph,
        uncovered=[b for b in first.uncovered if all(b in r.uncovered for r in reports) and b not in taken],
        seeds=[r_seed for r_seed in range(max(1, seeds)) if r_seed not in {u.seed for u in upfront if u.kind == "unseedable"}],
    )
