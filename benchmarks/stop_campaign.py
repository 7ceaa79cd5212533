"""Stop campaigns: a load SIGTERMed at random moments and resumed from its last STATE, over several seeds.

Run: ``make campaign`` or ``.venv/bin/python benchmarks/stop_campaign.py [--records 200000] [--stops 20]
[--seeds 5] [--streams 2]``. Not part of ``make test``, which runs one seed of one stream
(target-pipeboard-postgres/tests/test_stop_campaign.py). Each campaign runs in a fresh database; one that
finds a STATE ahead of the committed rows, a row that differs from what was sent, or a dishonest exit code
fails with what it found.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
from pipeboard_testkit.databases import with_database
from pipeboard_testkit.stop_campaign import CampaignError, run_campaign
from psycopg2 import sql

ADMIN_URL = os.environ.get("PIPEBOARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5, help="campaigns, seeds 1..N")
    parser.add_argument("--streams", type=int, choices=(1, 2), default=1)
    parser.add_argument("--verbose", action="store_true", help="one line per run")
    args = parser.parse_args()
    failures = 0
    print(f"{args.records} records, {args.stops} SIGTERMs per campaign, {args.streams} stream(s)")
    print("| seed | runs | phases (start/reading/committed/end) | exits 143 | last exit | seconds | result |")
    print("|---:|---:|---|---:|---:|---:|---|")
    for seed in range(1, args.seeds + 1):
        database = f"pipeboard_campaign_{uuid.uuid4().hex[:10]}"
        admin = psycopg2.connect(ADMIN_URL)
        admin.autocommit = True
        admin.cursor().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        config = {"database_url": with_database(ADMIN_URL, database), "default_target_schema": "pipedrive"}
        began = time.monotonic()
        result = "exact"
        try:
            campaign = run_campaign(
                config,
                Path(tempfile.mkdtemp(prefix="pipeboard-campaign-")),
                total=args.records,
                stops=args.stops,
                seed=seed,
                streams=args.streams,
                log=(lambda line: print("   ", line, flush=True)) if args.verbose else (lambda line: None),
            )
        except CampaignError as exc:
            failures += 1
            result = f"FAILED: {str(exc).splitlines()[0]}"
            campaign = None
        finally:
            admin.cursor().execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
            admin.close()
        seconds = time.monotonic() - began
        if campaign is None:
            print(f"| {seed} | | | | | {seconds:.0f} | {result} |", flush=True)
            continue
        phases = [
            sum(stop.phase == phase for stop in campaign.stops)
            for phase in ("start", "reading", "committed", "end")
        ]
        stopped = sum(stop.exit_code == 143 for stop in campaign.stops)
        print(
            f"| {seed} | {campaign.runs} | {'/'.join(map(str, phases))} | {stopped} | "
            f"{campaign.stops[-1].exit_code} | {seconds:.0f} | {result} |",
            flush=True,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
