"""Running a sweep: blocks go to an executor, results come back to the one writer, the store.

Executors: ``local`` (in this process for one worker, else a pool of spawned processes) and
``dask://HOST:PORT`` (a running ``dask.distributed`` scheduler). A block is computed the same
way wherever it runs, so the stored values do not depend on the executor or the worker count.
"""

import contextlib
import ctypes
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.queues
import os
import pickle
import queue
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benign import __version__
from benign.nets import ReLUNet
from benign.run import check_device, run_block
from benign.sweep.config import Block, Sweep, load_sweep, network_seconds
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


# the versions that computed a result (a worker's own, recorded with every run it computes);
# Numba compiles the fused passes (benign.fused), read without importing it
VERSIONS = (
    f"benign {__version__}; torch {torch.__version__}; numpy {np.__version__}; "
    f"numba {metadata.version('numba')}"
)


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


FittedFn = Callable[[str, int], None]  # (block id, networks of the block fitted so far)
_REPORTS: "multiprocessing.queues.Queue | None" = None  # a pool worker's queue to its coordinator


def _training_progress(
    block: Block, fitted: Callable[[int], None] | None
) -> Callable[[int, int], None] | None:
    """run_block's progress callback as networks fitted: gradient descent's networks that
    stopped (``E − active``), the convex method's networks solved; None where the networks
    of a block finish together (lp, and gd+convex, whose last stage is unreported)."""
    size, method = len(block.runs), block.runs[0].config.resolved_method
    if fitted is None or method not in ("gd", "convex"):
        return None
    last = [0]

    def progress(step: int, active: int) -> None:
        n = step if method == "convex" else size - active
        if n != last[0]:
            last[0] = n
            fitted(n)

    return progress


def _quiet(fitted: Callable[[int], None]) -> Callable[[int], None]:
    """``fitted``, whose errors are dropped: progress must never fail a run."""

    def call(n: int) -> None:
        with contextlib.suppress(Exception):  # only progress is lost
            fitted(n)

    return call


def compute_block(block: Block, fitted: Callable[[int], None] | None = None) -> list[RunResult]:
    """Train and measure one ensemble block (this runs on a worker) with one thread. An
    exception fails every run of the block with its message; it never stops the sweep.
    ``fitted(n)`` is told how many of its networks are fitted (:func:`_training_progress`);
    in a pool worker it defaults to a message to the coordinator."""
    keep_freed_memory()
    runs = block.runs
    seeds = [r.seed for r in runs]
    if fitted is None and _REPORTS is not None:
        reports = _REPORTS
        fitted = lambda n: reports.put((block.block_id, n))  # noqa: E731
    fitted = None if fitted is None else _quiet(fitted)
    threads = torch.get_num_threads()
    torch.set_num_threads(SWEEP_THREADS)
    try:
        with threadpool_limits(SWEEP_THREADS):
            exp = run_block(
                runs[0].config,
                seeds,
                [r.config.sample(r.seed) for r in runs],
                _training_progress(block, fitted),
            )
    except Exception as exc:  # the whole block failed: every run records why
        reason = f"error: {type(exc).__name__}: {exc}"
        return [
            RunResult(r.run_id, block.block_id, len(runs), None, reason, {}, {}, VERSIONS)
            for r in runs
        ]
    finally:
        torch.set_num_threads(threads)
    net = ReLUNet.of(runs[0].config)
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


def _init_worker(coordinator: int, reports: "multiprocessing.queues.Queue") -> None:
    """Pool workers leave Ctrl-C to the coordinator, and die with it: a daemon thread ends
    the worker once its parent is no longer the coordinator (killed, even by SIGKILL, the
    worker is handed to another parent), within :data:`WATCH_SECONDS`. They report the
    networks fitted on ``reports``."""
    global _REPORTS
    _REPORTS = reports
    reports.cancel_join_thread()  # a worker never waits at exit for progress to be read
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

    def map(self, blocks: list[Block], fitted: FittedFn | None = None) -> Iterator[list[RunResult]]:
        """Each block's results, as blocks finish; ``fitted(block id, n)`` as its networks
        are fitted, from another thread when there is a pool."""
        if self.workers == 1:
            for b in blocks:
                yield compute_block(b, None if fitted is None else partial(fitted, b.block_id))
            return
        spawn = multiprocessing.get_context("spawn")
        reports, done = spawn.Queue(), threading.Event()
        pool = ProcessPoolExecutor(self.workers, spawn, _init_worker, (os.getpid(), reports))
        futures = {pool.submit(compute_block, b) for b in blocks}
        reader = threading.Thread(
            target=_read_reports, args=(reports, fitted, done), name="fitted-reports", daemon=True
        )
        reader.start()
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
            # the workers are gone: the reader stops. Nothing is sent on the queue (a worker
            # killed while it wrote may hold its lock), and a message a killed worker left
            # half-written leaves the reader waiting: it is a daemon, left behind then.
            done.set()
            reader.join(timeout=5)
            if not reader.is_alive():
                reports.close()
            reports.cancel_join_thread()

    def close(self) -> None:
        pass


def _read_reports(
    reports: "multiprocessing.queues.Queue", fitted: FittedFn | None, done: threading.Event
) -> None:
    """Pass the workers' (block id, networks fitted) messages on until ``done`` and the
    queue is empty, or the queue breaks (a worker killed while it wrote). They only show
    progress: an error of ``fitted`` loses one message, and the queue is still drained (a
    full pipe would block the workers)."""
    while True:
        try:
            message = reports.get(timeout=0.1)
        except queue.Empty:
            if done.is_set():
                return
            continue
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            return
        if fitted is not None:
            with contextlib.suppress(Exception):
                fitted(*message)


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

    def map(self, blocks: list[Block], fitted: FittedFn | None = None) -> Iterator[list[RunResult]]:
        """Each block's results, as blocks finish (``fitted`` is not called: a task reports
        nothing before its end)."""
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
                    # its client's reconnection tracebacks would say it again: not shown
                    for name in list(logging.root.manager.loggerDict):
                        if name.split(".")[0] == "distributed":
                            logging.getLogger(name).setLevel(logging.CRITICAL)
                    text = " ".join(str(exc).split())  # one line
                    raise ExecutorError(
                        f"the Dask cluster failed: {type(exc).__name__}: {text}"
                    ) from None
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
    failure reason with its count), and the networks fitted in blocks still in progress
    (where the executor reports them: the local one, for gd and convex)."""

    done: int
    total: int
    failed: int
    failures: Counter[str] = field(default_factory=Counter)
    fitted: int = 0
    # the runs' estimated seconds (benign.sweep.config.network_seconds): of all to compute,
    # and of those finished
    cost: float = 0.0
    cost_finished: float = 0.0

    def left(self, elapsed: float) -> float | None:
        """Seconds left, from ``elapsed`` seconds for the runs finished, by their estimated
        cost: elapsed · (cost left / cost finished); None before a run has finished."""
        if not self.finished or not self.cost_finished > 0:
            return None
        return elapsed * max(self.cost - self.cost_finished, 0.0) / self.cost_finished

    @property
    def finished(self) -> int:
        """Runs stored, and networks fitted not yet stored."""
        return self.done + self.fitted


def work_left(
    sweep: Sweep, statuses: dict[str, str], retry_failed: bool = False
) -> tuple[set[str], list[Block]]:
    """The runs to compute — pending (a run missing from ``statuses`` is pending) and, with
    ``retry_failed``, failed — and the ensemble blocks that hold them."""
    wanted = ("pending", "failed") if retry_failed else ("pending",)
    todo = {r.run_id for r in sweep.runs if statuses.get(r.run_id, "pending") in wanted}
    return todo, [b for b in sweep.blocks() if any(r.run_id in todo for r in b.runs)]


def longest_first(blocks: list[Block]) -> list[Block]:
    """The blocks in the order a pool should start them, the longest first by their estimated
    :meth:`Block.seconds`, so that the last ones to finish are short. The order changes no
    value."""
    return sorted(blocks, key=lambda b: -b.seconds())


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
    # networks fitted per block in progress (at most its runs to compute), and blocks stored
    left = {b.block_id: sum(r.run_id in todo for r in b.runs) for b in blocks}
    each = {b.block_id: network_seconds(b.runs[0].config) for b in blocks}  # a run's cost
    state = SweepProgress(0, len(todo), 0, cost=sum(left[k] * c for k, c in each.items()))
    stored_cost = 0.0
    fitted: dict[str, int] = {}
    lock = threading.Lock()

    def show() -> None:
        state.fitted = sum(fitted.values())
        state.cost_finished = stored_cost + sum(n * each[k] for k, n in fitted.items())
        if progress:  # a copy: the callback's other threads never see it half updated
            progress(dataclasses.replace(state, failures=Counter(state.failures)))

    def on_fitted(block_id: str, n: int) -> None:
        with lock:
            if block_id in left:  # not yet stored
                fitted[block_id] = min(n, left[block_id])
                show()

    with lock:
        show()
    for results in executor.map(longest_first(blocks), on_fitted):
        block = results[0].block
        with lock:
            left.pop(block, None)  # later reports of this block are ignored
            for res in results:
                if res.run_id in todo:  # a block recomputed for its missing runs: keep the others
                    store.put(res)
                    state.done += 1
                    stored_cost += each[block]
                    if res.failure is not None:
                        state.failed += 1
                        state.failures[res.failure] += 1
                    fitted[block] = max(fitted.get(block, 0) - 1, 0)  # now a stored run
                    show()  # every run stored is shown (and an error after it reports it)
            fitted.pop(block, None)
            show()
    return state


def check_machine(sweep: Sweep, workers: int) -> None:
    """Refuse (ValueError) a sweep this machine cannot compute in ``workers`` processes: a
    CUDA device it lacks, or blocks whose memory floor, in every worker at once, exceeds the
    memory available. (Dask workers check their own devices and memory.)"""
    shapes = sweep.block_shapes()
    config, size = max(shapes, key=lambda shape: shape[0].memory_floor(shape[1]))
    for c in {p.config.device: p.config for p in sweep.points}.values():
        check_device(c)
    config.check_memory(size, min(workers, len(shapes)))


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's time limit, ``kill``): stop as Ctrl-C does."""


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """While computing, SIGTERM raises :class:`Terminated` in the main thread, so a sweep
    stops like Ctrl-C: workers stopped, finished runs kept."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def compute(
    sweep: Sweep | Path,
    store: Path,
    executor: str = "local",
    workers: int | None = 1,
    retry_failed: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
    command: str = "",
) -> SweepProgress:
    """Compute a sweep (or a sweep file) into a store, created if new: what ``benign sweep``
    does, from Python, with its guards — a machine that cannot hold the sweep refused
    (:func:`check_machine`, ValueError) before the store is touched, SIGTERM stopping it as
    Ctrl-C does (:class:`Terminated`, a KeyboardInterrupt; finished runs kept). ``workers`` = 1
    computes in this process; ``command`` is recorded with the sweep."""
    sw = sweep if isinstance(sweep, Sweep) else load_sweep(Path(sweep))
    if executor == "local":
        check_machine(sw, workers or os.cpu_count() or 1)
    ex = open_executor(executor, workers)
    try:
        with Store(Path(store), create=True) as st, sigterm_stops():
            return run_sweep(sw, st, ex, retry_failed, command, progress)
    finally:
        ex.close()
