"""The draft: one candidate task under construction, and the user it is drawn for.

A candidate is built the way a support conversation unfolds: a user (a persona found through an
entry tool, e.g. a customer by email) asks for things, and the reference solution is the chain
an agent would run: find the user, discover the rows (lookups and searches whose results contain
them), then the writes. The goal strategies (:mod:`.goals`) add to a draft; the assembly
(:mod:`.assembly`) words it and makes the TaskSpec; the acceptance rules (:mod:`.acceptance`)
decide whether it is kept.

Why one mutable object: each goal depends on what the earlier ones did (the rows they touched,
the ids the reference has already shown, the facts the user has already given), and a goal that
fails half way must be undone without touching the state (:meth:`Draft.checkpoint`,
:meth:`Draft.rollback`). Everything a later stage needs is therefore kept here, on one draft.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ...engine.runtime import execute
from ...engine.state import State
from ...spec.graph import entry_tools
from ...spec.model import DomainSpec, IncludeSpec
from ...spec.task import CheckSpec, TaskKind, ToolCall, Trait
from ..policy import shown_ids
from ..wording import (
    cheapest,
    condition,
    describing_fields,
    entity_noun,
    extreme,
    fact,
    field_phrase,
    row_description,
    row_part,
    sentence_case,
    superlative,
    value_phrase,
)
from .mix import DEFAULT_MIX, TaskMix

__all__ = ["AGGREGATE_KEY", "REFUSAL_KEY", "Draft", "Order", "TakenBack", "initial_state_ref", "persona_tool", "start_draft"]

AGGREGATE_KEY = "aggregate:"
"""Prefix of the answer-balance keys of counts (kept apart from questions' answers)."""
REFUSAL_KEY = "refusal:"
"""Prefix of the answer-balance keys of refusal reasons (kept apart from questions' answers)."""
_CHOICE_GROUP = 20
"""at most this many rows to choose the cheapest from (one listing shows them all)"""

Facts = list[tuple[str, list[tuple[str, str]]]]
"""What the user adds so rows can be found: (the row's noun, (field phrase, value) pairs) per row."""


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


@dataclass(frozen=True)
class Order:
    """What the balancing loop asks of one candidate: the loop decides it from what the set kept so
    far lacks; the strategies and the assembly only read it."""

    kind: TaskKind
    """action (writes), information (a question) or refusal (a write the policy forbids)"""
    strategy: str
    """the name of the goal strategy that adds the goals (see :data:`.goals.STRATEGIES`)"""
    goals: int = 1
    """how many goals an action task asks for"""
    covered: frozenset[str] = frozenset()
    """write tools kept tasks already use (an action's first goal prefers one they do not)"""
    force_tool: str | None = None
    """an action task asking for that one write: the allowed counterpart of a kept refusal"""
    condition_share: float = DEFAULT_MIX.condition_share
    """how often a row is named by a condition rather than by its name (1 when the mix lags)"""
    hidden_share: float = DEFAULT_MIX.hidden_share
    """how often the user holds back how to find them until asked (1 when the mix lags)"""
    want: frozenset[Trait] = frozenset()
    """traits the kept set lacks (below :attr:`.mix.TaskMix.trait_targets`): a strategy or the
    assembly that can give this candidate one of them does"""


@dataclass(frozen=True)
class TakenBack:
    """A request the user makes first and takes back before it is done: as said (with the facts that
    find its rows), without those facts, and the write calls it would have taken (never in the reference)."""

    first: str
    first_request: str
    abandoned: list[ToolCall]
    final: list[ToolCall]
    """the write calls of the request said instead (in the reference)"""
    at: int
    """the index of the request said instead among the draft's phrases (the first request's place)"""


@dataclass
class Draft:
    """One candidate task under construction: who the user is, what the reference has run and shown,
    what the user has said, and (once a goal strategy has run) the goal's checks and expected reply.

    The fields fall in four groups: the generation it belongs to (shared by every candidate), the
    user, the reference solution so far, and the words the user will say."""

    # ---- the generation (the same for every candidate of one ``generate_tasks`` call)
    spec: DomainSpec
    state: State
    """the working copy: the initial state plus this candidate's writes (reset between candidates)"""
    rng: random.Random
    """the generation's one random stream: every draw, in order, decides which tasks come out"""
    persona_entity: str
    """the entity the user is a row of (customer, passenger)"""
    persona: dict[str, Any]
    """the user's row, as in the initial state"""
    order: Order
    entry_tool: str = ""
    """the entry lookup that finds the user (its keys are what the user says to be found)"""
    mix: TaskMix = DEFAULT_MIX
    initial: State | None = None
    """the untouched initial state (the acceptance rules check that the goals are not met there)"""
    initial_ref: dict[str, Any] = field(default_factory=dict)
    """how the initial state is made again (:func:`initial_state_ref`), recorded in the task"""
    graph: nx.DiGraph | None = None
    """the tool dependency graph: a later goal prefers a write the previous goal's tool leads to"""
    answered: Counter[tuple[str, str, Any]] = field(default_factory=Counter)
    """(entity, field, value) -> how many kept tasks have it as their answer (shared across one generation)"""
    value_counts: dict[tuple[str, str], dict[Any, int]] = field(default_factory=dict)
    """(entity, field) -> rows per value in the initial state (shared across one generation)"""
    refusable: set[str] | None = None
    """write tools a refusal may be asked of (None: any with an agent-kept rule)"""

    # ---- the reference solution so far
    known: set[str] = field(default_factory=set)
    """ids the reference's calls have shown (an agent may use them in a later call)"""
    solution: list[ToolCall] = field(default_factory=list)
    """the reference solution: every call that succeeded, in order"""
    created: dict[str, list[str]] = field(default_factory=dict)
    """entity -> ids of the rows the writes created ("the new booking you just made")"""
    touched: set[str] = field(default_factory=set)
    """ids of the rows the writes created or changed (a next goal prefers them: one story, not three)"""
    read: set[str] = field(default_factory=set)
    """ids of the rows the reference's calls showed (a refusal's deciding row must be among them)"""
    owned_cache: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    """(entity, depth) -> ids the user owns; cleared by every write"""

    # ---- what the user says
    phrases: list[str] = field(default_factory=list)
    """each request, with the facts that find its rows: the instruction's sentences"""
    requests: list[str] = field(default_factory=list)
    """the phrases without the facts that find their rows"""
    details: dict[str, list[str]] = field(default_factory=dict)
    """a row's noun -> the sentences that tell the agent how to find it ("The flight's origin is ...")"""
    facts: Facts = field(default_factory=list)
    """what the user adds so a row can be found: (the row's noun, (field phrase, value) pairs)"""
    described: dict[str, list[str]] = field(default_factory=dict)
    """row id -> the fields its last description used"""
    conditions: set[str] = field(default_factory=set)
    """descriptions that single a row out by a condition ("whichever of my orders is pending")"""
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    """row id -> (its entity, the words that last described it): what a user who holds a row back says when asked"""
    distractors: set[str] = field(default_factory=set)
    """rows the task names that have a near duplicate in the state (a flight an hour later, a namesake)"""
    rules: int = 0
    """agent-kept and tool rules the writes must pass (a difficulty figure)"""
    aggregates: int = 0
    """questions over all the user's rows together (a difficulty figure)"""

    # ---- what the goal strategy decided
    checks: list[CheckSpec] = field(default_factory=list)
    """the goals' checks for a reply (information, refusal); an action's checks come from the diff"""
    answer: str | None = None
    """the reply that succeeds (information, refusal), used to verify the checks"""
    decides: str | None = None
    """the write tool whose agent-kept rule this task puts to the agent (a refusal or its counterpart)"""
    refused: ToolCall | None = None
    """a refusal's request as the call an obedient agent would make"""
    traits: set[Trait] = field(default_factory=set)
    """traits the goal strategy gave this candidate (the assembly adds those it derives)"""
    taken_back: TakenBack | None = None
    """a request the user makes first and takes back (a change of mind); the goals hold the final one"""

    def say(self, text: str, facts: Facts) -> None:
        """One request of the task, with what the user adds so its rows can be found; the request and
        those facts are also kept apart, for a user who says the request first and the facts when asked."""
        self.phrases.append(with_facts(text, facts))
        self.requests.append(text)
        for noun, sentence in unsaid(text, facts):
            self.details.setdefault(noun, []).append(sentence_case(sentence))

    def checkpoint(self) -> tuple[int, set[str], int, set[str]]:
        """A mark to :meth:`rollback` to: what the reference has run, shown and had the user say so far."""
        return len(self.solution), set(self.known), len(self.facts), set(self.read)

    def rollback(self, mark: tuple[int, set[str], int, set[str]]) -> None:
        """Forget calls (and what they revealed) made since ``mark``: reads only, so the state is intact."""
        del self.solution[mark[0] :]
        self.known = set(mark[1])
        self.read = set(mark[3])
        del self.facts[mark[2] :]

    def run(self, tool: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """Run one call of the reference on the working state; on success keep it in the solution and
        learn the ids its result shows (what an agent could use next). None when the call fails."""
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
        """Whether rows of ``entity`` can belong to a user: its references reach the user's entity."""
        if entity == self.persona_entity:
            return True
        return depth < 3 and any(
            f.type == "ref" and self.ownable(str(f.ref), depth + 1) for f in self.spec.entities[entity].fields.values()
        )

    def describe(self, entity: str, row: dict[str, Any]) -> str | None:
        """Words that single out ``row`` among the rows a user could mean; None if impossible. The
        words are kept in :attr:`names` (a user who holds back which row they mean says them when asked)."""
        text = self._describe(entity, row)
        if text is not None:
            self.names[str(row["id"])] = (entity, text)
        return text

    def _describe(self, entity: str, row: dict[str, Any]) -> str | None:
        if entity == self.persona_entity and row["id"] == self.persona["id"]:
            return "my profile"
        spec_entity = self.spec.entities[entity]
        noun = entity_noun(entity, spec_entity)
        if row["id"] in self.created.get(entity, []) and len(self.created[entity]) == 1:
            return f"the new {noun} you just made"
        mine = entity != self.persona_entity and self.ownable(entity) and self.owned(entity, row)
        candidates = self.owned_rows(entity) if mine else []  # others' rows: matches are counted by query
        if mine and len(candidates) > 1 and self.rng.random() < self.order.condition_share:
            by_condition = self._by_condition(entity, row, candidates)
            if by_condition is not None:
                self.conditions.add(by_condition[0])
                self.described[row["id"]] = [by_condition[1]]
                return by_condition[0]
        if not mine and entity != self.persona_entity and self.rng.random() < self.order.condition_share:
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
            if twins and spec_entity.fields[fname].unique and self.rng.random() < self.mix.distractor_share:
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
            if not alike and not self.parent_unsaid(entity, chosen):
                self.described[row["id"]] = chosen
                return row_description(noun, mine, parts)
        return None

    def parent_unsaid(self, entity: str, chosen: list[str]) -> bool:
        """Whether ``chosen`` uses a field unique only within a parent (a room's number, unique per
        hotel) without that parent: a person says "room XK1779 at the Harbor Inn", even when the
        number alone happens to be unique in the seeded data."""
        fields = self.spec.entities[entity].fields
        for group in self.spec.entities[entity].unique_together:
            parents = {f for f in group if fields[f].type == "ref" and fields[f].ref != self.persona_entity}
            if parents and set(group) & set(chosen) and not parents <= set(chosen):
                return True
        return False

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
                    if stated:  # said unless the request already says it (see with_facts)
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
        """Arguments of a lookup or search that find ``row`` from what the user can say or the agent knows."""
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



def start_draft(
    spec: DomainSpec,
    work: State,
    rng: random.Random,
    persona_tool_name: str,
    order: Order,
    **shared: Any,
) -> Draft | None:
    """A draft for a user drawn at random from the initial state, who has been looked up by the
    entry tool (the reference's first call); None when that lookup fails. ``shared``: the
    generation's fields of :class:`Draft` (mix, initial, answered, value_counts, ...)."""
    lookup = spec.tools[persona_tool_name].lookup
    assert lookup is not None
    initial = shared["initial"]
    persona = initial.sample(lookup.entity, rng, 1)[0]
    work.reset()  # back to the initial state: the cost of what the last candidate changed
    draft = Draft(spec, work, rng, lookup.entity, persona, order, persona_tool_name, **shared)
    if draft.twins(lookup.entity, persona):
        draft.distractors.add(str(persona["id"]))  # a namesake: found by name alone, the wrong person
    if draft.run(persona_tool_name, {p: persona[f] for f, p in lookup.by.items()}) is None:
        return None
    return draft


def unsaid(text: str, facts: Facts) -> list[tuple[str, str]]:
    """(noun, sentence) for each fact the user adds so a row can be found, leaving out what ``text`` says."""
    return [(noun, fact(noun, unsaid)) for noun, said in facts if (unsaid := [(p, v) for p, v in said if v not in text])]


def with_facts(text: str, facts: Facts) -> str:
    """A request followed by what the user adds so its rows can be found (what it already says is left out)."""
    new = [sentence for _, sentence in unsaid(text, facts)]
    return text + (" " + sentence_case("; ".join(new)) if new else "")
