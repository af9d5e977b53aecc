"""The analytic NTK of benign's ReLUNet (ntk parametrisation, ntk gains, biases) by
neural-tangents, run by ``bench_ntk_nt.py`` in a separate environment that has it (``jax``,
``jaxlib``, ``neural-tangents``; not a dependency of benign). Reads x from ``X.npy``, writes
the kernel to ``OUT.npy`` and prints the seconds of each call as JSON.

    python nt_kernel.py X.npy OUT.npy WIDTH DEPTH REPEATS

benign's layer l computes sqrt(c_l / fan_in_l)·(W h + b), fan_in_l = n_{l−1} + 1, so in
neural-tangents' terms W_std² = c_l·n_{l−1}/(n_{l−1} + 1) and b_std² = c_l/(n_{l−1} + 1), with
c_l = 2 on hidden layers and 1 on the output layer, which has no bias.
"""

import json
import math
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
from neural_tangents import stax  # noqa: E402


def main() -> None:
    x_path, out_path, width, depth, repeats = sys.argv[1:6]
    width, depth, repeats = int(width), int(depth), int(repeats)
    x = np.load(x_path)
    layers, n_in = [], x.shape[1]
    for _ in range(depth - 1):
        c = 2.0
        layers += [
            stax.Dense(
                width, W_std=math.sqrt(c * n_in / (n_in + 1)), b_std=math.sqrt(c / (n_in + 1))
            ),
            stax.Relu(),
        ]
        n_in = width
    layers.append(stax.Dense(1, W_std=1.0, b_std=None))
    _, _, kernel_fn = stax.serial(*layers)
    fn = jax.jit(kernel_fn, static_argnames="get")
    xs = jax.numpy.asarray(x)
    fn(xs, None, get="ntk").block_until_ready()  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        k = fn(xs, None, get="ntk").block_until_ready()
        times.append(time.perf_counter() - t0)
    np.save(out_path, np.asarray(k))
    print(json.dumps({"seconds": times, "jax": jax.__version__}))


if __name__ == "__main__":
    main()
