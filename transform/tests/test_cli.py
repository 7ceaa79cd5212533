"""The `pipeboard-transform` command: exit codes, and the metrics it pushes to a real local HTTP receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pipeboard_transform.cli import main


class _Receiver(BaseHTTPRequestHandler):
    pushes: list[tuple[str, str, str]]

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.pushes.append((self.command, self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def gateway() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.pushes = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def gateway_url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_run_builds_main_bi_and_pushes_success_metrics(db, gateway, monkeypatch):
    monkeypatch.setenv("PIPEBOARD_METRICS_INSTANCE", "test-box")
    monkeypatch.setenv("DATABASE_URL", db.url)

    code = main(["run", "--pushgateway-url", gateway_url(gateway)])

    assert code == 0
    assert db.execute("SELECT count(*) FROM pipedrive.main_bi") == [(4,)]
    [(method, path, body)] = gateway.pushes
    assert (method, path) == ("PUT", "/metrics/job/pipeboard-transform/instance/test-box")
    assert 'pipeboard_transform_runs_total{outcome="success"} 1.0' in body
    assert "pipeboard_transform_main_bi_rows 4.0" in body
    assert 'pipeboard_transform_duration_seconds{model="main_bi"}' in body
    assert db.url not in body


def test_a_failed_run_exits_1_and_pushes_the_failure(db, gateway, monkeypatch):
    monkeypatch.delenv("PIPEBOARD_TRANSFORM_DATABASE_URL", raising=False)
    db.execute("DROP TABLE pipedrive.deals")

    code = main(["run", "--database-url", db.url, "--pushgateway-url", gateway_url(gateway)])

    assert code == 1
    [(_, _, body)] = gateway.pushes
    assert 'pipeboard_transform_runs_total{outcome="failure"} 1.0' in body
    assert "pipeboard_transform_last_success_timestamp_seconds 0.0" in body


def test_missing_database_settings_exit_2(monkeypatch):
    for name in (
        "PIPEBOARD_TRANSFORM_DATABASE_URL",
        "TARGET_PIPEBOARD_POSTGRES_DATABASE_URL",
        "DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TARGET_PIPEBOARD_POSTGRES_HOST", raising=False)

    assert main(["run"]) == 2


def test_list_shows_the_build_order_without_a_database(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    assert main(["list"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("main_bi\ttable\trefs=")
    assert len(lines) == 13
