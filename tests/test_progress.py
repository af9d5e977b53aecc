"""How a sweep's blocks are run and reported: the longest first; progress counts networks as
they are fitted, not only blocks as they are stored, in this process and from a pool's
workers."""

import pytest

from benign.sweep.config import parse_sweep
from benign.sweep.execute import open_executor, run_sweep
from benign.sweep.store import Store

# one block of 4 convex networks (solved one by one), one of 4 gd networks (trained together)
SWEEP = (
    'seeds = 4\n[fixed]\nm = 10\nd = 2\nwidth = 10\ndist = "sphere"\nsteps = 30\n'
    'test_half_width = 0.1\n[grid]\nmethod = ["convex", "gd"]\n'
)


def states(tmp_path, workers: int) -> list[tuple[int, int]]:
    sw = parse_sweep(SWEEP)
    seen: list[tuple[int, int]] = []
    with Store(tmp_path / "s.sqlite", create=True) as st:
        final = run_sweep(
            sw,
            st,
            open_executor("local", workers),
            progress=lambda s: seen.append((s.done, s.fitted)),
        )
    assert (final.done, final.fitted, final.total) == (8, 0, 8)
    return seen


def test_networks_solved_one_by_one_show_before_their_block_is_stored(tmp_path):
    seen = states(tmp_path, 1)
    finished = [done + fitted for done, fitted in seen]
    assert finished == sorted(finished) and seen[0] == (0, 0) and seen[-1] == (8, 0)
    # the convex block: 1, 2, 3, 4 networks solved before it is stored (gd's four stop together)
    assert {1, 2, 3} <= {fitted for _, fitted in seen}
    assert {done for done, _ in seen} == set(range(9))  # every run shown as it is stored


@pytest.mark.slow
def test_a_pools_workers_report_the_networks_they_fit(tmp_path):
    seen = states(tmp_path, 2)
    finished = [done + fitted for done, fitted in seen]
    assert finished == sorted(finished) and seen[-1] == (8, 0)
    assert {1, 2, 3} <= {fitted for _, fitted in seen}  # the convex worker's messages


def test_the_longest_blocks_start_first():
    """By estimated seconds (m = 50): gradient descent at d = 50 (0.39 s a network), convex
    (0.32 s), gradient descent at d = 5 (0.05 s), the LP (0.02 s)."""
    from benign.sweep.execute import longest_first

    text = (
        "seeds = 2\n[fixed]\nm = 50\nwidth = 10\nsteps = 20000\n"
        '[[grid]]\nmethod = ["gd"]\nd = [5, 50]\n'
        '[[grid]]\nmethod = ["convex"]\nd = [2]\n'
        '[[grid]]\nmethod = ["lp"]\ndist = ["interval"]\nd = [1]\n'
    )
    blocks = parse_sweep(text).blocks()
    order = [(b.runs[0].config.resolved_method, b.runs[0].config.d) for b in longest_first(blocks)]
    assert order == [("gd", 50), ("convex", 2), ("gd", 5), ("lp", 1)]
    assert sorted(b.block_id for b in longest_first(blocks)) == sorted(b.block_id for b in blocks)


def test_time_left_weighs_the_runs_by_their_estimated_cost():
    """Ten cheap runs (1 s each, estimated) done in 10 s, one dear run (90 s) left: about 90 s
    left, not the 1 s that counting runs would say; none before a run is finished."""
    from benign.sweep.execute import SweepProgress

    state = SweepProgress(done=10, total=11, failed=0, cost=100.0, cost_finished=10.0)
    assert state.left(10.0) == pytest.approx(90.0)
    assert SweepProgress(0, 11, 0, cost=100.0).left(5.0) is None
