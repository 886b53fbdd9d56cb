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

Each change is committed before the service method that made it returns, on the thread that
made it (the event loop's): one transaction of a few statements, about 30 us, into SQLite's
write-ahead log with ``synchronous = NORMAL``. That is a ``write()`` into the OS's page cache,
not a wait on the disk, and a kill -9 of the process loses none of it (a power cut could lose the
last moments). What does wait on the disk, the checkpoint that copies the log into the database
and syncs it, runs off the event loop through ``aiosqlite`` (:meth:`EpisodeStore._checkpoint`):
the logging of Redis's append-only file, written by the main thread and synced by another. Only
when writes never pause long enough for those checkpoints to catch up does one run on the loop,
once the log passes :data:`WAL_LIMIT`, so that the log stays bounded.

The store used to queue the changes and commit them off the event loop too, through
``aiosqlite``, with the HTTP layer holding each reply until its commit. Measured (bench/RESULTS.md,
"Durable episodes"), the hand-off to that thread and back cost 4 times the call it made durable
(about 120 us on a 2-core machine, the threads waiting on each other for the GIL) and the commit
itself less than a third of that; a reply over HTTP took 1.4-1.8x as long as without a store.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from ..engine.state import State
from ..spec.model import DomainSpec
from ..spec.task import ANSWER_CHANNELS, ToolCall
from ..tasks.grader import NOT_SUBMITTED
from ..tasks.policy import PolicyMonitor, PolicyViolation
from .coordinator import NAME

if TYPE_CHECKING:
    from .coordinator import LiveEpisode

__all__ = ["CHECKPOINT_EVERY", "STORE_FILE", "WAL_LIMIT", "EpisodeStore", "StoredEpisode", "apply_changes", "changed_rows"]

STORE_FILE = "episodes.sqlite3"
"""the file inside ``--state-dir`` that holds the episodes"""
LOCK_SUFFIX = ".lock"
"""beside the store file (where it really is: a link to another server's store is the same store), the
file a server holds locked while it uses it (the OS lets go of it when the process dies)"""

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

_WRITE = {
    "episode": "INSERT OR REPLACE INTO episodes (id, token, creator, task, seed, channel, policy, submitted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "call": "INSERT OR REPLACE INTO calls (episode, idx, tool, arguments) VALUES (?, ?, ?, ?)",
    "policy": "UPDATE episodes SET policy = ?, submitted = ? WHERE id = ?",
    "read": "INSERT OR IGNORE INTO reads (episode, row_id) VALUES (?, ?)",
    "violation": "INSERT OR REPLACE INTO violations (episode, idx, data) VALUES (?, ?, ?)",
    "row": "INSERT OR REPLACE INTO rows (episode, entity, row_id, data) VALUES (?, ?, ?, ?)",
    "snapshot": "INSERT OR REPLACE INTO snapshots (episode, name, seq, rows, policy, reads, calls, submitted) VALUES (?1, ?2, "
    "(SELECT coalesce(max(seq), 0) + 1 FROM snapshots WHERE episode = ?1), ?3, ?4, ?5, ?6, ?7)",
}
"""Every kind of write, one statement each; a change to an episode is a list of them, one transaction."""

_FORGET = {
    table: f"DELETE FROM {table} WHERE {'id' if table == 'episodes' else 'episode'} = ?"
    for table in ("episodes", "calls", "rows", "reads", "violations", "snapshots")
}
_CALLS_FROM = "DELETE FROM calls WHERE episode = ? AND idx >= ?"

CHECKPOINT_EVERY = 250
"""commits between two checkpoints, off the event loop (about 2 MiB of log)"""

WAL_LIMIT = 16 * 2**20
"""Past this size of log the checkpoints off the loop are not keeping up (a checkpoint ends with the
frames committed meanwhile still to copy, and the log restarts only when none are left; a restarted
log is cut back to a quarter of this): one then runs on the event loop, where no commit can come in
between, so the log stays bounded under any load."""

PAGE_SIZE = 1024
"""A commit writes whole pages to the log; a call's change touches 3-5 of them, each a few rows:
1 KiB pages make the log and its checkpoints 2.5 times smaller than SQLite's 4 KiB (a new file only)."""

Write = tuple[str, tuple[Any, ...]]

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
    """The episodes of one server process in ``DIR/episodes.sqlite3`` (WAL mode).

    One server at a time: the store holds ``DIR/episodes.sqlite3.lock`` locked (beside the file a link
    leads to, if it is one), and a second one on the same store is refused: two servers loading the
    same episodes would each write over the other's changes, and one's delete would lose what the
    other acknowledged. ``exclusive=False`` opens it without the lock, to read what a killed server
    left while its store object is still about (tests)."""

    def __init__(self, directory: str | Path, *, exclusive: bool = True) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--state-dir {str(directory)!r} cannot be used: {exc.strerror or exc}") from None
        self.path = self.directory / STORE_FILE
        self._lock = self._locked() if exclusive else None
        try:
            self._conn = self._open()
        except ValueError:
            self._unlock()
            raise
        self.damaged: dict[str, str] = {}
        """episode -> why it could not be read back (:meth:`load`, then the service's reload); its rows stay on disk"""
        self._db: aiosqlite.Connection | None = None  # the checkpoints' connection, on aiosqlite's thread
        self._checkpointing: asyncio.Task[None] | None = None
        self._since_checkpoint = 0
        self._reads: dict[str, set[str]] = {}  # episode -> the rows read already stored
        self._violations: dict[str, int] = {}  # episode -> violations already stored
        self.errors = 0
        """changes that could not be written (each logged); the episodes live on in memory"""
        self.checkpoints = 0
        """checkpoints done"""
        self.checkpoints_on_loop = 0
        """of those, the ones an event loop waited for (the log was past :data:`WAL_LIMIT`)"""

    def _locked(self) -> int:
        real = self.path.resolve()
        path = real.with_name(real.name + LOCK_SUFFIX)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ValueError(f"--state-dir {str(self.directory)!r} cannot be used: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(
                f"--state-dir {str(self.directory)!r} is in use by another server: give each server its own folder"
            ) from None
        return fd

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor lets go of the lock
            self._lock = None

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a commit waits for no disk; a process kill loses nothing
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints wait for the disk: ours run off the event loop
            conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT // 4}")  # a restarted log shrinks: its size says how far behind
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path} is not an episode store SQLite can open: {exc}") from None
        return conn

    # ------------------------------------------------------------------ what the service reports

    def created(self, episode: LiveEpisode, token: str, creator: str, seed: int | None) -> None:
        task = episode.task.id if episode.task is not None else None
        self._reads[episode.id], self._violations[episode.id] = set(), 0
        policy = _policy_json(episode.policy, violations=False)
        self._commit([(_WRITE["episode"], (episode.id, token, creator, task, seed, episode.channel, policy, None))])

    def called(self, episode: LiveEpisode, wrote: bool) -> None:
        """The episode's last call: the log entry, the monitor, the answer, and (after a write) the rows."""
        call = episode.calls[-1]
        writes: list[Write] = [
            (_WRITE["call"], (episode.id, len(episode.calls) - 1, call.tool, _dump(call.arguments))),
            self._monitor(episode),
        ]
        self._new_reads(episode, writes)
        if wrote:  # the rows this call wrote: the ones before it are stored already
            state = episode.state
            writes += [
                self._row(episode.id, entity, row_id, state.get(entity, row_id)) for entity, row_id in state.take_written()
            ]
        self._commit(writes)

    def rewound(self, episode: LiveEpisode) -> None:
        """After a restore or reset: the rows, the calls past the log's end, the monitor and the answer."""
        eid = episode.id
        writes: list[Write] = [(_FORGET[t], (eid,)) for t in ("rows", "reads", "violations")]
        writes.append((_CALLS_FROM, (eid, len(episode.calls))))
        episode.state.take_written()  # all of them are written here
        writes += [self._row(eid, entity, row_id, value) for entity, row_id, value in changed_rows(episode.state)]
        writes.append(self._monitor(episode))
        self._reads[eid], self._violations[eid] = set(), 0
        self._new_reads(episode, writes)
        self._commit(writes)

    def snapshotted(self, episode: LiveEpisode, name: str) -> None:
        _, _, policy, calls, submitted = episode.snapshots[name]
        rows = _dump([[entity, row_id, value] for entity, row_id, value in changed_rows(episode.state)])
        values = (episode.id, name, rows, _policy_json(policy), _dump(sorted(policy.read)), calls, _submitted_json(submitted))
        self._commit([(_WRITE["snapshot"], values)])

    def ended(self, episode_id: str) -> None:
        self._reads.pop(episode_id, None)
        self._violations.pop(episode_id, None)
        self._commit([(forget, (episode_id,)) for forget in _FORGET.values()])

    @staticmethod
    def _monitor(episode: LiveEpisode) -> Write:
        """The episode's monitor (without what only grows: see :meth:`_new_reads`) and its answer."""
        return _WRITE["policy"], (_policy_json(episode.policy, violations=False), _submitted_json(episode.submitted), episode.id)

    @staticmethod
    def _row(episode_id: str, entity: str, row_id: str, value: dict[str, Any] | None) -> Write:
        return _WRITE["row"], (episode_id, entity, row_id, None if value is None else _dump(value))

    def _new_reads(self, episode: LiveEpisode, writes: list[Write]) -> None:
        """The rows read and the violations the store does not have yet."""
        stored = self._violations.get(episode.id, 0)
        for index, violation in enumerate(episode.policy.violations[stored:], stored):
            writes.append((_WRITE["violation"], (episode.id, index, _dump(_violation(violation)))))
        self._violations[episode.id] = len(episode.policy.violations)
        read, stored_reads = episode.policy.read, self._reads.setdefault(episode.id, set())
        if len(read) != len(stored_reads):  # it only grows between rewinds: only the new ones are written
            new = read - stored_reads  # not every row read again: a long episode holds up to 100,000
            writes += [(_WRITE["read"], (episode.id, row_id)) for row_id in sorted(new)]
            stored_reads |= new

    def health(self) -> dict[str, Any]:
        """For ``/metrics``: an operator sees a store that stopped writing (each failure is also
        logged) or a log the checkpoints cannot keep small, before a restart finds out."""
        return {
            "path": str(self.path),
            "write_errors_total": self.errors,
            "checkpoints_total": self.checkpoints,
            "checkpoints_on_loop_total": self.checkpoints_on_loop,
            "log_bytes": self._log_size(),
        }

    # ------------------------------------------------------------------ reading back

    def load(self) -> list[StoredEpisode]:
        """Every stored episode, as it was when its last change was committed.

        An episode whose stored parts cannot be read (a damaged value) is left out and named in
        :attr:`damaged`, its rows left on disk as they are: the others come back. A file SQLite
        cannot read through is a :class:`ValueError` that says so, in one line."""
        try:
            return self._load()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path} is damaged ({exc}): move it aside to start with no episodes") from None

    def _load(self) -> list[StoredEpisode]:
        """Every value is checked to be of the kind this store writes: a damaged one names its episode
        (:attr:`damaged`, keyed by the id as text), which is then left out whole."""
        conn = self._conn
        by_id: dict[str, StoredEpisode] = {}
        damaged = self.damaged

        def parsed(eid: str, what: str, text: Any, kind: type | tuple[type, ...]) -> Any:
            try:
                value = json.loads(text) if isinstance(text, str) else None
            except (ValueError, RecursionError):
                value = None
            if not isinstance(value, kind):
                damaged.setdefault(eid, f"its {what} is not what this server wrote")
                return None
            return value

        def texts(*values: Any) -> bool:
            return all(isinstance(v, str) for v in values)

        for eid, token, creator, task, seed, channel, policy, submitted in conn.execute(
            "SELECT id, token, creator, task, seed, channel, policy, submitted FROM episodes"
        ):
            if not isinstance(eid, str) or not NAME.match(eid):
                damaged.setdefault(repr(eid)[:80], "its id is not a name this server gives")
                continue
            by_id[eid] = StoredEpisode(eid, token, creator, task, seed, channel, policy, submitted, [], [], [], [], [])
            if not texts(token, creator, policy) or not all(v is None or isinstance(v, str) for v in (task, submitted)) or not (
                seed is None or type(seed) is int
            ) or channel not in ANSWER_CHANNELS:
                damaged.setdefault(eid, "its handle record holds a value of the wrong type")
        for eid, row_id in conn.execute("SELECT episode, row_id FROM reads"):
            if eid in by_id:
                if texts(row_id):
                    by_id[eid].reads.append(row_id)
                else:
                    damaged.setdefault(eid, "its record of rows read holds a value of the wrong type")
        for eid, data in conn.execute("SELECT episode, data FROM violations ORDER BY episode, idx"):
            if eid in by_id:
                by_id[eid].violations.append(parsed(eid, "policy record", data, list))
        for eid, entity, row_id, data in conn.execute("SELECT episode, entity, row_id, data FROM rows"):
            if eid in by_id:
                if not texts(entity, row_id):
                    damaged.setdefault(eid, "a row it changed is named by a value of the wrong type")
                    continue
                by_id[eid].rows.append((entity, row_id, None if data is None else parsed(eid, f"row {row_id[:40]}", data, dict)))
        for eid, tool, arguments in conn.execute("SELECT episode, tool, arguments FROM calls ORDER BY episode, idx"):
            if eid in by_id:
                if not texts(tool):
                    damaged.setdefault(eid, "its call log names a tool by a value of the wrong type")
                    continue
                by_id[eid].calls.append(ToolCall.model_construct(tool=tool, arguments=parsed(eid, "call log", arguments, dict)))
        for eid, name, rows, policy, reads, calls, submitted in conn.execute(
            "SELECT episode, name, rows, policy, reads, calls, submitted FROM snapshots ORDER BY episode, seq"
        ):
            if eid in by_id:
                what = f"snapshot {str(name)[:40]!r}"
                saved, read = parsed(eid, what, rows, list), parsed(eid, what, reads, list)
                try:
                    rows_list: list[Row] = [(e, r, v) for e, r, v in saved or []]
                    if not texts(name, policy) or type(calls) is not int or not all(texts(e, r) for e, r, _ in rows_list):
                        raise TypeError
                except (TypeError, ValueError):
                    damaged.setdefault(eid, f"its {what} is not what this server wrote")
                    continue
                by_id[eid].snapshots.append((name, rows_list, policy, read or [], calls, submitted))
        for eid in damaged:
            by_id.pop(eid, None)
        for stored in by_id.values():
            self._reads[stored.id] = set(stored.reads)
            self._violations[stored.id] = len(stored.violations)
        return list(by_id.values())

    # ------------------------------------------------------------------ writing

    def _commit(self, writes: list[Write]) -> None:
        """One change, as one transaction; a failure is logged and counted, and the episodes live on in
        memory (a full disk must not take the service down with it)."""
        conn = self._conn
        try:
            if len(writes) == 1:  # autocommit: the statement is its own transaction
                conn.execute(*writes[0])
            else:
                conn.execute("BEGIN")
                for sql, values in writes:
                    conn.execute(sql, values)
                conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self.errors += 1
            logger.error("could not write %d changes to %s: %s", len(writes), self.path, exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY:
            self._since_checkpoint = 0
            self._checkpoint_soon()

    def _checkpoint_soon(self) -> None:
        """Copy the log into the database: off the event loop if one runs (the copy syncs the disk),
        else here (the Python API and tests have no loop to keep free); here too when the log is past
        :data:`WAL_LIMIT`."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and self._log_size() <= WAL_LIMIT:
            if self._checkpointing is None or self._checkpointing.done():
                self._checkpointing = loop.create_task(self._checkpoint())
            return
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            logger.warning("could not checkpoint %s: %s", self.path, exc)
            return
        self.checkpoints += 1
        self.checkpoints_on_loop += loop is not None

    def _log_size(self) -> int:
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size
        except OSError:
            return 0

    async def _checkpoint(self) -> None:
        """A passive checkpoint on aiosqlite's thread: writers go on meanwhile; what they add waits for the next one."""
        try:
            if self._db is None:
                self._db = await aiosqlite.connect(self.path)
            await self._db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
            self.checkpoints += 1
        except (sqlite3.Error, OSError) as exc:  # the log grows until the next one succeeds; nothing is lost
            logger.warning("could not checkpoint %s: %s", self.path, exc)

    async def aclose(self) -> None:
        """Finish the checkpoint under way and close the connections (every change is on disk already)."""
        if self._checkpointing is not None:
            await self._checkpointing
            self._checkpointing = None
        if self._db is not None:
            await self._db.close()
            self._db = None
        self._conn.close()
        self._unlock()

    def close(self) -> None:
        """Without an event loop: close the connection (no checkpoint runs off it then)."""
        self._conn.close()
        self._unlock()
