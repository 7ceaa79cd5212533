"""The compose stack's settings as the containers see them, for tests that run its parts natively (no Docker
engine): compose's variable substitution, a service's environment, the postgres image's init scripts."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from pipeboard_testkit.password_cluster import PasswordCluster, postgres_bin

REPO = Path(__file__).resolve().parents[3]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"


def substitute(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` substitution (``$$`` is a ``$``)."""

    def one(match: re.Match[str]) -> str:
        name, operator, rest = match.group(1), match.group(2) or "", match.group(3) or ""
        found = variables.get(name, "")
        if operator == ":-" and not found:
            return rest
        if operator == ":?" and not found:
            raise AssertionError(f"{name} must be set: {rest}")
        return found

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:[-?])?([^}]*)\}", one, value).replace("$$", "$")


def service_environment(service: str, variables: dict[str, str]) -> dict[str, str]:
    """A compose service's environment with ``docker/.env`` values ``variables``."""
    stack = yaml.safe_load(COMPOSE.read_text())
    return {
        name: substitute(str(value), variables)
        for name, value in stack["services"][service]["environment"].items()
    }


def run_init_scripts(cluster: PasswordCluster, variables: dict[str, str]) -> None:
    """postgres-init/*.sh in order, as the image's entrypoint runs them (psql as POSTGRES_USER)."""
    env = {
        **os.environ,
        **service_environment("postgres", variables),
        "PATH": f"{postgres_bin()}{os.pathsep}{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(cluster.port),
        "PGPASSWORD": cluster.password,
    }
    for script in sorted((DOCKER / "postgres-init").glob("*.sh")):
        done = subprocess.run(
            ["sh", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
