"""Citizens benchmark: freeze-to-deny, "who checked me", and reports with their PDF, each beside
the check endpoint measured in the same run.

On a registry built from a synthetic ANTS-shaped dump (1M rows by default, cached under --work
as bench/checks.py does) whose audit log is grown to --audit-entries checks (1M by default: each
an entry and its rows in the checks index, a few hundred of them on the benchmark citizen), it
runs `verrou serve` on loopback with citizen sign-in against a real OpenID provider on loopback
(oidc-provider-mock, the tests' provider), signs in as a leaked citizen and measures:

  (1) freeze to first deny: POST /v1/citizen/freeze, then a bank's check of that citizen at
      once, again until it answers deny; the time from sending the freeze to that answer.
      --repeat times (lifting in between); median and worst. Target: under one second.
  (2) "who checked me": GET /v1/citizen/checks, --samples sequential requests; p50 and p99.
      Target: p99 under 50 ms.
  (3) reports per second, each with its PDF: POST /v1/citizen/reports then GET its PDF,
      --reports times in a row; the rate.

Baseline, in the same run and on the same connection style: POST /v1/checks of the same citizen,
--samples sequential requests (p50 and p99; and their rate). Not a test: nothing here passes or
fails.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checks as bench_checks  # noqa: E402  (the same registry cache and server helpers)

CLIENT_ID = "verrou-bench"
CLIENT_SECRET = "bench-secret-" + "x" * 32
SCOPE = "openid profile email"
TARGET_FREEZE_TO_DENY_S = 1.0
TARGET_WHO_P99_MS = 50.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def grow_audit_log(database_url: str, citizen: dict[str, str], entries: int, seed: int) -> None:
    """Record ``entries`` checks in the registry, in groups of 100 as the recorder does: random
    keys (no canonicalisation: the log and the index are what is measured), one check in
    ~2,500 on the citizen's person keys (a few hundred in all)."""
    from verrou.fingerprints import Fingerprinter
    from verrou.identifiers import Kind
    from verrou.keys import parse_key_value
    from verrou.registry.checks import CheckRequest, CheckService
    from verrou.registry.policy import Applicant, IdentityKey, applicant_keys
    from verrou.signing import SigningKey
    from verrou.store import open_store

    fingerprinter = Fingerprinter(parse_key_value(bench_checks.FINGERPRINT_KEY))
    mine = applicant_keys(
        Applicant(
            family_name=citizen["family_name"],
            given_names=citizen["given_names"],
            birth_date=citizen["birth_date"],
        ),
        fingerprinter,
    )
    rng = random.Random(seed)
    store = open_store(database_url)
    try:
        party = next(p for p in store.list_relying_parties() if p.name == "Banque Bench")
        service = CheckService(store, SigningKey.generate())
        done = 0
        started = time.perf_counter()
        while done < entries:
            group = []
            for _ in range(min(100, entries - done)):
                if rng.random() < 1 / 2500:
                    keys = tuple(mine)
                else:
                    keys = (IdentityKey("email", Kind.EMAIL, rng.randbytes(16)),)
                group.append(CheckRequest(keys, party))
            service.run(group)
            done += len(group)
            if done % 100_000 == 0:
                rate = done / (time.perf_counter() - started)
                print(f"  audit log: {done:,} checks recorded ({rate:,.0f}/s)", flush=True)
    finally:
        store.close()


def leaked_citizen(dump: Path, rows: int) -> dict[str, str]:
    row = bench_checks.dump_rows(dump, rows, 50, seed=7)[0]
    return {
        "family_name": row.get("nom_naissance") or row["nom"],
        "given_names": row["prenoms"],
        "birth_date": row["date_naissance"],
        "email": row["email"],
    }


def prepare(args: argparse.Namespace) -> tuple[str, dict[str, str], Path]:
    """The cached registry (dump ingested, relying party, audit log grown), copied for this run:
    its URL, the citizen, and the run's folder."""
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    dump = bench_checks.make_dump(args.rows, work)
    cached = work / f"registry-citizens-{args.rows}-{args.audit_entries}.sqlite3"
    signing = work / "signing.key"
    if not signing.exists():
        from verrou.signing import create_signing_key_file

        create_signing_key_file(signing)
    citizen = leaked_citizen(dump, args.rows)
    if not cached.exists():
        building = cached.with_name(cached.name + ".part")
        building.unlink(missing_ok=True)
        url = f"sqlite:///{building}"
        bench_checks.ingest(dump, bench_checks.verrou_env(url, signing, work / "reports"))
        from verrou.store import open_store

        store = open_store(url)
        try:
            store.create_relying_party("Banque Bench", "bank", rate_limit=10_000_000)
        finally:
            store.close()
        print(f"growing the audit log to {args.audit_entries:,} checks ...", flush=True)
        grow_audit_log(url, citizen, args.audit_entries, seed=11)
        building.replace(cached)
    run = Path(tempfile.mkdtemp(prefix="verrou-bench-citizens-"))
    copy = run / "registry.sqlite3"
    shutil.copyfile(cached, copy)
    return f"sqlite:///{copy}", citizen, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--audit-entries", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300, help="requests per latency figure")
    parser.add_argument("--repeat", type=int, default=15, help="freeze-to-deny measurements")
    parser.add_argument("--reports", type=int, default=20, help="reports filed, with PDFs")
    parser.add_argument("--work", type=Path, default=HERE / "out")
    args = parser.parse_args()

    import logging

    from oidc_provider_mock import run_server_in_thread

    from verrou.registry.contacts import create_contact_key_file
    from verrou.registry.sessions import create_session_key_file

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the provider's request log
    url, citizen, run = prepare(args)
    keys = run / "keys"
    create_session_key_file(keys / "session.key")
    create_contact_key_file(keys / "contact.key")
    port = bench_checks.free_port()
    base = f"http://127.0.0.1:{port}"
    with run_server_in_thread(port=0) as provider_server:
        issuer = f"http://localhost:{provider_server.server_port}"
        sub = f"bench-{secrets.token_hex(4)}"
        from verrou.cli.demo_citizen import franceconnect_claims

        claims = franceconnect_claims(citizen)
        httpx.put(f"{issuer}/users/{sub}", json=claims, timeout=10).raise_for_status()
        env = bench_checks.verrou_env(url, args.work / "signing.key", run / "reports")
        env |= {
            "VERROU_OIDC_ISSUER": issuer,
            "VERROU_OIDC_CLIENT_ID": CLIENT_ID,
            "VERROU_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "VERROU_OIDC_SCOPE": SCOPE,
            "VERROU_PUBLIC_URL": base,
            "VERROU_SESSION_KEY_FILE": str(keys / "session.key"),
            "VERROU_CONTACT_KEY_FILE": str(keys / "contact.key"),
            "VERROU_RATE_LIMIT": "10000000",
        }
        log = run / "server.log"
        server = bench_checks.start_server(env, port, log)
        try:
            bench_checks.wait_ready(server, port, log)
            results = measure(args, base, issuer, sub, citizen, url)
        finally:
            bench_checks.stop_process(server)
    report(args, results)
    shutil.rmtree(run, ignore_errors=True)


def measure(
    args: argparse.Namespace,
    base: str,
    issuer: str,
    sub: str,
    citizen: dict[str, str],
    url: str,
) -> dict[str, Any]:
    from verrou.store import open_store

    store = open_store(url)
    try:
        party = next(p for p in store.list_relying_parties() if p.name == "Banque Bench")
        _, api_key = store.create_relying_party("Banque Bench 2", "bank", rate_limit=10_000_000)
    finally:
        store.close()
    del party
    browser = httpx.Client(base_url=base, timeout=30)
    login = browser.get("/v1/citizen/login")
    approved = httpx.post(login.headers["location"], data={"sub": sub}, timeout=10)
    back = browser.get(approved.headers["location"])
    if back.status_code != 200:
        raise SystemExit(f"the benchmark citizen could not sign in: {back.text}")
    signed = back.json()
    csrf = {"X-CSRF-Token": signed["csrf_token"]}
    bank = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {api_key}"})
    applicant = {k: citizen[k] for k in ("family_name", "given_names", "birth_date")}

    def check() -> str:
        answer = bank.post("/v1/checks", json=applicant)
        answer.raise_for_status()
        verdict: str = answer.json()["verdict"]
        return verdict

    for _ in range(20):  # warm both paths
        check()
        browser.get("/v1/citizen/checks")

    # Baseline: the check endpoint, sequential.
    check_ms: list[float] = []
    started = time.perf_counter()
    for _ in range(args.samples):
        t = time.perf_counter()
        check()
        check_ms.append((time.perf_counter() - t) * 1000)
    check_rate = args.samples / (time.perf_counter() - started)

    # (2) who checked me.
    who_ms: list[float] = []
    seen = 0
    for _ in range(args.samples):
        t = time.perf_counter()
        answer = browser.get("/v1/citizen/checks")
        who_ms.append((time.perf_counter() - t) * 1000)
        answer.raise_for_status()
        seen = len(answer.json()["checks"])

    # (1) freeze to the first deny.
    to_deny: list[float] = []
    polls: list[int] = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        browser.post("/v1/citizen/freeze", headers=csrf).raise_for_status()
        tries = 1
        while check() != "deny":
            tries += 1
        to_deny.append(time.perf_counter() - t)
        polls.append(tries)
        browser.post("/v1/citizen/lift", headers=csrf).raise_for_status()

    # (3) reports with their PDF.
    recent = browser.get("/v1/citizen/checks").json()["checks"]
    disputed = [recent[0]["check_id"]] if recent else []
    started = time.perf_counter()
    pdf_bytes = 0
    for _ in range(args.reports):
        filed = browser.post(
            "/v1/citizen/reports", json={"disputed_check_ids": disputed}, headers=csrf
        )
        filed.raise_for_status()
        pdf = browser.get(filed.json()["pdf_url"])
        pdf.raise_for_status()
        pdf_bytes = len(pdf.content)
    reports_rate = args.reports / (time.perf_counter() - started)
    return {
        "check_ms": check_ms,
        "check_rate": check_rate,
        "who_ms": who_ms,
        "who_rows": seen,
        "to_deny": to_deny,
        "polls": polls,
        "reports_rate": reports_rate,
        "pdf_bytes": pdf_bytes,
    }


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    c50, c99 = percentile(r["check_ms"], 0.5), percentile(r["check_ms"], 0.99)
    w50, w99 = percentile(r["who_ms"], 0.5), percentile(r["who_ms"], 0.99)
    d50, dmax = statistics.median(r["to_deny"]), max(r["to_deny"])
    print()
    print(
        f"registry: {args.rows:,}-row dump, audit log of {args.audit_entries:,} checks, "
        f"SQLite, {os.cpu_count()} CPUs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"baseline POST /v1/checks (sequential)  p50 {c50:6.1f} ms  p99 {c99:6.1f} ms  "
        f"{r['check_rate']:,.0f}/s"
    )
    print(
        f"(2) GET /v1/citizen/checks             p50 {w50:6.1f} ms  p99 {w99:6.1f} ms  "
        f"({r['who_rows']} checks listed)  p99/check p99 {w99 / c99:.2f}x  "
        f"[target p99 < {TARGET_WHO_P99_MS:.0f} ms: {mark(w99 < TARGET_WHO_P99_MS)}]"
    )
    print(
        f"(1) freeze to first deny                median {d50 * 1000:6.1f} ms  worst "
        f"{dmax * 1000:6.1f} ms  (checks until deny: {max(r['polls'])} at most)  "
        f"median/check p50 {d50 * 1000 / c50:.1f}x  "
        f"[target < {TARGET_FREEZE_TO_DENY_S:.0f} s: {mark(dmax < TARGET_FREEZE_TO_DENY_S)}]"
    )
    fewer = r["check_rate"] / r["reports_rate"]
    print(
        f"(3) reports filed with their PDF        {r['reports_rate']:6.1f}/s  "
        f"(PDF {r['pdf_bytes'] / 1024:.0f} KiB)  checks/s are {fewer:.0f}x as many"
    )


if __name__ == "__main__":
    main()
