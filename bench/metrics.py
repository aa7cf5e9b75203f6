"""Outcome-curve benchmark: the metrics query on a registry holding 1M checks recorded over
eighteen simulated months, and what keeping the counts costs a check, each beside a baseline
measured in the same run:

  (1) the registry: a synthetic ANTS-shaped dump ingested (20,000 rows by default), relying
      parties of five sectors, then --checks checks (1M by default) recorded through the check
      service in groups of 100 (one transaction each, as the recorder's group commit does), the
      clock stepping over 18 months from the breach's disclosure; 2/3 of the applicants leaked
      (some frozen, a few canaries), 1/3 unknown. Cached under --work: a re-run skips it.
  (2) the query: ``verrou metrics``' read (outcome_counts of one breach, then the curve by
      month and by week), median of --repeat runs, against the target of one second and
      against the baseline: the same curve computed by a full scan of the audit log;
  (3) the cost to a check: checks per second through the check service (groups of 32, the
      recorder's typical group) on a copy of the registry, with the counts kept, against the
      same store with the counts' upsert switched off; alternated rounds, medians.

Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checks as bench_checks  # noqa: E402  (the dump cache and the applicants' rows)
from verrou.fingerprints import Fingerprinter  # noqa: E402
from verrou.keys import FingerprintKey, key_id_for  # noqa: E402
from verrou.registry.audit import entry_from_content  # noqa: E402
from verrou.registry.checks import CheckRequest, CheckService  # noqa: E402
from verrou.registry.outcomes import curve, period_of  # noqa: E402
from verrou.registry.policy import Applicant, IdentityKey, applicant_keys  # noqa: E402
from verrou.registry.records import MEASURES, BreachInfo, RelyingParty  # noqa: E402
from verrou.registry.subjects import place_freeze  # noqa: E402
from verrou.signing import SigningKey  # noqa: E402
from verrou.store import open_store  # noqa: E402
from verrou.store.sqlite import SQLiteStore  # noqa: E402

DISCLOSED = datetime(2026, 4, 15, tzinfo=UTC)
SECTORS = ("bank", "payment", "telco", "insurer", "other")
TARGET_QUERY_S = 1.0
GROUP = 100


def fingerprinter() -> Fingerprinter:
    secret = bytes.fromhex(bench_checks.FINGERPRINT_KEY)
    return Fingerprinter(FingerprintKey(key_id_for(secret), secret))


def applicants(dump: Path, rows: int, fp: Fingerprinter, count: int) -> list[list[IdentityKey]]:
    """Key sets of ``count`` leaked people from the dump and ``count // 2`` made-up ones."""
    found = []
    for row in bench_checks.dump_rows(dump, rows, count, seed=5):
        applicant = Applicant(
            family_name=row.get("nom_naissance") or row["nom"],
            given_names=row["prenoms"],
            birth_date=row["date_naissance"],
            email=row["email"],
        )
        found.append(list(applicant_keys(applicant, fp)))
    rng = random.Random(6)
    for n in range(count // 2):
        made_up = Applicant(
            family_name="Inconnu",
            given_names=f"Personne{n}",
            birth_date=f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/"
            f"{rng.randint(1940, 2000)}",
            email=f"personne.{n}@verrou-bench.fr",
        )
        found.append(list(applicant_keys(made_up, fp)))
    return found


def record_checks(
    service: CheckService,
    parties: list[RelyingParty],
    pool: list[list[IdentityKey]],
    count: int,
    clock: list[datetime],
    *,
    start: datetime,
    span: timedelta,
    group: int,
    seed: int,
) -> float:
    """Record ``count`` checks in groups of ``group``, the clock moving from ``start`` over
    ``span``; checks per second."""
    rng = random.Random(seed)
    groups = max(1, count // group)
    started = time.perf_counter()
    for index in range(groups):
        clock[0] = start + span * (index / groups)
        requests = [
            CheckRequest(tuple(rng.choice(pool)), rng.choice(parties)) for _ in range(group)
        ]
        service.run(requests)
    return groups * group / (time.perf_counter() - started)


def build(args: argparse.Namespace) -> tuple[Path, int]:
    """The cached registry with ``args.checks`` checks, and the breach's id."""
    registry = args.work / f"metrics-{args.rows}-{args.checks}.sqlite3"
    if registry.exists():
        print(f"registry: cached ({registry.name})")
        store = open_store(f"sqlite:///{registry}")
        breach = store.get_breach(bench_checks.BREACH)
        store.close()
        assert breach is not None
        return registry, breach.id
    dump = bench_checks.make_dump(args.rows, args.work)
    partial = registry.with_name(registry.name + ".partial")
    partial.unlink(missing_ok=True)
    env = bench_checks.verrou_env(
        f"sqlite:///{partial}", args.work / "signing.key", args.work / "reports"
    )
    env["VERROU_LOOKUP_KINDS"] = "none"
    if not (args.work / "signing.key").exists():
        from verrou.signing import create_signing_key_file

        create_signing_key_file(args.work / "signing.key")
    bench_checks.ingest(dump, env)
    fp = fingerprinter()
    store = open_store(f"sqlite:///{partial}")
    store.ensure_breach(BreachInfo(name=bench_checks.BREACH, disclosed_at=DISCLOSED))
    parties = [
        store.create_relying_party(f"{sector} {n}", sector, at=DISCLOSED)[0]
        for sector in SECTORS
        for n in range(2)
    ]
    pool = applicants(dump, args.rows, fp, 3000)
    for keys in pool[:60]:  # some owners froze their identity
        place_freeze(
            store, keys, placed_by="owner", reason="owner_request", actor="bench", now=DISCLOSED
        )
    for keys in pool[60:66]:  # a few canaries
        place_freeze(
            store,
            keys,
            placed_by="operator",
            reason="canary",
            actor="bench",
            now=DISCLOSED,
            canary=True,
        )
    clock = [DISCLOSED]
    service = CheckService(store, SigningKey.generate(), clock=lambda: clock[0])
    print(f"recording {args.checks:,} checks over 18 months (groups of {GROUP}) ...", flush=True)
    rate = record_checks(
        service,
        parties,
        pool,
        args.checks,
        clock,
        start=DISCLOSED,
        span=timedelta(days=548),
        group=GROUP,
        seed=7,
    )
    print(f"  {rate:,.0f} checks/s")
    breach = store.get_breach(bench_checks.BREACH)
    store.close()
    assert breach is not None
    partial.rename(registry)
    return registry, breach.id


def timed(work: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return times, result


def full_scan_curve(store: Any, breach_name: str) -> dict[int, list[int]]:
    """The baseline: the same monthly curve (all sectors) by decoding every audit entry, as a
    registry without the counts would have to."""
    sums: dict[int, list[int]] = {}
    origin = DISCLOSED.date()
    for stored in store.audit_entries():
        entry = entry_from_content(
            stored.content, prev_hash=stored.prev_hash, entry_hash=stored.entry_hash
        )
        if entry.action != "check" or breach_name not in entry.details.get("breaches", ()):
            continue
        verdict = entry.details["verdict"]
        row = sums.setdefault(period_of(origin, entry.at.date(), "month"), [0] * len(MEASURES))
        row[0] += 1
        row[1] += verdict == "step_up"
        row[2] += verdict == "deny"
        row[4] += "canary" in entry.details.get("reasons", ())
    return sums


class _NoCounts(SQLiteStore):
    """The same store with the outcome counts' upsert switched off: the baseline of (3)."""

    def _count_outcomes(self, db: Any, tallies: Any) -> None:
        return None


def _reader(clock: list[datetime]) -> Callable[[], datetime]:
    return lambda: clock[0]


def check_rates(
    registry: Path, args: argparse.Namespace, pool: list[list[IdentityKey]]
) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"with the counts": [], "without": []}
    for round_ in range(args.repeat):
        for label, kind in (("with the counts", SQLiteStore), ("without", _NoCounts)):
            copy = args.work / f"copy-{label.replace(' ', '-')}.sqlite3"
            shutil.copyfile(registry, copy)
            store = kind(copy)
            parties = store.list_relying_parties()
            clock = [DISCLOSED + timedelta(days=100)]
            service = CheckService(store, SigningKey.generate(), clock=_reader(clock))
            rate = record_checks(
                service,
                parties,
                pool,
                args.cost_checks,
                clock,
                start=clock[0],
                span=timedelta(days=30),
                group=32,
                seed=round_,
            )
            rates[label].append(rate)
            store.close()
            copy.unlink()
    return rates


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the synthetic dump")
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--cost-checks", type=int, default=20_000, help="checks a round in (3)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("bench-work/metrics"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    registry, breach_id = build(args)
    store = open_store(f"sqlite:///{registry}")
    breach = store.get_breach(bench_checks.BREACH)
    assert breach is not None
    snapshot = store.audit_snapshot()
    entries = snapshot.last[0] if snapshot.last else 0
    print(f"(2) the metrics query on {args.checks:,} checks (audit log: {entries:,} entries)")

    def query(by: str) -> Any:
        return curve(breach, store.outcome_tallies(breach_id), by=by)  # type: ignore[arg-type]

    month_times, monthly = timed(lambda: query("month"), args.repeat)
    week_times, _ = timed(lambda: query("week"), args.repeat)
    scan_times, scanned = timed(lambda: full_scan_curve(store, breach.name), 1)
    month = statistics.median(month_times)
    print(
        f"  by month: median {month * 1000:8.1f} ms   by week: "
        f"{statistics.median(week_times) * 1000:.1f} ms   (target < {TARGET_QUERY_S:.0f} s: "
        f"{'PASS' if month < TARGET_QUERY_S else 'MISS'})"
    )
    scan = scan_times[0]
    print(f"  baseline, full scan of the audit log: {scan:8.1f} s   ({scan / month:,.0f}× slower)")
    same = all(
        monthly.at(p).counts()[:3] == tuple(scanned.get(p, [0, 0, 0])[:3]) for p in monthly.periods
    )
    print(f"  the two agree on checks, step_up and deny for every month: {same}")
    dump = bench_checks.make_dump(args.rows, args.work)
    pool = applicants(dump, args.rows, fingerprinter(), 3000)
    store.close()

    print(f"(3) the cost to a check: {args.cost_checks:,} checks a round, groups of 32")
    rates = check_rates(registry, args, pool)
    with_counts = statistics.median(rates["with the counts"])
    without = statistics.median(rates["without"])
    print(f"  with the counts   {with_counts:9,.0f} checks/s  ({1e6 / with_counts:.1f} µs a check)")
    print(f"  without           {without:9,.0f} checks/s  ({1e6 / without:.1f} µs a check)")
    print(
        f"  ratio {with_counts / without:.3f}: the counts cost "
        f"{1e6 / with_counts - 1e6 / without:+.1f} µs a check"
    )


if __name__ == "__main__":
    main()
