"""Tests of the reference-data cache: in-process TTL cache, real Redis, and a Redis that is down."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
from tap_pipedrive.cache import KEY_PREFIX, MetadataCache, cache_namespace
from tap_pipedrive.metrics import TapMetrics
from tap_pipedrive.resilience import ApiGuard, ResiliencePolicy

LOGGER = logging.getLogger("tap-cache-test")


class CountingLoader:
    """A loader that returns ``value`` and counts its calls."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


def cache_counts(metrics: TapMetrics) -> dict[str, float]:
    return {
        result: metrics.registry.get_sample_value("pipeboard_tap_cache_requests_total", {"result": result})
        or 0.0
        for result in ("hit", "miss", "error")
    }


@pytest.fixture
def namespace() -> str:
    """A namespace of its own for every test, so tests never see each other's keys."""
    return cache_namespace("http://127.0.0.1:8765", f"test-{uuid.uuid4()}")


@pytest.fixture
def redis_client(redis_url: str, namespace: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(match=f"{KEY_PREFIX}:{namespace}:*"):
        client.delete(key)
    client.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- pure helpers -----------------------------------------------------------------------------------------


def test_namespace_is_a_stable_fingerprint_of_host_and_company() -> None:
    first = cache_namespace("https://acme.pipedrive.com", "acme")

    assert first == cache_namespace("https://ACME.pipedrive.com/api/v2", "acme")
    assert first != cache_namespace("https://acme.pipedrive.com", "other")
    assert len(first) == 16
    assert "acme" not in first


def test_key_is_prefix_namespace_and_parts() -> None:
    cache = MetadataCache(None, 60, "abc123", TapMetrics(), LOGGER)

    assert cache.key(("fields", "deal")) == "pipeboard:tap-pipedrive:abc123:fields:deal"


@pytest.mark.parametrize("namespace", ["", "a:b"], ids=["empty", "colon"])
def test_namespace_must_be_a_plain_fingerprint(namespace: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        MetadataCache(None, 60, namespace, TapMetrics(), LOGGER)


# --- in-process -------------------------------------------------------------------------------------------


def test_in_process_cache_hits_after_a_miss_and_hands_out_copies(namespace: str) -> None:
    metrics = TapMetrics()
    cache = MetadataCache(None, 60, namespace, metrics, LOGGER)
    loader = CountingLoader({"options": [{"id": 1, "label": "Big"}]})

    first = cache.get_or_load(("fields", "deal"), loader)
    first["options"].clear()
    second = cache.get_or_load(("fields", "deal"), loader)

    assert second == {"options": [{"id": 1, "label": "Big"}]}
    assert loader.calls == 1
    assert cache_counts(metrics) == {"hit": 1, "miss": 1, "error": 0}
    assert not cache.uses_redis


def test_in_process_entries_expire_after_the_ttl(namespace: str) -> None:
    now = [1000.0]
    cache = MetadataCache(None, 60, namespace, TapMetrics(), LOGGER, clock=lambda: now[0])
    loader = CountingLoader([1, 2, 3])
    cache.get_or_load(("currencies",), loader)

    now[0] += 59.9
    cache.get_or_load(("currencies",), loader)
    assert loader.calls == 1
    now[0] += 0.1
    cache.get_or_load(("currencies",), loader)
    assert loader.calls == 2


# --- Redis ------------------------------------------------------------------------------------------------


def test_redis_cache_hits_after_a_miss_across_runs_with_the_ttl(
    redis_url: str, redis_client: redis.Redis, namespace: str
) -> None:
    metrics = TapMetrics()
    loader = CountingLoader([{"field_code": "abc", "field_name": "Budget"}])

    first_run = MetadataCache(redis_url, 300, namespace, metrics, LOGGER)
    loaded = first_run.get_or_load(("fields", "deal"), loader)
    second_run = MetadataCache(redis_url, 300, namespace, metrics, LOGGER)
    cached = second_run.get_or_load(("fields", "deal"), loader)

    key = f"{KEY_PREFIX}:{namespace}:fields:deal"
    assert cached == loaded == [{"field_code": "abc", "field_name": "Budget"}]
    assert loader.calls == 1
    assert cache_counts(metrics) == {"hit": 1, "miss": 1, "error": 0}
    assert 0 < redis_client.ttl(key) <= 300
    assert second_run.uses_redis


def test_redis_keys_of_real_field_metadata_carry_no_token(
    redis_url: str, redis_client: redis.Redis, namespace: str, make_emulator: Callable[..., Any]
) -> None:
    emulator = make_emulator(deals=20)
    guard = ApiGuard(ResiliencePolicy(), TapMetrics(), LOGGER)
    cache = MetadataCache(redis_url, 300, namespace, TapMetrics(), LOGGER)

    def load_deal_fields() -> Any:
        request = requests.Request(
            "GET", emulator.base_url + "/api/v2/dealFields", headers={"x-api-token": emulator.token}
        ).prepare()
        return guard.send(requests.Session(), request, endpoint="/api/v2/dealFields", token_cost=10).json()

    fields = cache.get_or_load(("fields", "deal"), load_deal_fields)

    keys = [key.decode() for key in redis_client.scan_iter(match=f"{KEY_PREFIX}:*")]
    ours = [key for key in keys if key.startswith(f"{KEY_PREFIX}:{namespace}:")]
    assert ours == [f"{KEY_PREFIX}:{namespace}:fields:deal"]
    assert not [key for key in keys if emulator.token in key]
    assert fields["data"]
    assert emulator.token not in str(redis_client.get(ours[0]))


def test_redis_down_continues_in_process_and_warns_once(
    namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER.name)
    metrics = TapMetrics()
    cache = MetadataCache(f"redis://:secret-pw@127.0.0.1:{closed_port()}/0", 60, namespace, metrics, LOGGER)
    loader = CountingLoader({"id": 7})

    values = [cache.get_or_load(("fields", kind), loader) for kind in ("deal", "deal", "person", "deal")]

    assert values == [{"id": 7}] * 4
    assert loader.calls == 2
    warnings = [record for record in caplog.records if "Redis" in record.getMessage()]
    assert len(warnings) == 1
    assert "continuing with an in-process cache" in warnings[0].getMessage()
    assert "secret-pw" not in caplog.text
    assert not cache.uses_redis
    assert cache_counts(metrics)["error"] == 1


def test_an_unreadable_redis_entry_is_reloaded_and_overwritten(
    redis_url: str, redis_client: redis.Redis, namespace: str
) -> None:
    cache = MetadataCache(redis_url, 300, namespace, TapMetrics(), LOGGER)
    key = cache.key(("fields", "note"))
    redis_client.set(key, b'{"cut in ha', ex=300)
    loader = CountingLoader({"key": "content"})

    assert cache.get_or_load(("fields", "note"), loader) == {"key": "content"}
    assert loader.calls == 1
    assert json.loads(redis_client.get(key)) == {"key": "content"}


def test_without_redis_url_the_in_process_cache_is_announced_only_when_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        cache = MetadataCache(None, 60, "abc123", TapMetrics(), LOGGER)
        cache.get_or_load(("fields", "deal"), lambda: [1])
        cache.get_or_load(("fields", "person"), lambda: [2])
        assert not [r for r in caplog.records if "in-process" in r.getMessage()]  # e.g. a discovery run
        cache.announce()

    announcements = [r for r in caplog.records if "in-process" in r.getMessage()]
    assert len(announcements) == 1
    assert not cache.uses_redis


def test_with_redis_url_nothing_is_announced(caplog: pytest.LogCaptureFixture, redis_url: str) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        MetadataCache(redis_url, 60, "abc123", TapMetrics(), LOGGER).announce()
    assert not [r for r in caplog.records if "redis_url" in r.getMessage()]
