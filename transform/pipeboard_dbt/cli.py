"""The ``pipeboard-dbt`` command: dbt with the loader's connection, and `build` reported to Prometheus.

    pipeboard-dbt build [dbt options]   dbt build, then dbt source freshness; metrics pushed; exit 0 or 1
    pipeboard-dbt <dbt command ...>     any other dbt command (docs generate, test, run, source freshness, …)

Exit codes: 0 success, 1 dbt failed (a model, a data test…), 2 a setting or the database is wrong (one line
on stderr, no traceback), 130/143 stopped by SIGINT/SIGTERM (dbt cancels its queries first; nothing half-done
stays).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from pipeboard_dbt import artifacts
from pipeboard_dbt.database import ConnectionProblemError, loaded_tables
from pipeboard_dbt.metrics import TransformMetrics
from pipeboard_dbt.settings import PROJECT_DIR, Settings, SettingsError, dbt_environment, resolve

LOGGER = logging.getLogger("pipeboard_dbt")
OFFLINE_COMMANDS = frozenset({"parse", "ls", "list", "clean", "deps", "init", "--help", "-h", "--version"})
"""dbt commands that need no database: pipeboard-dbt skips its connection check for them."""
EXIT_SETTINGS = 2
EXIT_SIGNAL_BASE = 128


class Stopped(KeyboardInterrupt):
    """A stop signal arrived; dbt treats it as Ctrl-C (cancels its queries, writes its results)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def stop_signals_interrupt(stop: type[Stopped] = Stopped) -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into ``stop`` raised in the main thread while dbt runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise stop(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def target_path() -> Path:
    """Where dbt writes its artifacts (DBT_TARGET_PATH, relative to the project, else transform/target)."""
    configured = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    project = Path(os.environ.get("DBT_PROJECT_DIR") or PROJECT_DIR)
    return configured if configured.is_absolute() else project / configured


def load_dbt() -> tuple[Callable[[list[str]], Any], type[Stopped]]:
    """dbt's programmatic runner (dbt arguments → dbt's result), and the exception a stop signal raises in it.

    The exception is a ``KeyboardInterrupt`` (dbt cancels its queries on one) that is also a dbt exception, so
    dbt reports it in one line instead of a stack trace.
    """
    try:
        from dbt.cli.main import dbtRunner
        from dbt_common.exceptions import DbtBaseException
    except ImportError:
        raise SettingsError(
            "dbt is not installed in this Python environment: run `make install` (dbt lives in .venv-dbt) "
            "or `meltano install` (the dbt-postgres utility)"
        ) from None

    class DbtStopped(Stopped, DbtBaseException):
        """A stop signal, as dbt sees it."""

    return (lambda args: dbtRunner().invoke(args)), DbtStopped


def _fail(message: str) -> int:
    print(f"pipeboard-dbt: {message}", file=sys.stderr, flush=True)
    return EXIT_SETTINGS


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args:
        print(__doc__)
        return EXIT_SETTINGS
    try:
        settings = resolve(os.environ)
        os.environ.update(dbt_environment(settings, os.environ))
        offline = args[0] in OFFLINE_COMMANDS or args[:2] == ["docs", "serve"]
        tables = set() if offline else loaded_tables(settings.connection, settings.source_schema)
        invoke, stop = load_dbt()
    except (SettingsError, ConnectionProblemError) as exc:
        if args[0] == "build":
            failed = TransformMetrics()
            failed.record_build(None, succeeded=False)
            failed.push(_pushgateway(os.environ))
        return _fail(str(exc))
    try:
        with stop_signals_interrupt(stop):
            if args[0] == "build":
                return build(invoke, args[1:], settings, tables)
            result = invoke(args)
            _raise_stop(result)
            return 0 if result.success else 1
    except Stopped as stop:
        LOGGER.warning("Stopped by %s; dbt cancelled its queries", signal.Signals(stop.signum).name)
        return EXIT_SIGNAL_BASE + stop.signum


def _pushgateway(env: dict[str, str] | os._Environ[str]) -> str | None:
    try:
        return resolve(env).pushgateway_url
    except SettingsError:
        return env.get("PIPEBOARD_PUSHGATEWAY_URL") or None


def _raise_stop(result: Any) -> None:
    if isinstance(getattr(result, "exception", None), Stopped):
        raise result.exception


def build(
    invoke: Callable[[list[str]], Any], options: list[str], settings: Settings, tables: set[str]
) -> int:
    """``dbt build``, then ``dbt source freshness`` on the loaded tables; metrics from the artifacts."""
    metrics = TransformMetrics()
    results_path = target_path()
    try:
        result = invoke(["build", *options])
        _raise_stop(result)
        run_results = artifacts.read_json(results_path / "run_results.json")
        summary = artifacts.summarize_run_results(run_results) if run_results else None
        succeeded = bool(result.success) and summary is not None and not summary.failed
        metrics.record_build(summary, succeeded)
        check_freshness(invoke, metrics, tables, results_path)
    except Stopped:
        metrics.record_build(None, succeeded=False)
        metrics.push(settings.pushgateway_url)
        raise
    metrics.push(settings.pushgateway_url)
    if succeeded:
        LOGGER.info("dbt build finished: main_bi has %s rows", summary.rows.get("main_bi", "?"))
    return 0 if succeeded else 1


def check_freshness(
    invoke: Callable[[list[str]], Any], metrics: TransformMetrics, tables: set[str], results_path: Path
) -> None:
    """Run ``dbt source freshness`` on the sources that exist; a stale source warns, it fails nothing."""
    manifest = artifacts.read_json(results_path / "manifest.json")
    selected = artifacts.freshness_sources(manifest or {}, tables)
    if not selected:
        return
    result = invoke(["source", "freshness", "--select", *selected])
    _raise_stop(result)
    document = artifacts.read_json(results_path / "sources.json")
    found = artifacts.summarize_sources(document) if document else []
    metrics.record_freshness(found)
    stale = [f"{item.table} ({item.status})" for item in found if item.severity > 0]
    if stale:
        LOGGER.warning("Loaded tables not fresh: %s", ", ".join(stale))


if __name__ == "__main__":
    sys.exit(main())
