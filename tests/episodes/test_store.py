"""Durable episodes: what a service with a store held comes back, whole, in a new service on the same folder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.episodes.store import STORE_FILE, EpisodeStore
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec


def service(folder: Path, domain: str = "retail") -> EpisodeService:
    coordinator = Coordinator(shipped_spec(domain), load_domain_tasks(PATHS, domain))
    return EpisodeService(coordinator, store=EpisodeStore(folder))


def picture(episodes: EpisodeService, episode_id: str) -> dict[str, Any]:
    """Everything a harness can ask of an episode, and its handle."""
    coordinator = episodes.coordinator
    episode = coordinator.episode(episode_id)
    handle = episodes.handles[episode_id]
    seen: dict[str, Any] = {
        "handle": (handle.token, handle.creator, handle.task, handle.seed),
        "calls": [c.model_dump(mode="json") for c in episode.calls],
        "diff": coordinator.diff(episode_id).model_dump(mode="json"),
        "snapshots": sorted(episode.snapshots),
        "channel": episode.channel,
        "submitted": episode.submitted,
        "policy": (sorted(episode.policy.identified), episode.policy.violations, episode.policy.calls, sorted(episode.policy.read)),
        "state": episode.state.dump(),
    }
    if episode.task is not None:
        seen["verify"] = coordinator.verify(episode_id, "done").model_dump(mode="json")
    return seen


def play(episodes: EpisodeService, task: str) -> str:
    """A task's solution with a snapshot halfway and a detour restored away, then its answer."""
    handle = episodes.create(task=task, creator="lab")
    solution = episodes.coordinator.task(task).solution
    half = len(solution) // 2
    for call in solution[:half]:
        episodes.call(handle.episode, call.tool, call.arguments)
    episodes.snapshot(handle.episode, "half")
    episodes.call(handle.episode, "find_customer_by_email", {"email": "nobody@example.org"})
    episodes.restore(handle.episode, "half")
    for call in solution[half:]:
        episodes.call(handle.episode, call.tool, call.arguments)
    episodes.snapshot(handle.episode, "end")
    return handle.episode


def test_episodes_come_back_with_their_handle_state_calls_snapshots_and_monitor(tmp_path: Path) -> None:
    before = service(tmp_path)
    by_seed = {t.initial_state["seed"]: t.id for t in reversed(before.coordinator.tasks.values()) if t.solution}
    tasks = list(by_seed.values())[:4]  # tasks of four seeds: each comes back on its own seed's state
    assert len({before.coordinator.task(t).initial_state["seed"] for t in tasks}) == 4
    made = [play(before, task) for task in tasks]
    free = before.create(seed=3, creator="free")
    before.call(free.episode, "find_customer_by_email", {"email": "x@y.z"})
    customer = before.coordinator.episode(free.episode).state.head("customer", 1)[0]["id"]
    for city in ("Austin", "Boston"):  # writes before anyone was identified: violations the monitor keeps
        assert before.call(free.episode, "update_customer_city", {"customer_id": customer, "city": city}).ok
    assert len(before.coordinator.episode(free.episode).policy.violations) == 2
    gone = before.create()
    before.end(gone.episode)
    pictures = {e: picture(before, e) for e in [*made, free.episode]}
    assert any(not before.coordinator.diff(e).is_empty() for e in made), "the solutions should change something"

    after = service(tmp_path)  # a restart: nothing in memory, the same folder
    assert sorted(after.reload()) == sorted(pictures)
    for episode_id, seen in pictures.items():
        assert picture(after, episode_id) == seen
        assert after.resolve(seen["handle"][0]) == episode_id
    for episode_id, task in zip(made, tasks, strict=True):
        assert after.coordinator.episode(episode_id).initial == after.coordinator.task_image(after.coordinator.task(task))
    # and they go on: a snapshot taken before the restart restores, the listing counts per creator
    after.restore(made[0], "half")
    assert len(after.coordinator.episode(made[0]).calls) == len(after.coordinator.task(tasks[0]).solution) // 2
    assert after.metrics()["per_creator"] == {"lab": 4, "free": 1}


def test_reset_and_delete_are_durable_too(tmp_path: Path) -> None:
    before = service(tmp_path)
    task = next(t for t in before.coordinator.tasks.values() if t.solution)
    kept, ended = play(before, task.id), play(before, task.id)
    before.reset(kept)
    before.end(ended)
    after = service(tmp_path)
    assert after.reload() == [kept]
    episode = after.coordinator.episode(kept)
    assert episode.calls == [] and after.coordinator.diff(kept).is_empty() and sorted(episode.snapshots) == ["end", "half"]


def test_written_off_the_event_loop_and_on_disk_once_flushed(tmp_path: Path) -> None:
    async def run() -> tuple[str, dict[str, Any]]:
        episodes = service(tmp_path, "airline")
        assert episodes.store is not None
        task = next(t for t in episodes.coordinator.tasks.values() if t.solution)
        handle = episodes.create(task=task.id)
        for call in task.solution:
            episodes.call(handle.episode, call.tool, call.arguments)
        assert episodes.store.pending  # queued, not yet written: the call did not wait for the disk
        await episodes.store.flush()
        assert not episodes.store.pending
        seen = picture(episodes, handle.episode)
        await episodes.store.aclose()  # what it wrote is on disk already; this only ends aiosqlite's thread
        return handle.episode, seen

    episode_id, seen = asyncio.run(run())
    assert (tmp_path / STORE_FILE).exists()
    after = service(tmp_path, "airline")
    assert after.reload() == [episode_id]
    assert picture(after, episode_id) == seen


def test_without_a_store_nothing_is_written(tmp_path: Path) -> None:
    coordinator = Coordinator(shipped_spec("retail"), load_domain_tasks(PATHS, "retail"))
    episodes = EpisodeService(coordinator)
    episodes.call(episodes.create().episode, "find_customer_by_email", {"email": "x@y.z"})
    assert episodes.reload() == [] and not list(tmp_path.iterdir())


def test_any_text_a_call_carries_comes_back_from_a_batched_write(tmp_path: Path) -> None:
    """Writes queued while the event loop runs go to disk as one statement over a JSON array: text with
    quotes, backslashes, JSON, characters outside the BMP, and a refused lone surrogate all come back."""
    awkward = ["O'Brien \"Town\" \\ end", '{"a": [1, 2]}', "Zürich ☃ 𝄞 \u2028 line", "\ud800 alone"]

    async def run() -> tuple[str, dict[str, Any]]:
        episodes = service(tmp_path)
        assert episodes.store is not None
        handle = episodes.create(creator="text")
        state = episodes.coordinator.episode(handle.episode).state
        customer = state.head("customer", 1)[0]
        episodes.call(handle.episode, "find_customer_by_email", {"email": customer["email"]})
        for city in awkward:
            episodes.call(handle.episode, "update_customer_city", {"customer_id": customer["id"], "city": city})
        episodes.snapshot(handle.episode, "after ☃")
        await episodes.store.flush()
        seen = picture(episodes, handle.episode)
        await episodes.store.aclose()
        return handle.episode, seen

    episode_id, seen = asyncio.run(run())
    assert [c["arguments"].get("city") for c in seen["calls"][1:]][:3] == awkward[:3]
    after = service(tmp_path)
    assert after.reload() == [episode_id]
    assert picture(after, episode_id) == seen
