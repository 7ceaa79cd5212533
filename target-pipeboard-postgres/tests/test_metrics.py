"""Metrics: pushed to a (real, local) HTTP Pushgateway endpoint at the end of a run and on failure."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from pipeboard_testkit.clusters import SilentListener
from target_pipeboard_postgres.metrics import JOB


class Gateway(http.server.BaseHTTPRequestHandler):
    pushes: list[tuple[str, str, str]] = []

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Gateway.pushes.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT  # noqa: N815 - the name http.server dispatches to

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.pushes = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_successful_run_pushes_rows_batches_schema_changes_and_outcome(warehouse, singer, gateway):
    warehouse.load(
        [
            singer.schema("m", {"id": {"type": "integer"}, "v": {"type": "string"}}),
            *(singer.record("m", {"id": i, "v": "x"}) for i in range(3)),
            singer.record("m", {"id": 0, "v": "y"}),
        ],
        pushgateway_url=gateway,
    )
    method, path, body = Gateway.pushes[-1]
    assert method == "PUT"
    assert path.startswith(f"/metrics/job/{JOB}/instance/")
    assert 'pipeboard_target_rows_loaded_total{operation="insert",table="m"} 3.0' in body
    assert 'pipeboard_target_schema_changes_total{kind="create",table="m"} 1.0' in body
    assert 'pipeboard_target_batch_rows_count{table="m"} 1.0' in body
    assert 'pipeboard_target_runs_total{outcome="success"} 1.0' in body
    assert "pipeboard_target_last_success_timestamp_seconds" in body
    assert "process_resident_memory_bytes" in body


def test_failed_run_pushes_a_failure(warehouse, singer, gateway):
    from target_pipeboard_postgres.sinks import RecordRejectedError

    with pytest.raises(RecordRejectedError):
        warehouse.load(
            [singer.schema("m", {"id": {"type": "integer"}}), singer.record("m", {"id": "nope"})],
            pushgateway_url=gateway,
        )
    assert 'pipeboard_target_runs_total{outcome="failure"} 1.0' in Gateway.pushes[-1][2]


def test_quarantined_records_are_counted(warehouse, singer, gateway):
    warehouse.load(
        [
            singer.schema("m", {"id": {"type": "integer"}, "n": {"type": "integer"}}),
            singer.record("m", {"id": 1, "n": "bad"}),
            singer.record("m", {"id": 2, "n": 2}),
        ],
        pushgateway_url=gateway,
        on_invalid_record="quarantine",
    )
    assert 'pipeboard_target_rejects_total{table="m"} 1.0' in Gateway.pushes[-1][2]


def test_a_pushgateway_that_never_answers_neither_slows_nor_stops_the_load(warehouse, singer, monkeypatch):
    """Pushes happen off the loader's thread: the run ends while a push still waits for an answer."""
    from target_pipeboard_postgres import metrics

    # A push would wait an hour for this gateway; the run waits for its last push a fraction of a second.
    monkeypatch.setattr(metrics, "PUSH_TIMEOUT_SECONDS", 3600.0, raising=False)
    monkeypatch.setattr(metrics, "FINAL_PUSH_WAIT_SECONDS", 0.2, raising=False)
    with SilentListener() as gateway:
        run = warehouse.load(
            [
                singer.schema("m", {"id": {"type": "integer"}}),
                *(singer.record("m", {"id": i}) for i in range(30)),
                singer.state({"done": 29}),
            ],
            pushgateway_url=f"http://127.0.0.1:{gateway.port}",
            batch_size_rows=10,
        )
        assert gateway.wait_for_connection(timeout=60), "no push was attempted"
        # Every push the run made is still waiting for its answer: the load did not wait for one.
        assert gateway.open_connections() == gateway.accepted
    assert [row[0] for row in warehouse.rows("m", ["id"])] == list(range(30))
    assert run.states == [{"done": 29}]
