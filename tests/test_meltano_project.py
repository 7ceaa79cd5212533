"""meltano.yml against the plugins it declares: settings mirror each plugin's config; meltano accepts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SDK_BUILTINS = frozenset(
    {
        "stream_maps",
        "stream_map_config",
        "faker_config",
        "flattening_enabled",
        "flattening_max_depth",
        "flattening_max_key_length",
        "flattening_separator",
        "batch_config",
        "validate_records",
        "process_activate_version_messages",
    }
)
"""Settings the singer-sdk adds to every plugin; meltano.yml lists them only when the project sets them."""

KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean"}


def project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def plugin(kind: str, name: str) -> dict[str, Any]:
    return next(p for p in project()["plugins"][kind] if p["name"] == name)


def about(executable: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / executable), "--about", "--format", "json"], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def expected_kind(schema: dict[str, Any]) -> str:
    types = [t for t in (schema.get("type") or ["string"]) if t != "null"]
    if schema.get("format") in ("date-time", "date"):
        return "date_iso8601"
    if schema.get("enum") or any(o.get("enum") for o in schema.get("anyOf", [])):
        return "options"
    return KINDS.get(types[0] if types else "string", types[0] if types else "string")


@pytest.mark.parametrize(
    ("kind", "name"),
    [("extractors", "tap-pipedrive"), ("loaders", "target-pipeboard-postgres")],
    ids=["tap", "target"],
)
def test_plugin_settings_mirror_the_plugins_own_config(kind: str, name: str) -> None:
    declared = {s["name"]: s for s in plugin(kind, name)["settings"]}
    properties = about(plugin(kind, name)["executable"])["settings"]["properties"]

    own = {key for key in properties if key not in SDK_BUILTINS}
    assert own <= set(declared), f"settings missing from meltano.yml: {sorted(own - set(declared))}"
    assert set(declared) <= set(properties), f"unknown settings: {sorted(set(declared) - set(properties))}"
    for key, setting in declared.items():
        schema = properties[key]
        assert setting["kind"] == expected_kind(schema), key
        assert bool(setting.get("sensitive", False)) == bool(schema.get("secret", False)), key
        if setting["kind"] == "options":
            allowed = schema.get("enum") or next(o["enum"] for o in schema["anyOf"] if o.get("enum"))
            assert [o["value"] for o in setting["options"]] == [v for v in allowed if v is not None], key


def test_plugin_capabilities_match_what_the_plugins_report() -> None:
    for kind, name in (("extractors", "tap-pipedrive"), ("loaders", "target-pipeboard-postgres")):
        declared = plugin(kind, name)
        assert set(declared["capabilities"]) == set(about(declared["executable"])["capabilities"]), name


def test_the_job_checks_the_database_then_runs_tap_target_and_transform_every_four_hours() -> None:
    config = project()

    [job] = [j for j in config["jobs"] if j["name"] == "pipedrive-to-postgres"]
    preflight, sync = job["tasks"]
    assert preflight == "pipeboard-preflight target-pipeboard-postgres"
    blocks = sync.split()
    assert blocks[:2] == ["tap-pipedrive", "target-pipeboard-postgres"]
    assert blocks[2:] == ["dbt-postgres:build"], "then the transform"
    [extractor] = [p for p in config["plugins"]["extractors"] if p["name"] == "pipeboard-preflight"]
    script = ROOT / extractor["executable"]
    assert os.access(script, os.X_OK)
    done = subprocess.run([str(script), "--config", "x.json"], capture_output=True, timeout=30, check=False)
    assert (done.returncode, done.stdout) == (0, b""), "the preflight extractor writes no Singer message"
    [schedule] = config["schedules"]
    assert (schedule["job"], schedule["interval"]) == ("pipedrive-to-postgres", "0 */4 * * *")
    assert {e["name"] for e in config["environments"]} == {"dev", "prod", "ci"}


def test_meltano_accepts_the_job_in_every_environment(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    for environment in ("dev", "prod", "ci"):
        done = subprocess.run(
            [
                str(BIN / "meltano"),
                f"--environment={environment}",
                "run",
                "--dry-run",
                "pipedrive-to-postgres",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "dbt-postgres" in done.stdout + done.stderr


def test_the_dbt_utility_reads_the_loaders_database_settings() -> None:
    utility = plugin("utilities", "dbt-postgres")
    settings = {s["name"] for s in utility["settings"]}

    assert {"database_url", "source_schema", "target_schema", "pushgateway_url", "lock_timeout"} <= settings
    assert utility["executable"] == "pipeboard-dbt"
    assert "transform/constraints.txt" in utility["pip_url"]
    assert plugin("loaders", "target-pipeboard-postgres")["config"]["database_url"] == "$DATABASE_URL"
