"""`verrou audit verify` against an intruder who dropped the append-only triggers.

Regressions: deleting the last entries of the log, or the whole log, passed `audit verify`;
so did deleting a row of the freezes table (unfreezing a victim). The log is now held to its
head row, and the freezes and thaws to the log's freeze, lift and thaw entries.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from verrou.cli import main
from verrou.fingerprints import Fingerprinter
from verrou.keys import parse_key_value
from verrou.registry.policy import Applicant, applicant_keys
from verrou.store.base import AuditDraft, chain_entry

KEY_HEX = bytes(range(32)).hex()
PERSON = ("--person", "Lefèvre", "Hélène Marie", "1980-05-17")
EMAIL = "victim@example.fr"


def _keys_of(applicant: Applicant) -> list[bytes]:
    fingerprinter = Fingerprinter(parse_key_value(KEY_HEX))
    return [key.fingerprint for key in applicant_keys(applicant, fingerprinter)]


HELENE = _keys_of(
    Applicant(family_name="Lefèvre", given_names="Hélène Marie", birth_date="1980-05-17")
)
VICTIM = _keys_of(Applicant(email=EMAIL))[0]


def run(database_url: str, tmp_path: Path, *args: str) -> Result:
    env = {
        "VERROU_KEY": KEY_HEX,
        "VERROU_SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing.key"),
        "VERROU_CONTACT_KEY_FILE": str(tmp_path / "keys" / "contact.key"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "300",
    }
    return CliRunner().invoke(
        main, ["--database-url", database_url, *args], env=env, catch_exceptions=False
    )


def sql(database_url: str, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement as an intruder with database access would."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return db.execute(statement, params).fetchall()
    with psycopg.connect(database_url, autocommit=True) as conn:
        cursor = conn.execute(statement.replace("?", "%s").encode(), params)
        return cursor.fetchall() if cursor.description else []


def drop_triggers(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        sql(database_url, "DROP TRIGGER audit_log_no_update")
        sql(database_url, "DROP TRIGGER audit_log_no_delete")
    else:
        sql(database_url, "DROP TRIGGER audit_log_no_rewrite ON audit_log")
        sql(database_url, "DROP TRIGGER audit_log_no_truncate ON audit_log")


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> str:
    """A registry with freezes, a thaw, a lift and a relying party, triggers dropped."""
    rp = run(database_url, tmp_path, "rp", "create", "Banque Exemple", "--sector", "bank")
    assert rp.exit_code == 0, rp.output
    party = sql(database_url, "SELECT id FROM relying_parties")[0][0]
    for args in (
        ("freeze", "place", *PERSON, "--by", "owner"),
        ("freeze", "thaw", *PERSON, "--for", party, "--days", "2"),
        ("freeze", "place", "--email", "gone@example.fr"),
        ("freeze", "lift", "--email", "gone@example.fr"),
        ("freeze", "place", "--email", EMAIL),
    ):
        result = run(database_url, tmp_path, *args)
        assert result.exit_code == 0, result.output
    verified = run(database_url, tmp_path, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output
    drop_triggers(database_url)
    return database_url


def refused(database_url: str, tmp_path: Path) -> str:
    result = run(database_url, tmp_path, "audit", "verify")
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert EMAIL not in result.output and "Lefèvre" not in result.output
    return lines[0]


def last_seq(database_url: str) -> int:
    return int(sql(database_url, "SELECT MAX(seq) FROM audit_log")[0][0])


def test_untampered_log_passes_with_triggers_dropped(registry: str, tmp_path: Path) -> None:
    result = run(registry, tmp_path, "audit", "verify")
    assert result.exit_code == 0, result.output


def test_audit_verify_catches_the_last_entries_deleted(registry: str, tmp_path: Path) -> None:
    end = last_seq(registry)
    sql(registry, "DELETE FROM audit_log WHERE seq > ?", (end - 2,))
    line = refused(registry, tmp_path)
    assert f"seq {end - 1}" in line and "deleted from the end" in line


def test_audit_verify_catches_the_whole_log_deleted(registry: str, tmp_path: Path) -> None:
    sql(registry, "DELETE FROM audit_log")
    line = refused(registry, tmp_path)
    assert "seq 1" in line and "empty" in line


def test_audit_verify_catches_the_head_row_deleted(registry: str, tmp_path: Path) -> None:
    sql(registry, "DELETE FROM audit_head")
    assert "head row is missing" in refused(registry, tmp_path)


def test_audit_verify_catches_a_freeze_row_deleted(registry: str, tmp_path: Path) -> None:
    sql(registry, "DELETE FROM freezes WHERE fingerprint = ?", (VICTIM,))  # victim unfrozen
    line = refused(registry, tmp_path)
    assert VICTIM.hex()[:12] in line and "freeze row deleted" in line
    assert VICTIM.hex() not in line  # a prefix, never the whole key


def test_audit_verify_catches_a_freeze_row_added_without_entry(
    registry: str, tmp_path: Path
) -> None:
    planted = bytes(range(100, 116))
    sql(
        registry,
        "INSERT INTO freezes (fingerprint, placed_by, reason, since, canary) "
        "VALUES (?, 'operator', 'owner_request', ?, ?)",
        (planted, _at(registry, datetime.now(UTC)), _flag(registry, False)),
    )
    line = refused(registry, tmp_path)
    assert planted.hex()[:12] in line and "without an audit entry" in line


def test_audit_verify_catches_a_thaw_extended(registry: str, tmp_path: Path) -> None:
    later = datetime.now(UTC) + timedelta(days=365)
    sql(registry, "UPDATE thaws SET until = ?", (_at(registry, later),))
    line = refused(registry, tmp_path)
    assert "thaws differ" in line
    assert any(key.hex()[:12] in line for key in HELENE)


def test_audit_verify_catches_a_freeze_row_altered(registry: str, tmp_path: Path) -> None:
    sql(registry, "UPDATE freezes SET placed_by = 'report' WHERE fingerprint = ?", (VICTIM,))
    assert f"{VICTIM.hex()[:12]} (freeze row altered)" in refused(registry, tmp_path)


def _forge_lift(database_url: str, fingerprint: bytes) -> tuple[int, bytes]:
    seq, head = sql(database_url, "SELECT seq, entry_hash FROM audit_head")[0]
    draft = AuditDraft("freeze.lift", "operator", fingerprint.hex(), {}, datetime.now(UTC))
    entry, stored = chain_entry(int(seq), bytes(head), draft)
    sql(
        database_url,
        "INSERT INTO audit_log (seq, content, prev_hash, entry_hash) VALUES (?, ?, ?, ?)",
        (entry.seq, stored.content, stored.prev_hash, stored.entry_hash),
    )
    return entry.seq, stored.entry_hash


def test_audit_verify_catches_a_forged_lift_behind_the_heads_back(
    registry: str, tmp_path: Path
) -> None:
    seq, _ = _forge_lift(registry, VICTIM)
    sql(registry, "DELETE FROM freezes WHERE fingerprint = ?", (VICTIM,))
    assert f"seq {seq}" in refused(registry, tmp_path)


def test_audit_verify_catches_a_forged_lift_of_a_freeze_still_held(
    registry: str, tmp_path: Path
) -> None:
    seq, entry_hash = _forge_lift(registry, VICTIM)
    sql(registry, "UPDATE audit_head SET seq = ?, entry_hash = ?", (seq, entry_hash))
    assert f"{VICTIM.hex()[:12]} (freeze row without an audit entry)" in refused(registry, tmp_path)


def test_audit_entries_from_before_the_replay_fields_still_verify(
    database_url: str, tmp_path: Path
) -> None:
    """A freeze.place entry as the demo wrote it before entries carried placed_by and since."""
    assert run(database_url, tmp_path, "migrate").exit_code == 0
    now = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
    draft = AuditDraft(
        "freeze.place", "demo", VICTIM.hex(), {"kind": "email", "reason": "owner_request"}, now
    )
    entry, stored = chain_entry(0, bytes(32), draft)
    sql(
        database_url,
        "INSERT INTO audit_log (seq, content, prev_hash, entry_hash) VALUES (?, ?, ?, ?)",
        (entry.seq, stored.content, stored.prev_hash, stored.entry_hash),
    )
    sql(database_url, "UPDATE audit_head SET seq = 1, entry_hash = ?", (stored.entry_hash,))
    sql(
        database_url,
        "INSERT INTO freezes (fingerprint, placed_by, reason, since, canary) "
        "VALUES (?, 'owner', 'owner_request', ?, ?)",
        (VICTIM, _at(database_url, now), _flag(database_url, False)),
    )
    result = run(database_url, tmp_path, "audit", "verify")
    assert result.exit_code == 0, result.output
    sql(database_url, "UPDATE freezes SET since = ?", (_at(database_url, now + timedelta(1)),))
    assert "freeze row altered" in refused(database_url, tmp_path)


def _at(database_url: str, moment: datetime) -> Any:
    from verrou.registry.audit import format_at

    return format_at(moment) if database_url.startswith("sqlite") else moment


def _flag(database_url: str, value: bool) -> Any:
    return int(value) if database_url.startswith("sqlite") else value


def test_audit_verify_while_freezes_change_never_reports_a_false_tamper(
    database_url: str,
) -> None:
    """The snapshot (head, last entry, freezes, thaws) is one committed state, and the walk
    stops at its head: a verify racing with writers passes."""
    from verrou.registry.audit import verify_registry
    from verrou.registry.policy import Freeze
    from verrou.store import open_store

    reader = open_store(database_url)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        own = open_store(database_url, migrate=False)
        try:
            n = 0
            while not stop.is_set() and n < 200:
                fp = n.to_bytes(16, "big")
                now = datetime.now(UTC)
                draft = AuditDraft("freeze.place", "operator", fp.hex(), {}, now)
                own.place_freeze(Freeze(fp, "operator", "owner_request", now), audit=draft)
                if n % 2:
                    lift = AuditDraft("freeze.lift", "operator", fp.hex(), {}, now)
                    own.lift_freeze(fp, audit=lift)
                n += 1
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(20):
            report = verify_registry(reader.audit_entries(), reader.audit_snapshot())
            assert report.ok, report.problem
    finally:
        stop.set()
        thread.join()
        reader.close()
    assert errors == []
