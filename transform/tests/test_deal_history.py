"""Deal history and the sales analytics against the emulator's ground truth.

One account, synced twice into two databases — deal_history ``stages`` (the changelog) and ``off`` (the deals
snapshot alone) — with a full sync, then two rounds of ``mutate(stage_moves, wins, losses)`` each followed by
an incremental sync, and ``pipeboard-dbt build`` after every sync (the snapshot captures each state). Then
deal_stage_history is compared with ``emu.stage_visits()`` deal by deal, the time in stage with
``emu.movement_statistics`` (Pipedrive's own averages), and the funnel and daily pipeline with what the true
visits say.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from pipeboard_testkit.pipeline import dbt_build, sync
from pipedrive_emulator import Emulator

DEALS = 160
SEED = 15
ROUNDS = ({"stage_moves": 40, "wins": 10, "losses": 8}, {"stage_moves": 40, "wins": 6, "losses": 6})

pytestmark = pytest.mark.slow

Visit = tuple[Any, ...]
"""(pipeline_id, stage_id, entered_at, exited_at, left_by, next_stage_id)"""


@dataclass
class Account:
    """The emulator after the last round, and the two databases built from it."""

    emulator: Emulator
    changelog_url: str
    snapshot_url: str
    mutated_at: list[dt.datetime] = field(default_factory=list)


def rows(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """The rows of one query."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def account(database_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    emulator = Emulator(deals=DEALS, seed=SEED).start()
    tmp: Path = tmp_path_factory.mktemp("history")
    base = {"api_token": emulator.token, "api_url": emulator.base_url}
    modes = {"stages": database_server.create_database(), "off": database_server.create_database()}
    states: dict[str, dict | None] = dict.fromkeys(modes)
    result = Account(emulator, modes["stages"], modes["off"])
    try:
        for run in range(len(ROUNDS) + 1):
            if run:
                done = emulator.mutate(**ROUNDS[run - 1])
                assert all(done[kind]["deals"] for kind in ("moved", "won", "lost"))
                result.mutated_at.append(dt.datetime.fromisoformat(done["now"].replace("Z", "+00:00")))
            for mode, url in modes.items():
                config = {**base, "deal_history": mode}
                states[mode] = sync(tmp / f"{mode}-{run}", config, states[mode], url)
                built = dbt_build(url, tmp / f"dbt-{mode}")
                for check in ("deal_stage_history_visits_chain", "deal_funnel_is_monotone"):
                    assert f"PASS {check} " in built.stdout, built.stdout[-3000:]
        yield result
    finally:
        emulator.stop()


def truth(emulator: Emulator) -> dict[int, list[Visit]]:
    """The emulator's stage visits per deal, shaped like deal_stage_history's columns."""
    visits: dict[int, list[Visit]] = defaultdict(list)
    for v in emulator.stage_visits():
        visits[v["deal_id"]].append(
            (
                v["pipeline_id"],
                v["stage_id"],
                v["entered_at"],
                v["exited_at"],
                v["left_by"] or "still_there",
                v["next_stage_id"],
            )
        )
    return dict(visits)


def history(url: str) -> dict[int, list[tuple]]:
    """deal_stage_history per deal, in visit order: the Visit columns, then source and is_history_complete."""
    found: dict[int, list[tuple]] = defaultdict(list)
    for row in rows(
        url,
        "SELECT deal_id, pipeline_id, stage_id, entered_at, exited_at, left_by, next_stage_id, source, "
        "is_history_complete FROM pipedrive.deal_stage_history ORDER BY deal_id, visit_number",
    ):
        found[row[0]].append(row[1:])
    return dict(found)


def test_every_deals_stage_history_from_the_changelog_is_the_true_one(account):
    expected = truth(account.emulator)
    found = history(account.changelog_url)

    assert sorted(found) == sorted(expected)
    assert {row[6] for visits in found.values() for row in visits} == {"changelog"}
    mismatched = {
        deal: (expected[deal], [row[:6] for row in visits])
        for deal, visits in found.items()
        if [row[:6] for row in visits] != expected[deal]
    }
    assert mismatched == {}
    moved = [deal for deal, visits in expected.items() if len(visits) > 2]
    assert len(moved) > 10  # deals that went through several stages, backwards and skipping too


def test_the_snapshot_alone_keeps_every_state_seen_since_the_first_sync(account):
    expected = truth(account.emulator)
    found = history(account.snapshot_url)

    assert sorted(found) == sorted(expected)
    assert {row[6] for visits in found.values() for row in visits} == {"snapshot"}
    complete = incomplete = 0
    for deal, visits in found.items():
        mine = [row[:6] for row in visits]
        if visits[0][7]:
            # first seen never moved: every visit since its creation was seen
            assert mine == expected[deal], deal
            complete += 1
        else:
            # first seen after it had moved: the visits from the stage it was in then are exact
            assert mine == expected[deal][-len(mine) :], deal
            assert len(mine) < len(expected[deal])
            incomplete += 1
    assert complete > 10
    assert incomplete > 10
    moved_between_builds = [deal for deal, visits in found.items() if len(visits) > 1]
    assert len(moved_between_builds) >= sum(r["stage_moves"] for r in ROUNDS) // 2


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def test_time_in_stage_agrees_with_pipedrives_movement_statistics(account):
    emulator = account.emulator
    me = emulator.dataset.company["me_user_id"]
    first = min(v["entered_at"] for v in emulator.stage_visits()).date()
    periods = [(first, account.mutated_at[-1].date()), *((m.date(), m.date()) for m in account.mutated_at)]
    pipelines = sorted(p["id"] for p in emulator.records("pipelines") if not p.get("is_deleted"))
    compared = 0
    for pipeline in pipelines:
        for start, end in periods:
            stats = emulator.movement_statistics(pipeline, start, end)["average_age_in_days"]
            ours = rows(
                account.changelog_url,
                "SELECT stage_id, sum(total_days), sum(visits) FROM pipedrive.time_in_stage_daily "
                "WHERE pipeline_id = %s AND owner_id = %s AND left_by = 'stage' "
                "AND exited_on BETWEEN %s AND %s GROUP BY stage_id ORDER BY stage_id",
                (pipeline, me, start, end),
            )
            by_stages = [{"stage_id": s, "value": _half_up(float(days) / int(n))} for s, days, n in ours]
            assert by_stages == stats["by_stages"], (pipeline, start, end)
            total_days, total_visits = sum(float(r[1]) for r in ours), sum(int(r[2]) for r in ours)
            across = _half_up(total_days / total_visits) if total_visits else 0
            assert across == stats["across_all_stages"], (pipeline, start, end)
            compared += len(by_stages)
    assert compared > 5


def _stage_positions(emulator: Emulator) -> dict[int, tuple[int, int]]:
    """Live stage → (pipeline, position in its pipeline by order_nr)."""
    live = sorted(
        (s for s in emulator.records("stages") if not s.get("is_deleted")),
        key=lambda s: (s["pipeline_id"], s["order_nr"], s["id"]),
    )
    positions: dict[int, tuple[int, int]] = {}
    counter: dict[int, int] = defaultdict(int)
    for stage in live:
        counter[stage["pipeline_id"]] += 1
        positions[stage["id"]] = (stage["pipeline_id"], counter[stage["pipeline_id"]])
    return positions


def test_the_funnel_counts_each_deal_once_at_the_furthest_stage_it_reached(account):
    emulator = account.emulator
    deals = {d["id"]: d for d in emulator.records("deals") if d["status"] != "deleted"}
    positions = _stage_positions(emulator)
    reach: dict[tuple[int, int], list] = {}
    for v in emulator.stage_visits():
        if v["deal_id"] not in deals or v["stage_id"] not in positions:
            continue
        pipeline, position = positions[v["stage_id"]]
        entry = reach.setdefault((v["deal_id"], pipeline), [0, False])
        entry[0] = max(entry[0], position)
        entry[1] = entry[1] or v["left_by"] == "won"
    expected: dict[tuple, list[int]] = {}
    for (deal, pipeline), (furthest, won) in reach.items():
        added = dt.datetime.fromisoformat(deals[deal]["add_time"].replace("Z", "+00:00"))
        cohort = added.date().replace(day=1)
        for stage, (owner, position) in positions.items():
            if owner != pipeline:
                continue
            counts = expected.setdefault((pipeline, cohort, stage), [0, 0, 0])
            counts[0] += furthest >= position
            counts[1] += furthest > position
            counts[2] += furthest >= position and won
    found = {
        (pipeline, cohort, stage): [reached, reached_next, won]
        for pipeline, cohort, stage, reached, reached_next, won in rows(
            account.changelog_url,
            "SELECT pipeline_id, cohort_month, stage_id, deals_reached, coalesce(deals_reached_next, 0), "
            "deals_won FROM pipedrive.deal_funnel",
        )
    }
    assert found == expected
    skipped_or_back = sum(
        1 for visits in truth(emulator).values() for a, b in itertools.pairwise(visits)
        if a[1] in positions and b[1] in positions and positions[b[1]][1] != positions[a[1]][1] + 1
    )  # fmt: skip
    assert skipped_or_back > 5


def test_the_daily_pipeline_is_what_was_open_at_each_days_end(account):
    emulator = account.emulator
    live = {d["id"] for d in emulator.records("deals") if d["status"] != "deleted"}
    visits = [v for v in emulator.stage_visits() if v["deal_id"] in live and v["pipeline_id"] is not None]
    first = min(v["entered_at"] for v in visits).date()
    last = account.mutated_at[-1].date()
    spread = {first + (last - first) * k // 12 for k in range(13)}
    days = sorted(spread | {m.date() for m in account.mutated_at})
    for day in days:
        expected: dict[tuple[int, int], int] = defaultdict(int)
        for v in visits:
            left = v["exited_at"]
            if v["entered_at"].date() <= day and (left is None or left.date() > day):
                expected[(v["pipeline_id"], v["stage_id"])] += 1
        found = dict(
            ((pipeline, stage), count)
            for pipeline, stage, count in rows(
                account.changelog_url,
                "SELECT pipeline_id, stage_id, open_deals FROM pipedrive.daily_pipeline "
                "WHERE day = %s AND open_deals <> 0",
                (day,),
            )
        )
        assert found == dict(expected), day
    assert rows(account.changelog_url, "SELECT min(day) FROM pipedrive.daily_pipeline") == [(first,)]
