"""Throwaway PostgreSQL clusters a test may crash, and listeners that accept connections and never answer.

A :class:`ThrowawayCluster` is a server of the test's own (``initdb``/``pg_ctl`` from the local PostgreSQL
install, its own port, trust auth on 127.0.0.1), so a test can kill it without touching the shared server.
Run as root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

SERVER_USER = "postgres"


def postgres_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl`` (``PIPEBOARD_PG_BIN``, ``pg_config``, Debian's layout).

    Raises:
        RuntimeError: No PostgreSQL server binaries were found.
    """
    candidates = [os.environ.get("PIPEBOARD_PG_BIN", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            candidates.append(
                subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, check=True
                ).stdout.strip()
            )
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise RuntimeError("No PostgreSQL server binaries (initdb, pg_ctl) found; set PIPEBOARD_PG_BIN")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayCluster:
    """A PostgreSQL server of one test: started by :meth:`start`, crashed by :meth:`crash`, removed by
    :meth:`remove`. Use it as a context manager."""

    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="pipeboard-cluster-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        if self._as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        """URL of the ``postgres`` database, as superuser ``postgres``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)

    def start(self) -> ThrowawayCluster:
        """Create the cluster (first time) and start the server; returns once it accepts connections."""
        if not self.data_dir.exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w", "start")
        return self

    def postmaster_pid(self) -> int | None:
        """The server's main process, while it runs."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def crash(self) -> None:
        """Kill the server the hard way (every process at once, no shutdown checkpoint): a crash."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop")

    def stop(self) -> None:
        """Stop the server if it runs."""
        if self.postmaster_pid() is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop the server and delete the cluster."""
        self.stop()
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


class SilentListener:
    """A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte.

    ``accepted`` counts connections; ``closed_by_peer`` counts those the client has closed since.
    """

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.accepted = 0
        self.closed_by_peer = 0
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._stopping = threading.Event()
        self._accept_event = threading.Event()
        threading.Thread(target=self._accept, name="silent-listener", daemon=True).start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._connections.append(conn)
            self._accept_event.set()
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        """Read what the client sends (never answering) until it closes the connection."""
        try:
            while conn.recv(65536):
                pass
        except OSError:
            return
        with self._lock:
            self.closed_by_peer += 1

    def wait_for_connection(self, timeout: float) -> bool:
        """Whether a client connected within ``timeout`` seconds."""
        return self._accept_event.wait(timeout)

    def open_connections(self) -> int:
        """Connections accepted and not closed by the client."""
        with self._lock:
            return self.accepted - self.closed_by_peer

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self._stopping.set()
        self._server.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.close()

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[ThrowawayCluster]:
    """A started throwaway cluster, removed afterwards."""
    with ThrowawayCluster() as cluster:
        yield cluster
