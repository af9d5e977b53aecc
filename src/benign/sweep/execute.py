"""Running a sweep: blocks go to an executor, results come back to the one writer, the store.

Executors: ``local`` (in this process for one worker, else a pool of spawned processes) and
``dask://HOST:PORT`` (a running ``dask.distributed`` scheduler). A block is computed the same
way wherever it runs, so the stored values do not depend on the executor or the worker count.
"""

import ctypes
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benign import __version__
from benign.run import run_block
from benign.sweep.config import Block, Sweep, load_sweep
from benign.sweep.store import RunResult, Store, params_npz

DASK_PREFIX = "dask://"
# Every block is computed with one thread (PyTorch's and the BLAS under NumPy and SciPy),
# wherever it runs: the thread count changes how long reductions are split, hence the last bits
# of the results (seen: GD at d ≥ 320, the certificate's least squares), and a run's values must
# not depend on the executor. Parallelism comes from workers.
SWEEP_THREADS = 1
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


class ExecutorError(RuntimeError):
    """An executor that cannot be used (bad address, unreachable scheduler, missing package)."""


# the versions that computed a result (a worker's own, recorded with every run it computes)
VERSIONS = f"benign {__version__}; torch {torch.__version__}; numpy {np.__version__}"


def keep_freed_memory() -> None:
    """Let glibc keep freed memory for reuse: mmap threshold 32 MiB, trim threshold 64 MiB (the
    values its own dynamic rule grows to). A Dask nanny starts its workers with
    ``MALLOC_TRIM_THRESHOLD_=65536``, which freezes the mmap threshold at 128 KiB, so that every
    tensor above it is mapped and unmapped at every step: training ran 1.7× slower."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to undo
        return
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)
    libc.mallopt(M_TRIM_THRESHOLD, 64 * 2**20)


def compute_block(block: Block) -> list[RunResult]:
    """Train and measure one ensemble block (this runs on a worker) with one thread. An
    exception fails every run of the block with its message; it never stops the sweep."""
    keep_freed_memory()
    runs = block.runs
    seeds = [r.seed for r in runs]
    threads = torch.get_num_threads()
    torch.set_num_threads(SWEEP_THREADS)
    try:
        with threadpool_limits(SWEEP_THREADS):
            exp = run_block(runs[0].config, seeds, [r.config.sample(r.seed) for r in runs])
    except Exception as exc:  # the whole block failed: every run records why
        reason = f"error: {type(exc).__name__}: {exc}"
        return [
            RunResult(r.run_id, block.block_id, len(runs), None, reason, {}, {}, VERSIONS)
            for r in runs
        ]
    finally:
        torch.set_num_threads(threads)
    net = runs[0].config.network()
    keep = sum(math.prod(shape) for shape in net.shapes()) <= block.keep_params
    arrays = [p.detach().cpu().numpy() for p in exp.params]
    return [
        RunResult(
            run_id=r.run_id,
            block=block.block_id,
            block_size=len(runs),
            record=rec,
            failure=rec.failure,
            history={k: v.tolist() for k, v in hist.items()},
            certificate_history={k: v.tolist() for k, v in cert.items()},
            versions=VERSIONS,
            params=params_npz(net.names(), [a[e] for a in arrays]) if keep else None,
        )
        for e, (r, rec, hist, cert) in enumerate(
            zip(runs, exp.records, exp.histories, exp.cert_histories, strict=True)
        )
    ]


def check_executor(spec: str) -> str | None:
    """The scheduler address (tcp://HOST:PORT) of ``dask://HOST:PORT``, None for ``local``."""
    if spec == "local":
        return None
    if spec.startswith(DASK_PREFIX):
        host, sep, port = spec.removeprefix(DASK_PREFIX).rpartition(":")
        if sep and host and port.isdigit() and 0 < int(port) < 65536:
            return f"tcp://{host}:{port}"
    raise ExecutorError(f"executor: must be local or dask://HOST:PORT, got {spec!r}")


WATCH_SECONDS = 0.5  # how often a pool worker looks whether its coordinator is alive


def _init_worker(coordinator: int) -> None:
    """Pool workers leave Ctrl-C to the coordinator, and die with it: a daemon thread ends
    the worker once its parent is no longer the coordinator (killed, even by SIGKILL, the
    worker is handed to another parent), within :data:`WATCH_SECONDS`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == coordinator:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="coordinator-watchdog", daemon=True).start()


class LocalExecutor:
    """One worker: blocks run in this process. More: a pool of spawned processes (a script
    that uses it needs the ``if __name__ == "__main__":`` guard)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1

    def map(self, blocks: list[Block]) -> Iterator[list[RunResult]]:
        """Each block's results, as blocks finish."""
        if self.workers == 1:
            for b in blocks:
                yield compute_block(b)
            return
        spawn = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(self.workers, spawn, _init_worker, (os.getpid(),))
        futures = {pool.submit(compute_block, b) for b in blocks}
        finished = False
        try:
            for f in as_completed(futures):
                futures.discard(f)  # keep no finished block's results alive
                try:
                    results = f.result()
                except BrokenProcessPool:
                    msg = "a worker process died (out of memory, or killed)"
                    raise ExecutorError(msg) from None
                yield results
            finished = True
        finally:
            if finished:
                pool.shutdown()
            else:  # interrupted, or a worker died: blocks in progress are recomputed on resume
                procs = list((getattr(pool, "_processes", None) or {}).values())
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.join(timeout=5)
                    if proc.exitcode is None:
                        proc.kill()
                # with its workers gone the pool's manager thread ends: joined here, it has
                # closed its pipes before the interpreter's exit hook wakes it (CPython 3.11
                # races there otherwise: "OSError: [Errno 9] Bad file descriptor" at exit)
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


class DaskExecutor:
    """Blocks as tasks on a running ``dask.distributed`` scheduler (a task uses one core:
    start workers with ``--nthreads 1``, as many as cores)."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError("executor: dask needs the distributed package") from None
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        try:  # a refused connection fails here at once (the client would retry for 15 s)
            socket.create_connection((host.strip("[]"), int(port)), timeout=15).close()
            self.client = Client(address, timeout="15s", set_as_default=False)
        except OSError as exc:
            msg = f"executor: cannot reach the Dask scheduler at {address}: {exc}"
            raise ExecutorError(msg) from None

    def map(self, blocks: list[Block]) -> Iterator[list[RunResult]]:
        """Each block's results, as blocks finish."""
        from distributed import as_completed

        futures = [
            self.client.submit(compute_block, b, key=f"benign-block-{b.block_id}", pure=False)
            for b in blocks
        ]
        try:
            for f in as_completed(futures, loop=self.client.loop):
                try:
                    results = f.result()
                except Exception as exc:  # compute_block catches its own: this is the cluster
                    msg = f"the Dask cluster failed: {type(exc).__name__}: {exc}"
                    raise ExecutorError(msg) from None
                f.release()  # the workers may forget it
                yield results
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.close()


Executor = LocalExecutor | DaskExecutor


def open_executor(spec: str = "local", workers: int | None = None) -> Executor:
    """``local`` or ``dask://HOST:PORT`` (connects now, so that a bad address fails early)."""
    address = check_executor(spec)
    if address is None:
        return LocalExecutor(workers)
    return DaskExecutor(address)


@dataclass
class SweepProgress:
    """Where a sweep stands: runs stored of those to compute, how many failed, and why (each
    failure reason with its count)."""

    done: int
    total: int
    failed: int
    failures: Counter[str] = field(default_factory=Counter)


def work_left(
    sweep: Sweep, statuses: dict[str, str], retry_failed: bool = False
) -> tuple[set[str], list[Block]]:
    """The runs to compute — pending (a run missing from ``statuses`` is pending) and, with
    ``retry_failed``, failed — and the ensemble blocks that hold them."""
    wanted = ("pending", "failed") if retry_failed else ("pending",)
    todo = {r.run_id for r in sweep.runs if statuses.get(r.run_id, "pending") in wanted}
    return todo, [b for b in sweep.blocks() if any(r.run_id in todo for r in b.runs)]


def run_sweep(
    sweep: Sweep,
    store: Store,
    executor: Executor,
    retry_failed: bool = False,
    command: str = "",
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepProgress:
    """Compute the sweep's runs that the store lacks (and its failed ones if ``retry_failed``),
    each block on the executor, storing every run as it arrives."""
    store.plan(sweep, command)
    todo, blocks = work_left(sweep, store.statuses(r.run_id for r in sweep.runs), retry_failed)
    state = SweepProgress(0, len(todo), 0)
    if progress:
        progress(state)
    for results in executor.map(blocks):
        for res in results:
            if res.run_id in todo:  # a block recomputed for its missing runs: keep the others
                store.put(res)
                state.done += 1
                if res.failure is not None:
                    state.failed += 1
                    state.failures[res.failure] += 1
        if progress:
            progress(state)
    return state


def compute(
    sweep: Sweep | Path,
    store: Path,
    executor: str = "local",
    workers: int | None = 1,
    retry_failed: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepProgress:
    """Compute a sweep (or a sweep file) into a store, created if new: what ``benign sweep``
    does, from Python. ``workers`` = 1 computes in this process."""
    sw = sweep if isinstance(sweep, Sweep) else load_sweep(Path(sweep))
    ex = open_executor(executor, workers)
    try:
        with Store(Path(store), create=True) as st:
            return run_sweep(sw, st, ex, retry_failed, "", progress)
    finally:
        ex.close()
