"""End to end: ``verrou serve`` over a real PostgreSQL cluster that is stopped under it.

The cluster is private to this test (initdb into a temp dir, its own loopback port), so the
shared server other tests use is never touched. While it is down, every check must fail closed
(503 ``store_unavailable``, never a verdict); once it is back, the server must answer again
without a restart.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import verrou
from conftest import LEAKED_PEOPLE, ingest_leak
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.signing import create_signing_key_file
from verrou.store import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

#: Bound on anything that waits: a server start, a cluster start, a reconnect.
WAIT_SECONDS = 15.0
HTTP_TIMEOUT = httpx.Timeout(5.0)


def _unavailable(reason: str) -> None:
    """Skip, or fail when PostgreSQL is required here (mirrors conftest.require_postgres)."""
    if os.environ.get("VERROU_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here (VERROU_REQUIRE_POSTGRES=1): {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster on a loopback port, trust auth, socket in its own dir."""

    bindir: Path
    folder: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data")]
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=WAIT_SECONDS + 5
        )

    def init(self) -> None:
        done = subprocess.run(
            [
                *self.run_as,
                str(self.bindir / "initdb"),
                "-D",
                str(self.folder / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            _unavailable(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        done = self._pg_ctl(
            "-l", str(self.folder / "server.log"), "-o", options, "-w", "-t", "15", "start"
        )
        assert done.returncode == 0, f"pg_ctl start failed: {done.stderr}\n{self.log()}"

    def stop(self, mode: str = "immediate") -> None:
        done = self._pg_ctl("-m", mode, "-w", "-t", "15", "stop")
        assert done.returncode == 0, f"pg_ctl stop failed: {done.stderr}\n{self.log()}"

    def running(self) -> bool:
        return self._pg_ctl("status").returncode == 0

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql")
    assert bindir is not None
    # A short folder under /tmp: the unix socket path must stay under ~100 bytes, and as root
    # the cluster runs as the postgres user, which cannot enter pytest's 0700 tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="verrou-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            shutil.chown(folder, user="postgres")
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            _unavailable(f"running as root and cannot hand a folder to user postgres: {exc}")
        runuser = shutil.which("runuser")
        run_as = [runuser, "-u", "postgres", "--"] if runuser else ["sudo", "-u", "postgres"]
    server = Cluster(bindir, folder, _free_port(), run_as)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Api:
    base: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def _start_server(tmp_path: Path, database_url: str, key: FingerprintKey) -> Api:
    signing_key_file = tmp_path / "signing.key"
    create_signing_key_file(signing_key_file)
    port = _free_port()
    env = {
        **os.environ,
        "VERROU_DATABASE_URL": database_url,
        "VERROU_KEY": key.secret.hex(),
        "VERROU_SIGNING_KEY_FILE": str(signing_key_file),
        "VERROU_RATE_LIMIT": "100000",
        # Long enough that the first party's key stays cached through the outage, so its
        # checks reach the group-commit runner; the second party's key is looked up then.
        "VERROU_AUTH_CACHE_SECONDS": "3600",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        # The server runs the code under test, wherever the working directory is.
        "PYTHONPATH": os.pathsep.join(
            [str(Path(verrou.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "verrou.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    api = Api(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"verrou serve exited with {process.returncode}:\n{api.log()}")
        try:
            if httpx.get(f"{api.base}/healthz", timeout=1.0).status_code == 200:
                return api
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    _stop_server(api)
    pytest.fail(f"verrou serve did not answer /healthz within {WAIT_SECONDS}s:\n{api.log()}")


def _stop_server(api: Api) -> None:
    if api.process.poll() is None:
        api.process.terminate()
        try:
            api.process.wait(10)
        except subprocess.TimeoutExpired:
            api.process.kill()
            api.process.wait(5)


def _leaked_applicant(n: int = 0) -> dict[str, str]:
    family, given, birth, _, _ = LEAKED_PEOPLE[n]
    return {"family_name": family, "given_names": given, "birth_date": birth}


def _assert_fails_closed(response: httpx.Response) -> None:
    body: Any = response.json()
    assert response.status_code == 503, body
    assert response.headers["content-type"].startswith("application/json")
    assert set(body) == {"error"}, body  # the one error shape, never a verdict
    error = body["error"]
    assert set(error) == {"code", "message", "status"}, body
    assert error["code"] == "store_unavailable"
    assert error["status"] == 503
    assert isinstance(error["message"], str) and error["message"]
    assert '"verdict"' not in response.text  # no verdict member anywhere


def test_checks_fail_closed_while_postgres_is_down_and_recover(
    cluster: Cluster, tmp_path: Path, fingerprint_key: FingerprintKey
) -> None:
    store = open_store(cluster.url)
    try:
        ingest_leak(store, Fingerprinter(fingerprint_key), tmp_path)
        _, bank_key = store.create_relying_party("Banque Exemple", "bank")
        _, late_key = store.create_relying_party("Assurance Exemple", "insurer")
    finally:
        store.close()

    api = _start_server(tmp_path, cluster.url, fingerprint_key)
    try:
        with httpx.Client(base_url=api.base, timeout=HTTP_TIMEOUT) as http:
            bank = {"Authorization": f"Bearer {bank_key}"}
            late = {"Authorization": f"Bearer {late_key}"}
            leaked = _leaked_applicant()

            first = http.post("/v1/checks", json=leaked, headers=bank)
            assert first.status_code == 200, first.text
            assert first.json()["verdict"] == "step_up"
            assert http.get("/readyz").status_code == 200

            cluster.stop("immediate")

            # Cached key: the check reaches the runner, whose connection the crash broke.
            # Then reconnect attempts are refused. Every answer is 503, none a verdict.
            for n in range(6):
                applicant = _leaked_applicant(n % len(LEAKED_PEOPLE))
                _assert_fails_closed(http.post("/v1/checks", json=applicant, headers=bank))
                _assert_fails_closed(
                    http.post("/v1/checks", json={"email": "nobody@example.net"}, headers=bank)
                )
            batch = {"applicants": [leaked, {"email": "nobody@example.net"}]}
            _assert_fails_closed(http.post("/v1/checks/batch", json=batch, headers=bank))
            # A key never seen before must be looked up in the store: that fails closed too.
            _assert_fails_closed(http.post("/v1/checks", json=leaked, headers=late))
            _assert_fails_closed(http.get("/readyz"))
            assert http.get("/healthz").status_code == 200, "the process itself is alive"

            cluster.start()

            deadline = time.monotonic() + 10
            answer = http.post("/v1/checks", json=leaked, headers=bank)
            while answer.status_code != 200 and time.monotonic() < deadline:
                _assert_fails_closed(answer)
                time.sleep(0.2)
                answer = http.post("/v1/checks", json=leaked, headers=bank)
            assert answer.status_code == 200, f"{answer.text}\n{api.log()}"
            assert answer.json()["verdict"] == "step_up"
            ready = http.get("/readyz")
            assert ready.status_code == 200, ready.text
            again = http.post("/v1/checks", json=leaked, headers=late)
            assert again.status_code == 200, again.text
            assert again.json()["verdict"] == "step_up"
    finally:
        _stop_server(api)
