"""Benchmark of target-pipeboard-postgres: wall time and peak RSS against raw COPY and MeltanoLabs' target.

Run: ``.venv/bin/python benchmarks/bench_target.py [--records 100000] [--large 500000] [--skip-meltanolabs]
[--rounds 3] [--baseline DIR]`` (not part of ``make test``). ``--baseline`` also runs an older copy of the
package (DIR holds a ``target_pipeboard_postgres/`` folder, put first on PYTHONPATH): a before/after table in
one run. Raw COPY, the baseline and ours run in ``--rounds`` interleaved rounds; the table shows medians.
MeltanoLabs' target-postgres is run from ``.venv-bench-meltanolabs`` with default settings when that venv
exists (``python3 -m venv .venv-bench-meltanolabs &&
.venv-bench-meltanolabs/bin/pip install meltanolabs-target-postgres==0.8.1``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

sys.path.insert(0, str(Path(__file__).parent))

from target_deals import PROPERTIES, STREAM, write_csv, write_singer
from target_pipeboard_postgres.connector import pg_type_for

ROOT = Path(__file__).resolve().parent.parent
OUR_TARGET = Path(sys.executable).parent / "target-pipeboard-postgres"
MELTANOLABS_TARGET = ROOT / ".venv-bench-meltanolabs" / "bin" / "target-postgres"
ADMIN_URL = os.environ.get("PIPEBOARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Result:
    """One measured run."""

    name: str
    records: int
    seconds: float
    peak_rss_mb: float
    rows: int


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def settle(timeout: float = 60.0) -> None:
    """Start each measured run on a quiet server: write dirty pages out, let autovacuum finish.

    Without this, a load pays for the previous one (a checkpoint or an autovacuum of the rows it wrote).
    """
    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    deadline = time.monotonic() + timeout
    with conn.cursor() as cur:
        cur.execute("CHECKPOINT")
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.5)
    conn.close()


class ChildPeaks:
    """Peak RSS of a process's children (the target's encoder process), read from ``/proc`` while it runs.

    Each child's ``VmHWM`` (its own peak so far) is read every ``interval`` seconds; the last reading of each
    is kept. Added to the parent's own peak this gives the sum of peaks: never less than the peak of the sum.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _children(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.pid:
                found.append(int(entry))
        return found

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            for child in self._children():
                try:
                    status = Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks_kb[child] = int(line.split()[1])

    def stop(self) -> int:
        """Stop watching; the sum of the children's peaks in KB."""
        self._stop.set()
        self._thread.join()
        return sum(self.peaks_kb.values())


def run_measured(
    command: list[str], stdin_path: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Run a command on a settled server; return wall seconds and the peak RSS in MB of it and its children.

    The command's own peak comes from wait4; its children's peaks (an encoder process) are added to it.
    """
    settle()
    stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    children = ChildPeaks(process.pid)
    assert process.stderr is not None
    errors = process.stderr.read()
    children_kb = children.stop()  # before wait4: the children are gone by then, their readings kept
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if stdin_path:
        stdin.close()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {errors.decode()[-2000:]}")
    return seconds, (usage.ru_maxrss + children_kb) / 1024


def count_rows(url: str, schema: str, table: str) -> int:
    """Rows in a table."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        count = cur.fetchone()[0]
    conn.close()
    return int(count)


def drop_schema(url: str, schema: str) -> None:
    """Drop a schema and everything in it (a round starts from empty tables)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.close()


def raw_copy(url: str, csv_path: Path, columns: list[str], records: int) -> Result:
    """The floor: ``psql \\copy`` of the same rows into a table of the same types."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA raw")
        cur.execute(
            sql.SQL("CREATE TABLE raw.deals ({}, PRIMARY KEY (id))").format(
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(pg_type_for(PROPERTIES[c])))
                    for c in columns
                )
            )
        )
    conn.close()
    command = [
        "psql",
        url,
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        f"\\copy raw.deals FROM '{csv_path}' WITH (FORMAT csv)",
    ]
    seconds, rss = run_measured(command)
    return Result("raw COPY (psql \\copy, CSV)", records, seconds, rss, count_rows(url, "raw", "deals"))


def ours(
    url: str,
    singer_path: Path,
    records: int,
    schema: str,
    label: str,
    workdir: Path,
    package_dir: Path | None = None,
) -> Result:
    """target-pipeboard-postgres with default settings (validation on); ``package_dir`` runs an older copy."""
    config = workdir / f"ours-{schema}.json"
    config.write_text(json.dumps({"database_url": url, "default_target_schema": schema}), encoding="utf-8")
    env = None
    if package_dir is not None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(package_dir), os.environ.get("PYTHONPATH", "")]),
        }
    seconds, rss = run_measured([str(OUR_TARGET), "--config", str(config)], singer_path, env)
    return Result(label, records, seconds, rss, count_rows(url, schema, STREAM))


def meltanolabs(url: str, singer_path: Path, records: int, label: str, workdir: Path) -> Result:
    """MeltanoLabs' target-postgres, default settings."""
    parts = urlsplit(url)
    config = workdir / "meltanolabs.json"
    config.write_text(
        json.dumps(
            {
                "host": parts.hostname,
                "port": parts.port or 5432,
                "user": parts.username or "postgres",
                "password": parts.password or "",
                "database": parts.path.lstrip("/"),
                "default_target_schema": "meltanolabs",
            }
        ),
        encoding="utf-8",
    )
    seconds, rss = run_measured([str(MELTANOLABS_TARGET), "--config", str(config)], singer_path)
    return Result(label, records, seconds, rss, count_rows(url, "meltanolabs", STREAM))


def main() -> None:
    """Generate the inputs, run every loader, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--large", type=int, default=0, help="also load this many records with ours (e.g. 500000)"
    )
    parser.add_argument("--skip-meltanolabs", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of raw COPY / baseline / ours (MeltanoLabs runs once)"
    )
    parser.add_argument(
        "--baseline", type=Path, help="folder holding an older target_pipeboard_postgres/ to compare with"
    )
    args = parser.parse_args()

    database = f"bench_target_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = with_database(ADMIN_URL, database)
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
            workdir = Path(tmp)
            singer_path = workdir / "deals.singer"
            csv_path = workdir / "deals.csv"
            write_singer(singer_path, args.records)
            columns = write_csv(csv_path, args.records)
            print(
                f"input: {args.records} deals, {len(PROPERTIES)} properties, "
                f"{singer_path.stat().st_size / 1e6:.0f} MB Singer",
                flush=True,
            )
            # The quick loaders run in interleaved rounds (fresh schemas each round): noise hits them alike.
            for _ in range(args.rounds):
                for schema in ("raw", "baseline", "ours"):
                    drop_schema(url, schema)
                results.append(raw_copy(url, csv_path, columns, args.records))
                if args.baseline:
                    for label in ("baseline: first load", "baseline: full upsert reload"):
                        results.append(
                            ours(url, singer_path, args.records, "baseline", label, workdir, args.baseline)
                        )
                results.append(ours(url, singer_path, args.records, "ours", "pipeboard: first load", workdir))
                results.append(
                    ours(url, singer_path, args.records, "ours", "pipeboard: full upsert reload", workdir)
                )
            if not args.skip_meltanolabs and MELTANOLABS_TARGET.exists():
                results.append(
                    meltanolabs(url, singer_path, args.records, "MeltanoLabs: first load", workdir)
                )
                results.append(
                    meltanolabs(url, singer_path, args.records, "MeltanoLabs: full reload", workdir)
                )
            elif not args.skip_meltanolabs:
                print(f"(MeltanoLabs skipped: {MELTANOLABS_TARGET} not found)")
            if args.large:
                large_path = workdir / "deals-large.singer"
                write_singer(large_path, args.large)
                results.append(
                    ours(url, large_path, args.large, "ours_large", "pipeboard: first load", workdir)
                )
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.close()

    print_table(results)


def print_table(results: list[Result]) -> None:
    """One row per loader: the median of its rounds (and their range), as a multiple of raw COPY's median."""
    by_name: dict[tuple[str, int], list[Result]] = {}
    for result in results:
        by_name.setdefault((result.name, result.records), []).append(result)
    floor = statistics.median(r.seconds for r in by_name[(results[0].name, results[0].records)])
    print(
        "\n| loader | records | rounds | wall s (median) | range s | x raw COPY "
        "| peak RSS MB (all processes) | rows |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (name, records), runs in by_name.items():
        seconds = [r.seconds for r in runs]
        median = statistics.median(seconds)
        print(
            f"| {name} | {records} | {len(runs)} | {median:.1f} | {min(seconds):.1f} to {max(seconds):.1f} "
            f"| {median / floor:.1f} | {max(r.peak_rss_mb for r in runs):.0f} | {runs[-1].rows} |"
        )


if __name__ == "__main__":
    main()
