"""Cache of slow-changing reference responses (field metadata…): Redis with a TTL, else in-process."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis

from tap_pipedrive.metrics import TapMetrics

KEY_PREFIX = "pipeboard:tap-pipedrive"
"""Every Redis key the tap writes starts with this, then the namespace, then the key parts."""

REDIS_TIMEOUT_SECONDS = 2.0
"""Connect and command timeout: a slow Redis must cost a sync seconds at most, once."""


def cache_namespace(api_host: str, company: str | None) -> str:
    """A non-reversible fingerprint of the Pipedrive account the tap reads (API host and company).

    Never pass the API token here: the namespace ends up in Redis keys.

    Args:
        api_host: The API base URL or host the tap talks to.
        company: The company domain or id, when known.

    Returns:
        16 hex characters.
    """
    host = urlsplit(api_host).netloc or api_host
    digest = hashlib.sha256(f"{host.lower()}|{company or ''}".encode()).hexdigest()
    return digest[:16]


_MISSING = object()
"""What ``_decode`` returns for an absent or unreadable entry."""


def _decode(cached: bytes | None) -> Any:
    """The value of a Redis entry; ``_MISSING`` when absent or not valid JSON (it is then reloaded)."""
    if cached is None:
        return _MISSING
    try:
        return json.loads(cached)
    except ValueError:
        return _MISSING


def _redis_location(url: str) -> str:
    """host:port/db of a Redis URL, without credentials, for log messages."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}{parts.path or ''}"


class MetadataCache:
    """``get_or_load`` reference data through Redis (TTL) or, without Redis, an in-process TTL cache.

    Any Redis error is logged once and the cache carries on in-process for the rest of the run: a cache never
    fails a sync. Values must be JSON-serialisable; every caller gets its own copy.

    Args:
        redis_url: Redis URL, or None for the in-process cache only.
        ttl_seconds: How long an entry lives.
        namespace: Fingerprint of the account (see ``cache_namespace``), never the token.
        metrics: Receives hit / miss / error counts.
        logger: Where the one Redis warning goes.
        clock: Monotonic clock of the in-process entries' expiry (injectable for tests).
    """

    def __init__(
        self,
        redis_url: str | None,
        ttl_seconds: int,
        namespace: str,
        metrics: TapMetrics,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"cache_ttl must be a positive number of seconds, got {ttl_seconds}")
        if not namespace or ":" in namespace:
            raise ValueError(
                f"Cache namespace must be a non-empty fingerprint without ':', got {namespace!r}"
            )
        self.ttl_seconds = int(ttl_seconds)
        self.namespace = namespace
        self._metrics = metrics
        self._logger = logger
        self._clock = clock
        self._lock = threading.Lock()
        self._local: dict[str, tuple[float, str]] = {}
        self._redis_location = _redis_location(redis_url) if redis_url else None
        self._redis: redis.Redis | None = None
        if redis_url:
            self._redis = redis.Redis.from_url(
                redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
            )

    def announce(self) -> None:
        """Say, once per sync, where metadata is cached when no Redis is configured (not when discovering)."""
        if self._redis_location is None:
            self._logger.info("No redis_url set: caching field metadata in-process for this run only")

    @property
    def uses_redis(self) -> bool:
        """True while look-ups go to Redis (False without a URL or after a Redis error)."""
        return self._redis is not None

    def key(self, key_parts: tuple[str, ...]) -> str:
        """The full cache key of ``key_parts``: ``pipeboard:tap-pipedrive:<namespace>:<part>:<part>…``."""
        if not key_parts:
            raise ValueError("A cache key needs at least one part")
        return ":".join((KEY_PREFIX, self.namespace, *key_parts))

    def get_or_load(self, key_parts: tuple[str, ...], loader: Callable[[], Any]) -> Any:
        """Return the cached value for ``key_parts``, calling ``loader`` (and caching its result) on a miss.

        Args:
            key_parts: What identifies the value, e.g. ``("fields", "deal")``.
            loader: Produces the value (JSON-serialisable); its exceptions propagate.

        Returns:
            A fresh copy of the cached or loaded value.
        """
        key = self.key(key_parts)
        client = self._redis
        if client is not None:
            try:
                cached = client.get(key)
            except (redis.RedisError, OSError) as exc:
                self._fall_back(exc)
            else:
                value = _decode(cached)
                if value is not _MISSING:
                    self._metrics.cache_result("hit")
                    return value
                self._metrics.cache_result("miss")
                text = json.dumps(loader())
                try:
                    client.set(key, text, ex=self.ttl_seconds)
                except (redis.RedisError, OSError) as exc:
                    self._fall_back(exc)
                    self._store_local(key, text)
                return json.loads(text)
        return self._local_get_or_load(key, loader)

    def _local_get_or_load(self, key: str, loader: Callable[[], Any]) -> Any:
        now = self._clock()
        with self._lock:
            entry = self._local.get(key)
        if entry is not None and entry[0] > now:
            self._metrics.cache_result("hit")
            return json.loads(entry[1])
        self._metrics.cache_result("miss")
        text = json.dumps(loader())
        self._store_local(key, text)
        return json.loads(text)

    def _store_local(self, key: str, text: str) -> None:
        with self._lock:
            self._local[key] = (self._clock() + self.ttl_seconds, text)

    def _fall_back(self, exc: Exception) -> None:
        """Stop using Redis for this run; log once, count an error."""
        with self._lock:
            client, self._redis = self._redis, None
        self._metrics.cache_result("error")
        if client is None:
            return
        self._logger.warning(
            "Redis cache at %s is unavailable (%s); continuing with an in-process cache for this run",
            self._redis_location,
            type(exc).__name__,
        )
        try:
            client.close()
        except (redis.RedisError, OSError):
            self._logger.debug("Closing the failed Redis client raised", exc_info=True)
