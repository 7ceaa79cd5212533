"""pytest plugin: every test session gets its own fresh Postgres database and a checked Redis connection."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipeboard_testkit.databases import DatabaseServer
from pipeboard_testkit.password_cluster import PasswordCluster, start_cluster
from pipeboard_testkit.stand_ins import RefusingApi

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

PROJECT_FOLDER_FILES = frozenset(
    {
        "tests/test_ci_workflows.py",
        "tests/test_docker_database.py",
        "tests/test_first_hour.py",
        "tests/test_meltano_project.py",
        "tests/test_pipeline_e2e.py",
    }
)
"""Test files that run Meltano or the demo in the project folder: each run there writes the project's
``.meltano/`` (plugin venvs, run configs), so under pytest-xdist they share one worker. A new test that runs
Meltano in the project folder puts its file here."""


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the longest units first: the project-folder files, then files with slow tests.

    The scheduler hands out files in collection order, so a slow file collected last would run alone at the
    end. Within each rank the collection order is kept; a run without xdist keeps it entirely.
    """
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    slow = {_file_of(item) for item in items if next(item.iter_markers("slow"), None) is not None}

    def rank(item: pytest.Item) -> int:
        path = _file_of(item)
        return 0 if path in PROJECT_FOLDER_FILES else 1 if path in slow else 2

    items.sort(key=rank)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (``make test``), with the project-folder files as one unit.

    A file's tests stay on one worker (a module's fixtures — an emulator synced and built once — are built
    once); the files of ``PROJECT_FOLDER_FILES`` run one after another on the same worker.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    config.option.loadscopereorder = False  # keep the order pytest_collection_modifyitems gave
    from xdist.scheduler import LoadFileScheduling

    class ProjectFolderScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return "project-folder" if path in PROJECT_FOLDER_FILES else path

    return ProjectFolderScheduling(config, log)


@pytest.fixture(scope="session")
def database_server() -> Iterator[DatabaseServer]:
    """The Postgres server the tests use; every database created on it is dropped at the end."""
    server = DatabaseServer.from_environment()
    yield server
    server.drop_all()
    server.stop()


@pytest.fixture(scope="session")
def database_url(database_server: DatabaseServer) -> str:
    """URL of a fresh database, created for this test session."""
    return database_server.create_database()


@pytest.fixture
def make_database(database_server: DatabaseServer) -> Callable[[], str]:
    """Factory for more fresh databases, for tests that need an empty one of their own."""
    return database_server.create_database


@pytest.fixture(scope="session")
def password_cluster() -> Iterator[PasswordCluster]:
    """A PostgreSQL cluster of the session's own with password authentication (scram-sha-256).

    Its superuser ``postgres`` has a password with ``@ : / #`` in it; role ``alice`` (password
    ``alice-pw``) owns database ``appdb``; role ``reader`` (password ``reader-pw``) may connect to ``appdb``
    but create nothing there. Stopped and deleted at the end of the session.
    """
    cluster = start_cluster("s3cr@t:pass/w#rd")
    try:
        cluster.execute(
            "CREATE ROLE alice LOGIN PASSWORD 'alice-pw'",
            "CREATE DATABASE appdb OWNER alice",
            "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'",
        )
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a reachable Redis; fails (never skips) with a clear message when none answers."""
    import redis

    url = os.environ.get("PIPEBOARD_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {url} ({exc}). Start it with "
            "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no` "
            "or set PIPEBOARD_TEST_REDIS_URL."
        )
    return url


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Any]]:
    """Factory for Pipedrive emulators on loopback; each one is stopped after the test."""
    from pipedrive_emulator import Emulator

    started: list[Any] = []

    def factory(**settings: Any) -> Any:
        emulator = Emulator(**settings)
        emulator.start()
        started.append(emulator)
        return emulator

    yield factory
    for emulator in started:
        emulator.stop()


@pytest.fixture
def refusing_api() -> Iterator[Callable[[int, str], RefusingApi]]:
    """Factory of Pipedrive stand-ins answering every request with one status; each is stopped afterwards."""
    started: list[RefusingApi] = []

    def factory(status: int, error: str) -> RefusingApi:
        server = RefusingApi(status, error)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
