"""Durable episodes: what a harness's episodes hold, kept on disk so a restart brings them back.

``scaleenv serve DOMAIN --http --state-dir DIR`` gives the :class:`~.service.EpisodeService` an
:class:`EpisodeStore`; without one nothing here runs and serving is as fast as before.

What is stored, per episode with a handle (a playground has none, and its MCP session would not
survive a restart anyway): the handle (token, creator, task, seed, answer channel), the call log,
the policy monitor (violations, identified users, rows read), the submitted typed answer, the
named snapshots, and the state.

The state is stored as its *changes*, not as an image: an episode always starts from an image
that can be made again (the domain's initial state, a task's, or a seed's), and its undo journal
names every row it touched, so the current value of those rows is the whole difference. After
each successful write call only those rows are written (a few hundred bytes), where an image
would be the whole state (about 100 KiB for airline) on every call. On a restart the episode
starts from its image again, the touched rows are taken out and their current values put in
(within one transaction whose references are checked at its end), which also rebuilds the
journal, so diff, reset and verify answer as they did. A named snapshot is stored the same way.

Writes are queued by the (synchronous) service methods and carried out off the event loop by
``aiosqlite``, in batches: one transaction for whatever queued while the last one ran. The HTTP
layer awaits :meth:`EpisodeStore.flush` before it sends any reply, so what a client was told
happened is on disk (SQLite in WAL mode: a kill -9 of the process loses nothing written).
Without a running event loop (tests, the Python API) the store writes at once, synchronously.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from ..engine.state import State
from ..spec.model import DomainSpec
from ..spec.task import ToolCall
from ..tasks.grader import NOT_SUBMITTED
from ..tasks.policy import PolicyMonitor, PolicyViolation

if TYPE_CHECKING:
    from .coordinator import LiveEpisode

__all__ = ["STORE_FILE", "EpisodeStore", "StoredEpisode", "apply_changes", "changed_rows"]

STORE_FILE = "episodes.sqlite3"
"""the file inside ``--state-dir`` that holds the episodes"""

logger = logging.getLogger("scaleenv_mcp.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS episodes (
  id TEXT PRIMARY KEY, token TEXT NOT NULL, creator TEXT NOT NULL, task TEXT, seed INTEGER,
  channel TEXT NOT NULL, policy TEXT NOT NULL, submitted TEXT
);
CREATE TABLE IF NOT EXISTS calls (episode TEXT NOT NULL, idx INTEGER NOT NULL, tool TEXT NOT NULL, arguments TEXT NOT NULL,
  PRIMARY KEY (episode, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rows (episode TEXT NOT NULL, entity TEXT NOT NULL, row_id TEXT NOT NULL, data TEXT,
  PRIMARY KEY (episode, entity, row_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reads (episode TEXT NOT NULL, row_id TEXT NOT NULL, PRIMARY KEY (episode, row_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS violations (episode TEXT NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (episode, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots (episode TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL, rows TEXT NOT NULL,
  policy TEXT NOT NULL, reads TEXT NOT NULL, calls INTEGER NOT NULL, submitted TEXT, PRIMARY KEY (episode, name)) WITHOUT ROWID;
"""

_OPS = {
    "episode": "INSERT OR REPLACE INTO episodes (id, token, creator, task, seed, channel, policy, submitted) "
    "VALUES (NEW.a, NEW.b, NEW.c, NEW.d, NEW.e, NEW.f, NEW.g, NEW.h)",
    "call": "INSERT OR REPLACE INTO calls (episode, idx, tool, arguments) VALUES (NEW.a, NEW.b, NEW.c, NEW.d)",
    "policy": "UPDATE episodes SET policy = NEW.b, submitted = NEW.c WHERE id = NEW.a",
    "read": "INSERT OR IGNORE INTO reads (episode, row_id) VALUES (NEW.a, NEW.b)",
    "violation": "INSERT OR REPLACE INTO violations (episode, idx, data) VALUES (NEW.a, NEW.b, NEW.c)",
    "row": "INSERT OR REPLACE INTO rows (episode, entity, row_id, data) VALUES (NEW.a, NEW.b, NEW.c, NEW.d)",
    "rewind": "DELETE FROM rows WHERE episode = NEW.a; DELETE FROM calls WHERE episode = NEW.a AND idx >= NEW.b; "
    "DELETE FROM reads WHERE episode = NEW.a; DELETE FROM violations WHERE episode = NEW.a",
    "snapshot": "INSERT OR REPLACE INTO snapshots (episode, name, seq, rows, policy, reads, calls, submitted) VALUES (NEW.a, NEW.b, "
    "(SELECT coalesce(max(seq), 0) + 1 FROM snapshots WHERE episode = NEW.a), NEW.c, NEW.d, NEW.e, NEW.f, NEW.g)",
    "end": "DELETE FROM episodes WHERE id = NEW.a; DELETE FROM calls WHERE episode = NEW.a; DELETE FROM rows WHERE episode = NEW.a; "
    "DELETE FROM reads WHERE episode = NEW.a; DELETE FROM violations WHERE episode = NEW.a; DELETE FROM snapshots WHERE episode = NEW.a",
}
"""Every write, as one row inserted into the ``op`` view: its trigger does the write. A batch of
writes of any kinds is then one statement (see ``_BATCH``)."""

_OP = "INSERT INTO op (kind, a, b, c, d, e, f, g, h) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_BATCH = "INSERT INTO op (kind, a, b, c, d, e, f, g, h) SELECT " + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(9)) + (
    " FROM json_each(?)"
)
"""A whole batch as one statement over a JSON array of ops, on a connection in autocommit mode: the
statement is its own transaction, so the batch costs one trip to aiosqlite's thread. Separate
statements (or ``executemany`` and then ``commit``) each cost a trip, each a hand-off between
threads waiting on the GIL (0.1-3 ms apiece on a busy 2-core machine)."""
_OP_SCHEMA = "CREATE TEMP VIEW op AS SELECT '' AS kind, 0 AS a, 0 AS b, 0 AS c, 0 AS d, 0 AS e, 0 AS f, 0 AS g, 0 AS h;\n" + "".join(
    f"CREATE TEMP TRIGGER op_{kind} INSTEAD OF INSERT ON op WHEN NEW.kind = '{kind}' BEGIN {sql}; END;\n" for kind, sql in _OPS.items()
)

Row = tuple[str, str, dict[str, Any] | None]
"""(entity, row id, its current value; None: the episode deleted it)"""


def changed_rows(state: State) -> list[Row]:
    """The current value of every row the state's journal says was touched since its baseline."""
    return [(entity, row_id, state.get(entity, row_id)) for entity, row_id in state.journal()]


def apply_changes(state: State, rows: Iterable[Row]) -> None:
    """Make a tracking state hold ``rows`` (from :func:`changed_rows` of a state with the same baseline).

    Every touched row that exists is taken out, then every current value put in, in one transaction
    whose references are checked at the commit: no order of the rows can then trip a reference or a
    unique value (the end result is a state that existed). The journal records each row's baseline
    on the way, so diff and reset work on the result as they did on the original."""
    rows = list(rows)
    if not rows:
        return
    conn = state.conn
    conn.execute("BEGIN")
    try:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        for entity, row_id, _ in rows:
            if state.get(entity, row_id) is not None:
                state.delete(entity, row_id)
        for entity, _, value in rows:
            if value is not None:
                state.insert(entity, value)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # ensure_ascii: a lone surrogate survives as an escape


def _policy_json(policy: PolicyMonitor, *, violations: bool = True) -> str:
    """The monitor; for a live episode without its violations and rows read (those only grow between
    rewinds, so they are kept one by one and a long episode's call does not rewrite them)."""
    data: dict[str, Any] = {"actor": policy.actor_id, "identified": sorted(policy.identified), "calls": policy.calls}
    if violations:
        data["violations"] = [_violation(v) for v in policy.violations]
    return _dump(data)


def _violation(v: PolicyViolation) -> list[Any]:
    return [v.call, v.tool, v.rule, v.message]


def _policy_from(spec: DomainSpec, text: str, read: Iterable[str], violations: Iterable[list[Any]] = ()) -> PolicyMonitor:
    data = json.loads(text)
    found = [PolicyViolation(int(c), str(t), str(r), str(m)) for c, t, r, m in data.get("violations", violations)]
    return PolicyMonitor(spec, data["actor"], set(data["identified"]), found, int(data["calls"]), set(read))


def _submitted_json(value: Any) -> str | None:
    return None if value is NOT_SUBMITTED else _dump([value])  # boxed: a submitted null is not "nothing submitted"


def _submitted_from(text: str | None) -> Any:
    return NOT_SUBMITTED if text is None else json.loads(text)[0]


@dataclass
class StoredEpisode:
    """One episode as read back from disk; :meth:`~.service.EpisodeService.reload` makes it live again."""

    id: str
    token: str
    creator: str
    task: str | None
    seed: int | None
    channel: str
    policy: str
    submitted: str | None
    reads: list[str]
    violations: list[list[Any]]
    rows: list[Row]
    calls: list[ToolCall]
    snapshots: list[tuple[str, list[Row], str, list[str], int, str | None]]
    """(name, rows, policy, reads, calls, submitted), in the order they were saved"""

    def policy_monitor(self, spec: DomainSpec) -> PolicyMonitor:
        return _policy_from(spec, self.policy, self.reads, self.violations)

    def submitted_value(self) -> Any:
        return _submitted_from(self.submitted)

    def snapshot_parts(self, spec: DomainSpec) -> Iterator[tuple[str, list[Row], PolicyMonitor, int, Any]]:
        """Each saved snapshot as (name, rows, monitor, call count, submitted answer), oldest first."""
        for name, rows, policy, reads, calls, submitted in self.snapshots:
            yield name, rows, _policy_from(spec, policy, reads), calls, _submitted_from(submitted)


class EpisodeStore:
    """The episodes of one server process in ``DIR/episodes.sqlite3`` (WAL mode)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--state-dir {str(directory)!r} cannot be used: {exc.strerror or exc}") from None
        self.path = self.directory / STORE_FILE
        self._sync = self._open_sync()
        self._db: aiosqlite.Connection | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._queued = 0
        self._committed = 0
        self._writer: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._reads: dict[str, int] = {}  # episode -> rows-read count already stored
        self._violations: dict[str, int] = {}  # episode -> violations already stored
        self.errors = 0

    def _open_sync(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a process kill loses nothing; only a power cut could
            conn.executescript(_SCHEMA + _OP_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path} is not an episode store SQLite can open: {exc}") from None
        return conn

    # ------------------------------------------------------------------ what the service reports

    def created(self, episode: LiveEpisode, token: str, creator: str, seed: int | None) -> None:
        task = episode.task.id if episode.task is not None else None
        self._reads[episode.id] = self._violations[episode.id] = 0
        self._queue("episode", episode.id, token, creator, task, seed, episode.channel, _policy_json(episode.policy, violations=False), None)

    def called(self, episode: LiveEpisode, wrote: bool) -> None:
        """The episode's last call: the log entry, the monitor, the answer, and (after a write) the rows."""
        call = episode.calls[-1]
        self._queue("call", episode.id, len(episode.calls) - 1, call.tool, _dump(call.arguments))
        self._queue("policy", episode.id, _policy_json(episode.policy, violations=False), _submitted_json(episode.submitted))
        self._store_reads(episode)
        if wrote:  # the rows this call wrote: the ones before it are stored already
            state = episode.state
            for entity, row_id in state.take_written():
                value = state.get(entity, row_id)
                self._queue("row", episode.id, entity, row_id, None if value is None else _dump(value))

    def rewound(self, episode: LiveEpisode) -> None:
        """After a restore or reset: the rows, the calls past the log's end, the monitor and the answer."""
        self._queue("rewind", episode.id, len(episode.calls))
        episode.state.take_written()  # all of them are written here
        for entity, row_id, value in changed_rows(episode.state):
            self._queue("row", episode.id, entity, row_id, None if value is None else _dump(value))
        self._queue("policy", episode.id, _policy_json(episode.policy, violations=False), _submitted_json(episode.submitted))
        self._reads[episode.id] = self._violations[episode.id] = 0
        self._store_reads(episode)

    def snapshotted(self, episode: LiveEpisode, name: str) -> None:
        _, _, policy, calls, submitted = episode.snapshots[name]
        rows = [[entity, row_id, value] for entity, row_id, value in changed_rows(episode.state)]
        self._queue("snapshot", episode.id, name, _dump(rows), _policy_json(policy), _dump(sorted(policy.read)), calls, _submitted_json(submitted))

    def ended(self, episode_id: str) -> None:
        self._reads.pop(episode_id, None)
        self._violations.pop(episode_id, None)
        self._queue("end", episode_id)

    def _store_reads(self, episode: LiveEpisode) -> None:
        """The rows read and the violations the store does not have yet."""
        stored = self._violations.get(episode.id, 0)
        for index, violation in enumerate(episode.policy.violations[stored:], stored):
            self._queue("violation", episode.id, index, _dump(_violation(violation)))
        self._violations[episode.id] = len(episode.policy.violations)
        read = episode.policy.read
        if len(read) != self._reads.get(episode.id, 0):  # it only grows between rewinds: INSERT OR IGNORE takes the new ones
            for row_id in read:
                self._queue("read", episode.id, row_id)
            self._reads[episode.id] = len(read)

    # ------------------------------------------------------------------ reading back

    def load(self) -> list[StoredEpisode]:
        """Every stored episode, as it was when its last write was committed."""
        conn = self._sync
        by_id: dict[str, StoredEpisode] = {}
        for eid, token, creator, task, seed, channel, policy, submitted in conn.execute(
            "SELECT id, token, creator, task, seed, channel, policy, submitted FROM episodes"
        ):
            by_id[eid] = StoredEpisode(eid, token, creator, task, seed, channel, policy, submitted, [], [], [], [], [])
        for eid, row_id in conn.execute("SELECT episode, row_id FROM reads"):
            if eid in by_id:
                by_id[eid].reads.append(row_id)
        for eid, data in conn.execute("SELECT episode, data FROM violations ORDER BY episode, idx"):
            if eid in by_id:
                by_id[eid].violations.append(json.loads(data))
        for eid, entity, row_id, data in conn.execute("SELECT episode, entity, row_id, data FROM rows"):
            if eid in by_id:
                by_id[eid].rows.append((entity, row_id, None if data is None else json.loads(data)))
        for eid, tool, arguments in conn.execute("SELECT episode, tool, arguments FROM calls ORDER BY episode, idx"):
            if eid in by_id:
                by_id[eid].calls.append(ToolCall.model_construct(tool=tool, arguments=json.loads(arguments)))
        for eid, name, rows, policy, reads, calls, submitted in conn.execute(
            "SELECT episode, name, rows, policy, reads, calls, submitted FROM snapshots ORDER BY episode, seq"
        ):
            if eid in by_id:
                rows_list: list[Row] = [(e, r, v) for e, r, v in json.loads(rows)]
                by_id[eid].snapshots.append((name, rows_list, policy, json.loads(reads), int(calls), submitted))
        for stored in by_id.values():
            self._reads[stored.id] = len(set(stored.reads))
            self._violations[stored.id] = len(stored.violations)
        return list(by_id.values())

    def forget(self, episode_ids: Iterable[str]) -> None:
        """Drop stored episodes that cannot come back (their task is gone); written at once."""
        for episode_id in episode_ids:
            self.ended(episode_id)

    # ------------------------------------------------------------------ writing

    @property
    def pending(self) -> bool:
        """Whether some write has not been committed yet."""
        return self._committed < self._queued

    def _queue(self, kind: str, *values: Any) -> None:
        op = (kind, *values, *(None,) * (8 - len(values)))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: write now
            self._sync.execute(_OP, op)
            return
        self._pending.append(op)
        self._queued += 1
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._drain())

    async def flush(self) -> None:
        """Return once everything queued before this call is committed."""
        if not self.pending:
            return
        target = self._queued
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())
        await waiter

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            upto = self._committed + len(batch)
            try:
                db = self._db
                if db is None:
                    db = self._db = await aiosqlite.connect(self.path, isolation_level=None)  # autocommit: see _BATCH
                    await db.executescript("PRAGMA synchronous = NORMAL;\n" + _OP_SCHEMA)
                await db.execute(_BATCH, (json.dumps(batch, separators=(",", ":")),))
            except (sqlite3.Error, OSError) as exc:  # the episodes live on in memory; say so loudly, once per batch
                self.errors += 1
                logger.error("could not write %d changes to %s: %s", len(batch), self.path, exc)
                if self._db is not None and self._db.in_transaction:
                    await self._db.rollback()
            self._committed = upto
            ready = [w for t, w in self._waiters if t <= upto]
            self._waiters = [(t, w) for t, w in self._waiters if t > upto]
            for waiter in ready:
                if not waiter.done():
                    waiter.set_result(None)

    async def aclose(self) -> None:
        """Write what is queued and close the connections."""
        await self.flush()
        if self._db is not None:
            await self._db.close()
            self._db = None
        self._sync.close()

    def close(self) -> None:
        """Without an event loop: close the synchronous connection (nothing is ever queued then)."""
        self._sync.close()

