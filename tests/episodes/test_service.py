"""Episodes a harness owns: handles, playgrounds, caps and idle expiry (with a clock the test moves)."""

from __future__ import annotations

import pytest

from scaleenv_mcp.episodes.coordinator import Coordinator, EpisodeError
from scaleenv_mcp.episodes.service import PLAYGROUND, EpisodeService, TooManyEpisodes
from scaleenv_mcp.spec.catalog import load_domain_tasks

from ..conftest import PATHS, shipped_spec


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(**limits: float) -> tuple[EpisodeService, Clock]:
    clock = Clock()
    coordinator = Coordinator(shipped_spec("retail"), load_domain_tasks(PATHS, "retail"))
    return EpisodeService(coordinator, clock=clock, **limits), clock  # type: ignore[arg-type]


def test_each_episode_gets_its_own_unguessable_token_and_id() -> None:
    episodes, _ = service()
    handles = [episodes.create() for _ in range(50)]
    assert len({h.token for h in handles}) == len({h.episode for h in handles}) == 50
    assert all(len(h.token) >= 40 and h.episode not in h.token for h in handles)
    assert episodes.resolve(handles[3].token) == handles[3].episode
    assert episodes.resolve("not-a-token") is None


def test_playgrounds_are_per_session_and_never_a_harness_episode() -> None:
    episodes, _ = service()
    made = episodes.create()
    assert episodes.playground(None) == PLAYGROUND == episodes.playground(None)
    assert episodes.playground("abc") == f"{PLAYGROUND}:abc" != episodes.playground("xyz")
    assert made.episode not in {PLAYGROUND, f"{PLAYGROUND}:abc"}
    assert {e["creator"] for e in episodes.listing()} == {"harness", PLAYGROUND}


def test_caps_per_server_and_per_creator_say_too_many_episodes() -> None:
    episodes, _ = service(max_episodes=3, max_per_creator=2)
    episodes.create(creator="a")
    episodes.create(creator="a")
    with pytest.raises(TooManyEpisodes, match="too many episodes for 'a'"):
        episodes.create(creator="a")
    episodes.create(creator="b")
    with pytest.raises(TooManyEpisodes, match="the server's cap is 3"):
        episodes.playground("s1")
    assert len(episodes.handles) == 3  # a refusal makes nothing


def test_idle_episodes_expire_and_their_state_is_freed() -> None:
    episodes, clock = service(idle_seconds=60)
    old, busy = episodes.create(), episodes.create()
    clock.now += 50
    episodes.call(busy.episode, "get_customer", {"customer_id": "x"})  # a call keeps an episode alive
    clock.now += 20
    assert episodes.reap() == [old.episode]
    assert episodes.resolve(old.token) is None and old.episode not in episodes.coordinator.episodes
    clock.now += 61
    assert episodes.resolve(busy.token) is None  # expired even before the reaper runs
    assert episodes.metrics()["reaped_total"] == 2 and episodes.metrics()["live_episodes"] == 0


def test_delete_frees_the_room_and_the_token() -> None:
    episodes, _ = service(max_episodes=1)
    handle = episodes.create()
    episodes.end(handle.episode)
    assert episodes.resolve(handle.token) is None
    with pytest.raises(EpisodeError, match="not found"):
        episodes.end(handle.episode)
    episodes.create()  # room again


def test_free_play_on_another_seed_starts_from_that_seed() -> None:
    episodes, _ = service()
    default, other = episodes.create(), episodes.create(seed=12345)
    rows = {h.episode: episodes.coordinator.episodes[h.episode].state.rows("customer") for h in (default, other)}
    assert rows[default.episode] != rows[other.episode]
    again = episodes.create(seed=12345)
    assert episodes.coordinator.episodes[again.episode].state.rows("customer") == rows[other.episode]
    with pytest.raises(EpisodeError, match="a task fixes its initial state"):
        episodes.create(task="retail-001", seed=12345)
