"""Where the time of a default `benign run --method gd` goes: cProfile of run_experiment on
16 networks with the default settings (d = 20, m = 200, width 200, the normalised rule, up to
20,000 steps, stopped at the loss tolerance), one thread; prints the share of each part.

    .venv/bin/python benchmarks/profile_run.py [--method convex] [--seeds 16]
"""

import argparse
import cProfile
import pstats

import torch
from threadpoolctl import threadpool_limits

from benign.config import RunConfig
from benign.run import run_experiment

PARTS = {  # (file suffix, function) → the part it stands for; cumulative times
    "whole run": ("run.py", "run_block"),
    "training (all of train)": ("train.py", "train"),
    "  fused forward": ("fused.py", "_forward"),
    "  fused vector-Jacobian product": ("fused.py", "_vjp"),
    "  certificate checks during training": ("train.py", "_certify_due"),
    "  history (movement, NTK, flips)": ("train.py", "record"),
    "  loss terms": ("train.py", "loss_terms"),
    "measures after training": ("run.py", "measure"),
    "  certificate (all calls)": ("certify.py", "certify"),
    "  clean error": ("clean_error.py", "clean_error"),
    "convex solves": ("run.py", "solve_convex"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="gd")
    ap.add_argument("--seeds", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = RunConfig(method=args.method)
    with threadpool_limits(1):
        run_experiment(RunConfig(method=args.method, steps=20, m=20), [0, 1])  # warm-up
        profile = cProfile.Profile()
        exp = profile.runcall(run_experiment, config, list(range(args.seeds)))
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    cum = {}
    for (file, _, name), (_, _, _, ct, _) in stats.items():
        for part, (suffix, fn) in PARTS.items():
            if file.endswith(suffix) and name == fn:
                cum[part] = cum.get(part, 0.0) + ct
    total = cum["whole run"]
    steps = [r.steps for r in exp.records]
    print(f"{args.seeds} networks, {config.resolved_method}, steps {min(steps)}–{max(steps)}")
    for part in PARTS:
        if part in cum:
            print(f"{part:40s} {cum[part]:7.2f} s {100 * cum[part] / total:5.0f}%")


if __name__ == "__main__":
    main()
