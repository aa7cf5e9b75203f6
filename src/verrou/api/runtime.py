"""What the API process keeps between requests: the group-commit check runner, the relying
parties' rate limits, the API-key cache and the Prometheus metrics.

Group commit: checks arriving together are decided and recorded in one store transaction by
one thread that owns its own store connection (:class:`CheckRunner`). The event loop never
waits on a write; each request awaits only its own verdicts, which exist once the transaction
that audits them committed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

from verrou.checks import CheckOutcome, CheckRequest, CheckService
from verrou.errors import StoreError, VerrouError
from verrou.store.base import RegistryStore, RelyingParty, api_key_hash

logger = logging.getLogger(__name__)

#: Most checks one transaction records.
MAX_GROUP: Final = 256


@dataclass
class _Pending:
    requests: Sequence[CheckRequest]
    future: asyncio.Future[list[CheckOutcome]]
    loop: asyncio.AbstractEventLoop


def _settle(
    future: asyncio.Future[list[CheckOutcome]],
    result: list[CheckOutcome] | None,
    error: BaseException | None,
) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)


class CheckRunner:
    """Runs checks in groups on one thread with its own :class:`CheckService`.

    ``open_service`` is called on that thread (a store connection belongs to the thread that
    uses it). A group's failure fails every request in it with the same error, and nothing of
    it was recorded.
    """

    def __init__(
        self,
        open_service: Callable[[], CheckService],
        *,
        on_group: Callable[[int], None] | None = None,
    ) -> None:
        self._open_service = open_service
        self._on_group = on_group
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="verrou-checks", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._startup_error is not None:
            raise self._startup_error

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(30)
            self._thread = None

    async def run(self, requests: Sequence[CheckRequest]) -> list[CheckOutcome]:
        """The outcomes of ``requests``, once recorded."""
        if self._thread is None:
            raise StoreError("the check runner is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[CheckOutcome]] = loop.create_future()
        self._queue.put(_Pending(requests, future, loop))
        return await future

    def _work(self) -> None:
        try:
            service = self._open_service()
        except BaseException as exc:
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                group = [first]
                size = len(first.requests)
                stop = False
                while size < MAX_GROUP:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    group.append(more)
                    size += len(more.requests)
                self._run_group(service, group)
                if stop:
                    return
        finally:
            service.store.close()

    def _run_group(self, service: CheckService, group: list[_Pending]) -> None:
        requests = [request for pending in group for request in pending.requests]
        try:
            outcomes = service.run(requests)
        except BaseException as exc:
            if not isinstance(exc, VerrouError):
                logger.exception("a group of %d checks failed unexpectedly", len(requests))
            for pending in group:
                pending.loop.call_soon_threadsafe(_settle, pending.future, None, exc)
            return
        if self._on_group is not None:
            self._on_group(len(requests))
        start = 0
        for pending in group:
            end = start + len(pending.requests)
            pending.loop.call_soon_threadsafe(_settle, pending.future, outcomes[start:end], None)
            start = end


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """A token bucket per relying party: ``limit`` checks a minute, bursts up to a tenth of it
    (at least the batch size that fits in the limit)."""

    default_limit: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def capacity(self, limit: int) -> float:
        return float(max(limit / 10, min(limit, 100), 1))

    def take(self, party: RelyingParty, count: int) -> float | None:
        """Take ``count`` checks from the party's allowance: None when allowed, else the
        seconds to wait before this many checks would be."""
        limit = party.rate_limit or self.default_limit
        per_second = limit / 60
        capacity = self.capacity(limit)
        now = self.clock()
        bucket = self._buckets.get(party.id)
        if bucket is None:
            bucket = self._buckets[party.id] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * per_second)
        bucket.updated = now
        if count <= bucket.tokens:
            bucket.tokens -= count
            return None
        if count > capacity:
            return math.inf
        return (count - bucket.tokens) / per_second


class KeyCache:
    """Relying parties by API key hash, remembered for ``ttl`` seconds after a lookup.

    Only found keys are remembered: a key created a moment ago works at once, and a flood of
    wrong keys costs one indexed read each. A revoked key stops working within ``ttl``.
    """

    def __init__(
        self,
        store: RegistryStore,
        ttl: float,
        clock: Callable[[], float],
        lock: threading.Lock | None = None,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._known: dict[bytes, tuple[RelyingParty, float]] = {}
        self._lock = lock or threading.Lock()

    def cached(self, api_key: str) -> RelyingParty | None:
        """The party of a key looked up less than ``ttl`` ago, else None (no store access)."""
        known = self._known.get(api_key_hash(api_key))
        if known is not None and known[1] > self._clock():
            return known[0]
        return None

    def party(self, api_key: str) -> RelyingParty | None:
        """The active party of a key, from the cache or the store (thread-safe: the lock
        keeps one store connection to one caller at a time)."""
        found = self.cached(api_key)
        if found is not None:
            return found
        digest = api_key_hash(api_key)
        now = self._clock()
        with self._lock:
            party = self._store.relying_party_by_key(api_key)
        if party is None:
            self._known.pop(digest, None)
        elif self._ttl > 0:
            if len(self._known) > 10_000:
                self._known.clear()
            self._known[digest] = (party, now + self._ttl)
        return party


class Metrics:
    """Prometheus metrics of one app (a registry of its own, so apps in tests don't clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.checks = Counter(
            "verrou_checks",
            "Checks answered, by verdict and relying-party sector.",
            ["verdict", "sector"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "verrou_check_request_seconds",
            "Time to answer a check request, from parsed body to signed verdicts.",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.groups = Histogram(
            "verrou_check_group_size",
            "Checks recorded per store transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.errors = Counter(
            "verrou_api_errors",
            "Error answers, by code.",
            ["code"],
            registry=self.registry,
        )
