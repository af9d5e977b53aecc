"""Start-up: wall time of ``benign --help``, ``benign --version``, ``benign run --help``,
``benign status --help``, of importing the analysis (``benign.regimes``), and of importing
PyTorch without and with a first fused step (Numba and its kernels loaded from the cache),
against the bare interpreter (``python -c pass``); each in a fresh process, medians of the
repeats, interleaved (``python -m benchmarks`` runs it, or this file alone).
"""

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine_info

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
TARGET_S = 0.5  # what `benign --help` and `--version` may take
FIRST_FUSED = (  # Numba and the compiled kernels, from the on-disk cache (warmed by run())
    "import torch\n"
    "from benign.fused import FusedTwoLayer\n"
    "from benign.nets import ReLUNet\n"
    "net = ReLUNet(2, 8)\n"
    "p, x = net.init_params([0]), torch.zeros(1, 4, 2, dtype=torch.float64)\n"
    "f = FusedTwoLayer(net)\n"
    "f.vjp(p, f.forward(p, x)[1], torch.zeros(1, 4, dtype=torch.float64))\n"
)


def commands() -> dict[str, list[str]]:
    benign = shutil.which("benign", path=str(Path(sys.executable).parent)) or "benign"
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "benign --version": [benign, "--version"],
        "benign --help": [benign, "--help"],
        "benign run --help": [benign, "run", "--help"],
        "benign status --help": [benign, "status", "--help"],
        "import benign.regimes": [sys.executable, "-c", "import benign.regimes"],
        "import torch": [sys.executable, "-c", "import torch"],
        "import torch, first fused step": [sys.executable, "-c", FIRST_FUSED],
    }


def run(quick: bool = False) -> dict:
    cmds, repeats = commands(), 3 if quick else 7
    subprocess.run(cmds["import torch, first fused step"], check=True)  # compiled once
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(repeats):
        for name, argv in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            samples[name].append(time.perf_counter() - t0)
    return {
        "benchmark": "startup",
        "seconds": {k: statistics.median(v) for k, v in samples.items()},
        "samples": {k: [round(t, 3) for t in v] for k, v in samples.items()},
        "target_s": TARGET_S,
    }


def table(result: dict) -> str:
    base = result["seconds"]["python -c pass"]
    lines = ["| command | wall time (median) | beyond `python -c pass` |", "| --- | --: | --: |"]
    for name, s in result["seconds"].items():
        lines.append(f"| `{name}` | {s:.2f} s | {s - base:+.2f} s |")
    return "\n".join(lines)


if __name__ == "__main__":
    out = run() | {"machine": machine_info()}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(table(out))
