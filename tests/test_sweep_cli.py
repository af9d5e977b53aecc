"""`benign sweep`, `status` and `export` from the command line, and their one-line errors."""

import csv
import json
import sqlite3

import pytest
import torch
from helpers import benign, without_progress

SWEEP = """name = "tiny"
seeds = 2
[fixed]
m = 12
width = 10
steps = 40
test_half_width = 0.1
[grid]
p = [0.0, 0.2]
d = [2, 4]
"""


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    directory = tmp_path_factory.mktemp("filled")
    (directory / "tiny.toml").write_text(SWEEP)
    r = benign("sweep", "tiny.toml", "--workers", "1", cwd=directory)
    assert r.returncode == 0, r.stderr
    return directory


def test_dry_run_counts_and_writes_nothing(tmp_path, filled):
    (tmp_path / "tiny.toml").write_text(SWEEP)
    r = benign("sweep", "tiny.toml", "--dry-run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "sweep tiny: 8 runs" in r.stdout and "8 runs to compute" in r.stdout
    assert "(new)" in r.stdout and list(tmp_path.iterdir()) == [tmp_path / "tiny.toml"]
    # against a filled store: nothing left, one more p value leaves four
    more = SWEEP.replace("p = [0.0, 0.2]", "p = [0.0, 0.2, 0.3]")
    (tmp_path / "more.toml").write_text(more)
    r = benign("sweep", "more.toml", "--dry-run", "--store", filled / "tiny.sqlite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "4 runs to compute" in r.stdout


def test_status_counts_match_the_database(filled):
    store = filled / "tiny.sqlite"
    r = benign("status", store, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    conn = sqlite3.connect(store)
    done, failed = (
        conn.execute(f"SELECT count(*) FROM runs WHERE status = '{s}'").fetchone()[0]
        for s in ("done", "failed")
    )
    assert doc["totals"] == {"pending": 0, "done": done, "failed": failed}
    assert done + failed == 8 and doc["name"] == "tiny"
    assert doc["command"] == "benign sweep tiny.toml --workers 1"
    assert sorted(doc["by_axis"]) == ["d", "p"]
    for value, counts in doc["by_axis"]["d"]:
        n = conn.execute(f"SELECT count(*) FROM runs WHERE d = {value}").fetchone()[0]
        assert sum(counts.values()) == n == 4
    table = benign("status", store)
    assert table.returncode == 0 and "8 runs" in table.stdout


def test_export_csv_rows(filled, tmp_path):
    r = benign("export", filled / "tiny.sqlite", "--format", "csv", "-o", tmp_path / "r.csv")
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {r["p"] for r in rows} == {"0.0", "0.2"}
    r = benign("export", filled / "tiny.sqlite", "--format", "parquet", "--table", "history")
    assert r.returncode == 0, r.stderr
    assert (filled / "tiny.history.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "missing.toml"], "missing.toml: cannot read"),
        (["sweep", "bad.toml"], "bad.toml: grid.q: unknown setting"),
        (["sweep", "ok.toml", "--executor", "ray"], "executor: must be local or dask://HOST:PORT"),
        (["sweep", "ok.toml", "--executor", "dask://nohost"], "executor: must be local or dask"),
        (["sweep", "ok.toml", "--workers", "0"], "--workers: must be >= 1"),
        (["sweep", "ok.toml", "--store", "text.sqlite"], "text.sqlite: not an SQLite database"),
        (["sweep", "ok.toml", "--store", "nodir/s.sqlite"], "--store: directory"),
        (["status", "text.sqlite"], "text.sqlite: not an SQLite database"),
        (["status", "none.sqlite"], "none.sqlite: no such store"),
        (["export", "text.sqlite", "--format", "json"], "--format: must be one of csv, parquet"),
        (["export", "text.sqlite", "--table", "x"], "--table: must be one of runs"),
        (["export", "text.sqlite", "-o", "nodir/x.csv"], "--output: directory"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    (tmp_path / "ok.toml").write_text(SWEEP)
    (tmp_path / "bad.toml").write_text(SWEEP.replace("[grid]", "[grid]\nq = [1]"))
    (tmp_path / "text.sqlite").write_text("hello\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = benign(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("benign: error: ") and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.slow
def test_unreachable_scheduler_is_refused_before_the_store_is_made(tmp_path):
    (tmp_path / "ok.toml").write_text(SWEEP)
    r = benign("sweep", "ok.toml", "--executor", "dask://127.0.0.1:9", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in r.stderr
    assert r.stderr.count("\n") == 1
    assert not (tmp_path / "ok.sqlite").exists()


def test_a_store_being_written_is_refused(tmp_path):
    from benign.sweep.store import Store

    (tmp_path / "ok.toml").write_text(SWEEP)
    with Store(tmp_path / "ok.sqlite", create=True):  # another writer holds it
        before = (tmp_path / "ok.sqlite").read_bytes()
        r = benign("sweep", "ok.toml", cwd=tmp_path)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert "ok.sqlite: another benign sweep is writing this store" in r.stderr
        assert r.stderr.count("\n") == 1
        assert (tmp_path / "ok.sqlite").read_bytes() == before
    r = benign("sweep", "ok.toml", "--workers", "1", cwd=tmp_path)  # released: it runs
    assert r.returncode == 0, r.stderr


def test_export_never_overwrites_a_store(filled, tmp_path):
    store = filled / "tiny.sqlite"
    before = store.read_bytes()
    r = benign("export", store, "-o", store)
    assert r.returncode == 2 and "is the store itself" in r.stderr
    other = tmp_path / "other.sqlite"
    other.write_bytes(before)
    r = benign("export", store, "-o", other)
    assert r.returncode == 2 and "an SQLite database; refusing to overwrite it" in r.stderr
    assert store.read_bytes() == before and other.read_bytes() == before


def test_new_files_get_the_umask_permissions(filled, tmp_path):
    import os

    umask = os.umask(0)
    os.umask(umask)
    r = benign("export", filled / "tiny.sqlite", "-o", tmp_path / "r.csv")
    assert r.returncode == 0
    assert (tmp_path / "r.csv").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (filled / "tiny.sqlite").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
@pytest.mark.slow
def test_cuda_is_checked_where_the_networks_are_computed(tmp_path):
    """Without CUDA: a local sweep is refused before its store exists, a dry run still plans,
    a Dask sweep leaves the check to its workers (here it fails on the scheduler instead),
    and a block computed without CUDA fails its runs with the reason."""
    from benign.sweep.config import parse_sweep
    from benign.sweep.execute import compute_block

    text = SWEEP.replace("[fixed]", '[fixed]\ndevice = "cuda"')
    (tmp_path / "gpu.toml").write_text(text)
    r = benign("sweep", "gpu.toml", cwd=tmp_path)
    assert r.returncode == 2 and not (tmp_path / "gpu.sqlite").exists()
    want = "benign: error: gpu.toml: device: cuda was asked for but no CUDA device is available"
    assert r.stderr.strip() == want
    assert benign("sweep", "gpu.toml", "--dry-run", cwd=tmp_path).returncode == 0
    r = benign("sweep", "gpu.toml", "--executor", "dask://127.0.0.1:9", cwd=tmp_path)
    assert r.returncode == 2 and "cannot reach the Dask scheduler" in r.stderr
    results = compute_block(parse_sweep(text).blocks()[0])
    assert {res.failure for res in results} == {
        "error: ValueError: device: cuda was asked for but no CUDA device is available"
    }


def test_a_full_disk_is_one_line_keeps_what_was_stored_and_resumes(tmp_path, monkeypatch):
    """SQLite's 'database or disk is full' after three runs (injected: a small file system
    cannot be mounted everywhere): one line, exit 1, the three runs kept; resuming finishes."""
    from benign.sweep.store import Store

    config = tmp_path / "tiny.toml"
    config.write_text(SWEEP)
    put, calls = Store._put, []

    def full(self, result):
        calls.append(result.run_id)
        if len(calls) > 3:
            raise sqlite3.OperationalError("database or disk is full")
        put(self, result)

    monkeypatch.setattr(Store, "_put", full)
    r = benign("sweep", config, "--workers", "1")
    assert r.returncode == 1
    lines = without_progress(r.stderr)
    assert len(lines) == 1 and "the disk is full" in lines[0] and "MiB free" in lines[0]
    assert "3 of 8 runs stored" in lines[0] and "run the same command to resume" in lines[0]
    assert "Traceback" not in r.stderr
    monkeypatch.setattr(Store, "_put", put)
    r = benign("sweep", config, "--workers", "1")
    assert r.returncode == 0 and "5 runs computed" in r.stdout, r.stderr


def test_status_check_reads_the_whole_store(filled, tmp_path):
    r = benign("status", filled / "tiny.sqlite", "--check")
    assert r.returncode == 0 and "8 runs: 8 done" in r.stdout, r.stderr
    bad = tmp_path / "bad.sqlite"
    data = (filled / "tiny.sqlite").read_bytes()
    bad.write_bytes(data[: len(data) // 2] + bytes(4096) + data[len(data) // 2 + 4096 :])
    r = benign("status", bad, "--check")
    assert r.returncode == 2 and "the store is damaged" in r.stderr and "Traceback" not in r.stderr


def test_a_log_shows_progress_while_the_sweep_runs(tmp_path, monkeypatch):
    """stderr not a terminal (a batch job's log): a line per tenth of the runs and, between
    results, at least every LOG_SECONDS; failures by reason; the last line's rate is the final
    line's."""
    import re

    from helpers import PROGRESS_LINE

    import benign.cli.sweep as cli_sweep

    monkeypatch.setattr(cli_sweep, "LOG_SECONDS", 0.1)
    config = tmp_path / "log.toml"  # steps = 0: three runs fail; 4000 steps: a block of ~1 s
    config.write_text(
        'seeds = 3\n[fixed]\nm = 40\nwidth = 40\nmethod = "gd"\nloss_tol = 1e-12\n'
        "test_half_width = 0.1\n[grid]\nsteps = [0, 4000]\n"
    )
    r = benign("sweep", config, "--workers", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines and all(PROGRESS_LINE.match(line) for line in lines), lines
    done = [int(re.match(r"sweep log: (\d+) / 6 runs", line)[1]) for line in lines]
    assert done[0] == 0 and done[-1] == 6 and done == sorted(done)
    assert len(done) > len(set(done))  # a count repeated: a line between results
    assert lines[-1].endswith("· done · 3 failed (3 × no_interpolation)")
    assert "6 runs computed, 3 failed (3 × no_interpolation)" in r.stdout
    rate = re.search(r"· (\d+) runs/min ·", lines[-1])[1]
    assert f"({rate} runs/min)" in r.stdout


@pytest.mark.parametrize("command", ["status", "export", "recover", "report"])
@pytest.mark.parametrize("store", [".", "/"])
def test_a_directory_as_the_store_is_refused_in_one_line(tmp_path, command, store):
    r = benign(command, store, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"'{store}' is a directory, not a store" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_status_shows_a_switch_as_true_and_false(tmp_path):
    """A bool setting on an axis reads back as True / False (SQLite keeps 1 / 0), in the
    table as in the JSON."""
    from helpers import synthetic_store

    store = tmp_path / "s.sqlite"
    text = "seeds = 1\n[fixed]\nm = 12\nwidth = 10\n[grid]\nd = [30]\nbias = [true, false]\n"
    synthetic_store(store, text, lambda c, s: 0.1)
    doc = json.loads(benign("status", store, "--json").stdout)
    assert [value for value, _ in doc["by_axis"]["bias"]] == [False, True]
    table = benign("status", store).stdout
    line = next(line for line in table.splitlines() if line.strip().startswith("bias"))
    assert line.split()[:2] == ["bias", "False"]


def test_a_sweep_ends_with_its_verdict_lines(tmp_path):
    """After the counts, a line per group with its verdict and why, as `analyse` gives them."""
    import re

    import benign as package

    text = 'seeds = 4\n[fixed]\ndist = "interval"\nm = 12\nwidth = 30\n[grid]\np = [0.1, 0.2]\n'
    (tmp_path / "one.toml").write_text(text)
    r = benign("sweep", "one.toml", "--workers", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (group,) = package.analyse(tmp_path / "one.sqlite").groups
    line = f"  {group.label}: {group.verdict} ({group.reason})"
    assert line in r.stdout.splitlines()
    assert re.search(r"runs computed.*\n  .*\ndetails: benign status", r.stdout)
