"""Readiness that tells the truth, and a recorder that recovers by itself.

``/readyz`` means "a check would be answered and recorded now". The store is made briefly
not writable for real: a PostgreSQL role of this test's own whose sessions start read-only
(``ALTER ROLE ... SET default_transaction_read_only``), so the shared database and other
tests are not touched; the SQLite registry file is deleted or replaced under the server.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient

from conftest import LEAKED_PEOPLE, POSTGRES_URL, ingest_leak, require_postgres
from verrou.api import api_state, create_app
from verrou.api.readiness import Readiness
from verrou.errors import StoreError
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import open_store

#: Bound on every wait for the server to notice a change (recovery takes about a second).
WAIT_SECONDS = 8.0


def _person(n: int = 0) -> dict[str, str]:
    family, given, birth, _, _ = LEAKED_PEOPLE[n]
    return {"family_name": family, "given_names": given, "birth_date": birth}


def _assert_fails_closed(answer: Any, *hidden: str) -> None:
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "store_unavailable"
    assert '"verdict"' not in answer.text
    for word in ("sqlite", "postgres", "database", *hidden):
        assert word not in answer.text.lower(), answer.text


def _until(answer: Callable[[], Any], status: int) -> Any:
    """The first of repeated answers with ``status``, or the last one after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    got = answer()
    while got.status_code != status and time.monotonic() < deadline:
        time.sleep(0.1)
        got = answer()
    return got


def _app(database_url: str, key: FingerprintKey, recorder: str) -> Any:
    return create_app(
        Settings(database_url=database_url, recorder=recorder, auth_cache_seconds=3600),
        fingerprint_key=key,
        signing_key=SigningKey.generate(),
    )


# --- PostgreSQL briefly read-only ------------------------------------------------------------


@pytest.fixture
def read_only_role() -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A database URL as a role of this test's own, and a switch making that role's new
    sessions read-only (as ``default_transaction_read_only`` does for a whole database)."""
    require_postgres()
    name = f"verrou_test_ro_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN")
        admin.execute(f"CREATE SCHEMA {name} AUTHORIZATION {name}")
    base = POSTGRES_URL.replace("postgres@", f"{name}@", 1)
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={name}')}"

    def read_only(on: bool) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            if on:
                admin.execute(f"ALTER ROLE {name} SET default_transaction_read_only = on")
            else:
                admin.execute(f"ALTER ROLE {name} RESET default_transaction_read_only")

    try:
        yield url, read_only
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (name,),
            )
            admin.execute(f"DROP SCHEMA {name} CASCADE")
            admin.execute(f"DROP ROLE {name}")


def _drop_sessions(role_url: str) -> None:
    """Cut every session of the role (as a failover or a network cut would)."""
    role = role_url.split("://", 1)[1].split("@", 1)[0]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )


@pytest.mark.postgres
@pytest.mark.parametrize("recorder", ["thread", "process"])
def test_checks_come_back_after_the_recorder_reconnected_while_the_store_was_read_only(
    read_only_role: tuple[str, Callable[[bool], None]],
    fingerprint_key: FingerprintKey,
    tmp_path: Path,
    recorder: str,
) -> None:
    url, read_only = read_only_role
    store = open_store(url)
    try:
        ingest_leak(store, Fingerprinter(fingerprint_key), tmp_path)
        _, key = store.create_relying_party("Banque Exemple", "bank")
    finally:
        store.close()
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(_app(url, fingerprint_key, recorder)) as client:
        assert client.post("/v1/checks", json=_person(), headers=headers).status_code == 200
        assert client.get("/readyz").status_code == 200

        read_only(True)
        runner: Any = api_state(client.app).live().runner  # type: ignore[arg-type]
        if recorder == "process":  # the reported case: a new recorder starts meanwhile
            first = runner.pid
            os.kill(first, signal.SIGKILL)
            deadline = time.monotonic() + WAIT_SECONDS
            while runner.pid in (None, first) and time.monotonic() < deadline:
                client.get("/healthz")
                time.sleep(0.05)
            assert runner.pid not in (None, first)
        else:
            _drop_sessions(url)

        # Every check fails closed while sessions are read-only, and /readyz says so.
        for _ in range(3):
            _assert_fails_closed(client.post("/v1/checks", json=_person(), headers=headers))
        _assert_fails_closed(_until(lambda: client.get("/readyz"), 503))

        read_only(False)
        started = time.monotonic()
        answer = _until(lambda: client.post("/v1/checks", json=_person(), headers=headers), 200)
        assert answer.status_code == 200, answer.text
        assert answer.json()["verdict"] == "step_up"
        assert time.monotonic() - started < 5
        assert _until(lambda: client.get("/readyz"), 200).status_code == 200


# --- the SQLite file deleted or replaced under the server ------------------------------------


@pytest.fixture
def sqlite_registry(sqlite_url: str, fingerprint_key: FingerprintKey, tmp_path: Path) -> str:
    store = open_store(sqlite_url)
    try:
        ingest_leak(store, Fingerprinter(fingerprint_key), tmp_path)
        _, key = store.create_relying_party("Banque Exemple", "bank")
    finally:
        store.close()
    return key


@pytest.mark.parametrize("recorder", ["thread", "process"])
def test_a_registry_file_deleted_under_the_server_fails_checks_and_readiness_closed(
    sqlite_url: str, sqlite_registry: str, fingerprint_key: FingerprintKey, recorder: str
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    headers = {"Authorization": f"Bearer {sqlite_registry}"}
    with TestClient(_app(sqlite_url, fingerprint_key, recorder)) as client:
        assert client.post("/v1/checks", json=_person(), headers=headers).status_code == 200
        assert client.get("/readyz").status_code == 200

        path.unlink()

        # Before, the checks were answered and their audit entries went to the deleted file.
        for n in range(3):
            answer = client.post("/v1/checks", json=_person(n), headers=headers)
            _assert_fails_closed(answer, path.name, str(path.parent))
        _assert_fails_closed(_until(lambda: client.get("/readyz"), 503), path.name)
        assert not path.exists(), "no empty registry may be created in its place"
        time.sleep(1.2)  # past the recorder's retries and the readiness cache: still closed
        _assert_fails_closed(client.post("/v1/checks", json=_person(), headers=headers))
        _assert_fails_closed(client.get("/readyz"))
        assert not path.exists()


@pytest.mark.parametrize("recorder", ["thread", "process"])
def test_a_registry_file_replaced_under_the_server_fails_closed_until_the_same_file_is_back(
    sqlite_url: str, sqlite_registry: str, fingerprint_key: FingerprintKey, recorder: str
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    aside = path.with_name("aside.sqlite3")
    headers = {"Authorization": f"Bearer {sqlite_registry}"}
    with TestClient(_app(sqlite_url, fingerprint_key, recorder)) as client:
        assert client.post("/v1/checks", json=_person(), headers=headers).status_code == 200

        # A copy in its place, even of the same bytes, is another file (another audit chain
        # from now on): refused until restart.
        path.rename(aside)
        shutil.copyfile(aside, path)
        _assert_fails_closed(client.post("/v1/checks", json=_person(), headers=headers))
        _assert_fails_closed(_until(lambda: client.get("/readyz"), 503))

        # The very file put back (a rename undone): checks are answered again.
        path.unlink()
        aside.rename(path)
        answer = _until(lambda: client.post("/v1/checks", json=_person(), headers=headers), 200)
        assert answer.status_code == 200, answer.text
        assert _until(lambda: client.get("/readyz"), 200).status_code == 200


@pytest.mark.parametrize("recorder", ["thread", "process"])
def test_readyz_is_503_while_another_writer_holds_the_sqlite_lock_and_200_once_released(
    sqlite_url: str, sqlite_registry: str, fingerprint_key: FingerprintKey, recorder: str
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    headers = {"Authorization": f"Bearer {sqlite_registry}"}
    with TestClient(_app(sqlite_url, fingerprint_key, recorder)) as client:
        assert client.get("/readyz").status_code == 200
        # Another process's writer (an ingest, a CLI command) takes SQLite's one write lock.
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            # A check now would wait for the lock: the probe cannot write either.
            _assert_fails_closed(_until(lambda: client.get("/readyz"), 503))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert _until(lambda: client.get("/readyz"), 200).status_code == 200
        answer = client.post("/v1/checks", json=_person(), headers=headers)
        assert answer.status_code == 200, answer.text


# --- the readiness cache ---------------------------------------------------------------------


def test_readiness_keeps_a_good_probe_a_ttl_shares_one_probe_and_keeps_no_failure() -> None:
    now = [0.0]
    probes: list[float] = []
    failing = [False]

    async def probe() -> None:
        probes.append(now[0])
        await asyncio.sleep(0.01)
        if failing[0]:
            raise StoreError("the registry file was replaced")

    async def scenario() -> None:
        readiness = Readiness(probe, ttl=1.0, clock=lambda: now[0])
        await asyncio.gather(*(readiness.check() for _ in range(50)))
        assert len(probes) == 1
        now[0] = 0.5
        await readiness.check()
        assert len(probes) == 1  # cached
        failing[0] = True
        now[0] = 1.5
        with pytest.raises(StoreError, match="replaced"):
            await readiness.check()
        assert len(probes) == 2
        failing[0] = False  # a failure is not kept: ready again as soon as it is
        await readiness.check()
        assert len(probes) == 3
        await readiness.check()
        assert len(probes) == 3
        readiness.invalidate()  # a check failed on the store: probe again
        await readiness.check()
        assert len(probes) == 4

    asyncio.run(scenario())


def test_a_probe_that_hangs_is_not_ready() -> None:
    async def probe() -> None:
        await asyncio.sleep(10)

    async def scenario() -> None:
        with pytest.raises(StoreError, match="did not answer"):
            await Readiness(probe, timeout=0.05).check()

    asyncio.run(scenario())
