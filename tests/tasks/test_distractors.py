"""Distractors near the rows a task names: recorded in the task, rebuilt byte for byte by the
coordinator, harmless to a careful agent (the reference still succeeds, every named row is still
singled out) and a trap for a careless one."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

import scaleenv_mcp as se
from scaleenv_mcp.engine.seed import seed_state
from scaleenv_mcp.engine.state import State
from scaleenv_mcp.episodes.coordinator import Coordinator, EpisodeError
from scaleenv_mcp.export.tasks import grading_row
from scaleenv_mcp.spec.task import ANSWER_TOOL, CheckSpec, TaskSpec, ToolCall
from scaleenv_mcp.tasks.distractors import DISTRACTORS, RECIPE_KEY, add_distractors, build_image, parse_recipe
from scaleenv_mcp.tasks.stats import difficulty_label

RETAIL = se.load("retail")
FRESH = list(RETAIL.generate_tasks(seeds=[300, 301, 302], per_seed=6))


@pytest.fixture(scope="module")
def airline() -> tuple[se.Domain, list[TaskSpec]]:
    domain = se.load("airline")
    return domain, list(domain.generate_tasks(seeds=[310], per_seed=6))


def _episode_result(domain: se.Domain, task: TaskSpec, *, careless: bool) -> bool:
    """Run the reference's calls on the task's episode and say whether it succeeds. A careless
    agent makes the same calls, but wherever the reference uses a row a listing showed, it takes
    that listing's first hit instead."""
    with domain.episode(task) as ep:
        first_hit: dict[str, str] = {}
        for call in task.solution:
            args = {k: first_hit.get(v, v) if careless and isinstance(v, str) else v for k, v in call.arguments.items()}
            result = ep.call(call.tool, args)
            items = (result.data or {}).get("items") if result.ok else None
            if items and isinstance(items[0], dict) and "id" in items[0]:
                for item in items:
                    first_hit.setdefault(item["id"], items[0]["id"])
        check = next((c for c in task.checks if c.kind == "answer"), None)
        if check is not None:
            ep.call(ANSWER_TOOL, {"answer": check.value})
        return ep.verify().success


def _without_distractors(task: TaskSpec) -> TaskSpec:
    """The same task on its bare seed's state (no sha256: nothing to check it against)."""
    return task.model_copy(update={"initial_state": {"seed": task.initial_state["seed"]}})


def test_generated_tasks_record_their_distractors_and_the_coordinator_rebuilds_the_same_image() -> None:
    with_recipe = [t for t in FRESH if RECIPE_KEY in t.initial_state]
    assert len(with_recipe) >= len(FRESH) // 2, [t.initial_state for t in FRESH]
    coordinator = Coordinator(RETAIL.spec, [])
    for task in with_recipe:
        recipe = parse_recipe(RETAIL.spec, task.initial_state[RECIPE_KEY])
        assert recipe.count in DISTRACTORS.values() or recipe.count == len(recipe.near)
        assert grading_row(RETAIL.spec, task)["initial_state"] == task.initial_state  # exports carry the recipe
        ep = coordinator.start(task)  # rebuilt from the recipe; its sha256 checked
        seed_image = coordinator.image(task.initial_state["seed"])
        assert build_image(RETAIL.spec, seed_image, recipe) == (ep.initial, task.initial_state["sha256"]), task.id  # byte for byte
        base = State.from_snapshot(RETAIL.spec, seed_image)
        grown = {e: n - base.count(e) for e, n in ep.state.counts().items() if n != base.count(e)}
        assert sum(grown.values()) == recipe.count, (task.id, grown)
        for near in recipe.near:  # each copy is its row but for the fields it varies, its unique ones and what derives from them
            source = base.get(near.entity, near.id)
            assert source is not None
            fields = RETAIL.spec.entities[near.entity].fields
            fixed = {f for f, x in fields.items() if f not in near.vary and not x.unique and not x.derive}
            copies = [r for r in ep.state.find(near.entity, {f: source[f] for f in fixed}) if base.get(near.entity, r["id"]) is None]
            assert copies, (task.id, near)
            assert all(any(r[f] != source[f] for f in fields if fields[f].unique) or any(r[f] != source[f] for f in near.vary) for r in copies)
        base.close()
        coordinator.end(ep.id)
    # reproducible: the same seed gives the same recipes
    again = list(RETAIL.generate_tasks(6, seeds=[300], per_seed=6))
    assert [t.initial_state for t in again] == [t.initial_state for t in FRESH[:6]]


def test_harder_tasks_get_more_distractors(airline: tuple[se.Domain, list[TaskSpec]]) -> None:
    tasks = [*FRESH, *airline[1]]
    counts: dict[str, list[int]] = {"easy": [], "medium": [], "hard": []}
    for task in tasks:
        if RECIPE_KEY in task.initial_state:
            counts[difficulty_label(task)].append(task.initial_state[RECIPE_KEY]["count"])
    assert counts["hard"] and max(counts["hard"]) == DISTRACTORS["hard"], counts
    assert max(counts["easy"] or [0]) <= DISTRACTORS["medium"]  # a label may rise once its distractors count
    mean = {k: sum(v) / len(v) for k, v in counts.items() if v}
    assert mean["hard"] > min(mean.values()), mean


@pytest.mark.parametrize("name", ["retail", "airline"])
def test_the_reference_still_succeeds_on_the_state_with_distractors_and_doing_nothing_earns_nothing(
    name: str, airline: tuple[se.Domain, list[TaskSpec]]
) -> None:
    domain, tasks = (RETAIL, FRESH) if name == "retail" else airline
    assert any(RECIPE_KEY in t.initial_state for t in tasks)
    for task in tasks:
        with domain.episode(task) as ep:
            assert ep.verify().reward == 0.0, task.id
        assert _episode_result(domain, task, careless=False), task.id


def test_a_careless_agent_that_takes_the_first_search_hit_fails_where_the_distractors_stand() -> None:
    trapped = [
        t.id for t in FRESH
        if RECIPE_KEY in t.initial_state
        and _episode_result(RETAIL, _without_distractors(t), careless=True)  # the first hit was right on the seed's state
        and not _episode_result(RETAIL, t, careless=True)  # a copy came first
    ]  # fmt: skip
    assert trapped, [t.initial_state for t in FRESH]
    for task_id in trapped:  # the careful reference still succeeds there
        assert _episode_result(RETAIL, next(t for t in FRESH if t.id == task_id), careless=False)


def _condition_task(spec: se.DomainSpec, state: State, customer: dict[str, Any], order: dict[str, Any]) -> TaskSpec:
    """An information task about the customer's latest order, named by that condition only."""
    return TaskSpec(
        id="latest", domain=spec.name, kind="information",
        instruction=f"Hi, I'm {customer['name']}; my email is {customer['email']}. What is the status of my most recently placed order?",
        user={"name": customer["name"], "email": customer["email"]},
        initial_state={"seed": spec.seed, "sha256": hashlib.sha256(state.snapshot()).hexdigest()},
        checks=[
            CheckSpec(kind="answer", description="the status", entity="order", id=order["id"], field="status", value=order["status"],
                      answer_type="enum"),
            CheckSpec(kind="no_other_changes", description="nothing changed"),
        ],
        solution=[ToolCall(tool="find_customer_by_email", arguments={"email": customer["email"]}),
                  ToolCall(tool="list_customer_orders", arguments={"customer_id": customer["id"]})],
        difficulty={"steps": 2, "conditions": 1, "hidden": 2, "distractors": 1}, actor=customer["id"],
    )  # fmt: skip


def test_a_copy_that_would_take_a_conditions_place_is_dropped_and_the_named_row_stays_the_only_one_meant() -> None:
    spec = RETAIL.spec
    state = seed_state(spec)
    base = state.snapshot()
    kept = dropped = 0
    for customer in state.rows("customer"):
        orders = state.find("order", {"customer_id": customer["id"]})
        dates = [o["placed_on"] for o in orders]
        if len(orders) < 2 or dates.count(max(dates)) != 1:
            continue
        latest = next(o for o in orders if o["placed_on"] == max(dates))
        task = add_distractors(spec, state, _condition_task(spec, state, customer, latest), described={latest["id"]: ["placed_on"]})
        near = [n for n in task.initial_state.get(RECIPE_KEY, {}).get("near", []) if n[0] == "order"]
        if not near:
            dropped += 1
            continue
        kept += 1
        assert near[0][2] == ["placed_on"]  # the copy differs in the field that names the row
        grown = State.from_snapshot(spec, build_image(spec, base, parse_recipe(spec, task.initial_state[RECIPE_KEY]))[0])
        mine = grown.find("order", {"customer_id": customer["id"]})
        assert len(mine) > len(orders)
        newest = max(o["placed_on"] for o in mine)
        assert [o["id"] for o in mine if o["placed_on"] == newest] == [latest["id"]]  # still the only latest
        grown.close()
    assert state.snapshot() == base  # every copy was tried on the task's own state and undone
    state.close()
    assert kept and dropped, (kept, dropped)  # copies dated later were dropped, earlier ones kept


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"seed": 1, "near": [["order", "ORD-0001", []]]}, "exactly seed, near and count"),
        ({"seed": 1, "near": [["spaceship", "SPC-0001", []]], "count": 1}, "no entity 'spaceship'"),
        ({"seed": 1, "near": [["order", "ORD-9999", []]], "count": 1}, "no row 'ORD-9999' to copy"),
        ({"seed": 1, "near": [["order", "ORD-0001", ["total"]]], "count": 1}, "order.total is not a field a copy can vary"),
        ({"seed": 1, "near": [["order", "ORD-0001", []]], "count": 0}, "count must be a whole number from 1"),
        ({"seed": -3, "near": [["order", "ORD-0001", []]], "count": 1}, "seed must be a whole number from 0"),
        ({"seed": 1, "near": "ORD-0001", "count": 1}, "near must list 1 to 1 rows"),
    ],
)
def test_a_bad_recipe_is_a_clear_error_and_starts_no_episode(recipe: dict[str, Any], message: str) -> None:
    task = next(t for t in FRESH if RECIPE_KEY in t.initial_state)
    bad = task.model_copy(update={"id": "bad", "initial_state": {**task.initial_state, RECIPE_KEY: recipe}})
    coordinator = Coordinator(RETAIL.spec, [bad])
    with pytest.raises(EpisodeError, match=message) as caught:
        coordinator.start("bad")
    assert "\n" not in str(caught.value) and "task bad" in str(caught.value)
    assert coordinator.episodes == {}
    with pytest.raises(EpisodeError, match=message):
        RETAIL.episode(bad)


def test_a_task_whose_recipe_was_changed_is_refused_and_images_are_cached_by_the_whole_recipe() -> None:
    first, second = [t for t in FRESH if RECIPE_KEY in t.initial_state and t.initial_state["seed"] == 300][:2]
    recipe = dict(first.initial_state[RECIPE_KEY])
    other = first.model_copy(update={"id": "other", "initial_state": {**first.initial_state, RECIPE_KEY: {**recipe, "seed": recipe["seed"] + 1}}})
    coordinator = Coordinator(RETAIL.spec, [first, second, other])
    with pytest.raises(EpisodeError, match="its seed and distractor recipe give"):
        coordinator.start("other")
    a, b, again = coordinator.start(first.id), coordinator.start(second.id), coordinator.start(first.id)
    assert a.initial != b.initial != coordinator.image(300)  # one image per recipe, not per seed
    assert again.initial is a.initial  # built once, then served from the cache
