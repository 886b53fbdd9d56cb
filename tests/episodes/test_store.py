"""Durable episodes: what a service with a store held comes back, whole, in a new service on the same folder."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scaleenv_mcp.episodes import store as store_module
from scaleenv_mcp.episodes.coordinator import Coordinator
from scaleenv_mcp.episodes.service import EpisodeService
from scaleenv_mcp.episodes.store import CHECKPOINT_EVERY, STORE_FILE, EpisodeStore
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec


def service(folder: Path, domain: str = "retail") -> EpisodeService:
    """A server's episode service on ``folder``. A test restarts by making another while the first is
    still about, as a killed process leaves its store (the OS let go of a dead process's lock, so the
    store is opened without taking it; :func:`test_a_second_server_on_the_same_folder_is_refused`)."""
    coordinator = Coordinator(shipped_spec(domain), load_domain_tasks(PATHS, domain))
    return EpisodeService(coordinator, store=EpisodeStore(folder, exclusive=False))


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
        "policy": (
            sorted(episode.policy.identified),
            episode.policy.violations,
            episode.policy.calls,
            sorted(episode.policy.read),
        ),
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


def test_every_change_is_on_disk_when_the_call_returns(tmp_path: Path) -> None:
    """What a call reports is committed before it returns: another connection (a restarted server)
    sees every call at once, with nothing flushed and nothing closed, inside an event loop too."""

    async def run() -> None:
        episodes = service(tmp_path, "airline")
        task = next(t for t in episodes.coordinator.tasks.values() if t.solution)
        handle = episodes.create(task=task.id)
        for n, call in enumerate(task.solution, 1):
            episodes.call(handle.episode, call.tool, call.arguments)
            onlooker = service(tmp_path, "airline")  # the first store stays open, as a killed process leaves it
            assert onlooker.reload() == [handle.episode]
            assert picture(onlooker, handle.episode) == picture(episodes, handle.episode)
            assert len(onlooker.coordinator.episode(handle.episode).calls) == n
            assert onlooker.store is not None
            onlooker.store.close()
        assert episodes.store is not None
        await episodes.store.aclose()

    asyncio.run(run())


def _update_cities(episodes: EpisodeService, calls: int) -> str:
    handle = episodes.create()
    customer = episodes.coordinator.episode(handle.episode).state.head("customer", 1)[0]
    episodes.call(handle.episode, "find_customer_by_email", {"email": customer["email"]})
    for i in range(calls):
        assert episodes.call(handle.episode, "update_customer_city", {"customer_id": customer["id"], "city": f"City {i}"}).ok
    return handle.episode


def test_checkpoints_run_off_the_event_loop_between_requests(tmp_path: Path) -> None:
    """Every CHECKPOINT_EVERY commits the log is copied into the database on aiosqlite's thread; when
    the loop turns between bursts of requests, the copy catches up and the log file restarts, so it
    does not grow; the loop never waits for one. Nothing is lost."""
    wal = tmp_path / f"{STORE_FILE}-wal"

    async def run() -> tuple[str, dict[str, Any], list[int]]:
        episodes = service(tmp_path)
        store = episodes.store
        assert store is not None
        episode_id = _update_cities(episodes, 0)
        sizes = []
        for burst in range(1, 7):
            for _ in range(CHECKPOINT_EVERY):
                episodes.call(episode_id, "find_customer_by_email", {"email": "x@y.z"})
            for _ in range(1000):  # the checkpoint of this burst, on its thread
                if store.checkpoints >= burst:
                    break
                await asyncio.sleep(0.01)
            sizes.append(wal.stat().st_size)
        assert store.checkpoints == 6 and store.checkpoints_on_loop == 0
        assert episodes.metrics()["store"]["checkpoints_total"] == 6
        seen = picture(episodes, episode_id)
        await store.aclose()
        return episode_id, seen, sizes

    episode_id, seen, sizes = asyncio.run(run())
    assert max(sizes) < 1.5 * sizes[0], sizes  # the file is reused from its start: six bursts in the room of one
    after = service(tmp_path)
    assert after.reload() == [episode_id]
    assert picture(after, episode_id) == seen


def test_under_writes_that_never_pause_the_log_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no pause for the checkpoints off the loop to catch up in, the log would grow for as long
    as the writes go on; past WAL_LIMIT a checkpoint runs on the loop and the log restarts."""
    limit = 256 * 1024
    monkeypatch.setattr(store_module, "WAL_LIMIT", limit)
    wal = tmp_path / f"{STORE_FILE}-wal"

    async def run() -> tuple[str, dict[str, Any], list[int]]:
        episodes = service(tmp_path)
        assert episodes.store is not None
        episode_id = _update_cities(episodes, 0)
        sizes = []  # the log's largest size in each run of CHECKPOINT_EVERY calls
        for i in range(8 * CHECKPOINT_EVERY):
            if i % CHECKPOINT_EVERY == 0:
                sizes.append(0)
            episodes.call(episode_id, "update_customer_city", {"customer_id": "CUS-0001", "city": f"City {i}"})
            await asyncio.sleep(0)  # the loop turns, but never long enough for a checkpoint to catch up
            sizes[-1] = max(sizes[-1], wal.stat().st_size)
        assert episodes.store.checkpoints_on_loop >= 1
        seen = picture(episodes, episode_id)
        await episodes.store.aclose()
        return episode_id, seen, sizes

    episode_id, seen, sizes = asyncio.run(run())
    assert max(sizes) <= limit + 2 * sizes[0], sizes  # growing no more than a run past the limit, where 8 runs would grow 8-fold
    after = service(tmp_path)
    assert after.reload() == [episode_id]
    assert picture(after, episode_id) == seen


def test_without_an_event_loop_the_checkpoint_runs_in_place(tmp_path: Path) -> None:
    episodes = service(tmp_path)
    assert episodes.store is not None
    handle = episodes.create()
    for _ in range(2 * CHECKPOINT_EVERY):
        episodes.call(handle.episode, "find_customer_by_email", {"email": "x@y.z"})
    assert episodes.store.checkpoints == 2
    episodes.store.close()


def test_a_change_the_disk_refuses_is_counted_and_the_episode_lives_on(tmp_path: Path) -> None:
    """A change is all or nothing: when its last statement fails (as a full disk would make it), the
    call's log entry and monitor written before it are rolled back, the failure is counted, and the
    episode goes on in memory."""
    episodes = service(tmp_path)
    assert episodes.store is not None
    conn = episodes.store._conn
    handle = episodes.create()
    customer = episodes.coordinator.episode(handle.episode).state.head("customer", 1)[0]
    conn.execute("DROP TABLE rows")  # the write call's rows are its change's last statements
    result = episodes.call(handle.episode, "update_customer_city", {"customer_id": customer["id"], "city": "Austin"})
    assert result.ok, result.error
    assert episodes.store.errors == 1 and not conn.in_transaction
    assert episodes.coordinator.episode(handle.episode).state.get("customer", customer["id"])["city"] == "Austin"  # type: ignore[index]
    assert conn.execute("SELECT count(*) FROM calls").fetchone() == (0,)
    assert '"calls":0' in conn.execute("SELECT policy FROM episodes WHERE id = ?", (handle.episode,)).fetchone()[0]
    assert episodes.call(handle.episode, "find_customer_by_email", {"email": "x@y.z"}).ok is not None
    assert episodes.store.errors == 1  # a read call's change has no rows: written whole
    assert conn.execute("SELECT idx FROM calls").fetchall() == [(1,)]
    store = episodes.metrics()["store"]  # what an operator sees on /metrics
    assert store["write_errors_total"] == 1 and store["path"] == str(tmp_path / STORE_FILE) and store["log_bytes"] > 0


def test_metrics_say_nothing_of_a_store_when_there_is_none() -> None:
    episodes = EpisodeService(Coordinator(shipped_spec("retail"), load_domain_tasks(PATHS, "retail")))
    assert "store" not in episodes.metrics()


def test_without_a_store_nothing_is_written(tmp_path: Path) -> None:
    coordinator = Coordinator(shipped_spec("retail"), load_domain_tasks(PATHS, "retail"))
    episodes = EpisodeService(coordinator)
    episodes.call(episodes.create().episode, "find_customer_by_email", {"email": "x@y.z"})
    assert episodes.reload() == [] and not list(tmp_path.iterdir())


def test_any_text_a_call_carries_comes_back(tmp_path: Path) -> None:
    """Text with quotes, backslashes, JSON, characters outside the BMP, and a refused lone surrogate
    all come back."""
    awkward = ['O\'Brien "Town" \\ end', '{"a": [1, 2]}', "Zürich ☃ 𝄞 \u2028 line", "\ud800 alone"]

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
        seen = picture(episodes, handle.episode)
        await episodes.store.aclose()
        return handle.episode, seen

    episode_id, seen = asyncio.run(run())
    assert [c["arguments"].get("city") for c in seen["calls"][1:]][:3] == awkward[:3]
    after = service(tmp_path)
    assert after.reload() == [episode_id]
    assert picture(after, episode_id) == seen


def test_a_call_stores_only_the_rows_it_read_anew(tmp_path: Path) -> None:
    """The rows an episode read only grow between rewinds (up to 100,000 of them): a call that reads one
    more row writes that one, not every row read before it again; all come back after a restart."""
    episodes = service(tmp_path)
    handle = episodes.create(seed=3, creator="lab")
    customers = [row["id"] for row in episodes.coordinator.episode(handle.episode).state.head("customer", 21)]
    for customer in customers[:20]:
        assert episodes.call(handle.episode, "get_customer", {"customer_id": customer}).ok
    statements: list[str] = []
    assert episodes.store is not None
    episodes.store._conn.set_trace_callback(statements.append)
    assert episodes.call(handle.episode, "get_customer", {"customer_id": customers[20]}).ok
    episodes.store._conn.set_trace_callback(None)
    assert sum("INTO reads" in s for s in statements) == 1
    read = sorted(episodes.coordinator.episode(handle.episode).policy.read)
    after = service(tmp_path)
    assert after.reload() == [handle.episode]
    assert sorted(after.coordinator.episode(handle.episode).policy.read) == read and len(read) >= 21


def test_a_second_server_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    """Two servers on one folder each wrote over the other's episodes, and one's delete lost what
    the other had acknowledged; the folder is held while a server uses it, and freed when it stops."""
    first = EpisodeStore(tmp_path)
    with pytest.raises(ValueError, match=r"is in use by another server: give each server its own folder$"):
        EpisodeStore(tmp_path)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / STORE_FILE).symlink_to(tmp_path / STORE_FILE)  # another folder, the same store
    with pytest.raises(ValueError, match="is in use by another server"):
        EpisodeStore(linked)
    first.close()
    EpisodeStore(tmp_path).close()  # free again


def test_an_episode_that_cannot_be_read_back_is_named_and_the_others_come_back(tmp_path: Path) -> None:
    before = service(tmp_path)
    task = next(t for t in before.coordinator.tasks.values() if t.solution)
    good, bad_json, bad_row, bad_snapshot, bad_tool, gone_task, bad_channel, no_name = (play(before, task.id) for _ in range(8))
    seen = picture(before, good)
    conn = sqlite3.connect(tmp_path / STORE_FILE, isolation_level=None)  # damage done from outside, as a disk or a hand would
    conn.execute("UPDATE calls SET arguments = '{not json' WHERE episode = ? AND idx = 0", (bad_json,))
    conn.execute("UPDATE rows SET entity = 'nonexistent_entity' WHERE episode = ?", (bad_row,))
    conn.execute("UPDATE snapshots SET calls = 'abc' WHERE episode = ? AND name = 'half'", (bad_snapshot,))
    conn.execute("UPDATE calls SET tool = x'00ff' WHERE episode = ? AND idx = 0", (bad_tool,))
    conn.execute("UPDATE episodes SET task = 'retail-999' WHERE id = ?", (gone_task,))  # tasks made again since
    conn.execute("UPDATE episodes SET channel = '{}' WHERE id = ?", (bad_channel,))
    conn.execute("UPDATE episodes SET id = '' WHERE id = ?", (no_name,))  # an id no request could name
    damaged_rows = conn.execute("SELECT count(*) FROM rows WHERE episode IN (?, ?, ?)", (bad_json, bad_row, gone_task)).fetchone()

    after = service(tmp_path)
    assert after.reload() == [good] and picture(after, good) == seen
    assert after.store is not None and after.store.damaged == {
        bad_json: "its call log is not what this server wrote",
        bad_row: "it cannot be made again (KeyError: \"unknown entity 'nonexistent_entity'\")",
        bad_snapshot: "its snapshot 'half' is not what this server wrote",
        bad_tool: "its call log names a tool by a value of the wrong type",
        gone_task: "its task 'retail-999' is not among this server's tasks",
        bad_channel: "its handle record holds a value of the wrong type",
        "''": "its id is not a name this server gives",
    }
    assert bad_row not in after.coordinator.episodes  # nothing half made is left live
    # their rows stay on disk as they were, for an operator to look at
    assert conn.execute("SELECT count(*) FROM rows WHERE episode IN (?, ?, ?)", (bad_json, bad_row, gone_task)).fetchone() == damaged_rows
    conn.close()


def test_a_store_file_sqlite_cannot_read_through_is_one_line(tmp_path: Path) -> None:
    before = service(tmp_path)
    for _ in range(40):
        play(before, next(t for t in before.coordinator.tasks.values() if t.solution).id)
    assert before.store is not None
    before.store.close()  # the log is copied into the file as the last connection closes
    path = tmp_path / STORE_FILE
    data = bytearray(path.read_bytes())
    third = len(data) // 3  # a damaged stretch in the middle: whatever the layout, it holds pages the load reads
    data[third : 2 * third] = (bytes(range(256)) * (third // 256 + 1))[:third]
    path.write_bytes(bytes(data))
    store = EpisodeStore(tmp_path)
    with pytest.raises(ValueError) as refused:
        store.load()
    assert "\n" not in str(refused.value) and str(refused.value).startswith(f"{path} is damaged (")
    store.close()
