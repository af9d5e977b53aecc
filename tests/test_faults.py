"""Faults of the file system outside a sweep's computation (a full disk, a read-only one): one
line naming the file, exit code 1, nothing half-written beside it."""

import errno
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys

import pytest
from helpers import benign, swept

TINY = """name = "tiny"
seeds = 2
[fixed]
dist = "sphere"
m = 20
width = 20
d = 5
method = "gd"
steps = 50
[grid]
p = [0.0, 0.2]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return swept(tmp_path_factory.mktemp("faults"), TINY, "tiny")


def limited(args: list, cwd, max_bytes: int) -> subprocess.CompletedProcess:
    """``benign ARGS`` in a new process that may write files of at most ``max_bytes``: every
    larger write fails (EFBIG) as on a full disk."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return subprocess.run(
        [sys.executable, "-m", "benign", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        preexec_fn=limit,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "max_bytes", "named"),
    [
        (["report", "s.sqlite", "-o", "out/r.html"], 20_000, "out/r_figures/"),
        (["export", "s.sqlite", "-o", "out/s.csv"], 500, "out/s.csv: File too large"),
        (["sweep", "tiny.toml", "--store", "out/new.sqlite"], 8_000, "out/new.sqlite: "),
        (["run", "--m", "10", "--d", "2", "--width", "10", "--save", "out/n.npz"], 300, "out/n"),
    ],
)
def test_a_write_that_fails_is_one_line_and_leaves_nothing(store, tmp_path, args, max_bytes, named):
    shutil.copy(store, tmp_path / "s.sqlite")
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "out").mkdir()
    r = limited(args, tmp_path, max_bytes)
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("benign: error: "), r.stderr
    assert named in r.stderr  # SQLite says "disk I/O error" where a write fails
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written


def test_a_read_only_store_or_output_is_one_line(store, tmp_path, monkeypatch):
    import tempfile

    import benign.sweep.store as store_module

    shutil.copy(store, tmp_path / "s.sqlite")
    (tmp_path / "tiny.toml").write_text(TINY)

    def readonly(path):  # what SQLite says on a read-only mount
        raise sqlite3.OperationalError("attempt to write a readonly database")

    with monkeypatch.context() as m:
        m.setattr(store_module, "_connect", readonly)
        r = benign("sweep", tmp_path / "tiny.toml", "--store", tmp_path / "s.sqlite")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "s.sqlite: cannot write the store: read-only" in r.stderr

    def refused(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", kwargs.get("dir"))

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", refused)
        r = benign("export", tmp_path / "s.sqlite")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "s.csv: Read-only file system" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite", "tiny.toml"]
