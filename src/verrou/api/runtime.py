"""What the API process keeps between requests: the check recorder, the relying parties'
rate limits, the API-key cache and the Prometheus metrics.

Group commit: the checks of every request waiting at one moment are canonicalised, decided,
recorded and signed together, in one store transaction
(:func:`verrou.registry.checks.run_jobs`), by a *recorder* fed from a queue. The event loop never
waits on the store; each request awaits only its own verdicts, which exist once the transaction
that audits them committed.

Both recorders are driven from the event loop by one grouping loop (``_GroupCommit``, with
:func:`take_group`: the waiting jobs in order, up to :data:`MAX_GROUP` checks, skipping the
requests cancelled while they waited); they differ only in where a group runs:

* :class:`ProcessRecorder` (the default, ``VERROU_RECORDER=process``) runs the work in a child
  process of its own. The web process parses HTTP on one core while the recorder decides and
  signs on another; the fingerprint and signing keys are used only in the recorder (the web
  process reads them at start to hand them over). If the child dies, its group fails closed
  (503) and a new child takes over.
* :class:`ThreadRecorder` (``VERROU_RECORDER=thread``) runs it on one thread of the web
  process: one process, no spawn cost (the in-process tests use it).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily

from verrou.api.recording import RecorderKeys, RecorderStore
from verrou.errors import InvalidApplicant, RecorderFailed, StoreError, VerrouError
from verrou.registry.checks import CheckJob, JobResult, SignedVerdict
from verrou.registry.records import MEASURES, RelyingParty, Tally, api_key_hash
from verrou.store.protocols import RegistryStore

logger = logging.getLogger(__name__)

#: Most checks one transaction records.
MAX_GROUP: Final = 256


def tune_garbage_collector() -> None:
    """Fewer cyclic collections for a long-running server.

    A check allocates thousands of short-lived objects, almost none of them in cycles, and with
    the default threshold (700 allocations) the collector ran several times a request and took
    about a tenth of the CPU. Objects made at start-up (the app, the metadata of phonenumbers,
    compiled patterns) are moved out of the collector's sight, and young collections run ten
    times less often; cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0 * 10, gen1, gen2)


@dataclass
class _Pending:
    """A job waiting for its verdicts, with the loop its request runs on."""

    job: CheckJob
    future: asyncio.Future[list[SignedVerdict]]
    loop: asyncio.AbstractEventLoop


def take_group(waiting: collections.deque[_Pending]) -> tuple[list[_Pending], int]:
    """The next group to record, taken from the front of ``waiting``, and its number of checks.

    Jobs are taken in order up to :data:`MAX_GROUP` checks (a first job larger than that is
    taken alone: a batch is never split). A job whose request was cancelled while it waited
    (the client went away) is dropped, not recorded: no verdict was given, so there is nothing
    to audit and no owner to alert, and a client cannot make us work for answers it does not
    read. A job already in a group is recorded even if its request is cancelled meanwhile:
    every verdict that exists is audited. Both recorders group with this one function.
    """
    group: list[_Pending] = []
    size = 0
    while waiting:
        pending = waiting[0]
        if group and size + len(pending.job.applicants) > MAX_GROUP:
            break
        waiting.popleft()
        if pending.future.done():  # cancelled while waiting: nothing to record
            continue
        group.append(pending)
        size += len(pending.job.applicants)
    return group, size


def _settle(
    future: asyncio.Future[list[SignedVerdict]],
    result: JobResult | None,
    error: BaseException | None,
) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    elif isinstance(result, InvalidApplicant):
        future.set_exception(result)
    else:
        assert result is not None
        future.set_result(result)


def _settle_probe(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(None)


def _unexpected(exc: BaseException, size: int) -> VerrouError:
    """What a group's requests are answered when recording it failed: our error as is, a bug
    logged and answered with a sentence of ours."""
    if isinstance(exc, VerrouError):
        return exc
    logger.error("a group of %d checks failed unexpectedly", size, exc_info=exc)
    return RecorderFailed("internal error while recording checks; it was logged")


class _GroupCommit:
    """The one grouping loop of both recorders, on the event loop: checks and probes wait in
    ``_pending`` and ``_probes`` while one group is with the recorder; its answer settles that
    group and sends the next (:func:`take_group`). Subclasses say where a group runs:
    :meth:`_dispatch` hands it over, and the answer comes back through :meth:`_answered`."""

    def __init__(self, on_group: Callable[[int], None] | None) -> None:
        self._on_group = on_group
        self._pending: collections.deque[_Pending] = collections.deque()
        self._in_flight: list[_Pending] | None = None
        self._probes: list[asyncio.Future[None]] = []
        self._in_flight_probes: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    async def run(self, job: CheckJob) -> list[SignedVerdict]:
        """The signed verdicts of ``job``, once recorded; :class:`InvalidApplicant` when one of
        its applicants is invalid (then nothing of it was recorded)."""
        if self._loop is None or self._stopped:
            raise StoreError("the check recorder is not running")
        future: asyncio.Future[list[SignedVerdict]] = self._loop.create_future()
        self._pending.append(_Pending(job, future, self._loop))
        if self._in_flight is None:
            self._send()
        return await future

    async def probe(self) -> None:
        """Return once the recorder took a write transaction on its store (:class:`StoreError`
        if it cannot, or if there is no recorder), in turn with the groups."""
        if self._loop is None or self._stopped:
            raise StoreError("the check recorder is not running")
        future: asyncio.Future[None] = self._loop.create_future()
        self._probes.append(future)
        if self._in_flight is None:
            self._send()
        await future

    def _can_send(self) -> bool:
        """Whether a group can be handed over now (else the subclass arranged for later)."""
        raise NotImplementedError

    def _dispatch(self, probe: bool, jobs: list[CheckJob]) -> None:
        """Hand a group over; its outcome comes back through :meth:`_answered`."""
        raise NotImplementedError

    def _send(self) -> None:
        if not self._can_send():
            return
        group, _ = take_group(self._pending)
        probes, self._probes = self._probes, []
        if not group and not probes:
            return
        self._in_flight, self._in_flight_probes = group, probes
        self._dispatch(bool(probes), [pending.job for pending in group])

    def _answered(self, status: str, payload: Any) -> None:
        """The recorder's outcome of the group in flight: ("ok", results) or ("failed", error)."""
        group, self._in_flight = self._in_flight or [], None
        probes, self._in_flight_probes = self._in_flight_probes, []
        if status != "ok":
            self._fail(group, payload)
        else:
            if self._on_group is not None and group:
                self._on_group(sum(len(pending.job.applicants) for pending in group))
            for pending, result in zip(group, payload, strict=True):
                _settle(pending.future, result, None)
        for waiting in probes:
            _settle_probe(waiting, payload if status != "ok" else None)
        if self._pending or self._probes:
            self._send()

    @staticmethod
    def _fail(group: list[_Pending], error: BaseException) -> None:
        for pending in group:
            _settle(pending.future, None, error)

    def _fail_probes(self, error: BaseException) -> None:
        probes = self._probes + self._in_flight_probes
        self._probes, self._in_flight_probes = [], []
        for waiting in probes:
            _settle_probe(waiting, error)

    def _fail_all(self, error: BaseException) -> None:
        self._fail(list(self._pending) + (self._in_flight or []), error)
        self._pending.clear()
        self._in_flight = None
        self._fail_probes(error)


class ThreadRecorder(_GroupCommit):
    """Records on one thread of the web process, with its own store connection: the jobs
    queued while it records one group make the next (grouped on the event loop, as the
    process recorder does)."""

    def __init__(
        self, keys: RecorderKeys, *, on_group: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(on_group)
        self._keys = keys
        self._recorder: RecorderStore | None = None
        # One thread: the recorder's store connection is used from it only.
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._recording: asyncio.Future[tuple[str, Any]] | None = None

    async def start(self) -> None:
        """Start the thread and wait until it tried to open its store connection."""
        self._loop = asyncio.get_running_loop()
        thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="verrou-recorder")
        recorder = RecorderStore(self._keys)
        try:
            await self._loop.run_in_executor(thread, recorder.open)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        self._thread, self._recorder = thread, recorder

    def begin_shutdown(self) -> None:
        """The server is stopping (nothing to do: the thread stops with :meth:`stop`)."""

    async def stop(self) -> None:
        self._stopped = True
        thread, recorder, recording = self._thread, self._recorder, self._recording
        self._thread, self._recorder = None, None
        if recording is not None:  # the group being recorded is answered
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(recording), 30)
        if thread is not None:
            if recorder is not None:
                await asyncio.get_running_loop().run_in_executor(thread, recorder.close)
            thread.shutdown(wait=False)
        self._fail_all(StoreError("the server is stopping"))

    def _can_send(self) -> bool:
        return self._thread is not None and not self._stopped

    def _dispatch(self, probe: bool, jobs: list[CheckJob]) -> None:
        assert self._loop is not None and self._thread is not None
        self._recording = self._loop.run_in_executor(self._thread, self._record, probe, jobs)
        self._recording.add_done_callback(self._recorded)

    def _record(self, probe: bool, jobs: list[CheckJob]) -> tuple[str, Any]:
        """On the recorder's thread: the group's outcome, never raised."""
        assert self._recorder is not None
        try:
            return "ok", self._recorder.run(jobs, probe=probe)
        except BaseException as exc:
            return "failed", _unexpected(exc, sum(len(job.applicants) for job in jobs))

    def _recorded(self, recording: asyncio.Future[tuple[str, Any]]) -> None:
        self._recording = None
        if recording.cancelled():
            self._answered("failed", StoreError("the check recorder stopped"))
            return
        status, payload = recording.result()
        self._answered(status, payload)


#: Signals that stop the server: the web process handles them, never the recorder child.
_PARENT_OWNED_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM})


def _recorder_process(conn: Connection, keys: RecorderKeys) -> None:
    """The child's loop: (probe?, jobs) in, results out, until the pipe closes or says stop.

    The web process owns shutdown: Ctrl-C in a terminal signals the whole process group, and a
    child that died of it mid-read printed a KeyboardInterrupt traceback and made the parent
    start another recorder while stopping. The child ignores SIGINT and SIGTERM; it stops when
    told to, or when the pipe closes because the parent is gone. The signals were blocked
    from its start (see :func:`_spawn_recorder`): one sent while it was importing is dropped
    here, when they are unblocked with their handlers set to ignore.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_OWNED_SIGNALS)
    try:
        recorder = RecorderStore(keys)
        recorder.open()  # a store not usable yet is retried by the groups, not fatal
    except BaseException as exc:
        conn.send(("failed", _portable(exc)))
        return
    tune_garbage_collector()
    conn.send(("ready", None))
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            probe, jobs = message
            try:
                conn.send(("ok", recorder.run(jobs, probe=probe)))
            except BaseException as exc:
                conn.send(("failed", _portable(exc)))
    finally:
        recorder.close()


def _portable(exc: BaseException) -> VerrouError:
    """An error that crosses the pipe intact: the store's, or a bug's (logged here)."""
    if isinstance(exc, StoreError):
        return StoreError(exc.message)
    if isinstance(exc, VerrouError):
        return RecorderFailed(exc.message)
    logger.error("check recorder failed", exc_info=exc)
    return RecorderFailed("internal error while recording checks; it was logged")


def _spawn_recorder(keys: RecorderKeys) -> tuple[Connection, Any]:
    """A new recorder child and our end of its pipe, once it says it is ready (blocking)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_recorder_process, args=(child, keys), name="verrou-recorder")
    process.daemon = True
    # The child inherits this thread's signal mask through fork and exec: with the stopping
    # signals blocked, a Ctrl-C while it imports (before it can ignore them) cannot kill it.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_OWNED_SIGNALS)
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    child.close()
    try:
        status, error = parent.recv()
    except EOFError:
        status, error = "failed", StoreError("the check recorder could not start")
    if status != "ready":
        process.join(10)
        parent.close()
        raise error
    return parent, process


# The pipe's framing, as one pair: the child speaks to its end with the standard library's
# blocking Connection (send/recv), and the web process speaks the same frames to its end as an
# asyncio stream. The standard library offers no asyncio Connection: ours on the event loop's
# non-blocking socket failed large messages with BlockingIOError (Connection.send assumes a
# blocking file descriptor; a recorder "died" every few thousand checks under load), and
# driving a blocking Connection from a thread costs a thread hop per group, which the loop
# avoids. So these two functions write and read exactly Connection's frames, and nothing else
# here knows the format.


def _frame(message: object) -> bytes:
    """``message`` as :class:`multiprocessing.connection.Connection` frames it (the child reads
    with ``Connection.recv``): a signed 32-bit length, or -1 and a 64-bit one, then the pickle."""
    data = ForkingPickler.dumps(message)
    size = len(data)
    header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
    return header + bytes(data)


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message the child sent with ``Connection.send`` (see :func:`_frame`)."""
    (size,) = struct.unpack("!i", await reader.readexactly(4))
    if size == -1:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return pickle.loads(await reader.readexactly(size))


class ProcessRecorder(_GroupCommit):
    """Records in a child process (spawned: it shares no connection with the web process).

    Driven from the event loop itself, with no thread: our end of the pipe is an asyncio
    stream. While one group is with the child, the checks that arrive wait in ``_pending``; the
    child's answer settles that group and sends the next. If the child dies, the group it held
    fails closed (503) and a new child is spawned in the background; checks arriving meanwhile
    wait for it, and get 503 if it cannot start. Once the server is stopping, no new child is
    started.
    """

    def __init__(
        self, keys: RecorderKeys, *, on_group: Callable[[int], None] | None = None
    ) -> None:
        super().__init__(on_group)
        self._keys = keys
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._process: Any = None
        self._starting = False
        self._shutting_down = False

    async def start(self) -> None:
        """Spawn the child and wait until it is ready (refuses to start without one)."""
        self._loop = asyncio.get_running_loop()
        conn, process = await self._loop.run_in_executor(None, _spawn_recorder, self._keys)
        await self._attach(conn, process)

    def begin_shutdown(self) -> None:
        """The server is stopping: requests still being answered are, but a recorder that dies
        now is not replaced (called from the signal handler, before the lifespan's stop)."""
        self._shutting_down = True

    async def stop(self) -> None:
        self._stopped = True
        writer, process, reading = self._writer, self._process, self._reading
        self._writer, self._process, self._reading = None, None, None
        if reading is not None:
            reading.cancel()
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write(_frame(None))
                await writer.drain()
            writer.close()
        if process is not None:
            await asyncio.get_running_loop().run_in_executor(None, process.join, 10)
            if process.is_alive():
                process.kill()
        self._fail_all(StoreError("the server is stopping"))

    @property
    def pid(self) -> int | None:
        """The recorder child's process id (tests kill it)."""
        return None if self._process is None else int(self._process.pid)

    # --- on the event loop ----------------------------------------------------------------

    async def _attach(self, conn: Connection, process: Any) -> None:
        # Our end of the pipe (a socket pair) becomes an asyncio stream; the child keeps its
        # blocking Connection, whose framing _frame and _read_frame speak.
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        conn.close()
        reader, writer = await asyncio.open_connection(sock=sock)
        self._writer, self._process = writer, process
        self._reading = asyncio.create_task(self._read_answers(reader))
        if (self._pending or self._probes) and self._in_flight is None:
            self._send()

    def _can_send(self) -> bool:
        if self._writer is None:
            self._respawn()
            return False
        return True

    def _dispatch(self, probe: bool, jobs: list[CheckJob]) -> None:
        assert self._writer is not None
        self._writer.write(_frame((probe, jobs)))

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                status, payload = await _read_frame(reader)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # EOF, reset: the child is gone
                self._lost(exc)
                return
            self._answered(status, payload)

    def _lost(self, cause: BaseException) -> None:
        """The child is gone: its group fails closed, and a new child is started."""
        process, writer = self._process, self._writer
        self._process, self._writer, self._reading = None, None, None
        if writer is not None:
            writer.close()
        exit_code = None
        if process is not None:
            process.join(1)
            exit_code = process.exitcode
            if process.is_alive():
                process.kill()
                process.join(10)
        group, self._in_flight = self._in_flight or [], None
        error = StoreError("the check recorder stopped; no verdict was given")
        error.__cause__ = cause
        if self._stopped or self._shutting_down:
            logger.info("the check recorder process stopped (exit code %s)", exit_code)
        else:
            logger.error(
                "the check recorder process stopped (%s, exit code %s); starting a new one",
                type(cause).__name__,
                exit_code,
            )
        self._fail(group, error)
        self._fail_probes(error)
        self._respawn()

    def _respawn(self) -> None:
        if self._starting or self._stopped or self._shutting_down or self._loop is None:
            if self._shutting_down:  # no recorder will come: nothing may wait for one
                stopping = StoreError("the server is stopping")
                self._fail(list(self._pending), stopping)
                self._pending.clear()
                self._fail_probes(stopping)
            return
        self._starting = True
        self._loop.create_task(self._restart())

    async def _restart(self) -> None:
        assert self._loop is not None
        try:
            conn, process = await self._loop.run_in_executor(None, _spawn_recorder, self._keys)
        except BaseException as exc:
            self._starting = False
            error = exc if isinstance(exc, StoreError) else StoreError("no check recorder")
            self._fail(list(self._pending), error)
            self._pending.clear()
            self._fail_probes(error)
            return
        self._starting = False
        if self._stopped:
            process.kill()
            return
        await self._attach(conn, process)


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """A token bucket per relying party: ``limit`` checks a minute, bursts up to a tenth of it
    (at least 1), as the README says.

    A batch larger than the burst (the API takes up to 100 applicants a request) is let through
    only from a full bucket, which it leaves in debt: the party then waits until the refill has
    paid for the whole batch, so over any period it never gets more than its limit, and a
    batch the API accepts is never refused forever.
    """

    default_limit: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def capacity(self, limit: int) -> float:
        """The burst: a tenth of a minute's allowance, at least one check."""
        return float(max(limit / 10, 1))

    def take(self, party: RelyingParty, count: int) -> float | None:
        """Take ``count`` checks from the party's allowance: None when allowed, else the
        seconds to wait before this many checks would be."""
        return self.take_key(party.id, party.rate_limit or self.default_limit, count)

    def take_key(
        self, key: str, limit: int, count: int, *, burst: float | None = None
    ) -> float | None:
        """:meth:`take` for any allowance of ``limit`` a minute named ``key`` (a client
        address, or one key for everyone); ``burst`` replaces the tenth-of-a-minute burst
        (a sign-in form allows a whole minute's attempts at once: people mistype)."""
        per_second = limit / 60
        capacity = self.capacity(limit) if burst is None else max(float(burst), 1.0)
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_ALLOWANCES:
                self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * per_second)
        bucket.updated = now
        if count <= bucket.tokens or (count > capacity and bucket.tokens >= capacity):
            bucket.tokens -= count
            return None
        return (min(count, capacity) - bucket.tokens) / per_second

    def _forget_idle(self, now: float) -> None:
        # An allowance untouched for a minute is full again: forgetting it changes nothing.
        # Keeps per-address allowances from growing without end under a flood of addresses.
        for key in [k for k, b in self._buckets.items() if now - b.updated >= 60]:
            del self._buckets[key]


#: Allowances a limiter keeps before it forgets the idle ones.
MAX_ALLOWANCES = 100_000


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


class OutcomeTotals:
    """The outcome counts' running totals per breach, sector and measure, as Prometheus
    counters (``verrou_breach_outcomes_total``). They live in the registry, kept by every
    check's transaction whichever process recorded it: ``/metrics`` reads them again
    (:meth:`refresh`) before each scrape, so they survive restarts and count every recorder."""

    def __init__(self) -> None:
        self._totals: list[tuple[str, Tally]] = []

    def refresh(self, totals: list[tuple[str, Tally]]) -> None:
        self._totals = totals

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "verrou_breach_outcomes",
            "What happened to the identities each breach exposed, by relying-party sector: "
            "checks, step_up and deny verdicts, identity-theft reports, canary hits.",
            labels=["breach", "sector", "measure"],
        )
        for breach, tally in self._totals:
            for measure, count in zip(MEASURES, tally.counts(), strict=True):
                family.add_metric([breach, tally.sector, measure], count)
        yield family


class Metrics:
    """Prometheus metrics of one app (a registry of its own, so apps in tests don't clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.outcomes = OutcomeTotals()
        self.registry.register(self.outcomes)
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
        self.lookups = Counter(
            "verrou_lookup_evaluations",
            "Private-check evaluations answered, by kind (nothing else is known of them).",
            ["kind"],
            registry=self.registry,
        )
        self.errors = Counter(
            "verrou_api_errors",
            "Error answers, by code.",
            ["code"],
            registry=self.registry,
        )
