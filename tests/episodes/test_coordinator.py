"""The coordinator: many isolated episodes per domain, snapshots, resets, verification with the policy."""

from __future__ import annotations

import pytest

from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec


def test_a_wrong_but_plausible_path_loses_reward() -> None:
    spec = shipped_spec("retail")
    tasks = load_domain_tasks(PATHS, "retail")
    coordinator = Coordinator(spec, tasks)
    seeded = coordinator.start(None).state
    task = next(
        t for t in tasks
        if any(c.tool == "cancel_order" and seeded.get("order", c.arguments["order_id"]) for c in t.solution)
    )  # fmt: skip
    right = next(c for c in task.solution if c.tool == "cancel_order").arguments["order_id"]
    episode = coordinator.start(task.id)
    wrong = next(
        o["id"] for o in episode.state.rows("order")
        if o["status"] in ("pending", "paid") and o["id"] != right
    )  # fmt: skip
    assert coordinator.call(episode.id, "cancel_order", {"order_id": wrong}).ok
    verdict = coordinator.verify(episode.id)
    assert not verdict.success and verdict.reward < 1.0
    assert any(not c.passed and c.kind == "no_other_changes" for c in verdict.checks)
    # the right order makes the goal checks pass, but the collateral damage is a gate: no mode pays
    for call in task.solution:  # the whole right path as well
        assert coordinator.call(episode.id, call.tool, call.arguments).ok, call
    after = coordinator.verify(episode.id)
    assert all(c.passed for c in after.checks if c.kind != "no_other_changes")
    assert not after.success and set(after.rewards.values()) == {0.0}


def test_two_episodes_of_one_task_are_isolated_and_snapshots_restore() -> None:
    spec = shipped_spec("hotel")
    tasks = load_domain_tasks(PATHS, "hotel")
    task = next(t for t in tasks if t.kind == "action")
    coordinator = Coordinator(spec, tasks)
    first, second = coordinator.start(task.id), coordinator.start(task.id)
    saved = coordinator.snapshot(first.id)
    for call in task.solution:
        assert coordinator.call(first.id, call.tool, call.arguments).ok
    assert coordinator.verify(first.id).success
    assert not coordinator.verify(second.id).success
    assert coordinator.diff(second.id).is_empty() and not coordinator.diff(first.id).is_empty()
    coordinator.restore(first.id, saved)
    assert coordinator.diff(first.id).is_empty()
    coordinator.end(first.id)
    assert list(coordinator.episodes) == [second.id]


def test_restoring_a_snapshot_forgets_the_abandoned_branch_but_not_earlier_violations() -> None:
    spec = shipped_spec("retail")
    tasks = load_domain_tasks(PATHS, "retail")
    task = next(t for t in tasks if t.kind == "action" and t.actor)
    coordinator = Coordinator(spec, tasks)
    episode = coordinator.start(task.id)
    stranger = next(c for c in episode.state.rows("customer") if c["id"] != task.actor)
    saved = coordinator.snapshot(episode.id)
    assert coordinator.call(episode.id, "update_customer_city", {"customer_id": stranger["id"], "city": "Oslo"}).ok
    assert coordinator.verify(episode.id).policy_violations  # before identification, and not the task's user
    coordinator.restore(episode.id, saved)  # the harness abandons that branch
    for call in task.solution:
        assert coordinator.call(episode.id, call.tool, call.arguments).ok
    assert coordinator.verify(episode.id).success
    coordinator.reset(episode.id)
    assert coordinator.call(episode.id, "update_customer_city", {"customer_id": stranger["id"], "city": "Oslo"}).ok
    assert coordinator.call(episode.id, "update_customer_city", {"customer_id": stranger["id"], "city": stranger["city"]}).ok
    assert coordinator.diff(episode.id).is_empty()  # undone: the state shows nothing ...
    verdict = coordinator.verify(episode.id)
    assert verdict.policy_violations and not verdict.success  # ... but the journal of calls does


def test_the_call_log_keeps_hostile_arguments_small_and_listable() -> None:
    """A 300-deep argument, a lone surrogate or a 40,000-item list is refused, and the episode's
    calls still list as JSON (a deep one used to make the listing fail for good)."""
    from starlette.responses import JSONResponse

    from scaleenv_mcp.episodes.control import handle_request
    from scaleenv_mcp.episodes.service import EpisodeService

    service = EpisodeService(Coordinator(shipped_spec("airline")))
    episode = service.create().episode
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(300):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    payments = {"customer_id": "CUS-0001", "flight_ids": ["FLT-0001"], "cabin": "economy",
                "passengers": [{"first_name": "A", "last_name": "B", "date_of_birth": "1990-01-01"}],
                "payment_method_ids": ["PM-0001"] * 40_000}  # fmt: skip
    for tool, arguments in (
        ("get_customer", {"customer_id": deep}),
        ("get_customer", {"customer_id": "CUS-\ud800"}),
        ("get\udc00", {"x\ud800": "\ud800"}),
        ("book_reservation", payments),
    ):
        result = service.call(episode, tool, arguments)
        assert not result.ok and result.error is not None and result.error.code in ("invalid_arguments", "unknown_tool")
    calls = handle_request(service, {"op": "calls", "episode": episode})
    body = JSONResponse(calls).body  # what the HTTP control plane sends: strict JSON, UTF-8
    assert len(calls) == 4 and len(body) < 10_000
    assert "40,000 items" in body.decode() and "\\\\ud800" in body.decode()


def test_snapshots_per_episode_are_capped_and_a_known_name_is_replaced() -> None:
    from scaleenv_mcp.episodes.coordinator import TooManySnapshots

    coordinator = Coordinator(shipped_spec("retail"), max_snapshots=3)
    episode = coordinator.start(None).id
    for name in ("a", "b", "c", "a"):
        coordinator.snapshot(episode, name)
    with pytest.raises(TooManySnapshots, match="holds 3 snapshots, the cap"):
        coordinator.snapshot(episode)
    coordinator.restore(episode, "b")
    assert coordinator.fresh().max_snapshots == 3


def _contents(coordinator: Coordinator, episode_id: str) -> dict[str, list[dict[str, object]]]:
    state = coordinator.episode(episode_id).state
    return {entity: sorted(state.rows(entity), key=lambda r: str(r["id"])) for entity in state.spec.entities}


def test_episodes_past_the_awake_cap_sleep_and_wake_as_they_were() -> None:
    """With room for two awake states, every episode of many is put to sleep and woken again between
    its calls; each ends exactly as the same calls leave an episode that never slept: contents,
    diff, verdict, the id the next new row gets, and a reset back to the start."""
    spec = shipped_spec("airline")
    tasks = [t for t in load_domain_tasks(PATHS, "airline") if t.kind == "action"][:8]
    sleepy, awake = Coordinator(spec, tasks, hot_states=2), Coordinator(spec, tasks)
    for coordinator in (sleepy, awake):
        for task in tasks:
            coordinator.start(task.id, task.id)
    longest = max(len(t.solution) for t in tasks)
    for step in range(longest):  # round robin: each call wakes its episode and puts another to sleep
        for task in tasks:
            if step < len(task.solution):
                call = task.solution[step]
                results = [c.call(task.id, call.tool, call.arguments) for c in (sleepy, awake)]
                assert results[0].ok == results[1].ok and results[0].data == results[1].data, (task.id, call)
        assert sleepy.awake <= 2
    assert sum(e.awake is None for e in sleepy.episodes.values()) == len(tasks) - 2
    for task in tasks:
        assert sleepy.verify(task.id).success and awake.verify(task.id).success
        assert sleepy.diff(task.id) == awake.diff(task.id)
        assert _contents(sleepy, task.id) == _contents(awake, task.id)
        sleepy.reset(task.id)
        awake.reset(task.id)
        assert sleepy.diff(task.id).is_empty() and _contents(sleepy, task.id) == _contents(awake, task.id)
        again = task.solution[-1]
        replay = [c.call(task.id, again.tool, again.arguments) for c in (sleepy, awake)]
        assert replay[0].data == replay[1].data  # ids of new rows are issued as in a state that never slept
    for episode_id in list(sleepy.episodes):
        sleepy.end(episode_id)
    assert sleepy.awake == 0


def test_snapshots_of_a_sleeping_episode_restore() -> None:
    spec = shipped_spec("hotel")
    tasks = load_domain_tasks(PATHS, "hotel")
    task = next(t for t in tasks if t.kind == "action")
    coordinator = Coordinator(spec, tasks, hot_states=1)
    first = coordinator.start(task.id)
    saved = coordinator.snapshot(first.id)
    for call in task.solution:
        assert coordinator.call(first.id, call.tool, call.arguments).ok
    coordinator.start(task.id)  # the first episode goes to sleep
    assert first.awake is None
    assert coordinator.verify(first.id).success
    coordinator.restore(first.id, saved)
    assert coordinator.diff(first.id).is_empty() and not coordinator.verify(first.id).success


def test_the_awake_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="hot_states must be at least 1"):
        Coordinator(shipped_spec("retail"), hot_states=0)
