"""Acceptance: SIGTERM at 20 random moments of a 200k-record load, each time resumed from the last STATE."""

from __future__ import annotations

from pipeboard_testkit.stop_campaign import run_campaign

TOTAL = 200_000
STOPS = 20
SEED = 20_240_101  # fixed: the same moments every run (`benchmarks/stop_campaign.py` tries other seeds)


def test_sigterm_at_20_moments_of_a_200k_load_leaves_exact_tables_and_honest_exit_codes(warehouse, tmp_path):
    lines: list[str] = []
    campaign = run_campaign(
        warehouse.config(), tmp_path, total=TOTAL, stops=STOPS, seed=SEED, log=lines.append
    )
    assert len(campaign.stops) == STOPS, "\n".join(lines)
    assert {stop.phase for stop in campaign.stops} == {"start", "reading", "committed", "end"}, "\n".join(
        lines
    )
    # Every stop before the input ended stopped an unfinished run: exit 143, a STATE no further than sent.
    for stop in campaign.stops[:-1]:
        assert stop.exit_code == 143, "\n".join(lines)
        assert stop.last_state is None or stop.resumed_after < stop.last_state <= stop.signalled_at, (
            "\n".join(lines)
        )
    assert campaign.stops[-1].exit_code in (0, 143)  # the input had ended: it may have finished first
    resumed = [stop.resumed_after for stop in campaign.stops]
    assert resumed == sorted(resumed)
    assert resumed[-1] > TOTAL // 4, "the stops did not spread over the load:\n" + "\n".join(lines)
