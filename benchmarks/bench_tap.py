"""Benchmark of tap-pipedrive against the emulator: records/s, peak RSS, tokens for full and no-change syncs.

Run: ``.venv/bin/python benchmarks/bench_tap.py [--deals 10000 100000]`` (not part of ``make test``).
The emulator runs in its own process (rate limits off) so the tap's memory and CPU are measured alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent


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


def run_tap(
    config_file: Path, state: dict[str, Any] | None, workdir: Path, catalog: Path | None = None
) -> dict[str, Any]:
    """Run the tap CLI (``catalog`` if given); count records, keep the last state, sample its peak RSS."""
    command = [str(BIN / "tap-pipedrive"), "--config", str(config_file)]
    if catalog is not None:
        command += ["--catalog", str(catalog)]
    if state is not None:
        state_file = workdir / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    started = time.perf_counter()
    cpu_before = _children_cpu()
    log_path = workdir / "tap.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _peak_rss_kib(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    records = 0
    last_state: dict[str, Any] | None = None
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"') or line.startswith(b'{"type": "RECORD"'):
            records += 1
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
    }


def tokens(base_url: str) -> tuple[int, int]:
    """Tokens and requests in the emulator's log."""
    log = admin(base_url, "requests")
    return sum(int(entry.get("token_cost") or 0) for entry in log), len(log)


def bench(deals: int) -> dict[str, Any]:
    """Full sync then a no-change incremental sync of an emulator with ``deals`` deals."""
    emulator, base_url, token = start_emulator(deals)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            config_file = workdir / "config.json"
            config_file.write_text(json.dumps({"api_token": token, "api_url": base_url}))
            full = run_tap(config_file, None, workdir)
            full_tokens, full_requests = tokens(base_url)
            admin(base_url, "requests/clear", {})
            again = run_tap(config_file, full["state"], workdir)
            inc_tokens, inc_requests = tokens(base_url)
    finally:
        emulator.terminate()
        emulator.wait()
    return {
        "deals": deals,
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
    }


def main() -> None:
    """Run the benchmark for each deal count and print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, nargs="+", default=[10_000, 100_000])
    for deals in parser.parse_args().deals:
        print(json.dumps(bench(deals)), flush=True)


if __name__ == "__main__":
    main()
