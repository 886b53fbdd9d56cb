"""Verifiable tasks by graph expansion.

A task is built the way a support conversation unfolds: a user (a persona found through
an entry tool, e.g. a customer by email) wants one or more things done. For each goal we
pick a write tool, preferring ones the dependency graph links to the previous goal, and
bind its arguments to real rows the user owns or can describe. The reference solution is
the chain an agent would run: find the user, discover the rows (lookups and searches
whose results contain them), then the writes. The chain is executed on a fork of the
initial state; checks are derived from what actually changed, and a task is kept only if
every step succeeded and its checks pass on the end state and fail on the initial state.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..engine.binding import candidate_calls, pair_search
from ..engine.diff import StateDiff
from ..engine.runtime import ToolResult, execute
from ..engine.seed import seed_state
from ..engine.state import State
from ..spec.graph import build_graph, entry_tools
from ..spec.model import DomainSpec, IncludeSpec
from ..spec.task import AnswerType, CheckSpec, TaskKind, TaskSpec, ToolCall
from ..spec.types import ref_var
from .answers import answer_type_for, format_answer_value
from .claims import action_verbs
from .derive import checks_from_diff
from .distractors import add_distractors
from .grader import Evidence, evaluate_checks
from .policy import PolicyMonitor, shown_ids
from .wording import (
    cheapest,
    condition,
    count_question,
    describing_fields,
    entity_noun,
    extreme,
    extreme_date_question,
    fact,
    field_phrase,
    question,
    request,
    row_description,
    row_part,
    sentence_case,
    series,
    superlative,
    total_question,
    value_phrase,
    words,
)

__all__ = ["generate_tasks", "initial_state_ref", "persona_tool"]

_INTERNAL_ID = re.compile(r"\b[A-Z][A-Z0-9]{0,5}-\d{4,}\b")


def persona_tool(spec: DomainSpec) -> str | None:
    """The entry lookup that identifies the user: all its keys are identifying fields."""
    for name in entry_tools(spec):
        lookup = spec.tools[name].lookup
        if lookup and all(spec.entities[lookup.entity].fields[f].identifying for f in lookup.by if f != "id"):
            return name
    return None


def initial_state_ref(spec: DomainSpec, state: State, seed: int | None = None) -> dict[str, Any]:
    """How a task's initial state is made again: the seed the domain was seeded with (its own by
    default) and the image's sha256, which the coordinator checks before an episode starts."""
    return {"seed": spec.seed if seed is None else seed, "sha256": hashlib.sha256(state.snapshot()).hexdigest()}


@dataclass
class _Build:
    spec: DomainSpec
    state: State
    rng: random.Random
    persona_entity: str
    persona: dict[str, Any]
    known: set[str] = field(default_factory=set)
    solution: list[ToolCall] = field(default_factory=list)
    created: dict[str, list[str]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    phrases: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    """the phrases without the facts that find their rows"""
    details: dict[str, list[str]] = field(default_factory=dict)
    """a row's noun -> the sentences that tell the agent how to find it ("The flight's origin is ...")"""
    facts: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    """what the user adds so a row can be found: (the row's noun, (field phrase, value) pairs)"""
    described: dict[str, list[str]] = field(default_factory=dict)
    """row id -> the fields its last description used"""
    conditions: set[str] = field(default_factory=set)
    """descriptions that single a row out by a condition ("whichever of my orders is pending")"""
    rules: int = 0
    distractors: set[str] = field(default_factory=set)
    """rows the task names that have a near duplicate in the state (a flight an hour later, a namesake)"""
    condition_share: float = 0.5
    """how often a row is named by a condition rather than by its name (CONDITION_SHARE, or 1 when the mix needs it)"""
    aggregates: int = 0
    answered: Counter[tuple[str, str, Any]] = field(default_factory=Counter)
    value_counts: dict[tuple[str, str], dict[Any, int]] = field(default_factory=dict)
    """(entity, field) -> rows per value in the initial state (shared across one generation)"""
    refusable: set[str] | None = None
    """write tools a refusal may be asked of (None: any with an agent-kept rule)"""
    read: set[str] = field(default_factory=set)
    """ids of the rows the reference's calls showed (a refusal's deciding row must be among them)"""
    owned_cache: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    """(entity, depth) -> ids the user owns; cleared by every write"""
    """(entity, field, value) -> how many kept tasks ask for it (shared across one generation)"""

    def say(self, text: str, facts: list[tuple[str, list[tuple[str, str]]]]) -> None:
        """One request of the task, with what the user adds so its rows can be found; the request and
        those facts are also kept apart, for a user who says the request first and the facts when asked."""
        self.phrases.append(_with_facts(text, facts))
        self.requests.append(text)
        for noun, sentence in _unsaid(text, facts):
            self.details.setdefault(noun, []).append(sentence_case(sentence))

    def checkpoint(self) -> tuple[int, set[str], int, set[str]]:
        return len(self.solution), set(self.known), len(self.facts), set(self.read)

    def rollback(self, mark: tuple[int, set[str], int, set[str]]) -> None:
        """Forget calls (and what they revealed) made since ``mark``: reads only, so the state is intact."""
        del self.solution[mark[0] :]
        self.known = set(mark[1])
        self.read = set(mark[3])
        del self.facts[mark[2] :]

    def run(self, tool: str, args: dict[str, Any]) -> dict[str, Any] | None:
        result = execute(self.state, tool, args)
        if self.spec.tools[tool].is_write:
            self.owned_cache.clear()
        if not result.ok or result.data is None:
            return None
        self.solution.append(ToolCall(tool=tool, arguments=args))
        self.read.update(shown_ids(result.data))
        rows = result.data.get("items", [result.data])
        rows = [part for row in rows for part in ((row["first"], row["second"]) if "first" in row else (row,))]  # pairs
        joined = [r for name in self.spec.tools[tool].include for r in result.data.get(name, [])]  # a reservation's passengers
        for row in [*rows, *joined]:
            if "id" not in row:
                continue  # a computed answer names no row
            self.known.add(row["id"])
            for key, value in row.items():
                if key.endswith("_id") and isinstance(value, str):
                    self.known.add(value)
        return result.data

    # ------------------------------------------------------------ ownership and descriptions

    def owned(self, entity: str, row: dict[str, Any]) -> bool:
        """Whether the user owns ``row``: its references lead to the user within three steps."""
        return str(row["id"]) in self._owned_ids(entity, 0)

    def unowned(self, entity: str, row: dict[str, Any], depth: int = 0) -> bool:
        """Whether no user owns ``row`` (a device in stock, a seat nobody holds): its references reach no user."""
        for fname, f in self.spec.entities[entity].fields.items():
            if f.type != "ref" or row.get(fname) is None:
                continue
            if f.ref == self.persona_entity:
                return False
            if depth < 2 and self.ownable(str(f.ref)):
                parent = self.state.get(str(f.ref), row[fname])
                if parent is not None and not self.unowned(str(f.ref), parent, depth + 1):
                    return False
        return True

    def owned_rows(self, entity: str) -> list[dict[str, Any]]:
        """The rows of ``entity`` the user owns, found from the user down the indexed references
        (the same rows :meth:`owned` accepts, without reading every row of the table)."""
        ids = self._owned_ids(entity, 0)
        return self.state.find(entity, {"id__in": sorted(ids)}) if ids else []

    def _owned_ids(self, entity: str, depth: int) -> frozenset[str]:
        if entity == self.persona_entity:
            return frozenset({str(self.persona["id"])})
        if depth > 2:
            return frozenset()
        key = (entity, depth)
        if key not in self.owned_cache:
            found: set[str] = set()
            for fname, f in self.spec.entities[entity].fields.items():
                if f.type == "ref" and f.ref in self.spec.entities:
                    parents = self._owned_ids(str(f.ref), depth + 1)
                    if parents:
                        found |= {r["id"] for r in self.state.find(entity, {f"{fname}__in": sorted(parents)})}
            self.owned_cache[key] = frozenset(found)
        return self.owned_cache[key]

    def ownable(self, entity: str, depth: int = 0) -> bool:
        if entity == self.persona_entity:
            return True
        return depth < 3 and any(
            f.type == "ref" and self.ownable(str(f.ref), depth + 1) for f in self.spec.entities[entity].fields.values()
        )

    def describe(self, entity: str, row: dict[str, Any]) -> str | None:
        """Words that single out ``row`` among the rows a user could mean; None if impossible."""
        if entity == self.persona_entity and row["id"] == self.persona["id"]:
            return "my profile"
        spec_entity = self.spec.entities[entity]
        noun = entity_noun(entity, spec_entity)
        if row["id"] in self.created.get(entity, []) and len(self.created[entity]) == 1:
            return f"the new {noun} you just made"
        mine = entity != self.persona_entity and self.ownable(entity) and self.owned(entity, row)
        candidates = self.owned_rows(entity) if mine else []  # others' rows: matches are counted by query
        if mine and len(candidates) > 1 and self.rng.random() < self.condition_share:
            by_condition = self._by_condition(entity, row, candidates)
            if by_condition is not None:
                self.conditions.add(by_condition[0])
                self.described[row["id"]] = [by_condition[1]]
                return by_condition[0]
        if not mine and entity != self.persona_entity and self.rng.random() < self.condition_share:
            choice = self._cheapest(entity, row)
            if choice is not None:
                self.conditions.add(choice[0])
                self.described[row["id"]] = choice[1]
                return choice[0]
        pool = [r for r in candidates if r["id"] != row["id"]]
        chosen: list[str] = []
        parts: list[str] = []
        twins = self.twins(entity, row)
        if twins:
            self.distractors.add(str(row["id"]))
        for fname in describing_fields(spec_entity):
            if row.get(fname) is None or spec_entity.fields[fname].ref == self.persona_entity:
                continue
            if twins and spec_entity.fields[fname].unique and self.rng.random() < DISTRACTOR_SHARE:
                continue  # named the way people name it (route and time, not the flight number): the twin is a trap
            text = self._value_text(entity, fname, row[fname])
            if text is None:
                continue
            chosen.append(fname)
            f = spec_entity.fields[fname]
            parts.append(row_part(fname, f, text, label=fname == spec_entity.label))
            alike = (
                any(all(other.get(f) == row.get(f) for f in chosen) for other in pool)
                if mine
                else len(self.state.find(entity, {f: row[f] for f in chosen})) > 1
            )
            if not alike:
                self.described[row["id"]] = chosen
                return row_description(noun, mine, parts)
        return None

    def twins(self, entity: str, row: dict[str, Any]) -> bool:
        """Whether a near duplicate of ``row`` was seeded beside it: a row equal in every field but
        those its blueprint varies, its unique ones and derived ones."""
        spec_entity = self.spec.entities[entity]
        if spec_entity.near_duplicates is None:
            return False
        vary = set(spec_entity.near_duplicates.vary)
        same = {n: row.get(n) for n, f in spec_entity.fields.items() if n not in vary and not f.unique and not f.derive}
        return len(self.state.find(entity, same, limit=2)) > 1

    def _by_condition(self, entity: str, row: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[str, str] | None:
        """The user's row named by what holds only for it among theirs: "whichever of my orders is
        pending", "the booking I made most recently"; (the words, the field), or None."""
        spec_entity = self.spec.entities[entity]
        noun = entity_noun(entity, spec_entity)
        fields = [n for n in describing_fields(spec_entity) if n != spec_entity.label and not spec_entity.fields[n].identifying]
        self.rng.shuffle(fields)
        for fname in fields:
            f = spec_entity.fields[fname]
            value = row.get(fname)
            if value is None:
                continue
            if f.type == "enum" and sum(1 for r in rows if r.get(fname) == value) == 1:
                return condition(noun, fname, f, value_phrase(f, value)), fname
            if f.type == "money" and all(r.get(fname) is not None for r in rows):
                amounts = [r[fname] for r in rows]
                if amounts.count(value) == 1 and value in (max(amounts), min(amounts)):
                    return extreme(noun, fname, f, highest=value == max(amounts)), fname
            dated = [r[fname] for r in rows if r.get(fname) is not None]
            if f.type in ("date", "datetime") and len(dated) == len(rows) and dated.count(value) == 1:
                if value == max(dated):
                    latest = superlative(noun, fname, f, latest=True)
                    if latest:
                        return latest, fname
                if value == min(dated):
                    earliest = superlative(noun, fname, f, latest=False)
                    if earliest:
                        return earliest, fname
        return None

    def _cheapest(self, entity: str, row: dict[str, Any]) -> tuple[str, list[str]] | None:
        """A catalogue row chosen the way a shopper chooses: the cheapest of the rows like it (the same
        parent, the same kind and state), when it is the only cheapest; (the words, the fields used)."""
        fields = self.spec.entities[entity].fields
        money = [n for n, f in fields.items() if f.type == "money"]
        parents = [n for n, f in fields.items() if f.type == "ref" and f.ref != self.persona_entity and row.get(n) is not None]
        if len(money) != 1 or not parents or row.get(money[0]) is None:
            return None  # one price, so "cheapest" cannot mean two things; a parent, so "like it" is what a list shows
        if any(f.type == "bool" and row.get(n) is False for n, f in fields.items()):
            return None  # not on offer (a dish not available): "the cheapest" means one that can be had
        kinds = [n for n, f in fields.items() if f.type == "enum" and row.get(n) is not None]
        like = self.state.find(entity, {n: row[n] for n in parents + kinds}, limit=_CHOICE_GROUP + 1)
        prices = [r[money[0]] for r in like]
        if not 2 <= len(like) <= _CHOICE_GROUP or prices.count(row[money[0]]) != 1 or row[money[0]] != min(prices):
            return None
        parts = []
        for n in parents + kinds:
            text = self._value_text(entity, n, row[n])
            if text is None:
                return None
            parts.append(row_part(n, fields[n], text))
        return cheapest(entity_noun(entity, self.spec.entities[entity]), parts), parents + kinds + money

    def _value_text(self, entity: str, fname: str, value: Any, depth: int = 0) -> str | None:
        """How a value reads after its field's words: the value, or for a reference the row it names."""
        f = self.spec.entities[entity].fields[fname]
        if f.type != "ref":
            return value_phrase(f, value)
        target = self.spec.entities[str(f.ref)]
        parent = self.state.get(str(f.ref), value)
        if parent is None:
            return None
        label = target.label or next((n for n, x in target.fields.items() if x.identifying), None)
        if label and parent.get(label) is not None:
            return value_phrase(target.fields[label], parent[label])
        if depth > 0:
            return None
        texts = [
            self._value_text(str(f.ref), n, parent[n], depth + 1)
            for n, x in target.fields.items()
            if x.type == "ref" and x.ref != self.persona_entity and parent.get(n) is not None
        ]
        inner = [t for t in texts if t]
        return f"the {entity_noun(str(f.ref), target)} for {' and '.join(inner)}" if inner else None

    # ------------------------------------------------------------ discovery

    def discover(self, entity: str, row: dict[str, Any], depth: int = 0) -> bool:
        """Add calls that make ``row``'s id known, the way an agent would find it."""
        if row["id"] in self.known:
            return True
        if depth > 3:
            return False
        for attempt in range(2):
            for name, tool in self.spec.tools.items():
                joins = [j for j in tool.include.values() if j.entity == entity]
                if tool.is_write or (self.spec.view(name).returns != entity and not joins):
                    continue
                args = self._fill(name, entity, row) if not joins else self._fill_joined(name, joins[0], row)
                if args is None:
                    continue
                data = self.run(name, args)
                if data is not None and row["id"] in self.known:
                    stated = [f for f, p in (tool.lookup.by.items() if tool.lookup else [])]  # what the lookup needs
                    if tool.search:
                        stated = [
                            f
                            for f, _, p in tool.search.filters
                            if p in args
                            and self.spec.entities[entity].fields.get(f)
                            and self.spec.entities[entity].fields[f].type != "ref"
                        ]
                    if stated:  # said unless the request already says it (see _with_facts)
                        fields = self.spec.entities[entity].fields
                        said = [(field_phrase(f, fields[f]), value_phrase(fields[f], row[f])) for f in stated]
                        noun = entity_noun(entity, self.spec.entities[entity])
                        self.facts.append((noun, said))
                    return True
                if data is not None:
                    self.solution.pop()  # did not find it; do not keep a useless step
            if attempt == 0:
                for fname, f in self.spec.entities[entity].fields.items():
                    parent_id = row.get(fname)
                    if f.type == "ref" and parent_id and parent_id not in self.known:
                        parent = self.state.get(str(f.ref), parent_id)
                        if parent is not None:
                            self.discover(str(f.ref), parent, depth + 1)
        return False

    def _fill_joined(self, name: str, join: IncludeSpec, row: dict[str, Any]) -> dict[str, Any] | None:
        """Arguments that return the known parent row ``row`` is joined to (a reservation, for its passengers)."""
        tool = self.spec.tools[name]
        if len(tool.params) != 1 or len(tool.ref_params) != 1:
            return None
        (var, pname), = tool.ref_params.items()
        for fname, text in join.by.items():
            if text == f"{var}.id" and row.get(fname) in self.known:
                return {pname: row[fname]}
        return None

    def _fill(self, name: str, entity: str, row: dict[str, Any]) -> dict[str, Any] | None:
        tool = self.spec.tools[name]
        fields = self.spec.entities[entity].fields
        if tool.lookup:
            if not all(f in fields and fields[f].identifying for f in tool.lookup.by):
                return None
            return {param: row[f] for f, param in tool.lookup.by.items()}
        if tool.search:
            args: dict[str, Any] = {}
            for fname, op, param in tool.search.filters:
                if fname not in fields or row.get(fname) is None:
                    continue
                if op == "==" and fields[fname].type == "ref" and row[fname] in self.known:
                    args[param] = row[fname]
                elif op in ("==", "contains") and fields[fname].identifying and fields[fname].kind == "string":
                    args[param] = row[fname]  # a fact the user states, e.g. a product's name
            if all(p in args for p, spec in tool.params.items() if spec.required) and args:
                return args
        return None


# ---------------------------------------------------------------- goals


def _persona_params(build: _Build, tool_name: str) -> list[str]:
    """The parameters that are the user: a reference to the user's entity named for it (``attendee_id``);
    ``to_attendee_id`` names someone else."""
    persona = build.persona_entity
    return [p for p, s in build.spec.tools[tool_name].params.items() if s.type == "ref" and s.ref == persona and p == f"{persona}_id"]


def _candidates(build: _Build, tool_name: str, persona_params: list[str]) -> list[dict[str, Any]]:
    """Calls to try: rows the user owns for their own things, a sample of the rest (a catalogue, other
    people), so the cost follows the user's rows and the sample, not the size of the tables."""
    spec = build.spec
    entities = spec.view(tool_name).entities
    pools: dict[str, list[dict[str, Any]]] = {p: [build.persona] for p in persona_params}
    for pname, param in spec.tools[tool_name].params.items():
        if param.ref_entity is None or pname in persona_params:
            continue
        entity = entities[ref_var(pname)] if param.type == "ref" else str(param.ref_entity)  # a list of refs: its items'
        sample = build.state.sample(entity, build.rng, _SAMPLE)
        if build.ownable(entity) and entity != build.persona_entity:
            owned = build.owned_rows(entity)
            ids = {r["id"] for r in owned}
            others = [] if param.type == "list" and owned else sample[: _SAMPLE // 4]  # a list of the user's rows: theirs only
            pools[pname] = owned + [r for r in others if r["id"] not in ids]
        else:
            pools[pname] = sample
    candidates = list(candidate_calls(build.state, tool_name, build.rng, 60, pools=pools, like_rows=True))
    for args in candidates:
        for p in persona_params:
            args[p] = build.persona["id"]
    return candidates


_Read = tuple[str, dict[str, Any]]


def _bind_rows(
    build: _Build, tool_name: str, args: dict[str, Any], persona_params: list[str], reads: list[_Read] | None = None
) -> tuple[list[tuple[str, str]], list[tuple[str, dict[str, Any]]]] | None:
    """How the user names each row the call refers to (and the rows), if every one is theirs and nameable.
    Two rows a pairs search finds together are named as the pair ("the one-stop trip from Oslo to
    Porto"); the search that finds them goes to ``reads``, for the reference solution."""
    phrases, rows = [], []
    for pname, param in build.spec.tools[tool_name].params.items():
        if pname in persona_params or pname not in args:
            continue
        named = param.named_ids(args[pname])  # a ref, or every id of a list of refs
        if not named:
            continue
        pair = _pair_named(build, named) if param.type == "list" and reads is not None else None
        if pair is not None and reads is not None:
            phrases.append((pname, pair[0]))
            reads.append(pair[1])
            continue
        texts = []
        for entity, row_id in named:
            row = build.state.get(entity, row_id)
            if row is None:
                return None
            someone = entity == build.persona_entity  # another person the call names (a ticket's new holder)
            if build.ownable(entity) and not build.owned(entity, row) and not someone and not build.unowned(entity, row):
                return None  # another user's row: never asked for
            said = build.describe(entity, row)
            if said is None or said in texts:
                return None
            texts.append(said)
            rows.append((entity, row))
        phrases.append((pname, series(texts)))
    return phrases, rows


def _pair_named(build: _Build, named: list[tuple[str, str]]) -> tuple[str, _Read] | None:
    """The blueprint's phrase for two rows a pairs search returns together, and that search's call;
    the first row's time is added when the search finds more than one such pair."""
    if len(named) != 2 or named[0][0] != named[1][0]:
        return None
    entity = named[0][0]
    first, second = build.state.get(entity, named[0][1]), build.state.get(entity, named[1][1])
    if first is None or second is None:
        return None
    if build.ownable(entity) and not (build.owned(entity, first) and build.owned(entity, second)):
        return None  # personal rows: only the user's own pair is ever asked for
    searched = pair_search(build.state, entity, first, second, phrased=True)
    if searched is None:
        return None
    name, args, found = searched
    tool = build.spec.tools[name]
    text = str(tool.search.pairs.phrase)  # type: ignore[union-attr]
    for p, v in args.items():
        text = text.replace(f"{{{p}}}", value_phrase(tool.params[p], v))
    if "{" in text:
        return None  # a slot the pair does not fill
    if len(found) > 1:  # told apart by when each leaves
        fields = build.spec.entities[entity].fields
        timed = next((f for f in describing_fields(build.spec.entities[entity]) if fields[f].type in ("date", "datetime")), None)
        alike = [p for p in found if timed and (p["first"][timed], p["second"][timed]) == (first[timed], second[timed])]
        if timed is None or len(alike) != 1:
            return None
        part = row_part(timed, fields[timed], value_phrase(fields[timed], first[timed]))
        text += f" {part}, then {value_phrase(fields[timed], second[timed])}"
    return text, (name, args)


def _action_goal(build: _Build, tool_name: str, prefer: set[str]) -> bool:
    """Bind, describe and run one write; False (and no change) if no good binding exists."""
    spec = build.spec
    tool = spec.tools[tool_name]
    persona_params = _persona_params(build, tool_name)
    candidates = _candidates(build, tool_name, persona_params)
    candidates.sort(key=lambda a: -sum(1 for v in a.values() for x in (v if isinstance(v, list) else [v]) if isinstance(x, str) and x in prefer))
    for args in candidates[:40]:
        reads: list[_Read] = []
        bound = _bind_rows(build, tool_name, args, persona_params, reads)
        if bound is None:
            continue
        phrases, rows = bound
        if not _succeeds(build.state, tool_name, args):
            continue
        mark = build.checkpoint()
        if any(build.run(read, read_args) is None for read, read_args in reads):  # the search that finds a pair
            build.rollback(mark)
            continue
        if not all(build.discover(entity, row) for entity, row in rows):
            build.rollback(mark)
            continue
        mark_rows = _journal_mark(build.state)
        if build.run(tool_name, args) is None:
            build.rollback(mark)
            continue
        added, changed, _removed = _changes_since(build.state, mark_rows)
        for entity, row_id in sorted(added):
            build.created.setdefault(entity, []).append(row_id)
        build.touched.update(row_id for _, row_id in added)
        build.touched.update(row_id for _, row_id in changed)
        build.rules += len(tool.requires)
        text = _request(build, tool_name, args, phrases, persona_params)
        build.say(text, build.facts[mark[2] :])
        return True
    return False


def _request(build: _Build, tool_name: str, args: dict[str, Any], rows: list[tuple[str, str]], persona_params: list[str]) -> str:
    """The user's request for one call, in the blueprint's phrasing when it has one."""
    spec = build.spec
    entities = spec.view(tool_name).entities
    field_of = {}
    for pname in spec.tools[tool_name].params:  # a parameter named like a field of a row the call touches sets that field
        for entity in entities.values():
            if pname in spec.entities[entity].fields:
                field_of[pname] = spec.entities[entity].fields[pname]
                break
    persona = build.persona_entity
    return request(
        tool_name, spec.tools[tool_name], args, dict(rows), persona_params,
        persona_noun=entity_noun(persona, spec.entities[persona]) if persona else None, field_of=field_of, rng=build.rng,
    )  # fmt: skip


def _unsaid(text: str, facts: list[tuple[str, list[tuple[str, str]]]]) -> list[tuple[str, str]]:
    """(noun, sentence) for each fact the user adds so a row can be found, leaving out what ``text`` says."""
    return [(noun, fact(noun, unsaid)) for noun, said in facts if (unsaid := [(p, v) for p, v in said if v not in text])]


def _with_facts(text: str, facts: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """A request followed by what the user adds so its rows can be found (what it already says is left out)."""
    new = [sentence for _, sentence in _unsaid(text, facts)]
    return text + (" " + sentence_case("; ".join(new)) if new else "")


def _information_goal(build: _Build) -> CheckSpec | None:
    """Ask for one fact about a row the user owns, found by the chain's reads."""
    spec = build.spec
    entities = [e for e in spec.entities if build.ownable(e)]
    build.rng.shuffle(entities)
    for entity in entities:
        rows = build.owned_rows(entity)
        if not rows:
            continue
        row = build.rng.choice(rows)
        text = build.describe(entity, row)
        if text is None:
            continue
        described = set(build.described.get(row["id"], []))
        options = [
            f for f, s in spec.entities[entity].fields.items()
            if s.type in ("enum", "money", "int", "date", "bool") and f not in described and row.get(f) is not None
        ]  # fmt: skip
        if not options:
            continue
        fname = build.rng.choice(options)
        field_spec = spec.entities[entity].fields[fname]
        if not _fair_question(build, entity, fname, row[fname]):
            continue
        mark = build.checkpoint()
        if not build.discover(entity, row):
            build.rollback(mark)
            continue
        build.say(question(fname, field_spec, text), build.facts[mark[2] :])
        answer_type = answer_type_for(field_spec.type, field_spec.sample)
        choices: list[Any] = list(field_spec.values or []) if answer_type == "enum" else []
        return CheckSpec(
            kind="answer",
            description=f"the answer gives {entity} {row['id']}.{fname} = {format_answer_value(row[fname])} (and nothing else)",
            entity=entity, id=row["id"], field=fname, value=row[fname], answer_type=answer_type, choices=choices,
            subject=words(fname).split(),
        )  # fmt: skip
    return None


def _aggregate_goal(build: _Build) -> CheckSpec | None:
    """Ask for something only all of the user's rows together answer: how many are in a state, what
    their amounts add up to, the latest or earliest date. The chain's reads must show every row."""
    spec = build.spec
    entities = [e for e in spec.entities if e != build.persona_entity and build.ownable(e)]
    build.rng.shuffle(entities)
    for entity in entities:
        rows = build.owned_rows(entity)
        if not 2 <= len(rows) <= _AGGREGATE_ROWS:
            continue
        options = _aggregate_options(build, entity, rows)
        if not options:
            continue
        text, fname, value, answer_type, filtered = build.rng.choice(options)
        if answer_type == "number" and build.answered[(AGGREGATE_KEY, "count", value)] > min(
            build.answered[(AGGREGATE_KEY, "count", n)] for n in range(1, min(len(rows), 4))
        ):
            continue  # small counts spread evenly: always answering "1" is worth no more than chance
        mark = build.checkpoint()
        if not all(build.discover(entity, r) for r in rows) or len(build.facts) > mark[2]:
            build.rollback(mark)  # every row must be found from the user alone, with nothing more said
            continue
        build.say(text, [])
        build.aggregates += 1
        if filtered:
            build.conditions.add(text)
        return CheckSpec(
            kind="answer",
            description=f"the answer gives {format_answer_value(value)}: {text} (over the user's {len(rows)} {entity} rows)",
            entity=entity, field=fname, value=value, answer_type=answer_type, subject=words(fname).split(),
        )  # fmt: skip
    return None


def _aggregate_options(build: _Build, entity: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, Any, AnswerType, bool]]:
    """(question, field, answer, answer type, whether it filters by a condition) over ``rows``."""
    spec_entity = build.spec.entities[entity]
    noun = entity_noun(entity, spec_entity)
    out: list[tuple[str, str, Any, AnswerType, bool]] = []
    statuses = [n for n, f in spec_entity.fields.items() if n == "status" and f.type == "enum"]
    for fname, f in spec_entity.fields.items():
        if f.identifying or any(r.get(fname) is None for r in rows):
            continue
        values: list[Any] = [r[fname] for r in rows]
        if f.type == "enum":
            for v in sorted(set(values), key=str):
                if values.count(v) < len(rows):
                    out.append((count_question(noun, fname, f, value_phrase(f, v)), fname, values.count(v), "number", True))
        elif f.type == "money":
            out.append((total_question(noun, fname, f, None), fname, round(sum(values), 2), "money", False))
            for status in statuses:
                field_spec = spec_entity.fields[status]
                for v in sorted({r[status] for r in rows}, key=str):
                    chosen = [r[fname] for r in rows if r[status] == v]
                    if 2 <= len(chosen) < len(rows):
                        text = total_question(noun, fname, f, value_phrase(field_spec, v))
                        out.append((text, fname, round(sum(chosen), 2), "money", True))
        elif f.type in ("date", "datetime"):
            days = [str(v)[:10] for v in values]
            for latest in (True, False):
                target = max(days) if latest else min(days)
                question_text = extreme_date_question(noun, fname, f, latest=latest)
                if question_text is not None and days.count(target) == 1:
                    out.append((question_text, fname, target, "date", False))
    return out


def _refusal_goal(build: _Build) -> tuple[list[CheckSpec], ToolCall] | None:
    """Ask for a write a rule the agent keeps forbids on the user's own row, because of one field's value.

    The tool would accept the call (the rule is the agent's to keep, so relaying a tool error cannot
    solve it); the reason is found by execution: the call breaks the rule now and keeps it when only
    that field holds another of its values. The agent succeeds by reading the row that decides it and
    making no write, and must not tell the user it was done; naming the reason is reported, not paid
    (returns the checks and the refused tool).
    """
    spec = build.spec
    tools = [t for t in spec.write_tools() if any(r.kept_by == "agent" for r in spec.tools[t].requires)]
    tools = [t for t in tools if t in build.refusable] if build.refusable is not None else tools
    build.rng.shuffle(tools)
    for tool_name in tools:
        persona_params = _persona_params(build, tool_name)
        for args in _refusal_candidates(build, tool_name, persona_params):
            bound = _bind_rows(build, tool_name, args, persona_params)
            if bound is None or not bound[1]:
                continue
            result = _trial(build.state, tool_name, args)
            if not result.ok or not result.breaches:
                continue  # refused by the tool itself (integrity), or allowed: not the agent's judgment
            own = (build.persona_entity, build.state.get(build.persona_entity, str(build.persona["id"])) or build.persona)
            blocking = _blocking_field(build.state, tool_name, args, [*bound[1], own])  # the user's own row may decide (a tier)
            if blocking is None:
                continue
            entity, row, fname, disallowed = blocking
            if fname in build.described.get(row["id"], []):
                continue  # the request itself would say the reason ("cancel whichever of my bookings is cancelled")
            if not _fair_question(build, entity, fname, row[fname], family=REFUSAL_KEY, among=disallowed):
                continue  # reasons spread like answers do: guessing the commonest is worth no more than chance
            mark = build.checkpoint()
            if not all(build.discover(e, r) for e, r in bound[1]) or row["id"] not in build.read:
                build.rollback(mark)
                continue
            text = _request(build, tool_name, args, bound[0], persona_params)
            build.say(text, build.facts[mark[2] :])
            build.rules += 1
            noun = entity_noun(entity, spec.entities[entity])
            checks = [
                CheckSpec(kind="row_read", entity=entity, id=row["id"],
                          description=f"the agent looked up the {noun} that decides it ({entity} {row['id']})"),
                CheckSpec(kind="not_claimed", subject=action_verbs(tool_name),
                          description=f"the reply does not claim that {tool_name} was done"),
                CheckSpec(
                    kind="reason", entity=entity, id=row["id"], field=fname, value=row[fname], choices=disallowed,
                    subject=words(fname).split(),
                    description=(f"reported, not scored: the reply names the reason {tool_name} is not allowed: "
                                 f"{entity} {row['id']}.{fname} is {format_answer_value(row[fname])}"),
                ),
            ]  # fmt: skip
            return checks, ToolCall(tool=tool_name, arguments=args)
    return None


def _refusal_candidates(build: _Build, tool_name: str, persona_params: list[str]) -> Iterator[dict[str, Any]]:
    """Calls on the user's own rows whatever their state: the binder looks for calls that succeed,
    so each of its calls is tried again with every row of the user's in place of its main row."""
    entities = build.spec.view(tool_name).entities
    refs = [p for p, s in build.spec.tools[tool_name].params.items() if s.type == "ref" and p not in persona_params]
    for args in _candidates(build, tool_name, persona_params)[:5]:
        yield args
        for pname in refs[:1]:
            entity = entities[ref_var(pname)]
            if not build.ownable(entity):
                continue
            rows = build.owned_rows(entity)
            build.rng.shuffle(rows)
            for row in rows[:12]:
                if row["id"] != args.get(pname):
                    yield {**args, pname: row["id"]}


def _blocking_field(
    state: State, tool_name: str, args: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any], str, list[Any]] | None:
    """(entity, row, enum field, the values for which the policy forbids a call the tool would accept)
    for the first field whose value alone decides whether the call is allowed; None when no single
    field does. A value the tool itself refuses (an order cancelled twice) is no reason the agent keeps."""
    spec = state.spec
    for entity, row in rows:
        for fname, fspec in spec.entities[entity].fields.items():
            if fspec.type != "enum" or not fspec.values or row.get(fname) is None:
                continue
            verdicts: dict[Any, str] = {}
            for value in fspec.values:
                with state.trial():
                    try:
                        state.update(entity, row["id"], {fname: value})
                    except sqlite3.IntegrityError:  # a value this row cannot hold (a unique pair): not a reason
                        continue
                    outcome = execute(state, tool_name, args)
                    verdicts[value] = "tool" if not outcome.ok else "agent" if outcome.breaches else "allowed"
            if verdicts.get(row[fname]) == "agent" and "allowed" in verdicts.values():
                return entity, row, fname, [v for v, verdict in verdicts.items() if verdict == "agent"]
    return None


def _trial(state: State, tool: str, args: dict[str, Any]) -> ToolResult:
    """What a call would return now, leaving the state (and its journal) as it was."""
    with state.trial():
        return execute(state, tool, args)


def _succeeds(state: State, tool: str, args: dict[str, Any]) -> bool:
    """Whether a call would succeed now within the policy (no agent-kept rule broken), leaving the
    state (and its journal) as it was."""
    result = _trial(state, tool, args)
    return result.ok and not result.breaches


def _fair_question(
    build: _Build, entity: str, fname: str, value: Any, *, family: str = "", among: Sequence[Any] | None = None
) -> bool:
    """Ask about a value only while it has been the answer no more often than any other value of
    the field, so the task set's answers spread evenly and guessing the most common value in the
    data is worth no more than chance. ``among``: the values that could be the answer (a refusal's
    reasons are the values that forbid the call), when not every value of the field can."""
    if (entity, fname) not in build.value_counts:  # asked before any write (questions, refusals): the initial state's
        build.value_counts[(entity, fname)] = build.state.value_counts(entity, fname)
    counts = build.value_counts[(entity, fname)]
    if among is not None:
        counts = {v: n for v, n in counts.items() if v in among}
    values = set(counts)
    if len(values) < (1 if among is not None else 2):
        return False
    asked, key = build.answered, f"{family}{entity}"
    if asked[(key, fname, value)] > min(asked[(key, fname, v)] for v in values):
        return False
    # accepted in inverse proportion to how common the value is, so every value is equally likely
    # to be the answer (min(1, (1/k)/share) favoured the commonest: 62% of two-valued questions)
    return build.rng.random() < min(counts.values()) / counts[value]


# ---------------------------------------------------------------- the generator


def _one_task(
    spec: DomainSpec,
    initial: State,
    work: State,
    rng: random.Random,
    persona_tool_name: str,
    graph: nx.DiGraph,
    answered: Counter[tuple[str, str, Any]],
    kind: TaskKind,
    covered: frozenset[str] = frozenset(),
    goals: int = 1,
    initial_ref: dict[str, Any] | None = None,
    condition_share: float = 0.5,
    hidden_share: float = 0.35,
    value_counts: dict[tuple[str, str], dict[Any, int]] | None = None,
    force_tool: str | None = None,
    refusable: set[str] | None = None,
) -> TaskSpec | None:
    """One candidate task of ``kind`` for a user drawn at random, or None when it cannot be made or
    verified. ``force_tool``: an action task asking for that one write (the allowed counterpart of
    a refusal); ``refusable``: the write tools a refusal may ask for."""
    lookup = spec.tools[persona_tool_name].lookup
    assert lookup is not None
    initial_ref = initial_ref or initial_state_ref(spec, initial)
    persona = initial.sample(lookup.entity, rng, 1)[0]
    work.reset()  # back to the initial state: the cost of what the last candidate changed
    build = _Build(spec, work, rng, lookup.entity, persona, answered=answered, condition_share=condition_share,
                   value_counts=value_counts if value_counts is not None else {}, refusable=refusable)  # fmt: skip
    if build.twins(lookup.entity, persona):
        build.distractors.add(str(persona["id"]))  # a namesake: found by name alone, the wrong person
    if build.run(persona_tool_name, {p: persona[f] for f, p in lookup.by.items()}) is None:
        return None
    writes = spec.write_tools()
    information = kind != "action"  # a reply is what is asked for; the state must not change
    goal_checks: list[CheckSpec] = []
    decides: str | None = None
    refused: ToolCall | None = None
    answer: str | None = None
    if kind == "refusal":
        refusal = _refusal_goal(build)
        if refusal is None:
            return None
        goal_checks, refused = refusal
        decides = refused.tool
        answer = f"I'm sorry, I can't do that: the policy does not allow it, since it is {format_answer_value(goal_checks[-1].value)}."
    elif information:
        answer_check = _aggregate_goal(build) if rng.random() < AGGREGATE_SHARE else None
        answer_check = answer_check or _information_goal(build)
        if answer_check is None:
            return None
        goal_checks = [answer_check]
        answer = format_answer_value(answer_check.value)
    elif force_tool is not None:
        if not any(_action_goal(build, force_tool, build.touched | set(build.known)) for _ in range(3)):
            return None
        decides = force_tool
    else:
        last: str | None = None
        for _ in range(goals):
            follow = [b for b in graph.successors(last) if spec.tools[b].is_write] if last else []
            for attempt in range(3):  # a goal whose tool cannot be bound tries another tool
                fresh = [w for w in writes if w not in covered]
                if fresh and not last and attempt == 0:  # write tools no kept task uses yet go first
                    tool = rng.choice(fresh)
                else:
                    tool = rng.choice(follow) if follow and rng.random() < 0.6 else rng.choice(writes)
                if _action_goal(build, tool, build.touched | set(build.known)):
                    last = tool
                    break
        if not build.phrases:
            return None
    final = build.state
    changes = final.changes()
    if len(set(build.phrases)) < len(build.phrases):
        return None  # a request repeated word for word
    if information:
        checks = [*goal_checks, CheckSpec(kind="no_other_changes", description="nothing in the state changed")]
    else:
        if changes.is_empty():
            return None
        checks = checks_from_diff(spec, changes)
    facts = {f: persona[f] for f in lookup.by}
    label = spec.entities[lookup.entity].label
    if label:
        facts = {label: persona[label], **facts}
    intro = f"Hi, I'm {persona[label]}" if label else "Hi"
    persona_fields = spec.entities[lookup.entity].fields
    known = ", ".join(f"my {field_phrase(f, persona_fields[f])} is {v}" for f, v in facts.items() if f != label)
    instruction = f"{intro}; {known}. " + " ".join(build.phrases)
    if _INTERNAL_ID.search(instruction):
        return None
    opening, hidden = None, {}
    if rng.random() < hidden_share:  # the user names themself and asks; how to find them and their rows comes when asked
        opening = f"{intro}. " + " ".join(build.requests)
        hidden = {
            field_phrase(f, persona_fields[f]): f"My {field_phrase(f, persona_fields[f])} is {v}."
            for f, v in facts.items() if f != label
        }  # fmt: skip
        hidden.update({noun: " ".join(sentences) for noun, sentences in build.details.items() if noun not in hidden})
        if not hidden or any(str(v) in opening for f, v in facts.items() if f != label):
            opening, hidden = None, {}
    task = TaskSpec(
        id="",
        domain=spec.name,
        kind=kind,
        instruction=instruction,
        user=facts,
        initial_state=initial_ref,
        checks=checks,
        solution=build.solution,
        difficulty={
            "steps": len(build.solution),
            "writes": sum(1 for c in build.solution if spec.tools[c.tool].is_write),
            "branches": len(build.phrases),
            "rules": build.rules,
            "refusals": int(kind == "refusal"),
            "conditions": sum(1 for p in build.phrases if any(c in p for c in build.conditions)),
            "hidden": len(hidden),
            "aggregates": build.aggregates,
            "distractors": len(build.distractors),
        },
        actor=str(persona["id"]),
        opening=opening,
        hidden=hidden,
        decides=decides,
        refused=refused,
    )
    verdict_end = evaluate_checks(checks, changes, final, evidence=Evidence(message=answer, read=build.read))
    verdict_start = evaluate_checks(checks, StateDiff(), initial, evidence=Evidence())
    if not verdict_end.success or verdict_start.success:
        return None
    if not information and not _minimal(spec, work, task):
        return None
    if not _within_policy(spec, work, task):
        return None
    # >>> distractors (issue 24 item 3): the one call into tasks/distractors.py; keep it after the task is verified
    return add_distractors(spec, initial, task, described=build.described, twins=build.distractors)


def _within_policy(spec: DomainSpec, work: State, task: TaskSpec) -> bool:
    """The reference solution, replayed as an episode is watched, breaks no rule of the policy:
    the grader gates every reward on it, so a task whose own solution breaks it could never pay."""
    if spec.actor is None:
        return True
    monitor = PolicyMonitor(spec, actor_id=task.actor)
    work.reset()
    try:
        for call in task.solution:
            before = monitor.touched_before(work, call.tool, call.arguments)
            monitor.observe(work, call.tool, execute(work, call.tool, call.arguments), before)
    finally:
        work.reset()
    return not monitor.violations


def _minimal(spec: DomainSpec, work: State, task: TaskSpec) -> bool:
    """Every write of the reference is needed, changes something, and is not undone by a later one.

    A write that changes nothing (a value already held), a field set twice (Lisbon, then
    Austin), a new row changed again (create, then cancel): each makes a task whose checks do not
    say what the request says. And when dropping any one write still passes every check, the
    task pays for less than it asks. Numbers that several writes move (stock, a balance) may
    move more than once: each move is part of what was asked.
    """
    writes = [i for i, call in enumerate(task.solution) if spec.tools[call.tool].is_write]
    work.reset()
    set_fields: set[tuple[str, str, str]] = set()
    created: set[tuple[str, str]] = set()
    try:
        for i, call in enumerate(task.solution):
            if i not in writes:
                execute(work, call.tool, call.arguments)
                continue
            added, changed, removed = _call_changes(work, call.tool, call.arguments)
            if not (added or changed or removed):
                return False
            for (entity, row_id), fields in changed.items():
                if (entity, row_id) in created:
                    return False
                for fname in fields:
                    key = (entity, row_id, fname)
                    if spec.entities[entity].fields[fname].kind != "number" and key in set_fields:
                        return False
                    set_fields.add(key)
            if removed & created:
                return False
            created |= added
    finally:
        work.reset()
    for skip in writes:
        try:
            for i, call in enumerate(task.solution):
                if i != skip:
                    execute(work, call.tool, call.arguments)
            if evaluate_checks(task.checks, work.changes(), work).success:
                return False
        finally:
            work.reset()
    return True


_Mark = dict[tuple[str, str], dict[str, Any] | None]


def _journal_mark(state: State) -> _Mark:
    """The rows earlier calls touched, as they are now (read from the journal: cheap)."""
    return {key: state.get(*key) for key in state.journal()}


def _call_changes(
    state: State, tool: str, args: dict[str, Any]
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], set[str]], set[tuple[str, str]]]:
    """Run one call on a tracked state; return the rows it added, the fields it changed per row, and
    the rows it removed. Only rows in the journal are read, so the cost follows the changes."""
    mark = _journal_mark(state)
    execute(state, tool, args)
    return _changes_since(state, mark)


def _changes_since(
    state: State, before: _Mark
) -> tuple[set[tuple[str, str]], dict[tuple[str, str], set[str]], set[tuple[str, str]]]:
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


MIX: dict[TaskKind, float] = {"action": 0.6, "information": 0.2, "refusal": 0.2}
"""The share of each kind of task a domain gets, where the domain can yield it."""

GOALS = {1: 0.35, 2: 0.35, 3: 0.3}
"""The share of action tasks asking for one, two and three things (a goal that cannot be bound is
dropped, so the kept tasks lean a little shorter)."""

_GIVE_UP = 15
"""Candidates of one kind that fail in a row before the domain is taken not to yield that kind."""
_SAMPLE = 60
"""rows of a table a candidate call is drawn from (the user's own rows come on top)"""
_CHOICE_GROUP = 20
"""at most this many rows to choose the cheapest from (one listing shows them all)"""
DISTRACTOR_SHARE = 0.6
"""how often a row with a near duplicate is described without its unique code, so the twin is a trap"""
CONDITION_SHARE = 0.5
"""how often a user's row is named by a condition that only it meets, rather than by its name"""
HIDDEN_SHARE = 0.35
"""how often the user holds back how to find them (an email) until the agent asks"""

FAMILY_MIN = {"refusal_or_condition": 0.2, "hidden": 0.2}
"""The documented mix: at least these shares of a domain's tasks are refusals or name a row by a
condition, and hold a fact back, where the domain can yield them (``tasks --stats`` shows it)."""

AGGREGATE_SHARE = 0.5
"""the share of information tasks that ask for a count, a total or a latest/earliest date"""
_AGGREGATE_ROWS = 12
"""an aggregate is asked over at most this many of the user's rows (a person can count them)"""
AGGREGATE_KEY = "aggregate:"
"""Prefix of the answer-balance keys of counts (kept apart from questions' answers)."""
REFUSAL_KEY = "refusal:"
"""Prefix of the answer-balance keys of refusal reasons (kept apart from questions' answers)."""


def generate_tasks(
    spec: DomainSpec,
    count: int = 32,
    seed: int = 0,
    initial: State | None = None,
    on_task: Callable[[TaskSpec], None] | None = None,
    *,
    state_seed: int | None = None,
    id_prefix: str | None = None,
) -> list[TaskSpec]:
    """``count`` verified tasks (fewer only if the domain cannot yield them), reproducible by seed.

    ``seed`` drives the draw of tasks; ``state_seed`` says which seeded state they start from (the
    domain's own seed by default; ``initial``, when given, must be that state) and is recorded in
    each task. Ids are ``<id_prefix>-<nnn>`` (the domain's name by default), so tasks of several
    states can share one set. ``on_task`` hears of each task as it is kept (a progress bar, say)."""
    initial = initial if initial is not None else seed_state(spec, seed=state_seed)
    tool = persona_tool(spec)
    if tool is None:
        return []
    initial_ref = initial_state_ref(spec, initial, state_seed)  # hashed once: every task starts from it
    work = initial.fork()  # one working copy, reset between candidates by its undo journal
    work.track()
    rng = random.Random(f"tasks:{spec.name}:{seed}")
    graph = build_graph(spec)
    tasks: list[TaskSpec] = []
    seen: set[str] = set()
    per_tool: dict[str, int] = {}
    answered: Counter[tuple[str, str, Any]] = Counter()
    value_counts: dict[tuple[str, str], dict[Any, int]] = {}
    cap = count // max(1, len(spec.write_tools())) + 2  # keep easy writes from crowding out the rest
    mix: dict[TaskKind, float] = dict(MIX) if spec.write_tools() else {"information": 1.0}
    misses: Counter[str] = Counter()
    covered: set[str] = set()
    branches: Counter[int] = Counter()
    made: Counter[str] = Counter()
    mixed = {"refusal_or_condition": 0, "hidden": 0}  # kept tasks in the documented mix's two families
    wanting = {"refusal_or_condition": True, "hidden": True}
    family_misses: Counter[str] = Counter()
    owed: Counter[str] = Counter()
    """refusals of a tool not yet matched by an allowed counterpart"""
    refusable = {t for t in spec.write_tools() if any(r.kept_by == "agent" for r in spec.tools[t].requires)}
    forced_misses: Counter[str] = Counter()
    for _ in range(count * 12 + _GIVE_UP * len(mix)):
        if len(tasks) >= count and not +owed:
            break
        # the kind furthest below its share of the mix; a kind this domain cannot yield drops out
        kind = min(mix, key=lambda k: (made[k] / mix[k], list(mix).index(k)))
        # action tasks spread over one, two and three goals as GOALS says, whatever the luck of the draw
        goals = min(GOALS, key=lambda g: (branches[g] / GOALS[g], rng.random()))
        # a family below its share of FAMILY_MIN is asked of every candidate until it catches up
        lagging = {f for f in mixed if wanting[f] and mixed[f] < FAMILY_MIN[f] * (len(tasks) + 1)}
        want_condition = "refusal_or_condition" in lagging and kind != "refusal"
        force = next(iter(sorted(+owed)), None)  # a refusal is matched by its allowed counterpart before anything else
        if force is not None:
            kind = "action"
        elif kind == "refusal" and len(tasks) + 2 > count:
            kind = "action" if "action" in mix else "information"  # no room left for a refusal and its counterpart
        elif len(tasks) >= count:
            break
        task = _one_task(
            spec, initial, work, rng, tool, graph, answered, kind, frozenset(covered), goals, initial_ref,
            condition_share=1.0 if want_condition else CONDITION_SHARE,
            hidden_share=1.0 if "hidden" in lagging else HIDDEN_SHARE, value_counts=value_counts,
            force_tool=force, refusable=refusable,
        )  # fmt: skip
        if force is not None and (task is None or task.decides != force):
            forced_misses[force] += 1
            if forced_misses[force] >= 3 * _GIVE_UP:  # no allowed counterpart can be made: that tool's refusals go
                tasks = [t for t in tasks if not (t.kind == "refusal" and t.decides == force)]
                tasks = [t.model_copy(update={"decides": None}) if t.decides == force else t for t in tasks]
                refusable.discard(force)
                del owed[force]
            continue
        new_tools = {c.tool for c in task.solution if spec.tools[c.tool].is_write} - covered if task is not None else set()
        if task is not None and want_condition and not task.difficulty.get("conditions") and not new_tools:
            family_misses["refusal_or_condition"] += 1
            if family_misses["refusal_or_condition"] >= 8 * _GIVE_UP:
                wanting["refusal_or_condition"] = False  # this domain has too few rows a condition can single out
            continue
        if task is None:
            misses[kind] += 1
            if misses[kind] >= _GIVE_UP and len(mix) > 1:
                del mix[kind]
            continue
        misses[kind] = 0
        key = json.dumps([c.model_dump() for c in task.solution if spec.tools[c.tool].is_write] or task.instruction,
                         sort_keys=True)  # fmt: skip
        if key in seen:
            continue
        lead = next((c.tool for c in task.solution if spec.tools[c.tool].is_write), f"({task.kind})")
        if force is None and per_tool.get(lead, 0) >= (cap if task.kind == "action" else count // 4 + 1):
            misses[kind] += 1
            continue
        made[task.kind] += 1
        mixed["refusal_or_condition"] += int(task.kind == "refusal" or bool(task.difficulty.get("conditions")))
        mixed["hidden"] += int(bool(task.hidden))
        if task.kind == "action":
            branches[goals] += 1
        per_tool[lead] = per_tool.get(lead, 0) + 1
        covered.update(c.tool for c in task.solution if spec.tools[c.tool].is_write)
        seen.add(key)
        if task.decides is not None:
            owed[task.decides] += 1 if task.kind == "refusal" else -1
            forced_misses[task.decides] = 0
        tasks.append(task)
        for check in task.checks:
            if check.kind == "answer" and task.difficulty.get("aggregates"):
                if check.answer_type == "number":
                    answered[(AGGREGATE_KEY, "count", check.value)] += 1
            elif check.kind == "answer":  # questions and refusal reasons are balanced separately
                family = REFUSAL_KEY if task.kind == "refusal" else ""
                answered[(f"{family}{check.entity}", str(check.field), check.value)] += 1
        if on_task is not None:
            on_task(tasks[-1])
    prefix = spec.name if id_prefix is None else id_prefix
    return [task.model_copy(update={"id": f"{prefix}-{i:03d}"}) for i, task in enumerate(tasks, 1)]
