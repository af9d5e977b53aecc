"""The measures of data, kernels and KKT points on their own: `ntk`, `separation` and
`kkt-points`."""

import dataclasses
import time
from typing import Annotated, cast

import typer
from rich import box
from rich.table import Table

from benign._stop import stop_at_once
from benign.cli.common import InputError, out, print_json, value_error
from benign.config import Init, Param, check_layout
from benign.data import DATASETS, DistName, Distribution, load_dataset
from benign.seeding import rng_for

MAX_KERNEL_POINTS = 20_000


def ntk(
    n: Annotated[int, typer.Option("--n", help="Number of points.")] = 1000,
    d: Annotated[int, typer.Option("--d", help="Input dimension.")] = 20,
    depth: Annotated[int, typer.Option(help="Weight layers (2 = the two-layer net).")] = 5,
    width: Annotated[
        int, typer.Option(help="Width n of the net the kernel belongs to (its fan-ins).")
    ] = 1024,
    param: Annotated[str, typer.Option(help="Parametrisation: ntk or standard.")] = "ntk",
    init: Annotated[str, typer.Option(help="Initialisation gains: he, ntk or lecun.")] = "he",
    bias: Annotated[bool, typer.Option("--bias/--no-bias", help="Hidden-layer biases.")] = True,
    dist: Annotated[str, typer.Option(help="Points: sphere or gaussian.")] = "sphere",
    seed: Annotated[int, typer.Option(help="Seed of the points.")] = 0,
    scaling: Annotated[
        bool,
        typer.Option("--scaling/--no-scaling", help="Also λ_min against n, d and depth."),
    ] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Smallest eigenvalue of the analytic NTK on n random points, and how it scales.

    Float64, symmetrised; negative eigenvalues are reported. Tables of λ_min against n, d and
    depth unless --no-scaling.
    """
    if not 1 <= n <= MAX_KERNEL_POINTS:
        raise InputError(
            f"--n: must lie in [1, {MAX_KERNEL_POINTS}] (the n×n kernel takes 8·n² bytes and "
            f"its eigenvalues O(n³) time), got {n}"
        )
    if seed < 0:
        raise InputError(f"--seed: must be >= 0, got {seed}")
    if dist not in ("sphere", "gaussian"):
        raise InputError(f"--dist: must be sphere or gaussian, got {dist!r}")
    try:
        check_layout(d, width, depth, param, init, 1.0)
        Distribution(cast(DistName, dist), d)
    except ValueError as exc:
        raise value_error(exc) from None
    with stop_at_once():  # PyTorch: imported once the input is checked
        from benign.ntk import ntk_scaling
    rows = ntk_scaling(
        n,
        d,
        depth,
        width=width,
        param=cast(Param, param),
        init=cast(Init, init),
        bias=bias,
        dist=cast(DistName, dist),
        seed=seed,
        scaling=scaling,
    )
    net = {"width": width, "param": param, "init": init, "bias": bias}
    if json_out:
        doc = {
            "net": net,
            "dist": dist,
            "seed": seed,
            "rows": [dataclasses.asdict(r) for r in rows],
        }
        print_json(doc)
        return
    main_row = rows[0]
    out.print(
        f"analytic NTK, {dist} points, n={n}, d={d}, depth {depth}, width {width}, {param} "
        f"parametrisation, {init} gains, {'bias' if bias else 'no bias'}: "
        f"λ_min = {main_row.lambda_min:.6g}, λ_max = {main_row.lambda_max:.6g}, "
        f"{main_row.negative} negative eigenvalues ({main_row.seconds:.2f} s)",
        soft_wrap=True,
    )
    if scaling:
        table = Table(
            title="λ_min against n, d and depth (one changed at a time)", box=box.SIMPLE_HEAD
        )
        for name in ("n", "d", "depth", "λ_min", "λ_max", "negative", "time s"):
            table.add_column(name, justify="right")
        for r in sorted(rows, key=lambda r: (r.n, r.d, r.depth)):
            table.add_row(
                str(r.n),
                str(r.d),
                str(r.depth),
                f"{r.lambda_min:.5g}",
                f"{r.lambda_max:.5g}",
                str(r.negative),
                f"{r.seconds:.2f}",
            )
        out.print(table)


def separation_cmd(
    dataset: Annotated[
        str, typer.Option(help="mnist (5,000 images, bundled), digits, or separated (sampled).")
    ] = "mnist",
    train: Annotated[
        int | None,
        typer.Option(
            help="Points in the training set (a seeded shuffle; default all); the "
            "rest is the test set."
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="separated: number of points.")] = 2000,
    d: Annotated[int, typer.Option("--d", help="separated: dimension.")] = 20,
    sep: Annotated[float, typer.Option(help="separated: the separation of the caps.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the shuffle (and of the sample).")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Smallest ℓ2 and ℓ∞ distance between points of different clean labels.

    Images are scaled to unit norm; the classes are digits 0–4 against 5–9. Train–train, and
    test–train when --train leaves a test set.
    """
    if seed < 0:
        raise InputError(f"--seed: must be >= 0, got {seed}")
    if dataset not in (*DATASETS, "separated"):
        allowed = ", ".join((*DATASETS, "separated"))
        raise InputError(f"--dataset: must be one of {allowed}, got {dataset!r}")
    try:
        if dataset == "separated":
            if n < 2:
                raise InputError(f"--n: must be >= 2, got {n}")
            dist = Distribution("separated", d, separation=sep)
            x = dist.sample(n, rng_for(seed, "data"))
            labels = dist.clean_label(x)
        else:
            x, labels = load_dataset(dataset)
    except ValueError as exc:
        raise value_error(ValueError(str(exc).replace("separation:", "sep:"))) from None
    from benign.measures import split_separation

    t0 = time.perf_counter()
    try:
        split = split_separation(x, labels, train, rng_for(seed, "test"))
    except ValueError as exc:
        raise value_error(exc) from None
    seconds = time.perf_counter() - t0
    within, across = split.train_train, split.test_train
    doc = {
        "dataset": dataset,
        "points": len(x),
        "dimension": x.shape[1],
        "train": len(split.train),
        "test": len(split.test),
        "positive": int((labels > 0).sum()),
        "negative": int((labels <= 0).sum()),
        "train_train": {"l2": within.l2, "linf": within.linf},
        "test_train": {"l2": across.l2, "linf": across.linf} if across else None,
        "seconds": seconds,
    }
    if json_out:
        print_json(doc)
        return
    out.print(
        f"{dataset}: {len(x)} points in R^{x.shape[1]} ({doc['positive']} labelled +1, "
        f"{doc['negative']} labelled −1), train {doc['train']}, test {doc['test']}",
        soft_wrap=True,
    )
    out.print(f"train–train separation: ℓ2 {within.l2:.6g}, ℓ∞ {within.linf:.6g}")
    if across:
        out.print(f"test–train separation:  ℓ2 {across.l2:.6g}, ℓ∞ {across.linf:.6g}")
    out.print(f"({seconds:.1f} s)")


MAX_EXPLORE_M = 5000  # the LP of one draw is dearest here (seconds each at m = 1000)


def kkt_points_cmd(
    dist: Annotated[
        str, typer.Option(help="Input law: interval (on [0, 1]), sphere or gaussian.")
    ] = "interval",
    d: Annotated[
        int | None, typer.Option(help="Input dimension (default: 1 on the interval, else 5).")
    ] = None,
    m: Annotated[int, typer.Option("--m", help="Training points.")] = 100,
    p: Annotated[float, typer.Option("--p", help="Flip probability of each label.")] = 0.1,
    bias: Annotated[bool, typer.Option(help="Hidden-layer biases.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the sample and of the draws.")] = 0,
    draws: Annotated[
        int,
        typer.Option(help="Draws (d = 1: kink sets, the first every arc; else gate seedings)."),
    ] = 40,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Distinct certified KKT points of one sample, not only the one a solver lands on.

    In d = 1 with biases each draw takes the least-norm interpolant with kinks on a random set
    of arcs (gaps and orientations), the first every arc (the least norm); elsewhere each draw
    seeds the convex search with a random number of random gates. A draw is kept when its
    (ε, δ)-certificate holds and it is a new point; per point: ½‖θ̃‖², its excess over the
    least found, the clean error L (exact on the interval, else Monte Carlo), ε_rel, and its
    place against the global minimum: the upper bound global_gap (d = 1, and d = 2 up to
    m = 200) or excess_found, the share a search for better patterns saved (docs/science.md).
    """
    from benign.data import noisy_sample
    from benign.explore import kkt_points

    if dist not in ("interval", "sphere", "gaussian"):
        raise InputError(f"--dist: must be interval, sphere or gaussian, got {dist!r}")
    d = d if d is not None else (1 if dist == "interval" else 5)
    if not 2 <= m <= MAX_EXPLORE_M:
        raise InputError(f"--m: must lie in [2, {MAX_EXPLORE_M}], got {m}")
    if not 0 <= p < 0.5:
        raise InputError(f"--p: the flip probability must lie in [0, 0.5), got {p}")
    if seed < 0:
        raise InputError(f"--seed: must be >= 0, got {seed}")
    if draws < 1:
        raise InputError(f"--draws: must be >= 1, got {draws}")
    try:
        law = Distribution(cast(DistName, dist), d)
    except ValueError as exc:
        raise value_error(exc) from None
    sample = noisy_sample(law, m, p, rng_for(seed, "data"))
    start = time.perf_counter()
    points = kkt_points(sample.x, sample.y, draws, rng_for(seed, "explore"), law, bias, seed)
    seconds = time.perf_counter() - start
    least = min((pt.half_norm for pt in points), default=float("nan"))
    fields = ("draw", "arcs", "gates", "half_norm", "clean_error", "eps_rel", "global_gap",
              "excess_found", "optimality")  # fmt: skip
    if json_out:
        rows = [{k: getattr(pt, k) for k in fields} for pt in points]
        print_json({"dist": dist, "d": d, "m": m, "p": p, "bias": bias, "seed": seed,
                    "flips": sample.flips, "draws": draws, "seconds": seconds,
                    "points": rows})  # fmt: skip
        return
    out.print(
        f"{len(points)} distinct certified KKT points in {draws} draws ({seconds:.1f} s), "
        f"{dist} d = {d}, m = {m}, p = {p:g}, {sample.flips} labels flipped, seed {seed}",
        soft_wrap=True,
    )
    table = Table(box=box.SIMPLE_HEAD)
    names = ("draw", "seeded by", "½‖θ‖²", "excess", "L", "ε_rel", "global gap", "found lower",
             "optimality")  # fmt: skip
    for name in names:
        table.add_column(name, justify="right")
    for pt in points:
        table.add_row(
            str(pt.draw),
            f"arcs {pt.arcs}/{2 * (m - 1)}" if pt.arcs else f"gates {pt.gates}",
            f"{pt.half_norm:.6g}",
            f"{pt.half_norm / least - 1:.2%}".replace("-0.00%", "0.00%"),
            f"{pt.clean_error:.4f}",
            f"{pt.eps_rel:.1e}",
            "—" if pt.global_gap != pt.global_gap else f"{pt.global_gap:.1e}",
            "—" if pt.excess_found != pt.excess_found else f"{pt.excess_found:.1%}",
            pt.optimality,
        )
    out.print(table)
