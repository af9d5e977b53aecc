"""Hostile stores, generated: a small real store damaged (bytes overwritten) or crafted (values
of the wrong type, NULL, ±inf, invalid UTF-8, huge or deeply nested text, rows deleted or left
without their run, columns dropped, meta rewritten), then read by every reader.

Every reader either answers (exit 0) or refuses in one line with exit code 2 — never a
traceback, never a hang — and writes nothing but its own output; ``benign.load`` and
``benign.load_params`` return or raise :class:`~benign.sweep.store.StoreError`. ``make stress`` runs
thousands of cases (``HYPOTHESIS_PROFILE=stress``)."""

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from helpers import benign, swept
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benign.sweep.store import StoreError, load, load_params

settings.register_profile(
    "default", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "stress", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SWEEP = """name = "tiny"
seeds = 2
[fixed]
dist = "sphere"
m = 12
width = 8
d = 3
method = "gd"
steps = 60
certify_every = 20
[grid]
p = [0.0, 0.2]
"""
TABLES = ["meta", "sweeps", "runs", "history", "certificate_history", "params"]
DEEP = "[" * 100_000 + "]" * 100_000
VALUES = [
    "NULL",
    "9e999",
    "-9e999",
    "0",
    "-1",
    "1e300",
    "9223372036854775807",
    "'text'",
    "''",
    "CAST(x'41ff fe42' AS TEXT)".replace(" ", ""),
    "x'00ff'",
    "'{\"p\": 0.1}'",
    "'{'",
    f"'{DEEP}'",
    "zeroblob(3000000)",
    "printf('%.*c', 5000000, 'x')",
]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


crafts = st.one_of(
    st.tuples(
        st.just("set"),
        st.sampled_from(TABLES),
        st.integers(0, 80),
        st.sampled_from(VALUES),
        st.sampled_from(["one", "all"]),
    ),
    st.tuples(st.just("delete"), st.sampled_from(TABLES[1:])),
    st.tuples(st.just("drop column"), st.sampled_from(TABLES[2:]), st.integers(0, 80)),
    st.tuples(st.just("orphan"), st.sampled_from(["history", "certificate_history", "params"])),
    st.tuples(st.just("bytes"), st.floats(0.05, 0.95), st.binary(min_size=1, max_size=64)),
)


def craft(path: Path, how: tuple) -> str:
    """Apply one craft to the store at ``path``; a label for the statistics."""
    kind = how[0]
    if kind == "bytes":
        data = bytearray(path.read_bytes())
        at = int(how[1] * len(data))
        data[at : at + len(how[2])] = how[2]
        path.write_bytes(bytes(data))
        return kind
    conn = sqlite3.connect(path)
    try:
        with conn:
            if kind == "set":
                _, table, col, value, rows = how
                names = _columns(conn, table)
                name = names[col % len(names)]
                where = "" if rows == "all" else " WHERE rowid = (SELECT min(rowid) FROM t)"
                conn.execute(f'UPDATE {table} SET "{name}" = {value}{where.replace("t", table)}')
                return f"set {table}.{name}"
            if kind == "delete":
                conn.execute(f"DELETE FROM {how[1]}")
            elif kind == "drop column":
                names = _columns(conn, how[1])
                name = names[how[2] % len(names)]
                conn.execute(f'ALTER TABLE {how[1]} DROP COLUMN "{name}"')
                return f"drop {how[1]}.{name}"
            elif kind == "orphan":
                table = how[1]
                cols = ", ".join(_columns(conn, table))
                conn.execute(
                    f"INSERT INTO {table} SELECT 'gone', {cols.split(', ', 1)[1]} FROM {table} "
                    "LIMIT 1"
                    if "," in cols
                    else f"INSERT INTO {table} VALUES ('gone')"
                )
    except sqlite3.DatabaseError:  # a craft SQLite refuses (a key column dropped, …)
        return f"{kind} refused"
    finally:
        conn.close()
    return f"{kind} {how[1]}"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return swept(tmp_path_factory.mktemp("fuzz_store"), SWEEP, "tiny")


COMMANDS = [
    ["status"],
    ["status", "--check", "--json"],
    ["export", "--format", "parquet"],
    ["export", "--table", "history"],
    ["recover"],
    ["report"],
]


@pytest.mark.slow  # a report per case (~25 cases, ~2 minutes)
@given(how=st.lists(crafts, min_size=1, max_size=3))
def test_every_reader_answers_or_refuses_any_store_in_one_line(store, how):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite"
        shutil.copy(store, path)
        for h in how:
            event(craft(path, h))
        for command in COMMANDS:
            before = set(Path(tmp).iterdir())
            r = benign(*command, path, cwd=tmp, timeout=120)
            assert r.returncode in (0, 2), (command, how, r.stderr[-3000:])
            if r.returncode:
                assert r.stderr.count("\n") == 1, (command, how, r.stderr[-3000:])
                assert set(Path(tmp).iterdir()) == before, (command, how)  # nothing written
            event(f"{command[0]}: exit {r.returncode}")
        try:
            tables = load(path)
            for run_id in tables.runs["run_id"].dropna():
                load_params(path, run_id)
        except StoreError:
            pass
