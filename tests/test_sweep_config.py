"""Sweep files: expansion of the grid, run ids, blocks, and the refusal of bad files."""

import hashlib
import json

import pytest

from benign.config import RunConfig, ensemble_block
from benign.sweep.config import ConfigError, parse_sweep, run_id

BASE = """
seeds = 3
[fixed]
m = 20
width = 20
steps = 10
"""


def test_grid_is_the_product_of_its_axes():
    sw = parse_sweep(BASE + "[grid]\np = [0.0, 0.1]\nd = [2, 5, 7]\n")
    assert len(sw.runs) == 2 * 3 * 3
    points = {(r.config.p, r.config.d, r.seed) for r in sw.runs}
    assert points == {(p, d, s) for p in (0.0, 0.1) for d in (2, 5, 7) for s in range(3)}
    assert all(r.config.m == 20 and r.config.width == 20 for r in sw.runs)
    assert sw.axes() == {"seed": [0, 1, 2], "d": [2, 5, 7], "p": [0.0, 0.1]}


def test_several_grid_tables_are_a_union_with_their_own_seeds():
    text = BASE + (
        '[[grid]]\ndist = ["interval"]\nd = [1]\np = [0.1]\nseeds = [7, 9]\n'
        '[[grid]]\ndist = ["sphere"]\nd = [3]\np = [0.1, 0.2]\n'
    )
    sw = parse_sweep(text)
    got = sorted((r.config.dist, r.config.p, r.seed) for r in sw.runs)
    want = sorted(
        [("interval", 0.1, 7), ("interval", 0.1, 9)]
        + [("sphere", p, s) for p in (0.1, 0.2) for s in range(3)]
    )
    assert got == want


def test_no_grid_is_one_point_and_duplicates_are_one_run():
    assert len(parse_sweep(BASE).runs) == 3
    # the same run reached twice (p = 0.1 written as a setting and as an axis)
    text = BASE + "[[grid]]\np = [0.1]\n[[grid]]\np = [0.1, 0.2]\n"
    assert len(parse_sweep(text).runs) == 2 * 3


@pytest.mark.parametrize(
    ("settings", "unread"),
    [  # the settings given that the method does not read, at their defaults in the id
        (dict(m=20, width=20, steps=10, p=0.25), {"steps": 20000}),  # convex: no steps
        (  # lp (interval, two layers, biases): no step size
            dict(dist="interval", d=1, a=-0.0, b=1e-5, lr=3, max_seconds=2.5, device="cuda:1"),
            {"lr": 0.5},
        ),
        (  # centred: gradient descent, which reads every setting given
            dict(dist="digits", m=30, center=True, bias=False, init_scale=1e-300, loss_tol=0.5),
            {},
        ),
    ],
)
def test_run_id_is_sha256_of_the_settings_read_away_from_their_defaults_and_the_seed(
    settings, unread
):
    config = RunConfig(**settings)
    defaults = {k: f.default for k, f in RunConfig.model_fields.items()}
    read = config.model_dump(mode="json") | unread
    for seed in (4, 2**63 - 1):
        doc = {"settings": {k: v for k, v in read.items() if v != defaults[k]}, "seed": seed}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        assert run_id(config, seed) == hashlib.sha256(text.encode()).hexdigest()[:20]


def test_runs_differing_only_in_settings_their_method_does_not_read_are_one_run():
    # gradient descent does not read rounds; the lp method does; lp_grid is read by none
    gd = parse_sweep(BASE + 'method = "gd"\n[grid]\nrounds = [500, 100, 64]\n')
    assert gd.size == len(gd.runs) == 3 and gd.runs[0].config.rounds == 100
    lp = 'seeds = 3\n[fixed]\ndist = "interval"\nd = 1\nm = 20\n[grid]\nrounds = [500, 64]\n'
    assert parse_sweep(lp).size == 6
    assert run_id(RunConfig(method="gd", rounds=7), 0) == run_id(RunConfig(method="gd"), 0)
    grid = 'seeds = 3\n[fixed]\ndist = "interval"\nd = 1\nm = 20\n[grid]\nlp_grid = [500, 64]\n'
    assert parse_sweep(grid).size == 3


def test_written_differently_the_same_settings_give_the_same_id():
    config = RunConfig(m=20, width=20, steps=10, p=0.25)
    # written differently, the same settings give the same id; any change of a setting its
    # method (convex) reads gives another, of one it does not read (the step size) none
    sw = parse_sweep("seeds = [4]\n[fixed]\nwidth = 20\nsteps = 10\np = 0.25\nm = 20\n")
    assert sw.runs[0].run_id == run_id(config, 4)
    assert run_id(config, 5) != run_id(config, 4)
    assert run_id(config.model_copy(update={"width": 30}), 4) != run_id(config, 4)
    assert run_id(config.model_copy(update={"lr": 0.4}), 4) == run_id(config, 4)


def test_blocks_group_runs_that_differ_only_in_p_and_do_not_depend_on_order():
    text = BASE.replace("seeds = 3", "seeds = 10") + "[grid]\np = [0.0, 0.2]\nd = [2, 5]\n"
    sw = parse_sweep(text)
    blocks = sw.blocks()
    assert sorted(r.run_id for b in blocks for r in b.runs) == sorted(r.run_id for r in sw.runs)
    size = ensemble_block(sw.runs[0].config)
    for b in blocks:
        assert 1 <= len(b.runs) <= size
        assert len({r.config.d for r in b.runs}) == 1  # one shape per block
    assert {len({r.config.p for r in b.runs}) for b in blocks} == {2}  # p mixes in a block
    # counted without making them: the same sizes, and configurations that differ only in p
    shapes = sw.block_shapes()
    assert sorted(n for _, n in shapes) == sorted(len(b.runs) for b in blocks)
    assert sw.size == len(sw.runs) == 40
    assert {(c.d, n) for c, n in shapes} == {(b.runs[0].config.d, len(b.runs)) for b in blocks}
    # the same sweep written with its axes in another order cuts the same blocks
    other = parse_sweep(
        text.replace("p = [0.0, 0.2]\nd = [2, 5]", "d = [5, 2]\np = [0.2, 0.0]")
    ).blocks()
    assert {b.block_id for b in blocks} == {b.block_id for b in other}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("seeds = 2\nbogus = 1\n", "bogus: unknown key"),
        ("[fixed]\nm = 5\n", "seeds: missing"),
        ("seeds = 0\n", "seeds: must be >= 1"),
        ("seeds = [1, 1]\n", "seeds: repeats a seed"),
        ("seeds = [-1]\n", "seeds: seeds must be integers"),
        ("seeds = 2.5\n", "seeds: must be a count"),
        ("seeds = 2\n[fixed]\nwidht = 5\n", "fixed.widht: unknown setting"),
        ("seeds = 2\n[fixed]\nm = 2.5\n", "fixed.m: Input should be a valid integer"),
        ("seeds = 2\n[fixed]\nm = '20'\n", "fixed.m: Input should be a valid integer"),
        ("seeds = 2\n[fixed]\nbias = 1\n", "fixed.bias: Input should be a valid boolean"),
        ("seeds = 2\n[fixed]\nm = 0\n", "fixed.m: Input should be greater than or equal to 1"),
        ("seeds = 2\n[grid]\np = [0.1, 0.6]\n", "grid.p: Input should be less than 0.5"),
        ("seeds = 2\n[grid]\np = []\n", "grid.p: is empty"),
        ("seeds = 2\n[grid]\np = 0.1\n", "grid.p: must be a list"),
        ("seeds = 2\n[grid]\np = [0.1, 0.1]\n", "grid.p: repeats the value 0.1"),
        ("seeds = 2\ngrid = 3\n", "grid: must be a table"),
        ("seeds = 2\n[fixed]\np = 0.1\n[grid]\np = [0.2]\n", "grid.p: is also in [fixed]"),
        ("seeds = 2\n[[grid]]\nd = [1]\n[[grid]]\nloss = ['hinge']\n", "grid[1].loss: Input"),
        ('seeds = 2\n[grid]\ndist = ["interval"]\nd = [1, 3]\n', "grid.d: the interval"),
        ("seeds = 2\n[fixed\n", "not valid TOML"),
    ],
)
def test_bad_files_are_refused_naming_the_key(text, key):
    with pytest.raises(ConfigError) as exc:
        parse_sweep(text, origin="s.toml")
    msg = str(exc.value)
    assert msg.startswith("s.toml: ") and key in msg, msg
    assert "\n" not in msg.removeprefix("s.toml: not valid TOML")


@pytest.mark.parametrize(
    ("text", "head"),
    [
        ("[fixed]\nwidht = 5\n", "fixed.widht: unknown setting (did you mean width?); allowed: "),
        (
            "[grid]\nstep_rul = ['kernel']\n",
            "grid.step_rul: unknown setting (did you mean step_rule?)",
        ),
        (
            "[fixed]\ncert_epsilon = 0.1\n",
            "fixed.cert_epsilon: unknown setting (did you mean cert_eps?)",
        ),
        ("[fixed]\nzzzz = 1\n", "fixed.zzzz: unknown setting; allowed: "),
    ],
)
def test_an_unknown_setting_is_refused_with_the_nearest_one(text, head):
    with pytest.raises(ConfigError) as exc:
        parse_sweep("seeds = 2\n" + text, origin="s.toml")
    msg = str(exc.value)
    assert msg.startswith("s.toml: " + head), msg
    assert msg.endswith("allowed: " + ", ".join(RunConfig.model_fields))


def test_a_deeply_nested_file_is_one_line():
    text = "a = " + "[" * 1000 + "]" * 1000 + "\n"
    with pytest.raises(ConfigError, match="not valid TOML: nested too deeply"):
        parse_sweep(text, "deep.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seeds = 1000000000\n", "seeds: must be <= 1,000,000"),
        # 1000 values × 1001 seeds: one seed more than a sweep may hold
        (
            "seeds = 1001\n[grid]\nm = [" + ", ".join(map(str, range(1, 1001))) + "]\n",
            "grid: 1,001,000 runs or more",
        ),
    ],
)
def test_a_sweep_too_large_is_refused_by_counting(text, message):
    """Counted before any run is made: instant, whatever the size."""
    with pytest.raises(ConfigError, match=message):
        parse_sweep(text, "big.toml")


def test_estimated_seconds_follow_the_measured_growth_and_rank_the_methods():
    """network_seconds: the LP and the convex route grow with m as their fitted powers (a
    ratio that the constants cancel out of), gradient descent as its operation count; a convex
    network at m = 200 outweighs an LP one at m = 200 and a short gradient descent."""
    from benign.sweep.config import (
        CONVEX_GROWTH,
        LP_GROWTH,
        SOLVER_START,
        network_seconds,
        network_work,
    )

    def cfg(**kw):
        return RunConfig(**({"dist": "sphere", "d": 20, "p": 0.2, "width": 400} | kw))

    lp = [network_seconds(cfg(dist="interval", d=1, m=m)) - SOLVER_START for m in (100, 1000)]
    assert lp[1] / lp[0] == pytest.approx(10**LP_GROWTH)
    cv = [network_seconds(cfg(m=m, method="convex")) - SOLVER_START for m in (50, 200)]
    assert cv[1] / cv[0] == pytest.approx(4**CONVEX_GROWTH)
    gd = cfg(m=200, method="gd", steps=1000)
    assert network_seconds(gd) == pytest.approx(network_work(gd) / 8e9)
    assert network_work(gd) == 1000 * 6 * 200 * (400 * 20 + 400 + 400)  # W, b, v of width 400
    assert network_seconds(cfg(m=200, method="convex")) > network_seconds(gd) > 0
    both = cfg(m=200, method="gd+convex", steps=1000)
    assert network_seconds(both) == pytest.approx(network_seconds(gd) + cv[1] + SOLVER_START)
