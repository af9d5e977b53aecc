"""One GD step of the two-layer ReLU net, per network: a plain PyTorch loop against benign's
passes (fused and torch) and its whole training loop, with the machine's matmul peak.

Run from the repository root (or through ``python -m benchmarks``)::

    .venv/bin/python benchmarks/bench_train.py           # full run, a few minutes
    .venv/bin/python benchmarks/bench_train.py --quick   # smoke run, under a minute

Everything runs with one thread (PyTorch's and the BLAS's), as a sweep's worker does, in one
process, interleaved repeat by repeat; medians over the repeats. Per shape (d, m, width):

- ``plain``: ``nn.Linear(d, width) + ReLU + nn.Linear(width, 1, bias=False)``, autograd,
  ``torch.optim.SGD`` on the mean logistic loss; one network at a time, K steps each;
- ``fused`` / ``torch``: the bare step of benign's passes (benign.fused.FusedTwoLayer, and
  ReLUNet's own) on an ensemble of E networks: forward, loss slopes, vector-Jacobian product,
  θ ← θ − η ∇L — the plain loop's arithmetic; ``fused`` only where benign.training.fuses;
- ``train``: ``benign.training.train`` with the constant rule for K steps on the same ensemble,
  with its default passes: stopping rules, thinned history (kernel movement, activation flips)
  included. Its overhead is train / bare step − 1.

The final parameters of every variant are compared with the plain loop's (relative max
difference over the networks compared). GFLOP/s counts the multiply-adds of a step
(:func:`flops`: 4·m·width·(d + 1) per network-step, 6·m·width·(d + 1) for the fused passes,
which compute the pre-activations twice) against the peak of ``torch.matmul`` on 1000 × 1000
float64 matrices, measured in the run.
"""

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _machine import machine_info
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from benign.fused import FusedTwoLayer
from benign.nets import Params, ReLUNet
from benign.training import TrainConfig, fuses, loss_terms, train

RESULTS = Path(__file__).resolve().parent / "results" / "train_step.json"
LR = 0.05  # stable: at 0.1–0.5 (d = 1) GD oscillates and rounding differences grow
FLIP = 0.1
# (d, m, width, E, K): ensembles of benign's default block, K steps per timed call
SHAPES = [(1, 100, 1000, 16, 400), (20, 200, 1000, 16, 40), (1000, 100, 2000, 1, 10)]
SHAPES += [(20, 200, 200, 16, 200)]
# where the fused passes stop paying (benign.training.FUSED_MAX_D): (d, m, width), E = 16
CROSSOVER = [(2, 20, 20), (20, 20, 20), (5, 100, 100), (20, 100, 100), (50, 100, 100)]
CROSSOVER += [(50, 200, 1000)]
PLAIN_NETS = 2  # networks of the plain loop per timed call
TRAIN_STEPS = 2000  # the whole loop's overhead at the first shape, over a longer run


class TwoLayer(nn.Module):
    """N(x) = Σ_j v_j relu(w_j·x + b_j) as a plain module."""

    def __init__(self, d: int, width: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(d, width, dtype=torch.float64)
        self.out = nn.Linear(width, 1, bias=False, dtype=torch.float64)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.hidden(x))).squeeze(-1)


def make_data(n_net: int, m: int, d: int) -> tuple[Tensor, Tensor]:
    """x (E, m, d): uniform on [0, 1] (d = 1) or on the unit sphere; y = +1 with 10% flipped."""
    rng = np.random.default_rng(0)
    if d == 1:
        x = rng.uniform(0.0, 1.0, size=(n_net, m, 1))
    else:
        z = rng.standard_normal((n_net, m, d))
        x = z / np.linalg.norm(z, axis=-1, keepdims=True)
    return torch.as_tensor(x), torch.as_tensor(np.where(rng.random((n_net, m)) < FLIP, -1.0, 1.0))


def plain_loop(params: Params, x: Tensor, y: Tensor, steps: int, nets: int) -> Params:
    """K SGD steps of the plain module on each of the first ``nets`` networks."""
    out: list[list[Tensor]] = [[], [], []]
    for e in range(nets):
        model = TwoLayer(x.shape[2], params[0].shape[1])
        with torch.no_grad():
            for p, src in zip(model.parameters(), params, strict=True):
                p.copy_(src[e])
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.softplus(-y[e] * model(x[e])).mean().backward()
            opt.step()
        for k, p in enumerate(model.parameters()):
            out[k].append(p.detach().clone())
    return [torch.stack(t) for t in out]


def bare_steps(net: ReLUNet, params: Params, x: Tensor, y: Tensor, steps: int, passes: str):
    """K steps θ ← θ − η ∇L of benign's passes on the whole ensemble."""
    fwd = FusedTwoLayer(net) if passes == "fused" else net  # (any d: the crossover)
    params = [p.clone() for p in params]
    for _ in range(steps):
        out, cache = fwd.forward(params, x)
        log_loss, dq = loss_terms(y * out, "logistic")
        grads = fwd.vjp(params, cache, y * dq * torch.exp(log_loss).unsqueeze(-1))
        for p, g in zip(params, grads, strict=True):
            p.sub_(LR * g)
    return params


def whole_train(net: ReLUNet, params: Params, x: Tensor, y: Tensor, steps: int) -> Params:
    config = TrainConfig(step_rule="constant", lr=LR, max_steps=steps, loss_tol=1e-300)
    result = train(net, params, x, y, config)
    if set(result.stop_reason) != {"step_budget"}:
        raise RuntimeError(f"benign.training stopped early: {result.stop_reason}")
    return result.params


def rel_diff(a: Params, b: Params, nets: int) -> float:
    """max |a − b| / max |b| over the parameters of the first ``nets`` networks."""
    return max(float((p[:nets] - q).abs().max() / q.abs().max()) for p, q in zip(a, b, strict=True))


def matmul_peak(repeats: int) -> float:
    """GFLOP/s of float64 torch.matmul on 1000 × 1000 matrices (median)."""
    a = torch.randn(1000, 1000, dtype=torch.float64)
    a @ a
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t0)
    return 2e9 / statistics.median(times) / 1e9


def flops(passes: str, d: int, m: int, width: int) -> int:
    """Floating-point operations of one network-step: the pre-activations (2·m·width·(d + 1),
    twice for the fused passes) and the first layer's gradient (2·m·width·(d + 1))."""
    return (6 if passes == "fused" else 4) * m * width * (d + 1)


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def shape_case(d: int, m: int, width: int, n_net: int, steps: int, repeats: int) -> dict:
    """µs per network-step of each variant, GFLOP/s, and the parameters' agreement."""
    net = ReLUNet(d, width)
    x, y = make_data(n_net, m, d)
    params = net.init_params(list(range(n_net)))
    nets = min(PLAIN_NETS, n_net)
    calls: dict[str, tuple[Callable[[], Params], int]] = {
        "plain": (lambda: plain_loop(params, x, y, steps, nets), nets),
        "torch": (lambda: bare_steps(net, params, x, y, steps, "torch"), n_net),
        "train": (lambda: whole_train(net, params, x, y, steps), n_net),
    }
    if fuses(net, x.dtype, x.device):
        calls["fused"] = (lambda: bare_steps(net, params, x, y, steps, "fused"), n_net)
    finals = {name: fn() for name, (fn, _) in calls.items()}  # warm-up (Numba's cache) + check
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, count = calls[name]
            samples[name].append(1e6 * timed(fn) / (steps * count))
    us = {name: statistics.median(v) for name, v in samples.items()}
    bare = "fused" if "fused" in us else "torch"
    return {
        "d": d,
        "m": m,
        "width": width,
        "E": n_net,
        "steps": steps,
        "us": us,
        "samples_us": {k: [round(t, 1) for t in v] for k, v in samples.items()},
        "speedup": {k: us["plain"] / us[k] for k in us if k != "plain"},
        "passes": bare,
        "train_overhead": us["train"] / us[bare] - 1,
        "rel_diff_to_plain": {
            k: rel_diff(v, finals["plain"], nets) for k, v in finals.items() if k != "plain"
        },
    }


def crossover(d: int, m: int, width: int, steps: int, repeats: int) -> dict:
    """µs per network-step of the bare torch and fused steps, E = 16."""
    net = ReLUNet(d, width)
    x, y = make_data(16, m, d)
    params = net.init_params(list(range(16)))
    us = {}
    for passes in ("torch", "fused"):
        bare_steps(net, params, x, y, 2, passes)
        us[passes] = statistics.median(
            1e6 * timed(lambda p=passes: bare_steps(net, params, x, y, steps, p)) / (steps * 16)
            for _ in range(repeats)
        )
    return {"d": d, "m": m, "width": width, "us": us, "fused_speedup": us["torch"] / us["fused"]}


def run(quick: bool = False) -> dict:
    """The benchmark's results (one thread)."""
    repeats = 3 if quick else 5
    shapes = SHAPES[:1] + SHAPES[3:] if quick else SHAPES
    torch.set_num_threads(1)
    with threadpool_limits(1):
        peak = matmul_peak(repeats)
        rows = []
        for d, m, width, n_net, steps in shapes:
            steps = max(steps // 4, 5) if quick else steps
            rows.append(shape_case(d, m, width, n_net, steps, repeats))
            print(f"  step: d={d} m={m} width={width} E={n_net} done", file=sys.stderr, flush=True)
        d, m, width, n_net, _ = SHAPES[0]
        long_steps = TRAIN_STEPS // 4 if quick else TRAIN_STEPS
        net = ReLUNet(d, width)
        x, y = make_data(n_net, m, d)
        params = net.init_params(list(range(n_net)))
        cross = [crossover(*shape, 10 if quick else 40, repeats) for shape in CROSSOVER]
        whole_train(net, params, x, y, 20)
        train_s = statistics.median(
            timed(lambda: whole_train(net, params, x, y, long_steps)) for _ in range(3)
        )
        bare_s = statistics.median(
            timed(lambda: bare_steps(net, params, x, y, long_steps, "fused")) for _ in range(3)
        )
    return {
        "benchmark": "train_step",
        "threads": 1,
        "loss": "logistic",
        "lr": LR,
        "matmul_peak_gflops": peak,
        "results": rows,
        "crossover": cross,
        "long_run": {
            "d": d,
            "m": m,
            "width": width,
            "E": n_net,
            "steps": long_steps,
            "train_us": 1e6 * train_s / (long_steps * n_net),
            "bare_us": 1e6 * bare_s / (long_steps * n_net),
            "train_overhead": train_s / bare_s - 1,
        },
    }


def table(result: dict) -> str:
    """The markdown table of docs/performance.md."""
    lines = [
        "| (d, m, width) | E | K | plain | torch passes | fused passes | `train` | fused ÷ plain "
        "| GFLOP/s (% of peak) | `train` overhead over K steps | max rel. Δθ vs plain |",
        "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    ]
    peak = result["matmul_peak_gflops"]
    for r in result["results"]:
        us, bare = r["us"], r["passes"]
        fused = f"{us['fused']:.0f}" if "fused" in us else "—"
        ratio = f"{r['speedup']['fused']:.1f}×" if "fused" in us else "—"
        g = flops(bare, r["d"], r["m"], r["width"]) / us[bare] / 1e3
        lines.append(
            f"| ({r['d']}, {r['m']}, {r['width']}) | {r['E']} | {r['steps']} "
            f"| {us['plain']:.0f} | {us['torch']:.0f} | {fused} | {us['train']:.0f} | {ratio} "
            f"| {g:.1f} ({100 * g / peak:.0f}%, {bare}) | {100 * r['train_overhead']:.0f}% "
            f"| {max(r['rel_diff_to_plain'].values()):.0e} |"
        )
    long = result["long_run"]
    lines.append("")
    lines.append(
        f"µs per network-step, medians; one thread; matmul peak {peak:.1f} GFLOP/s. The "
        "history is dense in the first steps (every step to 10, then every 5%), so `train`'s "
        f"overhead over a short K is mostly its history. Over a {long['steps']}-step run at "
        f"({long['d']}, {long['m']}, {long['width']}), E = {long['E']}: `train` "
        f"{long['train_us']:.0f} µs, the bare fused step {long['bare_us']:.0f} µs, overhead "
        f"{100 * long['train_overhead']:.0f}%."
    )
    lines += ["", "| (d, m, width), E = 16 | torch passes | fused passes | fused ÷ torch |"]
    lines.append("| --- | --: | --: | --: |")
    for c in result.get("crossover", []):
        us = c["us"]
        lines.append(
            f"| ({c['d']}, {c['m']}, {c['width']}) | {us['torch']:.0f} | {us['fused']:.0f} "
            f"| {c['fused_speedup']:.2f}× |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two shapes, fewer steps and repeats")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    result = run(args.quick) | {"machine": machine_info()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
