"""Can gradient descent interpolate noisy 1-D data? Remedies tried; the steps lazy GD needs.

Run from the repository root::

    .venv/bin/python benchmarks/gd_1d.py           # ~15 min on 2 cores
    .venv/bin/python benchmarks/gd_1d.py --quick   # m = 30 only, 2 seeds, 2,000 steps

x uniform on [0, 1], clean label +1, labels flipped with probability p = 0.2, the two-layer ReLU
net with bias, width 500, lecun init (the defaults of ``benign run --method gd``). Per m ∈ {30,
100, 300} and seed:

- **the lazy step count** of the initial empirical NTK Θ̂_0 (``benign.nets.empirical_ntk``):
  under the square loss, GD with the largest stable step 1/λ_max fits the labels y after about
  S = yᵀ Θ̂_0⁺ y · λ_max / m steps while the kernel stays put (the residual along eigenvector k
  falls by (1 − λ_k/λ_max) per step; S weighs each label component by the steps it takes), and
  cannot fit the part of y in the null space of Θ̂_0 at all (``null``: eigenvalues below
  1e-12 λ_max; three points with no kink between them make Θ̂_0 singular);
- **GD as shipped** (``benign run --method gd``, normalised steps, 20,000 steps) and **lazy GD**
  (``--init-scale 16 --step-rule kernel --lr 4``: the kernel barely moves);
- **two remedies for the stall at ReLU kinks**, written here and not shipped, on the same law
  and init but the samples of this script's own generator: *perturb* (normalised GD; each time
  no step lowers the loss, every kink is moved at random, w ← w(1 + ρξ), b ← b + ρ|w|ξ′, ρ =
  0.01, up to 200 times) and *softplus* (the ReLU replaced by softplus_β(z) = log(1 + e^{βz})/β,
  β = 30, fixed: in the 2-homogeneous net the smoothing relative to the pre-activations shrinks
  as the weights grow; interpolation is checked on the ReLU net at every step).

Results go to ``benchmarks/results/gd_1d.json`` (``--quick``: the temporary directory) with the
machine info; a table is printed.
"""

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from _machine import machine_info

from benign.config import RunConfig
from benign.nets import ReLUNet, empirical_ntk

ROOT = Path(__file__).resolve().parent.parent
BENIGN = ROOT / ".venv" / "bin" / "benign"
P, WIDTH, STEPS = 0.2, 500, 20_000
MS = (30, 100, 300)
RHO, MAX_PERTURB, BETA = 0.01, 200, 30.0
CLI_VARIANTS = {
    "gd (shipped)": ("--method", "gd"),
    "lazy gd": ("--method", "gd", "--init-scale", "16", "--step-rule", "kernel", "--lr", "4"),
}


def lazy_steps(m: int, seeds: int) -> list[dict]:
    """S = yᵀ Θ̂_0⁺ y · λ_max / m and the null-space size of Θ̂_0, per seed (sample and init of
    ``benign run --seed s``)."""
    net = ReLUNet(1, WIDTH)
    config = RunConfig(dist="interval", d=1, m=m, p=P, width=WIDTH)
    out = []
    for seed in range(seeds):
        s = config.sample(seed)
        params = net.init_params([seed])
        kernel = empirical_ntk(net, params, torch.as_tensor(s.x)[None])[0].numpy()
        lam, vec = np.linalg.eigh(kernel)
        keep = lam > 1e-12 * lam[-1]
        c = vec.T @ s.y
        steps = float(np.sum(c[keep] ** 2 / lam[keep]) * lam[-1] / m)
        out.append({"seed": seed, "steps": steps, "null": int((~keep).sum())})
    return out


def cli(label: str, m: int, seeds: int, steps: int) -> dict:
    """One ``benign run`` of a shipped variant: shares interpolated and certified."""
    cmd = [str(BENIGN), "run", "--dist", "interval", "--d", "1", "--m", str(m), "--p", str(P)]
    cmd += ["--width", str(WIDTH), "--seeds", str(seeds), "--steps", str(steps), "--json"]
    cmd += list(CLI_VARIANTS[label])
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{proc.stderr}")
    recs = json.loads(proc.stdout)["records"]
    return {
        "command": shlex.join(["benign", *cmd[1:]]),
        "interpolated": sum(r["interpolated"] for r in recs),
        "certified": sum(r["certified"] for r in recs),
        "train_error_is_flip_rate": sum(r["train_error"] == r["flip_rate"] for r in recs),
        "stops": dict(Counter(r["stop_reason"] for r in recs)),
    }


def remedy(kind: str, m: int, seed: int, steps: int) -> dict:
    """Normalised GD (η = 0.5, backtracking as ``benign.training``) with one remedy; whether the
    ReLU net interpolates within ``steps`` trials."""
    r = np.random.default_rng([seed, m])
    x = torch.as_tensor(np.sort(r.uniform(0, 1, m)))
    y = torch.as_tensor(np.where(r.random(m) < P, -1.0, 1.0))
    w, b = (torch.as_tensor(r.normal(0, math.sqrt(0.5), WIDTH)) for _ in range(2))
    v = torch.as_tensor(r.normal(0, math.sqrt(1 / WIDTH), WIDTH))
    theta = [t.requires_grad_() for t in (w, b, v)]

    def act(z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(z, beta=BETA) if kind == "softplus" else z.relu()

    def log_loss() -> torch.Tensor:
        q = y * (act(x[:, None] * theta[0] + theta[1]) @ theta[2])
        return torch.logsumexp(torch.log(torch.nn.functional.softplus(-q)), 0)

    eta, step, perturbed = 0.5, 0, 0
    while step < steps:
        with torch.no_grad():
            if (y * ((x[:, None] * theta[0] + theta[1]).relu() @ theta[2]) > 0).all():
                return {"interpolated": True, "steps": step, "perturbed": perturbed}
        current = log_loss()
        grads = torch.autograd.grad(current, theta)  # ∇ log L = ∇L / L: the normalised step
        start = [t.detach().clone() for t in theta]
        with torch.no_grad():
            while step < steps:
                step += 1
                for t, t0, g in zip(theta, start, grads, strict=True):
                    t.copy_(t0 - eta * g)
                if log_loss() < current:
                    eta = min(1.2 * eta, 0.5)
                    break
                eta /= 2
                if eta < 0.5e-12:
                    break
            if eta < 0.5e-12:
                if kind != "perturb" or perturbed == MAX_PERTURB:
                    return {"interpolated": False, "steps": step, "perturbed": perturbed}
                perturbed, eta = perturbed + 1, 0.5
                theta[0].mul_(1 + RHO * torch.as_tensor(r.standard_normal(WIDTH)))
                theta[1].add_(RHO * theta[0].abs() * torch.as_tensor(r.standard_normal(WIDTH)))
    return {"interpolated": False, "steps": step, "perturbed": perturbed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="m = 30, 2 seeds, 2,000 steps")
    parser.add_argument("--out", type=Path, default=None, help="output JSON path")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ms, seeds, steps = ((30,), 2, 2000) if args.quick else (MS, 6, STEPS)
    out_path = args.out or (
        Path(tempfile.gettempdir()) / "gd_1d_quick.json"
        if args.quick
        else ROOT / "benchmarks" / "results" / "gd_1d.json"
    )
    t0 = time.perf_counter()
    rows = []
    for m in ms:
        row: dict = {"m": m, "p": P, "width": WIDTH, "seeds": seeds, "steps": steps}
        row["lazy_steps"] = lazy_steps(m, seeds)
        for label in CLI_VARIANTS:
            row[label] = cli(label, m, seeds, steps)
        for kind in ("perturb", "softplus"):
            row[kind] = [remedy(kind, m, seed, steps) for seed in range(seeds)]
        rows.append(row)
        print(f"[{time.perf_counter() - t0:6.0f} s] m = {m} done", file=sys.stderr, flush=True)
    info = machine_info()
    info["total_seconds"] = time.perf_counter() - t0
    info["load_avg_end"] = list(os.getloadavg())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"machine": info, "results": rows}, indent=1) + "\n")
    print("| m | lazy steps S (median [min–max]) | null | gd | lazy gd | perturb | softplus |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        s = sorted(e["steps"] for e in row["lazy_steps"])
        null = sum(e["null"] > 0 for e in row["lazy_steps"])
        cells = [f"{row[k]['interpolated']}/{seeds}" for k in CLI_VARIANTS]
        for kind in ("perturb", "softplus"):
            cells.append(f"{sum(e['interpolated'] for e in row[kind])}/{seeds}")
        print(
            f"| {row['m']} | {np.median(s):.1e} [{s[0]:.1e}–{s[-1]:.1e}] | {null}/{seeds} | "
            + " | ".join(cells)
            + " |"
        )
    print(f"\ntotal {info['total_seconds']:.0f} s; written {out_path}")


if __name__ == "__main__":
    main()
