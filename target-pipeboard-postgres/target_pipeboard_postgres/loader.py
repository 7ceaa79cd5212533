"""The loader: the one database connection, used only from a thread of its own, and its transactions.

Everything the target does in Postgres — connecting, preparing tables, writing batches, swapping tables —
runs on the loader's thread; the main thread only hands work over and waits for it, and such a wait is
interrupted by a stop signal at once (a blocked libpq call is not). At most one batch is in flight: it is
written while the next one is read, and STATE covering it is written only once it is committed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

import psycopg2
import psycopg2.errors
from psycopg2.extensions import connection as PgConnection  # noqa: N812

from target_pipeboard_postgres.connector import Connector
from target_pipeboard_postgres.errors import BatchFailedError, LockWaitError, PipeboardError, one_line
from target_pipeboard_postgres.locks import LOCK_ERRORS, Holder, describe_holders, how_to_free, lock_holders
from target_pipeboard_postgres.metrics import TargetMetrics
from target_pipeboard_postgres.session import SessionSettings, connect
from target_pipeboard_postgres.stopping import Stopped, block_stop_signals

T = TypeVar("T")
LOGGER = logging.getLogger(__name__)

# After a stop signal, how long the work in flight (cancelled) may take to end before the run exits anyway.
STOP_WAIT_SECONDS = 10.0
# While waiting for it, the cancel request is sent again this often (one sent between two statements of a
# transaction reaches no statement).
CANCEL_AGAIN_SECONDS = 1.0
# The main thread waits for the loader's thread in slices this long: a stop signal that came just before the
# wait began has its handler run at the end of the slice (handlers run between bytecodes).
WAIT_SLICE_SECONDS = 0.5


class Loader:
    """The load connection, the thread using it, and the batch in flight.

    Args:
        config: The target's settings (connection, timeouts, ``default_target_schema``).
        metrics: The target's metrics.
        application_name: Shown in ``pg_stat_activity``.
    """

    def __init__(self, config: Mapping[str, Any], metrics: TargetMetrics, application_name: str) -> None:
        self.settings = SessionSettings.from_config(config)
        self.metrics = metrics
        self.schema: str = config.get("default_target_schema") or "pipedrive"
        self.stopping = threading.Event()
        self._config = config
        self._application_name = application_name
        self._conn: PgConnection | None = None
        self._connector: Connector | None = None
        self._work: queue.SimpleQueue[tuple[Future, Callable[[], Any]] | None] = queue.SimpleQueue()
        # A daemon thread: a database that stopped answering cannot keep the process from exiting.
        self._thread = threading.Thread(target=self._serve, name="pipeboard-load", daemon=True)
        self._thread.start()
        self._current: Future | None = None  # whatever the thread was last given
        self._pending: Future | None = None  # the batch in flight
        self._after_commit: list[Callable[[], None]] = []
        self._canceller: threading.Thread | None = None

    # --- the thread ---

    def _serve(self) -> None:
        block_stop_signals()
        while (item := self._work.get()) is not None:
            future, work = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = work()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            # Not kept while waiting for the next work: a batch's rows are freed once it is written.
            del item, future, work

    def _start(self, work: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._current = future
        self._work.put((future, work))
        return future

    @property
    def conn(self) -> PgConnection:
        """The connection (only the loader's thread uses it)."""
        if self._conn is None:
            raise RuntimeError("the loader is not connected")
        return self._conn

    @property
    def connector(self) -> Connector:
        """DDL and catalog reads on the connection."""
        if self._connector is None:
            raise RuntimeError("the loader is not connected")
        return self._connector

    def open(self) -> None:
        """Connect (on the loader's thread: a stop signal is honoured while the server is silent).

        Raises:
            ConnectError: The server could not be reached in time or refused the connection.
        """
        self.call(self._connect)

    def _connect(self) -> None:
        self._conn = connect(self._config, self.settings, self._application_name)
        self._connector = Connector(self._conn, self.schema)

    # --- handing work over ---

    def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the loader's thread once the batch in flight is committed; wait for its result.

        Args:
            work: Anything using the connection.

        Returns:
            What ``work`` returns.
        """
        self.wait()
        return _result(self._start(work))

    def submit(self, work: Callable[[], None]) -> None:
        """Write a batch on the loader's thread, once the batch before it is committed.

        Args:
            work: Writes and commits one batch.
        """
        self.wait()
        self._pending = self._start(work)

    @property
    def busy(self) -> bool:
        """Whether a batch is still being written."""
        return self._pending is not None and not self._pending.done()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (on the caller's thread) once the batch in flight is committed, or now if none is.

        Args:
            callback: E.g. writing a STATE message that covers the batch in flight.
        """
        if self._pending is None:
            callback()
        else:
            self._after_commit.append(callback)

    def poll(self) -> None:
        """Finish the batch in flight if it is done (runs its after-commit callbacks, raises its error)."""
        if self._pending is not None and self._pending.done():
            self.wait()

    def wait(self) -> None:
        """Wait for the batch in flight; raise its error, or run its after-commit callbacks.

        A stop signal interrupts the wait; the batch then stays in flight for :meth:`abort`.
        """
        pending = self._pending
        if pending is None:
            return
        try:
            _result(pending)
        except BaseException:
            if pending.done():  # the batch failed (not the wait interrupted)
                self._pending = None
                self._after_commit = []
            raise
        self._pending = None
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    # --- transactions (on the loader's thread) ---

    def transact(self, what: str, work: Callable[[], T]) -> T:
        """Run ``work`` in one transaction and commit it; a lock wait that times out is retried.

        Each attempt waits at most ``lock_timeout`` for any lock; then the transaction is rolled back (so
        readers queued behind it go on), the sessions holding the locks it needed are logged, and after a
        pause as long it starts again, up to ``lock_retries`` times.

        Args:
            what: Whose transaction, for messages: ``Stream 'deals' (table pipedrive.deals)``.
            work: The statements (it may run more than once: it must not change anything but the database).

        Returns:
            What ``work`` returns.

        Raises:
            LockWaitError: The locks stayed taken through every retry.
            BatchFailedError: A statement failed (the first error, not the rollback's).
            Stopped: The run is stopping.
        """
        settings = self.settings
        attempts = settings.lock_retries + 1
        for attempt in range(1, attempts + 1):
            if self.stopping.is_set():
                raise Stopped(what)
            self.connector.involved.clear()
            try:
                result = work()
                self.conn.commit()
            except LOCK_ERRORS as exc:
                self._rollback_quietly()
                if self.stopping.is_set():
                    raise Stopped(what) from exc
                holders = self._holders()
                waited = f"{settings.lock_timeout} s (lock_timeout)"
                if isinstance(exc, psycopg2.errors.DeadlockDetected):
                    waited = "into a deadlock"
                if attempt == attempts:
                    raise LockWaitError(
                        f"{what}: gave up after {attempts} lock waits of {settings.lock_timeout} s "
                        f"(lock_timeout, lock_retries) for {describe_holders(holders)}; "
                        f"{how_to_free(holders)}, or raise lock_timeout / lock_retries"
                    ) from None
                LOGGER.warning(
                    "%s: waited %s for %s; rolled back, retry %d of %d in %d s",
                    what,
                    waited,
                    describe_holders(holders),
                    attempt,
                    attempts - 1,
                    settings.lock_timeout,
                )
                if self.stopping.wait(settings.lock_timeout):
                    raise Stopped(what) from None
                continue
            except PipeboardError:
                self._rollback_quietly()
                raise
            except Exception as exc:
                self._rollback_quietly()
                if self.stopping.is_set():
                    raise Stopped(what) from exc
                raise BatchFailedError(f"{what}: {self._explain(exc)}") from exc
            except BaseException:
                self._rollback_quietly()
                raise
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _explain(self, error: Exception) -> str:
        """The first error of a failed transaction, with the setting behind it when there is one."""
        message = one_line(error)
        if isinstance(error, psycopg2.errors.QueryCanceled) and "statement timeout" in message:
            return f"{message} (statement_timeout = {self.settings.statement_timeout} s): raise it and rerun"
        if isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError) and (
            self._conn is None or self._conn.closed
        ):
            return f"the connection to Postgres was lost: {message}; rerun once the server is back"
        return message

    def _rollback_quietly(self) -> None:
        """Roll back; a rollback failing (the connection is gone) must not hide the error that caused it."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            conn.rollback()
        except psycopg2.Error as exc:
            LOGGER.debug("Rollback failed too: %s", one_line(exc))

    def _holders(self) -> list[Holder]:
        """The sessions holding locks on what the failed transaction touched (empty when unknown)."""
        connector = self.connector
        relations = [(schema, name) for schema, name in connector.involved]
        keys = [f"pipeboard:{schema}.{name}" for schema, name in connector.involved]
        try:
            with self.conn.cursor() as cur:
                holders = lock_holders(cur, relations, keys)
            self.conn.rollback()
        except psycopg2.Error as exc:
            LOGGER.debug("Could not read pg_locks: %s", one_line(exc))
            self._rollback_quietly()
            return []
        return holders

    # --- stopping ---

    def interrupt(self) -> None:
        """Stop what the thread does (a stop signal): no new transaction starts, the statement running is
        cancelled. Safe to call from the signal handler; never waits for the server."""
        self.stopping.set()
        self._cancel_query()

    def _cancel_query(self) -> None:
        conn = self._conn
        if conn is None or conn.closed or (self._canceller is not None and self._canceller.is_alive()):
            return

        def cancel() -> None:
            block_stop_signals()
            try:
                conn.cancel()
            except psycopg2.Error as exc:
                LOGGER.debug("Cancel request failed: %s", one_line(exc))

        # Its own daemon thread: a cancel request to a server that does not answer waits for it.
        self._canceller = threading.Thread(target=cancel, name="pipeboard-cancel", daemon=True)
        self._canceller.start()

    def abort(self, timeout: float = STOP_WAIT_SECONDS) -> bool:
        """After a stop signal: cancel what runs, wait for it to end (at most ``timeout`` seconds).

        A batch that committed before the cancel reached it still gets its after-commit callbacks (its
        STATE); one rolled back gets none.

        Args:
            timeout: Seconds to wait for the work in flight.

        Returns:
            True when the thread is idle (the connection may be closed), False when it is still waiting on
            the server.
        """
        self.interrupt()
        current = self._current
        deadline = time.monotonic() + timeout
        while current is not None and not current.done() and self._conn is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                current.exception(timeout=min(CANCEL_AGAIN_SECONDS, remaining))
            except TimeoutError:
                self._cancel_query()
        pending = self._pending
        if pending is not None and pending.done():
            self._pending = None
            callbacks, self._after_commit = self._after_commit, []
            if pending.exception() is None:
                LOGGER.info("The batch in flight committed before the stop: its STATE is written")
                for callback in callbacks:
                    callback()
            elif not isinstance(pending.exception(), Stopped):
                LOGGER.warning("The batch in flight failed: %s", one_line(pending.exception()))
        return current is None or current.done()

    def close(self) -> None:
        """End the thread and close the connection (left to the process's exit while the thread still waits
        on a server that does not answer)."""
        self._work.put(None)
        current = self._current
        if current is not None and not current.done():
            return
        self._thread.join()
        if self._conn is not None:
            self._conn.close()


def _result(future: Future) -> Any:
    """The future's result (or error), waited for in slices: a stop signal is never kept waiting."""
    while not future.done():
        with contextlib.suppress(TimeoutError):
            future.exception(timeout=WAIT_SLICE_SECONDS)
    return future.result()
