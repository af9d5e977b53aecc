"""The SQLite store: schema checks, planning, one row per run, histories, export."""

import csv
import math
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import result

from benign.sweep.config import parse_sweep
from benign.sweep.store import SCHEMA_VERSION, Store, StoreError, check_store, export, read_table

SWEEP = (
    'seeds = 2\n[fixed]\nm = 20\nwidth = 20\nmethod = "gd"\nsteps = 10\n[grid]\np = [0.0, 0.1]\n'
)


def write(path, sql):
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql)
    conn.close()


def rows(path, sql):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_plan_put_and_replan(tmp_path):
    path = tmp_path / "s.sqlite"
    sw = parse_sweep(SWEEP)
    with Store(path, create=True) as st:
        st.plan(sw, "benign sweep s.toml")
        assert set(st.statuses(r.run_id for r in sw.runs).values()) == {"pending"}
        first, second = sw.runs[0], sw.runs[1]
        st.put(result(first.run_id, first.seed, clean_error=math.nan))
        st.put(result(second.run_id, second.seed, failure="no_interpolation"))
        st.put(result(second.run_id, second.seed, failure="no_interpolation"))  # idempotent
    got = dict(rows(path, "SELECT run_id, status FROM runs"))
    assert got[first.run_id] == "done" and got[second.run_id] == "failed"
    assert list(got.values()).count("pending") == 2
    (seed, p, steps, steps_taken, clean, failure) = rows(
        path,
        "SELECT seed, p, steps, steps_taken, clean_error, failure FROM runs "
        f"WHERE run_id = '{first.run_id}'",
    )[0]
    assert (seed, p, steps, steps_taken, failure) == (first.seed, first.config.p, 10, 7, None)
    assert clean is None  # NaN is stored as NULL
    hist = rows(
        path,
        f"SELECT step, loss, normalised_margin FROM history WHERE run_id = "
        f"'{second.run_id}' ORDER BY step",
    )
    assert hist == [(0, 0.7, None), (1, 0.6, 0.0), (7, 0.1, 0.01)]
    assert rows(path, "SELECT count(*) FROM certificate_history") == [(2,)]

    # a new sweep: its runs become the pending ones, finished runs stay
    sw2 = parse_sweep(SWEEP.replace("p = [0.0, 0.1]", "p = [0.2]"))
    with Store(path) as st:
        st.plan(sw2, "benign sweep s2.toml")
    got = dict(rows(path, "SELECT run_id, status FROM runs"))
    assert got[first.run_id] == "done" and got[second.run_id] == "failed"
    assert {rid for rid, s in got.items() if s == "pending"} == {r.run_id for r in sw2.runs}
    assert [c for (c,) in rows(path, "SELECT command FROM sweeps ORDER BY id")] == [
        "benign sweep s.toml",
        "benign sweep s2.toml",
    ]


def test_unusable_files_are_refused_and_left_untouched(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        check_store(tmp_path / "missing.sqlite")
    text = tmp_path / "text.sqlite"
    text.write_text("not a database\n")
    plain = tmp_path / "plain.sqlite"
    write(plain, "CREATE TABLE t (x)")
    old = tmp_path / "old.sqlite"
    Store(old, create=True).close()
    write(old, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    other = tmp_path / "other.sqlite"
    Store(other, create=True).close()
    write(other, "UPDATE meta SET value = '[\"dist\", \"width2\"]' WHERE key = 'settings'")
    cases = [
        (text, "not an SQLite database"),
        (plain, "an SQLite database but not a benign store"),
        (old, f"store schema version 99, this benign reads version {SCHEMA_VERSION}"),
        (other, r"store made with run settings this benign does not know \(width2\)"),
    ]
    for path, msg in cases:
        before = path.read_bytes()
        with pytest.raises(StoreError, match=msg) as exc:
            Store(path, create=True)
        assert str(exc.value).startswith(str(path))
        assert path.read_bytes() == before


def test_export_csv_and_parquet_match_the_database(tmp_path):
    path = tmp_path / "s.sqlite"
    sw = parse_sweep(SWEEP)
    with Store(path, create=True) as st:
        st.plan(sw, "x")
        st.put(result(sw.runs[0].run_id, sw.runs[0].seed, clean_error=math.nan))
    want = rows(path, "SELECT * FROM runs ORDER BY run_id")
    conn = sqlite3.connect(path)
    names = [c[0] for c in conn.execute("SELECT * FROM runs").description]
    conn.close()
    assert read_table(path) == (names, want)

    assert export(path, tmp_path / "r.csv", "csv") == len(want) == 4
    with open(tmp_path / "r.csv", newline="") as f:
        got = list(csv.reader(f))
    assert got[0] == names
    assert got[1:] == [["" if v is None else str(v) for v in row] for row in want]

    assert export(path, tmp_path / "r.parquet", "parquet") == 4
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.column_names == names
    assert [tuple(r.values()) for r in table.to_pylist()] == want

    assert export(path, tmp_path / "h.csv", "csv", "history") == 3
    with pytest.raises(StoreError, match="format: must be one of csv, parquet"):
        export(path, tmp_path / "x.json", "json")


def damaged_copies(path, tmp_path):
    """The store with 4 KiB of random bytes in its middle, and cut short."""
    import random

    noisy, short = tmp_path / "noisy.sqlite", tmp_path / "short.sqlite"
    data = path.read_bytes()
    junk = random.Random(0).randbytes(4096)
    middle = len(data) // 2
    noisy.write_bytes(data[:middle] + junk + data[middle + 4096 :])
    short.write_bytes(data[: len(data) // 3])
    return noisy, short


def test_a_damaged_store_is_refused_as_damaged_and_left_untouched(tmp_path):
    path = tmp_path / "s.sqlite"
    sw = parse_sweep(SWEEP)
    with Store(path, create=True) as st:
        st.plan(sw, "x")
        for r in sw.runs:
            st.put(result(r.run_id, r.seed))
    check_store(path)
    check_store(path, full=True)
    for bad in damaged_copies(path, tmp_path):
        before = bad.read_bytes()
        for full in (False, True):
            with pytest.raises(StoreError, match=r"the store is damaged .* benign recover"):
                check_store(bad, full=full)
        with pytest.raises(StoreError, match="damaged"):
            Store(bad)
        assert bad.read_bytes() == before


def test_reading_a_closed_store_writes_nothing_beside_it(tmp_path):
    path = tmp_path / "s.sqlite"
    sw = parse_sweep(SWEEP)
    with Store(path, create=True) as st:
        st.plan(sw, "x")
        st.put(result(sw.runs[0].run_id, sw.runs[0].seed))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]  # the WAL is folded in
    read_table(path)
    with Store(path, readonly=True) as st:
        st.statuses([sw.runs[0].run_id])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]


def test_recover_copies_exactly_the_readable_unaltered_rows_and_resume_replans_the_rest(
    tmp_path,
):
    from helpers import benign, synthetic_store

    grid = (
        "seeds = 8\n[fixed]\nm = 10\n[grid]\np = [0.0, 0.1, 0.2, 0.3, 0.4]\nd = [2, 3, 4, 5, 6]\n"
    )
    path = tmp_path / "s.sqlite"
    synthetic_store(path, grid, lambda c, s: 0.01 * s + c.p)
    r = benign("recover", path)
    assert r.returncode == 0 and "not damaged" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]
    original = {t: read_table(path, t) for t in ("runs", "history", "certificate_history")}
    for bad in damaged_copies(path, tmp_path):
        with pytest.raises(StoreError, match="benign recover"):
            check_store(bad)
        r = benign("recover", bad, "-o", tmp_path / "new.sqlite")
        new = tmp_path / "new.sqlite"
        if bad.name == "short.sqlite":  # cut to a third: SQLite reads none of its tables
            assert r.returncode == 2 and not new.exists()
            assert r.stderr.strip().endswith(
                "no run can be read from the store; restore it from a copy"
            )
            continue
        assert r.returncode == 0, r.stderr
        check_store(new, full=True)
        kept = set()
        for table, (names, want) in original.items():
            got_names, got = read_table(new, table)
            assert got_names == names
            assert set(got) <= set(want)  # nothing altered, nothing made up
            assert f"  {table}: {len(got)} of " in r.stdout or "not countable" in r.stdout
            if table == "runs":
                kept = {row[0] for row in got}
                assert len(kept) >= 150  # of 200: 4 KiB of damage costs a few runs
            else:  # no history without its run
                assert {row[0] for row in got} <= kept
        # resuming re-plans exactly the runs that were lost
        with Store(new) as st:
            sw = parse_sweep(grid)
            st.plan(sw, "again")
            statuses = st.statuses(r.run_id for r in sw.runs)
        assert {k for k, v in statuses.items() if v == "pending"} == {
            r.run_id for r in sw.runs
        } - kept
        new.unlink()


def test_a_writer_killed_keeps_its_commits_and_a_lost_wal_costs_only_runs(tmp_path):
    """A writer that dies without closing leaves its last commits in the WAL: read with it,
    every committed run is there; read without it (the WAL deleted or not copied), the store
    is consistent, holds a subset of those runs unchanged, and resuming re-plans the rest."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    grid = "seeds = 20\n[fixed]\nm = 10\n[grid]\np = [0.0, 0.1, 0.2, 0.3, 0.4]\n"
    script = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from helpers import result
from benign.sweep.config import parse_sweep
from benign.sweep.store import Store
sw = parse_sweep({grid!r})
st = Store({str(tmp_path / "s.sqlite")!r}, create=True)
st.plan(sw, "x")
for r in sw.runs[:80]:
    st.put(result(r.run_id, r.seed))
os._exit(0)  # no close: the WAL stays beside the store
"""
    subprocess.run([sys.executable, "-c", script], check=True)
    assert (tmp_path / "s.sqlite-wal").stat().st_size > 0
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    for name in ("s.sqlite", "s.sqlite-wal"):
        shutil.copy(tmp_path / name, tmp_path / "a" / name)
    shutil.copy(tmp_path / "s.sqlite", tmp_path / "b" / "s.sqlite")
    sw = parse_sweep(grid)
    done = {}
    for part in ("a", "b"):
        path = tmp_path / part / "s.sqlite"
        check_store(path, full=True)
        with Store(path) as st:
            st.plan(sw, "again")
            statuses = st.statuses(r.run_id for r in sw.runs)
        done[part] = {k for k, v in statuses.items() if v == "done"}
    assert done["a"] == {r.run_id for r in sw.runs[:80]}  # every commit kept
    assert done["b"] <= done["a"]
    assert 0 < len(done["b"]) < 80  # checkpointed every 100 pages: most are in the store
    _, rows_a = read_table(tmp_path / "a" / "s.sqlite")
    _, rows_b = read_table(tmp_path / "b" / "s.sqlite")
    kept = [row for row in rows_a if row[0] in done["b"]]
    assert [row for row in rows_b if row[0] in done["b"]] == kept


def test_a_schema_5_store_is_rekeyed_to_the_settings_its_runs_read(tmp_path):
    """Schema 5 hashed every setting: gradient-descent runs that differed only in lp_grid
    were two runs. Written by a sweep, such a store gets the ids of schema 6 (the settings
    the method does not read at their defaults), its histories follow, and of two rows that
    become one run the finished one is kept; the sweep then has nothing left to compute. A
    reader (the dry run) sees the same statuses without upgrading the store."""
    import hashlib
    import json

    from benign.config import RunConfig
    from benign.sweep.execute import open_executor, run_sweep

    path = tmp_path / "s.sqlite"
    text = SWEEP + "lp_grid = [2000]\n"  # the default: the ids of schema 5 and 6 agree
    sw = parse_sweep(text)
    with Store(path, create=True) as st:
        st.plan(sw, "x")
        for r in sw.runs:
            st.put(result(r.run_id, r.seed))
    conn = sqlite3.connect(path)
    old_ids = {}
    with conn:  # rewrite as schema 5 wrote lp_grid = 64 for the seed-0 runs
        for r in sw.runs:
            settings = r.config.model_dump(mode="json") | {"lp_grid": 64}
            doc = {"seed": r.seed, "settings": settings}
            canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
            old = hashlib.sha256(canonical.encode()).hexdigest()[:20]
            if r.seed == 0:  # re-keyed: only that row holds this run
                old_ids[old] = r.run_id
                text_settings = json.dumps(settings, sort_keys=True)
                conn.execute(
                    "UPDATE runs SET run_id = ?, lp_grid = 64, settings = ? WHERE run_id = ?",
                    (old, text_settings, r.run_id),
                )
                for table in ("history", "certificate_history"):
                    conn.execute(f"UPDATE {table} SET run_id = ? WHERE run_id = ?", (old, r.run_id))
            else:  # a second row of the same run, pending: dropped, the done one kept
                conn.execute(
                    "INSERT INTO runs (run_id, status, seed, settings, "
                    + ", ".join(RunConfig.model_fields)
                    + ") VALUES (?, 'pending', ?, ?, "
                    + ", ".join("?" * len(RunConfig.model_fields))
                    + ")",
                    (old, r.seed, json.dumps(settings, sort_keys=True), *settings.values()),
                )
        conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    conn.close()
    before = {t: len(read_table(path, t)[1]) for t in ("history", "certificate_history")}
    assert len(read_table(path)[1]) == len(sw.runs) + 2  # two rows too many
    with Store(path, readonly=True) as st:  # a reader (the dry run) sees the upgraded ids
        seen = st.statuses(r.run_id for r in sw.runs)
    assert seen == {r.run_id: "done" for r in sw.runs}
    assert rows(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("5",)]
    with Store(path) as st:  # a writer upgrades
        state = run_sweep(sw, st, open_executor("local", 1))
    assert state.total == 0  # every run found under its schema-6 id
    names, runs = read_table(path)
    col = {c: i for i, c in enumerate(names)}
    assert sorted(r[col["run_id"]] for r in runs) == sorted(r.run_id for r in sw.runs)
    assert {r[col["status"]] for r in runs} == {"done"} and {r[col["lp_grid"]] for r in runs} == {
        2000
    }
    for r in runs:
        settings = json.loads(r[col["settings"]])
        assert settings["lp_grid"] == 2000
    after = {t: len(read_table(path, t)[1]) for t in ("history", "certificate_history")}
    assert after == before  # every history row followed its run
    assert set(old_ids.values()) <= {r[col["run_id"]] for r in runs}
    version = rows(path, "SELECT value FROM meta WHERE key = 'schema_version'")
    assert version == [(str(SCHEMA_VERSION),)] == [("9",)]


def test_text_damaged_inside_a_row_is_named_by_every_reader_and_recovered(tmp_path):
    """Two bytes overwritten inside a run's text leave every page valid (quick_check and
    integrity_check pass) but the text no longer UTF-8."""
    from helpers import benign, synthetic_store

    grid = "seeds = 3\n[fixed]\nm = 10\n[grid]\np = [0.1, 0.2]\n"
    path = tmp_path / "s.sqlite"
    synthetic_store(path, grid, lambda c, s: c.p, failure=lambda c, s: "no_interpolation")
    data = bytearray(path.read_bytes())
    at = data.find(b"no_interpolation")
    data[at + 2 : at + 4] = b"\xff\xfe"
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(bytes(data))
    assert rows(bad, "PRAGMA integrity_check") == [("ok",)]  # SQLite sees no damage
    for command in (["status"], ["status", "--check"], ["export"], ["report"]):
        r = benign(*command, bad)
        assert r.returncode == 2, (command, r.stderr)
        assert (
            r.stderr.count("\n") == 1 and "damaged (" in r.stderr and "benign recover" in r.stderr
        )
    with pytest.raises(StoreError, match=r"runs\.failure of row \d+: text that is not UTF-8"):
        check_store(bad, full=True)
    with pytest.raises(StoreError, match="text that is not UTF-8"):
        read_table(bad)
    r = benign("recover", bad, "-o", tmp_path / "new.sqlite")
    assert r.returncode == 0, r.stderr
    assert "  runs: 5 of 6 rows copied" in r.stdout  # the damaged run is computed again
    check_store(tmp_path / "new.sqlite", full=True)
    assert sorted(tmp_path.iterdir()) == [
        tmp_path / n for n in ("bad.sqlite", "new.sqlite", "s.sqlite")
    ]


def test_parameters_that_would_unpack_too_far_or_are_garbage_are_damage(tmp_path):
    """A 50 MB array of zeros deflates to ~50 KB: it is refused before it is unpacked (a
    network of the run's settings has a few hundred parameters), as are bytes that are no
    archive and arrays of the wrong shape."""
    import io

    import numpy as np
    from helpers import benign

    from benign.sweep.store import load_params

    sweep = tmp_path / "t.toml"
    sweep.write_text(
        'seeds = 1\n[fixed]\nm = 10\nd = 3\nwidth = 8\nmethod = "gd"\nsteps = 20\n'
        "[grid]\np = [0.1]\n"
    )
    assert benign("sweep", sweep, "--workers", "1").returncode == 0
    path = tmp_path / "t.sqlite"
    (run_id,) = rows(path, "SELECT run_id FROM params")[0]
    assert [a.shape for a in load_params(path, run_id)] == [(8, 3), (8,), (1, 8)]
    bomb = io.BytesIO()
    np.savez_compressed(bomb, w=np.zeros(50_000_000 // 8))
    wrong = io.BytesIO()
    np.savez(wrong, a=np.zeros((8, 4)), b=np.zeros(8), c=np.zeros((1, 8)))
    for blob in (bomb.getvalue(), b"\x00garbage", wrong.getvalue()):
        conn = sqlite3.connect(path)
        with conn:
            conn.execute("UPDATE params SET npz = ? WHERE run_id = ?", (blob, run_id))
        conn.close()
        with pytest.raises(StoreError, match=f"the parameters of run {run_id} are damaged"):
            load_params(path, run_id)


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        # a setting or measure may be missing (an older store: read with its default, added
        # when written), the columns every store has may not
        ("ALTER TABLE runs DROP COLUMN block", "runs lacks the column block"),
        ("UPDATE runs SET seed = 'one'", "runs.seed of row 1: not a value this benign writes"),
        ("UPDATE runs SET p = NULL", "runs.p of row 1"),
        ("UPDATE runs SET settings = '{'", "runs.settings of row 1"),
        ("UPDATE meta SET value = '{' WHERE key = 'settings'", "settings this benign does not"),
        (
            "UPDATE meta SET value = '" + "[" * 100_000 + "' WHERE key = 'settings'",
            "settings this benign does not know",
        ),
    ],
)
def test_a_store_holding_what_this_benign_does_not_write_is_refused_by_every_reader(
    tmp_path, sql, named
):
    """A store of another version (a column missing) or crafted (wrong types, NULL settings,
    meta that is not JSON) is refused in one line by every reader and by sweep."""
    from helpers import benign, synthetic_store

    grid = "seeds = 2\n[fixed]\nm = 10\n[grid]\np = [0.1, 0.2]\n"
    path = tmp_path / "s.sqlite"
    synthetic_store(path, grid, lambda c, s: c.p)
    write(path, sql)
    (tmp_path / "g.toml").write_text(grid)
    for command in (["status"], ["export"], ["report"], ["sweep", tmp_path / "g.toml"]):
        args = [*command, "--store", path] if command[0] == "sweep" else [*command, path]
        r = benign(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (command, r.stderr[-2000:])
        assert named in r.stderr
    with pytest.raises(StoreError, match=named.split(":")[0]):
        read_table(path)


def test_a_fifo_or_device_as_the_store_is_not_a_regular_file(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe")
    for path in (tmp_path / "pipe", Path("/dev/null")):
        with pytest.raises(StoreError, match="not a regular file"):
            check_store(path)
