"""Who holds the locks the target waited for: sessions named by pid, user, application and what they do."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg2.errors

# A lock wait the transaction gave up (lock_timeout), or lost (a deadlock): retrying may succeed.
LOCK_ERRORS = (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected)

# Granted locks of other sessions on the relations (schema, name) or advisory keys a transaction needed.
_HOLDERS = """
SELECT DISTINCT a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''), coalesce(a.state, ''),
       coalesce(a.xact_start, a.query_start),
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 100),
       l.mode, CASE WHEN l.locktype = 'relation' THEN format('%%I.%%I', n.nspname, c.relname)
                    ELSE 'the advisory lock of a table' END
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
LEFT JOIN pg_class c ON l.locktype = 'relation' AND c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.granted AND l.pid <> pg_backend_pid() AND (
  (l.locktype = 'relation' AND (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[])))
  OR (l.locktype = 'advisory' AND l.objsubid = 1
      AND ((l.classid::bigint << 32) | l.objid::bigint)
          IN (SELECT hashtextextended(k, 0) FROM unnest(%s::text[]) k))
)
ORDER BY 5 NULLS LAST, 1
"""


@dataclass(frozen=True)
class Holder:
    """One session holding a lock the target needed."""

    pid: int
    user: str
    application: str
    state: str
    since: datetime.datetime | None
    query: str
    mode: str
    relation: str

    def describe(self) -> str:
        """``pid 4242 (user 'bi', application 'Metabase', idle in transaction since 12:00:03 UTC, …)``."""
        parts = [f"user {self.user!r}"]
        if self.application:
            parts.append(f"application {self.application!r}")
        since = f" since {self.since.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC" if self.since else ""
        parts.append(f"{self.state or 'state unknown'}{since}")
        if self.query:
            parts.append(f"last query {self.query!r}")
        return f"pid {self.pid} ({', '.join(parts)}) holding {self.mode} on {self.relation}"


def lock_holders(
    cur: Any, relations: Sequence[tuple[str, str]], advisory_keys: Sequence[str]
) -> list[Holder]:
    """Sessions holding locks on these relations or advisory keys (run outside the waiting transaction).

    Args:
        cur: A cursor on the target's connection (not in an aborted transaction).
        relations: (schema, name) of the tables and views the transaction locked or wanted.
        advisory_keys: Keys of the advisory locks it took (as given to ``hashtextextended``).

    Returns:
        The holders, longest-running transaction first.
    """
    cur.execute(
        _HOLDERS,
        ([schema for schema, _ in relations], [name for _, name in relations], list(advisory_keys)),
    )
    return [Holder(*row) for row in cur.fetchall()]


def describe_holders(holders: Sequence[Holder]) -> str:
    """The holders in one phrase (at most three named)."""
    if not holders:
        return "a session that has released it since"
    named = "; ".join(holder.describe() for holder in holders[:3])
    more = len(holders) - 3
    return named + (f"; and {more} more" if more > 0 else "")


def how_to_free(holders: Sequence[Holder]) -> str:
    """What the user can do about the holders."""
    if not holders:
        return "rerun"
    pids = ", ".join(str(holder.pid) for holder in holders[:3])
    return f"end or commit that session (e.g. SELECT pg_terminate_backend(pid) for pid {pids}), then rerun"
