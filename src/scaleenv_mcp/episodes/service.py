"""Episodes a harness owns: created on request, reached by an unguessable handle, bounded and reaped.

One server process hosts many episodes. A harness creates one (for a task, or free play on a
seed) and gets back its id, which only the harness uses on the control plane, and a token,
which goes into the agent's MCP endpoint. The token is 32 random bytes: an agent cannot guess
another episode's, and it is never a tool argument or the MCP session id, so neither the agent
nor its MCP client can choose which state it acts on.

Requests that carry no handle get a playground episode instead: one per MCP session where the
client has one, else one shared state labelled as such. A playground is never an episode a
harness created.

Everything is bounded: live episodes per server and per creator (an error that says "too many
episodes", not a hang), and an idle time after which an episode is reaped and its memory freed.

With a :class:`~.store.EpisodeStore` (``serve --http --state-dir DIR``) every change to an episode
with a handle is also reported to the store, and :meth:`EpisodeService.reload` brings the stored
episodes back after a restart; without one, nothing of that runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine.runtime import ToolResult
from ..engine.state import State
from ..errors import ScaleenvError
from ..spec.task import AnswerChannel
from .coordinator import Coordinator, EpisodeError, TooManyEpisodes, check_name
from .store import EpisodeStore, StoredEpisode, apply_changes

__all__ = ["PLAYGROUND", "EpisodeService", "Handle", "TooManyEpisodes"]

PLAYGROUND = "playground"
"""Id of the shared playground (requests with neither a handle nor an MCP session); per-session ones
are ``playground:<session id>``."""

IDLE_SECONDS = 900.0
"""an episode ends after this long without a call (the default of ``--idle-seconds``)"""
MAX_EPISODES = 10_000
"""live episodes one server holds at most (``--max-episodes``)"""
MAX_PER_CREATOR = 2_000
"""live episodes one creator holds at most (``--max-per-creator``)"""
_LATENCY_WINDOW = 10_000
_RATE_WINDOW_S = 60.0


def _malloc_trim() -> None:
    """Return freed heap pages to the OS. glibc keeps them for reuse, so a server that ended 2,000
    episodes would otherwise keep their peak footprint (measured: 246 MiB, 62 after a trim)."""
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc: nothing to do
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


@dataclass
class Handle:
    episode: str
    token: str
    creator: str
    task: str | None
    seed: int | None
    created: float
    last_used: float
    pinned: bool = False
    """never reaped: a stdio session's own episode, which lives as long as its connection"""

    def public(self) -> dict[str, Any]:
        """What the control plane shows in a listing (the token only to whoever created it, at creation)."""
        return {"episode": self.episode, "creator": self.creator, "task": self.task, "seed": self.seed}


class EpisodeService:
    """A coordinator's episodes with owners, handles, caps, idle expiry and metrics."""

    def __init__(
        self,
        coordinator: Coordinator,
        *,
        default_task: str | None = None,
        idle_seconds: float = IDLE_SECONDS,
        max_episodes: int = MAX_EPISODES,
        max_per_creator: int = MAX_PER_CREATOR,
        clock: Callable[[], float] = time.monotonic,
        store: EpisodeStore | None = None,
    ) -> None:
        if idle_seconds <= 0 or max_episodes < 1 or max_per_creator < 1:
            raise ValueError("idle_seconds, max_episodes and max_per_creator must be positive")
        self.coordinator = coordinator
        self.default_task = default_task
        self.idle_seconds = idle_seconds
        self.max_episodes = max_episodes
        self.max_per_creator = max_per_creator
        self.clock = clock
        self.store = store
        self.handles: dict[str, Handle] = {}  # episode id -> handle
        self._by_token: dict[str, str] = {}
        self._per_creator: dict[str, int] = {}
        self._started = clock()
        self._calls = 0
        self._errors = 0
        self._reaped = 0
        self._ended_since_release = 0
        self._recent: deque[tuple[float, float]] = deque(maxlen=_LATENCY_WINDOW)  # (when, seconds)

    # ------------------------------------------------------------------ creating and finding

    def create(
        self, *, task: str | None = None, seed: int | None = None, creator: str = "harness", channel: AnswerChannel = "typed"
    ) -> Handle:
        """A new episode with a fresh token; :class:`TooManyEpisodes` at a cap (after reaping idle ones).

        The fields may come straight off the wire: :meth:`.Coordinator.request` checks them (the one
        check every path shares) before anything is made. ``channel``: how a task's answer reaches
        the grader (``typed``: the task's answer tool is listed)."""
        asked = self.coordinator.request(task, seed, channel)
        creator = check_name("creator", creator) or "harness"
        self._make_room(creator)
        episode = self.coordinator.start(asked, f"ep-{secrets.token_hex(8)}")
        now = self.clock()
        task_id = asked.task.id if asked.task is not None else None
        handle = Handle(episode.id, secrets.token_urlsafe(32), creator, task_id, asked.seed, now, now)
        self.handles[episode.id] = handle
        self._by_token[handle.token] = episode.id
        self._per_creator[creator] = self._per_creator.get(creator, 0) + 1
        if self.store is not None:
            self.store.created(episode, handle.token, creator, seed)
        return handle

    def resolve(self, token: str) -> str | None:
        """The episode a token opens (and mark it used), or None for an unknown or expired token."""
        episode_id = self._by_token.get(token)
        if episode_id is None:
            return None
        handle, now = self.handles[episode_id], self.clock()
        if now - handle.last_used > self.idle_seconds:  # expired; the periodic reaper had not got to it yet
            self.end(episode_id)
            self._reaped += 1
            return None
        handle.last_used = now
        return episode_id

    def playground(self, session: str | None) -> str:
        """The playground episode for an MCP session (or the shared one), created on first use."""
        episode_id = self._playground_id(session)
        handle = self.handles.get(episode_id)
        if handle is not None:
            handle.last_used = self.clock()
            return episode_id
        self._make_room(PLAYGROUND)
        self.coordinator.start(self.default_task, episode_id)
        now = self.clock()
        self.handles[episode_id] = Handle(episode_id, "", PLAYGROUND, self.default_task, None, now, now)
        self._per_creator[PLAYGROUND] = self._per_creator.get(PLAYGROUND, 0) + 1
        return episode_id

    def check_playground(self, session: str | None) -> None:
        """:class:`TooManyEpisodes` if ``session`` has no playground yet and the caps leave no room for one.

        The HTTP layer asks before the MCP SDK sees the request, so a new playground at the cap gets
        the same 429 as a create, not a JSON-RPC error inside a 200."""
        if self._playground_id(session) not in self.handles:
            self._make_room(PLAYGROUND)

    @staticmethod
    def _playground_id(session: str | None) -> str:
        return f"{PLAYGROUND}:{session}" if session else PLAYGROUND

    def adopt(self, episode_id: str, *, creator: str = "harness", pinned: bool = False) -> None:
        """Give an episode started on the coordinator directly (a stdio task session) a handle record;
        a ``pinned`` one is never reaped."""
        episode = self.coordinator.episode(episode_id)
        now = self.clock()
        task = episode.task.id if episode.task is not None else None
        self.handles[episode_id] = Handle(episode_id, "", creator, task, None, now, now, pinned)
        self._per_creator[creator] = self._per_creator.get(creator, 0) + 1

    def episode_id(self, episode_id: str) -> str:
        """``episode_id`` if it is live, else :class:`EpisodeError` (not found)."""
        if episode_id not in self.handles:
            raise EpisodeError(f"episode {episode_id[:80]!r} not found")
        return episode_id

    # ------------------------------------------------------------------ running

    def call(self, episode_id: str, tool: str, arguments: Any) -> ToolResult:
        handle = self.handles.get(episode_id)
        if handle is None:
            raise EpisodeError(f"episode {episode_id[:80]!r} not found (ended or expired)")
        start = time.perf_counter()
        if self.store is None or not handle.token:
            result = self.coordinator.call(episode_id, tool, arguments)
        else:
            episode = self.coordinator.episode(episode_id)
            with episode.state.reading_once():  # the store writes the rows the call wrote: kept from the call, not read again
                result = self.coordinator.call(episode_id, tool, arguments)
                spec_tool = self.coordinator.spec.tools.get(tool) if isinstance(tool, str) else None
                self.store.called(episode, result.ok and spec_tool is not None and spec_tool.is_write)
        elapsed = time.perf_counter() - start
        handle.last_used = now = self.clock()
        self._calls += 1
        self._errors += not result.ok
        self._recent.append((now, elapsed))
        return result

    def snapshot(self, episode_id: str, name: str | None = None) -> str:
        """The coordinator's snapshot (:class:`~.coordinator.TooManySnapshots` at the cap), stored if durable."""
        saved = self.coordinator.snapshot(self.episode_id(episode_id), name)
        if self.store is not None and self.handles[episode_id].token:
            self.store.snapshotted(self.coordinator.episodes[episode_id], saved)
        return saved

    def restore(self, episode_id: str, name: str) -> None:
        self.coordinator.restore(self.episode_id(episode_id), name)
        if self.store is not None and self.handles[episode_id].token:
            self.store.rewound(self.coordinator.episodes[episode_id])

    def reset(self, episode_id: str) -> None:
        self.coordinator.reset(self.episode_id(episode_id))
        if self.store is not None and self.handles[episode_id].token:
            self.store.rewound(self.coordinator.episodes[episode_id])

    def reload(self) -> list[str]:
        """Bring back the episodes the store holds (after a restart): same ids, tokens, state, calls,
        snapshots, monitor and answer, each with a fresh idle period. Returns the ids. An episode that
        cannot come back is left out, named with the reason in the store's ``damaged``, and its rows are
        left on disk untouched: one whose task this server does not have (its tasks were made again, or
        the value is damaged), or one that cannot be made again from what is stored. The others come
        back."""
        if self.store is None:
            return []
        back = []
        for stored in self.store.load():
            if stored.task is not None and stored.task not in self.coordinator.tasks:
                self.store.damaged[stored.id] = f"its task {stored.task[:60]!r} is not among this server's tasks"
                continue
            try:
                self._rebuild(stored)
            except (ScaleenvError, sqlite3.Error, LookupError, TypeError, ValueError, AttributeError) as exc:  # what a damaged value raises
                if stored.id in self.coordinator.episodes:
                    self.coordinator.end(stored.id)
                self.store.damaged[stored.id] = f"it cannot be made again ({type(exc).__name__}: {str(exc)[:120]})"
                continue
            now = self.clock()
            self.handles[stored.id] = Handle(stored.id, stored.token, stored.creator, stored.task, stored.seed, now, now)
            self._by_token[stored.token] = stored.id
            self._per_creator[stored.creator] = self._per_creator.get(stored.creator, 0) + 1
            back.append(stored.id)
        return back

    def _rebuild(self, stored: StoredEpisode) -> None:
        channel: AnswerChannel = "prose" if stored.channel == "prose" else "typed"
        episode = self.coordinator.start(stored.task, stored.id, seed=stored.seed, channel=channel)
        apply_changes(episode.state, stored.rows)
        episode.calls = stored.calls
        episode.policy = stored.policy_monitor(self.coordinator.spec)
        episode.submitted = stored.submitted_value()
        for name, rows, policy, calls, submitted in stored.snapshot_parts(self.coordinator.spec):
            branch = State.from_snapshot(self.coordinator.spec, episode.initial)
            try:
                branch.track()
                apply_changes(branch, rows)
                episode.snapshots[name] = (branch.snapshot(), branch.journal(), policy, calls, submitted)
            finally:
                branch.close()

    # ------------------------------------------------------------------ ending

    def end(self, episode_id: str) -> None:
        """End a live episode and free its state (a store forgets it). The one verb for an episode's end:
        the control plane's ``delete`` op, idle expiry, a NeMo Gym verify and a closed session all come here."""
        handle = self.handles.pop(self.episode_id(episode_id))
        if handle.token:
            del self._by_token[handle.token]
        self._ended_since_release += 1
        if self.store is not None and handle.token:
            self.store.ended(episode_id)
        self._per_creator[handle.creator] -= 1
        if not self._per_creator[handle.creator]:
            del self._per_creator[handle.creator]
        self.coordinator.end(episode_id)

    def reap(self) -> list[str]:
        """End every episode idle longer than ``idle_seconds`` (but a pinned one); returns their ids."""
        cutoff = self.clock() - self.idle_seconds
        idle = [h.episode for h in self.handles.values() if h.last_used < cutoff and not h.pinned]
        for episode_id in idle:
            self.end(episode_id)
        self._reaped += len(idle)
        return idle

    def release_memory(self) -> None:
        """Hand the memory of ended episodes back to the OS (the HTTP reaper calls this after each sweep)."""
        if self._ended_since_release:
            self._ended_since_release = 0
            _malloc_trim()

    def close(self) -> None:
        """End every episode in memory; a store keeps them (a stop is not an end: they come back on restart)."""
        store, self.store = self.store, None
        try:
            for episode_id in list(self.handles):
                self.end(episode_id)
        finally:
            self.store = store

    # ------------------------------------------------------------------ what the control plane reports

    def listing(self, creator: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        return [
            {**h.public(), "idle_seconds": round(now - h.last_used, 3), "calls": len(self.coordinator.episodes[h.episode].calls)}
            for h in self.handles.values()
            if creator is None or h.creator == creator
        ]

    def metrics(self) -> dict[str, Any]:
        now = self.clock()
        window = [seconds for when, seconds in self._recent if when >= now - _RATE_WINDOW_S]
        ordered = sorted(window)

        def percentile(p: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e6, 1) if ordered else None

        span = min(_RATE_WINDOW_S, max(now - self._started, 1e-9))
        durable = {} if self.store is None else {"store": self.store.health()}
        return {
            "live_episodes": len(self.handles),
            "awake_episodes": self.coordinator.awake,
            "per_creator": dict(self._per_creator),
            "calls_total": self._calls,
            "tool_errors_total": self._errors,
            "reaped_total": self._reaped,
            "calls_per_second": round(len(window) / span, 2),
            "latency_us": {"p50": percentile(0.5), "p90": percentile(0.9), "p99": percentile(0.99)},
            "limits": {
                "max_episodes": self.max_episodes,
                "max_per_creator": self.max_per_creator,
                "idle_seconds": self.idle_seconds,
                "awake_states": self.coordinator.hot_states,
            },
            **durable,
        }

    # ------------------------------------------------------------------ internals

    @property
    def playground_cap(self) -> int:
        """Playground episodes (and MCP sessions without a handle) a server holds at most: the cap per
        creator, and never more than half the server's episodes, so sessions nobody authenticated
        cannot take every slot from the harness (with ``--max-episodes 5``, five did)."""
        return min(self.max_per_creator, max(1, self.max_episodes // 2))

    def _make_room(self, creator: str) -> None:
        cap = self.playground_cap if creator == PLAYGROUND else self.max_per_creator
        if len(self.handles) >= self.max_episodes or self._per_creator.get(creator, 0) >= cap:
            self.reap()
        if len(self.handles) >= self.max_episodes:
            raise TooManyEpisodes(
                f"too many episodes: {len(self.handles)} live, the server's cap is {self.max_episodes}; "
                f"delete some, or wait for idle ones to expire ({self.idle_seconds:g} s)"
            )
        if self._per_creator.get(creator, 0) >= cap:
            whose = "the playground's cap (half the server's, at most the cap per creator)" if creator == PLAYGROUND else "the cap per creator"
            raise TooManyEpisodes(
                f"too many episodes for {creator!r}: {whose} is {cap}; "
                f"delete some, or wait for idle ones to expire ({self.idle_seconds:g} s)"
            )
