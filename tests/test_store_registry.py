"""Contract tests of what the check API stores: freezes and thaws, the audit chain, relying
parties, the alert outbox and sealed contacts. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from verrou.errors import Conflict, NotFound, StoreError
from verrou.registry.alerts import Alert, Outbox
from verrou.registry.audit import canonical_content, chain_hash, entry_from_content, verify_stored
from verrou.registry.policy import Freeze, Thaw
from verrou.registry.records import ALERT_LEASE, SealedContact
from verrou.store import RegistryStore, open_store
from verrou.store.base import AuditDraft, chain_entry
from verrou.store.migrations import migrations_for

NOW = datetime(2026, 5, 4, 9, 30, 15, 250000, tzinfo=UTC)
FP = bytes.fromhex("0f" * 16)
OTHER_FP = bytes.fromhex("a1" * 16)


def _draft(action: str, fingerprint: bytes | None = FP, at: datetime = NOW) -> AuditDraft:
    subject = None if fingerprint is None else fingerprint.hex()
    return AuditDraft(action=action, actor="owner", subject=subject, details={"n": 1}, at=at)


def _actions(store: RegistryStore) -> list[str]:
    entries = [
        entry_from_content(s.content, prev_hash=s.prev_hash, entry_hash=s.entry_hash)
        for s in store.audit_entries()
    ]
    return [entry.action for entry in entries]


def _raw(database_url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the database directly, as someone with database access would ('?' marks)."""
    if database_url.startswith("sqlite:///"):
        db = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        cursor = conn.execute(sql.replace("?", "%s").encode(), params)
        return cursor.fetchall() if cursor.description else []


def _in_threads(count: int, work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    if errors:
        raise errors[0]


# --- schema ------------------------------------------------------------------------------------


def test_registry_migration_applies_once(store: RegistryStore) -> None:
    latest = max(m.version for m in migrations_for("sqlite"))
    assert latest == max(m.version for m in migrations_for("postgres")) >= 2
    assert store.schema_version() == latest
    assert store.migrate() == []
    assert store.schema_version() == latest


def test_driver_errors_become_store_errors(store: RegistryStore) -> None:
    store.close()
    with pytest.raises(StoreError):
        store.freezes_for([FP], now=NOW)
    with pytest.raises(StoreError):
        store.append_audit(_draft("freeze.place"))


# --- freezes and thaws -------------------------------------------------------------------------


def test_freeze_thaw_and_lift_each_leave_one_audit_entry(store: RegistryStore) -> None:
    party, _ = store.create_relying_party("Banque Exemple", "bank", at=NOW)
    freeze = Freeze(FP, "owner", "lost_document", NOW, canary=False)
    assert store.place_freeze(freeze, audit=_draft("freeze.place")) == freeze
    # A second freeze as strong on a frozen key changes nothing and is not audited.
    again = Freeze(FP, "owner", "fraud_suspected", NOW + timedelta(days=1))
    assert store.place_freeze(again, audit=_draft("freeze.place")) == freeze

    for_bank = Thaw(FP, party.id, NOW, NOW + timedelta(days=7))
    for_all = Thaw(FP, None, NOW + timedelta(days=1), NOW + timedelta(days=2))
    ended = Thaw(FP, None, NOW - timedelta(days=3), NOW - timedelta(days=1))
    for thaw in (for_bank, for_all, ended):
        assert store.add_thaw(thaw, audit=_draft("thaw.add")) == thaw

    freezes, thaws = store.freezes_for([FP, OTHER_FP, FP], now=NOW)
    assert freezes == [freeze]
    # Not yet ended at NOW: the running one and the future one, not the past one.
    assert thaws == [for_bank, for_all]
    assert store.freezes_for([OTHER_FP], now=NOW) == ([], [])
    assert store.freezes_for([], now=NOW) == ([], [])

    assert store.lift_freeze(FP, audit=_draft("freeze.lift")) is True
    assert store.lift_freeze(FP, audit=_draft("freeze.lift")) is False
    assert store.freezes_for([FP], now=NOW) == ([], [])
    # A new freeze starts closed: the thaws of the lifted one went with it.
    store.place_freeze(freeze, audit=_draft("freeze.place"))
    assert store.freezes_for([FP], now=NOW) == ([freeze], [])

    assert _actions(store) == [
        "relying_party.create",
        "freeze.place",
        "thaw.add",
        "thaw.add",
        "thaw.add",
        "freeze.lift",
        "freeze.place",
    ]


def test_canary_freeze_keeps_its_flag(store: RegistryStore) -> None:
    canary = Freeze(OTHER_FP, "operator", "canary", NOW, canary=True)
    store.place_freeze(canary, audit=_draft("freeze.place", OTHER_FP))
    assert store.freezes_for([OTHER_FP], now=NOW)[0] == [canary]


def test_a_thaw_needs_a_freeze_and_a_known_relying_party(store: RegistryStore) -> None:
    window = (NOW, NOW + timedelta(hours=1))
    with pytest.raises(Conflict):
        store.add_thaw(Thaw(FP, None, *window), audit=_draft("thaw.add"))
    store.place_freeze(Freeze(FP, "owner", "owner_request", NOW), audit=_draft("freeze.place"))
    with pytest.raises(NotFound):
        store.add_thaw(Thaw(FP, "rp_unknown", *window), audit=_draft("thaw.add"))
    # The refused transitions left no entry and no thaw.
    assert _actions(store) == ["freeze.place"]
    assert store.freezes_for([FP], now=NOW)[1] == []


def test_a_transition_is_audited_under_its_own_fingerprint(store: RegistryStore) -> None:
    with pytest.raises(ValueError, match="subject"):
        store.place_freeze(
            Freeze(FP, "owner", "owner_request", NOW), audit=_draft("freeze.place", OTHER_FP)
        )
    assert store.freezes_for([FP], now=NOW) == ([], [])
    assert _actions(store) == []


def test_concurrent_transitions_never_fork_the_chain_or_lose_an_update(
    store: RegistryStore, database_url: str
) -> None:
    workers, rounds = 4, 25
    barrier = threading.Barrier(workers)
    outcomes: list[tuple[str, bool]] = []
    outcomes_lock = threading.Lock()

    def work(n: int) -> None:
        # Each worker has its own store, so its own connection.
        own = open_store(database_url, migrate=False)
        try:
            barrier.wait(timeout=30)
            for i in range(rounds):
                at = NOW + timedelta(seconds=n * 1000 + i)  # unique: tells our freeze apart
                op = ("place", "thaw", "lift")[(n + i) % 3]
                if op == "place":
                    freeze = Freeze(FP, "owner", "owner_request", at)
                    placed = own.place_freeze(freeze, audit=_draft("freeze.place", at=at))
                    done = placed == freeze
                elif op == "thaw":
                    try:
                        own.add_thaw(
                            Thaw(FP, None, at, at + timedelta(days=1)),
                            audit=_draft("thaw.add", at=at),
                        )
                        done = True
                    except Conflict:
                        done = False
                else:
                    done = own.lift_freeze(FP, audit=_draft("freeze.lift", at=at))
                with outcomes_lock:
                    outcomes.append((op, done))
        finally:
            own.close()

    _in_threads(workers, work)
    assert len(outcomes) == workers * rounds

    stored = list(store.audit_entries())
    report = verify_stored(stored)
    assert report.ok, report.problem
    entries = [
        entry_from_content(s.content, prev_hash=s.prev_hash, entry_hash=s.entry_hash)
        for s in stored
    ]
    assert [entry.seq for entry in entries] == list(range(1, len(entries) + 1))

    # One entry per transition that took effect, none for the others.
    done = Counter(op for op, took_effect in outcomes if took_effect)
    names = {"freeze.place": "place", "thaw.add": "thaw", "freeze.lift": "lift"}
    assert Counter(names[entry.action] for entry in entries) == done
    assert done["place"] > 0 and done["lift"] > 0

    # Replaying the log in seq order is a valid history: place only when free, thaw and lift
    # only when frozen; and it ends in the state the store holds.
    frozen, thaws_since_place = False, 0
    for entry in entries:
        if entry.action == "freeze.place":
            assert not frozen, f"entry {entry.seq}: freeze placed on a frozen key"
            frozen, thaws_since_place = True, 0
        elif entry.action == "freeze.lift":
            assert frozen, f"entry {entry.seq}: lift of a key that was not frozen"
            frozen = False
        else:
            assert frozen, f"entry {entry.seq}: thaw of a key that was not frozen"
            thaws_since_place += 1
    freezes, thaws = store.freezes_for([FP], now=NOW)
    assert len(freezes) == int(frozen)
    assert len(thaws) == (thaws_since_place if frozen else 0)


# --- audit log ---------------------------------------------------------------------------------


def test_audit_entries_stream_the_chain_in_order(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages, so that streaming crosses page boundaries.
    monkeypatch.setattr("verrou.store.sql.AUDIT_PAGE", 2)
    appended = [
        store.append_audit(_draft("check.answer", at=NOW + timedelta(minutes=i))) for i in range(5)
    ]
    assert [entry.seq for entry in appended] == [1, 2, 3, 4, 5]
    stored = list(store.audit_entries())
    assert len(stored) == 5
    for entry, record in zip(appended, stored, strict=True):
        assert record.entry_hash == entry.entry_hash
        assert (
            entry_from_content(
                record.content, prev_hash=record.prev_hash, entry_hash=record.entry_hash
            )
            == entry
        )
    report = verify_stored(stored)
    assert report.ok and report.entries == 5 and report.head_hash == appended[-1].entry_hash


def test_one_altered_byte_is_named_by_its_seq(store: RegistryStore, database_url: str) -> None:
    for i in range(3):
        store.append_audit(_draft("check.answer", at=NOW + timedelta(seconds=i)))
    content = list(store.audit_entries())[1].content
    at = content.index(b'"actor":"owner"') + len(b'"actor":"o')
    altered = content[:at] + b"x" + content[at + 1 :]  # "owner" -> "oxner": still valid JSON
    assert len(altered) == len(content) and altered != content

    # The database itself refuses to rewrite the log ...
    with pytest.raises((sqlite3.Error, psycopg.Error), match="append-only"):
        _raw(database_url, "UPDATE audit_log SET content = ? WHERE seq = 2", (altered,))
    with pytest.raises((sqlite3.Error, psycopg.Error), match="append-only"):
        _raw(database_url, "DELETE FROM audit_log WHERE seq = 3")
    assert verify_stored(store.audit_entries()).ok

    # ... until someone with DDL rights removes the guard: then the chain tells.
    if database_url.startswith("sqlite:///"):
        _raw(database_url, "DROP TRIGGER audit_log_no_update")
    else:
        _raw(database_url, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_rewrite")
    _raw(database_url, "UPDATE audit_log SET content = ? WHERE seq = 2", (altered,))
    report = verify_stored(store.audit_entries())
    assert not report.ok
    assert report.first_bad_seq == 2
    assert report.entries == 1
    assert "altered" in (report.problem or "")


# --- relying parties ---------------------------------------------------------------------------


def test_relying_party_key_is_returned_once_and_only_its_hash_is_kept(
    store: RegistryStore, database_url: str
) -> None:
    party, api_key = store.create_relying_party("  Banque Exemple ", "bank", at=NOW)
    assert party.name == "Banque Exemple" and party.sector == "bank" and party.active
    assert api_key.startswith("vrp_") and len(api_key) == 47
    assert party.key_prefix == api_key[:12]
    assert store.relying_party_by_key(api_key) == party

    # Nothing but the prefix of the key is anywhere in the database or the audit log.
    secret_part = api_key[12:].encode()
    for (key_hash,) in _raw(database_url, "SELECT key_hash FROM relying_parties"):
        assert secret_part not in bytes(key_hash) and len(bytes(key_hash)) == 32
    columns = _raw(
        database_url,
        "SELECT id, name, sector, key_prefix FROM relying_parties WHERE id = ?",
        (party.id,),
    )
    assert all(api_key not in str(value) for value in columns[0])
    assert all(secret_part not in s.content for s in store.audit_entries())

    other, other_key = store.create_relying_party("Télé Com", "telco", at=NOW)
    assert other_key != api_key and other.id != party.id
    assert {p.id for p in store.list_relying_parties()} == {party.id, other.id}

    assert store.revoke_relying_party(party.id, at=NOW + timedelta(hours=1)) is True
    assert store.revoke_relying_party(party.id) is False
    assert store.revoke_relying_party("rp_unknown") is False
    assert store.relying_party_by_key(api_key) is None
    assert store.relying_party_by_key(other_key) == other
    listed = {p.id: p for p in store.list_relying_parties()}
    assert listed[party.id].revoked_at == NOW + timedelta(hours=1)
    assert not listed[party.id].active and listed[other.id].active
    assert _actions(store) == [
        "relying_party.create",
        "relying_party.create",
        "relying_party.revoke",
    ]


@pytest.mark.parametrize(
    "api_key",
    ["", "vrp_", "vrp_" + "A" * 42, "xyz_" + "A" * 43, "vrp_" + "é" * 43, "vrp_" + "A" * 44],
)
def test_malformed_or_unknown_keys_find_no_relying_party(
    store: RegistryStore, api_key: str
) -> None:
    store.create_relying_party("Banque Exemple", "bank")
    assert store.relying_party_by_key(api_key) is None
    assert store.relying_party_by_key("vrp_" + "A" * 43) is None


@pytest.mark.parametrize(
    ("name", "sector"),
    [("Banque", "casino"), ("", "bank"), ("Two\nlines", "bank"), ("x" * 121, "bank")],
)
def test_invalid_relying_parties_are_refused(store: RegistryStore, name: str, sector: Any) -> None:
    with pytest.raises(ValueError):
        store.create_relying_party(name, sector)
    assert store.list_relying_parties() == []
    assert _actions(store) == []


# --- alert outbox and contacts -----------------------------------------------------------------


def _alert(n: int, fingerprint: bytes = FP) -> Alert:
    return Alert(
        subject_fingerprint=fingerprint,
        kind="attempt_on_frozen",
        relying_party="Banque Exemple",
        at=NOW,
        check_id=f"ck-{n}",
        id=f"al-{n:024x}",
    )


def test_outbox_claims_retries_and_settles_alerts(store: RegistryStore) -> None:
    outbox: Outbox = store  # the store is the alerts module's outbox
    first = store.enqueue_alert(_alert(1), b"sealed-1", now=NOW)
    store.enqueue_alert(_alert(2), b"sealed-2", now=NOW - timedelta(minutes=1))
    store.enqueue_alert(_alert(3), b"sealed-3", now=NOW + timedelta(minutes=1))
    assert first.attempts == 0 and first.status == "pending"
    with pytest.raises(Conflict):
        store.enqueue_alert(_alert(1), b"again", now=NOW)

    due = outbox.due(NOW, 10)
    # Oldest first; not the one due later; every field back as it went in.
    assert [item.alert.id for item in due] == [_alert(2).id, _alert(1).id]
    assert due[1].alert == _alert(1)
    assert due[1].alert.subject_fingerprint == FP and due[1].sealed_contact == b"sealed-1"
    assert due[1].next_attempt_at == NOW and due[1].attempts == 0
    # Claimed: another pass does not take them again until the lease runs out.
    assert outbox.due(NOW, 10) == []
    # Then: the one due at NOW + 1 min, and the two leased until NOW + lease, in queue order.
    assert [i.alert.id for i in outbox.due(NOW + ALERT_LEASE, 10)] == [
        _alert(3).id,
        _alert(1).id,
        _alert(2).id,
    ]

    outbox.mark_retry(_alert(1).id, 1, NOW + ALERT_LEASE * 3, "HTTP 503")
    outbox.mark_delivered(_alert(2).id, NOW, attempts=1)
    outbox.mark_failed(_alert(3).id, "contact unusable", attempts=1)
    retried = outbox.due(NOW + ALERT_LEASE * 3, 10)
    assert [(i.alert.id, i.attempts, i.last_error) for i in retried] == [
        (_alert(1).id, 1, "HTTP 503")
    ]
    with pytest.raises(Conflict):
        outbox.mark_delivered(_alert(2).id, NOW, attempts=2)
    with pytest.raises(Conflict):
        outbox.mark_retry(_alert(3).id, 2, NOW, "again")
    with pytest.raises(NotFound):
        outbox.mark_failed("al-unknown", "x", attempts=1)
    assert outbox.due(NOW, 0) == []


def test_concurrent_workers_never_claim_the_same_alert(
    store: RegistryStore, database_url: str
) -> None:
    alerts = [_alert(n) for n in range(40)]
    for alert in alerts:
        store.enqueue_alert(alert, b"sealed", now=NOW)
    workers = 3
    barrier = threading.Barrier(workers)
    claimed: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        own = open_store(database_url, migrate=False)
        try:
            barrier.wait(timeout=30)
            while batch := own.due(NOW, 3):
                with lock:
                    claimed.extend(item.alert.id for item in batch)
        finally:
            own.close()

    _in_threads(workers, work)
    assert len(claimed) == len(set(claimed)), "an alert was claimed twice"
    assert sorted(claimed) == sorted(alert.id for alert in alerts)


def test_contacts_are_kept_sealed_by_subject(store: RegistryStore) -> None:
    store.add_contact(FP, b"sealed-a", owner_ref="ow-1")
    store.add_contact(OTHER_FP, b"sealed-b", owner_ref="ow-1")
    store.add_contact(FP, b"sealed-c", owner_ref="ow-2")
    assert store.contacts_for([FP, OTHER_FP, bytes(16)]) == {
        FP: [SealedContact("ow-1", b"sealed-a"), SealedContact("ow-2", b"sealed-c")],
        OTHER_FP: [SealedContact("ow-1", b"sealed-b")],
    }
    assert store.contacts_for([]) == {}


def test_relying_party_keeps_its_own_rate_limit(store: RegistryStore) -> None:
    party, api_key = store.create_relying_party("Banque Exemple", "bank", rate_limit=120)
    assert party.rate_limit == 120
    found = store.relying_party_by_key(api_key)
    assert found is not None and found.rate_limit == 120
    default, _ = store.create_relying_party("Télé Com", "telco")
    assert default.rate_limit is None
    with pytest.raises(ValueError, match="rate limit"):
        store.create_relying_party("Zéro", "other", rate_limit=0)


@pytest.mark.parametrize(
    ("subject", "details"),
    [
        (None, {}),
        (FP.hex(), {"attribute": "person", "n": 3, "ok": True, "none": None}),
        (None, {"fingerprints": [FP.hex(), OTHER_FP.hex()], "nested": {"a": [1, 2.5, "x"]}}),
    ],
)
def test_chain_entry_hashes_exactly_the_canonical_content(
    subject: str | None, details: dict[str, object]
) -> None:
    # chain_entry serialises a validated draft itself, for speed; it must agree byte for byte
    # with the one definition of an entry's content, and read back to the same entry.
    draft = AuditDraft("check", "rp_0123456789abcdef", subject, details, NOW)
    entry, stored = chain_entry(41, bytes(range(32)), draft)
    assert stored.content == canonical_content(
        seq=42,
        at=NOW,
        action="check",
        actor="rp_0123456789abcdef",
        subject=subject,
        details=details,
    )
    assert stored.entry_hash == chain_hash(bytes(range(32)), stored.content)
    assert entry == entry_from_content(
        stored.content, prev_hash=stored.prev_hash, entry_hash=stored.entry_hash
    )


def test_outbox_status_counts_by_status_without_contacts(store: RegistryStore) -> None:
    empty = store.outbox_status(NOW)
    assert empty.by_status == {} and empty.due_now == 0 and empty.oldest_pending_at is None
    for n in range(4):
        store.enqueue_alert(_alert(n), b"sealed", now=NOW + timedelta(minutes=n))
    delivered, failed = store.due(NOW + timedelta(hours=1), 2)
    store.mark_delivered(delivered.alert.id, NOW + timedelta(hours=1), attempts=1)
    store.mark_failed(failed.alert.id, "HTTP 503", attempts=8)
    status = store.outbox_status(NOW + timedelta(minutes=2, seconds=30))
    assert status.by_status == {"pending": 2, "delivered": 1, "failed": 1}
    assert status.due_now == 1  # the one queued at +2 min; the +3 min one is not due yet
    assert status.oldest_pending_at == _alert(2).at
