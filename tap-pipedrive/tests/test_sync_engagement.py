"""Installments, variations, participants, call logs, mail threads, filters and files in real syncs against
the emulator: full sync = its records, incremental runs read only changes, deletes marked, gates skipped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from tap_pipedrive.tap import TapPipedrive

STREAMS = (
    "deal_installments",
    "product_variations",
    "deal_participants",
    "call_logs",
    "mail_threads",
    "filters",
    "files",
)


def config_for(emulator: Any, **extra: Any) -> dict[str, Any]:
    return {"api_token": emulator.token, "api_url": emulator.base_url, "deal_history": "off", **extra}


def me(emulator: Any) -> int:
    return int(emulator.dataset.company["me_user_id"])


def truth(emulator: Any, stream: str) -> dict[Any, dict[str, Any]]:
    """What Pipedrive lists to the token for ``stream``: its user's call logs and mail, live files."""
    rows = emulator.records(stream)
    if stream in ("call_logs", "mail_threads"):
        rows = [r for r in rows if r["user_id"] == me(emulator)]
    if stream in ("files", "filters"):
        rows = [r for r in rows if r["active_flag"]]
    return {r["id"]: r for r in rows}


def requests_to(emulator: Any, fragment: str) -> list[Any]:
    return [r for r in emulator.request_log if fragment in r.path]


def activations(output: Any, stream: str) -> list[int]:
    return [
        m["version"] for m in output.messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
    ]


def assert_nothing_rejected(emulator: Any) -> None:
    assert {r.status for r in emulator.request_log} == {200}, Counter(
        (r.path, r.status) for r in emulator.request_log if r.status != 200
    )


@pytest.fixture
def emulator(make_emulator: Callable[..., Any]) -> Any:
    return make_emulator(deals=300, seed=21, rate_limits=False)


def test_a_full_sync_emits_every_record_pipedrive_lists_to_the_token(emulator, run_tap):
    output = run_tap(config_for(emulator))

    for stream in STREAMS:
        got = {r["id"]: r for r in output.records[stream]}
        assert set(got) == set(truth(emulator, stream)), stream
        assert got, stream
        assert activations(output, stream), f"{stream}: a first sync is complete and says so"
    installment = emulator.records("deal_installments")[0]
    assert {k: output.records["deal_installments"][0][k] for k in installment} == installment
    participant = emulator.records("deal_participants")[0]
    row = next(r for r in output.records["deal_participants"] if r["id"] == participant["id"])
    assert (row["deal_id"], row["person_id"]) == (participant["deal_id"], participant["person_id"])
    call = next(iter(truth(emulator, "call_logs").values()))
    row = next(r for r in output.records["call_logs"] if r["id"] == call["id"])
    assert row["duration"] == int(call["duration"])
    assert row["start_time"] == call["start_time"]
    thread = next(r for r in output.records["mail_threads"])
    assert isinstance(thread["read_flag"], bool)
    assert thread["is_deleted"] is False
    assert all(
        r["user_id"] == me(emulator) for r in output.records["call_logs"] + output.records["mail_threads"]
    )
    assert {len(requests_to(emulator, "/callLogs"))} == {-(-len(truth(emulator, "call_logs")) // 50)}
    assert_nothing_rejected(emulator)


def test_an_incremental_run_reads_only_what_changed(emulator, run_tap):
    first = run_tap(config_for(emulator))
    changes = emulator.mutate(
        add={"deal_installments": 2, "product_variations": 1, "deal_participants": 2, "files": 1},
        edit={"deal_installments": 1, "files": 2},
    )
    emulator.clear_log()

    second = run_tap(config_for(emulator), state=first.state)

    changed_deals = {
        emulator.dataset.records["deal_installments"][i]["deal_id"]
        for i in changes["added"]["deal_installments"] + changes["edited"]["deal_installments"]
    } | {
        emulator.dataset.records["deal_participants"][i]["deal_id"]
        for i in changes["added"]["deal_participants"]
    }
    listed = {r["id"] for r in second.records["deals"]}  # the changed ones and those at the bookmark's second
    assert changed_deals <= listed
    assert len(listed) < len(first.records["deals"]) // 4
    assert {r["deal_id"] for r in second.records["deal_installments"]} <= listed
    assert {r["deal_id"] for r in second.records["deal_participants"]} <= listed
    assert set(changes["added"]["deal_installments"]) | set(changes["edited"]["deal_installments"]) <= {
        r["id"] for r in second.records["deal_installments"]
    }
    assert set(changes["added"]["deal_participants"]) <= {
        r["id"] for r in second.records["deal_participants"]
    }
    variation = emulator.dataset.records["product_variations"][changes["added"]["product_variations"][0]]
    products = {r["id"] for r in second.records["products"]}
    assert variation["product_id"] in products
    assert len(products) < len(first.records["products"]) // 2
    assert {r["product_id"] for r in second.records["product_variations"]} <= products
    assert variation["id"] in {r["id"] for r in second.records["product_variations"]}
    assert len(requests_to(emulator, "/variations")) == len(products)
    assert len(requests_to(emulator, "/deals/installments")) == 1

    files = {r["id"] for r in second.records["files"]}
    assert set(changes["added"]["files"]) | set(changes["edited"]["files"]) <= files
    old_mark = first.state["bookmarks"]["files"]["replication_key_value"]
    assert all(
        r["update_time"] == old_mark
        for r in second.records["files"]
        if r["id"] not in changes["added"]["files"] + changes["edited"]["files"]
    )
    assert len(requests_to(emulator, "/v1/files")) == 1
    for stream in ("deal_installments", "product_variations", "deal_participants", "files"):
        assert not activations(second, stream), f"{stream}: an increment is not a complete read"
    assert_nothing_rejected(emulator)


@pytest.mark.parametrize(
    "stream",
    ["call_logs", "mail_threads", "filters", "deal_installments", "product_variations", "deal_participants"],
)
def test_records_deleted_in_pipedrive_are_left_out_of_the_complete_read_that_marks_them(
    emulator, run_tap, stream
):
    config = config_for(emulator, reconcile_interval_hours=0)
    first = run_tap(config)
    if stream in ("call_logs", "mail_threads"):  # only the token's user's are listed: delete one of them
        doomed = sorted(truth(emulator, stream))[:1]
        with emulator.lock:
            for rid in doomed:
                del emulator.dataset.records[stream][rid]
            emulator.index.invalidate()
    else:
        doomed = emulator.mutate(delete={stream: 2})["deleted"][stream]
    assert doomed
    assert set(doomed) <= {r["id"] for r in first.records[stream]}

    second = run_tap(config, state=first.state)

    got = {r["id"] for r in second.records[stream] if not r["is_deleted"]}  # filters list theirs, marked
    assert not got & set(doomed)
    assert got == set(truth(emulator, stream))
    assert activations(second, stream), f"{stream}: the complete read ends with ACTIVATE_VERSION"
    assert_nothing_rejected(emulator)


@pytest.mark.parametrize("stream", ["files", "filters"])
def test_a_deleted_file_or_filter_listed_with_its_flag_is_marked_by_the_incremental_run(
    make_emulator, run_tap, stream
):
    emulator = make_emulator(deals=200, seed=4, rate_limits=False, list_deleted=True)
    first = run_tap(config_for(emulator))
    doomed = emulator.mutate(delete={stream: 2})["deleted"][stream]

    second = run_tap(config_for(emulator), state=first.state)

    marked = {r["id"]: r for r in second.records[stream] if r["is_deleted"]}
    assert set(doomed) <= set(marked)
    for rid in doomed:
        expected = emulator.dataset.records[stream][rid]["update_time"].replace(" ", "T") + "Z"
        assert marked[rid]["_sdc_deleted_at"] == expected
    assert_nothing_rejected(emulator)


GATED = [
    ("/api/v2/deals/installments", 403, "deal_installments"),
    ("/api/v2/products/{id}/variations", 402, "product_variations"),
    ("/api/v1/deals/{id}/participants", 403, "deal_participants"),
    ("/api/v1/callLogs", 403, "call_logs"),
    ("/api/v1/mailbox/mailThreads", 403, "mail_threads"),
    ("/api/v1/files", 402, "files"),
    ("/api/v1/filters", 403, "filters"),
]


@pytest.mark.parametrize(("path", "status", "stream"), GATED, ids=[g[2] for g in GATED])
def test_a_stream_the_plan_or_permissions_refuse_is_skipped_once_and_the_run_goes_on(
    make_emulator, run_tap, caplog, path, status, stream
):
    emulator = make_emulator(deals=120, seed=8, rate_limits=False, gates={path: status})

    with caplog.at_level("WARNING"):
        output = run_tap(config_for(emulator))

    assert not output.records[stream]
    assert not activations(output, stream)
    assert {r["id"] for r in output.records["deals"]} == {d["id"] for d in emulator.records("deals")}
    skipped = [r.getMessage() for r in caplog.records if "Skipping stream" in r.getMessage()]
    assert len(skipped) == 1, skipped
    assert stream in skipped[0]
    assert len([r for r in emulator.request_log if r.status == status]) == 1
    for other in set(STREAMS) - {stream}:
        assert {r["id"] for r in output.records[other]} == set(truth(emulator, other)), other


def test_the_lite_plan_leaves_installments_out_and_the_run_succeeds(make_emulator, run_tap):
    emulator = make_emulator(deals=120, seed=8, rate_limits=False, plan="lite")

    output = run_tap(config_for(emulator))

    assert not output.records["deal_installments"]
    assert [r.status for r in requests_to(emulator, "/deals/installments")] == [403]
    assert output.records["deal_participants"]


def only(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """The catalog with just ``streams`` selected."""
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def test_deal_participants_spread_over_runs_under_the_token_share_and_each_deal_is_asked_once(
    make_emulator, run_tap
):
    emulator = make_emulator(deals=200, seed=31, plan="lite", seats=1)  # a 30,000-token day
    config = config_for(emulator, token_budget_share=0.005)  # 150 tokens a run
    catalog = only(TapPipedrive(config=config).catalog_dict, {"deals", "deal_participants"})
    emulator.clear_log()
    runs: list[Any] = []
    while len(runs) < 16:
        seen = len(emulator.request_log)
        output = run_tap(config, state=runs[-1].state if runs else {}, catalog=catalog)
        runs.append(output)
        assert sum(r.token_cost for r in emulator.request_log[seen:]) <= 150
        pending = output.state["bookmarks"].get("deal_participants", {}).get("pending_parent_ids")
        partitions = output.state["bookmarks"]["deals"].get("partitions", [])
        # Done when nothing waits and the deals stream has read both its partitions: it may stop on the budget
        # before the archived one, whose deals then become pending in a later run.
        if not pending and len(partitions) == 2 and all("replication_key_value" in p for p in partitions):
            break

    assert not pending, f"participants still pending after {len(runs)} runs: {pending}"
    assert len(runs) > 2, "the participants did not need several runs"
    asked = [r.path for r in emulator.request_log if r.path.endswith("/participants")]
    # A deal is asked again only when the deals stream re-emits it at its inclusive bookmark's second (known
    # cost: Pipedrive's updated_since is inclusive; the re-emitted deal's participants are read again).
    twice = {int(path.split("/")[-2]) for path, n in Counter(asked).items() if n > 1}
    bookmarks = {p["replication_key_value"] for p in partitions}
    deals = {d["id"]: d for d in emulator.records("deals")}
    assert all(deals[d]["update_time"].replace(".000", "") in bookmarks for d in twice), twice
    assert max(Counter(asked).values()) <= 2
    with_participants = {r["deal_id"] for r in emulator.records("deal_participants")}
    assert {int(path.split("/")[-2]) for path in asked} == with_participants
    got = {r["id"] for run in runs for r in run.records["deal_participants"]}
    assert got == {r["id"] for r in emulator.records("deal_participants")}
    assert_nothing_rejected_but_budget(emulator)


def assert_nothing_rejected_but_budget(emulator: Any) -> None:
    # The Lite plan has no Projects: its field metadata answers 403 at discovery, and the tap skips projects.
    refused = {r.path for r in emulator.request_log if r.status == 403}
    assert refused <= {"/api/v2/projectFields"}, refused
    assert {r.status for r in emulator.request_log} <= {200, 403, 429}
