"""Distractors: rows placed near the rows a task names, so that a careless agent picks the wrong one.

A task's initial state is its seed's state plus a few copies of the rows the user talks about:
the same flight a few hours off, the same product in another edition, a namesake customer with
another email, another order of the same customer a few days apart. Each copy differs from its row
in a fact the user states (or in a unique value the user gives), so a careful agent that checks what
the user said still finds the one row; an agent that takes the first search hit, or stops at a
name, does not. Harder tasks (by :func:`~scaleenv_mcp.tasks.stats.difficulty_label`) get more.

What was added is recorded in the task, so anyone can rebuild the state byte for byte::

    initial_state = {"seed": 7,
                     "distractors": {"seed": 1234, "near": [["flight", "FLT-0012", ["departs_at"]]], "count": 2},
                     "sha256": "..."}   # of the seed's image and the rows added (recipe_sha256)

``near`` lists each row copied and the fields its copies vary (their unique fields always get new
values); ``count`` copies are shared out over the rows in order, each row's from its own random
stream (``seed``, the entity and the id), so rebuilding needs nothing but the recipe and the
domain. A copy is kept only if it leaves the task as it was: every row the user names is still
singled out by what the user says about it (its stated values, or the condition or choice that named
it), and the reference solution, replayed on the new state, makes the same calls succeed, changes
the same rows and passes the same checks, within the policy. A row whose copies would change any of
that is dropped from the recipe. All of this is tried on the task's own state inside a savepoint that
is rolled back, so it costs the copies and the replays, not a copy of the state.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from ..engine.diff import StateDiff
from ..engine.runtime import execute
from ..engine.seed import SeedError, add_near_copies
from ..engine.state import State
from ..errors import ScaleenvError
from ..spec.model import DomainSpec
from ..spec.task import TaskSpec
from .grader import NOT_SUBMITTED, Evidence, evaluate_checks
from .policy import PolicyMonitor, shown_ids

__all__ = [
    "DISTRACTORS",
    "MAX_COPIES",
    "RECIPE_KEY",
    "DistractorError",
    "Near",
    "Recipe",
    "add_distractors",
    "apply_recipe",
    "build_image",
    "parse_recipe",
    "recipe_key",
    "recipe_sha256",
    "task_recipe",
]

RECIPE_KEY = "distractors"
"""the key of ``TaskSpec.initial_state`` that holds the recipe"""

DISTRACTORS = {"easy": 1, "medium": 2, "hard": 4}
"""copies added per task by its difficulty label: a harder task hides its rows among more look-alikes"""

MAX_COPIES = 32
"""copies one recipe may ask for (a task names a handful of rows; more would be a different state)"""
MAX_NEAR = 16
"""rows one recipe may copy"""

_T = TypeVar("_T")

_COMPARED = ("money", "date", "datetime", "int", "float")
"""field types a description may single a row out by comparing (the cheapest, the latest)"""
_GROUP = 50
"""the most rows a description compares a row with (the generator compares at most 20)"""


class DistractorError(ScaleenvError, ValueError):
    """A task's distractor recipe is malformed or cannot be built on its seed's state (one line: what and where)."""

    default_status = 400


@dataclass(frozen=True)
class Near:
    """One row to copy, and the fields its copies vary (besides their unique ones)."""

    entity: str
    id: str
    vary: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """How the distractors of one task are made: ``count`` copies shared over ``near`` in order,
    each row's drawn from a stream seeded by ``seed``, its entity and its id."""

    seed: int
    near: tuple[Near, ...]
    count: int

    def as_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "near": [[n.entity, n.id, list(n.vary)] for n in self.near], "count": self.count}

    def shares(self) -> list[int]:
        """Copies per row of ``near``: the count shared out evenly, earlier rows first."""
        whole, extra = divmod(self.count, len(self.near))
        return [whole + (1 if i < extra else 0) for i in range(len(self.near))]


def parse_recipe(spec: DomainSpec, data: Any) -> Recipe:
    """A recipe from its JSON form, checked against the domain; :class:`DistractorError` says what is wrong."""
    where = f"{spec.name}: initial_state.{RECIPE_KEY}"
    if not isinstance(data, Mapping) or set(data) != {"seed", "near", "count"}:
        got = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise DistractorError(f"{where} must be an object with exactly seed, near and count (got {got})")
    seed, near, count = data["seed"], data["near"], data["count"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DistractorError(f"{where}.seed must be a whole number from 0 (got {seed!r})")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COPIES:
        raise DistractorError(f"{where}.count must be a whole number from 1 to {MAX_COPIES} (got {count!r})")
    if not isinstance(near, list) or not 1 <= len(near) <= min(MAX_NEAR, count):
        raise DistractorError(f"{where}.near must list 1 to {min(MAX_NEAR, count)} rows (no more rows than copies)")
    rows: list[Near] = []
    for i, item in enumerate(near):
        if not isinstance(item, list) or len(item) != 3 or not all(isinstance(x, str) for x in item[:2]):
            raise DistractorError(f"{where}.near[{i}] must be [entity, id, [field, ...]] (got {item!r:.80})")
        entity, row_id, vary = item
        espec = spec.entities.get(entity)
        if espec is None:
            raise DistractorError(f"{where}.near[{i}]: no entity {entity!r} in {spec.name}")
        if espec.seed_effects:
            raise DistractorError(f"{where}.near[{i}]: rows of {entity!r} cannot be copied (seeding them changes other rows)")
        if not isinstance(vary, list) or not all(isinstance(f, str) for f in vary):
            raise DistractorError(f"{where}.near[{i}]: the fields to vary must be a list of names (got {vary!r:.80})")
        for fname in vary:
            f = espec.fields.get(fname)
            if f is None or f.derive or f.ref_where_expr is not None:
                raise DistractorError(f"{where}.near[{i}]: {entity}.{fname} is not a field a copy can vary")
        rows.append(Near(entity, row_id, tuple(vary)))
    if len({(n.entity, n.id) for n in rows}) != len(rows):
        raise DistractorError(f"{where}.near names a row twice")
    return Recipe(seed, tuple(rows), count)


def task_recipe(spec: DomainSpec, initial_state: Mapping[str, Any]) -> Recipe | None:
    """The distractor recipe a task's ``initial_state`` records, if any (checked; see :func:`parse_recipe`)."""
    data = initial_state.get(RECIPE_KEY)
    return None if data is None else parse_recipe(spec, data)


def recipe_key(initial_state: Mapping[str, Any]) -> str:
    """What identifies a task's initial image beyond its seed: the recipe in canonical JSON ("" for none)."""
    data = initial_state.get(RECIPE_KEY)
    return "" if data is None else json.dumps(data, sort_keys=True, separators=(",", ":"))


def apply_recipe(spec: DomainSpec, state: State, recipe: Recipe) -> list[tuple[str, dict[str, Any]]]:
    """Insert the recipe's copies into ``state`` (its seed's state); return (entity, row) per copy."""
    added: list[tuple[str, dict[str, Any]]] = []
    for near, share in zip(recipe.near, recipe.shares(), strict=True):
        rng = random.Random(f"{spec.name}:distractors:{recipe.seed}:{near.entity}:{near.id}")
        try:
            rows = add_near_copies(spec, state, near.entity, near.id, near.vary, share, rng)
        except SeedError as exc:
            raise DistractorError(f"{spec.name}: distractor recipe cannot be built: {exc}") from exc
        added += [(near.entity, row) for row in rows]
    return added


def recipe_sha256(base_sha256: str, added: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """The sha256 a task with distractors records: of its seed's image (by that image's sha256) and
    of every row the recipe adds, in order. The image is a function of the two (the same rows
    inserted in the same order into the same image give the same bytes), so this pins it as hashing
    its bytes would, at the cost of the rows added rather than of the whole state."""
    rows = json.dumps([[entity, row] for entity, row in added], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{base_sha256}\n{rows}".encode()).hexdigest()


def build_image(spec: DomainSpec, base: bytes, recipe: Recipe, base_sha256: str | None = None) -> tuple[bytes, str]:
    """The image of ``base`` (a seed's image) with the recipe's copies in it, and its
    :func:`recipe_sha256` (``base_sha256``: the base image's, when already known)."""
    state = State.from_snapshot(spec, base)
    try:
        added = apply_recipe(spec, state, recipe)
        return state.snapshot(), recipe_sha256(base_sha256 or hashlib.sha256(base).hexdigest(), added)
    finally:
        state.close()


# ---------------------------------------------------------------- making a task's recipe


def add_distractors(
    spec: DomainSpec, initial: State, task: TaskSpec, described: Mapping[str, Sequence[str]], twins: Collection[str] = ()
) -> TaskSpec:
    """``task`` with distractors near the rows it names, or unchanged when none can be placed safely.

    ``initial`` is the state the task was made on (its seed's, unchanged); ``described`` says, per
    row the user names, the fields its description used (its stated values, or the one field of a
    condition or choice); ``twins`` are the named rows the seed already gave a near duplicate. The
    task's ``difficulty["distractors"]`` becomes the number of named rows with a near duplicate."""
    from .stats import difficulty_label  # stats reads the generator's constants; the generator calls this

    if RECIPE_KEY in task.initial_state:
        return task
    wanted = DISTRACTORS[difficulty_label(task)]
    digest = hashlib.sha256(json.dumps([task.instruction, [c.model_dump() for c in task.solution]]).encode()).digest()
    seed = int.from_bytes(digest[:4], "big")
    rng = random.Random(f"{spec.name}:distractors:{seed}")
    candidates = _candidates(spec, initial, task, described)
    rng.shuffle(candidates)
    candidates = candidates[:wanted]
    if not candidates:
        return task
    base_sha = task.initial_state.get("sha256") or hashlib.sha256(initial.snapshot()).hexdigest()
    was = _readings(spec, initial, task, described)
    if len(candidates) > 1:  # a row whose copies alone would blur what the user says goes before any replay (the cheap test first)
        candidates = [
            c for c in candidates if _within(initial, partial(_told_apart, spec, initial, task, described, was, Recipe(seed, (c,), wanted)))
        ]  # fmt: skip
        if not candidates:
            return task
    reference = _within(initial, lambda: _replay(spec, initial, task))
    kept = _fits(spec, initial, task, described, was, reference, Recipe(seed, tuple(candidates), wanted))
    if kept is None:  # one row's copies spoil it: add the rows one at a time, keeping those that fit
        near: list[Near] = []
        for candidate in candidates:
            fit = _fits(spec, initial, task, described, was, reference, Recipe(seed, (*near, candidate), wanted))
            if fit is not None:
                near.append(candidate)
                kept = fit  # the recipe of every row kept so far, as verified
    if kept is None:
        return task
    recipe, added = kept
    initial_state = {
        "seed": task.initial_state.get("seed", spec.seed),
        RECIPE_KEY: recipe.as_json(),
        "sha256": recipe_sha256(str(base_sha), added),
    }
    named = set(twins) | {n.id for n in recipe.near}
    return task.model_copy(update={"initial_state": initial_state, "difficulty": {**task.difficulty, "distractors": len(named)}})


def _entity_of(spec: DomainSpec, row_id: str) -> str | None:
    prefix = row_id.rsplit("-", 1)[0]
    return next((name for name, e in spec.entities.items() if e.id_prefix == prefix), None)


def _touched(spec: DomainSpec, task: TaskSpec) -> set[str]:
    """Ids of the rows the reference, the refused request and the checks name (arguments, checked rows, the user)."""
    ids = {c.id for c in task.checks if c.id} | ({task.actor} if task.actor else set())
    for call in [*task.solution, *([task.refused] if task.refused else [])]:
        for value in call.arguments.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and _entity_of(spec, item) is not None:
                    ids.add(item)
    return ids


def _candidates(spec: DomainSpec, initial: State, task: TaskSpec, described: Mapping[str, Sequence[str]]) -> list[Near]:
    """The rows worth copying and the fields each copy varies: rows the user names, of tables where
    every row the task touches is one the user names (a copy cannot then pass for a row the
    task finds some other way), never a table an aggregate question counts over. A copy differs in
    a value the user states (a unique one it always gets anew, such as an email or a flight number;
    else one of the stated fields is varied) and, where the table has one, in a date the user does
    not give, so it is the same flight a few hours off, the same order a few days apart."""
    counted = {c.entity for c in task.checks if c.kind == "answer" and c.entity and not c.id}
    stated: dict[str, list[str]] = {k: list(v) for k, v in described.items()}
    if task.actor:
        stated.setdefault(task.actor, list(task.user))
    persona = _entity_of(spec, task.actor or "")
    touched = _touched(spec, task)
    by_entity: dict[str, set[str]] = {}
    for row_id in touched:
        entity = _entity_of(spec, row_id)
        if entity is not None and initial.get(entity, row_id) is not None:
            by_entity.setdefault(entity, set()).add(row_id)
    out: list[Near] = []
    for row_id, fields in stated.items():
        entity = _entity_of(spec, row_id)
        if row_id not in touched or entity is None or entity in counted or not by_entity.get(entity, set()) <= set(stated):
            continue
        espec = spec.entities[entity]
        row = initial.get(entity, row_id)
        if row is None or espec.seed_effects or any(f.unique and f.ref_where_expr is not None for f in espec.fields.values()):
            continue
        usable = [f for f in fields if f in espec.fields]
        if row_id == task.actor:  # a namesake: the same name, other contact details
            contacts = [f for f in usable if f != espec.label and not espec.fields[f].unique and not espec.fields[f].derive]
            if not any(espec.fields[f].unique for f in usable) and not contacts:
                continue
            out.append(Near(entity, row_id, tuple(contacts)))
            continue
        said = [f for f in usable if _variable(spec, entity, f, persona)]
        unsaid = [
            f for f, x in espec.fields.items() if f not in usable and x.type in ("date", "datetime") and _variable(spec, entity, f, persona)
        ]  # fmt: skip
        vary: list[str] = []
        if not any(espec.fields[f].unique for f in usable):  # told apart by a stated value it does not share
            if not said:
                continue  # nothing the user says could tell a copy apart
            vary.append(min(said, key=lambda f: (espec.fields[f].type not in ("date", "datetime"), espec.fields[f].type != "enum")))
        if unsaid:  # a date the user does not give moves the copy in listings sorted by it: the first hit may be the copy
            vary.append(unsaid[0])
        out.append(Near(entity, row_id, tuple(vary)))
    return sorted(out, key=lambda n: (n.entity, n.id))


def _variable(spec: DomainSpec, entity: str, fname: str, persona: str | None) -> bool:
    """Whether a copy may take another value of a field: not the name a careless agent looks for,
    not a unique or derived one, not a filtered reference, not the user it belongs to."""
    f = spec.entities[entity].fields[fname]
    return fname != spec.entities[entity].label and not f.unique and not f.derive and f.ref_where_expr is None and f.ref != persona


@dataclass
class _Replay:
    """What the reference solution did on one state."""

    ok: list[bool]
    changes: str
    verdict: list[bool]
    start: list[bool]
    violations: int


def _within(state: State, run: Callable[[], _T]) -> _T:
    """``run()``, with every write it makes to ``state`` undone after, and the state's tracking
    (whether and what it tracks) as it was: the task's own state serves without a copy of it."""
    try:
        tracked: dict[tuple[str, str], dict[str, Any] | None] | None = state.journal()
    except RuntimeError:  # not tracking changes
        tracked = None
    try:
        with state.trial():
            return run()
    finally:
        state.set_journal(tracked)


def _replay(spec: DomainSpec, state: State, task: TaskSpec) -> _Replay:
    """Run the reference solution on ``state``, as an episode is watched and graded."""
    start = evaluate_checks(task.checks, StateDiff(), state, evidence=Evidence())
    state.track()
    monitor = PolicyMonitor(spec, actor_id=task.actor)
    ok: list[bool] = []
    read: set[str] = set()
    for call in task.solution:
        before = monitor.touched_before(state, call.tool, call.arguments)
        result = execute(state, call.tool, call.arguments)
        monitor.observe(state, call.tool, result, before)
        ok.append(result.ok)
        if result.ok and result.data is not None:
            read.update(shown_ids(result.data))
    answers = [c.value for c in task.checks if c.kind == "answer"]
    submitted = answers[0] if len(answers) == 1 and task.kind == "information" else NOT_SUBMITTED
    changes = state.changes()
    verdict = evaluate_checks(task.checks, changes, state, evidence=Evidence(submitted=submitted, read=read))
    return _Replay(
        ok, changes.model_dump_json(), [c.passed for c in verdict.checks], [c.passed for c in start.checks], len(monitor.violations)
    )


def _fits(
    spec: DomainSpec, initial: State, task: TaskSpec, described: Mapping[str, Sequence[str]], was: dict[str, set[str]],
    reference: _Replay, recipe: Recipe,
) -> tuple[Recipe, list[tuple[str, dict[str, Any]]]] | None:
    """The recipe and the rows it adds when its copies leave the task as it was (see the module's
    doc), else None; tried on ``initial`` itself, every write undone."""
    if not recipe.near:
        return None
    recipe = Recipe(recipe.seed, recipe.near, max(recipe.count, len(recipe.near)))

    def attempt() -> tuple[Recipe, list[tuple[str, dict[str, Any]]]] | None:
        added = _told_apart(spec, initial, task, described, was, recipe)
        if added is None:
            return None
        again = _replay(spec, initial, task)
        same = (again.ok, again.changes, again.verdict, again.start, again.violations) == (
            reference.ok, reference.changes, reference.verdict, reference.start, reference.violations
        )  # fmt: skip
        return (recipe, added) if same else None

    return _within(initial, attempt)


def _told_apart(
    spec: DomainSpec, state: State, task: TaskSpec, described: Mapping[str, Sequence[str]], was: dict[str, set[str]], recipe: Recipe
) -> list[tuple[str, dict[str, Any]]] | None:
    """Add the recipe's copies to ``state`` and return them, or None when they cannot be made or a
    named row is no longer singled out every way it was (``was``: :func:`_readings` before)."""
    try:
        added = apply_recipe(spec, state, recipe)
    except DistractorError:
        return None
    now = _readings(spec, state, task, described)
    return added if all(ways <= now.get(row_id, set()) for row_id, ways in was.items()) else None


def _readings(spec: DomainSpec, state: State, task: TaskSpec, described: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """Per row the user names, the ways what the user says about it singles it out in ``state``
    (see :func:`_ways`): copies are kept only if every way that held before still holds."""
    stated: dict[str, list[str]] = {k: list(v) for k, v in described.items()}
    if task.actor:
        stated.setdefault(task.actor, list(task.user))
    persona = _entity_of(spec, task.actor or "")
    out: dict[str, set[str]] = {}
    for row_id, fields in stated.items():
        entity = _entity_of(spec, row_id)
        row = state.get(entity, row_id) if entity is not None else None
        usable = [f for f in fields if entity is not None and f in spec.entities[entity].fields]
        if entity is not None and row is not None and usable:
            out[row_id] = _ways(spec, state, entity, row, usable, persona, task.actor)
    return out


def _ways(
    spec: DomainSpec, state: State, entity: str, row: dict[str, Any], fields: list[str], persona: str | None, actor: str | None
) -> set[str]:
    """The readings of a description by ``fields`` under which ``row`` is the only row meant among
    the rows the user could mean (the user's own, for a row of theirs): equal in every field; or,
    for a field compared, the only highest or lowest among rows equal in the others."""
    scope = _owned(spec, state, entity, persona, actor) if persona and actor and entity != persona else None
    if scope is not None and row["id"] not in scope:
        scope = None  # not the user's row: matched among every row, as the generator does

    def among(where: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """Rows the user could mean that match ``where`` (up to ``limit``): the user's own by id, else by the values."""
        return state.find(entity, {**where, "id__in": sorted(scope)} if scope is not None else where, limit=limit)

    ways: set[str] = set()
    if [r["id"] for r in among({f: row[f] for f in fields}, 2)] == [row["id"]]:
        ways.add("equal")
    for f in fields:
        if spec.entities[entity].fields[f].type not in _COMPARED or row.get(f) is None:
            continue
        rows = among({g: row[g] for g in fields if g != f}, _GROUP + 1)
        if len(rows) > _GROUP:
            continue  # nobody picks the cheapest or the latest out of that many
        group = [r[f] for r in rows if r.get(f) is not None]
        if group.count(row[f]) == 1 and row[f] == max(group):
            ways.add(f"max:{f}")
        if group.count(row[f]) == 1 and row[f] == min(group):
            ways.add(f"min:{f}")
    return ways


def _owned(spec: DomainSpec, state: State, entity: str, persona: str, actor: str, depth: int = 0) -> set[str]:
    """Ids of the rows of ``entity`` whose references lead to the user within three steps."""
    if entity == persona:
        return {actor}
    if depth > 2:
        return set()
    found: set[str] = set()
    for fname, f in spec.entities[entity].fields.items():
        if f.type == "ref" and f.ref in spec.entities:
            parents = _owned(spec, state, str(f.ref), persona, actor, depth + 1)
            if parents:
                found |= {r["id"] for r in state.find(entity, {f"{fname}__in": sorted(parents)})}
    return found
