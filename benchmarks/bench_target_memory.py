"""Memory benchmark of target-pipeboard-postgres on wide records: peak RSS of all its processes, and speed.

Run: ``.venv/bin/python benchmarks/bench_target_memory.py [--records 100000 1000000] [--huge 3]
[--setting batch_size_bytes=…]`` (``make bench`` runs it; not part of ``make test``).

For each record count: the wide records of :mod:`wide_records` (~4 KB, 65 columns, 30 custom-field columns,
arrays) are written once as Singer input and as CSV; then, on a fresh database and a settled server, raw COPY
(``psql \\copy`` of the CSV) and the target's first load (default settings, validation on) run side by side.
``--huge N`` also loads N records of 50 MB each (a batch of one each).

Memory is read from ``/proc`` every 10 ms over the whole process tree of the target (the main process and its
encoder processes): the table shows the peak of the summed RSS, and the sum of each process's own peak
(``VmHWM``, never less than the peak of the sum: short spikes between two samples are in it). A child caught
between fork and exec (its command line still the parent's) is skipped: its pages are the parent's, already
counted (its ``VmHWM`` starts again at exec).
"""

from __future__ import annotations

import argparse
import json
import os
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

from target_pipeboard_postgres.connector import pg_type_for
from wide_records import PROPERTIES, STREAM, write_csv, write_singer

OUR_TARGET = Path(sys.executable).parent / "target-pipeboard-postgres"
ADMIN_URL = os.environ.get("PIPEBOARD_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
HUGE_BYTES = 50 << 20


@dataclass
class Result:
    """One measured run."""

    name: str
    records: int
    seconds: float
    peak_sum_mb: float  # peak of the RSS summed over the process tree (sampled)
    sum_of_peaks_mb: float  # each process's VmHWM, summed
    processes: int
    rows: int
    peaks_mb: str = ""  # each process's own peak (VmHWM), main process first


class TreeMemory:
    """Samples the RSS of a process and all its descendants from ``/proc`` until stopped."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_sum_kb = 0
        self.hwm_kb: dict[int, int] = {}
        self.peaks_mb = ""
        try:
            self._cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            self._cmdline = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                    todo.extend(int(child) for child in children)
            except OSError:
                continue
        return found

    def _sample(self) -> None:
        total = 0
        for pid in self._tree():
            try:
                if pid != self.pid and Path(f"/proc/{pid}/cmdline").read_bytes() == self._cmdline:
                    continue  # forked and not yet exec'd: its pages are the parent's (counted there)
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
                status = Path(f"/proc/{pid}/status").read_text()
            except (OSError, IndexError, ValueError):
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), int(line.split()[1]))
        self.peak_sum_kb = max(self.peak_sum_kb, total)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self, own_peak_kb: int) -> tuple[float, float, int]:
        """Stop sampling; (peak of the sum MB, sum of the peaks MB, processes seen); ``peaks_mb`` is set.

        Args:
            own_peak_kb: The main process's own peak from ``wait4`` (exact, unlike a sample).
        """
        self._stop.set()
        self._thread.join()
        # wait4's figure also counts the time before exec (a fork of this benchmark): used only when the
        # process ended before it was ever sampled.
        self.hwm_kb.setdefault(self.pid, own_peak_kb)
        peaks = [self.hwm_kb[self.pid]] + [kb for pid, kb in self.hwm_kb.items() if pid != self.pid]
        self.peaks_mb = " + ".join(f"{kb / 1024:.0f}" for kb in peaks)
        return self.peak_sum_kb / 1024, sum(self.hwm_kb.values()) / 1024, len(self.hwm_kb)


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def settle(timeout: float = 60.0) -> None:
    """Start each measured run on a quiet server (checkpoint done, no autovacuum running)."""
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


def run_measured(
    command: list[str], stdin_path: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, float, float, int, str]:
    """Run a command on a settled server: wall seconds, peak summed RSS, sum of peaks (MB), processes."""
    settle()
    stdin = stdin_path.open("rb") if stdin_path else subprocess.DEVNULL
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    memory = TreeMemory(process.pid)
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    peak_sum, sum_of_peaks, processes = memory.stop(usage.ru_maxrss)
    if stdin_path:
        stdin.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{command[0]} failed ({code}): {errors.decode()[-2000:]}")
    return seconds, peak_sum, sum_of_peaks, processes, memory.peaks_mb


def count_rows(url: str, schema: str, table: str) -> int:
    """Rows in a table."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
        count = cur.fetchone()[0]
    conn.close()
    return int(count)


def raw_copy(url: str, csv_path: Path, columns: list[str], records: int) -> Result:
    """The floor: ``psql \\copy`` of the same rows into a table of the same types and key."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("DROP SCHEMA IF EXISTS raw CASCADE; CREATE SCHEMA raw")
        cur.execute(
            sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY (id))").format(
                sql.Identifier("raw", STREAM),
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(pg_type_for(PROPERTIES[c])))
                    for c in columns
                ),
            )
        )
    conn.close()
    copy = f"\\copy raw.{STREAM} FROM '{csv_path}' WITH (FORMAT csv)"
    seconds, peak, peaks, processes, each = run_measured(["psql", url, "-v", "ON_ERROR_STOP=1", "-c", copy])
    rows = count_rows(url, "raw", STREAM)
    return Result("raw COPY (psql \\copy, CSV)", records, seconds, peak, peaks, processes, rows, each)


def ours(
    url: str,
    singer_path: Path,
    records: int,
    label: str,
    workdir: Path,
    settings: dict,
    package_dir: Path | None = None,
) -> Result:
    """The target's first load into an empty schema, default settings but ``settings``; ``package_dir``
    runs an older copy of the package (a folder holding ``target_pipeboard_postgres/``)."""
    schema = "ours"
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.close()
    config = workdir / "ours.json"
    config.write_text(
        json.dumps({"database_url": url, "default_target_schema": schema, **settings}), encoding="utf-8"
    )
    env = None
    if package_dir is not None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(package_dir), os.environ.get("PYTHONPATH", "")]),
        }
    seconds, peak, peaks, processes, each = run_measured(
        [str(OUR_TARGET), "--config", str(config)], singer_path, env
    )
    rows = count_rows(url, schema, singer_stream(singer_path))
    return Result(label, records, seconds, peak, peaks, processes, rows, each)


def singer_stream(path: Path) -> str:
    """The stream of a Singer file's first SCHEMA message."""
    with path.open("rb") as lines:
        return json.loads(lines.readline())["stream"]


def write_huge(path: Path, count: int) -> None:
    """``count`` records of 50 MB each (a long text and a large JSON array), one SCHEMA, a final STATE."""
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "body": {"type": ["string", "null"]},
            "items": {"type": ["array", "null"], "items": {"type": "integer"}},
        },
    }
    message = {"type": "SCHEMA", "stream": "huge", "schema": schema, "key_properties": ["id"]}
    numbers = ",".join(str(1_000_000 + n) for n in range(HUGE_BYTES // 2 // 8))
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(message) + "\n")
        for n in range(count):
            body = f"wide record {n:3d} " * (HUGE_BYTES // 2 // 16)
            record = f'{{"id":{n + 1},"body":"{body}","items":[{numbers}]}}'
            out.write(f'{{"type":"RECORD","stream":"huge","record":{record}}}\n')
        out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {"huge": {"n": count}}}}) + "\n")


def main() -> None:
    """Generate the inputs, run raw COPY and the target for each size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--huge", type=int, default=3, help="records of 50 MB to load too (0: none)")
    parser.add_argument(
        "--setting", action="append", default=[], help="a target setting NAME=JSON_VALUE (repeatable)"
    )
    parser.add_argument(
        "--baseline", type=Path, help="folder holding an older target_pipeboard_postgres/ to run too"
    )
    args = parser.parse_args()
    settings = {name: json.loads(value) for name, value in (s.split("=", 1) for s in args.setting)}

    database = f"bench_memory_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    url = with_database(ADMIN_URL, database)
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            workdir = Path(tmp)
            for records in args.records:
                singer_path = workdir / "wide.singer"
                csv_path = workdir / "wide.csv"
                began = time.perf_counter()
                write_singer(singer_path, records)
                columns = write_csv(csv_path, records)
                print(
                    f"input: {records} wide records, {len(PROPERTIES)} columns, "
                    f"{singer_path.stat().st_size / 1e6:.0f} MB Singer, "
                    f"{csv_path.stat().st_size / 1e6:.0f} MB CSV "
                    f"(written in {time.perf_counter() - began:.0f} s)",
                    flush=True,
                )
                floor = raw_copy(url, csv_path, columns, records)
                results.append(floor)
                print_result(floor, floor)
                loaded = ours(url, singer_path, records, "pipeboard: first load", workdir, settings)
                results.append(loaded)
                print_result(loaded, floor)
                if args.baseline:
                    label = f"baseline ({args.baseline.name}): first load"
                    before = ours(url, singer_path, records, label, workdir, settings, args.baseline)
                    results.append(before)
                    print_result(before, floor)
                singer_path.unlink()
                csv_path.unlink()
            if args.huge:
                huge_path = workdir / "huge.singer"
                write_huge(huge_path, args.huge)
                loaded = ours(url, huge_path, args.huge, "pipeboard: 50 MB records", workdir, settings)
                results.append(loaded)
                print_result(loaded, None)
                if args.baseline:
                    label = f"baseline ({args.baseline.name}): 50 MB records"
                    before = ours(url, huge_path, args.huge, label, workdir, settings, args.baseline)
                    results.append(before)
                    print_result(before, None)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.close()

    print(
        "\n| loader | records | wall s | x raw COPY | peak RSS MB, sum over processes (sampled) "
        "| sum of each process's peak MB | each process's peak MB | rows |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    floor_by_records = {r.records: r for r in results if r.name.startswith("raw")}
    for result in results:
        print(table_row(result, floor_by_records.get(result.records) if "50 MB" not in result.name else None))


def table_row(result: Result, floor: Result | None) -> str:
    """One Markdown table row."""
    ratio = f"{result.seconds / floor.seconds:.2f}" if floor is not None else ""
    return (
        f"| {result.name} | {result.records} | {result.seconds:.1f} | {ratio} | {result.peak_sum_mb:.0f} "
        f"| {result.sum_of_peaks_mb:.0f} | {result.peaks_mb} | {result.rows} |"
    )


def print_result(result: Result, floor: Result | None) -> None:
    """Progress, as each run ends."""
    print(table_row(result, floor), flush=True)


if __name__ == "__main__":
    main()
