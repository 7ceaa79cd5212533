"""Benchmark of the deal-history backfill: tokens and wall time, side by side with what ``/flow`` would cost.

Run: ``.venv/bin/python benchmarks/bench_history.py [--deals 10000 100000]`` (``make bench`` runs it).
For each size an emulator (own process, rate limits off) is synced with only ``deals`` selected, then with
``deals`` + ``deal_changes`` (+ coverage): the difference is the backfill's wall time; its tokens come from
the emulator's request log. Then 1 % of the deals move stage and 2 % are edited, and an incremental run reads
the history again. ``/v1/deals/{id}/flow`` costs 40 tokens a page where ``/changelog`` costs 20
(token-costs.csv): the same deals through ``/flow`` would cost twice as much, and the usual connector
design (every deal's flow on every sync) costs 40 tokens per deal per sync.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench_tap import BIN, admin, run_tap, start_emulator
from tap_pipedrive import api_facts
from tap_pipedrive.history_state import HistoryProgress

CHANGELOG_COST = api_facts.DEAL_CHANGELOG.token_cost
FLOW_COST = api_facts.DEAL_FLOW.token_cost


def catalog_for(config_file: Path, streams: set[str], path: Path) -> Path:
    """Discover and keep ``streams`` selected."""
    found = subprocess.run(
        [str(BIN / "tap-pipedrive"), "--config", str(config_file), "--discover"],
        capture_output=True,
        check=True,
    )
    catalog = json.loads(found.stdout)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    path.write_text(json.dumps(catalog))
    return path


def changelog_pages(base_url: str) -> Counter[int]:
    """Changelog requests per deal in the emulator's log."""
    pages: Counter[int] = Counter()
    for entry in admin(base_url, "requests"):
        if entry["path"].endswith("/changelog"):
            pages[int(entry["path"].split("/")[-2])] += 1
    return pages


def coverage_of(state: dict[str, Any] | None) -> float:
    """Share of the deals needing a history whose changes are all read, from a run's last state."""
    progress = HistoryProgress.load(((state or {}).get("bookmarks") or {}).get("deal_changes") or {})
    return round(progress.coverage("stages").ratio, 4)


def bench(deals: int) -> dict[str, Any]:
    """Backfill, then an incremental run after 1 % of the deals moved."""
    emulator, base_url, token = start_emulator(deals)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config = work / "config.json"
            config.write_text(json.dumps({"api_token": token, "api_url": base_url}))
            only_deals = catalog_for(config, {"deals"}, work / "deals.json")
            history = catalog_for(
                config, {"deals", "deal_changes", "deal_history_coverage"}, work / "all.json"
            )
            # A day's budget big enough for the whole backfill (30,000 x 7 x 50 tokens), fresh for every run.
            admin(base_url, "plan", {"seats": 50, "reset_daily": True})
            admin(base_url, "requests/clear", {})
            listing = run_tap(config, None, work, catalog=only_deals)
            admin(base_url, "plan", {"reset_daily": True})
            admin(base_url, "requests/clear", {})
            backfill = run_tap(config, None, work, catalog=history)
            pages = changelog_pages(base_url)
            calls = sum(pages.values())
            figures: dict[str, Any] = {
                "deals": deals,
                "deals_with_history": len(pages),
                "backfill_changelog_requests": calls,
                "backfill_tokens": calls * CHANGELOG_COST,
                "same_deals_via_flow_tokens": calls * FLOW_COST,
                "every_deal_via_flow_tokens": (calls + deals - len(pages)) * FLOW_COST,
                "backfill_seconds": round(backfill["seconds"] - listing["seconds"], 1),
                "deals_listing_seconds": round(listing["seconds"], 1),
                "tap_peak_rss_mb": round(backfill["peak_rss_mb"], 1),
                "coverage_after_backfill": coverage_of(backfill["state"]),
            }
            print(json.dumps(figures), file=sys.stderr, flush=True)
            moved = max(1, deals // 100)
            admin(base_url, "mutate", {"updates": moved * 2, "stage_moves": moved})
            admin(base_url, "plan", {"reset_daily": True})
            admin(base_url, "requests/clear", {})
            again = run_tap(config, backfill["state"], work, catalog=history)
            pages_again = changelog_pages(base_url)
    finally:
        emulator.terminate()
        emulator.wait()
    return {
        **figures,
        "incremental_moved_deals": moved,
        "incremental_changelog_requests": sum(pages_again.values()),
        "incremental_tokens": sum(pages_again.values()) * CHANGELOG_COST,
        "incremental_every_deal_via_flow_tokens": deals * FLOW_COST,
        "incremental_seconds": round(again["seconds"], 1),
        "coverage_after_incremental": coverage_of(again["state"]),
    }


def main() -> None:
    """Run the benchmark for each deal count and print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, nargs="+", default=[10_000, 100_000])
    for deals in parser.parse_args().deals:
        print(json.dumps(bench(deals)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
