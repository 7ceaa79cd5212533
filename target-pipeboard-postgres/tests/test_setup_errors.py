"""Every setup mistake a user can make ends in one line: the target run by hand, against real servers.

Each case runs ``target-pipeboard-postgres --config …`` with nothing on standard input (the connection is
checked before any input is read) and asserts the last line's text, exit code 1, one ERROR line, no
traceback, and that the password appears nowhere in the output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest
from pipeboard_testkit.clusters import free_port
from pipeboard_testkit.password_cluster import PasswordCluster
from target_pipeboard_postgres.errors import scrub

TARGET = Path(sys.executable).parent / "target-pipeboard-postgres"


def run_target(tmp_path: Path, config: dict[str, Any] | str) -> subprocess.CompletedProcess[str]:
    """The target on an empty input with this config (a dict, or the config file's raw text)."""
    path = tmp_path / "config.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    return subprocess.run(
        [str(TARGET), "--config", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str, secrets: list[str]) -> str:
    """Exit 1, the last line is the only ERROR line and says ``expected``; no traceback, no secret."""
    output = result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in lines if "| ERROR" in line]
    assert errors == [lines[-1]], output
    assert expected in lines[-1], lines[-1]
    for secret in secrets:
        assert secret not in output
    return lines[-1]


def test_a_url_libpq_cannot_parse_is_named_with_its_shape(tmp_path: Path) -> None:
    result = run_target(tmp_path, {"database_url": "postgresql://postgres:s3cr@t@127.0.0.1:54x2/postgres"})

    line = assert_one_line(result, "The database URL is not valid (", ["s3cr"])
    assert 'invalid integer value "54x2" for connection option "port"' in line
    assert line.endswith(
        "— check DATABASE_URL / `database_url` (postgresql://user:password@host:5432/database; "
        "percent-encode @ : / # in the password)"
    )


def test_a_url_that_is_not_a_url_is_not_echoed(tmp_path: Path) -> None:
    result = run_target(tmp_path, {"database_url": "postgres//admin:sekrit@db.example/analytics"})

    assert_one_line(result, "The database URL is not valid (invalid dsn", ["sekrit", "admin:"])


def test_a_port_with_no_server_says_so_before_reading_any_input(tmp_path: Path) -> None:
    port = free_port()
    result = run_target(tmp_path, {"database_url": f"postgresql://postgres:pw-secret@127.0.0.1:{port}/x"})

    line = assert_one_line(
        result, f"No PostgreSQL server answers at 127.0.0.1:{port} (connection refused)", []
    )
    assert line.endswith("— start it, or fix the host and port in DATABASE_URL / `database_url`")
    assert "pw-secret" not in result.stderr


def test_a_missing_database_is_named(tmp_path: Path, password_cluster: PasswordCluster) -> None:
    url = password_cluster.url("alice", "alice-pw", "no_such_db")

    result = run_target(tmp_path, {"database_url": url})

    assert_one_line(
        result,
        f"Database 'no_such_db' does not exist on 127.0.0.1:{password_cluster.port} — create it "
        "(CREATE DATABASE) or fix the database name in DATABASE_URL / `database_url`",
        ["alice-pw"],
    )


def test_a_missing_role_on_a_trusting_server_is_named(tmp_path: Path, database_url: str) -> None:
    parts = urlsplit(database_url)
    url = f"postgresql://nobody_here@{parts.hostname}:{parts.port or 5432}{parts.path}"

    result = run_target(tmp_path, {"database_url": url})

    assert_one_line(result, "PostgreSQL role 'nobody_here' does not exist on ", [])


@pytest.mark.parametrize(
    ("user", "password"), [("alice", "wrong-pw"), ("ghost", "ghost-pw")], ids=["wrong-password", "no-role"]
)
def test_password_authentication_failure_names_the_user_never_the_password(
    tmp_path: Path, password_cluster: PasswordCluster, user: str, password: str
) -> None:
    result = run_target(tmp_path, {"database_url": password_cluster.url(user, password, "appdb")})

    assert_one_line(
        result,
        f"PostgreSQL rejected user '{user}' on 127.0.0.1:{password_cluster.port} (password authentication "
        "failed: the password is wrong or the role does not exist) — check the user and password in "
        "DATABASE_URL / `database_url`",
        [password],
    )


def test_separate_settings_are_named_when_the_password_is_wrong(
    tmp_path: Path, password_cluster: PasswordCluster
) -> None:
    config = {
        "host": "127.0.0.1",
        "port": password_cluster.port,
        "user": "alice",
        "password": "not-alices",
        "database": "appdb",
    }

    line = assert_one_line(run_target(tmp_path, config), "PostgreSQL rejected user 'alice'", ["not-alices"])
    assert line.endswith("check the user and password in `host`/`port`/`user`/`password`/`database`")


def test_a_role_that_may_not_create_the_schema_is_told_what_to_grant(
    tmp_path: Path, password_cluster: PasswordCluster
) -> None:
    result = run_target(tmp_path, {"database_url": password_cluster.url("reader", "reader-pw", "appdb")})

    line = assert_one_line(
        result, "PostgreSQL role 'reader' may not create the schema 'pipedrive' and its tables", ["reader-pw"]
    )
    assert "GRANT CREATE ON DATABASE" in line


def test_a_password_with_url_characters_works_percent_encoded(
    tmp_path: Path, password_cluster: PasswordCluster
) -> None:
    assert set("@:/#") <= set(password_cluster.password)
    url = password_cluster.url(database="appdb")

    result = run_target(tmp_path, {"database_url": url, "default_target_schema": "preflight_ok"})

    assert result.returncode == 0, result.stderr
    assert "Connected to the database; loading into schema preflight_ok" in result.stderr
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass('preflight_ok._pipeboard_loads') IS NOT NULL")
            assert cur.fetchone() == (True,)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {"batch_size_rows": "abc"},
            "batch_size_rows must be a whole number of at least 1 (got 'abc')",
            id="type",
        ),
        pytest.param({"port": 70000}, "port must be a whole number from 1 to 65535 (got 70000)", id="range"),
        pytest.param(
            {"batch_size_bytes": "16MB"},
            "batch_size_bytes must be a whole number of at least 65536 (got '16MB')",
            id="bytes-type",
        ),
        pytest.param(
            {"batch_size_bytes": 1000},
            "batch_size_bytes must be a whole number of at least 65536 (got 1000)",
            id="bytes-range",
        ),
        pytest.param(
            {"load_method": "merge"},
            "load_method must be one of upsert, append-only, overwrite (got 'merge')",
            id="choice",
        ),
        pytest.param(
            {"encoder_processes": 99},
            "encoder_processes must be a whole number from 0 to 16 (got 99)",
            id="max",
        ),
        pytest.param({"hard_delete": "yes"}, "hard_delete must be true or false (got 'yes')", id="boolean"),
        pytest.param({"password": 1234}, "password must be text", id="secret-not-echoed"),
    ],
)
def test_a_setting_of_the_wrong_type_or_out_of_range_names_what_it_may_be(
    tmp_path: Path, database_url: str, settings: dict[str, Any], expected: str
) -> None:
    result = run_target(tmp_path, {"database_url": database_url, **settings})

    line = assert_one_line(result, "Invalid target-pipeboard-postgres settings: ", ["1234"])
    assert line.endswith(expected)


def test_neither_a_url_nor_a_host_is_a_settings_error(tmp_path: Path) -> None:
    result = run_target(tmp_path, {"default_target_schema": "x"})

    assert_one_line(
        result, "Invalid target-pipeboard-postgres settings: Set either `database_url` or both", []
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"database_url": "postgresql://u:pw-in-file@h/d",}', "is not valid JSON (Expecting property name"),
        ('["database_url"]', "must hold one JSON object of settings, not a list"),
    ],
    ids=["not-json", "not-an-object"],
)
def test_a_config_file_that_is_not_a_json_object_is_named(tmp_path: Path, text: str, expected: str) -> None:
    line = assert_one_line(
        run_target(tmp_path, text), f"The config file {tmp_path / 'config.json'} ", ["pw-in"]
    )
    assert expected in line


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(TARGET), "--config", str(tmp_path / "nowhere.json")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert_one_line(result, f"Cannot read the config file {tmp_path / 'nowhere.json'} (No such file", [])


@pytest.mark.parametrize(
    ("text", "secrets", "kept"),
    [
        ("failed for postgresql://bob:hunter2@db:5432/x", ["hunter2"], "postgresql://bob:***@db:5432/x"),
        ("host=db password=hunter2 dbname=x", [], "password=***"),
        ("user=bob password='hu nter' dbname=x", [], "password=*** dbname=x"),
        ("the secret is hunter2", ["hunter2"], "the secret is ***"),
    ],
    ids=["url", "keyword", "quoted-keyword", "given"],
)
def test_scrub_removes_passwords_however_they_appear(text: str, secrets: list[str], kept: str) -> None:
    cleaned = scrub(text, secrets)

    assert kept in cleaned
    assert "hunter" not in cleaned
