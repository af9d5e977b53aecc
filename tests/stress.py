"""The kill campaign of ``make stress``: a sweep killed again and again, resumed every time.

Kills, each kind as often as the others, in a random order and at random moments (a seeded
generator): kill -9 of the coordinator, kill -9 of one worker (also while the pool starts),
SIGTERM and SIGINT of the coordinator, on the local pool; kill -9 and SIGTERM of the
coordinator and kill -9 of a worker process on a Dask cluster of two nanny-managed workers.
After each, the exit code and the message are checked, no process of the killed sweep may be
left alive, and the same command resumes. Every completed store must hold
each run once with values equal to an uninterrupted sweep's. The results go to a JSON file.

    python tests/stress.py [--kills 24] [--dask-kills 8] [--seed 1] [--out stress.json]
"""

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path

import psutil
from helpers import free_port, stored_count, without_progress

from benign.sweep.store import stored_values

PRESET = resources.files("benign") / "presets" / "quick.toml"
RUNS = 200  # in the quick preset
# what the coordinator's exit code and last line must be after each kind of kill
EXPECTED = {
    "coordinator SIGKILL": (-9, None),
    "coordinator SIGTERM": (143, "run the same command to resume"),
    "coordinator SIGINT": (130, "run the same command to resume"),
    "worker SIGKILL": (1, "a worker process died"),
    "worker SIGKILL at start-up": (1, "a worker process died"),
}
LOCAL_KILLS = list(EXPECTED)
DASK_KILLS = ["coordinator SIGKILL", "coordinator SIGTERM", "dask worker SIGKILL"]


def sweep_command(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "benign", "sweep", str(config), *extra]


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def workers_of(proc: psutil.Process, name: str) -> list[psutil.Process]:
    """Descendants of ``proc`` whose command line contains ``name``."""
    try:
        kids = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for k in kids:
        try:
            if name in " ".join(k.cmdline()):
                found.append(k)
        except psutil.NoSuchProcess:
            pass
    return found


def one_kill(
    kind: str, command: list[str], store: Path, rng: random.Random, dask_workers=()
) -> dict:
    """Start the sweep, kill it as ``kind`` says at a random moment, wait for it to end, and
    check what it said and that nothing of it is left. Returns what happened."""
    before = stored_count(store)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    deadline = time.monotonic() + 300
    target = before + rng.randint(1, 30)
    if kind == "worker SIGKILL at start-up":  # as soon as the pool's first process exists
        while not workers_of(ps, "spawn_main") and proc.poll() is None:
            time.sleep(0.005)
    else:
        while stored_count(store) < target and proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind}: no progress in 300 s")
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.3))
    tree = alive(ps.children(recursive=True)) if proc.poll() is None else []
    if proc.poll() is not None:  # it finished first
        proc.communicate()
        return {"kind": "none (finished first)", "code": proc.returncode, "stored": before}
    if kind.startswith("coordinator"):
        proc.send_signal(getattr(signal, kind.split()[1]))
    elif kind.startswith("dask worker"):
        rng.choice(dask_workers()).kill()
    else:
        victims = workers_of(ps, "spawn_main")
        rng.choice(victims).kill()
    try:
        _, errs = proc.communicate(timeout=120)  # returns once no process holds its pipes
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"{kind}: the sweep or a holder of its output runs on") from None
    code, line = EXPECTED.get(kind, (None, None))
    if kind == "dask worker SIGKILL":  # the scheduler reassigns its blocks: the sweep goes on
        code, line = 0, None
    problems = []
    if code is not None and proc.returncode != code:
        problems.append(f"exit code {proc.returncode}, expected {code}")
    lines = without_progress(errs)
    if line is not None and (len(lines) != 1 or line not in lines[0]):
        problems.append(f"stderr {errs!r}")
    if "Traceback" in errs:
        problems.append(f"a traceback: {errs}")
    deadline = time.monotonic() + 15
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = alive(tree)
    if left:
        problems.append(f"{len(left)} processes left: {[p.pid for p in left]}")
        for p in left:
            p.kill()
    return {
        "kind": kind,
        "code": proc.returncode,
        "stored_before": before,
        "stored_after": stored_count(store),
        "processes_left": len(left),
        "problems": problems,
    }


def campaign(
    directory: Path,
    reference: dict,
    kinds: list[str],
    kills: int,
    rng: random.Random,
    extra: tuple[str, ...] = ("--workers", "2"),
    dask_workers=(),
) -> dict:
    """``kills`` kills of the kinds given, each resumed; a store completed is compared with the
    reference and the campaign goes on in a new one."""
    config = directory / "quick.toml"
    config.write_text(PRESET.read_text())
    store = directory / "quick.sqlite"
    events, passes, unequal = [], 0, 0
    # every kind as often as the others (to one), in a random order
    plan = (kinds * (kills // len(kinds) + 1))[:kills]
    rng.shuffle(plan)
    while len([e for e in events if e["kind"] != "none (finished first)"]) < kills:
        kind = plan[len([e for e in events if e["kind"] != "none (finished first)"])]
        event = one_kill(kind, sweep_command(config, *extra), store, rng, dask_workers)
        events.append(event)
        print(f"  {event['kind']}: exit {event['code']}, {stored_count(store)} stored", flush=True)
        if stored_count(store) == RUNS or event["kind"] == "none (finished first)":
            finish = subprocess.run(sweep_command(config, *extra), capture_output=True, text=True)
            assert finish.returncode == 0, finish.stderr
            passes += 1
            unequal += stored_values(store) != reference
            store.unlink()
    finish = subprocess.run(sweep_command(config, *extra), capture_output=True, text=True)
    assert finish.returncode == 0, finish.stderr
    passes += 1
    unequal += stored_values(store) != reference
    return {
        "kills": Counter(e["kind"] for e in events if e["kind"] != "none (finished first)"),
        "completed_stores": passes,
        "stores_unequal_to_reference": unequal,
        "processes_left": sum(e.get("processes_left", 0) for e in events),
        "problems": [p for e in events for p in e.get("problems", [])],
    }


def dask_campaign(directory: Path, reference: dict, kills: int, rng: random.Random) -> dict:
    """The campaign on a `dask scheduler` with two nanny-managed `dask worker` processes."""
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    assert dask, "the dask command line is not installed"
    port = free_port()
    logs = open(directory / "dask.log", "w")  # noqa: SIM115 (closed below)
    common = dict(cwd=directory, stdout=logs, stderr=subprocess.STDOUT)
    host = ["--host", "127.0.0.1", "--no-dashboard"]
    procs = [subprocess.Popen([dask, "scheduler", "--port", str(port), *host], **common)]
    try:
        for _ in range(2):
            worker = [dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", *host]
            procs.append(subprocess.Popen([*worker, "--local-directory", str(directory)], **common))
        time.sleep(5)

        def dask_workers() -> list[psutil.Process]:  # the processes the nannies started
            return [k for p in procs[1:] for k in psutil.Process(p.pid).children(recursive=True)]

        return campaign(
            directory,
            reference,
            DASK_KILLS,
            kills,
            rng,
            ("--executor", f"dask://127.0.0.1:{port}"),
            dask_workers,
        )
    finally:
        everything = [psutil.Process(p.pid) for p in procs]
        everything += [k for p in everything for k in p.children(recursive=True)]
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()
        deadline = time.monotonic() + 15
        while alive(everything) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(everything)
        assert not left, f"the Dask cluster left processes behind: {[p.cmdline() for p in left]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=24, help="kills on the local pool")
    parser.add_argument("--dask-kills", type=int, default=8, help="kills on a Dask cluster")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("stress.json"))
    args = parser.parse_args()
    # started in the background (`make stress &`), this process ignores SIGINT, and so would
    # every sweep it starts: a handler here is reset to the default in them
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(args.seed)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ref").mkdir()
        (root / "ref" / "quick.toml").write_text(PRESET.read_text())
        print("reference: an uninterrupted sweep", flush=True)
        r = subprocess.run(sweep_command(root / "ref" / "quick.toml", "--workers", "2"))
        assert r.returncode == 0
        reference = stored_values(root / "ref" / "quick.sqlite")
        results = {}
        print(f"local pool: {args.kills} kills", flush=True)
        (root / "local").mkdir()
        results["local"] = campaign(root / "local", reference, LOCAL_KILLS, args.kills, rng)
        if args.dask_kills:
            print(f"dask: {args.dask_kills} kills", flush=True)
            (root / "dask").mkdir()
            results["dask"] = dask_campaign(root / "dask", reference, args.dask_kills, rng)
        stray = [p.pid for p in psutil.process_iter() if tmp in " ".join(_cmdline(p))]
    results["processes_left_at_the_end"] = len(stray)
    results["seconds"] = round(time.perf_counter() - start, 1)
    args.out.write_text(json.dumps(results, indent=2, default=dict) + "\n")
    problems = [p for part in ("local", "dask") for p in results.get(part, {}).get("problems", [])]
    print(json.dumps(results, indent=2, default=dict))
    if (
        problems
        or stray
        or any(v["stores_unequal_to_reference"] for k, v in results.items() if isinstance(v, dict))
    ):
        sys.exit(1)


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


if __name__ == "__main__":
    main()
