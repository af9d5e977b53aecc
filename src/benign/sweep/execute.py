"""Running a sweep: blocks go to an executor, results come back to the one writer, the store.

Executors: ``local`` (in this process for one worker, else a pool of spawned processes) and
``dask://HOST:PORT`` (a running ``dask.distributed`` scheduler). A block is computed the same
way wherever it runs, so the stored values do not depend on the executor or the worker count.
"""

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import torch

from benign import __version__
from benign.run import run_block
from benign.sweep.config import Block, Sweep
from benign.sweep.store import RunResult, Store

DASK_PREFIX = "dask://"


class ExecutorError(RuntimeError):
    """An executor that cannot be used (bad address, unreachable scheduler, missing package)."""


def versions() -> str:
    """The versions that computed a result."""
    return f"benign {__version__}; torch {torch.__version__}; numpy {np.__version__}"


def compute_block(block: Block, threads: int | None = None) -> list[RunResult]:
    """Train and measure one ensemble block (this runs on a worker). An exception fails every
    run of the block with its message; it never stops the sweep."""
    if threads:
        torch.set_num_threads(threads)
    runs = block.runs
    seeds = [r.seed for r in runs]
    try:
        exp = run_block(runs[0].config, seeds, [r.config.sample(r.seed) for r in runs])
    except Exception as exc:  # the whole block failed: every run records why
        reason = f"error: {type(exc).__name__}: {exc}"
        return [
            RunResult(r.run_id, block.block_id, len(runs), None, reason, {}, {}, versions())
            for r in runs
        ]
    return [
        RunResult(
            run_id=r.run_id,
            block=block.block_id,
            block_size=len(runs),
            record=rec,
            failure=rec.failure,
            history={k: v.tolist() for k, v in hist.items()},
            certificate_history={k: v.tolist() for k, v in cert.items()},
            versions=versions(),
        )
        for r, rec, hist, cert in zip(
            runs, exp.records, exp.histories, exp.cert_histories, strict=True
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


def _init_worker(threads: int) -> None:
    """Pool workers: a share of the cores each (oversubscribed threads are many times slower),
    and Ctrl-C is the coordinator's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _local(blocks: list[Block], workers: int, threads: int | None) -> Iterator[list[RunResult]]:
    if workers == 1:
        for b in blocks:
            yield compute_block(b, threads)
        return
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(
        workers, multiprocessing.get_context("spawn"), _init_worker, (threads,)
    )
    futures = [pool.submit(compute_block, b) for b in blocks]
    finished = False
    try:
        for f in as_completed(futures):
            yield f.result()
        finished = True
    finally:
        if finished:
            pool.shutdown()
        else:  # interrupted: blocks in progress are recomputed on resume
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.terminate()


def _dask(blocks: list[Block], address: str, threads: int | None) -> Iterator[list[RunResult]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ExecutorError(
            "executor: dask needs the distributed package (pip install distributed)"
        ) from None
    try:
        client = Client(address, timeout="15s", set_as_default=False)
    except OSError as exc:
        raise ExecutorError(
            f"executor: cannot reach the Dask scheduler at {address}: {exc}"
        ) from None
    futures = [
        client.submit(compute_block, b, threads or 1, key=f"benign-block-{b.block_id}", pure=False)
        for b in blocks
    ]
    try:
        for f in as_completed(futures):
            yield f.result()
    finally:
        client.cancel(futures)
        client.close()


def execute(
    blocks: list[Block],
    executor: str = "local",
    workers: int | None = None,
    threads: int | None = None,
) -> Iterator[list[RunResult]]:
    """Compute the blocks on the executor; yields each block's results as it finishes."""
    address = check_executor(executor)
    if address is None:
        return _local(blocks, workers or os.cpu_count() or 1, threads)
    return _dask(blocks, address, threads)


@dataclass
class SweepProgress:
    """Where a sweep stands: runs stored of those to compute, and how many failed."""

    done: int
    total: int
    failed: int


def run_sweep(
    sweep: Sweep,
    store: Store,
    executor: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    retry_failed: bool = False,
    command: str = "",
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepProgress:
    """Compute the sweep's runs that the store lacks (and its failed ones if ``retry_failed``),
    each block on the executor, storing every run as it arrives."""
    check_executor(executor)
    store.plan(sweep, command)
    wanted = ("pending", "failed") if retry_failed else ("pending",)
    status = store.statuses(r.run_id for r in sweep.runs)
    todo = {rid for rid, s in status.items() if s in wanted}
    blocks = [b for b in sweep.blocks() if any(r.run_id in todo for r in b.runs)]
    state = SweepProgress(0, len(todo), 0)
    if progress:
        progress(state)
    for results in execute(blocks, executor, workers, threads):
        for res in results:
            if res.run_id in todo:  # a block recomputed for its missing runs: keep the others
                store.put(res)
                state.done += 1
                state.failed += res.failure is not None
        if progress:
            progress(state)
    return state
