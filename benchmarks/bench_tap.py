"""Benchmark of tap-pipedrive against the emulator: records/s, peak RSS, tokens and requests, side by side.

Run: ``.venv/bin/python benchmarks/bench_tap.py [--deals 10000 100000] [--baseline main]`` (not part of
``make test``). For each size it runs the baseline tap (the ``tap-pipedrive`` of a git ref, extracted with
``git archive``) and this tree's tap against fresh, identical emulators: a full sync, then a sync with nothing
changed. This tree's tap also runs the reconciliation pass (``reconcile_interval_hours: 0``) and a sync after
line items were taken off unchanged deals. The emulator runs in its own process (rate limits off) so the tap's
memory and CPU are measured alone. One JSON line per size and tap.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def start_emulator(deals: int) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``python -m pipedrive_emulator`` on a free port; return the process, base URL and token."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipedrive_emulator",
            "--port",
            "0",
            "--deals",
            str(deals),
            "--no-rate-limits",
            # Seats enough that the daily token budget never ends a run: at 100k deals the full sync alone
            # (the deal-history backfill included) spends more than a 5-seat day; the bench counts tokens.
            "--seats",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    values: dict[str, str] = {}
    assert process.stdout is not None
    while len(values) < 2:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("emulator exited before printing its URL")
        if "=" in line:
            key, value = line.strip().split("=", 1)
            values[key] = value
    return process, values["base_url"], values["token"]


def admin(base_url: str, name: str, body: dict[str, Any] | None = None) -> Any:
    """Call the emulator's admin API."""
    url = f"{base_url}/_emulator/{name}"
    response = requests.get(url, timeout=600) if body is None else requests.post(url, json=body, timeout=600)
    response.raise_for_status()
    answer = response.json() if response.content else None
    return answer.get("data", answer) if isinstance(answer, dict) else answer


def _peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children_cpu() -> float:
    """CPU seconds of the waited-for children (the emulator is waited for only at the very end)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def baseline_tree(ref: str, into: Path) -> Path:
    """Extract ``tap-pipedrive`` of git ``ref`` into ``into``; return the directory to put on PYTHONPATH."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "tap-pipedrive"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "tap-pipedrive"


def _stream_of(line: bytes) -> str:
    """The stream of a RECORD line, without decoding the whole record."""
    begin = line.find(b'"stream":') + len(b'"stream":')
    begin = line.index(b'"', begin) + 1
    return line[begin : line.index(b'"', begin)].decode()


def run_tap(
    config_file: Path,
    state: dict[str, Any] | None,
    workdir: Path,
    source: Path | None = None,
    catalog: Path | None = None,
) -> dict[str, Any]:
    """Run the tap (this tree's, or the one in ``source``; ``catalog`` if given); count records, keep the last
    state, peak RSS."""
    command = [sys.executable, "-m", "tap_pipedrive.tap", "--config", str(config_file)]
    if catalog is not None:
        command += ["--catalog", str(catalog)]
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    if state is not None:
        state_file = workdir / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    started = time.perf_counter()
    cpu_before = _children_cpu()
    log_path = workdir / "tap.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _peak_rss_kib(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    records = 0
    by_stream: Counter[str] = Counter()
    last_state: dict[str, Any] | None = None
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
            records += 1
            by_stream[_stream_of(line)] += 1
        elif b'"STATE"' in line[:20]:
            last_state = json.loads(line)["value"]
    code = process.wait()
    log.close()
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    sampler.join()
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"tap exited with {code}; its log ends:\n" + "\n".join(tail))
    return {
        "records": records,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak[0] / 1024,
        "state": last_state,
        "records_by_stream": dict(by_stream),
    }


def tokens(base_url: str) -> tuple[int, int, dict[str, int]]:
    """Tokens and requests in the emulator's log, and tokens per path; the log is cleared."""
    log = admin(base_url, "requests")
    admin(base_url, "requests/clear", {})
    by_path: Counter[str] = Counter()
    for entry in log:  # per path template: /api/v1/deals/{id}/participants, not one line per deal
        by_path[re.sub(r"/\d+(?=/|$)", "/{id}", entry["path"])] += int(entry.get("token_cost") or 0)
    return sum(by_path.values()), len(log), dict(by_path)


RECONCILED_PATHS = {
    "deals": ("/api/v2/deals", "/api/v2/deals/archived"),
    "organizations": ("/api/v2/organizations",),
    "persons": ("/api/v2/persons",),
    "activities": ("/api/v2/activities",),
    "products": ("/api/v2/products",),
    "notes": ("/api/v1/notes",),
    "leads": ("/api/v1/leads", "/api/v1/leads/archived"),
    "files": ("/api/v1/files",),
}
"""The list endpoints a reconciliation pass reads, per incremental stream."""


def bench(deals: int, source: Path | None) -> dict[str, Any]:
    """Full sync, then a no-change sync (and for this tree: a reconciliation pass, a line-item removal)."""
    emulator, base_url, token = start_emulator(deals)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            config = {"api_token": token, "api_url": base_url}
            config_file = workdir / "config.json"
            config_file.write_text(json.dumps(config))
            full = run_tap(config_file, None, workdir, source)
            full_tokens, full_requests, _ = tokens(base_url)
            again = run_tap(config_file, full["state"], workdir, source)
            inc_tokens, inc_requests, inc_paths = tokens(base_url)
            result: dict[str, Any] = {
                "deals": deals,
                "tap": "baseline" if source is not None else "this tree",
                "records": full["records"],
                "seconds": round(full["seconds"], 1),
                "records_per_second": round(full["records"] / full["seconds"]),
                "tap_cpu_seconds": round(full["cpu_seconds"], 1),
                "records_per_tap_cpu_second": round(full["records"] / max(full["cpu_seconds"], 1e-9)),
                "peak_rss_mb": round(full["peak_rss_mb"], 1),
                "full_sync_tokens": full_tokens,
                "full_sync_requests": full_requests,
                "no_change_records": again["records"],
                "no_change_tokens": inc_tokens,
                "no_change_requests": inc_requests,
                "no_change_tokens_by_path": inc_paths,
            }
            if source is None:
                result.update(extra_runs(base_url, config, again["state"], workdir))
    finally:
        emulator.terminate()
        emulator.wait()
    return result


def extra_runs(base_url: str, config: dict[str, Any], state: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """A sync after line items left unchanged deals; then one with every reconciliation pass due."""
    admin(base_url, "mutate", {"remove_line_items": 3})
    config_file = workdir / "config.json"
    removed = run_tap(config_file, state, workdir)
    removed_tokens, removed_requests, _ = tokens(base_url)
    config_file.write_text(json.dumps({**config, "reconcile_interval_hours": 0}))
    passed = run_tap(config_file, removed["state"], workdir)
    pass_tokens, pass_requests, pass_paths = tokens(base_url)
    per_10k = {}
    for stream, paths in RECONCILED_PATHS.items():
        spent = sum(pass_paths.get(path, 0) for path in paths)
        read = passed["records_by_stream"].get(stream, 0)
        if read:
            per_10k[stream] = round(spent * 10_000 / read)
    return {
        "line_items_removed_tokens": removed_tokens,
        "line_items_removed_requests": removed_requests,
        "reconciliation_run_tokens": pass_tokens,
        "reconciliation_run_requests": pass_requests,
        "reconciliation_tokens_by_path": pass_paths,
        "reconciliation_tokens_per_10k_records": per_10k,
    }


def main() -> None:
    """Run the benchmark for each deal count, baseline and this tree side by side; one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--baseline", default="main", help="git ref of the tap to compare with ('' for none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = baseline_tree(args.baseline, Path(tmp)) if args.baseline else None
        for deals in args.deals:
            if source is not None:
                print(json.dumps(bench(deals, source)), flush=True)
            print(json.dumps(bench(deals, None)), flush=True)


if __name__ == "__main__":
    main()
