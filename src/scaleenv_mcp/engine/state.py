"""A domain's state: one in-memory SQLite database whose schema comes from the spec.

All SQL of the project lives in this module: the schema, reads, searches, writes,
transactions and savepoints, and writing back the undo journal.

The state lives in memory so that a snapshot is just the database image as bytes
(``sqlite3`` serialize/deserialize): forking a task's initial state for an episode, or
restoring it, costs a memory copy, not a file copy or a process start. Constraints the
spec declares (types, enums, ranges, uniqueness, references) are also written into the
schema, so SQLite itself refuses a row that breaks them even if a rule were missed.
A closed state hands its connection on to the next state of its domain, whose image then
lands on a connection that has parsed the schema already (see ``_Pool``).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..spec.expr import split_lookup
from ..spec.memo import per_spec
from ..spec.model import DomainSpec, EntitySpec, FieldSpec
from ..spec.types import NUMERIC
from .diff import StateDiff, journal_diff
from .journal import Journal, RowKey

__all__ = ["PAGE_SIZE", "POOL_SIZE", "Dormant", "State", "schema_sql"]

PAGE_SIZE = 1024


def _q(name: str) -> str:
    """Quote an identifier: entity names such as ``order`` are SQL keywords."""
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _column_sql(name: str, f: FieldSpec) -> str:
    sql_type = "INTEGER" if f.type in ("int", "bool") else "REAL" if f.type in NUMERIC else "TEXT"
    parts = [_q(name), sql_type]
    if not f.nullable:
        parts.append("NOT NULL")
    if f.unique:
        parts.append("UNIQUE")
    checks: list[str] = []
    col = _q(name)
    if f.type == "enum" and f.values:
        checks.append(f"{col} IN ({', '.join(_sql_literal(v) for v in f.values)})")
    if f.type == "bool":
        checks.append(f"{col} IN (0, 1)")
    if f.type in NUMERIC:
        checks.append(f"typeof({col}) IN ('integer', 'real'{', ' + _sql_literal('null') if f.nullable else ''})")
        if f.min is not None:
            checks.append(f"{col} >= {f.min!r}")
        if f.max is not None:
            checks.append(f"{col} <= {f.max!r}")
    if f.max_length is not None:
        checks.append(f"length({col}) <= {f.max_length}")
    if checks:
        cond = " AND ".join(checks)
        parts.append(f"CHECK ({col} IS NULL OR ({cond}))" if f.nullable else f"CHECK ({cond})")
    if f.type == "ref" and f.ref:
        parts.append(f"REFERENCES {_q(f.ref)}(id)")
    return " ".join(parts)


def schema_sql(spec: DomainSpec) -> list[str]:
    """CREATE TABLE statements for every entity, in declaration order."""
    statements = []
    for name, entity in spec.entities.items():
        columns = ["id TEXT PRIMARY KEY NOT NULL"] + [_column_sql(f, fs) for f, fs in entity.fields.items()]
        columns += [f"UNIQUE ({', '.join(_q(c) for c in group)})" for group in entity.unique_together]
        statements.append(f"CREATE TABLE {_q(name)} (\n  " + ",\n  ".join(columns) + "\n)")
        # Every reference is indexed: lookups by owner (a customer's orders) and foreign-key checks
        # on delete then cost a tree search, not a table scan.
        for fname, f in entity.fields.items():
            if f.type == "ref":
                statements.append(f"CREATE INDEX {_q(f'ix_{name}_{fname}')} ON {_q(name)} ({_q(fname)})")
        if entity.near_duplicates is not None:  # near duplicates are found by what they share (a name)
            vary = set(entity.near_duplicates.vary)
            for fname, f in entity.fields.items():
                if f.identifying and not f.unique and f.type != "ref" and fname not in vary:
                    statements.append(f"CREATE INDEX {_q(f'ix_{name}_{fname}')} ON {_q(name)} ({_q(fname)})")
        # The number in PREFIX-0001, indexed, so the next free id is one tree search (see next_id).
        statements.append(f"CREATE INDEX {_q(f'ix_{name}__number')} ON {_q(name)} ({_id_number(entity.id_prefix)})")
    return statements


_ISSUED = '"_issued_ids"'
"""entity -> the highest id number a deleted row held (no entity name starts with '_')"""

_HAS_ISSUED = "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_issued_ids'"
"""whether the state holds that table: asked of the schema, since a statement naming a missing table
makes SQLite parse the whole schema again before it fails (110 us on airline, on every new state)"""


def _id_number(prefix: str) -> str:
    """The SQL expression for the number in an id; next_id's query must spell it the same way."""
    return f"CAST(substr(id, {len(prefix) + 2}) AS INTEGER)"


def _top_id_sql(entity: str, prefix: str) -> str:
    """The highest id number of an entity, found from the top of its id-number index. The pattern is
    written into the text (a prefix is capitals and digits only): bound as a parameter, SQLite
    prepares the statement again on every run for the LIKE (10 µs where this takes 2)."""
    return f"SELECT max({_id_number(prefix)}) FROM {_q(entity)} WHERE id LIKE '{prefix}-%'"


_STORED: dict[str, type] = {"int": int, "bool": bool, "float": float, "money": float}
"""field type -> what a read returns (the rest are TEXT): SQLite keeps a whole number given to a REAL
column as a float, so the value written is not always the value read"""

_KEEP_FOUND = 16
"""rows a ``find`` inside :meth:`State.reading_once` may keep (a call's joined rows, never a whole table)"""

_SQL_CACHE_MAX = 4096
"""SQL texts kept per domain; a bound, since ``find`` with ``__in`` makes one text per list length"""


class _Shapes:
    """What a domain's SQL looks like, built once per spec and shared by every state of it.

    Reading a row used to rebuild and quote its SQL text (every column name) on each call; the
    texts are now made once per (entity, columns, where-shape) and looked up after that. The
    text is the same as before, so SQLite's own statement cache keeps matching it."""

    __slots__ = ("bool_fields", "columns", "delete", "get", "lookups", "select", "storage", "texts", "updates")

    def __init__(self, spec: DomainSpec) -> None:
        self.columns = {e: ["id", *entity.fields] for e, entity in spec.entities.items()}
        self.bool_fields = {
            e: frozenset(f for f, fs in entity.fields.items() if fs.type == "bool") for e, entity in spec.entities.items()
        }
        self.storage: dict[str, dict[str, type]] = {
            e: {"id": str, **{f: _STORED.get(fs.type, str) for f, fs in entity.fields.items()}} for e, entity in spec.entities.items()
        }
        """entity -> column -> the Python type a read gives back for it (float for REAL columns, bool, int, str)"""
        self.select = {e: ", ".join(_q(c) for c in cols) for e, cols in self.columns.items()}
        self.get = {e: f"SELECT {self.select[e]} FROM {_q(e)} WHERE id = ?" for e in self.columns}
        self.delete = {e: f"DELETE FROM {_q(e)} WHERE id = ?" for e in self.columns}
        self.lookups: dict[tuple[str, str], tuple[str, str]] = {}
        """(entity, where key) -> (field, operator), checked against the spec once"""
        self.texts: dict[tuple[Any, ...], str] = {}
        self.updates: dict[tuple[str, tuple[str, ...]], str] = {}
        """(entity, columns) -> the UPDATE that sets them"""

    def text(self, key: tuple[Any, ...], build: Callable[[], str]) -> str:
        """The SQL text for ``key``, made by ``build()`` the first time."""
        found = self.texts.get(key)
        if found is None:
            if len(self.texts) >= _SQL_CACHE_MAX:
                self.texts.clear()
            found = self.texts[key] = build()
        return found


def _shapes(spec: DomainSpec) -> _Shapes:
    """The spec's shared :class:`_Shapes`, made once per spec object."""
    return per_spec(spec, "sql_shapes", _Shapes)


POOL_SIZE = 8
"""idle connections a process keeps, every domain's together; past it the one idle longest is closed.
A process serving one domain needs a couple (an episode that ends or sleeps gives one back just
before the next takes it); kept per domain instead, 8 each, a run of 40 domains' tasks held 31 MiB
more than without them"""

POOL_MAX_BYTES = 1 << 20
"""a connection whose image was larger than this (a large seeded state) is closed, not kept idle"""

_SCHEMA_TEXT = "SELECT group_concat(type || ' ' || name || ' ' || ifnull(sql, ''), ';') FROM sqlite_schema"


def _not_empty(image: bytes) -> None:
    """An empty image is refused with a reason (deserializing one raises a bare MemoryError)."""
    if not image:
        raise sqlite3.DatabaseError("an empty image holds no database")


def _schema_text(conn: sqlite3.Connection) -> str:
    """The schema of the database ``conn`` holds, as one text (5 us on airline)."""
    return str(conn.execute(_SCHEMA_TEXT).fetchone()[0])


_CLOSED = sqlite3.connect(":memory:", check_same_thread=False)
_CLOSED.close()
"""what a closed state holds in place of its connection: using it raises, as a closed connection did"""

_IDLE: list[tuple[_Pool, sqlite3.Connection, str]] = []
"""every idle connection of the process, longest idle first: (its domain's pool, it, the schema text it parsed)"""
_IDLE_LOCK = threading.Lock()


class _Pool:
    """Connections of one domain that a closed or sleeping state gave back, warm for the next one.

    A fresh connection parses the schema on its first statement: 118 us on airline, where the
    statement after it takes 4. SQLite keeps the parsed schema, and the compiled statements, when
    a new image is deserialized into a connection that has one, as long as the image's schema
    cookie is the one it parsed. The cookie only counts schema changes, so two images of different
    schemas (a blueprint edited between runs) can share it, and SQLite would then read the image
    through the old schema: the image's schema text is compared with the one the connection
    parsed (5 us), and a connection that differs is closed."""

    __slots__ = ()

    def take(self, image: bytes) -> tuple[sqlite3.Connection, str | None]:
        """A connection holding ``image``, and the schema text it has parsed when known: a warm one
        when one of this domain is idle and the image's schema is the one it parsed."""
        _not_empty(image)
        entry = None
        with _IDLE_LOCK:
            for index in range(len(_IDLE) - 1, -1, -1):  # the one given back last
                if _IDLE[index][0] is self:
                    entry = _IDLE.pop(index)
                    break
        if entry is not None:
            _, conn, parsed = entry
            try:
                conn.deserialize(image)
                if _schema_text(conn) == parsed:
                    return conn, parsed
            except sqlite3.Error:
                pass
            conn.close()
        conn = _connect()
        try:
            conn.deserialize(image)
        except BaseException:
            conn.close()
            raise
        return conn, None

    def give(self, conn: sqlite3.Connection, size: int | None, parsed: str | None) -> None:
        """Keep ``conn`` idle for the next state of the domain, or close it: it is inside a transaction,
        or its image was large or of unknown size (``size``: a state built row by row). ``parsed`` is
        the schema text it parsed, when known (read here otherwise). The size is not asked of SQLite:
        after a deserialize, the first PRAGMA costs a whole parse of the schema (100 us)."""
        if conn is _CLOSED:
            return
        try:
            if not conn.in_transaction and size is not None and size <= POOL_MAX_BYTES:
                if parsed is None:
                    parsed = _schema_text(conn)
                with _IDLE_LOCK:
                    _IDLE.append((self, conn, parsed))
                    if len(_IDLE) <= POOL_SIZE:
                        return
                    conn = _IDLE.pop(0)[1]  # the one idle longest makes room
        except sqlite3.Error:
            pass
        conn.close()


def _forget_idle() -> None:
    """In a forked child: SQLite's connections must not cross a fork, so the parent's idle ones are dropped unused."""
    _IDLE.clear()
    _IDLE_LOCK.release()


# A process pool's workers start from a fork of ours. The lock is held across the fork, so no other
# thread is half-way through the list when the child gets its copy.
os.register_at_fork(before=_IDLE_LOCK.acquire, after_in_parent=_IDLE_LOCK.release, after_in_child=_forget_idle)


def _pool(spec: DomainSpec) -> _Pool:
    return per_spec(spec, "connections", lambda _: _Pool())


@dataclass(frozen=True)
class Dormant:
    """A tracking state put to sleep: what it changed since its baseline, and nothing else.

    A live SQLite connection costs its whole database plus the parsed schema (about 170 KiB for
    an airline episode); most episodes of a busy server are idle between calls. Asleep, an episode
    holds only the rows it touched (their current values and baseline originals) and the ids it
    retired, a few KiB; :meth:`State.wake` rebuilds the very same state from the shared baseline
    image, so diff, reset, snapshots and id issuance go on as if it had never slept."""

    rows: tuple[tuple[str, str, dict[str, Any] | None], ...]
    """(entity, id, current value; None: deleted) of every row the journal names"""
    journal: Journal
    issued: dict[str, int]
    issued_base: dict[str, int] | None


class State:
    """The mutable world of one episode (or one seeded initial state)."""

    __slots__ = ("_bool_fields", "_cached", "_columns", "_image_size", "_issued_base", "_journal", "_no_issued", "_schema", "_shapes", "_written", "conn", "spec")

    def __init__(self, spec: DomainSpec, conn: sqlite3.Connection) -> None:
        self.spec = spec
        self.conn = conn
        self._journal: Journal | None = None
        self._issued_base: dict[str, int] | None = None
        """the deleted ids' high-water marks at the baseline (see :meth:`next_id`)"""
        self._cached: dict[RowKey, dict[str, Any] | None] | None = None
        """rows read by id inside :meth:`reading_once` (None: no block is open)"""
        self._no_issued = False
        """known to have no table of retired ids (asking SQLite for a missing table costs a failed parse)"""
        self._written: dict[RowKey, None] = {}
        """rows written while tracking since :meth:`take_written` last asked, in order"""
        self._image_size: int | None = None
        """bytes of the image the state was made from (None: built row by row), for the pool"""
        self._schema: str | None = None
        """the schema text the connection parsed, when known without asking (for the pool)"""
        shapes = self._shapes = _shapes(spec)
        self._columns = shapes.columns
        self._bool_fields = shapes.bool_fields

    @classmethod
    def empty(cls, spec: DomainSpec) -> State:
        """A state with the domain's schema and no rows."""
        conn = _connect()
        # Small pages: an episode's database is mostly small, and SQLite's per-connection page
        # buffers scale with the page size (about 95 KiB per live episode instead of 200 KiB).
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        for statement in schema_sql(spec):
            conn.execute(statement)
        conn.commit()
        return cls(spec, conn)

    @classmethod
    def from_snapshot(cls, spec: DomainSpec, image: bytes) -> State:
        """A state holding ``image``, on a connection a closed state of the domain gave back when
        there is one (see :class:`_Pool`)."""
        conn, parsed = _pool(spec).take(image)
        state = cls(spec, conn)
        state._image_size, state._schema = len(image), parsed
        return state

    def sleep(self) -> Dormant:
        """Give the connection back, keeping only what changed since the baseline (see :class:`Dormant`);
        the state must be tracking and outside a transaction. It is unusable until woken."""
        journal = self._tracked()
        if self.conn.in_transaction:
            raise RuntimeError("cannot put a state to sleep inside an open transaction")
        rows = tuple((entity, row_id, self.get(entity, row_id)) for entity, row_id in journal.originals)
        dormant = Dormant(rows, journal.copy(), self._issued(), dict(self._issued_base) if self._issued_base is not None else None)
        self.close()
        return dormant

    @classmethod
    def wake(cls, spec: DomainSpec, baseline: bytes, dormant: Dormant) -> State:
        """The state that was put to sleep, rebuilt from the image of its baseline: the touched rows
        written back as a reset writes back originals (only the columns written; references checked
        as they land, deferred to the commit only when that order trips), the retired ids' marks
        restored, the journal kept. Turning the reference checks off for the write-back, as this
        did, is a flag pragma: SQLite then drops every compiled statement of the (reused) connection."""
        state = cls.from_snapshot(spec, baseline)
        journal = dormant.journal.copy()
        targets = {(entity, row_id): value for entity, row_id, value in dormant.rows}
        if targets or dormant.issued != state._issued():
            try:
                try:
                    state._write_back(targets, journal, dormant.issued, defer=False)
                except sqlite3.IntegrityError:
                    state._write_back(targets, journal, dormant.issued, defer=True)
            except BaseException:
                state.close()
                raise
        state._journal = journal
        state._issued_base = dict(dormant.issued_base) if dormant.issued_base is not None else None
        return state

    def snapshot(self) -> bytes:
        """The whole state as bytes; restore or fork from it later."""
        if self.conn.in_transaction:
            raise RuntimeError("cannot snapshot inside an open transaction")
        return self.conn.serialize()

    def restore(self, image: bytes) -> None:
        """Replace this state's contents with a snapshot, in place (journal tracking stops).

        The statements compiled on the connection go on running against the image while its schema
        cookie matches, and the cookie only counts changes: an image of another schema (an edited
        blueprint's) would be read and written through the old one, columns by their old places.
        When the image's schema text differs from the one the connection parsed, a flag pragma
        makes SQLite drop every compiled statement, and each is compiled again for the image."""
        _not_empty(image)
        self._forget_reads()
        self._no_issued = False  # the image may hold the table
        self._written = {}
        try:
            parsed: str | None = self._schema if self._schema is not None else _schema_text(self.conn)
        except sqlite3.DatabaseError:  # it holds no readable database (a garbled image restored before)
            parsed = None
        self._schema = None  # unknown until the image is read
        self.conn.deserialize(image)  # the connection's reference checks stay on
        schema = _schema_text(self.conn)
        if schema != parsed:
            self.conn.execute("PRAGMA foreign_keys = ON")
        self._image_size, self._schema = len(image), schema
        self._journal = None

    def fork(self) -> State:
        """An independent copy: changes to either are invisible to the other."""
        return State.from_snapshot(self.spec, self.snapshot())

    # ------------------------------------------------------------ the undo journal

    def track(self) -> None:
        """Make the current contents the baseline: from now on, remember the original of every row
        a write touches, so that :meth:`reset` and :meth:`changes` cost what the changes cost,
        not what the whole state costs."""
        self._journal = Journal()
        self._written = {}
        self._issued_base = self._issued()

    def _tracked(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("this state is not tracking changes; call track() first")
        return self._journal

    def journal(self) -> dict[RowKey, dict[str, Any] | None]:
        """(entity, id) -> the row as it was at the baseline (None: it did not exist)."""
        return dict(self._tracked().originals)

    def set_journal(self, originals: dict[RowKey, dict[str, Any] | None] | None) -> None:
        """Used with snapshots taken while tracking: restoring the image restores its journal too."""
        self._journal = Journal.from_originals(originals) if originals is not None else None

    def _remember(self, entity: str, row_id: str, columns: Iterable[str] | None) -> None:
        journal = self._journal
        if journal is None:
            return
        key = (entity, row_id)
        journal.remember(key, None if journal.seen(key) else self.get(entity, row_id), columns)

    def reset(self) -> None:
        """Back to the baseline by writing back only the rows that changed.

        References are checked as each row goes back; only when that order trips one (rows whose
        references point at each other, a kept row pointing at a created one) is the write-back
        redone with the checks deferred to the commit. ``PRAGMA defer_foreign_keys`` is a flag
        pragma, and SQLite expires every compiled statement on the connection when one runs: doing
        it on every reset made the reset and the next call each pay for recompiling their SQL.
        """
        journal = self._tracked()
        if not journal.originals:
            return
        self._forget_reads()
        self._written = {}
        issued = self._issued_base or {}
        try:
            self._write_back(journal.originals, journal, issued, defer=False)
        except sqlite3.IntegrityError:
            self._write_back(journal.originals, journal, issued, defer=True)
        self._journal = Journal()

    def _write_back(self, targets: Mapping[RowKey, dict[str, Any] | None], journal: Journal, issued: Mapping[str, int], *, defer: bool) -> None:
        """Make each row of ``targets`` hold its value (None: not exist), writing only the columns
        ``journal`` says were written, and the retired ids' marks ``issued``, in one transaction."""
        rank = self.spec.parents_first.rank
        # Rows that must go, go first, children first, so a row put back can take back a unique
        # value one of them holds; the others come back parents first.
        created = sorted((k for k, v in targets.items() if v is None), key=lambda k: -rank[k[0]])
        restored = sorted((k for k, v in targets.items() if v is not None), key=lambda k: rank[k[0]])
        conn = self.conn
        conn.execute("BEGIN")
        try:
            if defer:
                conn.execute("PRAGMA defer_foreign_keys = ON")
            for entity, row_id in created:
                conn.execute(self._sql_delete(entity), (row_id,))
            try:
                conn.execute("SAVEPOINT restore")
                for entity, row_id in restored:
                    self._restore(entity, row_id, targets[(entity, row_id)], journal.columns((entity, row_id), self._columns[entity][1:]))
                conn.execute("RELEASE restore")
            except sqlite3.IntegrityError:  # rows that swapped unique values: take them all out, then put them back
                conn.execute("ROLLBACK TO restore")
                conn.execute("RELEASE restore")
                for entity, row_id in reversed(restored):
                    conn.execute(self._sql_delete(entity), (row_id,))
                for entity, row_id in restored:
                    self._restore(entity, row_id, targets[(entity, row_id)], [])
            self._restore_issued(issued)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _restore(self, entity: str, row_id: str, original: dict[str, Any] | None, changed: list[str]) -> None:
        """Write back one row's baseline: UPDATE only the columns written (REPLACE would delete the row
        first and make SQLite check every referencing row); INSERT when the row is gone (or when no
        columns are given: the caller removed it)."""
        assert original is not None
        cols = self._columns[entity]
        if changed and self.conn.execute(self._sql_update(entity, tuple(changed)), [*(original[c] for c in changed), row_id]).rowcount:
            return
        self.conn.execute(self._sql_insert(entity, tuple(cols)), [original[c] for c in cols])

    def _sql_delete(self, entity: str) -> str:
        return self._shapes.delete[entity]

    def _sql_update(self, entity: str, columns: tuple[str, ...]) -> str:
        updates = self._shapes.updates  # every write asks: a plain lookup, no key or closure built first
        sql = updates.get((entity, columns))
        if sql is None:
            if len(updates) >= _SQL_CACHE_MAX:
                updates.clear()
            sql = updates[(entity, columns)] = f"UPDATE {_q(entity)} SET {', '.join(f'{_q(c)} = ?' for c in columns)} WHERE id = ?"
        return sql

    def _sql_insert(self, entity: str, columns: tuple[str, ...]) -> str:
        return self._shapes.text(
            ("insert", entity, columns),
            lambda: f"INSERT INTO {_q(entity)} ({', '.join(_q(c) for c in columns)}) VALUES ({', '.join('?' * len(columns))})",
        )

    def changes(self) -> StateDiff:
        """What changed since the baseline, read from the journal (only touched rows are fetched)."""
        return journal_diff(self, self._tracked().originals)

    def atomic(self, *, statements: int = 2) -> _Savepoint:
        """``with state.atomic():`` all writes inside succeed together or not at all (SQL savepoint
        and journal alike).

        A block that writes with at most one statement (``statements=1``: a tool whose one effect
        changes one row) needs no savepoint, since SQLite undoes a failed statement by itself: the
        two statements a savepoint costs were a tenth of such a call."""
        return _Savepoint(self, "atomic" if statements > 1 else None, always_undo=False)

    def trial(self) -> _Savepoint:
        """``with state.trial():`` writes inside are always undone (SQL savepoint and journal alike):
        try a call, look at what it did, and leave the state as it was."""
        return _Savepoint(self, "trial", always_undo=True)

    def reading_once(self) -> _ReadingOnce:
        """Inside (``with state.reading_once():``), a row read by id is read from SQLite once and then
        kept, until a write through this state changes it or a rollback might have.

        One tool call reads the same rows again and again (its rules, each effect's target, the
        journal's original, a reference's check, the row it returns): a cancellation read its
        reservation five times. Every write goes through :meth:`insert`, :meth:`update` and
        :meth:`delete`, which drop the row or keep it as a read would give it back, so what is kept
        is always what SQLite holds. Blocks nest; the outermost one ends the keeping."""
        return _ReadingOnce(self)

    def take_written(self) -> list[RowKey]:
        """The rows written (inserted, changed, deleted) while tracking since the last time this was
        asked, first written first; undone writes are not among them. A durable store writes only
        these after a call, where the journal would name every row the episode ever touched."""
        written, self._written = list(self._written), {}
        return written

    def _unwrite(self, mark: int) -> None:
        """Forget the rows first written after ``mark`` (their writes were rolled back)."""
        written = self._written
        while len(written) > mark:
            del written[next(reversed(written))]

    def _forget_reads(self) -> None:
        if self._cached is not None:
            self._cached.clear()

    def close(self) -> None:
        """Give the connection back to the domain's pool (see :class:`_Pool`); the state is unusable after."""
        conn, self.conn = self.conn, _CLOSED
        self._cached = None
        _pool(self.spec).give(conn, self._image_size, self._schema)

    # ------------------------------------------------------------ reading

    def _entity(self, entity: str) -> EntitySpec:
        try:
            return self.spec.entities[entity]
        except KeyError:
            raise KeyError(f"unknown entity {entity!r}") from None

    def _row(self, entity: str, values: Iterable[Any]) -> dict[str, Any]:
        row = dict(zip(self._columns[entity], values, strict=False))  # a SELECT of exactly these columns
        for name in self._bool_fields[entity]:
            if row[name] is not None:
                row[name] = bool(row[name])
        return row

    def get(self, entity: str, row_id: Any) -> dict[str, Any] | None:
        cached = self._cached
        if cached is None or type(row_id) is not str:  # an id of another type may name a row its text names too
            return self._read(entity, row_id)
        key = (entity, row_id)
        if key in cached:
            row = cached[key]
        else:
            row = cached[key] = self._read(entity, row_id)
        return dict(row) if row is not None else None  # the caller's own copy

    def _read(self, entity: str, row_id: Any) -> dict[str, Any] | None:
        try:
            sql = self._shapes.get[entity]
        except KeyError:
            raise KeyError(f"unknown entity {entity!r}") from None
        found = self.conn.execute(sql, (row_id,)).fetchone()
        return self._row(entity, found) if found else None

    def rows(self, entity: str) -> list[dict[str, Any]]:
        self._entity(entity)
        cur = self.conn.execute(f"SELECT {self._select(entity)} FROM {_q(entity)} ORDER BY id")
        return [self._row(entity, r) for r in cur.fetchall()]

    def head(self, entity: str, n: int) -> list[dict[str, Any]]:
        """The first ``n`` rows by id (what ``rows(entity)[:n]`` gives, without reading the table)."""
        self._entity(entity)
        cur = self.conn.execute(f"SELECT {self._select(entity)} FROM {_q(entity)} ORDER BY id LIMIT ?", (n,))
        return [self._row(entity, r) for r in cur.fetchall()]

    def value_counts(self, entity: str, field: str) -> dict[Any, int]:
        """How many rows hold each non-null value of ``field`` (counted by SQLite, not in Python)."""
        self._entity(entity)
        if field not in self.spec.entities[entity].fields:
            raise KeyError(f"{entity} has no field {field!r}")
        cur = self.conn.execute(f"SELECT {_q(field)}, count(*) FROM {_q(entity)} WHERE {_q(field)} IS NOT NULL GROUP BY 1")
        as_bool = field in self._bool_fields[entity]
        return {bool(value) if as_bool else value: int(n) for value, n in cur.fetchall()}

    def sample(self, entity: str, rng: random.Random, k: int) -> list[dict[str, Any]]:
        """Up to ``k`` rows drawn by ``rng`` (every row when there are no more than ``k``), by id; the
        cost follows ``k``, not the table."""
        self._entity(entity)
        if self.count(entity) <= k:
            return self.rows(entity)
        top = int(self.conn.execute(f"SELECT max(rowid) FROM {_q(entity)}").fetchone()[0])
        picks = sorted(rng.sample(range(1, top + 1), k))
        marks = ",".join("?" * len(picks))
        cur = self.conn.execute(f"SELECT {self._select(entity)} FROM {_q(entity)} WHERE rowid IN ({marks}) ORDER BY id", picks)
        return [self._row(entity, r) for r in cur.fetchall()]

    def find(
        self,
        entity: str,
        where: Mapping[str, Any],
        *,
        nocase: bool = False,
        limit: int | None = None,
        order_by: str | None = None,
        keep: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows matching ``where``: ``field=value`` or ``field__lt=value`` (lt, lte, gt, gte, ne, in).

        Text is compared case-insensitively when ``nocase``; rows come in ``order_by`` order (nulls
        first), then by id; at most ``limit`` of them when given. With ``keep``, inside
        :meth:`reading_once`, a few rows found are kept as if each had been read by id (the caller
        reads them again one by one).
        """
        shapes = self._shapes
        lookups = shapes.lookups
        shape: list[Any] = []  # what the SQL text depends on besides the keys: list lengths, nulls, collation
        args: list[Any] = []
        for key, value in where.items():
            lookup = lookups.get((entity, key))
            if lookup is None:
                name, op = split_lookup(key)
                if name != "id" and name not in self._entity(entity).fields:
                    raise KeyError(f"unknown field {name!r} of {entity!r}")
                lookup = lookups[(entity, key)] = (name, op)
            if lookup[1] == "in":
                values = list(value or [])
                shape.append(len(values))
                args.extend(values)
            elif value is None:
                shape.append(None)
            else:
                shape.append(nocase and isinstance(value, str))
                args.append(value)
        text_key = ("find", entity, tuple(where), tuple(shape), limit, order_by)
        sql = shapes.texts.get(text_key)
        if sql is None:
            sql = shapes.text(text_key, lambda: self._find_sql(entity, where, shape, limit, order_by))
        rows = [self._row(entity, r) for r in self.conn.execute(sql, args).fetchall()]
        cached = self._cached
        if keep and cached is not None and len(rows) <= _KEEP_FOUND:
            for row in rows:
                cached[(entity, row["id"])] = dict(row)
        return rows

    def _find_sql(self, entity: str, where: Mapping[str, Any], shape: list[Any], limit: int | None, order_by: str | None) -> str:
        spec = self._entity(entity)
        clauses: list[str] = []
        for key, kind in zip(where, shape, strict=True):
            name, op = self._shapes.lookups[(entity, key)]
            col = _q(name)
            if op == "in":
                clauses.append(f"{col} IN ({', '.join('?' * kind)})" if kind else "0")
            elif kind is None:
                clauses.append(f"{col} IS {'NOT ' if op == 'ne' else ''}NULL" if op in ("eq", "ne") else "0")
            else:
                collate = " COLLATE NOCASE" if kind else ""
                sql_op = {"eq": "=", "ne": "IS NOT", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
                clauses.append(f"{col} {sql_op} ?{collate}")
        sql = f"SELECT {self._select(entity)} FROM {_q(entity)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order_by is not None and order_by not in spec.fields:
            raise KeyError(f"unknown field {order_by!r} of {entity!r}")
        sql += f" ORDER BY {_q(order_by)}, id" if order_by else " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sql

    def search(
        self, entity: str, filters: list[tuple[str, str, Any]], *, order_by: str | None, descending: bool, limit: int
    ) -> list[dict[str, Any]]:
        """Rows matching every ``(field, op, value)`` filter (ops: == != < <= > >= contains, and ``in`` a list).

        Text equality ignores case and ``contains`` matches a literal substring (``%`` and ``_``
        in the value are not wildcards); at most ``limit`` rows, ordered by ``order_by`` then id.
        """
        fields = self._entity(entity).fields
        shape: list[tuple[str, str, bool]] = []
        args: list[Any] = []
        for fname, op, value in filters:
            if op == "in":  # one of a list's values: as many placeholders as it has
                values = list(value or [])
                shape.append((fname, f"in{len(values)}", fname == "id" or fields[fname].kind == "string"))
                args.extend(values)
                continue
            text = isinstance(value, str) and (fname == "id" or fields[fname].kind == "string")
            shape.append((fname, op, text))
            if op == "contains":
                args.append(str(value))
            else:
                args.append(value)
        key = ("search", entity, tuple(shape), order_by, descending, limit)
        sql = self._shapes.text(key, lambda: self._search_sql(entity, shape, order_by, descending, limit))
        return [self._row(entity, r) for r in self.conn.execute(sql, args).fetchall()]

    def _search_sql(self, entity: str, shape: list[tuple[str, str, bool]], order_by: str | None, descending: bool, limit: int) -> str:
        clauses: list[str] = []
        for fname, op, text in shape:
            col = _q(fname)
            if op == "contains":  # what LIKE '%text%' matches (ASCII case folded), without LIKE's pattern: SQLite
                # prepares a LIKE with a bound pattern again on every run (12 µs where this takes 6)
                clauses.append(f"instr(lower({col}), lower(?)) > 0")
            elif op in ("==", "!="):
                clauses.append(f"{col} {'=' if op == '==' else '!='} ?{' COLLATE NOCASE' if text else ''}")
            elif op in ("<", "<=", ">", ">="):
                clauses.append(f"{col} {op} ?")
            elif op.startswith("in"):
                n = int(op[2:])
                clauses.append(f"{col}{' COLLATE NOCASE' if text else ''} IN ({', '.join('?' * n)})" if n else "0")
            else:
                raise ValueError(f"unknown filter operator {op!r}")
        sql = f"SELECT {self._select(entity)} FROM {_q(entity)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        order = f"{_q(order_by)} {'DESC' if descending else 'ASC'}, id" if order_by else "id"
        return sql + f" ORDER BY {order} LIMIT {int(limit)}"

    def count(self, entity: str) -> int:
        self._entity(entity)
        return int(self.conn.execute(f"SELECT count(*) FROM {_q(entity)}").fetchone()[0])

    def counts(self) -> dict[str, int]:
        return {e: self.count(e) for e in self.spec.entities}

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table: for diffs, manifests and debugging, not for hot paths."""
        return {e: self.rows(e) for e in self.spec.entities}

    def next_id(self, entity: str) -> str:
        """The next free id in PREFIX-0001 style; deterministic for a given state.

        An id is never handed out twice in one state: one above the newest row and above every
        row deleted from the top (a booking cancelled and rebooked in one call gets a new id, so
        no diff mistakes the new row for the old one changed)."""
        prefix = self._entity(entity).id_prefix
        sql = self._shapes.text(("next_id", entity), lambda: _top_id_sql(entity, prefix))
        cur = self.conn.execute(sql)
        top = max(cur.fetchone()[0] or 0, self._issued().get(entity, 0))
        return f"{prefix}-{top + 1:04d}"

    # The high-water marks of deleted ids live in a table of the state itself (so snapshots,
    # savepoints and rollbacks carry them), created only when a delete first needs one: a state
    # nothing was deleted from keeps the bytes it always had.

    def _issued(self) -> dict[str, int]:
        if self._no_issued:  # only a delete (or a restored image) makes the table; a rollback can only take it away
            return {}
        if self.conn.execute(_HAS_ISSUED).fetchone() is None:  # no delete has needed one yet
            self._no_issued = True
            return {}
        return {str(e): int(n) for e, n in self.conn.execute(f"SELECT entity, top FROM {_ISSUED}")}

    def _raise_issued(self, entity: str, row_id: str) -> None:
        """Remember a deleted id's number when no row left holds a higher one."""
        prefix = self._entity(entity).id_prefix
        suffix = row_id[len(prefix) + 1 :] if row_id.startswith(prefix + "-") else ""
        if not suffix.isdigit():
            return
        cur = self.conn.execute(self._shapes.text(("next_id", entity), lambda: _top_id_sql(entity, prefix)))
        if int(suffix) <= (cur.fetchone()[0] or 0) or int(suffix) <= self._issued().get(entity, 0):
            return
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {_ISSUED} (entity TEXT PRIMARY KEY NOT NULL, top INTEGER NOT NULL)")
        self._schema = None
        self._no_issued = False
        self.conn.execute(f"INSERT OR REPLACE INTO {_ISSUED} (entity, top) VALUES (?, ?)", (entity, int(suffix)))

    def _restore_issued(self, issued: Mapping[str, int]) -> None:
        """Back to the marks ``issued`` (the baseline's, inside :meth:`reset`), so a reset state hands
        out the ids a fresh one would, and a woken one those it would have before it slept."""
        if self._issued() == issued:
            return
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {_ISSUED} (entity TEXT PRIMARY KEY NOT NULL, top INTEGER NOT NULL)")
        self._schema = None
        self._no_issued = False
        self.conn.execute(f"DELETE FROM {_ISSUED}")
        self.conn.executemany(f"INSERT INTO {_ISSUED} (entity, top) VALUES (?, ?)", sorted(issued.items()))

    def _select(self, entity: str) -> str:
        return self._shapes.select[entity]

    # ------------------------------------------------------------ writing

    def insert(self, entity: str, row: Mapping[str, Any]) -> None:
        if self._journal is not None:
            self._journal.remember((entity, str(row["id"])), None, None)
            self._written[(entity, str(row["id"]))] = None
        if self._cached is not None:
            self._cached.pop((entity, str(row["id"])), None)
        cols = tuple(row)
        self.conn.execute(self._sql_insert(entity, cols), [row[c] for c in cols])

    def insert_many(self, entity: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        cols = self._columns[entity]
        self._forget_reads()
        self.conn.executemany(self._sql_insert(entity, tuple(cols)), [[r[c] for c in cols] for r in rows])

    def update(self, entity: str, row_id: str, values: Mapping[str, Any]) -> None:
        self._remember(entity, row_id, values.keys())
        if self._journal is not None:
            self._written[(entity, str(row_id))] = None
        cached = self._cached
        kept = cached.pop((entity, str(row_id)), None) if cached is not None else None
        self.conn.execute(self._sql_update(entity, tuple(values)), [*values.values(), row_id])
        if kept is not None and self._as_read(entity, values, kept):
            cached[(entity, str(row_id))] = kept  # type: ignore[index]  # as a read would give it: no read needed

    def _as_read(self, entity: str, values: Mapping[str, Any], row: dict[str, Any]) -> bool:
        """Write ``values`` into a kept ``row`` in the form a read would give them back; False (the row
        is then read again when asked for) when a value is not plainly of its column's kind."""
        storage = self._shapes.storage[entity]
        for name, value in values.items():
            kind = storage.get(name)
            if value is None or type(value) is kind:
                row[name] = value
            elif kind is float and type(value) is int:
                row[name] = float(value)
            else:
                return False
        return True

    def delete(self, entity: str, row_id: str) -> None:
        self._remember(entity, row_id, None)
        if self._journal is not None:
            self._written[(entity, str(row_id))] = None
        if self._cached is not None:
            self._cached.pop((entity, str(row_id)), None)
        self.conn.execute(self._sql_delete(entity), (row_id,))
        self._raise_issued(entity, row_id)

    def integrity_problems(self, entities: Iterable[str] | None = None) -> list[str]:
        """Dangling references (SQLite's foreign_key_check), as readable lines; only in the tables of
        ``entities`` when given (the cost then follows them, not the domain)."""
        out = []
        checks = ["PRAGMA foreign_key_check"] if entities is None else [
            f"PRAGMA foreign_key_check({_q(e)})" for e in self.spec.entities if e in set(entities)
        ]  # fmt: skip
        for sql in checks:
            for table, rowid, parent, _ in self.conn.execute(sql).fetchall():
                out.append(f"{table} row {rowid} references a missing {parent}")
        return out


class _Savepoint:
    """:meth:`State.atomic` and :meth:`State.trial`: a plain context manager (every write call opens
    one) that undoes the block's writes when it fails, or always (a trial). Undone means the SQL
    savepoint rolled back (``name`` None: the block is one statement, which SQLite undoes itself), the
    rows kept by :meth:`State.reading_once` forgotten, and the journal and the written rows back to
    where they stood."""

    __slots__ = ("always_undo", "journal", "mark", "name", "state", "written")

    def __init__(self, state: State, name: str | None, *, always_undo: bool) -> None:
        self.state = state
        self.name = name
        self.always_undo = always_undo
        self.journal = state._journal
        self.mark = self.journal.mark() if self.journal is not None else 0
        self.written = len(state._written)

    def __enter__(self) -> None:
        if self.name is not None:
            self.state.conn.execute(f"SAVEPOINT {self.name}")

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        state = self.state
        if kind is None and not self.always_undo:
            if self.name is not None:
                state.conn.execute(f"RELEASE {self.name}")
            return
        state._forget_reads()
        if self.name is not None:
            state.conn.execute(f"ROLLBACK TO {self.name}")
            state.conn.execute(f"RELEASE {self.name}")
        if self.journal is not None:
            self.journal.undo_to(self.mark)
        state._journal = self.journal  # the block may have started another (track inside it)
        state._unwrite(self.written)


class _ReadingOnce:
    """:meth:`State.reading_once` as a plain context manager (it opens every tool call; a generator
    based one cost a microsecond more)."""

    __slots__ = ("outermost", "state")

    def __init__(self, state: State) -> None:
        self.state = state
        self.outermost = False

    def __enter__(self) -> None:
        if self.state._cached is None:
            self.state._cached = {}
            self.outermost = True

    def __exit__(self, *exc: object) -> None:
        if self.outermost:
            self.state._cached = None


def _connect() -> sqlite3.Connection:
    # isolation_level=None: we open and close transactions (savepoints) ourselves.
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")  # a connection flag: it stays on through every image deserialized
    return conn
