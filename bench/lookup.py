"""Private exposure check benchmark (RFC 9497 VOPRF over rbcl's libsodium), in one run:

  (1) the floor: raw ristretto255 scalar multiplications per second of the library, one core;
  (2) server VOPRF evaluations per second (``BlindEvaluate`` of one element with its proof: 5
      scalar multiplications, one of them on the base point), against floor / 5 (target: at
      least 80 % of it), and per element in batches of 8 (2n + 3 = 19 multiplications);
  (3) index build rate on a synthetic ANTS-shaped dump (1M rows by default): ``verrou ingest``
      with the index against the same ingest without it, values indexed per second per worker
      against the floor, and the batch function's indexer alone on one core;
  (4) end to end: ``verrou serve`` on loopback over the indexed registry, client processes
      running the package's client (canonicalise, blind, ask, verify the proof, finalise, test
      the tags) as fast as they can: lookups per second, response bytes per lookup (median and
      maximum), and every answer compared with the dump (leaked emails found, made-up ones not).

The machine has 2 cores: the server and the clients share them in (4), so that figure is a
floor of what a server alone does. Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import rbcl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checks as bench_checks  # noqa: E402  (the dump cache and the server helpers)
from verrou.identifiers.kinds import Kind  # noqa: E402
from verrou.lookup.index import LookupIndexer  # noqa: E402
from verrou.lookup.protocol import OprfKey  # noqa: E402
from verrou.oprf import Client, Mode, Server  # noqa: E402

TARGET_EVAL_RATIO = 0.80
OPRF_SEED = bytes(range(64, 96))  # a fixed key: the indexed registry stays valid across runs


def scalar_mults_per_second(rounds: int, count: int) -> list[float]:
    scalar = rbcl.crypto_core_ristretto255_scalar_random()
    point = rbcl.crypto_core_ristretto255_random()
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count):
            rbcl.crypto_scalarmult_ristretto255(scalar, point)
        rates.append(count / (time.perf_counter() - started))
    return rates


def evaluations_per_second(rounds: int, count: int, batch: int) -> list[float]:
    """Elements evaluated per second, in batches of ``batch`` with one proof each."""
    key = OprfKey.from_seed(OPRF_SEED)
    server = Server(key)
    client = Client(Mode.VOPRF, key.public)
    elements = [client.blind(f"value {i}".encode()).element for i in range(batch)]
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(count // batch):
            server.blind_evaluate(elements)
        rates.append((count // batch) * batch / (time.perf_counter() - started))
    return rates


def indexer_per_second(rounds: int, count: int) -> list[float]:
    """The batch function's indexer alone: values turned into index entries per second."""
    indexer = LookupIndexer.for_run(OprfKey.from_seed(OPRF_SEED), "ants-2026", [Kind.EMAIL])
    values = [f"someone.{i}@example.fr" for i in range(count)]
    records = np.arange(count, dtype=np.uint32)
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        indexer.entries(Kind.EMAIL, values, records)
        rates.append(count / (time.perf_counter() - started))
    return rates


def timed_ingest(dump: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """`verrou ingest --json` on a fresh registry: seconds and the report."""
    import json

    started = time.perf_counter()
    done = subprocess.run(
        [*bench_checks.VERROU, "ingest", str(dump), "--breach", bench_checks.BREACH, "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"verrou ingest failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.perf_counter() - started, json.loads(done.stdout)


def leaked_emails(dump: Path, rows: int, count: int, seed: int) -> list[str]:
    """Emails of ``count`` clean rows of the dump (no broken cell, no malformed record): the
    ones the ingest kept, so each must be found."""
    return [row["email"] for row in bench_checks.dump_rows(dump, rows, count, seed)]


def client_loop(
    url: str, key_id: str, emails: list[tuple[str, bool]], seconds: float, out: Any
) -> None:
    """One client process: look up the emails in turn for ``seconds``; report counts."""
    from verrou.errors import InvalidIdentifier
    from verrou.http.lookup import LookupClient
    from verrou.lookup.client import email_query

    done = wrong = 0
    sizes: list[int] = []
    with LookupClient(url, key_id=key_id) as client:
        client.directory()
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            email, leaked = emails[done % len(emails)]
            try:
                result = client.check(email_query(email))
            except InvalidIdentifier:
                done += 1
                continue
            sizes.append(result.response_bytes)
            wrong += bool(result.breaches) != leaked
            done += 1
        elapsed = time.perf_counter() - started
    out.put({"done": done, "wrong": wrong, "sizes": sizes, "elapsed": elapsed})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("bench-work/lookup"))
    parser.add_argument("--workers", type=int, default=2, help="ingest worker processes")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the micro figures")
    parser.add_argument("--clients", type=int, default=2, help="client processes in (4)")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of (4)")
    parser.add_argument(
        "--reuse-index",
        action="store_true",
        help="skip (3) when its indexed registry is there from an earlier run",
    )
    return parser.parse_args()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print("(1) floor and (2) server evaluations, one core, median of", args.repeat, "rounds")
    floor = median(scalar_mults_per_second(args.repeat, 20_000))
    single = median(evaluations_per_second(args.repeat, 5_000, 1))
    batched = median(evaluations_per_second(args.repeat, 5_000, 8))
    target = floor / 5
    print(f"  scalar multiplications/s (floor)      {floor:10,.0f}")
    print(
        f"  evaluations/s, 1 element + proof      {single:10,.0f}   floor/5 = {target:,.0f}: "
        f"{single / target:.0%} (target {TARGET_EVAL_RATIO:.0%}: "
        f"{'PASS' if single / target >= TARGET_EVAL_RATIO else 'MISS'})"
    )
    print(
        f"  evaluations/s, batches of 8 elements  {batched:10,.0f}   floor×8/19 = "
        f"{floor * 8 / 19:,.0f}: {batched / (floor * 8 / 19):.0%}"
    )
    alone = median(indexer_per_second(args.repeat, 20_000))
    print(
        f"  indexer alone, values/s               {alone:10,.0f}   {alone / floor:.0%} of the "
        "floor (1 multiplication + hash to the group a value)"
    )

    print(f"(3) index build: `verrou ingest` of {args.rows:,} rows, {args.workers} workers")
    dump = bench_checks.make_dump(args.rows, args.work)
    runs = args.work / "runs"
    key_file = args.work / "oprf.key"
    if not key_file.exists():
        from verrou.lookup.protocol import OPRF_KEY_DOCUMENT

        key = OprfKey.from_seed(OPRF_SEED)
        OPRF_KEY_DOCUMENT.write(key_file, key.key_id, key.seed)
    key = OprfKey.load_file(key_file)
    signing = args.work / "signing.key"
    if not signing.exists():
        from verrou.signing import create_signing_key_file

        create_signing_key_file(signing)
    if args.reuse_index and (runs / "with-the-index.sqlite3").exists():
        indexed = f"sqlite:///{runs / 'with-the-index.sqlite3'}"
        env = bench_checks.verrou_env(indexed, signing, runs / "reports")
        env.update(VERROU_OPRF_KEY_FILE=str(key_file))
        print("  (skipped: --reuse-index, the indexed registry of an earlier run)")
    else:
        env = index_build(args, dump, runs, key_file, signing, floor)
    end_to_end(args, dump, env, key)


def index_build(
    args: argparse.Namespace, dump: Path, runs: Path, key_file: Path, signing: Path, floor: float
) -> dict[str, str]:
    """(3): the ingest with and without the index; the environment of the indexed registry."""
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir()
    figures = {}
    for label, kinds in (("without the index", "none"), ("with the index", "all")):
        database = f"sqlite:///{runs / (label.replace(' ', '-') + '.sqlite3')}"
        env = bench_checks.verrou_env(database, signing, runs / "reports")
        env.update(
            VERROU_WORKERS=str(args.workers),
            VERROU_OPRF_KEY_FILE=str(key_file),
            VERROU_LOOKUP_KINDS=kinds,
        )
        seconds, report = timed_ingest(dump, env)
        values = sum(report["indexed"].values())
        figures[label] = (seconds, values, database, env)
        print(
            f"  {label:<18} {seconds:7.1f} s  {args.rows / seconds:9,.0f} rows/s"
            + (f"  {values:,} values indexed: {values / seconds:,.0f}/s" if values else "")
        )
    base_s = figures["without the index"][0]
    index_s, values, database, env = figures["with the index"]
    index_rate = values / (index_s - base_s) if index_s > base_s else float("nan")
    print(
        f"  index cost: {index_s - base_s:.1f} s more, {index_rate:,.0f} values/s over "
        f"{args.workers} workers = {index_rate / args.workers:,.0f}/s a worker, "
        f"{index_rate / args.workers / floor:.0%} of the floor; the ingest with it runs at "
        f"{base_s / index_s:.2f}× the speed of the ingest without"
    )

    return env


def end_to_end(args: argparse.Namespace, dump: Path, env: dict[str, str], key: OprfKey) -> None:
    """(4): clients against ``verrou serve`` over the indexed registry."""
    print(f"(4) end to end: {args.clients} client processes for {args.seconds:.0f} s")
    port = bench_checks.free_port()
    env.update(
        VERROU_LOOKUP_RATE_LIMIT="100000",
        VERROU_LOOKUP_GLOBAL_RATE_LIMIT="10000000",
        VERROU_RECORDER="thread",
    )
    log = args.work / "serve.log"
    server = bench_checks.start_server(env, port, log)
    try:
        bench_checks.wait_ready(server, port, log)
        leaked = leaked_emails(dump, args.rows, 500, seed=7)
        made_up = [f"personne.{i}.{random.randrange(10**9)}@verrou-bench.fr" for i in range(500)]
        pool = [(e, True) for e in leaked] + [(e, False) for e in made_up]
        random.Random(11).shuffle(pool)
        out: Any = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(
                target=client_loop,
                args=(
                    f"http://127.0.0.1:{port}",
                    key.key_id,
                    pool[i :: args.clients],
                    args.seconds,
                    out,
                ),
            )
            for i in range(args.clients)
        ]
        for proc in procs:
            proc.start()
        results = [out.get(timeout=args.seconds + 120) for _ in procs]
        for proc in procs:
            proc.join()
    finally:
        bench_checks.stop_process(server)
    done = sum(r["done"] for r in results)
    wrong = sum(r["wrong"] for r in results)
    sizes = [s for r in results for s in r["sizes"]]
    rate = sum(r["done"] / r["elapsed"] for r in results)
    print(
        f"  lookups/s (all clients)               {rate:10,.1f}   ({done:,} lookups, {wrong} wrong)"
    )
    print(
        f"  response bytes per lookup             median {statistics.median(sizes):,.0f}, "
        f"max {max(sizes):,}, min {min(sizes):,}"
    )


if __name__ == "__main__":
    main()
