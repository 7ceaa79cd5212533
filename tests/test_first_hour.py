"""A newcomer's first hour, end to end: `meltano run` and `make demo` with every mistake a user can make.

A database the loader cannot use stops the job before Pipedrive is read (the emulator's request log stays
empty); each failure ends in the failing plugin's one line, no traceback, no secret; the demo keeps one
history per database, reports this run's changes, and its printed psql commands work when pasted.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psycopg2
import pytest
from pipeboard_testkit.clusters import free_port
from pipeboard_testkit.password_cluster import PasswordCluster

if TYPE_CHECKING:
    from conftest import Meltano

ROOT = Path(__file__).resolve().parent.parent
JOB = "pipedrive-to-postgres"
SCHEDULE = "pipedrive-to-postgres-every-4h"
DEMO = [sys.executable, str(ROOT / "scripts" / "demo.py"), "--deals", "80"]

pytestmark = pytest.mark.slow


def assert_clean_failure(output: str, expected: str, secrets: list[str]) -> None:
    """The expected line is there, and no traceback and no secret anywhere."""
    assert expected in output, output[-3000:]
    assert "Traceback" not in output
    for secret in secrets:
        assert secret not in output


def bad_databases(cluster: PasswordCluster, trusting_server: str) -> dict[str, tuple[str, str, list[str]]]:
    """Case → (DATABASE_URL, the target's line, secrets that must not show)."""
    port = free_port()
    trusting = urlsplit(trusting_server)
    return {
        "malformed": (
            "postgresql://postgres:pw-malformed@127.0.0.1:54x2/postgres",
            'The database URL is not valid (invalid integer value "54x2" for connection option "port")',
            ["pw-malformed"],
        ),
        "no-server": (
            f"postgresql://postgres:pw-noserver@127.0.0.1:{port}/postgres",
            f"No PostgreSQL server answers at 127.0.0.1:{port} (connection refused)",
            ["pw-noserver"],
        ),
        "missing-database": (
            cluster.url("alice", "alice-pw", "nowhere"),
            f"Database 'nowhere' does not exist on 127.0.0.1:{cluster.port}",
            ["alice-pw"],
        ),
        "missing-role": (
            f"postgresql://ghost@{trusting.hostname}:{trusting.port or 5432}/postgres",
            "PostgreSQL role 'ghost' does not exist on ",
            [],
        ),
        "wrong-password": (
            cluster.url("alice", "not-the-pw", "appdb"),
            f"PostgreSQL rejected user 'alice' on 127.0.0.1:{cluster.port} (password authentication failed",
            ["not-the-pw"],
        ),
    }


CASES = ["malformed", "no-server", "missing-database", "missing-role", "wrong-password"]


@pytest.fixture
def tap_env(make_emulator: Callable[..., Any], tmp_path: Path) -> tuple[Any, dict[str, str]]:
    """An emulator and the environment pointing the project's tap at it (own system database)."""
    emulator = make_emulator(deals=20, seed=3)
    return emulator, {
        "TAP_PIPEDRIVE_API_URL": emulator.base_url,
        "TAP_PIPEDRIVE_API_TOKEN": emulator.token,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }


@pytest.mark.parametrize("case", CASES)
def test_the_job_stops_at_a_database_it_cannot_use_before_a_single_pipedrive_request(
    meltano: Meltano,
    tap_env: tuple[Any, dict[str, str]],
    password_cluster: PasswordCluster,
    database_server: Any,
    case: str,
) -> None:
    emulator, env = tap_env
    url, line, secrets = bad_databases(password_cluster, database_server.admin_url)[case]

    done = meltano.attempt("--environment=dev", "run", JOB, env={**env, "DATABASE_URL": url})

    assert done.returncode != 0
    assert_clean_failure(done.stdout + done.stderr, line, [*secrets, emulator.token])
    assert emulator.request_log == [], "the tap must not read Pipedrive for a loader that cannot connect"


def test_the_schedule_stops_at_a_database_it_cannot_use_before_pipedrive_is_read(
    meltano: Meltano, tap_env: tuple[Any, dict[str, str]]
) -> None:
    emulator, env = tap_env
    port = free_port()

    done = meltano.attempt(
        "--environment=dev", "schedule", "run", SCHEDULE,
        env={**env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x"},
    )  # fmt: skip

    assert done.returncode != 0
    assert_clean_failure(done.stdout + done.stderr, f"No PostgreSQL server answers at 127.0.0.1:{port}", [])
    assert emulator.request_log == []


def test_an_ad_hoc_run_led_by_the_preflight_block_reads_nothing_either(
    meltano: Meltano, tap_env: tuple[Any, dict[str, str]]
) -> None:
    emulator, env = tap_env
    port = free_port()
    blocks = [
        "pipeboard-preflight",
        "target-pipeboard-postgres",
        "tap-pipedrive",
        "target-pipeboard-postgres",
    ]

    done = meltano.attempt(
        "--environment=dev",
        "run",
        *blocks,
        env={**env, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x"},
    )

    assert done.returncode != 0
    assert emulator.request_log == []


def test_a_wrong_token_in_the_job_ends_in_the_taps_line_without_the_token(
    meltano: Meltano, tap_env: tuple[Any, dict[str, str]], make_database: Callable[[], str]
) -> None:
    emulator, env = tap_env
    wrong = "f" * 40

    done = meltano.attempt(
        "--environment=dev", "run", JOB,
        env={**env, "TAP_PIPEDRIVE_API_TOKEN": wrong, "DATABASE_URL": make_database()},
    )  # fmt: skip

    assert done.returncode != 0
    assert_clean_failure(
        done.stdout + done.stderr,
        "Pipedrive rejected the API token (HTTP 401) — check PIPEDRIVE_API_TOKEN / `api_token`",
        [wrong, emulator.token],
    )
    assert [r.status for r in emulator.request_log] == [401]


WRONG_TOKEN = "f" * 40


def pipedrive_mistakes(emulator: Any, refusing_api: Callable[[int, str], Any]) -> dict[str, tuple[dict, str]]:
    """Case → (tap environment on top of the emulator's, the tap's line)."""
    port = free_port()
    refused = refusing_api(402, "Company account is not open")
    return {
        "wrong-token": (
            {"TAP_PIPEDRIVE_API_TOKEN": WRONG_TOKEN},
            "Pipedrive rejected the API token (HTTP 401) — check PIPEDRIVE_API_TOKEN / `api_token`",
        ),
        "account-refused": (
            {"TAP_PIPEDRIVE_API_URL": refused.base_url},
            "Pipedrive refused the company account (HTTP 402: Company account is not open) — the account is "
            "not open (trial expired or payment missing)",
        ),
        "unreachable": (
            {"TAP_PIPEDRIVE_API_URL": f"http://127.0.0.1:{port}", "TAP_PIPEDRIVE_MAX_RETRIES": "1"},
            f"Could not reach Pipedrive at 127.0.0.1:{port} (connection refused; 2 attempts on "
            "/api/v2/organizationFields) — check `api_url` / `company_domain`",
        ),
        "setting-out-of-range": (
            {"TAP_PIPEDRIVE_PAGE_SIZE": "900"},
            "Invalid tap-pipedrive settings: page_size must be a whole number from 1 to 500 (got 900)",
        ),
    }


@pytest.mark.parametrize("case", ["wrong-token", "account-refused", "unreachable", "setting-out-of-range"])
def test_a_pipedrive_mistake_in_the_job_ends_in_the_taps_line(
    meltano: Meltano,
    tap_env: tuple[Any, dict[str, str]],
    make_database: Callable[[], str],
    refusing_api: Callable[[int, str], Any],
    case: str,
) -> None:
    emulator, env = tap_env
    extra, line = pipedrive_mistakes(emulator, refusing_api)[case]

    done = meltano.attempt(
        "--environment=dev", "run", JOB, env={**env, **extra, "DATABASE_URL": make_database()}
    )

    assert done.returncode != 0
    assert_clean_failure(done.stdout + done.stderr, line, [WRONG_TOKEN, emulator.token])


def test_listing_selectable_fields_without_a_token_says_the_token_is_required(
    meltano: Meltano, tmp_path: Path
) -> None:
    done = meltano.attempt(
        "--no-environment", "select", "tap-pipedrive", "--list",
        env={"MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}"},
    )  # fmt: skip

    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "Invalid tap-pipedrive settings: 'api_token' is a required property" in output
    assert "KeyError" not in output
    # Meltano's `select` prints a traceback of its own when discovery fails (upstream behaviour); the tap's
    # quoted output holds none (a Python traceback names its frames 'File "…", line N').
    assert 'File "' not in output


# --- the demo -----------------------------------------------------------------------------------------------


def run_demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``scripts/demo.py`` as `make demo` runs it."""
    return subprocess.run(
        [*DEMO, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def assert_demo_line(done: subprocess.CompletedProcess[str], expected: str, secrets: list[str]) -> str:
    """Exit 1, and the demo's last line (its only stderr line) says ``expected``."""
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("demo: "), lines
    assert_clean_failure(done.stdout + done.stderr, expected, secrets)
    return lines[0]


@pytest.fixture
def demo_env(meltano: Meltano, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The demo's environment with a folder of its own (its embedded server is stopped afterwards)."""
    env = {**meltano.base_env, "PIPEBOARD_DEMO_DIR": str(tmp_path / "demo"), "PIPEBOARD_DEMO_PG_PORT": ""}
    env.pop("DATABASE_URL", None)
    yield env
    subprocess.run([*DEMO, "--stop"], cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)


def paste(command_line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A printed ``Explore:`` line, pasted into a shell."""
    command = command_line.split("Explore:", 1)[1].strip()
    return subprocess.run(
        ["bash", "-c", command],
        env={**env, "PAGER": "cat"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_embedded_then_another_database_then_embedded_again_is_incremental(
    demo_env: dict[str, str], make_database: Callable[[], str]
) -> None:
    first = run_demo(demo_env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "First run" in first.stdout
    assert "all of them full reads" in first.stdout
    port = next(int(line.split("127.0.0.1:")[1].split()[0]) for line in first.stdout.splitlines()
                if line.startswith("Embedded PostgreSQL on"))  # fmt: skip
    explore = next(line for line in first.stdout.splitlines() if line.startswith("Explore:"))
    assert f"postgresql://postgres@127.0.0.1:{port}/pipeboard" in explore
    pasted = paste(explore, demo_env)
    assert pasted.returncode == 0, pasted.stderr
    assert "(10 rows)" in pasted.stdout

    other = make_database()
    elsewhere = run_demo({**demo_env, "DATABASE_URL": other})
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    assert "First run" in elsewhere.stdout, "another database has a history of its own"
    explore = next(line for line in elsewhere.stdout.splitlines() if line.startswith("Explore:"))
    assert '"$DATABASE_URL"' in explore
    pasted = paste(explore, {**demo_env, "DATABASE_URL": other})
    assert pasted.returncode == 0, pasted.stderr
    assert "(10 rows)" in pasted.stdout

    third = run_demo(demo_env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "Run 2: since the last run the emulator updated" in third.stdout
    synced = next(line for line in third.stdout.splitlines() if line.startswith("Synced:"))
    assert "of them incremental (updated_since) on " in synced
    assert "/api/v2/deals" in synced
    assert "Changes loaded by this run" in third.stdout
    assert "Rows per table" not in third.stdout
    changes = third.stdout.split("Changes loaded by this run", 1)[1].split("\n\n", 1)[0]
    deals = next(line.split() for line in changes.splitlines() if line.startswith("deals "))
    inserted, updated, deleted = map(int, deals[1:4])
    assert inserted == 0
    assert updated > 0
    assert deleted == 1  # the emulator deleted max(1, 80 // 500) deal
    conn = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{port}/pipeboard")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pipedrive.main_bi")
            assert cur.fetchone() == (80,)
    finally:
        conn.close()


@pytest.mark.parametrize("case", CASES)
def test_demo_with_a_database_it_cannot_use_says_so_in_one_line(
    demo_env: dict[str, str], password_cluster: PasswordCluster, database_server: Any, case: str
) -> None:
    url, line, secrets = bad_databases(password_cluster, database_server.admin_url)[case]

    done = run_demo({**demo_env, "DATABASE_URL": url})

    assert_demo_line(done, f"demo: {line}", secrets)
    assert "$ meltano" not in done.stdout, "checked before anything else starts"


@pytest.mark.parametrize("case", ["wrong-token", "account-refused", "unreachable"])
def test_demo_of_a_real_account_ends_a_pipedrive_mistake_in_the_taps_line(
    demo_env: dict[str, str],
    make_emulator: Callable[..., Any],
    make_database: Callable[[], str],
    refusing_api: Callable[[int, str], Any],
    tmp_path: Path,
    case: str,
) -> None:
    emulator = make_emulator(deals=10)
    extra, line = pipedrive_mistakes(emulator, refusing_api)[case]
    token = extra.pop("TAP_PIPEDRIVE_API_TOKEN", emulator.token)
    env = {
        **demo_env,
        "TAP_PIPEDRIVE_API_URL": emulator.base_url,
        **extra,
        "PIPEDRIVE_API_TOKEN": token,
        "DATABASE_URL": make_database(),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }

    done = run_demo(env)

    line = assert_demo_line(done, f"demo: {line}", [WRONG_TOKEN, emulator.token])
    assert "(the whole log: " in line


def test_demo_whose_job_fails_shows_the_failed_plugins_line_and_the_log(
    demo_env: dict[str, str], password_cluster: PasswordCluster
) -> None:
    url = password_cluster.url("reader", "reader-pw", "appdb")

    done = run_demo({**demo_env, "DATABASE_URL": url})

    line = assert_demo_line(
        done,
        "demo: PostgreSQL role 'reader' may not create the schema 'pipedrive' and its tables",
        ["reader-pw"],
    )
    assert "(the whole log: " in line


def test_demo_on_a_port_another_program_holds_says_so(demo_env: dict[str, str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        done = run_demo({**demo_env, "PIPEBOARD_DEMO_PG_PORT": str(port)})

    assert_demo_line(
        done, f"demo: Port {port} on 127.0.0.1 is in use by another program — set PIPEBOARD_DEMO_PG_PORT", []
    )


def test_demo_whose_embedded_server_cannot_start_says_why_and_what_to_do(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    pgdata = tmp_path / "demo" / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("9\n")  # a data folder from another PostgreSQL version

    done = run_demo(demo_env)

    line = assert_demo_line(done, "demo: The embedded PostgreSQL could not start (", [])
    assert f"its log is {pgdata / 'log'}; to start afresh, run" in line
    assert str(pgdata) in line


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: too small for a PostgreSQL cluster (needs root to mount, as CI has)."""
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a small disk needs root")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    subprocess.run([mount, "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_demo_on_a_full_disk_says_so_in_one_line(demo_env: dict[str, str], small_disk: Path) -> None:
    done = run_demo({**demo_env, "PIPEBOARD_DEMO_DIR": str(small_disk / "demo")})

    assert_demo_line(done, "demo: The disk holding the demo's data is full (No space left on device)", [])
