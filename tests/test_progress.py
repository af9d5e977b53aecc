"""A sweep's progress counts networks as they are fitted, not only blocks as they are stored:
in this process and from a pool's workers."""

import pytest

from benign.sweep import Store, open_executor, parse_sweep, run_sweep

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
    assert {done for done, _ in seen} == {0, 4, 8}  # stored per block


@pytest.mark.slow
def test_a_pools_workers_report_the_networks_they_fit(tmp_path):
    seen = states(tmp_path, 2)
    finished = [done + fitted for done, fitted in seen]
    assert finished == sorted(finished) and seen[-1] == (8, 0)
    assert {1, 2, 3} <= {fitted for _, fitted in seen}  # the convex worker's messages
