"""The report in a real headless Chromium: it loads, every figure decodes, nothing is fetched."""

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import benign, swept, synthetic_store
from matplotlib.figure import Figure
from matplotlib.image import imread

from benign.regimes import analyse
from benign.report import write_report
from benign.sweep.store import load

SWEEP = """seeds = 4
[fixed]
m = 20
width = 20
steps = 10
[[grid]]
dist = ["interval"]
d = [1]
p = [0.1, 0.2]
[[grid]]
d = [3, 40]
p = [0.1, 0.2]
"""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("BENIGN_SKIP_BROWSER") == "1":
            pytest.skip("BENIGN_SKIP_BROWSER=1 and no chromium")
        pytest.fail("chromium is missing: run sh tests/setup-browser.sh (see the README)")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report")
    store = directory / "s.sqlite"
    synthetic_store(store, SWEEP, lambda c, s: c.p if c.d < 40 else 0.0)
    write_report(store, directory / "report.html")
    return directory


def test_report_files_and_content(report):
    page = (report / "report.html").read_text()
    names = {p.name for p in (report / "report_figures").iterdir()}
    figures = (  # every network certified: no error_vs_p_all, which would repeat error_vs_p
        "error_vs_p",
        "phase_diagram",
        "error_vs_d",
        "network_1d",
        "certificate_history",
        "error_vs_lipschitz",
        "lazy_history",
    )
    assert names == {f"{f}.{ext}" for f in figures for ext in ("png", "svg")}
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing to fetch
    assert "benign sweep synthetic.toml" in page and "steps = 10" in page
    embedded = json.loads(re.search(r'id="analysis">(.*?)</script>', page, re.S)[1])
    want = analyse(report / "s.sqlite")
    assert [(g["label"], g["verdict"]) for g in embedded["groups"]] == [
        (g.label, g.verdict) for g in want.groups
    ]
    assert [g["verdict"] for g in embedded["groups"]] == ["tempered", "tempered", "benign"]


def test_report_opens_in_chromium_with_every_figure_decoded(report, tmp_path):
    browser = chromium()
    url = (report / "report.html").resolve().as_uri()
    common = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*common, "--window-size=1400,1000", "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html_tag = re.search(r"<html[^>]*>", dom.stdout)[0]
    total = re.search(r'data-figures="(\d+)"', html_tag)
    decoded = re.search(r'data-figures-decoded="(\d+)"', html_tag)
    assert total and decoded, html_tag
    assert int(total[1]) == int(decoded[1]) == 7
    bottom = re.search(r'data-answer-bottom="(\d+)"', html_tag)  # the answer, 1400 px wide
    assert bottom and int(bottom[1]) <= 1000, html_tag  # on the first screen

    shot = tmp_path / "shot.png"
    r = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1200,2400", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    pixels = imread(shot)
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels[..., :3].std() > 0.05  # text, tables and plots, not a blank page


def test_report_command(report, tmp_path):
    r = benign("report", report / "s.sqlite", "-o", tmp_path / "r.html", "--all-networks")
    assert r.returncode == 0, r.stderr
    assert "d=1, dist=interval: tempered" in r.stdout and "d=40, dist=sphere: benign" in r.stdout
    assert (tmp_path / "r.html").is_file() and (tmp_path / "r_figures").is_dir()
    bad = benign("report", report / "s.sqlite", "-o", tmp_path / "r.pdf")
    assert bad.returncode == 2 and "--output: must end in .html" in bad.stderr
    bad = benign("report", tmp_path / "none.sqlite")
    assert bad.returncode == 2 and "no such store" in bad.stderr


@pytest.mark.slow  # a whole report written again (~10 s)
def test_report_of_a_store_still_being_filled(tmp_path):
    from benign.sweep.config import parse_sweep
    from benign.sweep.store import Store

    store = tmp_path / "s.sqlite"
    synthetic_store(store, SWEEP, lambda c, s: c.p)
    bigger = parse_sweep(SWEEP.replace("p = [0.1, 0.2]", "p = [0.1, 0.2, 0.3]"))
    with Store(store) as st:
        st.plan(bigger, "benign sweep bigger.toml")  # 12 runs at p = 0.3 not computed yet
    analysis, _ = write_report(store, tmp_path / "r.html")
    assert analysis.counts == {"runs": 36, "done": 24, "failed": 0, "pending": 12, "certified": 24}
    assert "12 not yet computed" in (tmp_path / "r.html").read_text()
    assert all(pt.p != 0.3 for g in analysis.groups for pt in g.points)


@pytest.mark.slow
def test_the_main_job(tmp_path):
    r = benign("demo", "--dir", tmp_path / "demo", timeout=900)
    assert r.returncode == 0, r.stderr
    assert "384 runs computed, 0 failed" in r.stdout
    assert "d=1, dist=interval: tempered" in r.stdout
    assert f"report → {tmp_path / 'demo' / 'report.html'}" in r.stdout.replace("\n", "")
    page = (tmp_path / "demo" / "report.html").read_text()
    # every d decided on certified KKT points: no network left out for lacking a certificate
    assert "384 certified KKT points" in page and "uncertified left out" not in page
    # no gradient descent in it: no certificate or lazy history, no gd+convex comparison
    assert page.count("data:image/png;base64,") == 5  # every network certified: one error_vs_p
    # the README's table of the demo is what this fresh run gives (`benign demo --write`)
    from benign.cli.sweep import DEMO_MARKERS
    from benign.report import demo_table

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split(DEMO_MARKERS[0])[1].split(DEMO_MARKERS[1])[0]
    assert block == demo_table(analyse(tmp_path / "demo" / "default.sqlite"))
    assert "Measures: Lipschitz constants, NTK eigenvalues, lazy training" in page
    bad = benign("demo", "--dir", tmp_path / "demo", "--preset", "huge")
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == "benign: error: --preset: must be one of default, lazy, quick, got 'huge'"
    )


@pytest.mark.slow
def test_the_demo_runs_any_preset(tmp_path):
    r = benign("demo", "--dir", tmp_path, "--preset", "quick", "--workers", 1)
    assert r.returncode == 0, r.stderr
    assert "200 runs computed" in r.stdout
    assert (tmp_path / "quick.toml").read_text().startswith("# A 200-network smoke sweep")
    assert (tmp_path / "quick.sqlite").is_file() and (tmp_path / "report.html").is_file()


LAZY_SWEEP = """seeds = 2
[fixed]
width = 32
param = "ntk"
init = "ntk"
init_scale = 4.0
center = true
loss = "square"
step_rule = "kernel"
lr = 1.0
steps = 3000
loss_tol = 0.05
certify_every = 0
test_half_width = 0.05
[[grid]]
dist = ["separated"]
d = [8]
m = [20, 40]
depth = [2, 3]
p = [0.0, 0.2]
[[grid]]
dist = ["digits"]
m = [60]
p = [0.2]
"""


def test_a_lazy_sweep_reports_its_measures_and_ntk_eigenvalues(tmp_path):
    """A small sweep on separated data and digits: the report's measures and the λ_min
    figure's lines are the stored values' means (computed here by SQL)."""
    import sqlite3

    from benign.plots import ntk_eigenvalues

    (tmp_path / "lazy.toml").write_text(LAZY_SWEEP)
    r = benign("sweep", tmp_path / "lazy.toml", "--workers", 1)
    assert r.returncode == 0, r.stderr
    store = tmp_path / "lazy.sqlite"
    analysis, _ = write_report(store, tmp_path / "r.html", certified_only=False)
    conn = sqlite3.connect(store)
    for g in analysis.groups:
        for pt in g.points:
            where = " AND ".join(f"{k} = ?" for k in ("dist", "m", "depth"))
            sql = "SELECT AVG(ntk_min), AVG(kernel_move), AVG(lipschitz_lower) FROM runs "
            sql += f"WHERE status = 'done' AND p = ? AND {where}"
            args = (pt.p, g.settings["dist"], g.settings["m"], g.settings["depth"])
            want = conn.execute(sql, args).fetchone()
            got = [pt.measures[k] for k in ("ntk_min", "kernel_move", "lipschitz_lower")]
            assert got == pytest.approx(want, rel=1e-12)
            assert pt.measures["kernel_move"] > 0
    fig = ntk_eigenvalues(analysis)
    m_panel, depth_panel = fig.axes
    for ax, axis in ((m_panel, "m"), (depth_panel, "depth")):
        other = "depth" if axis == "m" else "m"
        analytic = [ln for ln in ax.lines if ln.get_label().endswith("(analytic)")]
        assert len(analytic) == 2
        for line in analytic:
            value = int(line.get_label().split("=")[1].split(" ")[0])
            sql = f"SELECT {axis}, AVG(ntk_min) FROM runs WHERE status = 'done' AND "
            sql += f"dist = 'separated' AND {other} = ? GROUP BY {axis} ORDER BY {axis}"
            want = conn.execute(sql, (value,)).fetchall()
            np.testing.assert_allclose(line.get_xdata(), [w[0] for w in want])
            np.testing.assert_allclose(line.get_ydata(), [w[1] for w in want], rtol=1e-12)
    conn.close()
    page = (tmp_path / "r.html").read_text()
    # 2 seeds: too few for the error-against-p figures; no d = 1 net, no certificates
    drawn = {f.stem for f in (tmp_path / "r_figures").glob("*.png")}
    assert drawn == {"error_vs_lipschitz", "ntk_eigenvalues", "lazy_history"}
    assert page.count("data:image/png;base64,") == 3
    assert "λ_min Θ (analytic)" in page


def test_a_group_that_errs_without_noise_says_so(tmp_path):
    store = tmp_path / "s.sqlite"
    text = "seeds = 6\n[fixed]\nm = 20\nsteps = 10\nd = 5\n[grid]\np = [0.0, 0.1, 0.2]\n"
    synthetic_store(store, text, lambda c, s: 0.2 + c.p + 0.01 * s)
    (g,) = analyse(store).groups
    assert g.verdict == "fails_without_noise"
    assert "L = 0.225 [0.207, 0.242] already at p = 0" in g.reason  # bootstrap, seed order
    assert "excess L − L(0) by the same criteria: tempered at p = 0.1, 0.2" in g.reason
    synthetic_store(tmp_path / "t.sqlite", text, lambda c, s: c.p + 0.01 * s * (c.p > 0))
    (g,) = analyse(tmp_path / "t.sqlite").groups
    assert g.verdict == "tempered" and "already at p = 0" not in g.reason


def test_report_with_groups_sharing_a_d_and_no_certificate_values(tmp_path):
    import sqlite3

    from benign.plots import error_vs_d

    store = tmp_path / "s.sqlite"
    text = "seeds = 4\n[fixed]\nm = 20\nsteps = 10\n[grid]\np = [0.1, 0.2]\nd = [3, 40, 77]\n"
    text += "width = [20, 30]\n"
    synthetic_store(store, text, lambda c, s: c.p * (1 + (c.width == 30)) * 0.5 ** ((c.d - 3) / 37))
    conn = sqlite3.connect(store)
    with conn:
        conn.execute("UPDATE certificate_history SET eps_rel = NULL")  # e.g. centred nets
    conn.close()
    analysis, _ = write_report(store, tmp_path / "r.html")
    assert len(analysis.groups) == 6
    fig = error_vs_d(analysis)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    # L = p·k·2^(−(d − 3)/37) (k = 1, 2 by width): A·exp(b·d) through all three d
    b = math.log(0.5) / 37
    fits = [(w, p, p * (1 + (w == 30)) * math.exp(-3 * b)) for w in (20, 30) for p in (0.1, 0.2)]
    assert sorted(labels) == [
        f"width={w}, p = {p}, fit {a:.2g}·exp(−{-b:.2g}·d)" for w, p, a in fits
    ]
    page = (tmp_path / "r.html").read_text()
    assert "Not drawn, as this store has nothing for them: kKT certificate" not in page
    assert re.search(r"Not drawn, as this store has nothing for them: [^<]*KKT certificate", page)
    assert 'alt="KKT certificate' not in page  # left out, not a placeholder


def test_the_answer_comes_first_one_line_per_group_in_words(tmp_path):
    """The first table: a line per group with the settings that differ and that its method
    reads, the verdict, the verdict on every network where it differs (a group without a
    certified network says so in words), α, L at each p, the certified share, and what the
    papers predict; the evidence per p comes after the figures, folded."""
    store = tmp_path / "s.sqlite"
    # d = 1 tempered (L = p) and certified; d = 3 without a certificate; d = 40 benign
    text = SWEEP.replace("steps = 10\n", "").replace("d = [1]", "d = [1]\nrounds = [64, 32]")
    text = text.replace("d = [3, 40]", "d = [3, 40]\nsteps = [32]")  # not read by convex
    synthetic_store(
        store, text, lambda c, s: c.p if c.d < 40 else 0.0, certified=lambda c, s: c.d != 3
    )
    write_report(store, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    first = page.index("<table")
    assert page.index("<table id=answer>") == first < page.index("<img") < page.index("<details>")
    answer = page[first : page.index("</table>", first)]
    rows = answer.split("<tr>")[2:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    labels = [re.sub("<[^>]+>", "", c[0]) for c in cells]
    # rounds differs between groups, and every group's method reads it (convex's at its
    # default); convex does not read the steps of gradient descent, which are not shown
    assert labels == [
        "d=1, dist=interval, rounds=32",
        "d=1, dist=interval, rounds=64",
        "d=3, dist=sphere, rounds=100",
        "d=40, dist=sphere, rounds=100",
    ]
    _, one, three, forty = cells
    assert "tempered" in one[1] and one[2] == "the same" and one[5] == "8 / 8"
    assert one[4] == "0.1: 0.1 [0.1, 0.1]<br>0.2: 0.2 [0.2, 0.2]"  # L = p exactly: no width
    assert one[6].startswith("tempered (KYS")
    alpha = float(one[3].split()[0])
    assert alpha == pytest.approx(1.0, abs=1e-9)  # L = p exactly: α = 1
    assert three[1] == "0 / 8 certified: see the verdict on every network"
    assert "tempered" in three[2] and three[5] == "0 / 8" and three[6] == "—"  # d < m
    assert "benign" in forty[1] and forty[6].startswith("benign (KYS")  # d = 40 ≥ m = 20
    line = re.search(r"<p id=takeaway><b>In one line</b> — (.*?)</p>", page).group(1)
    assert line == (  # the group without a certified network has no verdict to count
        "tempered: d=1, dist=interval, rounds=32 · d=1, dist=interval, rounds=64; "
        "benign: d=40, dist=sphere, rounds=100"
    )


def test_the_answer_counts_the_global_minima_where_they_were_checked(tmp_path):
    """Certified networks whose distance from a global minimum was bounded (d = 1): the
    answer's certified column says how many are global; where a better pattern was searched
    for (d = 3), how many are shown not global; where neither, nothing."""
    store = tmp_path / "s.sqlite"
    text = SWEEP.replace("steps = 10\n", "")

    def tier(c, s):
        if c.d == 1:
            return "global" if s % 2 else "kkt"
        return "not_global" if c.d == 3 and s < 3 else "kkt"

    synthetic_store(
        store,
        text,
        lambda c, s: c.p,
        certified=True,
        global_gap=lambda c, s: (0.0 if s % 2 else 0.1) if c.d == 1 else math.nan,
        excess_found=lambda c, s: (0.1 if s < 3 else 0.0) if c.d == 3 else math.nan,
        optimality=tier,
    )
    write_report(store, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    answer = page[page.index("<table id=answer>") : page.index("</table>")]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in answer.split("<tr>")[2:]]
    assert [c[5] for c in cells] == ["8 / 8 (4 of 8 global)", "8 / 8 (6 of 8 not global)", "8 / 8"]


GD_CONVEX_SWEEP = """seeds = 2
[fixed]
dist = "sphere"
m = 16
width = 32
method = "gd+convex"
steps = 2000
test_half_width = 0.05
[grid]
d = [30]
bias = [true, false]
p = [0.2]
"""


def test_gd_against_kkt_figure_shows_both_networks_per_run(tmp_path):
    """gd+convex: the figure's points are (gd_clean_error, clean_error) of every run, read
    back here by SQL; filled points are the certified ones."""
    import sqlite3

    from benign.plots import gd_against_kkt

    (tmp_path / "g.toml").write_text(GD_CONVEX_SWEEP)
    r = benign("sweep", tmp_path / "g.toml", "--workers", 1)
    assert r.returncode == 0, r.stderr
    store = tmp_path / "g.sqlite"
    conn = sqlite3.connect(store)
    want = conn.execute(
        "SELECT gd_clean_error, clean_error, certified FROM runs WHERE status = 'done'"
    ).fetchall()
    conn.close()
    assert len(want) == 4 and all(w[2] for w in want)  # every KKT point certified
    fig = gd_against_kkt(load(store))
    got = np.vstack([c.get_offsets() for c in fig.axes[0].collections if len(c.get_offsets())])
    np.testing.assert_allclose(
        sorted(map(tuple, got)), sorted((w[0], w[1]) for w in want), rtol=1e-12
    )
    write_report(store, tmp_path / "r.html")
    assert (tmp_path / "r_figures" / "gd_against_kkt.png").is_file()


@pytest.mark.slow  # a whole report written again (~10 s)
def test_every_string_in_the_page_is_escaped(report, tmp_path):
    """The figures' folder is named after the output file: a name with markup stays text."""
    store = report / "s.sqlite"
    out = tmp_path / "<img src=x onerror=alert(2)>.html"
    write_report(store, out)
    page = out.read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def _overlaps_and_missing_labels(fig) -> list[str]:
    """What a reader would trip on, read from the drawn artists: two tick labels of one axis
    whose boxes overlap, an axis without a label (colour bars aside)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for i, ax in enumerate(fig.axes):
        if ax.get_label() == "<colorbar>":
            continue
        for name, axis, label in (
            ("x", ax.xaxis, ax.get_xlabel()),
            ("y", ax.yaxis, ax.get_ylabel()),
        ):
            if not label:
                found.append(f"axes {i}: no {name} label")
            texts = [
                t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()
            ]
            boxes = [t.get_window_extent(renderer) for t in texts]
            for a in range(len(boxes)):
                for b in range(a + 1, len(boxes)):
                    if boxes[a].overlaps(boxes[b]):
                        pair = f"{texts[a].get_text()!r}, {texts[b].get_text()!r}"
                        found.append(f"axes {i}: {name} labels {pair}")
        legend = ax.get_legend() or (fig.legends[0] if fig.legends else None)
        if legend is not None:  # no data point under a legend
            box = legend.get_window_extent(renderer)
            for points in _data_points(ax):
                if any(box.contains(x, y) for x, y in ax.transData.transform(points)):
                    found.append(f"axes {i}: the legend covers data")
                    break
    return found


def _data_points(ax) -> list:
    """The (x, y) data of the lines and scatter collections drawn in the axes."""
    import numpy as np

    out = [np.column_stack(line.get_data()) for line in ax.lines if len(line.get_xdata())]
    out += [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    return [np.asarray(p, dtype=float) for p in out]


def _contrast(a, b) -> float:
    """WCAG contrast ratio of two colours (independent of benign.plots.luminance)."""
    from matplotlib.colors import to_rgb

    def lum(colour):
        c = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in to_rgb(colour)]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_figure_reads_at_a_glance(tmp_path):
    """Each figure of a store with p from 0.05 (a short log axis, where minor ticks get labels)
    and groups with L = 0: no tick labels overlap, every axis is labelled, L = 0 is marked as
    such, and the certificate history draws its threshold with a colour per group."""
    from benign import plots

    store = tmp_path / "s.sqlite"
    text = SWEEP.replace("p = [0.1, 0.2]", "p = [0.0, 0.05, 0.1, 0.2, 0.3]")
    synthetic_store(store, text, lambda c, s: c.p * (0.8 + 0.05 * s) if c.d < 40 else 0.0)
    tables = load(store, params=plots.network_1d_candidates)
    analysis, everyone = analyse(tables.runs), analyse(tables.runs, certified_only=False)
    figures = {
        spec.name: spec.draw(analysis, everyone, tables)
        for spec in plots.FIGURES
        if spec.name not in ("error_vs_p_all", "gd_against_kkt", "ntk_eigenvalues")
    }
    for name, fig in figures.items():
        assert fig is not None, name
        assert _overlaps_and_missing_labels(fig) == [], name
    for name in ("error_vs_p", "error_vs_d"):  # d = 40: L = 0 at every p
        ax = figures[name].axes[0]
        assert "L = 0 (drawn at 10⁻⁴)" in [t.get_text() for t in ax.get_legend().get_texts()]
        floor = [ln for ln in ax.lines if ln.get_marker() == "v" and ln.get_mfc() == "white"]
        assert floor and all(set(ln.get_ydata()) == {1e-4} for ln in floor), name
    # p = 0 drawn apart at the left of error_vs_p, with a tick of its own
    ax = figures["error_vs_p"].axes[0]
    assert "0" in [t.get_text() for t in ax.get_xticklabels()]
    apart = [ln for ln in ax.lines if ln.get_marker() == "s"]
    assert apart and all(max(ln.get_xdata()) < 0.05 for ln in apart)
    # error_vs_d: log d; the interval (d = 1) a diamond, joined to no sphere point
    ax = figures["error_vs_d"].axes[0]
    assert ax.get_xscale() == "log"
    diamonds = [ln for ln in ax.lines if ln.get_marker() == "D"]
    assert diamonds and all(list(ln.get_xdata()) == [1.0] for ln in diamonds)
    joined = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert joined and all(1.0 not in list(ln.get_xdata()) for ln in joined)
    # the phase diagram: each number legible on its cell, the scale fitted to the data
    ax = figures["phase_diagram"].axes[0]
    image = ax.images[0]
    for text in ax.texts:
        j, i = (round(v) for v in text.get_position())
        cell = image.cmap(image.norm(image.get_array()[i, j]))
        assert _contrast(text.get_color(), cell) >= 4.5, text.get_text()
    assert image.norm.vmax <= 1  # in decades of L/p: here it stays near 1
    # error_vs_lipschitz: a colour per p, told apart; every network on the axes
    fig = figures["error_vs_lipschitz"]
    from matplotlib.colors import to_rgb

    handles = fig.axes[-1].get_legend().legend_handles
    colours = [to_rgb(h.get_color()) for h in handles if h.get_label().startswith("p = ")]
    assert len(colours) == 5
    for a in range(len(colours)):
        for b in range(a + 1, len(colours)):
            assert (
                sum((x - y) ** 2 for x, y in zip(colours[a], colours[b], strict=True)) ** 0.5 > 0.2
            )
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        for points in _data_points(ax):
            assert ((points[:, 0] >= lo) & (points[:, 0] <= hi)).all()
    ax = figures["certificate_history"].axes[0]
    thresholds = [ln for ln in ax.lines if ln.get_label().startswith("ε = 0.05: certified below")]
    assert len(thresholds) == 1 and thresholds[0].get_ydata()[0] == 0.05
    groups = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(groups) == len(set(groups)) and "seed" not in " ".join(groups)


TINY_GD = """name = "tiny"
seeds = 2
[fixed]
dist = "sphere"
m = 20
width = 20
d = 5
method = "gd"
steps = 200
[grid]
p = [0.0, 0.1, 0.2]
"""


@pytest.fixture(scope="module")
def gd_store(tmp_path_factory):
    return swept(tmp_path_factory.mktemp("gd"), TINY_GD, "tiny")


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM history",  # as after `benign recover`
        "DELETE FROM certificate_history",
        "UPDATE history SET loss = 1e999, kernel_move = -1e999, param_move = 1e999",
        "UPDATE history SET kernel_move = 0, param_move = -1",
        "INSERT INTO history (run_id, step, loss, kernel_move) VALUES ('gone', 3, 0.5, 0.1)",
        "UPDATE runs SET lipschitz_lower = 0, lipschitz_upper = -1e999, ntk_min = -1",
    ],
)
def test_the_report_draws_what_any_store_holds(gd_store, tmp_path, damage):
    import sqlite3

    store = tmp_path / "s.sqlite"
    shutil.copy(gd_store, store)
    with sqlite3.connect(store) as conn:
        conn.execute(damage)
    r = benign("report", store, "-o", tmp_path / "r.html")
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "r_figures").iterdir())
    assert files and all(f.stat().st_size > 0 for f in files)
    for f in files:
        if f.suffix == ".png":
            assert imread(f).ndim == 3  # a whole PNG


def test_a_figure_that_fails_leaves_nothing_written(gd_store, tmp_path, monkeypatch):
    from benign import plots

    class Unrenderable(Figure):
        def savefig(self, *args, **kwargs):
            raise ValueError("cannot be rendered")

    monkeypatch.setattr(plots, "lazy_history", lambda *args: Unrenderable())  # drawn last
    with pytest.raises(ValueError, match="cannot be rendered"):
        write_report(gd_store, tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_the_glance_check_sees_a_legend_over_data_and_white_on_yellow():
    """The checks of the glance test fire: a legend on a cloud of points, and white text on
    a light cell."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(layout="constrained")
    ax = fig.add_subplot()
    grid = np.linspace(0, 1, 30)
    x, y = np.meshgrid(grid, grid)
    ax.scatter(x.ravel(), y.ravel(), label="a cloud")
    ax.set(xlabel="x", ylabel="y")
    ax.legend(loc="center")
    assert "axes 0: the legend covers data" in _overlaps_and_missing_labels(fig)
    assert _contrast("white", (0.96, 0.98, 0.69)) < 4.5 <= _contrast("black", (0.96, 0.98, 0.69))


def test_no_second_error_figure_when_every_network_is_certified(tmp_path):
    """error_vs_p_all would repeat error_vs_p, the evidence with every network the evidence
    table: each given only where some interpolating network was left out uncertified."""
    every, some = tmp_path / "every.sqlite", tmp_path / "some.sqlite"
    synthetic_store(every, SWEEP, lambda c, s: c.p, certified=True)
    synthetic_store(some, SWEEP, lambda c, s: c.p, certified=lambda c, s: s != 0)
    write_report(every, tmp_path / "every.html")
    write_report(some, tmp_path / "some.html")
    assert not (tmp_path / "every_figures" / "error_vs_p_all.png").exists()
    assert (tmp_path / "some_figures" / "error_vs_p_all.png").exists()
    # nor the evidence table twice, word for word
    every_page = (tmp_path / "every.html").read_text()
    assert "Every interpolating network is certified: the table above is theirs." in every_page
    assert every_page.count("<table") == (tmp_path / "some.html").read_text().count("<table") - 1


def test_demo_write_refuses_a_file_without_the_markers_before_any_work(tmp_path):
    (tmp_path / "notes.md").write_text("no block here\n")
    r = benign("demo", "--preset", "quick", "--dir", tmp_path / "d", "--write",
               tmp_path / "notes.md")  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--write" in r.stderr
    assert not (tmp_path / "d").exists()  # nothing done


@pytest.mark.slow  # two quick demos (~14 s)
def test_demo_write_puts_this_runs_table_and_times_between_the_markers(tmp_path):
    """--write fills both blocks and keeps what lies around them; a second run says that it
    computed nothing and that the store held every network."""
    from benign.cli.sweep import DEMO_MARKERS, TIMES_MARKERS

    doc = tmp_path / "doc.md"
    doc.write_text(
        f"before\n{DEMO_MARKERS[0]}old\n{DEMO_MARKERS[1]}\nmiddle\n"
        f"{TIMES_MARKERS[0]}{TIMES_MARKERS[1]}\nafter\n"
    )
    args = ("demo", "--preset", "quick", "--dir", tmp_path / "d", "--workers", 1, "--write", doc)
    first = benign(*args)
    assert first.returncode == 0, first.stderr
    written = doc.read_text()
    table = written.split(DEMO_MARKERS[0])[1].split(DEMO_MARKERS[1])[0]
    assert table.startswith("| d | L at p = ") and "old" not in table
    assert written.startswith("before\n") and written.endswith("after\n")
    assert "\nmiddle\n" in written
    times = written.split(TIMES_MARKERS[0])[1].split(TIMES_MARKERS[1])[0]
    from benign.sweep.store import table_frame

    n = len(table_frame(tmp_path / "d" / "quick.sqlite"))
    assert f"the sweep computed {n} networks in " in times and "with 1 worker," in times
    assert f"{os.cpu_count()} cores, load average " in times and "store already" not in times
    again = benign(*args)
    assert again.returncode == 0, again.stderr
    times = doc.read_text().split(TIMES_MARKERS[0])[1].split(TIMES_MARKERS[1])[0]
    assert "computed 0 networks in " in times and f"({n} more were in the store already)" in times


def test_the_report_reads_its_store_once(tmp_path, monkeypatch):
    """write_report opens as many connections to its store as one benign.load does (the
    checks and one read), not one per figure and table as it did."""
    import sqlite3

    from benign.sweep import store as store_module

    store = tmp_path / "s.sqlite"
    text = SWEEP.replace("p = [0.1, 0.2]", "p = [0.0, 0.1, 0.2]")
    synthetic_store(store, text, lambda c, s: c.p)
    opened = []
    connect = sqlite3.connect

    def counted(database, *args, **kwargs):
        if str(database) != ":memory:":
            opened.append(database)
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counted)

    def connections(read) -> int:
        store_module._damage.cache_clear()  # the checks count in both
        store_module._nonconforming.cache_clear()
        opened.clear()
        read()
        return len(opened)

    once = connections(lambda: load(store))
    assert 1 < once <= 4  # the checks and the read
    assert connections(lambda: write_report(store, tmp_path / "r.html")) == once
