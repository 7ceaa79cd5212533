"""Whole syncs under a hostile API: faults, an API that is down, and the Lite plan's burst limit."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from pipedrive_emulator import FaultProfile

FAST_RETRIES = {"retry_backoff_seconds": 0.01, "retry_backoff_max_seconds": 0.05}


RUN_MOMENTS = {("deal_currency_rates", "read_at"), ("goal_results", "read_at")}


def _canonical(records: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Each stream's records as sorted JSON texts, so two runs compare value by value.

    deal_currency_rates' and goal_results' read_at are left out: the moment each run read them.
    """
    return {
        stream: sorted(
            json.dumps(
                {k: v for k, v in r.items() if (stream, k) not in RUN_MOMENTS},
                sort_keys=True,
            )
            for r in rows
        )
        for stream, rows in records.items()
    }


def test_flaky_api_sync_emits_the_same_records_as_a_healthy_one(make_emulator, run_tap, tap_config) -> None:
    healthy = make_emulator(deals=120, seed=11)
    expected = run_tap(tap_config(healthy, page_size=50))

    flaky = make_emulator(deals=120, seed=11, faults=FaultProfile("flaky", rate=0.3))
    out = run_tap(tap_config(flaky, page_size=50, **FAST_RETRIES))

    injected = {r.fault for r in flaky.request_log if r.fault}
    assert {"reset", "truncated", "empty"} & injected, "the profile injected no transport-level fault"
    assert len(injected) >= 4, injected
    assert _canonical(out.records) == _canonical(expected.records)
    assert out.state["bookmarks"].keys() == expected.state["bookmarks"].keys()


def test_api_down_opens_the_breaker_and_the_run_fails_fast_with_a_clear_message(
    make_emulator, tap_config, tmp_path
) -> None:
    emulator = make_emulator(deals=20, faults="down")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(emulator, breaker_failures=3, **FAST_RETRIES)))

    result = subprocess.run(
        [sys.executable, "-m", "tap_pipedrive.tap", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "ERROR" in last
    assert last.endswith(
        "Pipedrive API failing: 3 consecutive failed attempts on /api/v2/organizationFields (last: HTTP 503 "
        "on /api/v2/organizationFields: Service Unavailable); stopping the sync instead of hammering a "
        "failing API"
    )
    assert "Traceback" not in result.stderr
    assert "resumes" not in result.stderr, "nothing was synced: no resume promise"
    assert emulator.token not in result.stderr + result.stdout
    assert len(emulator.request_log) == 3, "requests kept going after the breaker opened"
    assert '"type":"RECORD"' not in result.stdout.replace(" ", "")


def test_lite_plan_full_sync_gets_no_429_and_uses_most_of_the_allowed_rate(
    make_emulator, run_tap, tap_config, pacer_waits, most_waits_at
) -> None:
    emulator = make_emulator(deals=150, seed=3, plan="lite", seats=1, rate_limits=True)
    out = run_tap(tap_config(emulator, page_size=20))

    log = emulator.request_log
    assert len(log) >= 60, "too few requests to exercise the burst limit"
    assert [r.status for r in log if r.status == 429] == []
    assert {r["id"] for r in out.records["deals"]} == {r["id"] for r in emulator.records("deals")}
    assert sum(pacer_waits) <= most_waits_at(0.8, 20, 2.0, len(log)), "paced below 80 % of the limit"
    assert sum(pacer_waits) > 0, "the pacer never held a request back: the test did not reach the limit"
