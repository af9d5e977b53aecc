"""Sweeps end to end: executors and worker counts give the same stored values, resume computes
only what is missing, failures are kept with their reason, kill -9 loses nothing, and a real
Dask cluster on 127.0.0.1 matches the local executor."""

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest
from helpers import benign, free_port, stored_count, without_progress

from benign.sweep import execute as execute_module
from benign.sweep.config import load_sweep, parse_sweep
from benign.sweep.execute import open_executor, run_sweep
from benign.sweep.store import TIMING_COLUMNS, Store, read_table, stored_values

pytestmark = pytest.mark.slow  # sweeps end to end: worker pools, Dask clusters, kill -9

PRESET = resources.files("benign") / "presets" / "quick.toml"
SMALL = 'seeds = 3\n[fixed]\nm = 12\nwidth = 10\nmethod = "gd"\nsteps = 40\ntest_half_width = 0.1\n'


def copy_preset(directory: Path) -> Path:
    path = directory / "quick.toml"
    path.write_text(PRESET.read_text())
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The 200-run preset, computed by the default executor with two worker processes."""
    directory = tmp_path_factory.mktemp("reference")
    config = copy_preset(directory)
    r = benign("sweep", config, "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert "200 runs computed" in r.stdout
    return stored_values(directory / "quick.sqlite")


def test_reference_store_has_every_run_once(reference):
    runs = reference["runs"]
    sweep = load_sweep(PRESET)
    assert len(runs) == len(sweep.runs) == 200
    assert sorted(r[0] for r in runs) == sorted(r.run_id for r in sweep.runs)
    statuses = {r[1] for r in runs}
    assert statuses <= {"done", "failed"} and "done" in statuses
    assert len(reference["history"]) > 200


def test_one_worker_in_process_stores_the_same_values(tmp_path, reference):
    config = copy_preset(tmp_path)
    r = benign("sweep", config, "--workers", "1", "--store", tmp_path / "one.sqlite")
    assert r.returncode == 0, r.stderr
    assert stored_values(tmp_path / "one.sqlite") == reference


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, shut down afterwards."""
    from distributed import Client

    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    assert dask, "the dask command line is not installed"
    port = free_port()
    address = f"127.0.0.1:{port}"
    logs = open(tmp_path / "dask.log", "w")  # noqa: SIM115 (closed below)
    common = dict(cwd=tmp_path, stdout=logs, stderr=subprocess.STDOUT)
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **common,
        )
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        dask,
                        "worker",
                        f"tcp://{address}",
                        "--nthreads",
                        "1",
                        "--no-nanny",  # one process per worker: terminate() stops it all
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--local-directory",
                        str(tmp_path),
                    ],
                    **common,
                )
            )
        with Client(f"tcp://{address}", timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()


def test_dask_cluster_stores_the_same_values(tmp_path, reference, dask_cluster):
    config = copy_preset(tmp_path)
    store = tmp_path / "dask.sqlite"
    # a new process: a Dask client is left running in the process that opened it
    r = benign(
        "sweep", config, "--executor", f"dask://{dask_cluster}", "--store", store, fresh=True
    )
    assert r.returncode == 0, r.stderr
    assert "200 runs computed" in r.stdout
    assert stored_values(store) == reference


def test_kill_9_at_random_points_then_resume(tmp_path, reference):
    config = copy_preset(tmp_path)
    store = tmp_path / "quick.sqlite"
    rng = random.Random(20261125)
    seen = []
    for attempt in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-m", "benign", "sweep", str(config), "--workers", "2"],
            start_new_session=True,  # its worker processes die with it
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = stored_count(store)
        if attempt == 0:  # anywhere from start-up to the first results
            time.sleep(rng.uniform(0.5, 4.0))
        else:  # after a random number of new runs, at a random moment
            # at most a quarter of what is left: a kill always leaves runs to resume
            target = before + rng.randint(1, max(1, (200 - before) // 4))
            deadline = time.monotonic() + 300
            while stored_count(store) < target and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        seen.append(stored_count(store))
    # progress kept, and at least two kills left runs for the next attempt to resume (the
    # last may finish: the quick sweep's final blocks store dozens of runs within 0.1 s)
    assert seen == sorted(seen) and sum(n < 200 for n in seen) >= 2, seen
    r = benign("sweep", config, "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert f"{200 - seen[-1]} runs computed" in r.stdout
    assert stored_values(store) == reference


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(pid)
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_workers_die_with_their_coordinator_and_sigterm_stops_cleanly(tmp_path, reference, sig):
    """A coordinator stopped by SIGTERM (a batch scheduler's time limit) exits 143 with the
    resume hint; one killed by SIGKILL leaves no worker behind either; resuming completes."""
    config = copy_preset(tmp_path)
    store = tmp_path / "quick.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benign", "sweep", str(config), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while stored_count(store) < 20:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    workers = children(proc.pid)
    assert workers  # the pool (and the resource tracker)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)  # returns once every holder of the pipes is gone
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err
        assert "terminated (SIGTERM):" in err and "run the same command to resume" in err
        assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(workers)
    r = benign("sweep", config, "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert stored_values(store) == reference


def test_the_kill_campaign_of_make_stress_in_short(tmp_path, reference):
    """Three kills of tests/stress.py's campaign (coordinator and worker, SIGKILL, SIGTERM,
    SIGINT, drawn by a seeded generator), each resumed: right exit codes and messages, no
    process left, and the finished store equal to the uninterrupted one."""
    import stress

    got = stress.campaign(tmp_path, reference, stress.LOCAL_KILLS, 3, random.Random(7))
    assert got["problems"] == [] and got["processes_left"] == 0
    assert sum(got["kills"].values()) == 3 and got["stores_unequal_to_reference"] == 0


def test_resume_adds_new_runs_and_keeps_old_ones(tmp_path):
    store = tmp_path / "s.sqlite"
    first = parse_sweep(SMALL + "[grid]\np = [0.0, 0.2]\n")
    with Store(store, create=True) as st:
        state = run_sweep(first, st, open_executor("local", 1))
    assert (state.done, state.total) == (6, 6)
    finished = dict(sqlite3.connect(store).execute("SELECT run_id, finished FROM runs"))
    time.sleep(1.1)  # a recomputed run would get a later timestamp
    with Store(store) as st:
        again = run_sweep(first, st, open_executor("local", 1))
        assert (again.done, again.total) == (0, 0)
        grown = parse_sweep(SMALL + "[grid]\np = [0.0, 0.2, 0.3]\n")
        state = run_sweep(grown, st, open_executor("local", 1))
    assert (state.done, state.total) == (3, 3)
    now = dict(sqlite3.connect(store).execute("SELECT run_id, finished FROM runs"))
    assert len(now) == 9 and all(now[k] == v for k, v in finished.items())
    # the grown sweep computed from scratch agrees run for run, to the rounding of its other
    # ensemble blocks (the old runs were trained six to a block, here nine)
    fresh = tmp_path / "fresh.sqlite"
    with Store(fresh, create=True) as st:
        run_sweep(grown, st, open_executor("local", 1))
    (names, kept), (_, new) = read_table(store), read_table(fresh)
    for a, b in zip(kept, new, strict=True):
        for name, u, v in zip(names, a, b, strict=True):
            if name in ("block", "block_size", *TIMING_COLUMNS):
                continue
            assert u == v if not isinstance(u, float) else u == pytest.approx(v, rel=1e-9)


def test_failed_runs_keep_their_reason_and_are_retried_on_request(tmp_path):
    store = tmp_path / "s.sqlite"
    sweep = parse_sweep(SMALL.replace("steps = 40", "steps = 0") + "[grid]\np = [0.2]\n")
    with Store(store, create=True) as st:
        state = run_sweep(sweep, st, open_executor("local", 1))
        assert (state.done, state.failed) == (3, 3)
        assert run_sweep(sweep, st, open_executor("local", 1)).total == 0
        state = run_sweep(sweep, st, open_executor("local", 1), retry_failed=True)
        assert (state.done, state.failed) == (3, 3)
    got = sqlite3.connect(store).execute("SELECT status, failure, train_error FROM runs")
    assert {(s, f) for s, f, _ in got} == {("failed", "no_interpolation")}


def test_an_exception_fails_its_block_and_the_sweep_goes_on(tmp_path, monkeypatch):
    calls = []

    def flaky(config, seeds, samples, progress=None):
        calls.append(config.d)
        if config.d == 3:
            raise FloatingPointError("boom")
        return real(config, seeds, samples, progress)

    real = execute_module.run_block
    monkeypatch.setattr(execute_module, "run_block", flaky)
    store = tmp_path / "s.sqlite"
    sweep = parse_sweep(SMALL + "[grid]\nd = [2, 3]\n")
    with Store(store, create=True) as st:
        state = run_sweep(sweep, st, open_executor("local", 1))
    assert sorted(calls) == [2, 3] and state.done == 6
    got = sqlite3.connect(store).execute("SELECT d, status, failure, clean_error FROM runs")
    for d, status, failure, clean in got:
        if d == 3:
            assert (status, failure, clean) == ("failed", "error: FloatingPointError: boom", None)
        else:  # computed and measured (failed only if it did not interpolate in 40 steps)
            assert failure in (None, "no_interpolation") and clean is not None


def test_a_worker_killed_stops_the_sweep_with_a_message_and_resume_finishes(tmp_path):
    import psutil

    config = tmp_path / "slow.toml"  # four blocks of about two seconds each
    config.write_text(
        SMALL.replace(
            "m = 12\nwidth = 10\nsteps = 40", "m = 100\nwidth = 100\nsteps = 3000"
        ).replace("seeds = 3", "seeds = 8")
        + "[grid]\np = [0.1, 0.2]\nd = [20, 30]\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "benign", "sweep", str(config), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    workers = []
    while len(workers) < 2:  # the pool is up: kill one of its processes
        assert proc.poll() is None and time.monotonic() < deadline
        workers = [
            c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())
        ]
        time.sleep(0.05)
    time.sleep(1.0)
    workers[0].kill()
    _, errs = proc.communicate(timeout=300)
    assert proc.returncode == 1, errs
    lines = without_progress(errs)
    assert len(lines) == 1 and lines[0].startswith("benign: error: a worker process died")
    assert "to resume" in lines[0]
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers)
    stored = stored_count(tmp_path / "slow.sqlite")
    assert stored < 32
    r = benign("sweep", config, "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert f"{32 - stored} runs computed" in r.stdout
