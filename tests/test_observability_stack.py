"""End to end through the real monitoring programs: a sync pushes to Debian's Pushgateway, Debian's Prometheus
scrapes it with the shipped configuration and rules, and its HTTP API answers with what the sync did."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
STARTUP_TIMEOUT_S = 180  # polled: a bound for a hang, not how fast the machine is
SCRAPE_WAIT_S = 180  # polled, as above


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def executable(name: str) -> str:
    """Path of a program installed by scripts/install-test-services.sh (or the venv's scripts)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/install-test-services.sh")
    return found


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until url answers 200, failing with the program's log if it dies or never gets ready."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} not ready after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def start(argv: list[str], log: Path, ready_url: str) -> subprocess.Popen[bytes]:
    """Start a service program with its output in log, and wait for it to be ready."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    wait_ready(ready_url, process, log)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a started program and reap it."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def pushgateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Pushgateway on a free loopback port."""
    workdir = tmp_path_factory.mktemp("pushgateway")
    address = f"127.0.0.1:{free_port()}"
    process = start(
        [
            executable("prometheus-pushgateway"),
            f"--web.listen-address={address}",
            # Debian's build persists to a file shared by every instance by default: keep ours apart.
            f"--persistence.file={workdir / 'pushgateway.data'}",
        ],
        workdir / "pushgateway.log",
        f"http://{address}/-/ready",
    )
    yield f"http://{address}"
    stop(process)


def prometheus_config(pushgateway_address: str, prometheus_address: str) -> dict[str, Any]:
    """docker/prometheus.yml with the stack's addresses replaced by loopback ones and 1 s intervals."""
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    addresses = {"pushgateway": pushgateway_address, "prometheus": prometheus_address}
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            group["targets"] = [addresses[job["job_name"]]]
    return config


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory, pushgateway_url: str) -> Iterator[str]:
    """A real Prometheus scraping the Pushgateway every second, with the shipped alert rules."""
    workdir = tmp_path_factory.mktemp("prometheus")
    address = f"127.0.0.1:{free_port()}"
    config = prometheus_config(pushgateway_url.removeprefix("http://"), address)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    for rule_file in config["rule_files"]:
        shutil.copy(DOCKER / rule_file, workdir / rule_file)
    process = start(
        [
            executable("prometheus"),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={address}",
        ],
        workdir / "prometheus.log",
        f"http://{address}/-/ready",
    )
    yield f"http://{address}"
    stop(process)


def query(prometheus_url: str, expression: str) -> list[dict[str, Any]]:
    """Run an instant query through Prometheus' HTTP API and return its result vector."""
    response = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expression}, timeout=5)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def eventually(read: Callable[[], Any], expected: Any) -> Any:
    """Poll read() until it returns expected (scrapes are asynchronous) or time runs out; return the last."""
    deadline = time.monotonic() + SCRAPE_WAIT_S
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def by_label(result: list[dict[str, Any]], label: str) -> dict[str, float]:
    """{label value: sample value} of a query result."""
    return {sample["metric"][label]: float(sample["value"][1]) for sample in result}


def records_per_stream(singer_output: str) -> Counter[str]:
    """RECORD messages per stream in a tap's stdout."""
    counts: Counter[str] = Counter()
    for line in singer_output.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            counts[message["stream"]] += 1
    return counts


def test_shipped_alert_rule_fires_in_prometheus_on_pushed_metrics(
    pushgateway_url: str, prometheus_url: str
) -> None:
    registry = CollectorRegistry()
    breaker = Gauge("pipeboard_tap_circuit_breaker_open", "Breaker state.", registry=registry)
    breaker.set(1)

    push_to_gateway(
        pushgateway_url, job="tap-pipedrive", registry=registry, grouping_key={"instance": "alert-test"}
    )

    def firing() -> list[tuple[str, str, str]]:
        alerts = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return sorted(
            (alert["labels"]["alertname"], alert["labels"]["job"], alert["labels"]["instance"])
            for alert in alerts
            if alert["state"] == "firing" and alert["labels"]["instance"] == "alert-test"
        )

    try:
        assert eventually(firing, [("PipeboardCircuitBreakerOpen", "tap-pipedrive", "alert-test")]) == [
            ("PipeboardCircuitBreakerOpen", "tap-pipedrive", "alert-test")
        ]
    finally:
        requests.delete(f"{pushgateway_url}/metrics/job/tap-pipedrive/instance/alert-test", timeout=5)


def test_sync_record_counts_and_tokens_reach_prometheus(
    make_emulator: Callable[..., Any], pushgateway_url: str, prometheus_url: str, tmp_path: Path
) -> None:
    tap = shutil.which("tap-pipedrive", path=str(Path(sys.executable).parent)) or shutil.which(
        "tap-pipedrive"
    )
    if tap is None:
        pytest.skip("tap-pipedrive is not installed yet")
    emulator = make_emulator(deals=100)
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"api_token": emulator.token, "api_url": emulator.base_url, "pushgateway_url": pushgateway_url}
        )
    )

    sync = subprocess.run(
        [tap, "--config", str(config)], capture_output=True, text=True, timeout=300, check=False
    )

    assert sync.returncode == 0, sync.stderr[-3000:]
    emitted = records_per_stream(sync.stdout)
    tokens = sum(request.token_cost for request in emulator.request_log)
    assert emitted["deals"] == len(emulator.records("deals"))
    assert tokens > 0
    expected_records = {stream: float(count) for stream, count in emitted.items()}

    scraped_records = eventually(
        lambda: by_label(
            query(prometheus_url, 'sum by (stream) (pipeboard_tap_records_total{job="tap-pipedrive"})'),
            "stream",
        ),
        expected_records,
    )
    scraped_tokens = eventually(
        lambda: by_label(
            query(prometheus_url, 'sum by (job) (pipeboard_tap_tokens_spent_total{job="tap-pipedrive"})'),
            "job",
        ),
        {"tap-pipedrive": float(tokens)},
    )

    assert scraped_records == expected_records
    assert scraped_tokens == {"tap-pipedrive": float(tokens)}
    assert token_not_in_pushgateway(pushgateway_url, emulator.token)


def token_not_in_pushgateway(pushgateway_url: str, token: str) -> bool:
    """True when the API token appears nowhere in what the Pushgateway serves."""
    exposition = requests.get(f"{pushgateway_url}/metrics", timeout=5).text
    return "pipeboard_tap_records_total" in exposition and token not in exposition
