"""Fixtures shared by the end-to-end tests: the project's meltano CLI, with every plugin installed once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Meltano:
    """The project's meltano CLI, with the environment every test shares."""

    base_env: dict[str, str]

    def attempt(
        self, *args: str, env: dict[str, str], timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``meltano *args`` in the project root and return what happened, failed or not."""
        return subprocess.run(
            [str(BIN / "meltano"), *args],
            cwd=ROOT,
            env={**self.base_env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(self, *args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
        """Run ``meltano *args`` in the project root; fail the test with the output's tail when it fails."""
        done = self.attempt(*args, env=env, timeout=timeout)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
            pytest.fail(f"meltano {' '.join(args)} exited {done.returncode}:\n{tail}")
        return done


@pytest.fixture(scope="session")
def meltano(tmp_path_factory: pytest.TempPathFactory) -> Meltano:
    """The meltano CLI with every plugin installed once for the session (plugin venvs live in .meltano/)."""
    system_db = tmp_path_factory.mktemp("meltano") / "install.db"
    base_env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    for name in ("DATABASE_URL", "PIPEDRIVE_API_TOKEN", "MELTANO_STATE_BACKEND_URI", "MELTANO_ENVIRONMENT"):
        base_env.pop(name, None)
    tool = Meltano(base_env)
    tool.run("install", env={"MELTANO_DATABASE_URI": f"sqlite:///{system_db}"}, timeout=900)
    return tool


class _PushReceiver(BaseHTTPRequestHandler):
    """Records the paths metrics are pushed to (a Pushgateway stand-in: a real local HTTP server)."""

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def pushgateway() -> Iterator[ThreadingHTTPServer]:
    """A Pushgateway stand-in on a free port; ``server.paths`` lists every push's path."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PushReceiver)
    server.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
