"""Shared fixtures: real SQLite files in a temp dir, real PostgreSQL in a schema of its own.

PostgreSQL tests skip, with the reason shown, only when no server is reachable. With
VERROU_REQUIRE_POSTGRES=1 (set by .ci/run) an unreachable server is a failure instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey, key_id_for
from verrou.store import RegistryStore, open_store

POSTGRES_URL = os.environ.get(
    "VERROU_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL reachable at {POSTGRES_URL}: {str(exc).strip().splitlines()[0]}"
    return None


_PROBLEM: list[str | None] = []


def postgres_problem() -> str | None:
    if not _PROBLEM:
        _PROBLEM.append(_postgres_problem())
    return _PROBLEM[0]


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("VERROU_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here (VERROU_REQUIRE_POSTGRES=1): {problem}")
    pytest.skip(problem)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require_postgres()
    schema = f"verrou_test_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs against both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[RegistryStore]:
    registry = open_store(database_url)
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def fingerprint_key() -> FingerprintKey:
    secret = bytes(range(32))
    return FingerprintKey(key_id=key_id_for(secret), secret=secret)


@pytest.fixture
def fingerprinter(fingerprint_key: FingerprintKey) -> Fingerprinter:
    return Fingerprinter(fingerprint_key)
