"""The compose stack's database side, run natively (no Docker engine here): the postgres image's init scripts
against a password-authenticated cluster, and the pipeline service's settings with a password full of URL
characters."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2
import pytest
from pipeboard_testkit.compose import run_init_scripts, service_environment
from pipeboard_testkit.password_cluster import PasswordCluster

if TYPE_CHECKING:
    from conftest import Meltano

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"


@pytest.fixture
def analytics(password_cluster: PasswordCluster) -> dict[str, str]:
    """docker/.env values for a fresh analytics database on the cluster, owned by its superuser."""
    suffix = uuid.uuid4().hex[:8]
    database = f"analytics_{suffix}"
    password_cluster.execute(f'CREATE DATABASE "{database}"')
    return {
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": password_cluster.password,
        "POSTGRES_DB": database,
        "PIPEBOARD_SCHEMA": "pipedrive",
        "METABASE_DB_NAME": f"metabase_{suffix}",
        "METABASE_DB_USER": f"metabase_{suffix}",
        "METABASE_DB_PASSWORD": "mb:p@ss/w#rd",
        "BI_READONLY_USER": f"reader_{suffix}",
        "BI_READONLY_PASSWORD": "ro:p@ss/w#rd",
        "PIPEDRIVE_API_TOKEN": "0" * 40,
        "GRAFANA_ADMIN_PASSWORD": "x",
    }


def connect(
    cluster: PasswordCluster, user: str, password: str, database: str
) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(cluster.url(user, password, database))
    conn.autocommit = True
    return conn


def test_the_init_scripts_give_metabase_its_own_role_and_bi_tools_a_read_only_one(
    password_cluster: PasswordCluster, analytics: dict[str, str]
) -> None:
    run_init_scripts(password_cluster, analytics)
    database, reader = analytics["POSTGRES_DB"], analytics["BI_READONLY_USER"]
    loader = connect(password_cluster, "postgres", password_cluster.password, database)
    with loader.cursor() as cur:  # the pipeline's first load, after the stack started
        cur.execute("CREATE TABLE pipedrive.main_bi (id bigint PRIMARY KEY, title text)")
        cur.execute("INSERT INTO pipedrive.main_bi VALUES (1, 'Deal')")

    bi = connect(password_cluster, reader, analytics["BI_READONLY_PASSWORD"], database)
    with bi.cursor() as cur:
        cur.execute("SELECT id, title FROM pipedrive.main_bi")
        assert cur.fetchall() == [(1, "Deal")]
        for statement in (
            "INSERT INTO pipedrive.main_bi VALUES (2, 'no')",
            "CREATE TABLE pipedrive.mine (id int)",
            "DROP TABLE pipedrive.main_bi",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(statement)
    bi.close()

    metabase = connect(
        password_cluster,
        analytics["METABASE_DB_USER"],
        analytics["METABASE_DB_PASSWORD"],
        analytics["METABASE_DB_NAME"],
    )
    with metabase.cursor() as cur:
        cur.execute("CREATE TABLE metabase_setting (key text PRIMARY KEY)")  # it owns its database
        cur.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False, False, False)
    metabase.close()
    with pytest.raises(psycopg2.OperationalError):
        connect(
            password_cluster, analytics["METABASE_DB_USER"], analytics["METABASE_DB_PASSWORD"], database
        ).close()
    loader.close()


@pytest.mark.slow
def test_the_pipeline_service_connects_with_a_password_full_of_url_characters(
    meltano: Meltano, password_cluster: PasswordCluster, analytics: dict[str, str], tmp_path: Path
) -> None:
    assert set("@:/#") <= set(analytics["POSTGRES_PASSWORD"])
    env = service_environment("pipeline", analytics)
    assert "DATABASE_URL" not in env
    env["TARGET_PIPEBOARD_POSTGRES_HOST"] = "127.0.0.1"  # the `postgres` service, as this machine reaches it
    env["TARGET_PIPEBOARD_POSTGRES_PORT"] = str(password_cluster.port)
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    for name in ("PIPEBOARD_REDIS_URL", "PIPEBOARD_PUSHGATEWAY_URL"):
        env.pop(name)

    done = meltano.run(
        "--environment=prod", "run", "pipeboard-preflight", "target-pipeboard-postgres", env=env
    )

    assert "Connected to the database; loading into schema pipedrive" in done.stdout + done.stderr
    assert analytics["POSTGRES_PASSWORD"] not in done.stdout + done.stderr
