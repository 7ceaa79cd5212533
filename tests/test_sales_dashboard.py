"""The provisioned "Pipedrive sales" Grafana dashboard: its provisioning, its panels, and every panel's SQL
run as the read-only role against an emulator-loaded, dbt-built database, with Grafana's macros expanded
the way Grafana expands them for a fixed time range."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from pipeboard_testkit.compose import run_init_scripts, service_environment
from pipeboard_testkit.password_cluster import PasswordCluster
from pipeboard_testkit.pipeline import dbt_build, sync
from pipedrive_emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
GRAFANA = REPO / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "pipedrive-sales.json"
OPERATIONS = GRAFANA / "dashboards" / "pipeboard.json"
DATASOURCE = GRAFANA / "provisioning" / "datasources" / "postgres.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "pipeboard.yml"
COMPOSE = REPO / "docker" / "compose.yaml"
TOPICS = ("funnel", "time in stage", "velocity", "open deals", "won and lost")
UNIT_IN_TITLE = re.compile(r"\([^()]*(?:\bdeals\b|\bdays\b|%|\bcurrency\b)[^()]*\)")


def board() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def graphs() -> list[dict[str, Any]]:
    return [panel for panel in board()["panels"] if panel["type"] != "row"]


def datasource() -> dict[str, Any]:
    (only,) = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    return only


def grafana_sql(sql: str, start: dt.datetime, end: dt.datetime) -> str:
    """The SQL Grafana's PostgreSQL datasource sends for ``sql`` over [start, end] (its macros expanded)."""
    first, last = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (start, end))
    expanded = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN '{first}' AND '{last}'", sql)
    expanded = expanded.replace("$__timeFrom()", f"'{first}'").replace("$__timeTo()", f"'{last}'")
    assert "$" not in expanded, f"a Grafana macro or variable this test does not expand: {sql}"
    return expanded


# --- provisioning and panels (no database) ----------------------------------------------------------------


def test_the_datasource_is_the_stacks_postgres_as_the_read_only_role() -> None:
    source = datasource()
    grafana = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
    references = {
        "user": source["user"],
        "database": source["jsonData"]["database"],
        "password": source["secureJsonData"]["password"],
    }
    values = {
        "POSTGRES_DB": "analytics",
        "BI_READONLY_USER": "pipeboard_reader",
        "BI_READONLY_PASSWORD": "ro-secret",
        "GRAFANA_ADMIN_PASSWORD": "x",
    }
    environment = service_environment("grafana", values)

    assert source["type"] == "grafana-postgresql-datasource"
    assert source["url"] == "postgres:5432"
    assert "postgres" in grafana["depends_on"]
    expanded = {key: environment[value.removeprefix("$")] for key, value in references.items()}
    assert expanded == {"user": "pipeboard_reader", "database": "analytics", "password": "ro-secret"}
    assert "password" not in source.get("jsonData", {})
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    assert mounts["../grafana/dashboards"] == provider["options"]["path"]  # every JSON there is loaded


def test_every_panel_is_titled_with_its_unit_placed_and_on_the_postgres_datasource() -> None:
    dashboard = board()
    panels = dashboard["panels"]
    uid = datasource()["uid"]

    assert dashboard["title"] == "Pipedrive sales"
    assert dashboard["uid"] != json.loads(OPERATIONS.read_text())["uid"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for first, second in itertools.combinations(panels, 2):
        a, b = first["gridPos"], second["gridPos"]
        apart = a["x"] >= b["x"] + b["w"] or b["x"] >= a["x"] + a["w"] or a["y"] >= b["y"] + b["h"]
        assert apart or b["y"] >= a["y"] + a["h"], (first["title"], second["title"])
    for panel in graphs():
        assert UNIT_IN_TITLE.search(panel["title"]), panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"].strip(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert target["rawSql"].strip(), panel["title"]
    titles = " ".join(panel["title"].lower() for panel in graphs())
    assert all(topic in titles for topic in TOPICS), titles


def test_macro_expansion_is_grafanas() -> None:
    start, end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)

    sql = grafana_sql("SELECT 1 WHERE $__timeFilter(day) AND x < $__timeTo()", start, end)

    assert sql == (
        "SELECT 1 WHERE day BETWEEN '2026-01-01T00:00:00Z' AND '2026-02-01T12:00:00Z' "
        "AND x < '2026-02-01T12:00:00Z'"
    )
    with pytest.raises(AssertionError, match="does not expand"):
        grafana_sql("SELECT $__timeGroup(day, '1d')", start, end)


# --- every panel's SQL against loaded data ----------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(password_cluster: PasswordCluster, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The stack's database (init scripts: the read-only role) with an emulator's account synced twice (a
    mutation between) and dbt built after each sync; the reader's connection settings and the range."""
    suffix = uuid.uuid4().hex[:8]
    database = f"sales_{suffix}"
    password_cluster.execute(f'CREATE DATABASE "{database}"')
    variables = {
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": password_cluster.password,
        "POSTGRES_DB": database,
        "PIPEBOARD_SCHEMA": "pipedrive",
        "METABASE_DB_NAME": f"metabase_{suffix}",
        "METABASE_DB_USER": f"metabase_{suffix}",
        "METABASE_DB_PASSWORD": "mb-secret",
        "BI_READONLY_USER": f"reader_{suffix}",
        "BI_READONLY_PASSWORD": "ro:p@ss/w#rd",
    }
    run_init_scripts(password_cluster, variables)
    url = password_cluster.url("postgres", password_cluster.password, database)
    tmp = tmp_path_factory.mktemp("sales")
    emulator = Emulator(deals=120, seed=19).start()
    try:
        config = {"api_token": emulator.token, "api_url": emulator.base_url}
        state = sync(tmp / "full", config, None, url)
        dbt_build(url, tmp / "dbt")
        now = emulator.mutate(stage_moves=30, wins=10, losses=8)["now"]
        sync(tmp / "incremental", config, state, url)
        dbt_build(url, tmp / "dbt")
    finally:
        emulator.stop()
    end = dt.datetime.fromisoformat(now.replace("Z", "+00:00")) + dt.timedelta(days=1)
    reader = password_cluster.url(variables["BI_READONLY_USER"], variables["BI_READONLY_PASSWORD"], database)
    return {"url": reader, "range": (end - dt.timedelta(days=730), end)}


@pytest.mark.slow
@pytest.mark.parametrize("title", [panel["title"] for panel in graphs()])
def test_every_panel_query_returns_rows_for_the_read_only_role(loaded: dict, title: str) -> None:
    (panel,) = [panel for panel in graphs() if panel["title"] == title]
    start, end = loaded["range"]
    conn = psycopg2.connect(loaded["url"])
    conn.set_session(readonly=True)
    try:
        for target in panel["targets"]:
            with conn.cursor() as cur:
                cur.execute(grafana_sql(target["rawSql"], start, end))
                columns = [column.name for column in cur.description]
                rows = cur.fetchall()
            assert rows, f"{title}: no rows"
            if target["format"] == "time_series":
                assert columns[0] == "time", title
                assert all(isinstance(row[0], dt.datetime) for row in rows), title
                assert any(value is not None for row in rows for value in row[1:]), title
    finally:
        conn.close()
