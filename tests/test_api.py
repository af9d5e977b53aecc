"""The public API: docs/api.md runs as a doctest, and `benign.__all__` is what it documents."""

import doctest
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import benign as run_cli

import benign
from benign.sweep.store import SCHEMA_VERSION, check_store, read_table

DOC = Path(__file__).parents[1] / "docs" / "api.md"


def test_api_doc_examples_run():
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=flags)
    assert result.attempted > 40 and result.failed == 0


def test_every_public_name_exists_and_is_documented():
    text = DOC.read_text()
    for name in benign.__all__:
        assert hasattr(benign, name), name
        if name != "__version__" and not name[0].isupper():
            assert f"benign.{name}(" in text or f"`{name}`" in text, name


# ----- results as DataFrames, kept networks ---------------------------------------------------

LP_SWEEP = """
seeds = 4
[fixed]
dist = "interval"
d = 1
m = 30
width = 60
lp_grid = 200
[grid]
p = [0.1, 0.3]
"""


@pytest.fixture(scope="module")
def lp_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "lp.sqlite"
    benign.compute(benign.parse_sweep(LP_SWEEP), path)
    return path


def test_load_types_and_values_match_the_database(lp_store):
    tables = benign.load(lp_store)
    columns, rows = read_table(lp_store)
    runs = tables.runs
    assert list(runs.columns) == columns and len(runs) == len(rows) == 8
    assert str(runs.certified.dtype) == "boolean" and str(runs.seed.dtype) == "Int64"
    assert str(runs.clean_error.dtype) == "float64" and str(runs.dist.dtype) == "string"
    # every value as SQLite holds it: booleans are its 0/1, NULL is missing
    for i, row in enumerate(rows):
        for c, raw in zip(columns, row, strict=True):
            got = runs[c].iloc[i]
            if raw is None:
                assert pd.isna(got), c
            else:
                assert got == raw, c
    conn = sqlite3.connect(lp_store)
    n_hist = conn.execute("SELECT count(*) FROM history").fetchone()[0]
    conn.close()
    assert len(tables.history) == n_hist and len(tables.certificate_history) == 0


def test_to_frame_matches_the_store_and_kept_params_match_a_recomputation(lp_store):
    """The same runs through run_experiment: equal records and equal parameters."""
    stored = benign.load(lp_store).runs
    row = stored[stored.p == 0.3].sort_values("seed").iloc[0]
    config = benign.RunConfig.model_validate_json(row.settings)
    exp = benign.run_experiment(config, seeds=[0, 1, 2, 3])
    frame = exp.to_frame()
    mine = frame[frame.seed == row.seed].iloc[0]
    for c in frame.columns:
        if c not in ("seconds",):
            assert (pd.isna(mine[c]) and pd.isna(row[c])) or mine[c] == row[c], c
    kept = benign.load_params(lp_store, row.run_id)
    names = benign.ReLUNet.of(config).names()
    assert len(kept) == len(names) == 3
    for a, p in zip(kept, exp.params, strict=True):
        np.testing.assert_array_equal(a, p[int(row.seed)].numpy())


def test_analyse_of_a_frame_equals_analyse_of_the_store(lp_store):
    a, b = benign.analyse(lp_store), benign.analyse(benign.load(lp_store).runs)
    assert [g.label for g in a.groups] == [g.label for g in b.groups]
    assert [g.verdict for g in a.groups] == [g.verdict for g in b.groups]
    for ga, gb in zip(a.groups, b.groups, strict=True):
        assert ga.settings == gb.settings
        for pa, pb in zip(ga.points, gb.points, strict=True):
            assert (pa.p, pa.n, pa.mean, pa.lo, pa.hi) == (pb.p, pb.n, pb.mean, pb.lo, pb.hi)
    assert a.counts == b.counts


def test_a_version_4_store_is_read_and_upgraded_when_written(lp_store, tmp_path):
    old = tmp_path / "old.sqlite"
    old.write_bytes(lp_store.read_bytes())
    conn = sqlite3.connect(old)
    with conn:
        conn.execute("DROP TABLE params")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    check_store(old)
    run_id = benign.load(old).runs.run_id.iloc[0]
    assert benign.load_params(old, run_id) is None
    with benign.sweep.store.Store(old):
        pass
    conn = sqlite3.connect(old)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    conn.close()
    assert version == str(SCHEMA_VERSION)


@pytest.mark.parametrize(
    ("version", "dropped"),
    [("6", ("global_gap", "optimality", "excess_found")), ("7", ("excess_found",))],
)
def test_a_version_6_or_7_store_is_read_and_gains_the_columns_when_written(
    lp_store, tmp_path, version, dropped
):
    """A store of schema 6 lacks global_gap, optimality and excess_found, one of schema 7
    excess_found: every reader reads them as missing values, and a writer adds the columns
    (empty for the runs already there)."""
    old = tmp_path / "old.sqlite"
    old.write_bytes(lp_store.read_bytes())
    with sqlite3.connect(old) as conn:
        for column in dropped:
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    check_store(old)
    assert benign.load(old).runs[list(dropped)].isna().all().all() and benign.analyse(old).groups
    assert run_cli("status", old).returncode == 0
    with benign.sweep.store.Store(old):
        pass
    with sqlite3.connect(old) as conn:
        (now,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        values = conn.execute(f"SELECT {', '.join(dropped)} FROM runs").fetchall()
    assert now == str(SCHEMA_VERSION) == "9" and set(values) == {(None,) * len(dropped)}


def test_the_network_figure_draws_the_kept_network_and_never_computes_one(lp_store, tmp_path):
    """N(x) = Σ_j v_j relu(w_j x + b_j) of the kept parameters, evaluated here in NumPy, is
    the figure's line; a store that kept none gets the reason, in the report too."""
    from benign import plots
    from benign.report import write_report

    tables = benign.load(lp_store, params=plots.network_1d_candidates)
    analysis = benign.analyse(tables.runs)
    line = plots.network_1d(analysis, tables).axes[0].lines[0]
    _, p = plots._network_1d_run(analysis)
    drawn = tables.runs[(tables.runs.p == p) & (tables.runs.status == "done")]
    w, b, v = tables.params[drawn.sort_values("seed").run_id.iloc[0]]
    x = line.get_xdata()
    want = np.maximum(np.outer(x, w[:, 0]) + b, 0) @ v[0]
    np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-12, atol=1e-12)
    old = tmp_path / "nokept.sqlite"
    old.write_bytes(lp_store.read_bytes())
    with sqlite3.connect(old) as conn:
        conn.execute("DELETE FROM params")
    assert plots.network_1d(analysis, benign.load(old)) == "parameters not kept"
    write_report(old, tmp_path / "r.html")
    assert (
        "Not drawn: a trained network in d = 1 with its training points — parameters not kept"
        in (tmp_path / "r.html").read_text()
    )


# ----- any two-layer parameters ----------------------------------------------------------------


def test_from_torch_is_the_module_and_refuses_other_shapes():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1, bias=False)
    ).double()
    net, params = benign.from_torch(model)
    x = torch.randn(11, 3, dtype=torch.float64)
    np.testing.assert_allclose(
        benign.predict(net, params, x[None])[0].numpy(),
        model(x)[:, 0].detach().numpy(),
        rtol=1e-12,
        atol=1e-14,
    )
    assert (net.d, net.width, net.depth, net.bias) == (3, 7, 2, True)
    with pytest.raises(ValueError, match="output layer has a bias"):
        benign.from_torch(
            torch.nn.Sequential(torch.nn.Linear(3, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1))
        )
    with pytest.raises(ValueError, match=r"model: need torch.nn.Sequential"):
        benign.from_torch(torch.nn.Linear(3, 1))
    with pytest.raises(ValueError, match="two-layer parameters"):
        benign.from_arrays(w=np.ones((4, 2)), v=np.ones(3))


def test_certify_of_one_shared_sample_equals_the_batched_call():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 3))
    y = np.sign(rng.standard_normal(12))
    net = benign.ReLUNet(3, 40)
    params = net.init_params([0, 1])
    xs = torch.as_tensor(np.stack([x, x]))
    ys = torch.as_tensor(np.stack([y, y]))
    res = benign.train(net, params, xs, ys, benign.TrainConfig(max_steps=3000))
    a = benign.certify(net, res.params, x, y)
    b = benign.certify(net, res.params, xs, ys)
    for key in ("min_margin", "eps_rel", "delta_rel", "support"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert not math.isnan(a.eps_rel[0])


def test_keep_params_bounds_what_the_store_keeps(tmp_path):
    counts = {}
    for keep in (0, 60 * 3):  # the lp nets of LP_SWEEP have 3 × 60 parameters
        store = tmp_path / f"k{keep}.sqlite"
        sweep = benign.parse_sweep(
            f"keep_params = {keep}\n" + LP_SWEEP.replace("seeds = 4", "seeds = 1")
        )
        benign.compute(sweep, store)
        conn = sqlite3.connect(store)
        counts[keep] = conn.execute("SELECT count(*) FROM params").fetchone()[0]
        conn.close()
    assert counts == {0: 0, 180: 2}
    from benign.sweep.config import ConfigError

    with pytest.raises(ConfigError, match="keep_params: must be an integer >= 0"):
        benign.parse_sweep("keep_params = -1\n" + LP_SWEEP)


def test_the_readmes_python_runs_as_a_script_and_prints(tmp_path):
    """The README's Python block, run as it stands in a fresh directory: it prints the
    networks and a verdict (a script prints nothing for a bare expression)."""
    import re
    import subprocess
    import sys

    from benign.regimes import VERDICTS

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (tmp_path / "example.py").write_text(block)
    r = subprocess.run([sys.executable, "example.py"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "clean_error" in lines[0] and len(lines) == 6  # header, four networks, a verdict
    assert lines[-1] in VERDICTS


def test_compute_refuses_what_the_machine_cannot_hold_before_touching_the_store(tmp_path):
    """benign.compute applies benign sweep's guards: a memory floor above what this machine
    has (m = 20,000 by width 10⁶: 160 GB of activations), or a CUDA device it lacks, is a
    ValueError before any store is made."""
    huge = benign.parse_sweep('seeds = 1\n[fixed]\nm = 20000\nwidth = 1000000\nmethod = "gd"\n')
    with pytest.raises(ValueError, match="not enough memory"):
        benign.compute(huge, tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists()
    if not torch.cuda.is_available():
        cuda = benign.parse_sweep('seeds = 1\n[fixed]\nm = 10\ndevice = "cuda"\n')
        with pytest.raises(ValueError, match="no CUDA device"):
            benign.compute(cuda, tmp_path / "c.sqlite")
        assert not (tmp_path / "c.sqlite").exists()
