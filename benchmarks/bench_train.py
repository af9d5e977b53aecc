"""Time one full-batch GD step of the two-layer ReLU net: plain PyTorch loop vs ``benign.train``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_train.py           # full run, 30-50 s on the dev machine
    .venv/bin/python benchmarks/bench_train.py --quick   # smoke run, under 30 s

Implementations, all timed in the same process and interleaved repeat by repeat:

- ``baseline``: ``nn.Linear(d, width) + ReLU + nn.Linear(width, 1, bias=False)``, autograd,
  ``torch.optim.SGD``; one network at a time, K steps each, looped over E networks;
- ``benign_constant``: ``benign.train.train`` with ``step_rule="constant"`` on an ensemble of E
  networks (the real loop: per-network stopping rules, history, bookkeeping), divided by K·E;
- ``benign_normalised``: the same with ``step_rule="normalised"`` (η_t ∇L / L with acceptance).

All in float64 with the logistic loss; time is reported per network-step in microseconds.
"""

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from _machine import cpu_model
from torch import Tensor, nn

from benign.nets import Params, ReLUNet
from benign.train import TrainConfig, train

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SHAPES: tuple[tuple[int, int, int], ...] = ((1, 100, 1000), (20, 200, 1000), (20, 200, 200))
ENSEMBLES: tuple[int, ...] = (1, 4, 8, 16)
IMPLS: tuple[str, ...] = ("baseline", "benign_constant", "benign_normalised")
LR_CONSTANT = 0.5
LR_NORMALISED = 0.1
FLIP = 0.1


@dataclass(frozen=True)
class Settings:
    """Run length: GD steps per timed call, timed repeats, ensemble sizes."""

    steps: int
    repeats: int
    warmup_steps: int
    ensembles: tuple[int, ...]


FULL = Settings(steps=20, repeats=5, warmup_steps=5, ensembles=ENSEMBLES)
QUICK = Settings(steps=10, repeats=3, warmup_steps=2, ensembles=(1, 4))


class TwoLayer(nn.Module):
    """N(x) = Σ_j v_j relu(w_j·x + b_j) as a plain module."""

    def __init__(self, d: int, width: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(d, width, dtype=torch.float64)
        self.out = nn.Linear(width, 1, bias=False, dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:
        """Outputs of shape (m,)."""
        return self.out(torch.relu(self.hidden(x))).squeeze(-1)


def make_data(n_net: int, m: int, d: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """x (E, m, d): uniform on [0, 1] (d = 1) or on the unit sphere; y = +1 with 10% flipped."""
    rng = np.random.default_rng(seed)
    if d == 1:
        x = rng.uniform(0.0, 1.0, size=(n_net, m, 1))
    else:
        z = rng.standard_normal((n_net, m, d))
        x = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.where(rng.random((n_net, m)) < FLIP, -1.0, 1.0)
    return torch.as_tensor(x), torch.as_tensor(y)


def baseline_models(params: Params, d: int, width: int) -> list[TwoLayer]:
    """One module per network, with the same initial parameters as the benign ensemble."""
    w1, b1, w2 = params
    models = []
    for e in range(w1.shape[0]):
        model = TwoLayer(d, width)
        with torch.no_grad():
            model.hidden.weight.copy_(w1[e])
            model.hidden.bias.copy_(b1[e])
            model.out.weight.copy_(w2[e])
        models.append(model)
    return models


def run_baseline(models: list[TwoLayer], x: Tensor, y: Tensor, steps: int, lr: float) -> None:
    """K plain SGD steps on the mean logistic loss, one network after the other."""
    for e, model in enumerate(models):
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        xe, ye = x[e], y[e]
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.softplus(-ye * model(xe)).mean()
            loss.backward()
            opt.step()


def run_benign(
    net: ReLUNet, params: Params, x: Tensor, y: Tensor, steps: int, rule: str, lr: float
) -> Params:
    """``benign.train`` for exactly K steps (loss_tol tiny so that nothing converges early)."""
    config = TrainConfig(step_rule=rule, lr=lr, max_steps=steps, loss_tol=1e-300)
    result = train(net, params, x, y, config)
    if not (np.all(result.steps == steps) and set(result.stop_reason) == {"step_budget"}):
        raise RuntimeError(f"benign.train stopped early: {result.stop_reason}, {result.steps}")
    return result.params


def time_call(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call (CPU time counts every thread)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def check_equivalence(d: int, m: int, width: int, steps: int) -> float:
    """Max |θ_benign − θ_baseline| after K constant steps from the same init (2 networks)."""
    net = ReLUNet(d, width, depth=2)
    x, y = make_data(2, m, d, seed=1)
    params = net.init_params([10, 11])
    final = run_benign(net, params, x, y, steps, "constant", LR_CONSTANT)
    models = baseline_models(params, d, width)
    run_baseline(models, x, y, steps, LR_CONSTANT)
    diff = 0.0
    for e, model in enumerate(models):
        ref = (model.hidden.weight, model.hidden.bias, model.out.weight)
        for p, r in zip(final, ref, strict=True):
            diff = max(diff, float((p[e] - r.detach()).abs().max()))
    return diff


def bench_case(d: int, m: int, width: int, n_net: int, s: Settings) -> dict[str, object]:
    """Per-network-step times (µs) of every implementation for one shape and ensemble size."""
    net = ReLUNet(d, width, depth=2)
    x, y = make_data(n_net, m, d)
    params = net.init_params(list(range(n_net)))

    def call(impl: str, steps: int) -> Callable[[], object]:
        if impl == "baseline":
            models = baseline_models(params, d, width)  # fresh modules, built outside the timing
            return lambda: run_baseline(models, x, y, steps, LR_CONSTANT)
        rule, lr = (
            ("constant", LR_CONSTANT)
            if impl == "benign_constant"
            else ("normalised", LR_NORMALISED)
        )
        return lambda: run_benign(net, params, x, y, steps, rule, lr)

    for impl in IMPLS:  # warm-up
        call(impl, s.warmup_steps)()
    samples: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    cpu: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    per = 1e6 / (s.steps * n_net)
    for r in range(s.repeats):
        order = IMPLS[r % len(IMPLS) :] + IMPLS[: r % len(IMPLS)]  # rotate: spread out noise
        for impl in order:
            wall, cpu_s = time_call(call(impl, s.steps))
            samples[impl].append(wall * per)
            cpu[impl].append(cpu_s * per)
    med = {impl: statistics.median(samples[impl]) for impl in IMPLS}
    best = {impl: min(samples[impl]) for impl in IMPLS}
    row: dict[str, object] = {"d": d, "m": m, "width": width, "E": n_net}
    for impl in IMPLS:
        row[f"{impl}_us"] = med[impl]
        row[f"{impl}_min_us"] = best[impl]
        row[f"{impl}_cpu_us"] = statistics.median(cpu[impl])
        row[f"{impl}_samples_us"] = [round(t, 1) for t in samples[impl]]
    row["speedup_constant"] = med["baseline"] / med["benign_constant"]
    row["speedup_normalised"] = med["baseline"] / med["benign_normalised"]
    row["speedup_constant_min"] = best["baseline"] / best["benign_constant"]
    row["speedup_normalised_min"] = best["baseline"] / best["benign_normalised"]
    return row


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other processes on the machine skew the timings)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def git_revision() -> str:
    """HEAD of the checkout, with ``+dirty`` when src/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def machine_info(threads: int) -> dict[str, object]:
    """What the numbers were measured on."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "dtype": "float64",
        "git": git_revision(),
    }


def print_table(rows: list[dict[str, object]]) -> None:
    """µs per network-step (median over repeats) and speed-ups baseline / benign.

    The speed-ups are given from the medians and from the minima over repeats; the minimum is
    the least disturbed by other processes on a shared machine.
    """
    head = (
        f"{'d':>3} {'m':>4} {'width':>5} {'E':>3} | {'baseline':>9} {'constant':>9} "
        f"{'normalised':>10} | {'x const':>7} {'x norm':>7} | {'min: x const':>12} {'x norm':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['d']:>3} {r['m']:>4} {r['width']:>5} {r['E']:>3} | "
            f"{r['baseline_us']:>9.0f} {r['benign_constant_us']:>9.0f} "
            f"{r['benign_normalised_us']:>10.0f} | "
            f"{r['speedup_constant']:>7.2f} {r['speedup_normalised']:>7.2f} | "
            f"{r['speedup_constant_min']:>12.2f} {r['speedup_normalised_min']:>7.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (E in {1, 4}, K = 10)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)

    s = QUICK if args.quick else FULL
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    out = args.out or RESULTS_DIR / ("train_step_quick.json" if args.quick else "train_step.json")
    info = machine_info(threads)
    info["load_average_before"] = load_average()
    print(
        f"torch {info['torch']}, {threads} threads, {info['cpu_model']}, float64, "
        f"K = {s.steps} steps, {s.repeats} repeats, load {info['load_average_before']}",
        flush=True,
    )
    if info["load_average_before"] and info["load_average_before"][0] >= 0.5:
        print(
            "warning: the machine is busy (load average above); timings will be inflated, "
            "multi-threaded ones most (try --threads 1 for a steadier comparison)",
            flush=True,
        )

    t_start = time.perf_counter()
    diff = check_equivalence(20, 50, 64, steps=5)
    print(f"benign constant rule vs baseline SGD after 5 steps: max |Δθ| = {diff:.1e}", flush=True)
    rows = []
    for d, m, width in SHAPES:
        for n_net in s.ensembles:
            rows.append(bench_case(d, m, width, n_net, s))
            print(f"  d={d} m={m} width={width} E={n_net} done", file=sys.stderr, flush=True)
    info["load_average_after"] = load_average()
    info["wall_seconds"] = round(time.perf_counter() - t_start, 1)

    print()
    print_table(rows)
    print(f"\nmedian µs per network-step; x = baseline / benign; {info['wall_seconds']} s total")
    payload = {
        "benchmark": "train_step",
        "command": " ".join(
            ["benchmarks/bench_train.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "unit": "microseconds per network-step; *_us median, *_min_us minimum over repeats, "
        "*_cpu_us median process CPU time (all threads)",
        "settings": asdict(s),
        "lr": {"constant": LR_CONSTANT, "normalised": LR_NORMALISED},
        "loss": "logistic",
        "label_flip": FLIP,
        "max_param_diff_constant_vs_baseline": diff,
        "machine": info,
        "results": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
