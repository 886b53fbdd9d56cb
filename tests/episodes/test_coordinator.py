"""The coordinator: many isolated episodes per domain, snapshots, resets, verification with the policy."""

from __future__ import annotations

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
