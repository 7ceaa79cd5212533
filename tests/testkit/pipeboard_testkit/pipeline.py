"""The pipeline as a user runs it by hand, for tests that need loaded and transformed data: ``tap-pipedrive |
target-pipeboard-postgres`` into a database, then ``pipeboard-dbt build`` from the dbt virtualenv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
SCHEMA = "pipedrive"


def dbt_venv() -> Path:
    """The dbt virtualenv (``make install`` builds it; ``PIPEBOARD_DBT_VENV`` overrides)."""
    return Path(os.environ.get("PIPEBOARD_DBT_VENV") or REPO / ".venv-dbt")


def sync(workdir: Path, tap_config: dict[str, Any], state: dict | None, url: str) -> dict | None:
    """Run the tap into the target once; return the last STATE (``state`` when none came).

    Raises:
        AssertionError: The tap or the target failed (with the end of their logs).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tap.json").write_text(json.dumps(tap_config))
    (workdir / "target.json").write_text(json.dumps({"database_url": url, "default_target_schema": SCHEMA}))
    command = [str(BIN / "tap-pipedrive"), "--config", str(workdir / "tap.json")]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        command += ["--state", str(workdir / "state.json")]
    with (workdir / "tap.log").open("w") as tap_log:
        tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=tap_log)
        target = subprocess.run(
            [str(BIN / "target-pipeboard-postgres"), "--config", str(workdir / "target.json")],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        tap_code = tap.wait(timeout=120)
    assert tap_code == 0, (workdir / "tap.log").read_text()[-3000:]
    assert target.returncode == 0, target.stderr[-3000:]
    states = [json.loads(line) for line in target.stdout.splitlines() if line.strip()]
    return states[-1] if states else state


def dbt_build(url: str, workdir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``pipeboard-dbt build`` on ``url`` (its target and log folders under ``workdir``).

    Raises:
        AssertionError: The build failed (with the end of dbt's output).
    """
    executable = dbt_venv() / "bin" / "pipeboard-dbt"
    assert executable.exists(), f"{executable} is missing: run `make install` (it builds the dbt virtualenv)"
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DBT_", "PIPEBOARD_", "TARGET_PIPEBOARD_POSTGRES_", "PG"))
        and key not in ("DATABASE_URL", "VIRTUAL_ENV")
    }
    environment.update(
        {
            "DATABASE_URL": url,
            "DBT_TARGET_PATH": str(workdir / "target"),
            "DBT_LOG_PATH": str(workdir / "logs"),
            **(env or {}),
        }
    )
    done = subprocess.run(
        [str(executable), "build"], env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return done
