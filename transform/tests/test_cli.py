"""pipeboard-dbt as a user runs it: wrong settings in one line, metrics pushed, freshness, docs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

SECRET = "p@ss:w/rd#1%"


class _Receiver(BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.server.pushes.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def gateway() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.pushes = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def one_line_failure(done) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert quote(SECRET, safe="") not in done.stdout + done.stderr
    return lines[0]


def test_a_wrong_database_url_ends_in_one_line_without_the_password(bare):
    db, dbt = bare
    host_port = db.url.split("@", 1)[1].split("/", 1)[0]
    url = f"postgresql://nobody_here:{quote(SECRET, safe='')}@{host_port}/{db.url.rsplit('/', 1)[1]}"

    line = one_line_failure(dbt.run("build", env={"DATABASE_URL": url}))

    assert line.startswith("pipeboard-dbt: cannot connect to PostgreSQL as nobody_here@")
    assert 'role "nobody_here" does not exist' in line
    assert "check DATABASE_URL" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u@h/db", "DATABASE_URL must start with postgresql://"),
        ("postgresql://u@h:99999/db", "DATABASE_URL is not a valid URL"),
        ("postgresql://u@h/db?sslmod=require", "has parameters pipeboard-dbt does not pass to dbt: sslmod"),
    ],
    ids=["not-postgres", "bad-port", "unknown-parameter"],
)
def test_a_malformed_database_url_is_named(bare, url, expected):
    _db, dbt = bare

    line = one_line_failure(dbt.run("build", env={"DATABASE_URL": url}))

    assert expected in line


def test_a_server_that_never_answers_times_out_with_one_line(bare, silent_listener):
    _db, dbt = bare
    url = f"postgresql://postgres:{quote(SECRET, safe='')}@127.0.0.1:{silent_listener}/x?connect_timeout=2"

    line = one_line_failure(dbt.run("build", env={"DATABASE_URL": url}))

    assert "cannot connect to PostgreSQL as postgres@127.0.0.1" in line
    assert "timeout" in line


def test_no_database_setting_names_the_variables(bare):
    _db, dbt = bare

    line = one_line_failure(dbt.run("build", env={"DATABASE_URL": ""}))

    assert "set DATABASE_URL" in line


@pytest.mark.slow
def test_the_loaders_parts_with_an_escaped_password_reach_dbt(built):
    db, dbt = built
    name = db.url.rsplit("/", 1)[1]
    env = {
        "DATABASE_URL": "",
        "TARGET_PIPEBOARD_POSTGRES_HOST": "127.0.0.1",
        "TARGET_PIPEBOARD_POSTGRES_USER": "postgres",
        "TARGET_PIPEBOARD_POSTGRES_PASSWORD": SECRET,  # trust auth: accepted and ignored
        "TARGET_PIPEBOARD_POSTGRES_DATABASE": name,
    }

    done = dbt.run("debug", env=env)

    assert done.returncode == 0, done.stdout[-3000:]
    assert "All checks passed!" in done.stdout
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.slow
def test_a_rebuild_pushes_the_transform_metrics_and_freshness_and_leaves_nothing_behind(built, gateway):
    db, dbt = built
    before = db.snapshot()
    db.execute("UPDATE pipedrive.notes SET _sdc_batched_at = now() - interval '2 days'")  # stale notes
    try:
        dbt.build(
            env={
                "PIPEBOARD_PUSHGATEWAY_URL": f"http://127.0.0.1:{gateway.server_address[1]}",
                "PIPEBOARD_METRICS_INSTANCE": "test-box",
            }
        )
    finally:
        db.execute("UPDATE pipedrive.notes SET _sdc_batched_at = now()")

    assert db.snapshot() == before
    assert db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'pipedrive' AND tablename LIKE 'main_bi%'"
    ) == [("main_bi",)]
    [(path, body)] = gateway.pushes  # type: ignore[attr-defined]
    assert path == "/metrics/job/pipeboard-transform/instance/test-box"
    assert 'pipeboard_transform_runs_total{outcome="success"} 1.0' in body
    assert "pipeboard_transform_main_bi_rows 5.0" in body
    assert 'pipeboard_transform_duration_seconds{model="main_bi"}' in body
    assert 'pipeboard_transform_data_tests{status="pass"}' in body
    assert 'pipeboard_transform_data_tests{status="warn"} 3.0' in body  # deal 4's dangling stage, person, org
    assert 'pipeboard_transform_source_freshness_status{table="deals"} 0.0' in body
    assert 'pipeboard_transform_source_freshness_status{table="notes"} 2.0' in body
    assert 'pipeboard_transform_source_age_seconds{table="notes"}' in body
    assert db.url not in body


@pytest.mark.slow
def test_a_failed_build_pushes_the_failure(bare, gateway):
    db, dbt = bare
    db.execute("CREATE SCHEMA pipedrive")

    done = dbt.run(
        "build", env={"PIPEBOARD_PUSHGATEWAY_URL": f"http://127.0.0.1:{gateway.server_address[1]}"}
    )

    assert done.returncode == 1
    [(_, body)] = gateway.pushes  # type: ignore[attr-defined]
    assert 'pipeboard_transform_runs_total{outcome="failure"} 1.0' in body
    assert "pipeboard_transform_last_success_timestamp_seconds 0.0" in body


@pytest.mark.slow
def test_docs_generate_writes_a_static_site_describing_main_bi(built):
    _db, dbt = built

    done = dbt.run("docs", "generate", "--static")

    assert done.returncode == 0, done.stdout[-3000:]
    page = (dbt.workdir / "target" / "static_index.html").read_text()
    assert "main_bi" in page
    assert "weighted_value" in page
