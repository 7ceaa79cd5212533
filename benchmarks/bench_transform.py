"""Benchmark of the transform: dbt build (pipeboard-dbt) against the runner it replaced, side by side.

Run: ``.venv/bin/python benchmarks/bench_transform.py [--deals 100000] [--rounds 3]`` (in ``make bench``).
An emulated account is synced once (tap-pipedrive → target-pipeboard-postgres) into a fresh database; then
each round times the runner of commit 2fd8803 (``pipeboard-transform run``, from ``git archive``) and
``pipeboard-dbt build`` (from .venv-dbt) on the same tables, alternating, and prints the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from io import BytesIO
from pathlib import Path

import psycopg2
from bench_tap import start_emulator
from psycopg2 import sql

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DBT = REPO / ".venv-dbt" / "bin" / "pipeboard-dbt"
RUNNER_COMMIT = "2fd8803"
ADMIN_URL = os.environ.get("PIPEBOARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def fresh_database() -> str:
    """Create an empty database; return its URL."""
    name = f"pipeboard_bench_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(url.rsplit("/", 1)[1]))
        )
    conn.close()


def sync(deals: int, url: str, work: Path) -> float:
    """Sync an emulated account of ``deals`` deals into ``url``; return the seconds it took."""
    emulator, base_url, token = start_emulator(deals)
    try:
        (work / "tap.json").write_text(json.dumps({"api_url": base_url, "api_token": token}))
        (work / "target.json").write_text(
            json.dumps({"database_url": url, "default_target_schema": "pipedrive"})
        )
        started = time.perf_counter()
        tap = subprocess.Popen(
            [str(BIN / "tap-pipedrive"), "--config", str(work / "tap.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        subprocess.run(
            [str(BIN / "target-pipeboard-postgres"), "--config", str(work / "target.json")],
            stdin=tap.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        if tap.wait() != 0:
            raise RuntimeError("tap-pipedrive failed")
        return time.perf_counter() - started
    finally:
        emulator.terminate()
        emulator.wait()


def extract_runner(work: Path) -> Path:
    """The runner's package at RUNNER_COMMIT, extracted into ``work``; returns the folder for PYTHONPATH."""
    archive = subprocess.run(
        ["git", "archive", RUNNER_COMMIT, "transform"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(work / "runner", filter="data")
    return work / "runner" / "transform"


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` took; raises with its output when it fails."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not DBT.exists():
        sys.exit(f"{DBT} is missing: run `make install`")
    with tempfile.TemporaryDirectory(prefix="pipeboard-bench-transform-") as folder:
        work = Path(folder)
        url = fresh_database()
        try:
            print(f"Syncing an emulated account of {args.deals} deals…", flush=True)
            print(f"  loaded in {sync(args.deals, url, work):.1f} s", flush=True)
            runner_path = extract_runner(work)
            base = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "PIPEBOARD_"))}
            runner_env = {**base, "PYTHONPATH": str(runner_path), "DATABASE_URL": url}
            dbt_env = {
                **base,
                "DATABASE_URL": url,
                "DBT_TARGET_PATH": str(work / "dbt-target"),
                "DBT_LOG_PATH": str(work / "dbt-logs"),
            }
            # The runner builds in a schema of its own: dbt's main_bi_active view depends on dbt's main_bi.
            runner_argv = [
                sys.executable,
                "-m",
                "pipeboard_transform.cli",
                "run",
                "--source-schema",
                "pipedrive",
                "--target-schema",
                "bench_runner",
            ]
            dbt_argv = [str(DBT), "build"]
            timed(dbt_argv, dbt_env)  # warm-up: dbt's first parse, both tables created once
            timed(runner_argv, runner_env)
            results: dict[str, list[float]] = {"runner (2fd8803)": [], "dbt build": []}
            for round_number in range(1, args.rounds + 1):
                results["runner (2fd8803)"].append(timed(runner_argv, runner_env))
                results["dbt build"].append(timed(dbt_argv, dbt_env))
                print(
                    f"  round {round_number}: runner {results['runner (2fd8803)'][-1]:.1f} s, "
                    f"dbt build {results['dbt build'][-1]:.1f} s",
                    flush=True,
                )
            print(f"\nTransform of {args.deals} deals, median of {args.rounds} rounds, same database:")
            print(f"{'':<20}{'median s':>10}{'min s':>10}{'max s':>10}")
            for name, seconds in results.items():
                print(
                    f"{name:<20}{statistics.median(seconds):>10.1f}{min(seconds):>10.1f}{max(seconds):>10.1f}"
                )
            print(
                "dbt build includes its data tests (50), the seed, main_bi_active, docs comments, and the "
                "source freshness check."
            )
        finally:
            drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
