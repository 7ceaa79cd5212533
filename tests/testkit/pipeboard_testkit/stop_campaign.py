"""A load stopped by SIGTERM at random moments and resumed from its last STATE, until it finishes.

The campaign plays the tap: it writes a deterministic stream of records (``deals``; with ``streams=2`` a
``notes`` record every tenth position) with a STATE every ``state_every`` positions, and paces the input
itself. Each run is stopped at a moment drawn from a seeded RNG — a position a random distance past where the
run resumed — in one of the load's phases:

- ``start``: right after the target is ready, before any input;
- ``reading``: once the input reached the position (a batch is being read, one may be in flight);
- ``committed``: once, past the position, a STATE came out (a batch just committed, the next being read);
- ``end`` (the last stop): the whole input written and closed (the last batch being written, the final
  STATE due).

After each run the campaign checks what a resume relies on: every STATE printed is covered by committed rows,
every row in the tables is exactly what was sent, and the exit code says whether the run finished (0 with the
final STATE, 143 otherwise). The next run resumes after the last STATE printed. At the end the tables must
hold every record exactly once.
"""

from __future__ import annotations

import json
import random
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from pipeboard_testkit.processes import TargetProcess

PHASES = ("start", "reading", "committed")
READY = r"Reading Singer messages"  # the target's log line once its stop handlers are in place
DEALS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "value": {"type": "number"},
        "stage_id": {"type": ["null", "integer"]},
        "update_time": {"type": "string", "format": "date-time"},
        "custom": {"type": "object"},
    },
}
NOTES_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "deal_id": {"type": "integer"}, "content": {"type": "string"}},
}


def message(position: int, streams: int = 1) -> dict[str, Any]:
    """The RECORD at a position of the stream (the same every time it is sent)."""
    if streams == 2 and position % 10 == 9:
        return {
            "type": "RECORD",
            "stream": "notes",
            "record": {"id": position, "deal_id": position - 1, "content": f"note {position} ✓"},
        }
    return {
        "type": "RECORD",
        "stream": "deals",
        "record": {
            "id": position,
            "title": f"deal {position}",
            "value": position / 4,
            "stage_id": position % 7 or None,
            "update_time": f"2024-01-{1 + position % 28:02d}T10:00:00Z",
            "custom": {"n": position, "tags": ["a", "b"]},
        },
    }


def lines(start: int, total: int, state_every: int, streams: int = 1) -> Iterator[tuple[int, bytes]]:
    """(position, line) from ``start``: SCHEMAs first, a STATE after every ``state_every`` positions."""
    for stream, schema in (("deals", DEALS_SCHEMA), ("notes", NOTES_SCHEMA))[:streams]:
        yield (
            start,
            (
                json.dumps({"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["id"]})
                + "\n"
            ).encode(),
        )
    for position in range(start, total):
        yield position, (json.dumps(message(position, streams)) + "\n").encode()
        if (position + 1) % state_every == 0 or position == total - 1:
            yield position, (json.dumps({"type": "STATE", "value": {"position": position}}) + "\n").encode()


@dataclass
class Stop:
    """One stop of the campaign and what came of it."""

    phase: str
    position: int
    resumed_after: int
    signalled_at: int | None = None  # the last position written when SIGTERM was sent
    exit_code: int | None = None
    last_state: int | None = None
    finished: bool = False


@dataclass
class Campaign:
    """Stops of one load, in the order they happened."""

    total: int
    stops: list[Stop] = field(default_factory=list)
    runs: int = 0


class CampaignError(AssertionError):
    """What the campaign found wrong: the run, the phase and the check."""


def _next_stop(rng: random.Random, index: int, stops: int, bookmark: int, total: int) -> Stop:
    """The next stop: a phase, and a position up to two shares of the load past the bookmark."""
    if index == stops - 1:
        return Stop("end", total, bookmark)
    span = max(2, 2 * total // stops)
    return Stop(rng.choice(PHASES), min(total - 1, bookmark + 1 + rng.randrange(1, span)), bookmark)


def _table_check(url: str, schema: str, covered: int, total: int, streams: int) -> None:
    """Rows up to ``covered`` all present; no row anywhere differs from what was sent."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        deals, notes = sql.Identifier(schema, "deals"), sql.Identifier(schema, "notes")
        cur.execute(
            sql.SQL(
                "SELECT count(*) FILTER (WHERE id <= %s), count(*) FILTER (WHERE title <> 'deal ' || id "
                "OR value <> id / 4.0 OR stage_id IS DISTINCT FROM nullif(id %% 7, 0) "
                "OR custom <> jsonb_build_object('n', id, 'tags', jsonb_build_array('a', 'b')) "
                + ("OR id %% 10 = 9 " if streams == 2 else "")
                + "OR id >= %s), count(*) FROM {}"
            ).format(deals),
            (covered, total),
        )
        deals_covered, deals_wrong, _ = cur.fetchone()
        notes_covered = notes_wrong = 0
        if streams == 2:
            cur.execute(
                sql.SQL(
                    "SELECT count(*) FILTER (WHERE id <= %s), count(*) FILTER (WHERE deal_id <> id - 1 "
                    "OR content <> 'note ' || id || ' ✓' OR id %% 10 <> 9 OR id >= %s), count(*) FROM {}"
                ).format(notes),
                (covered, total),
            )
            notes_covered, notes_wrong, _ = cur.fetchone()
    conn.close()
    want_notes = (covered + 1) // 10 if streams == 2 else 0
    if deals_wrong or notes_wrong:
        raise CampaignError(f"rows differ from what was sent: {deals_wrong} deals, {notes_wrong} notes")
    if (deals_covered, notes_covered) != (covered + 1 - want_notes, want_notes):
        raise CampaignError(
            f"STATE covers position {covered} but only {deals_covered} deals and {notes_covered} notes "
            "up to it are committed"
        )


def _tables_exist(url: str, schema: str, streams: int) -> bool:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(quote_ident(%s) || '.deals') IS NOT NULL", (schema,))
        exists = cur.fetchone()[0]
        if streams == 2:
            cur.execute("SELECT to_regclass(quote_ident(%s) || '.notes') IS NOT NULL", (schema,))
            exists = exists and cur.fetchone()[0]
    conn.close()
    return bool(exists)


def run_campaign(
    config: dict[str, Any],
    work_dir: Path,
    *,
    total: int,
    stops: int,
    seed: int,
    state_every: int = 1000,
    streams: int = 1,
    chunk_lines: int = 400,
    log: Callable[[str], None] = lambda line: None,
) -> Campaign:
    """Stop a load of ``total`` positions ``stops`` times (SIGTERM), resuming each time, and check it all.

    Args:
        config: The target's settings (its database and schema).
        work_dir: Where config files go.
        total: Positions in the stream (records: deals and notes).
        stops: SIGTERMs to send (the last one once the input has ended).
        seed: The RNG seed choosing the moments.
        state_every: Positions between two STATE messages.
        streams: 1 (deals) or 2 (deals and notes).
        chunk_lines: Lines written at a time (the pace the campaign checks its moments at).
        log: Receives one line per run.

    Returns:
        The campaign's stops.

    Raises:
        CampaignError: A check failed.
    """
    rng = random.Random(seed)
    campaign = Campaign(total=total)
    url, schema = config["database_url"], config["default_target_schema"]
    bookmark = -1
    while True:
        done = len(campaign.stops) >= stops
        stop = None if done else _next_stop(rng, len(campaign.stops), stops, bookmark, total)
        phase, position = (stop.phase, stop.position) if stop is not None else ("none", total)
        campaign.runs += 1
        target = TargetProcess(config, work_dir)
        try:
            code = _one_run(target, stop, bookmark + 1, total, state_every, streams, chunk_lines)
        finally:
            target.kill()
        last = target.states[-1]["position"] if target.states else None
        finished = code == 0
        if stop is not None:
            stop.exit_code, stop.last_state, stop.finished = code, last, finished
            campaign.stops.append(stop)
        log(
            f"run {campaign.runs}: {phase} at {position}, resumed after {bookmark}: exit {code}, "
            f"last STATE {last}, {len(target.states)} STATEs"
        )
        if code not in (0, 143):
            raise CampaignError(
                f"run {campaign.runs} ({phase} at {position}) exited {code}:\n{target.stderr[-3000:]}"
            )
        if finished and last != total - 1:
            raise CampaignError(f"run {campaign.runs} exited 0 without the final STATE (last: {last})")
        if "Traceback" in target.stderr:
            raise CampaignError(f"run {campaign.runs} printed a traceback:\n{target.stderr[-3000:]}")
        if last is not None:
            bookmark = last
        if (
            stop is not None
            and last is not None
            and stop.signalled_at is not None
            and last > stop.signalled_at
        ):
            raise CampaignError(
                f"run {campaign.runs}: STATE {last} is past the input sent ({stop.signalled_at})"
            )
        if _tables_exist(url, schema, streams):
            _table_check(url, schema, bookmark, total, streams)
        if finished:
            break
    _table_check(url, schema, total - 1, total, streams)
    return campaign


def _one_run(
    target: TargetProcess,
    stop: Stop | None,
    start: int,
    total: int,
    state_every: int,
    streams: int,
    chunk_lines: int,
) -> int | None:
    """Feed one run from ``start``; send SIGTERM at the stop's moment; return the exit code."""
    if target.wait_for_log(READY, timeout=120) is None:
        raise CampaignError(f"the target did not start:\n{target.stderr[-3000:]}")
    signalled = False
    if stop is not None and stop.phase == "start":
        target.signal(signal.SIGTERM)
        stop.signalled_at = start - 1
        signalled = True
    assert target.process.stdin is not None
    states_before: int | None = None
    chunk: list[bytes] = []
    try:
        for position, line in lines(start, total, state_every, streams):
            if signalled:
                break
            chunk.append(line)
            if len(chunk) < chunk_lines:
                continue
            target.process.stdin.write(b"".join(chunk))
            target.process.stdin.flush()
            chunk = []
            if stop is None or position < stop.position:
                continue
            if stop.phase == "reading":
                target.signal(signal.SIGTERM)
                stop.signalled_at, signalled = position, True
            elif stop.phase == "committed":
                states_before = len(target.states) if states_before is None else states_before
                if len(target.states) > states_before:
                    target.signal(signal.SIGTERM)
                    stop.signalled_at, signalled = position, True
        if not signalled:
            target.process.stdin.write(b"".join(chunk))
            target.process.stdin.close()
            if stop is not None:  # "end", or a moment the input ran out before
                target.signal(signal.SIGTERM)
                stop.signalled_at = total - 1
    except BrokenPipeError:
        pass  # the target has exited (or is exiting): its exit code tells
    return target.wait(timeout=300)
