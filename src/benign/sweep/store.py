"""The sweep store: one SQLite file, one row per network, histories in child tables.

Tables (schema version :data:`SCHEMA_VERSION`, docs/sweeps.md, The store):

- ``meta(key, value)``: schema version and the run settings the columns were made for;
- ``sweeps``: one row per ``benign sweep`` invocation (time, command, sweep file text);
- ``runs``: one row per network — ``run_id``, ``status`` (pending | done | failed), ``failure``,
  ``seed``, every run setting as a column, ``settings`` (canonical JSON), the ensemble block
  it was computed in, every measured value of :class:`~benign.records.NetworkRecord`, ``versions``
  and ``finished``;
- ``history`` and ``certificate_history``: the thinned training and certificate histories,
  one row per (run, step);
- ``params``: the final parameters of the runs whose networks are small enough to keep, one
  ``.npz`` (no pickles) per run.

The coordinator of a sweep is the only writer; every finished run is committed in its own
transaction, so an interrupted sweep loses at most the runs still being computed.
"""

import contextlib
import dataclasses
import errno
import fcntl
import functools
import io
import json
import math
import os
import shutil
import sqlite3
import typing
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benign.config import RunConfig, param_shapes
from benign.files import atomic_path
from benign.records import (
    CERT_KEYS,
    HISTORY_KEYS,
    RECORD_COLUMNS,
    NetworkRecord,
    column_types,
    typed_frame,
    value_type,
)
from benign.sweep.config import SETTINGS, Run, Sweep, run_id

if TYPE_CHECKING:
    import pandas as pd

# 2: Lipschitz bounds, lazy diagnostics; 3: datasets, NTK λ_min, lazy history; 4: the convex
# method (gates, rounds, seeded, rounds_taken) and gd+convex's gd_* columns; stop loss_tol;
# 5: the params table (a version-4 store is upgraded when a sweep next writes it)
# 6: canonical run ids; 7: global_gap, optimality; 8: excess_found; 9: run ids of the settings
# away from their defaults. Columns only grow: each setting and record field declares the
# version that added it (benign.records.since), and a store that lacks one is read with its
# default and gains it when next written (_addable)
SCHEMA_VERSION = 9
READS = (4, 5, 6, 7, 8, 9)  # the schema versions this benign reads (upgraded when written)
SQLITE_MAGIC = b"SQLite format 3\x00"
STATUSES: tuple[str, ...] = ("pending", "done", "failed")
# values that depend on the machine and the moment, not on the run: left out of comparisons
TIMING_COLUMNS: tuple[str, ...] = ("seconds", "finished", "versions")
TABLES: tuple[str, ...] = ("runs", "history", "certificate_history")
MAX_TEXT = 2**20  # bytes of a text value at most (a sweep file, a command, a run's settings)


DatabaseError = sqlite3.DatabaseError  # what SQLite raises, for callers that name no SQL
# SQLite's words for a file system that refuses (its errors name no file)
SQLITE_FAULTS = ("disk is full", "readonly database", "unable to open", "disk I/O error")


def file_system_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's word that the file system refused (full, read-only, …)."""
    return isinstance(exc, sqlite3.OperationalError) and any(f in str(exc) for f in SQLITE_FAULTS)


class StoreError(ValueError):
    """A store that cannot be used; the message names the file."""


class DamagedStoreError(StoreError):
    """A store whose file is damaged (overwritten or cut short): :func:`recover` copies out
    what is readable."""


class DiskFullError(StoreError):
    """The disk under a store is full: what was committed is kept, the run at hand is not."""


SQL_TYPES = {bool: "INTEGER", int: "INTEGER", float: "REAL", str: "TEXT"}
# the values (SQLite's typeof) a column of each declared type holds: an integer in a real too
SQL_TYPEOF = {
    "INTEGER": "'integer'",
    "REAL": "'real', 'integer'",
    "TEXT": "'text'",
    "BLOB": "'blob'",
}


def _sql_type(annotation: typing.Any) -> str:
    """SQLite column type of a setting or record field."""
    return SQL_TYPES[value_type(annotation)]


def _sql_literal(value: object) -> str:
    """A setting's default as an SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@functools.cache
def _addable(table: str) -> dict[str, str]:
    """The columns of ``table`` that a store of an older schema may lack, each with what it
    holds there: a setting its default (what those runs did), a measure NULL (nobody measured
    it); every other column (ids, status, settings text) is in every store this benign reads."""
    if table == "runs":
        return {
            name: _sql_literal(f.default) for name, f in RunConfig.model_fields.items()
        } | dict.fromkeys(RECORD_COLUMNS.values(), "NULL")
    keys = {"history": HISTORY_KEYS, "certificate_history": CERT_KEYS}.get(table, ())
    return {k: "NULL" for k in keys if k != "step"}


def _schema() -> str:
    settings = ",\n  ".join(
        f"{name} {_sql_type(f.annotation)}" for name, f in RunConfig.model_fields.items()
    )
    hints = typing.get_type_hints(NetworkRecord)
    record = ",\n  ".join(f"{col} {_sql_type(hints[f])}" for f, col in RECORD_COLUMNS.items())
    history = ", ".join(f"{k} REAL" for k in HISTORY_KEYS if k != "step")
    cert = ", ".join(f"{k} REAL" for k in CERT_KEYS if k != "step")
    return (
        f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY, started TEXT NOT NULL, name TEXT NOT NULL, command TEXT NOT NULL,
  source TEXT NOT NULL, runs INTEGER NOT NULL
);
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
  failure TEXT,
  seed INTEGER NOT NULL,
  {settings},
  settings TEXT NOT NULL,
  block TEXT,
  block_size INTEGER,
  {record},
  versions TEXT,
  finished TEXT
);
CREATE TABLE history (
  run_id TEXT NOT NULL REFERENCES runs(run_id), step INTEGER NOT NULL, {history},
  PRIMARY KEY (run_id, step)
);
CREATE TABLE certificate_history (
  run_id TEXT NOT NULL REFERENCES runs(run_id), step INTEGER NOT NULL, {cert},
  PRIMARY KEY (run_id, step)
);
"""
        + PARAMS_TABLE
    )


# one network's final parameters: an .npz of its tensors (named as ReLUNet.names()), loaded
# with allow_pickle=False
PARAMS_TABLE = """CREATE TABLE IF NOT EXISTS params (
  run_id TEXT PRIMARY KEY REFERENCES runs(run_id), npz BLOB NOT NULL
);
"""


@dataclass
class RunResult:
    """What a worker sends back for one run: its record (None if the block raised), why it
    failed (None if it did not), its histories and the ensemble block it was computed in."""

    run_id: str
    block: str
    block_size: int
    record: NetworkRecord | None
    failure: str | None
    history: dict[str, list[float]]
    certificate_history: dict[str, list[float]]
    versions: str
    params: bytes | None = None  # the network's final parameters as .npz bytes, if kept


def _file_state(path: Path) -> tuple:
    """(mtime, size) of a store and of its WAL (None if it has none): what a reader sees."""
    wal = path.with_name(path.name + "-wal")
    return tuple((st.st_mtime_ns, st.st_size) if (st := _stat(p)) else None for p in (path, wal))


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


@functools.lru_cache(maxsize=64)
def _damage(path: str, state: tuple, full: bool) -> tuple[str, ...]:
    """The first problems ``PRAGMA quick_check`` (``integrity_check`` and every value's text if
    ``full``) finds in a store, () if none. Keyed on the files' state: a store read again and
    again unchanged (a report reads it a dozen times) is checked once."""
    try:
        conn = _open_readonly(Path(path))
        try:
            check = "integrity_check" if full else "quick_check"
            rows = [row[0] for row in conn.execute(f"PRAGMA {check}(3)")]
            if rows == ["ok"] and full:
                rows = list(_undecodable(conn)) or rows
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:  # truncated, or the header itself damaged
        return (str(exc),)
    return () if rows == ["ok"] else tuple(" ".join(row.split()) for row in rows)  # one line


def _undecodable(conn: sqlite3.Connection) -> Iterator[str]:
    """The first text value of each table that is not UTF-8, by table, column and rowid:
    bytes overwritten inside a row, which SQLite's checks (of pages and indexes) pass and on
    which every reader stops (:func:`_text`)."""
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    for table in (t for t in STORE_TABLES if t in tables):
        conn.text_factory = str
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        conn.text_factory = bytes
        quoted = ['"' + c.replace('"', '""') + '"' for c in columns]
        texts = ", ".join(f"CASE WHEN typeof({c}) = 'text' THEN {c} END" for c in quoted)
        for rowid, *values in conn.execute(f"SELECT rowid, {texts} FROM {table}"):
            bad = [c for c, v in zip(columns, values, strict=True) if v and not _utf8(v)]
            if bad:
                yield f"{table}.{bad[0]} of row {rowid}: text that is not UTF-8"
                break


def _utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


@functools.cache
def _declared(table: str) -> tuple[tuple[str, str], ...]:
    """The columns of ``table`` in this schema, in order, with their SQL types."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_schema())
        return tuple((row[1], row[2]) for row in conn.execute(f"PRAGMA table_info({table})"))
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The columns a store's ``table`` has, in its order."""
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _select(conn: sqlite3.Connection, table: str) -> str:
    """The columns of ``table`` in this schema's order, as an SQL select list: those an older
    store lacks as what they hold there (:func:`_addable`), so that every store reads alike."""
    have = set(_columns(conn, table))
    return ", ".join(
        c if c in have else f"{_addable(table)[c]} AS {c}" for c, _ in _declared(table)
    )


@functools.cache
def _expected() -> dict[str, dict[str, str]]:
    """Per table of this schema, per column, the SQL condition its values meet: of the declared
    type (an integer where a real is declared too), and not NULL where the schema says so or
    the run setting cannot be None."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_schema())
        tables = {}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            cols = {}
            for _, name, kind, notnull, _, key in conn.execute(f"PRAGMA table_info({table})"):
                field = RunConfig.model_fields.get(name) if table == "runs" else None
                required = bool(notnull or key)
                if field is not None:
                    required = type(None) not in typing.get_args(field.annotation)
                allowed = SQL_TYPEOF.get(kind, "")
                if allowed:
                    allowed += "" if required else ", 'null'"
                    cols[name] = f"typeof({name}) IN ({allowed})"
                    if kind == "TEXT":  # bounded: no reader meets a 20 MB reason
                        cols[name] += (
                            f" AND coalesce(length(CAST({name} AS BLOB)), 0) <= {MAX_TEXT}"
                        )
                elif required:
                    cols[name] = f"{name} IS NOT NULL"
            if table == "runs":  # its status one of three; its settings a JSON object
                cols["status"] += f" AND status IN {STATUSES}"
                cols["settings"] += (
                    " AND CASE WHEN json_valid(settings) THEN json_type(settings) = 'object' END"
                )
            tables[table] = cols
        return tables
    finally:
        conn.close()


def _required(table: str) -> set[str]:
    """The columns of ``table`` that may not be NULL (:func:`_expected`)."""
    return {c for c, cond in _expected()[table].items() if "null" not in cond}


def _conforming(table: str, columns: Iterable[str]) -> str:
    """The SQL condition of a row of ``table`` whose ``columns`` hold what this schema writes."""
    conds = _expected()[table]
    return " AND ".join(f"({conds[c]})" for c in columns if c in conds) or "1"


@functools.lru_cache(maxsize=64)
def _nonconforming(path: str, state: tuple) -> str:
    """The first way a store differs from what this benign writes, "" if none: a table or
    column missing (a store of another version, or altered), a value of the wrong type or NULL
    where one is needed, a run's settings that are not a JSON object. Keyed on the files'
    state, like :func:`_damage`."""
    conn = _open_readonly(Path(path))
    try:
        present = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        for table, conds in _expected().items():
            if table not in present:
                if table == "params":  # a version-4 store, upgraded when next written
                    continue
                return f"no table {table}"
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in conds if c not in have and c not in _addable(table)]
            if missing:
                return f"{table} lacks the column{'s' * (len(missing) > 1)} {', '.join(missing)}"
            conds = {c: cond for c, cond in conds.items() if c in have}  # _addable ones may lack
            flags = ", ".join(f"coalesce({c}, 0)" for c in conds.values())
            every = _conforming(table, conds)
            row = conn.execute(
                f"SELECT rowid, {flags} FROM {table} WHERE NOT coalesce({every}, 0) LIMIT 1"
            ).fetchone()
            if row is not None:
                name = next(n for n, ok in zip(conds, row[1:], strict=True) if not ok)
                return f"{table}.{name} of row {row[0]}: not a value this benign writes"
        return ""
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def _damaged(path: Path, what: str) -> DamagedStoreError:
    """The error for a store found damaged while it is read: ``what``, and the way out."""
    return DamagedStoreError(
        f"{path}: {what}; copy its readable rows into a new store with: benign recover {path}"
    )


def _text(value: bytes, path: Path) -> str:
    """A text value as read from the store ``path`` (the connections' ``text_factory``): bytes
    that are not UTF-8 are damage, named as such, not a decoding error deep inside a reader."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise _damaged(path, "the store is damaged (text that is not UTF-8)") from None


def check_store(path: Path, full: bool = False) -> None:
    """Refuse, without writing anything, a file that is not a store this version can use:
    not SQLite, damaged (``PRAGMA quick_check``, or with ``full`` the slower
    ``integrity_check``, which also compares every index with its table), or of another
    schema."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a store")
    if not path.is_file():
        there = path.exists() or path.is_symlink()
        raise StoreError(f"{path}: {'not a regular file' if there else 'no such store'}")
    with path.open("rb") as f:
        if f.read(16) != SQLITE_MAGIC:
            raise StoreError(f"{path}: not an SQLite database")
    problems = _damage(str(path.resolve()), _file_state(path), full)
    if not problems:
        try:
            conn = _open_readonly(path)
            try:
                known = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall()) if known else {}
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            problems = (str(exc),)
    if problems:
        raise DamagedStoreError(
            f"{path}: the store is damaged ({'; '.join(problems)}); restore it from a copy, or "
            f"copy its readable rows into a new store with: benign recover {path}"
        )
    if not meta:
        raise StoreError(f"{path}: an SQLite database but not a benign store")
    version = meta.get("schema_version")
    if version is None or version not in map(str, READS):
        raise StoreError(
            f"{path}: store schema version {version}, this benign reads version "
            f"{SCHEMA_VERSION} (and upgrades versions {READS[0]} to {READS[-2]}); use a new "
            "store (--store)"
        )
    try:
        settings = json.loads(meta.get("settings", "[]"))
        unknown = sorted(set(settings) - set(SETTINGS))
    except (ValueError, TypeError, RecursionError):
        unknown = ["(meta.settings unreadable)"]
    if unknown:  # a setting this benign lacks can be read by none of its runs (missing ones can)
        raise StoreError(
            f"{path}: store made with run settings this benign does not know "
            f"({', '.join(unknown)}): read it with the benign that wrote it, or use a new store "
            "(--store)"
        )
    problem = _nonconforming(str(path.resolve()), _file_state(path))
    if problem:
        raise _damaged(path, f"the store holds what this benign does not write ({problem})")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    conn.text_factory = lambda value: _text(value, path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    # a bounded WAL: folded into the store every 100 pages, cut back to 1 MiB after
    conn.execute("PRAGMA wal_autocheckpoint=100")
    conn.execute("PRAGMA journal_size_limit=1048576")
    return conn


def _lock(path: Path) -> typing.BinaryIO:
    """One writer per store: an exclusive flock on the file, released when the writer closes
    it or dies (SQLite's own locks are fcntl locks, which flock does not touch)."""
    f = open(path, "rb")  # noqa: SIM115 (held open as the lock)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise StoreError(f"{path}: another benign sweep is writing this store") from None
    return f


def _open_readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    conn.text_factory = lambda value: _text(value, path)
    return conn


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """An open store for writing (the coordinator of a sweep is its only writer)."""

    def __init__(self, path: Path, create: bool = False, readonly: bool = False):
        self.path = Path(path)
        if create and not self.path.exists():
            if not self.path.parent.is_dir():
                raise StoreError(f"{self.path}: directory {self.path.parent} does not exist")
            self._create()
        check_store(self.path)
        self._lock = None if readonly else _lock(self.path)
        try:
            self.conn = _open_readonly(self.path) if readonly else _connect(self.path)
        except sqlite3.OperationalError as exc:
            if self._lock is not None:
                self._lock.close()
            if "readonly" not in str(exc):
                raise
            # a store on a read-only file system: the fault, named by the store
            what = "cannot write the store: read-only"
            raise OSError(errno.EROFS, what, str(self.path)) from None
        # read-only, an older store is read as if upgraded (current id → stored id, made
        # when statuses() first needs it); written, it is upgraded
        self._older = readonly and self._version() != str(SCHEMA_VERSION)
        self._stored_ids: dict[str, str] | None = None
        if not readonly:
            self._upgrade()

    def _version(self) -> str:
        (version,) = self.conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return version

    def _upgrade(self) -> None:
        """Bring a store of an older schema this benign reads, or one lacking columns, to the
        current schema: the params table (4 → 5), every column it lacks (:func:`_addable`,
        with its default), and the run ids of this version (:func:`_rekey`)."""
        have = {t: set(_columns(self.conn, t)) for t in TABLES}
        lacking = {t: [c for c in _addable(t) if c not in have[t]] for t in TABLES}
        if self._version() == str(SCHEMA_VERSION) and not any(lacking.values()):
            return
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(PARAMS_TABLE)
            declared = {t: dict(_declared(t)) for t in TABLES}
            for table, columns in lacking.items():
                for c in columns:
                    self.conn.execute(
                        f"ALTER TABLE {table} ADD COLUMN {c} {declared[table][c]} "
                        f"DEFAULT {_addable(table)[c]}"
                    )
            _rekey(self.conn)
            self.conn.executemany(
                "UPDATE meta SET value = ? WHERE key = ?",
                [(str(SCHEMA_VERSION), "schema_version"), (json.dumps(SETTINGS), "settings")],
            )

    def _create(self) -> None:
        """Build the schema in a temporary file and link it into place: all or nothing, and
        of two processes creating the same store only one succeeds (the other opens it)."""
        try:
            with atomic_path(self.path, exclusive=True) as tmp:
                conn = sqlite3.connect(tmp)
                try:
                    with conn:
                        conn.executescript(_schema())
                        conn.executemany(
                            "INSERT INTO meta VALUES (?, ?)",
                            [
                                ("schema_version", str(SCHEMA_VERSION)),
                                ("settings", json.dumps(SETTINGS)),
                                ("created", _now()),
                            ],
                        )
                finally:
                    conn.close()
        except FileExistsError:
            pass  # created meanwhile by another process: check_store decides
        except sqlite3.OperationalError as exc:  # the new store could not be written: no file
            code = errno.ENOSPC if "full" in str(exc) else errno.EIO if "I/O" in str(exc) else 0
            if not code:
                raise
            raise OSError(code, os.strerror(code), str(self.path)) from None

    def close(self) -> None:
        """Close; a writer leaves the store in one file (WAL checkpointed and removed), so
        that reading it later writes nothing beside it."""
        if self._lock is not None:  # a reader holding it keeps the WAL, as is safe
            with contextlib.suppress(sqlite3.OperationalError):
                self.conn.execute("PRAGMA journal_mode=DELETE")
        self.conn.close()
        if self._lock is not None:
            self._lock.close()  # releases the lock

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _space(self) -> Iterator[None]:
        """SQLite's 'database or disk is full' as :class:`DiskFullError`, naming the store and the
        space left (the transaction is rolled back: the store stays as it was)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "full" not in str(exc):
                raise
            free = shutil.disk_usage(self.path.parent).free
            raise DiskFullError(
                f"{self.path}: the disk is full ({free / 2**20:.1f} MiB free; a run needs up to "
                "a few MiB)"
            ) from None

    def plan(self, sweep: Sweep, command: str) -> None:
        """Record the sweep and make its runs the store's pending ones: new runs are added as
        pending, pending runs of other sweeps are dropped, finished runs are kept."""
        names = ("run_id", "status", "seed", *SETTINGS, "settings")
        marks = ", ".join("?" * len(names))
        sql = f"INSERT OR IGNORE INTO runs ({', '.join(names)}) VALUES ({marks})"
        rows = [_plan_row(r) for r in sweep.runs]
        with self._space(), self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT INTO sweeps (started, name, command, source, runs) VALUES (?, ?, ?, ?, ?)",
                (_now(), sweep.name, command, sweep.source, len(sweep.runs)),
            )
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS planned (run_id TEXT PRIMARY KEY)")
            self.conn.execute("DELETE FROM planned")
            self.conn.executemany("INSERT INTO planned VALUES (?)", ((r[0],) for r in rows))
            self.conn.execute(
                "DELETE FROM runs WHERE status = 'pending' "
                "AND run_id NOT IN (SELECT run_id FROM planned)"
            )
            self.conn.executemany(sql, rows)

    def statuses(self, run_ids: Iterable[str]) -> dict[str, str]:
        """Status of each of these runs that is in the store."""
        if self._stored_ids is None:
            self._stored_ids = _current_ids(self.conn) if self._older else {}
        current = {self._stored_ids.get(r, r): r for r in run_ids}
        ids = list(current)
        out: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT run_id, status FROM runs WHERE run_id IN ({marks})"
            out |= {current[k]: v for k, v in self.conn.execute(sql, chunk).fetchall()}
        return out

    def put(self, result: RunResult) -> None:
        """Store one finished run (and its histories) in one transaction."""
        with self._space():
            self._put(result)

    def _put(self, result: RunResult) -> None:
        rec = result.record
        values = {
            "status": "failed" if result.failure else "done",
            "failure": result.failure,
            "block": result.block,
            "block_size": result.block_size,
            "versions": result.versions,
            "finished": _now(),
        }
        for field, col in RECORD_COLUMNS.items():
            values[col] = None if rec is None else getattr(rec, field)
        assign = ", ".join(f"{k} = ?" for k in values)
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                f"UPDATE runs SET {assign} WHERE run_id = ?", [*values.values(), result.run_id]
            )
            for table, keys, hist in (
                ("history", HISTORY_KEYS, result.history),
                ("certificate_history", CERT_KEYS, result.certificate_history),
            ):
                self.conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (result.run_id,))
                if not hist:
                    continue
                self.conn.executemany(
                    f"INSERT INTO {table} (run_id, {', '.join(keys)}) "
                    f"VALUES (?, {', '.join('?' * len(keys))})",
                    [(result.run_id, *row) for row in zip(*(hist[k] for k in keys), strict=True)],
                )
            self.conn.execute("DELETE FROM params WHERE run_id = ?", (result.run_id,))
            if result.params is not None:
                self.conn.execute(
                    "INSERT INTO params VALUES (?, ?)", (result.run_id, result.params)
                )


RANK = {"done": 0, "failed": 1, "pending": 2}  # of two rows of one run, the first is kept


def _rekeyed(conn: sqlite3.Connection) -> Iterator[tuple[str, str, RunConfig, RunConfig]]:
    """The runs of an older store whose id is not the one this version gives them: old id, new
    id, stored and canonical settings (a run's id and settings have the settings its method
    does not read at their defaults, :meth:`RunConfig.canonical`; settings the store lacks
    take their defaults)."""
    for old, seed, text in conn.execute("SELECT run_id, seed, settings FROM runs").fetchall():
        config = RunConfig.model_validate(json.loads(text), strict=True)
        canon = config.canonical()
        new = run_id(canon, seed)
        if new != old:
            yield old, new, config, canon


def _current_ids(conn: sqlite3.Connection) -> dict[str, str]:
    """For reading an older store without upgrading it: each changed run's new id → the row
    that :func:`_rekey` would keep for it."""
    status = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
    kept: dict[str, str] = {}
    for old, new, _, _ in _rekeyed(conn):
        held = kept.get(new, new)
        if held not in status or RANK[status[old]] < RANK[status[held]]:
            kept[new] = old
    return kept


def _rekey(conn: sqlite3.Connection) -> None:
    """Give the runs of an older store the ids of this version (:func:`_rekeyed`), with their
    canonical settings, histories and parameters; of two rows that become one run, the more
    finished one is kept (done, failed, pending)."""
    status = dict(conn.execute("SELECT run_id, status FROM runs").fetchall())
    for old, new, config, canon in list(_rekeyed(conn)):
        state = status[old]
        if new in status and RANK[status[new]] <= RANK[state]:
            _delete_run(conn, old)  # that run is there already, as finished as this one
            del status[old]
            continue
        if new in status:
            _delete_run(conn, new)
        changed = {
            k: getattr(canon, k) for k in SETTINGS if getattr(canon, k) != getattr(config, k)
        }
        settings = json.dumps(canon.model_dump(mode="json"), sort_keys=True)
        assign = "".join(f", {k} = ?" for k in changed)
        conn.execute(
            f"UPDATE runs SET run_id = ?, settings = ?{assign} WHERE run_id = ?",
            (new, settings, *changed.values(), old),
        )
        for table in STORE_TABLES[3:]:
            conn.execute(f"UPDATE {table} SET run_id = ? WHERE run_id = ?", (new, old))
        status[new] = status.pop(old)


def _delete_run(conn: sqlite3.Connection, rid: str) -> None:
    for table in (*STORE_TABLES[3:], "runs"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (rid,))


def _plan_row(run: Run) -> tuple:
    settings = run.config.model_dump(mode="json")
    return (
        run.run_id,
        "pending",
        run.seed,
        *settings.values(),
        json.dumps(settings, sort_keys=True),
    )


def read_table(path: Path, table: str = "runs") -> tuple[list[str], list[tuple]]:
    """Column names and rows of one table of a store, opened read-only, ordered by run."""
    check_store(path)
    if table not in TABLES:
        raise StoreError(f"table: must be one of {', '.join(TABLES)}, got {table!r}")
    conn = _open_readonly(path)
    try:
        return _rows(conn, path, table)
    finally:
        conn.close()


def _rows(conn: sqlite3.Connection, path: Path, table: str) -> tuple[list[str], list[tuple]]:
    """Column names (this schema's, in its order) and rows of ``table``, ordered by run (and
    step; sweeps by when they started)."""
    order = {"runs": "run_id", "sweeps": "id"}.get(table, "run_id, step")
    try:
        cur = conn.execute(f"SELECT {_select(conn, table)} FROM {table} ORDER BY {order}")
        return [c[0] for c in cur.description], cur.fetchall()
    except sqlite3.DatabaseError as exc:  # damage that quick_check passed
        raise _damaged(path, f"the store is damaged ({' '.join(str(exc).split())})") from None


def stored_values(path: Path) -> dict[str, list[tuple]]:
    """Every table of a store, rows ordered, without the columns that depend on the machine and
    the moment (:data:`TIMING_COLUMNS`): what two computations of one sweep must agree on."""
    values = {}
    for table in TABLES:
        columns, rows = read_table(path, table)
        keep = [i for i, c in enumerate(columns) if c not in TIMING_COLUMNS]
        values[table] = [tuple(row[i] for i in keep) for row in rows]
    return values


@dataclass
class StoreStatus:
    """Counts of a store's runs: in all, and for each value of each setting that varies."""

    name: str
    command: str
    totals: dict[str, int]
    by_axis: dict[str, list[tuple[object, dict[str, int]]]]
    failures: dict[str, int]
    certified: int


def store_status(path: Path, full_check: bool = False) -> StoreStatus:
    """done / failed / pending runs, in all and by axis (every setting with several values),
    and the failure reasons; ``full_check``: the store's full integrity check first."""
    check_store(path, full=full_check)
    conn = _open_readonly(path)
    try:

        def counts(where: str = "", args: tuple = ()) -> dict[str, int]:
            c = dict(
                conn.execute(f"SELECT status, count(*) FROM runs {where} GROUP BY status", args)
            )
            return {s: c.get(s, 0) for s in STATUSES}

        last = conn.execute("SELECT name, command FROM sweeps ORDER BY id DESC LIMIT 1").fetchone()
        by_axis = {}
        have = set(_columns(conn, "runs"))  # a setting an older store lacks has one value
        for name in (s for s in SETTINGS if s in have):
            values = [v for (v,) in conn.execute(f"SELECT DISTINCT {name} FROM runs ORDER BY 1")]
            if len(values) > 1:  # SQLite keeps a bool as 0 / 1: read back as the setting's type
                typed = value_type(RunConfig.model_fields[name].annotation) is bool
                by_axis[name] = [
                    (bool(v) if typed and v is not None else v, counts(f"WHERE {name} IS ?", (v,)))
                    for v in values
                ]
        failures = dict(
            conn.execute(
                "SELECT failure, count(*) FROM runs WHERE status = 'failed' "
                "GROUP BY failure ORDER BY 2 DESC"
            )
        )
        certified = conn.execute("SELECT count(*) FROM runs WHERE certified = 1").fetchone()[0]
        return StoreStatus(
            name=last[0] if last else "",
            command=last[1] if last else "",
            totals=counts(),
            by_axis=by_axis,
            failures=failures,
            certified=certified,
        )
    finally:
        conn.close()


@dataclass(frozen=True)
class Tables:
    """A store's tables as pandas DataFrames, typed (nullable integers, booleans and strings;
    NaN for a missing real), rows ordered by run (and step); the sweeps run into it, in order;
    and the kept parameters of the runs :func:`load` was asked for, by run id."""

    runs: "pd.DataFrame"
    history: "pd.DataFrame"
    certificate_history: "pd.DataFrame"
    sweeps: "pd.DataFrame"
    params: dict[str, list[np.ndarray]] = dataclasses.field(default_factory=dict)


def _kinds(table: str) -> dict[str, type]:
    """The value type of each column of ``table`` (TABLES or sweeps)."""
    if table == "sweeps":
        return {"id": int, "started": str, "name": str, "command": str, "source": str, "runs": int}
    kinds: dict[str, type] = {"run_id": str, "step": int}
    if table == "runs":
        kinds |= column_types() | dict.fromkeys(
            ("status", "failure", "settings", "block", "versions", "finished"), str
        )
        kinds["block_size"] = int
    else:
        kinds |= {k: float for k in (HISTORY_KEYS if table == "history" else CERT_KEYS)}
        kinds["step"] = int
    return kinds


def table_frame(path: Path, table: str = "runs") -> "pd.DataFrame":
    """One table of a store (:data:`TABLES`) as a typed DataFrame."""
    columns, rows = read_table(path, table)
    return typed_frame(rows, columns, _kinds(table))


def load(
    path: Path, params: "Iterable[str] | Callable[[pd.DataFrame], Iterable[str]]" = ()
) -> Tables:
    """Every table of a store as typed DataFrames, read in one read-only connection, with the
    kept parameters (:func:`load_params`) of the runs ``params`` names: run ids, or a function
    of the runs table that gives them (runs whose parameters were not kept are left out)."""
    check_store(path)
    conn = _open_readonly(path)
    try:
        frames = {}
        for t in (*TABLES, "sweeps"):
            columns, rows = _rows(conn, path, t)
            frames[t] = typed_frame(rows, columns, _kinds(t))
        ids = params(frames["runs"]) if callable(params) else params
        kept = {rid: _params(conn, path, rid) for rid in ids}
    finally:
        conn.close()
    return Tables(**frames, params={rid: p for rid, p in kept.items() if p is not None})


def load_params(path: Path, run_id: str) -> list[np.ndarray] | None:
    """A run's final parameters, in the order of ``ReLUNet.names()``, or None where the store
    did not keep them. They are checked against the run's network before they are unpacked (a
    crafted archive could unpack to gigabytes) and after: anything else is damage."""
    check_store(path)
    conn = _open_readonly(path)
    try:
        return _params(conn, path, run_id)
    finally:
        conn.close()


def _params(conn: sqlite3.Connection, path: Path, run_id: str) -> list[np.ndarray] | None:
    """:func:`load_params` through an open connection."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'params'").fetchone():
        return None  # a version-4 store
    row = conn.execute(
        "SELECT npz, settings FROM params JOIN runs USING (run_id) WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        return None
    damaged = _damaged(path, f"the parameters of run {run_id} are damaged")
    try:
        c = RunConfig.model_validate(json.loads(row[1]))
        shapes = param_shapes(c.d, c.width, c.depth, c.bias)
        with zipfile.ZipFile(io.BytesIO(row[0])) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > 8 * sum(math.prod(s) for s in shapes) + 4096 * len(shapes):
            raise damaged
        with np.load(io.BytesIO(row[0]), allow_pickle=False) as npz:
            arrays = [npz[name] for name in npz.files]
    except (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile):
        raise damaged from None
    if [a.shape for a in arrays] != shapes or any(a.dtype.kind != "f" for a in arrays):
        raise damaged
    return arrays


def params_npz(names: list[str], arrays: list[np.ndarray]) -> bytes:
    """One network's parameters as .npz bytes, in order (read back by :func:`load_params`)."""
    buf = io.BytesIO()
    np.savez(buf, **dict(zip(names, arrays, strict=True)))  # type: ignore[arg-type]
    return buf.getvalue()


# a store's tables, in the order they are recovered (a run's rows after the run)
STORE_TABLES = ("meta", "sweeps", "runs", "history", "certificate_history", "params")


def _readable_rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> list:
    """The rows of ``table`` that can be read and hold what this benign writes
    (:func:`_conforming`), looked up one rowid at a time up to the largest (a damaged page can
    hide rows from a scan without an error)."""
    where = _conforming(table, columns)
    select = f"SELECT {', '.join(columns)} FROM {table} WHERE rowid = ? AND coalesce({where}, 0)"
    try:
        top = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        return []
    rows = []
    for rowid in range(1, top + 1):
        with contextlib.suppress(sqlite3.DatabaseError, DamagedStoreError):  # a text damaged
            rows += conn.execute(select, (rowid,)).fetchall()
    return rows


def _row_count(conn: sqlite3.Connection, table: str) -> int | None:
    """``count(*)`` of a table (read from its smallest index), None if unreadable."""
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        return None


def _genuine_run(row: dict) -> bool:
    """A run's row is kept if its settings and seed hash to its id (damage that left a row
    readable but changed it does not)."""
    try:
        config = RunConfig.model_validate(json.loads(row["settings"]), strict=True)
        return run_id(config, row["seed"]) == row["run_id"]
    except (ValueError, TypeError):
        return False


def recover(path: Path, out: Path) -> dict[str, tuple[int, int | None]]:
    """Copy every readable row of a damaged store into a new store ``out`` (of the current
    schema; the columns both have): runs whose settings still hash to their id, and the
    histories and parameters of those runs. Returns, per table, the rows copied and the rows
    the damaged store counts (None if it cannot count them); writes nothing if no run can be
    read. A lost run is computed again when its sweep is resumed on the new store."""
    src = _open_readonly(Path(path))
    counts = {}
    try:
        with atomic_path(Path(out), exclusive=True) as tmp:
            dst = sqlite3.connect(tmp)
            try:
                with dst:
                    dst.executescript(_schema())
                    kept: set[str] = set()
                    for table in STORE_TABLES:
                        copied = _recover_table(src, dst, table, kept, path)
                        counts[table] = (copied, _row_count(src, table))
                    if not kept:
                        raise DamagedStoreError(
                            f"{path}: no run can be read from the store; restore it from a copy"
                        )
            finally:
                dst.close()
            problem = _nonconforming(str(tmp), _file_state(tmp))
            if problem:  # what this benign would refuse is not written
                raise DamagedStoreError(f"{path}: recovered rows still nonconforming ({problem})")
    except FileExistsError:
        raise StoreError(f"{out}: exists; choose another output") from None
    finally:
        src.close()
    return counts


def _recover_table(
    src: sqlite3.Connection, dst: sqlite3.Connection, table: str, kept: set[str], path: Path
) -> int:
    """Copy the readable rows of one table (see :func:`recover`) and count them; ``kept``
    collects the ids of the runs copied, and rows of other runs are left out."""
    mine = [row[1] for row in dst.execute(f"PRAGMA table_info({table})")]
    try:
        theirs = {row[1] for row in src.execute(f"PRAGMA table_info({table})")}
    except sqlite3.DatabaseError:
        theirs = set()
    columns = [c for c in mine if c in theirs]
    # a column this schema requires that the store lacks: none of its rows can be kept
    whole = columns and not (_required(table) - set(theirs))
    rows = _readable_rows(src, table, columns) if whole else []
    if table == "meta":  # this schema's version and settings
        rows = [r for r in rows if r[0] not in ("schema_version", "settings", "recovered")]
        rows += [
            ("schema_version", str(SCHEMA_VERSION)),
            ("settings", json.dumps(SETTINGS)),
            ("recovered", f"{_now()} from {Path(path).resolve()}"),
        ]
        columns = ["key", "value"]
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    copied = 0
    for row in rows:
        named = dict(zip(columns, row, strict=True))
        if table == "runs" and not _genuine_run(named):
            continue
        if table not in ("meta", "sweeps", "runs") and named.get("run_id") not in kept:
            continue
        try:
            dst.execute(insert, row)
        except sqlite3.IntegrityError:  # a repeated key or a broken constraint: altered
            continue
        copied += 1
        if table == "runs":
            kept.add(named["run_id"])
    return copied


FORMATS: tuple[str, ...] = ("csv", "parquet")


def export(path: Path, out: Path, fmt: str, table: str = "runs") -> int:
    """Write one table of the store (:func:`table_frame`) to ``out`` as CSV or Parquet,
    atomically; returns the number of rows. A missing value (e.g. NaN) is an empty CSV field
    or a Parquet null; CSV writes booleans as 1 and 0, as the store holds them."""
    if fmt not in FORMATS:
        raise StoreError(f"format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
    frame = table_frame(path, table)
    out = Path(out)
    if out.exists() and out.resolve() == Path(path).resolve():
        raise StoreError(f"{out}: is the store itself; choose another output")
    if out.is_file():
        with out.open("rb") as f:
            if f.read(16) == SQLITE_MAGIC:
                raise StoreError(f"{out}: an SQLite database; refusing to overwrite it")
    with atomic_path(out) as tmp:
        if fmt == "csv":
            flags = [c for c in frame.columns if frame[c].dtype == "boolean"]
            frame.astype(dict.fromkeys(flags, "Int64")).to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return len(frame)
