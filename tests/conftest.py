"""Shared fixtures: real SQLite files in a temp dir, real PostgreSQL in a schema of its own.

PostgreSQL tests skip, with the reason shown, only when no server is reachable. With
VERROU_REQUIRE_POSTGRES=1 (set by .ci/run) an unreachable server is a failure instead.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey, key_id_for
from verrou.store import RegistryStore, open_store

# Hypothesis profiles. "ci" (the default) is derandomized: the same examples every run, so a red
# CI means a real regression, never a lucky draw. "thorough" (HYPOTHESIS_PROFILE=thorough) draws
# fresh random examples, many more of them: run it before handing over a canonicaliser change.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=2_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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


#: A small leak for check tests: (family, given names, birth date, email, phone).
LEAKED_PEOPLE = (
    ("Dupont", "Jean Pierre", "1980-05-17", "jean.dupont@example.fr", "06 12 34 56 78"),
    ("de La Fontaine", "Élodie", "1975-11-02", "elodie.lf@example.org", "07 98 76 54 32"),
    ("Nguyễn", "Thị Mai", "1992-03-30", "mai.nguyen@example.com", "06 55 44 33 22"),
)


def write_leak(path: Path) -> Path:
    """A cp1252-free, semicolon-separated dump of :data:`LEAKED_PEOPLE`."""
    lines = ["nom;prenoms;date_naissance;email;telephone"]
    lines += [";".join(person) for person in LEAKED_PEOPLE]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ingest_leak(store: RegistryStore, fingerprinter: Fingerprinter, folder: Path) -> None:
    """Ingest :data:`LEAKED_PEOPLE` as breach ``ants-2026`` with its timeline."""
    from datetime import UTC, datetime

    from verrou.ingest.pipeline import IngestOptions, ingest_dump
    from verrou.registry.records import BreachInfo

    store.ensure_breach(
        BreachInfo(
            name="ants-2026",
            title="France Titres (ANTS)",
            data_classes=("names", "birth_dates", "emails", "phones"),
            intrusion_started_at=datetime(2026, 3, 2, tzinfo=UTC),
            detected_at=datetime(2026, 4, 8, tzinfo=UTC),
        )
    )
    ingest_dump(
        store,
        fingerprinter,
        write_leak(folder / "leak.csv"),
        IngestOptions(breach="ants-2026", workers=0, report_dir=folder / "reports"),
    )


@pytest.fixture
def leaked_store(
    store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> RegistryStore:
    """The ``store`` fixture (both backends) holding :data:`LEAKED_PEOPLE`."""
    ingest_leak(store, fingerprinter, tmp_path)
    return store


@pytest.fixture(autouse=True)
def _private_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default key paths (~/.config/verrou/...) point into the test's own folder, so no test
    ever writes keys into the real home folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))


class Mailbox:
    """aiosmtpd handler keeping every message it accepts, as (recipients, message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@pytest.fixture
def smtp_mailbox() -> Iterator[tuple[str, Mailbox]]:
    """A real SMTP server (aiosmtpd) on a free loopback port: its smtp:// URL and mailbox."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", box
    finally:
        controller.stop()


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on loopback: keeps every POST (headers, body) and answers it with
    the next scripted status (200 once the script is exhausted)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.script: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append((dict(self.headers.items()), body))
        status = self.server.script.pop(0) if self.server.script else 200
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A :class:`Receiver` on a free loopback port, serving on a thread; stopped after."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving_on_loopback(app: FastAPI, port: int, *, log_level: str = "warning") -> Iterator[str]:
    """``app`` under uvicorn (verrou's :class:`~verrou.api.server.ApiServer`) on a thread,
    listening on 127.0.0.1:``port``: its base URL, once it accepts connections; stopped after."""
    import uvicorn

    from verrou.api.server import ApiServer

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level)
    server = ApiServer(config, app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "verrou did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def run_keyed_cli(tmp_path: Path, database: Path, secret: bytes, *args: str) -> Any:
    """``verrou --database-url sqlite:///DATABASE ARGS`` in process, with fingerprint key
    ``secret`` and every other key and folder under ``tmp_path``: a click ``Result``."""
    from click.testing import CliRunner

    from verrou.cli import main

    keys = tmp_path / "keys"
    env = {
        "VERROU_KEY": secret.hex(),
        "VERROU_SIGNING_KEY_FILE": str(keys / "signing.key"),
        "VERROU_CONTACT_KEY_FILE": str(keys / "contact.key"),
        "VERROU_SESSION_KEY_FILE": str(keys / "session.key"),
        "VERROU_REPORT_DIR": str(tmp_path / "reports"),
        "VERROU_WORKERS": "0",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(
        main, ["--database-url", f"sqlite:///{database}", *args], env=env, catch_exceptions=False
    )
