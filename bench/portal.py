"""Portal benchmark: pages a second the portal serves, each beside GET /healthz of the same
server, measured in the same run.

Builds the demo's registry once (``verrou demo --no-serve``, --rows synthetic ANTS-shaped rows,
cached under --work), starts ``verrou serve`` on it (one uvicorn worker, the portal mounted,
citizen sign-in against a development OpenID provider started here), signs a citizen of the
leak and the demo operator in, then drives each page from a separate load-generator process
(asyncio, raw HTTP/1.1 keep-alive, --connections connections in a closed loop): warm-up, then
--repeat windows of --window seconds, alternating pages and /healthz so that a slow moment of
this noisy 2-core machine falls on both. Reported per page: the median rate, its ratio to
/healthz's median, and the median latency. Every answer must be 200 with the page's marker.

Pages: ``/`` (home: templates, translation), ``/me`` (the citizen's identity: session check,
exposures, who checked me: several store reads), ``/operator/breaches`` and
``/operator/breaches/ants-2026`` (figures, severity, timeline).

Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build(work: Path, rows: int) -> Path:
    folder = work / f"demo-{rows}"
    if not (folder / "registry.sqlite3").exists():
        print(f"building the demo registry ({rows:,} rows) in {folder} ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "verrou.cli",
                "demo",
                "--no-serve",
                "--rows",
                str(rows),
                "--dir",
                str(folder),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return folder


def a_leaked_person(folder: Path) -> dict[str, str]:
    dump = next((folder / "dumps").glob("ants-2026-*.csv"))
    with dump.open(encoding="utf-8", newline="") as source:
        for row in csv.DictReader(source, delimiter=";"):  # the synthetic dump's French columns
            if row.get("email") and row.get("nom") and row.get("date_naissance"):
                return {
                    "family_name": row["nom"],
                    "given_names": row["prenoms"],
                    "birth_date": row["date_naissance"],
                    "email": row["email"],
                }
    raise SystemExit("no usable row in the dump")


def server_env(folder: Path, port: int, issuer: str, secret: str) -> dict[str, str]:
    keys = folder / "keys"
    return os.environ | {
        "VERROU_DATABASE_URL": f"sqlite:///{folder / 'registry.sqlite3'}",
        "VERROU_KEY_FILE": str(keys / "fingerprint.key"),
        "VERROU_SIGNING_KEY_FILE": str(keys / "signing.key"),
        "VERROU_CONTACT_KEY_FILE": str(keys / "contact.key"),
        "VERROU_SESSION_KEY_FILE": str(keys / "session.key"),
        "VERROU_OPRF_KEY_FILE": str(keys / "oprf.key"),
        "VERROU_REPORT_DIR": str(folder / "reports"),
        "VERROU_OIDC_ISSUER": issuer,
        "VERROU_OIDC_CLIENT_ID": "verrou-bench",
        "VERROU_OIDC_CLIENT_SECRET": secret,
        "VERROU_OIDC_SCOPE": "openid profile email",
        "VERROU_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "VERROU_RECORDER": "thread",
    }


def wait_ready(server: subprocess.Popen[bytes], base: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("verrou serve exited")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("verrou serve did not start")


def sign_in_citizen(base: str, sub: str) -> str:
    import httpx

    browser = httpx.Client(base_url=base, timeout=30)
    login = browser.get("/v1/citizen/login?next=/me")
    approved = httpx.post(login.headers["location"], data={"sub": sub}, timeout=30)
    back = browser.get(approved.headers["location"])
    assert back.status_code == 303, back.text
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def sign_in_operator(base: str, password: str) -> str:
    import httpx

    browser = httpx.Client(base_url=base, timeout=30)
    page = browser.get("/operator/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    signed = browser.post(
        "/operator/signin",
        data={"name": "demo-operator", "password": password, "csrf": token.group(1)},
    )
    assert signed.status_code == 303, signed.text
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def request_bytes(path: str, port: int, cookie: str | None) -> bytes:
    head = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept-Language: fr"]
    if cookie:
        head.append(f"Cookie: {cookie}")
    return ("\r\n".join(head) + "\r\n\r\n").encode()


# --- the load generator (its own process) ---------------------------------------------------------


async def _one_connection(
    port: int, request: bytes, marker: bytes, until: float, latencies: list[float]
) -> tuple[int, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = bad = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200") or marker not in body:
                bad += 1
            done += 1
    finally:
        writer.close()
    return done, bad


async def _window(
    port: int, request: bytes, marker: bytes, seconds: float, connections: int
) -> dict[str, float]:
    latencies: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    results = await asyncio.gather(
        *(_one_connection(port, request, marker, until, latencies) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    done = sum(r[0] for r in results)
    return {
        "rate": done / elapsed,
        "bad": sum(r[1] for r in results),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
    }


def generate(plan: dict[str, Any], answers: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def run() -> dict[str, list[dict[str, float]]]:
        out: dict[str, list[dict[str, float]]] = {name: [] for name in plan["targets"]}
        for request, marker in plan["targets"].values():  # warm-up
            await _window(plan["port"], request, marker, plan["warmup"], plan["connections"])
        for _ in range(plan["repeat"]):
            for name, (request, marker) in plan["targets"].items():
                out[name].append(
                    await _window(
                        plan["port"], request, marker, plan["window"], plan["connections"]
                    )
                )
        return out

    answers.put(asyncio.run(run()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=Path("bench-work/portal"))
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--window", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import logging

    from oidc_provider_mock import run_server_in_thread

    from verrou.cli.demo_citizen import franceconnect_claims

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the provider's request log
    folder = build(args.work, args.rows)
    person = a_leaked_person(folder)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with run_server_in_thread(port=0) as provider:
        import httpx

        issuer = f"http://localhost:{provider.server_port}"
        httpx.put(f"{issuer}/users/bench", json=franceconnect_claims(person), timeout=10)
        server = subprocess.Popen(
            [sys.executable, "-m", "verrou.cli", "serve", "--port", str(port)],
            env=server_env(folder, port, issuer, "bench-secret"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(server, base)
            citizen = sign_in_citizen(base, "bench")
            password = (folder / "keys" / "operator.password").read_text().strip()
            operator = sign_in_operator(base, password)
            targets = {
                "/healthz": (request_bytes("/healthz", port, None), b"ok"),
                "/": (request_bytes("/", port, None), b"private-check"),
                "/me": (
                    request_bytes("/me", port, citizen),
                    b"France Titres",
                ),  # the breach's title
                "/operator/breaches": (
                    request_bytes("/operator/breaches", port, operator),
                    b"ants-2026",
                ),
                "/operator/breaches/ants-2026": (
                    request_bytes("/operator/breaches/ants-2026", port, operator),
                    b"ants-2026",
                ),
            }
            plan = {
                "port": port,
                "targets": targets,
                "connections": args.connections,
                "window": args.window,
                "warmup": args.warmup,
                "repeat": args.repeat,
            }
            answers: Any = multiprocessing.get_context("spawn").Queue()
            generator = multiprocessing.get_context("spawn").Process(
                target=generate, args=(plan, answers)
            )
            generator.start()
            results = answers.get(timeout=600)
            generator.join(30)
        finally:
            server.terminate()
            server.wait(30)
    health = statistics.median(w["rate"] for w in results["/healthz"])
    print(
        f"\nportal pages on SQLite, {args.rows:,} rows, {args.connections} connections, "
        f"median of {args.repeat} windows of {args.window:g} s"
    )
    print(f"{'page':<32}{'pages/s':>10}{'÷ /healthz':>12}{'p50 ms':>9}{'bad':>6}")
    for name, windows in results.items():
        rate = statistics.median(w["rate"] for w in windows)
        p50 = statistics.median(w["p50_ms"] for w in windows)
        bad = int(sum(w["bad"] for w in windows))
        print(f"{name:<32}{rate:>10,.0f}{rate / health:>12.3f}{p50:>9.1f}{bad:>6}")


if __name__ == "__main__":
    main()
