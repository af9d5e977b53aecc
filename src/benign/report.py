"""The report: one static HTML page with the sweep, its counts, the verdicts with their
evidence, every figure (embedded) and the command that reproduces the store."""

import base64
import html
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from benign import __version__
from benign.files import atomic_path
from benign.regimes import (
    BENIGN_RATIO,
    MEASURES,
    MIN_SEEDS,
    N_BOOT,
    SMALL_P,
    TEMPERED_RATIOS,
    Analysis,
    Group,
    analyse,
    paper_prediction,
)
from benign.sweep.store import load

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
.benign { color: #1a7f37; font-weight: bold; } .tempered { color: #b35900; font-weight: bold; }
.catastrophic { color: #c62828; font-weight: bold; } .undecided { color: #666; font-weight: bold; }
.mixed { color: #8a6d00; font-weight: bold; }
.fails_without_noise { color: #6a1b9a; font-weight: bold; }
figure { margin: 2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
td.nw { white-space: nowrap; }
"""
# records, in the page itself, how many of its figures the browser decoded and where the
# answer table ends (px from the top): what a reader sees first
DECODE_CHECK = """
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.documentElement.dataset.figures = imgs.length;
  document.documentElement.dataset.figuresDecoded = ok;
  const answer = document.getElementById("answer");
  if (answer) {
    document.documentElement.dataset.answerBottom = Math.round(
      answer.getBoundingClientRect().bottom + window.scrollY);
  }
});
"""


def fmt(x: float | None, spec: str = ".3g") -> str:
    """A number in the format ``spec``; — for a missing or NaN value."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _interval(lo: float, hi: float) -> str:
    return "—" if math.isnan(lo) else f"[{fmt(lo)}, {fmt(hi)}]"


def _verdict_table(analysis: Analysis, everyone: Analysis | None) -> str:
    head = (
        "<tr><th class=l>group</th><th>p</th><th>networks</th><th>left out (uncertified)</th>"
        "<th>failed</th><th>realised noise</th><th>certified share</th><th>mean L</th>"
        "<th>95% CI of L</th><th>L/p</th><th>95% CI of L/p</th></tr>"
    )
    rows = []
    others = {g.label: g for g in everyone.groups} if everyone else {}
    for g in analysis.groups:
        fit = g.fit
        fit_text = (
            f"L ≈ {fmt(fit.c)}·p^{fmt(fit.alpha)}; α ∈ {_interval(fit.alpha_lo, fit.alpha_hi)}, "
            f"c ∈ {_interval(fit.c_lo, fit.c_hi)}"
            if not math.isnan(fit.alpha)
            else "no fit (fewer than two p with L > 0)"
        )
        other = others.get(g.label)
        also = (
            f"; with the uncertified networks: <span class={other.verdict}>{other.verdict}"
            f"</span> ({html.escape(other.reason)})"
            if other
            else ""
        )
        rows.append(
            f"<tr><td class=l colspan=11><b>{html.escape(g.label)}</b>: "
            f"<span class={g.verdict}>{g.verdict}</span> ({html.escape(g.reason)}){also}"
            f"<br>{fit_text}</td></tr>"
        )
        for pt in g.points:
            rows.append(
                f"<tr><td></td><td>{pt.p:g}</td><td>{pt.n}</td><td>{pt.left_out}</td>"
                f"<td>{pt.failed}</td><td>{fmt(pt.flip_rate)}</td>"
                f"<td>{fmt(pt.certified_share)}</td><td>{fmt(pt.mean)}</td>"
                f"<td>{_interval(pt.lo, pt.hi)}</td><td>{fmt(pt.ratio)}</td>"
                f"<td>{_interval(pt.ratio_lo, pt.ratio_hi)}</td></tr>"
            )
    return f"<table>{head}{''.join(rows)}</table>"


ANSWER_CERTIFIED = (
    "Verdicts on certified KKT points; the next column gives the verdict on every "
    "interpolating network where it differs."
)
ANSWER_ALL = "Verdicts on every interpolating network, certified or not."


def demo_table(analysis: Analysis) -> str:
    """The groups as the README's Markdown table: d (the interval's marked LP), mean L at each
    p, α of L ≈ c·p^α with its 95% interval, the verdict (with why, where it is mixed or
    undecided), and the certified networks with what is known of their optimality."""
    ps = sorted({pt.p for g in analysis.groups for pt in g.points})
    head = (
        "| d | "
        + " | ".join([f"L at p = {ps[0]:g}", *(f"{p:g}" for p in ps[1:])])
        + " | fit L ≈ c·p^α: α (95% CI) | verdict | certified (optimality) |\n"
    )
    rule = "| --: | " + "--: | " * len(ps) + "--- | --- | --- |\n"
    rows = []
    for g in analysis.groups:
        d = (
            f"{g.settings['d']} (LP)"
            if g.settings.get("dist") == "interval"
            else f"{g.settings['d']}"
        )
        at = {pt.p: pt.mean for pt in g.points}
        cells = [fmt(at.get(p, math.nan), ".3f") for p in ps]
        fit = g.fit
        alpha = f"{fit.alpha:.2f} ({fit.alpha_lo:.2f}–{fit.alpha_hi:.2f})"
        why = g.reason.split("; at m = ")[0]
        verdict = g.verdict + (f" ({why})" if g.verdict in ("mixed", "undecided") else "")
        rows.append(
            f"| {d} | " + " | ".join(cells) + f" | {alpha} | {verdict} | {_certified(g)} |\n"
        )
    return head + rule + "".join(rows)


def take_away(analysis: Analysis) -> str:
    """One line for a whole sweep: each verdict with the groups that got it, in the order the
    groups come (e.g. "tempered: d=1 · d=2; mixed: d=500"); groups with no network to judge
    left out."""
    by_verdict: dict[str, list[str]] = {}
    for g in analysis.groups:
        if g.judged:
            by_verdict.setdefault(g.verdict, []).append(g.label)
    return "; ".join(f"{v}: {' · '.join(labels)}" for v, labels in by_verdict.items())


def _certified(g: Group) -> str:
    """Certified of the interpolating networks, and what is known of their optimality, e.g.
    "64 / 64 (3 of 64 global; 43 of 61 not global)"."""
    interpolating = sum(pt.n + pt.left_out for pt in g.points)
    certified = sum(
        round(pt.certified_share * (pt.n + pt.left_out))
        for pt in g.points
        if not math.isnan(pt.certified_share)
    )
    checked = sum(pt.checked for pt in g.points)
    searched = sum(pt.searched for pt in g.points)
    shown = [f"{sum(pt.global_minima for pt in g.points)} of {checked} global"] * bool(checked)
    shown += [f"{sum(pt.not_global for pt in g.points)} of {searched} not global"] * bool(searched)
    return f"{certified} / {interpolating}" + (f" ({'; '.join(shown)})" if shown else "")


def _answer_table(analysis: Analysis, everyone: Analysis | None) -> str:
    """The first screen: a line per group with the verdict on the networks that count, the
    verdict on every interpolating network where it differs, α with its interval, L at each
    p, the certified share, and what the papers predict for such networks."""
    others = {g.label: g for g in everyone.groups} if everyone else {}
    head = (
        "<tr><th class=l>group</th><th class=l>verdict</th><th class=l>every network</th>"
        "<th class=l>α (L ≈ c·p<sup>α</sup>)</th><th class=l>mean L [95%] at each p</th>"
        "<th>certified</th><th class=l>the papers predict</th></tr>"
    )
    rows = []
    for g in analysis.groups:
        other = others.get(g.label)
        counted = sum(pt.n for pt in g.points)
        interpolating = sum(pt.n + pt.left_out for pt in g.points)
        if analysis.certified_only and counted == 0:
            verdict = f"0 / {interpolating} certified: see the verdict on every network"
        else:
            verdict = f"<span class={g.verdict}>{g.verdict}</span> ({html.escape(g.reason)})"
        if other is None:
            every = "—"
        elif other.verdict == g.verdict and counted:
            every = "the same"
        else:
            every = (
                f"<span class={other.verdict}>{other.verdict}</span> ({html.escape(other.reason)})"
            )
        fit = g.fit if counted or other is None else other.fit
        alpha = (
            "—"
            if math.isnan(fit.alpha)
            else f"{fmt(fit.alpha)} {_interval(fit.alpha_lo, fit.alpha_hi)}"
            + ("" if fit is g.fit else " (every network)")
        )
        means = g.points if counted or other is None else other.points
        at_p = "<br>".join(
            f"{pt.p:g}: {fmt(pt.mean, '.2g')}"
            + ("" if math.isnan(pt.lo) else f" [{fmt(pt.lo, '.2g')}, {fmt(pt.hi, '.2g')}]")
            for pt in means
        )
        rows.append(
            f"<tr><td class=l><b>{html.escape(g.label)}</b></td><td class=l>{verdict}</td>"
            f"<td class=l>{every}</td><td class=l>{alpha}</td><td class='l nw'>{at_p}</td>"
            f"<td>{_certified(g)}</td>"
            f"<td class=l>{html.escape(paper_prediction(g.settings)) or '—'}</td></tr>"
        )
    return f"<table id=answer>{head}{''.join(rows)}</table>"


def _trend_table(analysis: Analysis) -> str:
    """The trends in m (groups equal in every setting but m): the verdict at each m and the
    verdict as m grows; nothing where no setting but m separates them."""
    if not analysis.trends:
        return ""
    rows = [
        f"<tr><td class=l><b>{html.escape(t.label)}</b></td>"
        f"<td class=l><span class={t.verdict}>{t.verdict}</span> ({html.escape(t.reason)})</td>"
        "<td class=l>"
        + " · ".join(
            f"{m}: <span class={v}>{v}</span>" for m, v in zip(t.ms, t.verdicts, strict=True)
        )
        + "</td></tr>"
        for t in analysis.trends
    ]
    head = (
        "<tr><th class=l>groups with the same settings but m</th><th class=l>as m grows</th>"
        "<th class=l>verdict at each m</th></tr>"
    )
    return (
        "<h3>As m grows</h3><p>The theorems speak of m → ∞, and a group's verdict is about its "
        "one m: where groups differ only in m, the regime as m grows is the verdict at the "
        "two largest m where they agree, else undecided.</p>"
        f"<table id=trends>{head}{''.join(rows)}</table>"
    )


MEASURE_HEADS = {
    "train_error": "train error",
    "normalised_margin": "γ",
    "lipschitz_lower": "Lip ≥",
    "lipschitz_upper": "Lip ≤",
    "ntk_min": "λ_min Θ (analytic)",
    "entk_min_init": "λ_min Θ̂_0",
    "entk_min": "λ_min Θ̂_T",
    "param_move": "θ moved",
    "kernel_move": "Θ̂ moved",
    "pattern_flips": "flipped ReLUs",
}


def _measures_table(analysis: Analysis) -> str:
    """Per group and p: the networks' mean measures beside their mean clean error."""
    heads = "".join(f"<th>{html.escape(MEASURE_HEADS[k])}</th>" for k in MEASURES)
    rows = [f"<tr><th class=l>group</th><th>p</th><th>networks</th><th>mean L</th>{heads}</tr>"]
    for g in analysis.groups:
        rows.append(
            f"<tr><td class=l colspan={4 + len(MEASURES)}><b>{html.escape(g.label)}</b></td></tr>"
        )
        for pt in g.points:
            cells = "".join(f"<td>{fmt(pt.measures[k])}</td>" for k in MEASURES)
            rows.append(
                f"<tr><td></td><td>{pt.p:g}</td><td>{pt.n}</td><td>{fmt(pt.mean)}</td>{cells}</tr>"
            )
    return f"<table>{''.join(rows)}</table>"


MEASURES_TEXT = """
<p>Means over the interpolating networks of each group and p, certified or not (failed runs
never count; a value a network lacks, e.g. the lazy diagnostics of an LP solution, is
skipped). Lip ≥: the largest
input-gradient norm max<sub>i</sub> ‖∇f(x<sub>i</sub>)‖ over the training points; Lip ≤: the
weights' bound (Σ|v<sub>j</sub>|‖w<sub>j</sub>‖ for two layers, the product of spectral norms
for deep nets); both of f − f<sub>0</sub> for centred nets. λ<sub>min</sub> of the NTK Gram
matrix of the training points: Θ the analytic infinite-width kernel, Θ̂<sub>0</sub> and
Θ̂<sub>T</sub> the network's empirical kernel at initialisation and after training. Lazy-training
diagnostics (gradient descent only): θ moved = ‖θ<sub>T</sub> − θ<sub>0</sub>‖/‖θ<sub>0</sub>‖,
Θ̂ moved = ‖Θ̂<sub>T</sub> − Θ̂<sub>0</sub>‖<sub>F</sub>/‖Θ̂<sub>0</sub>‖<sub>F</sub>, flipped ReLUs
= the share of (unit, training point) activations whose sign changed; small values mean the
lazy (kernel) regime. γ: the normalised margin (homogeneous nets only).</p>"""


def _criteria(certified_only: bool) -> str:
    low, high = TEMPERED_RATIOS
    kept = (
        "interpolating networks with a KKT certificate (the others are counted as left out)"
        if certified_only
        else "every interpolating network, certified or not"
    )
    return f"""
<p>L is the clean test error (exact in d = 1, on the held-out rows for a dataset, Monte Carlo
elsewhere), averaged over the {kept}
of a group at one p; failed runs (no network, divergence, NaN, no interpolation within the
budget) never count. Intervals are expanded-percentile bootstraps over seeds ({N_BOOT}
resamples, fixed seed). Each p meets at most one criterion, and a verdict is about the
group's one m (an indication of the m → ∞ regime):</p>
<ul>
<li><span class=undecided>undecided</span> first if some p &gt; 0 has fewer than {MIN_SEEDS}
networks;</li>
<li><span class=fails_without_noise>fails_without_noise</span>: at p = 0 the lower 95% bound of
L is above {BENIGN_RATIO} times the smallest p (the error is not the noise's; the reason judges
the excess L − L(0) by the criteria below);</li>
<li><span class=benign>benign</span>: at every p the upper 95% bound of L is at most
{BENIGN_RATIO}·p;</li>
<li><span class=tempered>tempered</span>: at every p the 95% interval of L/p lies inside
[{low}, {high}];</li>
<li><span class=catastrophic>catastrophic</span>: the smallest p is at most {SMALL_P} and there
the lower 95% bound of L/p is above {high} (L stays away from 0 as p → 0);</li>
<li><span class=mixed>mixed</span>: every p meets one of these, not all the same (the reason
says which, e.g. benign for small p, tempered for large);</li>
<li><span class=undecided>undecided</span> otherwise: the intervals are too wide.</li>
</ul>"""


@dataclass
class Figures:
    """A page's figures, rendered in memory as they are added and written together once the
    page is ready (a figure that cannot be drawn, or a full disk, leaves none half-written)."""

    directory: Path
    files: dict[str, bytes] = field(default_factory=dict)

    def html(self, fig: "Figure", name: str, caption: str) -> str:
        """The figure embedded with its caption; its PNG and SVG kept for :meth:`write`."""
        from benign import plots

        png, svg = plots.rendered(fig)
        self.files[f"{name}.png"], self.files[f"{name}.svg"] = png, svg
        data = base64.b64encode(png).decode()
        return (
            f'<figure id="{html.escape(name)}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)} (also {name}.svg in "
            f"{html.escape(self.directory.name)}/)</figcaption></figure>"
        )

    def write(self) -> None:
        """Every file into :attr:`directory`, each whole or none: written into a folder beside
        it, then moved in."""
        if not self.files:
            return
        try:
            tmp = tempfile.mkdtemp(dir=self.directory.parent, prefix=f".{self.directory.name}.")
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.directory)) from None
        try:
            for name, data in self.files.items():
                try:
                    (Path(tmp) / name).write_bytes(data)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, str(self.directory / name)) from None
            self.directory.mkdir(exist_ok=True)
            for name in self.files:
                os.replace(Path(tmp) / name, self.directory / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def write_report(
    store: Path,
    out: Path,
    certified_only: bool = True,
    preface: str = "",
    figures: Figures | None = None,
) -> tuple[Analysis, Analysis | None]:
    """Write the report of ``store`` to ``out`` (atomically), its figures as PNG and SVG into
    ``<out stem>_figures/`` beside it (with those already in ``figures``: a preface's),
    ``preface`` (HTML) before the answer; returns the
    analysis of its verdicts and, when those are on certified networks only, the analysis of
    every interpolating network."""
    from benign import plots  # Matplotlib: imported by the commands that draw (1.2 s)

    store, out = Path(store), Path(out)
    tables = load(store, params=plots.network_1d_candidates)
    analysis = analyse(tables.runs, certified_only)
    everyone = analyse(tables.runs, certified_only=False) if certified_only else None
    last = tables.sweeps.iloc[-1] if len(tables.sweeps) else None
    name, command, source, started = (
        ("—", "", "", "") if last is None else last[["name", "command", "source", "started"]]
    )
    versions = list(dict.fromkeys(tables.runs.versions.dropna()))
    c = analysis.counts
    figures = figures or Figures(figure_dir(out))
    drawn, missing, why = [], [], []
    for spec in plots.FIGURES:
        fig = spec.draw(analysis, everyone, tables)
        if isinstance(fig, str):
            why.append(f"<p>Not drawn: {html.escape(_lower_first(spec.caption))} — {fig}.</p>")
        elif fig is not None:
            drawn.append(figures.html(fig, spec.name, spec.caption))
        elif not spec.quiet:
            missing.append(_lower_first(spec.caption))
    not_drawn = "".join(why) + (
        "<p>Not drawn, as this store has nothing for them: "
        + "; ".join(html.escape(c) for c in missing)
        + ".</p>"
        if missing
        else ""
    )
    left_out = any(pt.left_out for g in analysis.groups for pt in g.points)
    everyone_table = (
        "<h3>Every interpolating network, certified or not</h3>"
        + (
            "<p>The same statistics and criteria with the uncertified networks included.</p>"
            + _verdict_table(everyone, None)
            if left_out
            else "<p>Every interpolating network is certified: the table above is theirs.</p>"
        )
        if everyone
        else ""
    )
    page = f"""{_head(f"benign report: {name}")}
<h1>How these networks overfit: sweep <code>{html.escape(name)}</code></h1>
<p>Store <code>{html.escape(str(store))}</code>, read {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
by benign {__version__}. Runs: {c["runs"]} in all, {c["done"]} done, {c["failed"]} failed,
{c["pending"]} not yet computed; {c["certified"]} certified KKT points.</p>
{preface}
<h2>The answer</h2>
<p>One line per group of networks (equal in every setting but p and the seed; the settings
shown are those that differ between groups and that the group's method reads).
{ANSWER_CERTIFIED if certified_only else ANSWER_ALL}
The criteria and the evidence at each p are below the figures.</p>
<p id=takeaway><b>In one line</b> — {html.escape(take_away(analysis)) or "no group to judge"}</p>
{_answer_table(analysis, everyone)}
{_trend_table(analysis)}
<h2>Figures</h2>
{"".join(drawn)}
{not_drawn}
<h2>Evidence</h2>
<details><summary>Verdicts at each p, with the criteria and the intervals</summary>
{_criteria(certified_only)}
{_verdict_table(analysis, everyone)}
{everyone_table}
</details>
<details><summary>Measures: Lipschitz constants, NTK eigenvalues, lazy training</summary>
{MEASURES_TEXT}
{_measures_table(everyone or analysis)}
</details>
<h2>Reproduce</h2>
<p>Last sweep into this store (started {html.escape(started)}), from the directory it ran in:</p>
<pre>{html.escape(command)}</pre>
<p>Its sweep file:</p>
<pre>{html.escape(source)}</pre>
<p>Computed with: {html.escape("; ".join(str(v) for v in versions if v) or "—")}.</p>
<script type="application/json" id="analysis">{_json(_summary(analysis))}</script>
</body></html>
"""
    figures.write()
    with atomic_path(out) as tmp:
        tmp.write_text(page)
    return analysis, everyone


def _lower_first(text: str) -> str:
    """A caption inside a sentence: its first letter lower-cased, unless it starts an acronym
    ("KKT")."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def figure_dir(out: Path) -> Path:
    """Where the figures of the page ``out`` go: ``<out stem>_figures/`` beside it."""
    return out.parent / f"{out.stem}_figures"


def _head(title: str) -> str:
    """A page's start, to its body: title, the report's style and its decode check."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{CSS}</style><script>{DECODE_CHECK}</script></head><body>"""


def write_page(out: Path, title: str, body: str) -> None:
    """A page of its own (atomically): ``body`` (HTML) under the report's style."""
    page = f"""{_head(title)}
<h1>{html.escape(title)}</h1>
<p>Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by benign {__version__}.</p>
{body}
</body></html>
"""
    with atomic_path(out) as tmp:
        tmp.write_text(page)


def _json(doc: dict) -> str:
    """JSON safe inside a script element (NaN as null)."""
    text = json.dumps(doc, allow_nan=True).replace("NaN", "null")
    return text.replace("</", "<\\/")


def _summary(analysis: Analysis) -> dict:
    """The verdict table as data, for programs that read the page."""
    return {
        "certified_only": analysis.certified_only,
        "counts": analysis.counts,
        "groups": [
            {
                "label": g.label,
                "verdict": g.verdict,
                "reason": g.reason,
                "points": [{"p": pt.p, "n": pt.n, "mean": pt.mean} for pt in g.points],
            }
            for g in analysis.groups
        ],
        "trends": [
            {
                "label": t.label,
                "m": t.ms,
                "verdicts": t.verdicts,
                "verdict": t.verdict,
                "reason": t.reason,
            }
            for t in analysis.trends
        ],
    }
