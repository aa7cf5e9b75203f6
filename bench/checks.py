"""Check API benchmark: POST /v1/checks against the same server's GET /healthz.

Runs `verrou serve` (one uvicorn worker, and its check recorder process: VERROU_RECORDER in the
environment chooses process or thread) on loopback over a registry built from a synthetic
ANTS-shaped dump (1M rows by default; dump and registry are cached under --work, so a re-run
skips the ingest), then drives it from a separate load-generator process (asyncio, raw HTTP/1.1
keep-alive, request bytes built beforehand) and measures, in the same run:

  (1) checks/s at saturation: closed loop, --connections connections each sending its next
      check as soon as the answer arrives; warm-up, then --repeat back-to-back windows of
      --window seconds; the median is reported;
  (2) p50 / p99 latency at half that rate: open loop, requests sent on a fixed schedule whatever
      the server does, latency timed from each request's scheduled send time (so a stalled
      server cannot hide its stall: no coordinated omission);
  (3) baseline: GET /healthz at saturation, same generator, same connections, same windows.

Applicants (family name, given names, birth date, email, phone), cycled in a shuffled pool:
  ~1/3 leaked people taken from the dump's rows             -> step_up
  ~1/3 made-up people with made-up contacts                  -> clear
  ~1/3 made-up people using a leaked row's email and phone   -> step_up (stolen contact)
  3 % leaked people whose person key is frozen first         -> deny
Every answer's verdict is compared with the one expected from the registry.

Prints each figure beside its target (PASS/MISS; a miss does not fail the run), the errors (must
be 0), the verdict mix, and the CPU use of the server and of the generator in each phase: the
machine has 2 cores, the generator takes one and must not be the bottleneck. With SQLite each run
works on a copy of the cached registry (the audit log grows by one entry per check); with
--postgres-url the registry lives in schema verrou_bench_checks_<rows> of that database and its
audit log keeps growing across runs. Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import multiprocessing
import os
import queue
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
VERROU = [sys.executable, "-m", "verrou.cli"]
BREACH = "ants-2026"
#: The verdict member of an answer, however the JSON is spaced.
VERDICT = re.compile(rb'"verdict"\s*:\s*"([a-z_]+)"')
FINGERPRINT_KEY = "ab" * 32  # a fixed key, so the cached registry stays valid across runs

TARGET_CHECKS_PER_S = 2_000
TARGET_P99_MS = 25.0
TARGET_RATIO = 0.40

CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the registry ------------------------------------------------------------------------------


def make_dump(rows: int, folder: Path) -> Path:
    """The cached synthetic dump of ``rows`` rows (with its .truth.json), generated if missing."""
    path = folder / f"ants-{rows}.csv"
    truth = path.with_name(path.name + ".truth.json")
    if not (path.exists() and truth.exists()):
        print(f"generating a {rows:,}-row dump ...", flush=True)
        started = time.perf_counter()
        partial = path.with_name(path.name + ".partial.csv")
        subprocess.run(
            [*VERROU, "synth", "--rows", str(rows), "--format", "csv", "--out", str(partial)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        partial.with_name(partial.name + ".truth.json").rename(truth)
        partial.rename(path)
        print(f"  {time.perf_counter() - started:.1f} s")
    return path


def postgres_schema_url(url: str, schema: str) -> str:
    """``url`` with its search_path set to ``schema`` (created if missing)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def verrou_env(database_url: str, signing_key: Path, report_dir: Path) -> dict[str, str]:
    return dict(
        os.environ,
        VERROU_DATABASE_URL=database_url,
        VERROU_KEY=FINGERPRINT_KEY,
        VERROU_SIGNING_KEY_FILE=str(signing_key),
        VERROU_REPORT_DIR=str(report_dir),
    )


def ingest(dump: Path, env: dict[str, str]) -> None:
    """`verrou ingest` as an operator runs it. Idempotent: on a registry that already holds
    this dump it answers "already ingested" in a fraction of a second (that is the cache)."""
    started = time.perf_counter()
    done = subprocess.run(
        [*VERROU, "ingest", str(dump), "--breach", BREACH],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"verrou ingest failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    elapsed = time.perf_counter() - started
    if "already ingested" in done.stdout + done.stderr:
        print("registry: cached (dump already ingested)")
    else:
        print(f"registry: ingested {dump.name} in {elapsed:.1f} s")


# --- the applicants ----------------------------------------------------------------------------


@dataclass
class Pool:
    """Pre-built check bodies and the verdict each must get."""

    bodies: list[bytes] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    dropped: int = 0


def dump_rows(dump: Path, rows: int, wanted: int, seed: int) -> list[dict[str, str]]:
    """About ``wanted`` clean rows spread over the dump: well-formed, no deliberately broken
    cell, with name, given names, birth date, email and phone all present."""
    import csv

    truth = json.loads(dump.with_name(dump.name + ".truth.json").read_text())
    broken = {cell["row"] for cell in truth["broken_cells"]}
    broken.update(truth["malformed_rows"])
    broken.update(item["row"] for item in truth["duplicates"])
    picked = set(random.Random(seed).sample(range(1, rows + 1), min(rows, wanted * 2)))
    found: list[dict[str, str]] = []
    with open(dump, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader)
        for number, cells in enumerate(reader, start=1):
            if number not in picked or number in broken or len(cells) != len(header):
                continue
            row = dict(zip(header, cells, strict=True))
            needed = ("nom", "prenoms", "date_naissance", "email", "telephone")
            if all(row.get(name, "").strip() for name in needed):
                found.append(row)
    random.Random(seed).shuffle(found)
    return found[:wanted]


def build_pool(dump: Path, rows: int, size: int, store: Any, seed: int) -> Pool:
    """``size`` applicants (see the module docstring for the mix), their person keys frozen
    where they must be, and each one's expected verdict read from the registry itself."""
    from verrou.fingerprints import Fingerprinter
    from verrou.keys import load_fingerprint_key
    from verrou.registry.policy import Applicant, Freeze, InvalidApplicant, applicant_keys
    from verrou.settings import Settings
    from verrou.store.base import AuditDraft

    fingerprinter = Fingerprinter(load_fingerprint_key(Settings(key_value=FINGERPRINT_KEY)))
    rng = random.Random(seed)
    n_frozen = max(1, size * 3 // 100)
    n_leaked = size // 3
    n_unknown = size // 3
    n_stolen = size - n_frozen - n_leaked - n_unknown
    source = dump_rows(dump, rows, n_frozen + n_leaked + n_stolen, seed)
    if len(source) < n_frozen + n_leaked + n_stolen:
        raise SystemExit(f"the dump has too few clean rows for a pool of {size}: lower --pool")
    families = [row["nom"] for row in source]
    givens = [row["prenoms"] for row in source]

    def made_up_person() -> dict[str, str]:
        return {
            "family_name": rng.choice(families),
            "given_names": rng.choice(givens),
            "birth_date": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/"
            f"{rng.randint(1935, 2006)}",
        }

    def leaked_person(row: dict[str, str]) -> dict[str, str]:
        return {
            "family_name": row.get("nom_naissance") or row["nom"],
            "given_names": row["prenoms"],
            "birth_date": row["date_naissance"],
        }

    people: list[tuple[str, dict[str, str]]] = []
    for row in source[:n_frozen]:
        people.append(
            ("frozen", {**leaked_person(row), "email": row["email"], "phone": row["telephone"]})
        )
    for row in source[n_frozen : n_frozen + n_leaked]:
        people.append(
            ("leaked", {**leaked_person(row), "email": row["email"], "phone": row["telephone"]})
        )
    for row in source[n_frozen + n_leaked :]:
        people.append(
            (
                "stolen contact",
                {**made_up_person(), "email": row["email"], "phone": row["telephone"]},
            )
        )
    for n in range(n_unknown):
        # 09 numbers are valid French numbers the synthetic dumps never hold.
        people.append(
            (
                "unknown",
                {
                    **made_up_person(),
                    "email": f"demandeur.{seed}.{n}@courriel-banc-essai.fr",
                    "phone": f"09 {rng.randint(10_000_000, 99_999_999)}",
                },
            )
        )

    keyed = []
    now = datetime.now(UTC)
    for kind, body in people:
        try:
            keys = applicant_keys(Applicant(**body), fingerprinter)  # type: ignore[arg-type]
        except InvalidApplicant:
            continue  # a dump row the ingest rejected too; not a request to send
        if kind == "frozen":
            person = [key for key in keys if key.attribute == "person"]
            for key in person:
                store.place_freeze(
                    Freeze(key.fingerprint, "owner", "owner_request", now, False),
                    audit=AuditDraft("freeze.place", "owner", key.fingerprint.hex(), {}, now),
                )
        keyed.append((kind, body, keys))

    fingerprints = [key.fingerprint for _, _, keys in keyed for key in keys]
    hit = {h.fingerprint for h in store.lookup(fingerprints)}
    frozen = {f.fingerprint for f in store.freezes_for(fingerprints, now=now)[0]}
    pool = Pool()
    want = {"frozen": "deny", "leaked": "step_up", "stolen contact": "step_up", "unknown": "clear"}
    for kind, body, keys in keyed:
        if any(key.fingerprint in frozen for key in keys):
            verdict = "deny"
        elif any(key.fingerprint in hit for key in keys):
            verdict = "step_up"
        else:
            verdict = "clear"
        if verdict != want[kind]:
            pool.dropped += 1  # e.g. a made-up person who happens to exist; keep the mix clean
            continue
        pool.bodies.append(json.dumps(body, ensure_ascii=False).encode())
        pool.expected.append(verdict)
        pool.kinds[kind] += 1
    order = list(range(len(pool.bodies)))
    rng.shuffle(order)
    pool.bodies = [pool.bodies[i] for i in order]
    pool.expected = [pool.expected[i] for i in order]
    return pool


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """`verrou serve` in its own session (a Ctrl-C reaches us, and we stop it in order)."""
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [*VERROU, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(server: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"verrou serve exited ({server.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"verrou serve did not answer /healthz in {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful stop: the runner thread closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the load generator (a separate process) ---------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return float("nan")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live children (the server and its check recorder)."""
    total = process_cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            total += process_cpu_seconds(int(entry.name))
    return total


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine (every core), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def cpu_marks(server_pid: int) -> tuple[float, float, float, float]:
    """(wall, generator CPU, server CPU, machine CPU) seconds, for shares over a window."""
    return (
        time.perf_counter(),
        own_cpu_seconds(),
        tree_cpu_seconds(server_pid),  # the web process and its check recorder
        machine_cpu_seconds(),
    )


def cpu_shares(
    start: tuple[float, float, float, float], end: tuple[float, float, float, float]
) -> dict[str, float]:
    """Shares of one core used by the generator, the server and everything else."""
    wall = end[0] - start[0]
    gen, server, machine = ((end[i] - start[i]) / wall for i in (1, 2, 3))
    return {"gen_cpu": gen, "server_cpu": server, "other_cpu": max(0.0, machine - gen - server)}


@dataclass
class Phase:
    """What one phase saw."""

    name: str
    done: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    verdicts: collections.Counter[str] = field(default_factory=collections.Counter)
    unexpected: int = 0
    lost: int = 0
    latencies: list[float] = field(default_factory=list)


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (no pipelining)."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.index = -1
        self.scheduled = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.driver.lost(self)

    def send(self, index: int, data: bytes, scheduled: float) -> None:
        self.index, self.scheduled, self.busy = index, scheduled, True
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:  # chunked or broken: not what this server sends
                self.driver.phase.statuses[-1] += 1
                assert self.transport is not None
                self.transport.close()
                return
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop > 0 else None])
            total = end + 4 + length
            if len(buffer) < total:
                return
            status = int(buffer[9:12])
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            self.busy = False
            self.driver.answered(self, status, body)


class Driver:
    """Keeps --connections connections busy (closed loop) or feeds them on a schedule (open)."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.connections: list[Connection] = []
        self.idle: collections.deque[Connection] = collections.deque()
        self.pending: collections.deque[tuple[int, float]] = collections.deque()
        self.requests: list[bytes] = []
        self.expected: list[bytes] = []
        self.next = 0
        self.in_flight = 0
        self.mode = "idle"
        self.limit = 0
        self.sent = 0
        self.phase = Phase("setup")
        self.drained: asyncio.Future[None] | None = None
        self.closing = False

    async def connect(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            _, conn = await loop.create_connection(
                lambda: Connection(self), "127.0.0.1", self.plan["port"]
            )
            self.connections.append(conn)
            self.idle.append(conn)

    def lost(self, conn: Connection) -> None:
        if self.closing:
            return
        if conn in self.connections:
            self.connections.remove(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if conn.busy:
            self.phase.lost += 1
            self.in_flight -= 1
            self._maybe_drained()
        else:  # the server closed an idle keep-alive connection: replace it, not an error
            asyncio.get_running_loop().create_task(self.connect(1))

    def use(self, requests: list[bytes], expected: list[bytes]) -> None:
        self.requests, self.expected, self.next = requests, expected, 0

    def _send_next(self, conn: Connection, scheduled: float) -> None:
        index = self.next
        self.next = index + 1 if index + 1 < len(self.requests) else 0
        self.in_flight += 1
        self.sent += 1
        conn.send(index, self.requests[index], scheduled)

    def answered(self, conn: Connection, status: int, body: bytes) -> None:
        now = time.perf_counter()
        phase = self.phase
        phase.done += 1
        phase.statuses[status] += 1
        if self.mode == "open":
            phase.latencies.append(now - conn.scheduled)
        if status == 200:
            found = VERDICT.search(body)
            verdict = found.group(1) if found else body  # /healthz: the whole body
            phase.verdicts[verdict.decode(errors="replace")] += 1
            if verdict != self.expected[conn.index]:
                phase.unexpected += 1
        self.in_flight -= 1
        if self.mode == "closed" and self.sent < self.limit:
            self._send_next(conn, now)
        elif self.mode == "open" and self.pending:
            index, scheduled = self.pending.popleft()
            self.in_flight += 1
            conn.send(index, self.requests[index], scheduled)
        else:
            self.idle.append(conn)
            self._maybe_drained()

    def _maybe_drained(self) -> None:
        if self.in_flight == 0 and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    async def drain(self, timeout: float = 30) -> None:
        """Stop sending and wait for the answers in flight (those never answered are lost)."""
        self.mode = "idle"
        self.pending.clear()
        if self.in_flight:
            self.drained = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.drained, timeout)
            except TimeoutError:
                self.phase.lost += self.in_flight
                raise SystemExit(
                    f"{self.in_flight} requests unanswered after {timeout:.0f} s"
                ) from None
            finally:
                self.drained = None

    async def closed_loop(
        self, name: str, warmup: float, window: float, repeat: int
    ) -> dict[str, Any]:
        """Every connection sends again as soon as it is answered; counts in back-to-back
        windows after the warm-up."""
        self.phase = Phase(name)
        self.mode, self.sent, self.limit = "closed", 0, self.plan["max_requests"]
        started = time.perf_counter()
        while self.idle:
            self._send_next(self.idle.popleft(), started)
        await asyncio.sleep(warmup)
        pid = self.plan["server_pid"]
        marks = [(self.phase.done, cpu_marks(pid))]
        for _ in range(repeat):
            await asyncio.sleep(window)
            marks.append((self.phase.done, cpu_marks(pid)))
        await self.drain()
        rates = [(n1 - n0) / (c1[0] - c0[0]) for (n0, c0), (n1, c1) in itertools.pairwise(marks)]
        return {**self._summary(), "rates": rates, **cpu_shares(marks[0][1], marks[-1][1])}

    async def open_loop(self, name: str, rate: float, seconds: float) -> dict[str, Any]:
        """Requests sent on a fixed schedule, ``rate`` a second; a request that finds every
        connection busy waits in line, and its wait counts in its latency."""
        self.phase = Phase(name)
        self.mode = "open"
        count = max(1, int(rate * seconds))
        cpu_start = cpu_marks(self.plan["server_pid"])
        start = time.perf_counter() + 0.05
        sent = 0
        queued_max = 0
        while sent < count:
            now = time.perf_counter()
            due = min(count, int((now - start) * rate) + 1)
            while sent < due:
                scheduled = start + sent / rate
                index = self.next
                self.next = index + 1 if index + 1 < len(self.requests) else 0
                if self.idle:
                    self.in_flight += 1
                    self.idle.popleft().send(index, self.requests[index], scheduled)
                else:
                    self.pending.append((index, scheduled))
                    queued_max = max(queued_max, len(self.pending))
                sent += 1
            if sent < count:
                await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        while self.pending:  # let the line empty before draining
            await asyncio.sleep(0.01)
        await self.drain()
        elapsed = time.perf_counter() - start
        cpu = cpu_shares(cpu_start, cpu_marks(self.plan["server_pid"]))
        latencies = sorted(self.phase.latencies)

        def pct(p: float) -> float:
            return (
                latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
                if latencies
                else float("nan")
            )

        return {
            **self._summary(),
            "rate": rate,
            "sent": count,
            "achieved": self.phase.done / elapsed,
            "p50_ms": pct(0.50),
            "p90_ms": pct(0.90),
            "p99_ms": pct(0.99),
            "p999_ms": pct(0.999),
            "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
            "queued_max": queued_max,
            **cpu,
        }

    def _summary(self) -> dict[str, Any]:
        phase = self.phase
        return {
            "name": phase.name,
            "done": phase.done,
            "statuses": dict(phase.statuses),
            "verdicts": dict(phase.verdicts),
            "unexpected": phase.unexpected,
            "lost": phase.lost,
        }


async def run_load(plan: dict[str, Any]) -> dict[str, Any]:
    driver = Driver(plan)
    await driver.connect(plan["connections"])
    checks_expected = [verdict.encode() for verdict in plan["expected"]]
    results: dict[str, Any] = {}
    driver.use(plan["check_requests"], checks_expected)
    results["checks"] = await driver.closed_loop(
        "checks", plan["warmup"], plan["window"], plan["repeat"]
    )
    half = statistics.median(results["checks"]["rates"]) / 2
    await asyncio.sleep(1)
    results["open"] = await driver.open_loop("checks, open loop", half, plan["open_seconds"])
    await asyncio.sleep(1)
    driver.use([plan["healthz_request"]], [b'{"status": "ok"}'])
    results["healthz"] = await driver.closed_loop(
        "healthz", plan["healthz_warmup"], plan["window"], plan["repeat"]
    )
    driver.closing = True
    for conn in driver.connections:
        if conn.transport is not None:
            conn.transport.close()
    return results


def generate(plan: dict[str, Any], answers: Any) -> None:
    """Entry point of the generator process: runs every phase and sends back the figures."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us; Ctrl-C is its to handle
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    loop_name = "asyncio"
    try:
        import uvloop

        loop_factory, loop_name = uvloop.new_event_loop, "uvloop"
    except ImportError:
        pass
    started_cpu, started = own_cpu_seconds(), time.perf_counter()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            results = runner.run(run_load(plan))
    except BaseException as exc:  # report, so the parent can print it and stop the server
        answers.put({"error": f"{type(exc).__name__}: {exc}"})
        return
    results["loop"] = loop_name
    results["gen_cpu_total"] = (own_cpu_seconds() - started_cpu) / (time.perf_counter() - started)
    answers.put(results)


# --- main --------------------------------------------------------------------------------------


def http_request(
    method: str, path: str, port: int, api_key: str | None, body: bytes = b""
) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if api_key:
        head.append(f"Authorization: Bearer {api_key}")
    if body:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, help="rows of the synthetic dump (default 1,000,000; --quick 100,000)"
    )
    parser.add_argument(
        "--postgres-url",
        metavar="URL",
        help="bench PostgreSQL instead of SQLite, e.g. postgresql://postgres@127.0.0.1:5432/test",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=HERE / "out" / "checks",
        help="folder of the cached dump, registry and signing key (default bench/out/checks)",
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="concurrent keep-alive connections (64)"
    )
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (default 5; --quick 2)")
    parser.add_argument(
        "--window", type=float, help="seconds per measured window (default 10; --quick 3)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured windows; median (3)")
    parser.add_argument(
        "--open-seconds", type=float, help="seconds of the open-loop run (default 10; --quick 4)"
    )
    parser.add_argument(
        "--pool", type=int, default=9000, help="distinct applicants cycled through (9000)"
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=5_000_000,
        help="cap on the requests of one closed-loop phase (5,000,000)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 100,000 rows and short windows"
    )
    args = parser.parse_args()
    quick = {"rows": 100_000, "warmup": 2.0, "window": 3.0, "open_seconds": 4.0}
    full = {"rows": 1_000_000, "warmup": 5.0, "window": 10.0, "open_seconds": 10.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: dict[str, Any], args: argparse.Namespace, pool: Pool) -> None:
    checks, open_, health = results["checks"], results["open"], results["healthz"]
    rate = statistics.median(checks["rates"])
    health_rate = statistics.median(health["rates"])
    ratio = rate / health_rate
    p99 = open_["p99_ms"]

    def windows(rates: list[float]) -> str:
        return ", ".join(f"{r:,.0f}" for r in rates)

    print()
    print(f"{'':34} {'measured':>12}   {'target':<12}")
    print(
        f"{'(1) checks/s at saturation':34} {rate:>10,.0f}/s   >= {TARGET_CHECKS_PER_S:<9,}"
        f"  {mark(rate >= TARGET_CHECKS_PER_S)}"
    )
    print(
        f"{'(2) p99 latency at half load':34} {p99:>9.2f} ms   <= {TARGET_P99_MS:g} ms"
        f"     {mark(p99 <= TARGET_P99_MS)}"
    )
    print(f"{'(3) baseline GET /healthz/s':34} {health_rate:>10,.0f}/s")
    print(
        f"{'    checks/s / healthz/s':34} {ratio:>12.3f}   >= {TARGET_RATIO:<9.2f}"
        f"  {mark(ratio >= TARGET_RATIO)}"
    )
    print()
    print(
        f"(1) {args.connections} connections, closed loop, {args.repeat} x {args.window:g} s "
        f"windows: {windows(checks['rates'])} checks/s (median {rate:,.0f})"
    )
    print(
        f"(2) open loop at {open_['rate']:,.0f}/s for {args.open_seconds:g} s "
        f"({open_['sent']:,} sent, {open_['achieved']:,.0f}/s answered), "
        f"from scheduled send time:"
    )
    print(
        f"    p50 {open_['p50_ms']:.2f} ms, p90 {open_['p90_ms']:.2f} ms, p99 {p99:.2f} ms, "
        f"p99.9 {open_['p999_ms']:.2f} ms, max {open_['max_ms']:.2f} ms; "
        f"most requests waiting for a free connection: {open_['queued_max']}"
    )
    print(f"(3) same connections and windows: {windows(health['rates'])} /healthz/s")
    print()
    phases = (checks, open_, health)
    statuses: collections.Counter[int] = collections.Counter()
    for phase in phases:
        statuses.update({int(s): n for s, n in phase["statuses"].items() if s != 200})
    non_200 = sum(statuses.values())
    lost = sum(phase["lost"] for phase in phases)
    unexpected = checks["unexpected"] + open_["unexpected"]
    bad_health = health["unexpected"]
    errors = non_200 + lost + unexpected + bad_health
    by_status = f" {dict(statuses)}" if statuses else ""
    print(
        f"errors: {non_200} non-200{by_status}, {lost} unanswered, "
        f"{unexpected} unexpected verdicts, {bad_health} bad /healthz bodies"
        f"  {'(ok)' if errors == 0 else '(MUST BE 0)'}"
    )
    verdicts = collections.Counter(checks["verdicts"]) + collections.Counter(open_["verdicts"])
    total = sum(verdicts.values()) or 1
    mix = ", ".join(f"{v} {n / total:.1%}" for v, n in verdicts.most_common())
    sent = collections.Counter(pool.expected)
    meant = ", ".join(f"{v} {n / len(pool.expected):.1%}" for v, n in sent.most_common())
    print(f"verdicts seen: {mix} of {total:,} checks (pool of {len(pool.expected):,}: {meant})")
    print()
    other = "rest of machine" + (" (PostgreSQL too)" if args.postgres_url else "")
    print(f"CPU, share of one core ({os.cpu_count()} cores; generator on {results['loop']}):")
    named = (
        ("checks saturation", checks),
        ("checks half load", open_),
        ("healthz saturation", health),
    )
    for label, phase in named:
        print(
            f"  {label:<20} server {phase['server_cpu']:5.0%}   generator {phase['gen_cpu']:5.0%}"
            f"   {other} {phase['other_cpu']:5.0%}"
        )
    print(f"  generator over the whole run: {results['gen_cpu_total']:.0%}")


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    dump = make_dump(args.rows, args.work)
    signing_key = args.work / "signing.key"
    if not signing_key.exists():
        from verrou.signing import create_signing_key_file

        create_signing_key_file(signing_key)
    backend = "PostgreSQL" if args.postgres_url else "SQLite"
    print(
        f"dump: {dump} ({args.rows:,} rows), {backend}, {os.cpu_count()} CPUs, "
        f"{args.connections} connections"
    )
    if args.postgres_url:
        cached_url = postgres_schema_url(args.postgres_url, f"verrou_bench_checks_{args.rows}")
    else:
        cached_url = f"sqlite:///{args.work / f'registry-{args.rows}.sqlite3'}"
    ingest(dump, verrou_env(cached_url, signing_key, args.work / "reports"))

    with tempfile.TemporaryDirectory(dir=args.work, prefix="run-") as tmp:
        run_dir = Path(tmp)
        url = cached_url
        if not args.postgres_url:  # each run on a copy: the audit log grows with every check
            source = Path(cached_url.removeprefix("sqlite:///"))
            shutil.copyfile(source, run_dir / "registry.sqlite3")
            # Written back now, not during the measurement: a 200 MB copy's writeback otherwise
            # stalls SQLite's checkpoint fsyncs for hundreds of milliseconds mid-run.
            os.sync()
            url = f"sqlite:///{run_dir / 'registry.sqlite3'}"

        from verrou.store import open_store

        started = time.perf_counter()
        store = open_store(url)
        try:
            party, api_key = store.create_relying_party(
                "Bench Bank", "bank", rate_limit=100_000_000
            )
            pool = build_pool(dump, args.rows, args.pool, store, args.seed)
        finally:
            store.close()
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in pool.kinds.most_common())
        print(
            f"applicants: {kinds} ({pool.dropped} dropped: verdict not the one meant) "
            f"in {time.perf_counter() - started:.1f} s"
        )

        os.sync()  # the pool's freezes too: nothing left to write back during the load
        port = free_port()
        log = run_dir / "server.log"
        env = verrou_env(url, signing_key, run_dir / "reports")
        server = start_server(env, port, log)
        generator = None
        context = multiprocessing.get_context("spawn")
        answers = context.Queue()
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
        try:
            wait_ready(server, port, log)
            plan = {
                "port": port,
                "server_pid": server.pid,
                "connections": args.connections,
                "check_requests": [
                    http_request("POST", "/v1/checks", port, api_key, body) for body in pool.bodies
                ],
                "expected": pool.expected,
                "healthz_request": http_request("GET", "/healthz", port, None),
                "warmup": args.warmup,
                "healthz_warmup": min(args.warmup, 2.0),
                "window": args.window,
                "repeat": args.repeat,
                "open_seconds": args.open_seconds,
                "max_requests": args.max_requests,
            }
            planned = args.warmup + min(args.warmup, 2) + 2 * args.window * args.repeat
            planned += args.open_seconds + 2
            print(
                f"server pid {server.pid} on port {port}; load for about {planned:.0f} s ...",
                flush=True,
            )
            generator = context.Process(
                target=generate, args=(plan, answers), name="load-generator"
            )
            generator.start()
            deadline = time.monotonic() + planned + 120
            results = None
            while results is None:
                try:
                    results = answers.get(timeout=1)
                except queue.Empty:
                    if not generator.is_alive():
                        raise SystemExit(
                            f"the load generator died ({generator.exitcode})"
                        ) from None
                    if server.poll() is not None:
                        raise SystemExit(
                            f"verrou serve exited ({server.returncode}):\n{log.read_text()[-3000:]}"
                        ) from None
                    if time.monotonic() > deadline:
                        raise SystemExit("the load generator overran its time; stopped") from None
            if "error" in results:
                raise SystemExit(
                    f"load generator: {results['error']}\nserver log:\n{log.read_text()[-2000:]}"
                )
            generator.join(10)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the generator and the server")
            raise SystemExit(130) from None
        finally:
            if generator is not None and generator.is_alive():
                generator.terminate()
                generator.join(5)
            stop_process(server)
            if args.postgres_url:  # the bench key must not outlive the run
                store = open_store(url, migrate=False)
                try:
                    store.revoke_relying_party(party.id)
                finally:
                    store.close()
        report(results, args, pool)


if __name__ == "__main__":
    main()
