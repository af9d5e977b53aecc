"""Figures of an analysis (Matplotlib, no display needed): each function returns a Figure, or
None when the store holds nothing to draw. :data:`FIGURES` is the report's list: each draws
from the analysis, the analysis of every interpolating network and the store's loaded tables,
and never computes a network."""

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import scipy.stats
from matplotlib.colors import LogNorm, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from benign.config import RunConfig
from benign.regimes import BENIGN_RATIO, MIN_SEEDS, TEMPERED_RATIOS, Analysis, Group, finite_mean
from benign.sweep.store import Tables

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

L_FLOOR = 1e-4  # log-scale error plots draw L = 0 here (their titles say so)
VERDICT_COLOURS = {
    "benign": "tab:green",
    "tempered": "tab:orange",
    "catastrophic": "tab:red",
    "mixed": "tab:olive",
    "fails_without_noise": "tab:purple",
    "undecided": "tab:gray",
}


def major_log_ticks(fig: Figure) -> Figure | None:
    """The figure with no labels on the minor ticks of its log axes (on a short axis
    Matplotlib labels them too, and they run into each other: '3×10⁻²4×10⁻²'); None where a
    log axis has no positive value to show (a store without history, λ_min all ≤ 0), which
    Matplotlib cannot scale."""
    for ax in fig.axes:
        if hasattr(ax, "_colorbar"):  # a colour bar's axis is scaled by its norm
            continue
        lim = ax.dataLim
        for axis, scale, lowest in (
            (ax.xaxis, ax.get_xscale(), lim.minposx),
            (ax.yaxis, ax.get_yscale(), lim.minposy),
        ):
            if scale == "log":
                if not np.isfinite(lowest):
                    return None
                axis.set_minor_formatter(NullFormatter())
    return fig


def rendered(fig: Figure) -> tuple[bytes, bytes]:
    """The figure as PNG (150 dpi) and SVG bytes."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=150)  # constrained layout keeps every label inside
    fig.savefig(svg, format="svg")
    return png.getvalue(), svg.getvalue()


def luminance(rgba: tuple[float, ...]) -> float:
    """WCAG relative luminance of an sRGB colour: 0.2126 R + 0.7152 G + 0.0722 B of the
    linearised channels; the contrast of two colours is (L₁ + 0.05) / (L₂ + 0.05)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _noisy(g: Group):
    """The p > 0 with enough networks for an interval (as the verdicts require)."""
    return [pt for pt in g.points if pt.p > 0 and pt.n >= MIN_SEEDS]


def _at_zero(g: Group):
    """The group's p = 0 point, where it has enough networks for an interval."""
    return next((pt for pt in g.points if pt.p == 0 and pt.n >= MIN_SEEDS), None)


def error_vs_p(analysis: Analysis) -> Figure | None:
    """Mean clean error L against p per group, 95% intervals, with the guides p^5, p (the noise
    rate: L = p is the error of a predictor that copies the noise) and √p of the 1-D theorem;
    p = 0, which a log axis cannot place, drawn apart at its left edge (square markers, tick
    "0", a dotted break)."""
    groups = [g for g in analysis.groups if _noisy(g)]
    if not groups:
        return None
    fig = Figure(layout="constrained", figsize=(9, 5))
    ax = fig.add_subplot()
    ps = sorted({pt.p for g in groups for pt in _noisy(g)})
    grid = np.geomspace(min(ps) / 1.5, min(0.5, max(ps) * 1.5), 100)
    for expo, name, style in ((5, "p⁵", ":"), (1, "p (noise rate)", "--"), (0.5, "√p", "-.")):
        ax.plot(grid, grid**expo, style, color="black", lw=1, label=name)
    zeros, x0 = False, min(ps) / 4  # where p = 0 is drawn
    at_zero = False
    for g in groups:
        pts = _noisy(g)
        colour, zero = _error_line(
            ax, np.array([pt.p for pt in pts]), pts, f"{g.label} ({g.verdict})"
        )
        zeros |= zero
        if (pt0 := _at_zero(g)) is not None:
            _, zero = _error_line(ax, np.array([x0]), [pt0], "_nolegend_", colour, marker="s")
            zeros, at_zero = zeros or zero, True
    ticks = ([x0] if at_zero else []) + ps
    if at_zero:
        ax.axvline(math.sqrt(x0 * min(ps)), color="gray", ls=":", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="label-flip probability p" + (" (p = 0 at the left, apart)" if at_zero else ""),
        ylabel="clean test error L (mean, 95% CI)",
        ylim=(L_FLOOR, 1),
        xlim=(min(ticks) / 1.5, grid[-1]),
    )
    ax.set_xticks(ticks, [f"{p:g}" for p in ([0.0] if at_zero else []) + ps])
    ax.set_title(f"Clean error against noise ({_kept(analysis)})")
    _legend(ax, zeros)
    ax.grid(True, which="both", alpha=0.3)
    return major_log_ticks(fig)


def _kept(analysis: Analysis) -> str:
    return "certified networks" if analysis.certified_only else "interpolating networks"


def _error_line(
    ax, x: np.ndarray, pts: list, label: str, colour: str | None = None, marker: str = "o"
) -> tuple[str, bool]:
    """Mean clean error at ``x`` with its 95% interval (in ``colour``, else the next of the
    cycle), L = 0 exactly as an open triangle on the floor :data:`L_FLOOR`; the line's
    colour, and whether there was such a point."""
    y = np.array([pt.mean for pt in pts])
    err = np.array([[pt.mean - pt.lo, pt.hi - pt.mean] for pt in pts]).T
    err = np.where(np.isnan(err), 0, err)
    zero = y <= 0  # its filled marker left out: the open triangle says it
    line = ax.errorbar(
        x,
        np.maximum(y, L_FLOOR),
        yerr=err,
        marker=marker,
        markevery=np.flatnonzero(~zero).tolist(),
        capsize=3,
        label=label,
        color=colour,
    )[0]
    colour = line.get_color()
    if zero.any():
        floor = np.full(zero.sum(), L_FLOOR)
        ax.plot(x[zero], floor, "v", ms=9, mfc="white", color=colour, clip_on=False)
    return colour, bool(zero.any())


def _legend(ax, zeros: bool) -> None:
    """The axes' legend, right of the axes (it never covers data), with an entry for the open
    triangle of L = 0 where one is drawn."""
    handles, _ = ax.get_legend_handles_labels()
    if zeros:
        marker = Line2D([], [], marker="v", ms=9, mfc="white", color="gray", ls="none")
        marker.set_label("L = 0 (drawn at 10⁻⁴)")
        handles.append(marker)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def phase_diagram(analysis: Analysis) -> Figure | None:
    """Groups × p, coloured by L/p (log scale, 1 = tempered like the noise), verdict per row."""
    groups = [g for g in analysis.groups if _noisy(g)]
    if not groups:
        return None
    ps = sorted({pt.p for g in groups for pt in _noisy(g)})
    ratio = np.full((len(groups), len(ps)), np.nan)
    for i, g in enumerate(groups):
        for pt in _noisy(g):
            ratio[i, ps.index(pt.p)] = pt.ratio
    # wide enough for the group labels and the title even with one p (else the layout collapses)
    size = (max(7.0, 3.5 + 1.2 * len(ps)), 1.2 + 0.5 * len(groups))
    fig = Figure(layout="constrained", figsize=size)
    ax = fig.add_subplot()
    # the scale, in decades of L/p: the whole decades that hold the data, at least 0.1 … 10,
    # L/p = 1 (tempered) the middle colour whatever the range on each side; L/p = 0 drawn at
    # its bottom
    positive = ratio[np.isfinite(ratio) & (ratio > 0)]
    low = min(-1.0, *np.floor(np.log10(positive))) if positive.size else -1.0
    high = max(1.0, *np.ceil(np.log10(positive))) if positive.size else 1.0
    norm = TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=high)
    decades = np.log10(np.clip(ratio, 10**low, 10**high))
    im = ax.imshow(decades, cmap="RdYlGn_r", norm=norm, aspect="auto")
    for i, j in np.ndindex(ratio.shape):
        if not math.isnan(ratio[i, j]):
            cell = im.cmap(norm(decades[i, j]))
            colour = "black" if luminance(cell) > 0.18 else "white"  # contrast ≥ 4.6 either way
            ax.text(j, i, f"{ratio[i, j]:.2g}", ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(ps)), [f"{p:g}" for p in ps])
    ax.set_yticks(range(len(groups)), [f"{g.label}\n[{g.verdict}]" for g in groups], fontsize=7)
    ax.set(
        xlabel="label-flip probability p",
        ylabel="group [verdict]",
        title="L / p: < 0.25 benign-like, ≈ 1 tempered, ≫ 1 catastrophic",
    )
    bar = fig.colorbar(im, ax=ax, label="L / p")
    ticks = [float(t) for t in np.arange(low, high + 1)]
    bar.set_ticks(ticks, labels=[f"{10**t:g}" for t in ticks])
    return major_log_ticks(fig)


def _families(groups: list[Group], axis: str, also: tuple[str, ...] = ()) -> dict[str, list]:
    """Groups equal in every setting but ``axis`` (and ``also``), keyed by a label of the
    settings that tell the families apart; only families with two or more ``axis`` values."""
    families: dict[str, list[Group]] = {}
    rests: dict[str, dict] = {}
    for g in groups:
        rest = {k: v for k, v in g.settings.items() if k != axis and k not in also}
        key = json.dumps(rest, sort_keys=True, default=str)
        families.setdefault(key, []).append(g)
        rests[key] = rest
    keep = [k for k, gs in families.items() if len({g.settings[axis] for g in gs}) > 1]
    differ = [
        name
        for name in next(iter(rests.values()), {})
        if len({json.dumps(rests[k][name], default=str) for k in keep}) > 1
    ]
    return {
        ", ".join(f"{n}={rests[k][n]}" for n in differ) or f"all runs ({i + 1})": families[k]
        for i, k in enumerate(keep)
    }


def error_vs_d(analysis: Analysis) -> Figure | None:
    """Mean clean error L against d (log axes) with 95% intervals, one line per p and per
    family of groups equal in every setting but d and dist: the sphere's points joined, the
    interval's (d = 1, another law) a diamond apart; a least-squares exponential fit
    L ≈ A·exp(−b·d) over the sphere's points with L > 0 where there are at least three
    (dotted, and in the line's label)."""
    families = _families([g for g in analysis.groups if _noisy(g)], "d", ("dist",))
    if not families:
        return None
    fig = Figure(layout="constrained", figsize=(9, 5))
    ax = fig.add_subplot()
    zeros, apart = False, False
    for label, groups in families.items():
        tag = f"{label}, " if len(families) > 1 else ""
        for p in sorted({pt.p for g in groups for pt in _noisy(g)}):
            pts = sorted(
                (
                    (g.settings["d"], g.settings.get("dist") == "interval", pt)
                    for g in groups
                    for pt in _noisy(g)
                    if pt.p == p
                ),
                key=lambda t: t[0],
            )
            joined = [(d, pt) for d, line, pt in pts if not line]
            d = np.array([x for x, _ in joined], dtype=float)
            y = np.array([pt.mean for _, pt in joined])
            pos, fit = y > 0, ""
            if pos.sum() >= 3:
                b, loga = np.polyfit(d[pos], np.log(y[pos]), 1)
                fit = f", fit {math.exp(loga):.2g}·exp({b:+.2g}·d)".replace("-", "−")
            name = f"{tag}p = {p:g}{fit}"
            colour, zero = (
                _error_line(ax, d, [pt for _, pt in joined], name) if joined else (None, False)
            )
            zeros |= zero
            for x, _, pt in (t for t in pts if t[1]):
                alone = "_nolegend_" if joined else name
                at = np.array([x], dtype=float)
                colour, zero = _error_line(ax, at, [pt], alone, colour, marker="D")
                zeros, apart = zeros or zero, True
            if fit:
                grid = np.geomspace(d.min(), d.max(), 50)
                ax.plot(grid, np.exp(loga + b * grid), ":", color=colour)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="input dimension d" + (" (◆: the interval, d = 1; ●: the sphere)" if apart else ""),
        ylabel="clean test error L (mean, 95% CI)",
        title=f"Clean error against dimension ({_kept(analysis)})",
        ylim=(L_FLOOR, 1),
    )
    _legend(ax, zeros)
    ax.grid(True, which="both", alpha=0.3)
    return major_log_ticks(fig)


def _matching(runs: "pd.DataFrame", settings: dict) -> "pd.DataFrame":
    """The finished (done) runs of ``runs`` with these settings (a missing value matching
    None)."""
    keep = runs.status == "done"
    for k, v in settings.items():
        keep &= runs[k].isna() if v is None else runs[k] == v
    return runs[keep.fillna(False).astype(bool)]


def _network_1d_run(analysis: Analysis) -> tuple[Group, float] | None:
    """The group and p of :func:`network_1d`: the first d = 1 interval group with noise, at
    the middle of its noisy p."""
    for g in analysis.groups:
        if g.settings["d"] == 1 and g.settings["dist"] == "interval" and _noisy(g):
            return g, _noisy(g)[len(_noisy(g)) // 2].p
    return None


def network_1d_candidates(runs: "pd.DataFrame") -> list[str]:
    """The runs whose parameters :func:`network_1d` may draw (for ``load(…, params=)``): at
    each setting of a d = 1 interval network and noisy p, its lowest finished seed."""
    done = runs[(runs.status == "done") & (runs.dist == "interval") & (runs.d == 1) & (runs.p > 0)]
    if done.empty:
        return []
    return list(done.sort_values("seed").drop_duplicates("settings").run_id)


def network_1d(analysis: Analysis, tables: Tables) -> Figure | str | None:
    """A d = 1 network over [a, b], as the store kept it: N(x) (centred, N − N_0, if the run
    trains the centred output), the training points (flipped ones marked) and {N ≤ 0} shaded;
    the lowest seed of :func:`_network_1d_run`'s group and p. Where the store kept no
    parameters (an older store, or a net too large to keep), why it is not drawn."""
    chosen = _network_1d_run(analysis)
    if chosen is None:
        return None
    g, p = chosen
    runs = _matching(tables.runs, g.settings | {"p": p}).sort_values("seed")
    if runs.empty:
        return None
    run = runs.iloc[0]
    if run.run_id not in tables.params:
        return "parameters not kept"
    import torch  # only to evaluate the network

    from benign.nets import ReLUNet, predict

    config = RunConfig(**(g.settings | {"p": p, "device": "cpu"}))
    seed, error, flips = int(run.seed), run.clean_error, run.flips
    certified = bool(runs.certified.fillna(False).iloc[0])
    net = ReLUNet.of(config)
    params = [torch.as_tensor(a[None]) for a in tables.params[run.run_id]]
    sample = config.sample(seed)
    x = torch.linspace(config.a, config.b, 4001, dtype=torch.float64)[None, :, None]
    base = net.init_params([seed]) if config.center else None
    out = predict(net, [t.double() for t in params], x, base)[0].numpy()
    xs = x[0, :, 0].numpy()
    fig = Figure(layout="constrained", figsize=(8, 4))
    ax = fig.add_subplot()
    ax.plot(xs, out, color="tab:blue", label="N(x)")
    ax.fill_between(
        xs,
        0,
        1,
        where=out <= 0,
        transform=ax.get_xaxis_transform(),
        color="tab:red",
        alpha=0.15,
        label="{N ≤ 0}: clean error",
    )
    clean = ~sample.flipped
    ax.scatter(sample.x[clean, 0], sample.y[clean], s=10, color="black", label="training label")
    ax.scatter(
        sample.x[~clean, 0],
        sample.y[~clean],
        s=40,
        marker="x",
        color="tab:red",
        label="flipped label",
    )
    ax.axhline(0, color="gray", lw=0.5)
    ax.set(
        xlabel="x",
        ylabel="N(x)",
        title=f"{g.label}, p = {p:g}, seed {seed}: clean error "
        f"{error:.3f}, {flips} flipped, certified: {certified}",
    )
    ax.legend(fontsize=7)
    return major_log_ticks(fig)


def certificate_history(tables: Tables, limit: int = 12) -> Figure | None:
    """ε_rel of the KKT certificate over training steps, for up to ``limit`` runs that recorded
    it (gradient descent checks it every ``certify_every`` steps), a colour per setting of d
    and p, with the threshold ε under which a network counts as certified."""
    checked = tables.certificate_history[tables.certificate_history.eps_rel.notna()]
    runs = tables.runs.set_index("run_id")
    ids = sorted(set(checked.run_id) & set(runs.index))[:limit]
    series = {}
    for rid in ids:
        h = checked[checked.run_id == rid].sort_values("step")
        d, p, eps = runs.loc[rid, ["d", "p", "cert_eps"]]
        series[rid] = [(s, e, d, p, eps) for s, e in zip(h.step, h.eps_rel, strict=True)]
    if not series:
        return None
    fig = Figure(layout="constrained", figsize=(7, 4.5))
    ax = fig.add_subplot()
    colours: dict[tuple, str] = {}
    for rows in series.values():
        steps, eps = zip(*[(s, e) for s, e, *_ in rows], strict=True)
        _, _, d, p, _ = rows[0]
        first = (d, p) not in colours
        colours.setdefault((d, p), f"C{len(colours) % 10}")
        label = f"d={d}, p={p:g}" if first else None
        ax.plot(steps, eps, marker=".", color=colours[(d, p)], label=label, alpha=0.8)
    for threshold in sorted({rows[0][4] for rows in series.values()}):
        ax.axhline(
            threshold, color="black", ls="--", lw=1, label=f"ε = {threshold:g}: certified below"
        )
    ax.set(
        yscale="log",
        xlabel="training step",
        ylabel="ε_rel of the KKT certificate",
        title=f"Distance from a KKT point during gradient descent ({len(series)} networks)",
    )
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    return major_log_ticks(fig)


def _done(runs: "pd.DataFrame") -> "pd.DataFrame":
    """The finished (done) runs."""
    return runs[runs.status == "done"]


def _floats(column: "pd.Series") -> np.ndarray:
    """A column as floats, missing values NaN."""
    return column.to_numpy(dtype=float, na_value=np.nan)


MARKERS = "os^Dv<>pPX*h"  # one per input dimension, in order of d


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ, NaN where it is not defined (fewer than 3 points, or a constant)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(scipy.stats.spearmanr(x, y).statistic)


def error_vs_lipschitz(tables: Tables) -> Figure | None:
    """Clean error of every finished network against its Lipschitz lower bound
    max_i ‖∇_x f(x_i)‖ and its upper bound (weights): a colour per p (tab10, told apart), a
    marker per d — the bounds differ by orders of magnitude between dimensions, so Spearman's
    ρ is given pooled and as the median of its values within each d —, every network on the
    axes."""
    rows = _done(tables.runs)
    rows = rows[rows.lipschitz_lower.notna()]
    if rows.empty:
        return None
    fig = Figure(layout="constrained", figsize=(12, 4.8))
    p, d, err = _floats(rows.p), rows.d.to_numpy(dtype=int), _floats(rows.clean_error)
    ps, ds = sorted(set(p)), sorted(set(d))
    colours = matplotlib.colormaps["tab10"]
    for i, name in enumerate(("lipschitz_lower", "lipschitz_upper")):
        ax = fig.add_subplot(1, 2, i + 1)
        lip = _floats(rows[name])
        ok = np.isfinite(lip) & (lip > 0)
        pooled = _spearman(lip[ok], err[ok])
        within = [_spearman(lip[ok & (d == k)], err[ok & (d == k)]) for k in ds]
        within = [r for r in within if not math.isnan(r)]
        # a few dead networks (a bound near 0, e.g. 1e-16) would squeeze the cloud into an
        # edge: below a decade under the 5% quantile they are drawn open at the left edge
        edge = np.quantile(lip[ok], 0.05) / 10 if ok.any() else 1.0
        low = ok & (lip < edge)
        for j, pv in enumerate(ps):
            for k, dv in enumerate(ds):
                at = ok & (p == pv) & (d == dv)
                if at.any():
                    colour, marker = colours(j % 10), MARKERS[k % len(MARKERS)]
                    y = np.maximum(err, L_FLOOR)
                    inside, left = at & ~low, at & low
                    ax.scatter(lip[inside], y[inside], s=14, color=colour, marker=marker)
                    ax.scatter(np.full(left.sum(), edge), y[left], s=14, facecolors="none",
                               edgecolors=colour, marker=marker, clip_on=False)  # fmt: skip
        lo, hi = (edge, lip[ok].max() * 2) if ok.any() else (0.5, 2.0)
        what = "max_i ‖∇f(x_i)‖ (lower bound)" if i == 0 else "weights' bound (upper bound)"
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=f"Lipschitz constant: {what}",
            ylabel="clean test error L",
            xlim=(lo, hi),
            ylim=(L_FLOOR, 1),
            title=f"{ok.sum()} networks, Spearman ρ = {pooled:.2f} pooled"
            + (f", {np.median(within):.2f} within d (median)" if within else "")
            + (f"\n{low.sum()} below {edge:.1g} drawn open at the left edge" if low.any() else ""),
        )
        ax.grid(True, which="both", alpha=0.3)
    handles = [
        Line2D([], [], ls="none", marker="o", color=colours(j % 10), label=f"p = {pv:g}")
        for j, pv in enumerate(ps)
    ] + [
        Line2D([], [], ls="none", marker=MARKERS[k % len(MARKERS)], color="gray", label=f"d = {dv}")
        for k, dv in enumerate(ds)
    ]
    fig.axes[-1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Clean error against the Lipschitz constant (L = 0 drawn at 10⁻⁴)")
    return major_log_ticks(fig)


def gd_against_kkt(tables: Tables) -> Figure | None:
    """Per network of the gd+convex method: the clean error of gradient descent's network
    against that of the KKT point reached from its patterns (certified points filled, others
    hollow), one colour per d, with and without bias marked apart; the diagonal is no change.
    Where gradient descent ran to several losses (loss_tol), the smallest one's networks."""
    rows = _done(tables.runs)
    rows = rows[rows.gd_clean_error.notna()]
    if rows.empty:
        return None
    tol = rows.loss_tol.min()
    several = bool((rows.loss_tol != tol).any())
    rows = rows[rows.loss_tol == tol]
    fig = Figure(layout="constrained", figsize=(6.5, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    ds = sorted(rows.d.unique())
    cmap = matplotlib.colormaps["viridis"]
    for k, d in enumerate(ds):
        for bias, marker in ((True, "o"), (False, "s")):
            sel = rows[(rows.d == d) & (rows.bias == bias)]
            if sel.empty:
                continue
            gd, kkt = _floats(sel.gd_clean_error), _floats(sel.clean_error)
            cert = sel.certified.fillna(False).to_numpy(dtype=bool)
            colour = cmap(k / max(len(ds) - 1, 1))
            label = f"d = {d}{'' if bias else ', no bias'}"
            ax.scatter(gd[cert], kkt[cert], color=colour, marker=marker, s=20, label=label)
            ax.scatter(
                gd[~cert], kkt[~cert], facecolors="none", edgecolors=colour, marker=marker, s=20
            )
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="clean error of gradient descent's network",
        ylabel="clean error of the KKT point reached from it",
        title=f"{len(rows)} networks{f' at loss ≤ {tol:g}' if several else ''} "
        "(hollow: KKT point not certified)",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return major_log_ticks(fig)


AXIS_LABELS = {"m": "training points m", "d": "input dimension d", "depth": "depth (weight layers)"}


def ntk_eigenvalues(analysis: Analysis) -> Figure | None:
    """λ_min of the NTK Gram of the training points against m, depth and, for lazy (centred)
    nets, d (the axes that vary): the analytic infinite-width kernel (solid) and the empirical
    kernel at initialisation (dashed), for each group the mean over its p of the mean over its
    networks."""
    lazy = [g for g in analysis.groups if g.settings.get("center")]
    panels = [(axis, _families(analysis.groups, axis)) for axis in ("m", "depth")]
    panels.insert(1, ("d", _families(lazy, "d")))
    panels = [(axis, fams) for axis, fams in panels if fams]
    if not panels:
        return None
    fig = Figure(layout="constrained", figsize=(5.5 * len(panels), 4.5))
    for i, (axis, families) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for label, groups in families.items():
            groups = sorted(groups, key=lambda g: g.settings[axis])
            x = [g.settings[axis] for g in groups]
            colour = None
            for key, style, kind in (("ntk_min", "o-", "analytic"), ("entk_min_init", "x--", "")):
                y = [finite_mean([pt.measures[key] for pt in g.points]) for g in groups]
                if np.isfinite(y).any():
                    kind = kind or "empirical at initialisation"
                    name = f"{label} ({kind})" if len(families) > 1 else kind
                    colour = ax.plot(x, y, style, color=colour, label=name)[0].get_color()
        ax.set(
            yscale="log",
            xscale="log" if axis == "d" else "linear",
            xlabel=AXIS_LABELS[axis],
            ylabel="λ_min of the NTK Gram",
            title=f"Smallest NTK eigenvalue against {axis}",
        )
        ax.legend(fontsize=6)
        ax.grid(True, which="both", alpha=0.3)
    return major_log_ticks(fig)


def lazy_history(analysis: Analysis, tables: Tables) -> Figure | None:
    """Relative kernel movement ‖Θ̂_t − Θ̂_0‖_F/‖Θ̂_0‖_F and parameter movement ‖θ_t − θ_0‖/‖θ_0‖
    over training, for the lowest seed at the largest p of each group (gradient descent)."""
    gd = tables.runs[tables.runs.resolved_method == "gd"]
    history = tables.history[tables.history.step > 0]
    series: dict[str, list[tuple]] = {}
    for g in analysis.groups:
        p = max(pt.p for pt in g.points)
        runs = _matching(gd, g.settings | {"p": p}).sort_values("seed")
        if not runs.empty and len(series) < 12:
            h = history[history.run_id == runs.run_id.iloc[0]].sort_values("step")
            series[f"{g.label}, p={p:g}"] = list(
                zip(h.step, _floats(h.kernel_move), _floats(h.param_move), strict=True)
            )
    if not series:
        return None
    fig = Figure(layout="constrained", figsize=(11, 4.5))
    for i, name in enumerate(("kernel", "parameter")):
        ax = fig.add_subplot(1, 2, i + 1)
        for label, hist in series.items():
            steps = np.array([h[0] for h in hist], dtype=float)
            v = np.array([h[1 + i] for h in hist], dtype=float)
            kept = np.isfinite(v)  # the kernel movement is kept at steps 1, 2, 4, 8, …
            ax.plot(steps[kept], v[kept], ".-" if i == 0 else "-", label=label)
        sym = "‖Θ̂_t − Θ̂_0‖/‖Θ̂_0‖" if i == 0 else "‖θ_t − θ_0‖/‖θ_0‖"
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="training step",
            ylabel=sym,
            title=f"Relative {name} movement during training",
        )
        ax.grid(True, which="both", alpha=0.3)
    fig.axes[0].legend(fontsize=6)
    return major_log_ticks(fig)


def ntk_noise(computed: dict) -> Figure | None:
    """The computed ridgeless NTK regressions (benign.reproductions, ntk-noise): E(f − f*)² against
    n, mean over seeds, one line per (σ, init scale α), one panel per family (d = n/10 and d
    fixed); dotted: the init-noise part."""
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    fig = Figure(layout="constrained", figsize=(11, 4.8))
    titles = {"high": "d = n/10 (high-dimensional)", "fixed": "d = 5"}
    for i, (family, title) in enumerate(titles.items()):
        ax = fig.add_subplot(1, 2, i + 1)
        part = frame[frame["family"] == family]
        for (scale, sigma), sub in part.groupby(["init_scale", "sigma"], sort=True):
            mean = sub.groupby("n")[["mse", "init_noise"]].mean()
            label = f"σ = {sigma:g}, α = {scale:g}"
            line = ax.plot(mean.index, mean["mse"], "o-", label=label)[0]
            if sigma == 0:
                ax.plot(mean.index, mean["init_noise"], ":", color=line.get_color())
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="training points n",
            ylabel="E (f − f*)² (dotted: init-noise part)",
            title=f"Ridgeless NTK regression, {title}",
        )
        ax.grid(True, which="both", alpha=0.3)
    fig.axes[0].legend(fontsize=6, ncol=2)
    return major_log_ticks(fig)


def kkt_envelope(computed: dict) -> Figure | None:
    """The distinct certified KKT points of each 1-D sample (benign.reproductions.envelope): L of
    every point against p, one panel per m (points of one sample side by side; open markers:
    not shown global), with the theorem's shapes p⁵, p and √p (constants 1)."""
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    if frame.empty:
        return None
    ms = sorted(frame["m"].unique())
    fig = Figure(layout="constrained", figsize=(4.2 * len(ms), 4.4))
    ps = np.array(sorted(frame["p"].unique()))
    guide = np.geomspace(ps.min(), ps.max(), 50)
    for i, m in enumerate(ms):
        ax = fig.add_subplot(1, len(ms), i + 1)
        sub = frame[frame["m"] == m]
        seeds = sorted(sub["seed"].unique())
        for k, seed in enumerate(seeds):
            one = sub[sub["seed"] == seed]
            x = one["p"].to_numpy(float) * 1.04 ** (k - (len(seeds) - 1) / 2)
            best = (one["optimality"] == "global").to_numpy()
            ax.plot(x[best], one["clean_error"][best], "o", ms=4, color=f"C{k}", alpha=0.7)
            ax.plot(x[~best], one["clean_error"][~best], "o", ms=4, mfc="none", color=f"C{k}")
        for shape, label, style in (
            (guide**5, "p⁵", ":"),
            (guide, "p", "--"),
            (np.sqrt(guide), "√p", "-."),
        ):
            ax.plot(guide, shape, style, color="k", lw=0.8, label=label)
        ax.set(
            xscale="log", yscale="log", xlabel="noise p", ylabel="clean error L", title=f"m = {m}"
        )
        lowest = frame["clean_error"][frame["clean_error"] > 0].min()
        ax.set_ylim(bottom=max(1e-4, min(0.5 * lowest, ps.max() ** 5)))  # p⁵ seen at the right
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, title="filled: global; open: KKT only", title_fontsize=7)
    return major_log_ticks(fig)


def calibration(computed: dict) -> Figure | None:
    """The calibration's Nadaraya–Watson interpolators (benign.reproductions.calibration): L/p
    against p, mean over seeds, one line per β, one panel per clean law, with the benign
    level and the tempered band of the rules; each line's L at p = 0 in its label."""
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    fig = Figure(layout="constrained", figsize=(11, 4.6))
    low, high = TEMPERED_RATIOS
    titles = {"constant": "f* ≡ +1", "cap": f"f* = −1 on [0, {computed['cap']:g}), +1 after"}
    for i, (law, title) in enumerate(titles.items()):
        ax = fig.add_subplot(1, 2, i + 1)
        for beta, sub in frame[frame["law"] == law].groupby("beta", sort=True):
            mean = sub.groupby("p")["L"].mean()
            noisy = mean[mean.index > 0]
            label = f"β = {beta:g} (L(0) = {mean.get(0.0, math.nan):.3g})"
            ax.plot(noisy.index, noisy / noisy.index, "o-", label=label)
        ax.axhspan(low, high, color="0.9", label=f"tempered band [{low:g}, {high:g}]")
        ax.axhline(BENIGN_RATIO, ls="--", color="k", lw=0.8, label=f"benign below {BENIGN_RATIO}")
        ax.set(
            xscale="log",
            xlabel="noise p",
            ylabel="L / p (mean over seeds)",
            title=f"{title}, d = {computed['d']}, m = {computed['m']}",
        )
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def _against_m(ax: "Axes", lines: dict[str, "pd.DataFrame"], ylabel: str) -> None:
    """Per label a (seed × m) table: its mean over seeds against m, with the 0.25 level of
    the benign criterion (regimes.BENIGN_RATIO)."""
    for label, table in lines.items():
        ax.plot(table.columns, table.mean(), "o-", label=label)
    ax.axhline(BENIGN_RATIO, ls="--", color="k", lw=0.8, label=f"benign below {BENIGN_RATIO}")
    ax.set(xscale="log", xlabel="training points m", ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)


def kernel_trend(computed: dict) -> Figure:
    """lazy-separated's computed kernel limit (ridgeless NTK regression, benign.reproductions):
    L/p against m, mean over seeds, one line per (d, depth, p)."""
    import pandas as pd

    frame = pd.DataFrame(computed["rows"])
    frame["ratio"] = frame["clean_error"] / frame["p"]
    lines = {
        f"d = {d}, depth {depth}, p = {p:g}": sub.pivot_table(
            index="seed", columns="m", values="ratio"
        )
        for (d, depth, p), sub in frame.groupby(["d", "depth", "p"], sort=True)
    }
    fig = Figure(layout="constrained", figsize=(7, 4.5))
    ax = fig.add_subplot()
    _against_m(ax, lines, "clean error / p (kernel limit)")
    ax.set_title("The lazy nets' width → ∞ limit as m grows")
    return fig


def separation_histogram(computed: dict) -> Figure:
    """mnist-separation's computed evidence (benign.reproductions): the distances of every image to
    its nearest image of the other label, with the smallest ones marked; and the kernel
    limit's excess clean error (L(p) − L(0))/p against m, one line per p."""
    import pandas as pd

    fig = Figure(layout="constrained", figsize=(11, 4.5))
    ax = fig.add_subplot(1, 2, 1)
    bins = np.asarray(computed["bins"])
    ax.stairs(computed["histogram"], bins, fill=True, alpha=0.6, label="every image")
    for name, style in (("train_train", "--"), ("test_train", ":")):
        if computed.get(name):
            ax.axvline(computed[name]["l2"], ls=style, color="k", label=f"{name} min ℓ2")
    ax.set(
        xlabel="ℓ2 distance to the nearest image of the other label",
        ylabel="images",
        title=f"Separation of the {computed['images']} bundled MNIST images (0–4 against 5–9)",
    )
    ax.legend(fontsize=7)
    wide = pd.DataFrame(computed["kernel_rows"]).pivot_table(
        index=["seed", "m"], columns="p", values="clean_error"
    )
    lines = {f"p = {p:g}": ((wide[p] - wide[0.0]) / p).unstack("m") for p in wide.columns if p > 0}
    ax = fig.add_subplot(1, 2, 2)
    _against_m(ax, lines, "(L(p) − L(0)) / p (kernel limit)")
    ax.set_title("Excess clean error of the kernel limit as m grows")
    return fig


def transition(evidence: dict) -> Figure | None:
    """The transition's verdict evidence (benign.reproductions.transition): d*(m) against m on
    log–log axes per p, with its 95% interval and the fitted d* ≈ c·m^k; below, per p, the
    phase diagram of the mean L/p over (d, m)."""
    import pandas as pd

    phase = pd.DataFrame(evidence.get("phase", []))
    if phase.empty:
        return None
    ps = sorted(phase["p"].unique())
    fig = Figure(layout="constrained", figsize=(max(8.0, 3.2 * len(ps)), 8))
    top, *panels = fig.subplot_mosaic([["k"] * len(ps), [str(p) for p in ps]]).values()
    fits = {e["p"]: e for e in evidence.get("exponents", [])}
    for p in ps:
        found = [
            c for c in evidence.get("crossovers", []) if c["p"] == p and c["where"] == "inside"
        ]
        if not found:
            continue
        m = np.array([c["m"] for c in found], dtype=float)
        d, lo, hi = np.array([c["d_star"] for c in found], dtype=float).T
        # an interval that leaves the grid (0 or ∞): drawn to ÷10 or ×10
        lo, hi = np.where(lo > 0, lo, d / 10), np.where(np.isfinite(hi), hi, d * 10)
        label = f"p = {p:g}"
        if p in fits:
            k = fits[p]["k"]
            bounds = k[1] is not None and math.isfinite(k[1])
            label += f": k = {k[0]:.2g}" + (f" [{k[1]:.2g}, {k[2]:.2g}]" if bounds else "")
        line = top.errorbar(m, d, yerr=[d - lo, hi - d], fmt="o", capsize=3, label=label)
        if p in fits:
            grid = np.geomspace(m.min(), m.max(), 50)
            top.plot(grid, fits[p]["c"] * grid ** fits[p]["k"][0], "-", color=line[0].get_color())
    top.set(
        xscale="log",
        yscale="log",
        xlabel="training points m",
        ylabel=f"d*: L/p falls below {evidence.get('level', BENIGN_RATIO):g}",
        title="Crossover dimension d*(m) with its 95% interval, and d* ≈ c·m^k",
    )
    top.grid(True, which="both", alpha=0.3)
    top.legend(fontsize=7)
    ds = sorted(phase["d"].unique())
    ms = sorted(phase["m"].unique())
    top.set_xticks(ms, [str(m) for m in ms])
    top.xaxis.set_minor_formatter(NullFormatter())
    for ax, p in zip(panels, ps, strict=True):
        table = phase[phase["p"] == p].pivot_table(index="m", columns="d", values="L_over_p")
        ratio = table.reindex(index=ms, columns=ds).to_numpy(float)
        im = ax.imshow(
            np.clip(ratio, 1e-2, 1e2),
            cmap="RdYlGn_r",
            norm=LogNorm(1e-2, 1e2),
            aspect="auto",
            origin="lower",
        )
        for i, j in np.ndindex(ratio.shape):
            if not math.isnan(ratio[i, j]):
                ax.text(j, i, f"{ratio[i, j]:.2g}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(ds)), [f"{d:g}" for d in ds], rotation=90, fontsize=7)
        ax.set_yticks(range(len(ms)), [str(m) for m in ms], fontsize=7)
        ax.set(xlabel="input dimension d", ylabel="training points m", title=f"L / p at p = {p:g}")
    fig.colorbar(im, ax=panels, label="L / p (mean over seeds)", shrink=0.8)
    return major_log_ticks(fig)


# ----- the report's figures -----------------------------------------------------------------


@dataclass(frozen=True)
class StoreFigure:
    """A figure of the report: its file name, its caption, and how it is drawn from the
    analysis of the verdicts, that of every interpolating network (None when the verdicts are
    on every one) and the store's tables — a Figure, None where the store holds nothing for
    it, or why it is not drawn. ``quiet``: left out without a word when there is nothing to
    draw (a figure that would repeat another)."""

    name: str
    caption: str
    draw: Callable[[Analysis, "Analysis | None", Tables], "Figure | str | None"]
    quiet: bool = False


def _error_vs_p_all(analysis: Analysis, everyone: Analysis | None) -> Figure | None:
    """error_vs_p of every interpolating network, where some were left out of the verdicts
    for lacking a certificate (else it is error_vs_p again)."""
    left_out = any(pt.left_out for g in analysis.groups for pt in g.points)
    return error_vs_p(everyone) if everyone is not None and left_out else None


FIGURES: tuple[StoreFigure, ...] = (
    StoreFigure(
        "error_vs_p",
        "Clean error against p per group, with the guides p⁵, p and √p",
        lambda a, e, t: error_vs_p(a),
    ),
    StoreFigure(
        "error_vs_p_all",
        "The same with every interpolating network, certified or not",
        lambda a, e, t: _error_vs_p_all(a, e),
        quiet=True,
    ),
    StoreFigure(
        "phase_diagram",
        "Phase diagram: L/p per group and p (all interpolating networks)",
        lambda a, e, t: phase_diagram(e or a),
    ),
    StoreFigure(
        "error_vs_d",
        "Clean error against d with an exponential fit (all interpolating networks)",
        lambda a, e, t: error_vs_d(e or a),
    ),
    StoreFigure(
        "network_1d",
        "A trained network in d = 1 with its training points",
        lambda a, e, t: network_1d(a, t),
    ),
    StoreFigure(
        "certificate_history",
        "KKT certificate ε_rel over training steps",
        lambda a, e, t: certificate_history(t),
    ),
    StoreFigure(
        "gd_against_kkt",
        "Gradient descent's network against the KKT point reached from it (gd+convex)",
        lambda a, e, t: gd_against_kkt(t),
    ),
    StoreFigure(
        "error_vs_lipschitz",
        "Clean error against the Lipschitz constant's lower and upper bounds, per network",
        lambda a, e, t: error_vs_lipschitz(t),
    ),
    StoreFigure(
        "ntk_eigenvalues",
        "Smallest eigenvalue of the NTK Gram of the training points against m and depth",
        lambda a, e, t: ntk_eigenvalues(e or a),
    ),
    StoreFigure(
        "lazy_history",
        "Kernel and parameter movement during training (lazy-training diagnostics)",
        lambda a, e, t: lazy_history(e or a, t),
    ),
)


# the figures of claims drawn from evidence computed beside (or instead of) a sweep, and
# their captions
Drawing = Callable[[dict], Figure | None]
CLAIM_FIGURES: dict[str, tuple[Drawing, str]] = {
    "lazy-separated": (kernel_trend, "Clean error / p of the kernel limit against m"),
    "ntk-noise": (ntk_noise, "Generalisation error of ridgeless NTK regression against n"),
    "kkt-envelope": (
        kkt_envelope,
        "Clean error of every distinct certified KKT point of each sample against p, per m",
    ),
    "local-minima-1d": (
        kkt_envelope,
        "Clean error of every distinct certified KKT point against p (filled: global minima)",
    ),
    "calibration": (
        calibration,
        "L / p of the Nadaraya–Watson interpolator on either side of β = d, per clean law",
    ),
    "mnist-separation": (
        separation_histogram,
        "Distances to the nearest image of the other label; the kernel limit's excess against m",
    ),
}


# the figures of claims drawn from their verdict's evidence, and their captions
VERDICT_FIGURES: dict[str, tuple[Drawing, str]] = {
    "transition": (transition, "The crossover dimension d*(m) and the phase diagrams of L/p"),
}


def claim_figure(name: str, computed: dict, evidence: dict) -> tuple[Figure, str] | None:
    """The figure of claim ``name`` drawn from its computed evidence or its verdict's, with its
    caption; None for the claims whose figure is one of the report's."""
    if name in VERDICT_FIGURES:
        draw, caption = VERDICT_FIGURES[name]
        source = evidence
    elif name in CLAIM_FIGURES and computed:
        draw, caption = CLAIM_FIGURES[name]
        source = computed
    else:
        return None
    fig = draw(source)
    return None if fig is None else (fig, caption)
