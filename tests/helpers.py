"""Shared by the tests: the command line as a user runs it, and stored results made by hand."""

import contextlib
import dataclasses
import io
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import typing
from pathlib import Path

import torch

from benign.cli import main
from benign.nets import ReLUNet
from benign.records import NetworkRecord
from benign.sweep.store import RunResult


@contextlib.contextmanager
def environment(values: dict[str, str] | None) -> "typing.Iterator[None]":
    """While inside: these environment variables set (restored after)."""
    saved = {k: os.environ.get(k) for k in values or {}}
    os.environ.update(values or {})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def benign(*args, cwd=None, timeout=600, fresh=False, env=None) -> subprocess.CompletedProcess:
    """Run ``benign ARGS`` and capture its output and exit code: in this process, through the
    console entry point as ``python -m benign`` calls it (starting Python and PyTorch again
    costs ~4 s a command), or in a new ``python -m benign`` process when ``fresh``; ``env``:
    environment variables set for it."""
    argv = ["benign", *map(str, args)]
    if fresh:
        return subprocess.run(
            [sys.executable, "-m", *argv],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=timeout,
            env=os.environ | (env or {}),
        )
    out, err = io.StringIO(), io.StringIO()
    threads, saved_argv = torch.get_num_threads(), sys.argv
    sys.argv = argv
    try:
        with (
            environment(env),
            contextlib.chdir(cwd or os.getcwd()),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
        torch.set_num_threads(threads)  # --threads sets the process's pool
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


PROGRESS_LINE = re.compile(r"sweep \S+: \d+ / \d+ runs")  # a sweep's progress, not a terminal


def without_progress(stderr: str) -> list[str]:
    """The lines of a command's stderr that are not a sweep's progress lines."""
    return [line for line in stderr.splitlines() if not PROGRESS_LINE.match(line)]


def stored_count(store: Path) -> int:
    """Runs finished (done or failed) in a store, read without writing to it."""
    if not store.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM runs WHERE status != 'pending'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError:  # not created yet
        return 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(seed: int, **kw) -> NetworkRecord:
    values = {f.name: 0.5 for f in dataclasses.fields(NetworkRecord)}
    values |= dict(
        seed=seed,
        method="gd",
        flips=1,
        train_error=0.0,
        interpolated=True,
        clean_method="mc",
        n_test=100,
        steps=7,
        stop_reason="loss_tol",
        support=3,
        kinks=0,
        certified=False,
        seeded="",
        rounds=0,
        gd_steps=0,
        gd_stop_reason="",
        gd_clean_error=math.nan,  # no gd+convex: no gradient-descent network beside the KKT point
        gd_normalised_margin=math.nan,
        gd_eps_rel=math.nan,
        gd_certified=False,
        global_gap=math.nan,
        excess_found=math.nan,
        optimality="",
    )
    return NetworkRecord(**(values | kw))


def result(run_id: str, seed: int, failure=None, **kw) -> RunResult:
    hist = {"step": [0, 1, 7], "loss": [0.7, 0.6, 0.1], "train_error": [0.5, 0.2, 0.0]}
    hist |= {"min_margin": [-1.0, -0.5, 0.1], "normalised_margin": [math.nan, 0.0, 0.01]}
    hist |= {"param_move": [0.0, 0.01, 0.02], "kernel_move": [0.0, 0.1, 0.2]}
    hist |= {"pattern_flips": [0.0, 0.05, 0.1]}
    cert = {"step": [5], "eps_rel": [0.3], "delta_rel": [0.01]}
    return RunResult(run_id, "b0", 2, record(seed, **kw), failure, hist, cert, "v")


def swept(directory, sweep_text: str, name: str):
    """The store ``directory/NAME.sqlite`` of the sweep ``sweep_text``, computed by ``benign
    sweep`` with one worker."""
    (directory / f"{name}.toml").write_text(sweep_text)
    r = benign("sweep", directory / f"{name}.toml", "--workers", "1")
    assert r.returncode == 0, r.stderr
    return directory / f"{name}.sqlite"


def synthetic_store(
    path, sweep_text: str, clean_error, certified=True, failure=None, **fields
) -> None:
    """A store whose runs are those of ``sweep_text``, with clean error ``clean_error(config,
    seed)`` and realised noise p, written without training anything (each network kept as
    its initialisation); ``fields``: other record fields as functions of (config, seed)."""
    from benign.sweep.config import parse_sweep
    from benign.sweep.store import Store, params_npz

    sweep = parse_sweep(sweep_text)
    with Store(path, create=True) as st:
        st.plan(sweep, "benign sweep synthetic.toml")
        for r in sweep.runs:
            done = result(
                r.run_id,
                r.seed,
                failure=failure(r.config, r.seed) if failure else None,
                clean_error=float(clean_error(r.config, r.seed)),
                flip_rate=r.config.p,
                certified=certified(r.config, r.seed) if callable(certified) else certified,
                **{k: f(r.config, r.seed) for k, f in fields.items()},
            )
            net = ReLUNet.of(r.config)
            kept = [t[0].numpy() for t in net.init_params([r.seed])]
            st.put(dataclasses.replace(done, params=params_npz(net.names(), kept)))


def jacobian(net: ReLUNet, params, x: torch.Tensor, e: int) -> torch.Tensor:
    """∇_θ f(x_i) of network e as rows of an (m, P) matrix, by torch.func.jacrev."""
    single = [p[e].detach() for p in params]

    def f(ps):
        return net.forward([p.unsqueeze(0) for p in ps], x.unsqueeze(0))[0][0]

    return torch.cat([j.reshape(len(x), -1) for j in torch.func.jacrev(f)(single)], dim=1)
