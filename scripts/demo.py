"""`make demo`: sync Pipedrive into PostgreSQL with Meltano, build main_bi, and show what was loaded.

With no settings it starts the Pipedrive emulator (fixed seed) and an embedded PostgreSQL kept under
`.pipeboard/pgdata`, listening on 127.0.0.1 (port PIPEBOARD_DEMO_PG_PORT, else the last run's, else 54329 or
any free one); running it again changes some emulator records and syncs incrementally. With only DATABASE_URL
set, the emulator is synced into that database instead; with PIPEDRIVE_API_TOKEN (+ optional
PIPEDRIVE_COMPANY_DOMAIN) and DATABASE_URL set, the real account. Each database keeps its own demo history
(emulator changes, Meltano state, logs) under `.pipeboard/<database>/`, so a run against another database
never resets the embedded one's. PIPEBOARD_DEMO_DIR moves the demo's working folder (default `.pipeboard/`).

    .venv/bin/python scripts/demo.py [--deals 3000] [--seed 7]
    .venv/bin/python scripts/demo.py --stop        # stop the embedded PostgreSQL the demo left running
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from demo_postgres import EmbeddedPostgresError, disk_full, start, stop
from demo_report import database_now, describe_changes, describe_requests, report, table_exists
from psycopg2 import sql
from target_pipeboard_postgres.errors import describe_connection_error

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = Path(os.environ.get("PIPEBOARD_DEMO_DIR") or ROOT / ".pipeboard").resolve()
PGDATA = WORK_DIR / "pgdata"
PG_SETTINGS = WORK_DIR / "embedded-postgres.json"
DATABASE = "pipeboard"
SCHEMA = "pipedrive"
JOB = "pipedrive-to-postgres"
SCHEDULE = "pipedrive-to-postgres-every-4h"
DOCS_PAGE = ROOT / "transform" / "target" / "static_index.html"
MELTANO_LINE = re.compile(r"^\S+Z \[(?P<level>[a-z]+)\s*\] (?P<name>\S+)\s+(?P<message>.*)$")
FAILED_BLOCK = re.compile(
    r"(?P<kind>Extractor|Loader|Mapper) failed|Cannot start plugin (?P<plugin>[\w.-]+)|`(?P<command>[\w.-]+) "
)


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do, in one line."""


@dataclass
class EmulatorState:
    """What the demo's emulator looked like at the end of the last successful run, replayed on the next one.

    Attributes:
        seed: Dataset seed.
        deals: Dataset size.
        mutations: Every ``Emulator.mutate`` call applied so far, in order.
    """

    seed: int
    deals: int
    mutations: list[dict[str, int]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> EmulatorState | None:
        """The saved state, or None before the first successful run."""
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        """Write the state (after a successful run)."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


@dataclass(frozen=True)
class History:
    """One database's demo history: emulator changes, Meltano state and logs, in a folder of its own.

    Attributes:
        folder: ``.pipeboard/embedded`` for the embedded server, ``.pipeboard/db-<host>-<port>-<database>``
            for a DATABASE_URL.
    """

    folder: Path

    @classmethod
    def of(cls, database_url: str | None) -> History:
        """The history of the embedded database (None) or of the database a URL names (never its password)."""
        if database_url is None:
            return cls(WORK_DIR / "embedded")
        parts = psycopg2.extensions.parse_dsn(database_url)
        name = "-".join(parts.get(key) or default for key, default in (("host", "local"), ("port", "5432")))
        name += "-" + (parts.get("dbname") or parts.get("user") or "postgres")
        return cls(WORK_DIR / ("db-" + re.sub(r"[^A-Za-z0-9._-]+", "_", name)))

    @property
    def emulator_state(self) -> Path:
        """The emulator's changes so far."""
        return self.folder / "demo-emulator.json"

    @property
    def meltano_state(self) -> Path:
        """Meltano's file state backend."""
        return self.folder / "meltano-state"

    @property
    def logs(self) -> Path:
        """Each meltano command's log."""
        return self.folder / "logs"


# ------------------------------------------------------------------------------------------------ meltano


def meltano_executable() -> str:
    """The ``meltano`` next to this Python (``.venv/bin``), else the one on PATH."""
    beside = Path(sys.executable).with_name("meltano")
    found = str(beside) if beside.exists() else shutil.which("meltano")
    if not found:
        raise DemoError("meltano is not installed: run `make install` first")
    return found


def failure_line(log: str) -> str | None:
    """The line a failed ``meltano run`` ends with in the plugin that failed (that plugin's last line).

    Meltano names the failed block (``Loader failed``, ``Cannot start plugin tap-pipedrive: …``,
    ```dbt run` failed …``); each plugin ends a failure with one line saying what is wrong, so the failed
    plugin's last line is the news. Without such a block, Meltano's own first error line.
    """
    lines = [match.groupdict() for match in map(MELTANO_LINE.match, log.splitlines()) if match]
    plugins = [line for line in lines if line["name"] != "meltano" and line["message"].strip()]
    errors = [line["message"] for line in lines if line["name"] == "meltano" and line["level"] == "error"]
    for message in errors:
        block = FAILED_BLOCK.search(message)
        if block is None:
            continue
        kind = {"Extractor": "tap", "Loader": "target", "Mapper": "map"}.get(block.group("kind") or "")
        for line in reversed(plugins):
            name = line["name"]
            if name in (block.group("plugin"), block.group("command")) or (kind and kind in name):
                return line["message"].strip()
    return errors[0] if errors else None


def meltano(args: list[str], env: dict[str, str], log_path: Path) -> None:
    """Run one meltano command in the project, logging to ``log_path``; raise the failing plugin's line."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"$ meltano {' '.join(args)}    (log: {log_path})", flush=True)
    with log_path.open("w") as log:
        code = subprocess.call(
            [meltano_executable(), *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    if code != 0:
        line = failure_line(log_path.read_text(errors="replace"))
        line = line or f"meltano {args[-1]} failed (exit {code})"
        raise DemoError(f"{line} (the whole log: {log_path})")


def install_plugins(env: dict[str, str], log_path: Path) -> None:
    """``meltano install`` the job's plugins, unless done since meltano.yml and the projects last changed.

    The stamp lives in ``.meltano/`` (deleted with it); whatever is missing, ``meltano run`` installs anyway.
    """
    stamp = ROOT / ".meltano" / "pipeboard-demo-installed"
    inputs = [ROOT / "meltano.yml", ROOT / "constraints.txt", *ROOT.glob("*/pyproject.toml")]
    if stamp.exists() and all(path.stat().st_mtime <= stamp.stat().st_mtime for path in inputs):
        return
    meltano(["install", "--schedule", SCHEDULE], env, log_path)
    stamp.touch()


def meltano_env(**extra: str) -> dict[str, str]:
    """The environment meltano runs in: ours, without usage tracking, plus ``extra``."""
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **extra}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# ------------------------------------------------------------------------------------------------ databases


def check_database(url: str) -> None:
    """Connect once, before anything else starts: a database the demo cannot use fails it in one line."""
    try:
        psycopg2.connect(url, connect_timeout=10).close()
    except (psycopg2.OperationalError, psycopg2.ProgrammingError) as exc:
        raise DemoError(describe_connection_error(exc, {"dsn": url})) from None


def ensure_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server ``server_url`` points at, if missing."""
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg2.errors.DiskFull as exc:
        raise disk_full(str(exc).strip().splitlines()[0]) from None
    finally:
        conn.close()


def embedded_database() -> str:
    """Start (or reuse) the embedded PostgreSQL and its ``pipeboard`` database; return the database's URL."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    server = start(PGDATA, PG_SETTINGS)
    print(f"Embedded PostgreSQL on 127.0.0.1:{server.port} (data in {PGDATA})", flush=True)
    ensure_database(server.url("postgres"), DATABASE)
    return server.url(DATABASE)


def generate_docs(env: dict[str, str], logs: Path) -> None:
    """Write dbt's docs site (every model and column of main_bi described) and say where it is."""
    meltano(["invoke", "dbt-postgres:docs-generate"], env, logs / "docs.log")
    print(f"\ndbt docs (models, columns, tests, lineage): open {DOCS_PAGE.as_uri()} in a browser,")
    print("  or serve them: .venv/bin/meltano invoke dbt-postgres:docs-serve   (http://127.0.0.1:8580)")


# ------------------------------------------------------------------------------------------------ the runs


def run_real(database_url: str) -> None:
    """Sync the real Pipedrive account (PIPEDRIVE_API_TOKEN) into DATABASE_URL with the prod environment."""
    print("PIPEDRIVE_API_TOKEN and DATABASE_URL are set: syncing your Pipedrive account (environment prod).")
    check_database(database_url)
    history = History.of(database_url)
    env = meltano_env(MELTANO_STATE_BACKEND_URI=history.meltano_state.as_uri())
    since = database_now(database_url)
    first_run = not table_exists(database_url, SCHEMA, "main_bi")
    install_plugins(env, history.logs / "install.log")
    meltano(["--environment=prod", "run", JOB], env, history.logs / "run-prod.log")
    report(database_url, SCHEMA, None, None if first_run else since)
    generate_docs(env, history.logs)


def run_emulated(database_url: str | None, deals: int, seed: int) -> None:
    """Sync the emulator into DATABASE_URL or the embedded PostgreSQL; incremental from the second run on."""
    from pipedrive_emulator import Emulator

    if database_url:
        check_database(database_url)
        url = database_url
    else:
        url = embedded_database()
    history = History.of(database_url)
    saved = EmulatorState.load(history.emulator_state)
    first_run = saved is None or not table_exists(url, SCHEMA, "main_bi")
    state = EmulatorState(seed, deals) if first_run or saved is None else saved
    emulator = Emulator(deals=state.deals, seed=state.seed, rate_limits=False)
    for change in state.mutations:
        emulator.mutate(**change)
    if first_run:
        print(f"First run: a Pipedrive emulator with {state.deals} deals (seed {state.seed}), full sync.")
    else:
        change = {"updates": max(10, state.deals // 50), "deletes": max(1, state.deals // 500)}
        summary = emulator.mutate(**change)
        state.mutations.append(change)
        print(f"Run {len(state.mutations) + 1}: since the last run the emulator {describe_changes(summary)}.")

    since = database_now(url)
    emulator.start()
    try:
        env = meltano_env(
            TAP_PIPEDRIVE_API_URL=emulator.base_url,
            TAP_PIPEDRIVE_API_TOKEN=emulator.token,
            DATABASE_URL=url,
            MELTANO_STATE_BACKEND_URI=history.meltano_state.as_uri(),
        )
        install_plugins(env, history.logs / "install.log")
        refresh = ["--full-refresh"] if first_run else []
        log = history.logs / f"run-{len(state.mutations) + 1}.log"
        meltano(["--environment=dev", "run", *refresh, JOB], env, log)
        requests = emulator.request_log
    finally:
        emulator.stop()
    history.folder.mkdir(parents=True, exist_ok=True)
    state.save(history.emulator_state)
    print(f"Synced: {describe_requests(requests)}.")
    report(url, SCHEMA, url if not database_url else None, None if first_run else since)
    generate_docs(env, history.logs)
    if not database_url:
        print(
            "The embedded PostgreSQL keeps running for psql, Metabase, Grafana or DBeaver on this machine "
            '(README: "Connect a BI tool"); stop it with `.venv/bin/python scripts/demo.py --stop`.'
        )
    print("Run `make demo` again to change some emulator records and sync incrementally.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``make demo``; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--deals", type=int, default=3000, help="emulator size on the first run (default 3000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="emulator seed on the first run (default 7)")
    parser.add_argument("--stop", action="store_true", help="stop the embedded PostgreSQL and exit")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    token = os.environ.get("PIPEDRIVE_API_TOKEN", "").strip()
    database_url = os.environ.get("DATABASE_URL", "").strip() or None
    try:
        if args.stop:
            stopped = stop(PGDATA)
            print(
                f"Stopped the embedded PostgreSQL; its data stays in {PGDATA}."
                if stopped
                else "The embedded PostgreSQL is not running."
            )
        elif token and not database_url:
            raise DemoError("PIPEDRIVE_API_TOKEN is set but DATABASE_URL is not: set both to sync for real")
        elif token and database_url:
            run_real(database_url)
        else:
            run_emulated(database_url, args.deals, args.seed)
    except (DemoError, EmbeddedPostgresError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        print(f"demo: {disk_full(exc.strerror)}", file=sys.stderr)
        return 1
    except psycopg2.errors.DiskFull as exc:
        print(f"demo: {disk_full(str(exc).strip().splitlines()[0])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
