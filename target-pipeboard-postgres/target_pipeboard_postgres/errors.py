"""Errors a user can act on: each message is one line naming what failed and what to do next."""

from __future__ import annotations


class PipeboardError(Exception):
    """A failure the target reports as one line (no traceback) before exiting with code 1."""


class ConnectError(PipeboardError):
    """The database could not be reached (address, credentials, ``connect_timeout``)."""


class BatchFailedError(PipeboardError):
    """A transaction of one stream failed; its message starts with the stream and table."""


class LockWaitError(PipeboardError):
    """A lock stayed held by another session through every retry (``lock_timeout``, ``lock_retries``)."""


class SchemaEvolutionError(PipeboardError):
    """A table change the target will not or cannot make (a changed key under ``upsert``, a view in the
    way)."""


class KeylessUpsertError(PipeboardError):
    """A stream without key properties under ``upsert`` while ``on_keyless_upsert`` is ``fail``."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line (Postgres messages carry DETAIL/HINT lines and tabs).

    Args:
        error: Any exception.

    Returns:
        Its message, lines joined with ``; `` (the class name when it has none).
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__
