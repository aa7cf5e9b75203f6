from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verrou.errors import VerrouError
from verrou.registry.audit import (
    GENESIS_HASH,
    MAX_DETAIL_CHARS,
    AuditChainBroken,
    AuditEntry,
    ChainReport,
    Checkpoint,
    StoredEntry,
    canonical_content,
    chain_hash,
    entry_content,
    entry_from_content,
    next_entry,
    raise_if_broken,
    sign_checkpoint,
    stored_entry,
    verify_chain,
    verify_checkpoint,
    verify_stored,
)
from verrou.signing import SignatureError, SigningKey, public_jwks, sign_compact

T0 = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
ACTIONS = ["check", "freeze.place", "freeze.lift", "thaw", "rp.create"]
KEY = SigningKey.generate()
JWKS = public_jwks([KEY])


def _build(count: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev: AuditEntry | None = None
    for n in range(count):
        prev = next_entry(
            prev,
            at=T0 + timedelta(seconds=n, microseconds=n),
            action=ACTIONS[n % len(ACTIONS)],
            actor=f"rp-{n % 7}" if n % 5 == 0 else "operator",
            subject=hashlib.sha256(str(n).encode()).hexdigest()[:32] if n % 3 else None,
            details={"verdict": "step_up", "breaches": [f"b-{n % 4}"], "n": n, "ok": n % 2 == 0},
        )
        entries.append(prev)
    return entries


CHAIN = _build(1000)


def _report_names(report: ChainReport, seq: int, word: str) -> None:
    assert not report.ok
    assert report.first_bad_seq == seq, report.problem
    assert report.problem is not None and word in report.problem, report.problem
    assert report.entries == seq - 1
    assert report.head_hash == (CHAIN[seq - 2].entry_hash if seq > 1 else None)


# -- building and an intact chain ---------------------------------------------------------------


def test_intact_chain_of_1000_entries_verifies() -> None:
    report = verify_chain(CHAIN)
    assert report == ChainReport(
        ok=True, entries=1000, head_hash=CHAIN[-1].entry_hash, first_bad_seq=None, problem=None
    )
    raise_if_broken(report)  # no exception
    assert [e.seq for e in CHAIN] == list(range(1, 1001))


def test_entries_are_linked_by_documented_hashes() -> None:
    first, second = CHAIN[0], CHAIN[1]
    assert first.prev_hash == GENESIS_HASH == bytes(32)
    assert first.entry_hash == hashlib.sha256(bytes(32) + entry_content(first)).digest()
    assert second.prev_hash == first.entry_hash
    assert chain_hash(second.prev_hash, entry_content(second)) == second.entry_hash


def test_canonical_content_is_sorted_compact_utc_json() -> None:
    content = canonical_content(
        seq=3,
        at=datetime(2026, 4, 2, 11, 30, tzinfo=timezone(timedelta(hours=2))),
        action="freeze.place",
        actor="owner",
        subject="00ff",
        details={"z": 1, "a": None},
    )
    assert content == (
        b'{"action":"freeze.place","actor":"owner","at":"2026-04-02T09:30:00.000000Z",'
        b'"details":{"a":null,"z":1},"format":"verrou-audit/1","seq":3,"subject":"00ff"}'
    )


def test_empty_chain_is_ok_with_no_head() -> None:
    assert verify_chain([]) == ChainReport(
        ok=True, entries=0, head_hash=None, first_bad_seq=None, problem=None
    )


def test_entry_time_is_normalised_to_utc_and_naive_times_are_refused() -> None:
    paris = timezone(timedelta(hours=2))
    entry = next_entry(
        None, at=T0.astimezone(paris), action="check", actor="rp-1", subject=None, details={}
    )
    assert entry.at == T0 and entry.at.tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        next_entry(
            None, at=datetime(2026, 4, 2), action="check", actor="rp-1", subject=None, details={}
        )


def test_entry_details_are_a_read_only_copy() -> None:
    details: dict[str, Any] = {"breaches": ["b-1"]}
    entry = next_entry(None, at=T0, action="check", actor="rp-1", subject=None, details=details)
    details["breaches"].append("b-2")
    details["extra"] = 1
    assert dict(entry.details) == {"breaches": ["b-1"]}
    with pytest.raises(TypeError):
        entry.details["x"] = 1  # type: ignore[index]
    assert verify_chain([entry]).ok


# -- the plaintext guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "details",
    [
        {"note": "x" * (MAX_DETAIL_CHARS + 1)},
        {"nested": {"deeper": ["ok", "y" * (MAX_DETAIL_CHARS + 1)]}},
        {"k" * (MAX_DETAIL_CHARS + 1): 1},
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        {"raw": b"bytes"},
        {"score": float("nan")},
        {"ids": {1, 2}},
        {1: "non-string key"},
    ],
)
def test_details_that_are_not_short_json_values_are_refused(details: dict[Any, Any]) -> None:
    with pytest.raises(ValueError):
        next_entry(None, at=T0, action="check", actor="rp-1", subject=None, details=details)


def test_details_at_the_limit_are_accepted() -> None:
    entry = next_entry(
        None,
        at=T0,
        action="check",
        actor="rp-1",
        subject=None,
        details={"fp": "a" * MAX_DETAIL_CHARS, "n": [1, 2.5, None, True]},
    )
    assert verify_chain([entry]).ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Jean Dupont"),  # a name where a fingerprint belongs
        ("subject", "ABCDEF"),  # hex, but not our lowercase spelling
        ("subject", "abc"),  # odd length: not bytes
        ("action", "Freeze Place"),
        ("action", ""),
        ("actor", ""),
        ("actor", "a" * (MAX_DETAIL_CHARS + 1)),
    ],
)
def test_header_fields_are_validated(field: str, value: str) -> None:
    fields: dict[str, Any] = {"action": "check", "actor": "rp-1", "subject": "00ff"}
    fields[field] = value
    with pytest.raises(ValueError):
        next_entry(None, at=T0, details={}, **fields)


# -- damage, each named at its first bad seq ----------------------------------------------------


def test_one_byte_of_one_entry_details_altered() -> None:
    damaged = list(CHAIN)
    victim = damaged[499]
    details = dict(victim.details)
    details["verdict"] = "step_uq"
    damaged[499] = dataclasses.replace(victim, details=details)
    _report_names(verify_chain(damaged), 500, "altered")


def test_time_changed() -> None:
    damaged = list(CHAIN)
    damaged[320] = dataclasses.replace(damaged[320], at=damaged[320].at + timedelta(microseconds=1))
    _report_names(verify_chain(damaged), 321, "altered")


def test_entry_deleted() -> None:
    damaged = CHAIN[:699] + CHAIN[700:]
    _report_names(verify_chain(damaged), 700, "missing")


def test_two_entries_swapped() -> None:
    damaged = list(CHAIN)
    damaged[399], damaged[400] = damaged[400], damaged[399]
    _report_names(verify_chain(damaged), 400, "reordered")


def test_entry_duplicated() -> None:
    # Entries 1..250 are intact; the copy of 250 sits where 251 belongs.
    damaged = [*CHAIN[:250], CHAIN[249], *CHAIN[250:]]
    _report_names(verify_chain(damaged), 251, "duplicated")


def test_prev_hash_altered() -> None:
    damaged = list(CHAIN)
    bad = bytes([damaged[799].prev_hash[0] ^ 1]) + damaged[799].prev_hash[1:]
    damaged[799] = dataclasses.replace(damaged[799], prev_hash=bad)
    _report_names(verify_chain(damaged), 800, "broken link")


def test_last_entry_altered() -> None:
    damaged = list(CHAIN)
    damaged[-1] = dataclasses.replace(damaged[-1], actor="rp-999")
    _report_names(verify_chain(damaged), 1000, "altered")


def test_entry_hash_altered() -> None:
    damaged = list(CHAIN)
    bad = bytes([damaged[9].entry_hash[0] ^ 1]) + damaged[9].entry_hash[1:]
    damaged[9] = dataclasses.replace(damaged[9], entry_hash=bad)
    _report_names(verify_chain(damaged), 10, "altered")


def test_first_entry_altered() -> None:
    damaged = [dataclasses.replace(CHAIN[0], subject="ff00"), *CHAIN[1:]]
    _report_names(verify_chain(damaged), 1, "altered")


def test_chain_not_starting_at_one_reports_entry_one_missing() -> None:
    _report_names(verify_chain(CHAIN[1:]), 1, "missing")


def test_altered_entry_rehashed_is_caught_by_the_next_link() -> None:
    # Limit of a bare chain, documented: recomputing the altered entry's hash moves the detection
    # to the next entry's link (and recomputing all later hashes needs a checkpoint to catch).
    damaged = list(CHAIN)
    victim = dataclasses.replace(damaged[49], actor="rp-forged")
    victim = dataclasses.replace(
        victim, entry_hash=chain_hash(victim.prev_hash, entry_content(victim))
    )
    damaged[49] = victim
    report = verify_chain(damaged)
    assert (report.ok, report.first_bad_seq, report.head_hash) == (False, 51, victim.entry_hash)
    assert report.problem is not None and "broken link" in report.problem


def test_malformed_entries_and_foreign_items_are_reported_not_raised() -> None:
    naive = dataclasses.replace(CHAIN[2], at=datetime(2026, 4, 2))
    _report_names(verify_chain([*CHAIN[:2], naive, *CHAIN[3:]]), 3, "malformed")
    long_detail = dataclasses.replace(CHAIN[2], details={"note": "x" * 500})
    _report_names(verify_chain([*CHAIN[:2], long_detail, *CHAIN[3:]]), 3, "malformed")
    items: list[Any] = [*CHAIN[:2], {"seq": 3}, *CHAIN[3:]]
    _report_names(verify_chain(items), 3, "not an entry")


def test_raise_if_broken_raises_our_error_with_the_seq() -> None:
    report = verify_chain(CHAIN[:10] + CHAIN[11:])
    with pytest.raises(AuditChainBroken, match="entry 11 is missing") as caught:
        raise_if_broken(report)
    assert caught.value.first_bad_seq == 11
    assert isinstance(caught.value, VerrouError)
    assert (AuditChainBroken.status, AuditChainBroken.code) == (500, "audit_chain_broken")


# -- stored form --------------------------------------------------------------------------------


def test_stored_records_round_trip_and_verify() -> None:
    records = [stored_entry(e) for e in CHAIN[:50]]
    assert [
        entry_from_content(r.content, prev_hash=r.prev_hash, entry_hash=r.entry_hash)
        for r in records
    ] == CHAIN[:50]
    assert verify_stored(records).head_hash == CHAIN[49].entry_hash


def test_non_canonical_or_duplicate_member_content_is_unreadable() -> None:
    entry = CHAIN[0]
    fields = json.loads(entry_content(entry))
    spaced = json.dumps(fields).encode()  # same fields, other spelling
    duplicated = entry_content(entry)[:-1] + b',"seq":1}'
    for content in (spaced, duplicated):
        with pytest.raises(ValueError):
            entry_from_content(content, prev_hash=entry.prev_hash, entry_hash=entry.entry_hash)
        record = StoredEntry(content, entry.prev_hash, entry.entry_hash)
        report = verify_stored([record])
        assert (report.ok, report.first_bad_seq) == (False, 1)
        assert report.problem is not None and "cannot be read" in report.problem


@settings(max_examples=200, deadline=None)
@given(
    st.data(),
    st.lists(
        st.dictionaries(
            st.sampled_from(["rp", "verdict", "breach", "count"]),
            st.one_of(st.integers(-1000, 1000), st.text("abcdef0123456789é-", max_size=20)),
            max_size=3,
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_any_single_byte_alteration_is_named_at_its_entry(
    data: st.DataObject, all_details: list[dict[str, Any]]
) -> None:
    entries: list[AuditEntry] = []
    prev: AuditEntry | None = None
    for n, details in enumerate(all_details):
        prev = next_entry(
            prev,
            at=T0 + timedelta(minutes=n),
            action="check",
            actor=f"rp-{n}",
            subject=f"{n:032x}",
            details=details,
        )
        entries.append(prev)
    records = [stored_entry(e) for e in entries]
    assert verify_stored(records).ok

    index = data.draw(st.integers(0, len(records) - 1), label="entry")
    content = bytearray(records[index].content)
    position = data.draw(st.integers(0, len(content) - 1), label="byte")
    content[position] = (content[position] + data.draw(st.integers(1, 255), label="delta")) % 256
    records[index] = dataclasses.replace(records[index], content=bytes(content))

    report = verify_stored(records)
    assert not report.ok
    assert report.first_bad_seq == index + 1, report.problem
    assert report.entries == index


# -- signed checkpoints -------------------------------------------------------------------------


def _checkpoint(seq: int) -> str:
    return sign_checkpoint(Checkpoint(seq=seq, head_hash=CHAIN[seq - 1].entry_hash, at=T0), KEY)


def test_checkpoint_round_trip() -> None:
    token = _checkpoint(600)
    verify_checkpoint(token, JWKS, CHAIN)  # whole log
    verify_checkpoint(token, JWKS, iter(CHAIN[:600]))  # exactly up to the checkpoint
    damaged_after = list(CHAIN)
    damaged_after[800] = dataclasses.replace(damaged_after[800], actor="rp-x")
    verify_checkpoint(token, JWKS, damaged_after)  # later entries are not its business


def test_checkpoint_fails_on_a_chain_altered_before_its_seq() -> None:
    damaged = list(CHAIN)
    damaged[100] = dataclasses.replace(damaged[100], actor="rp-x")
    with pytest.raises(AuditChainBroken, match="entry 101") as caught:
        verify_checkpoint(_checkpoint(600), JWKS, damaged)
    assert caught.value.first_bad_seq == 101


def test_checkpoint_catches_history_rewritten_with_recomputed_hashes() -> None:
    rewritten = list(CHAIN[:100])
    prev: AuditEntry | None = rewritten[-1]
    for original in CHAIN[100:600]:
        prev = next_entry(
            prev,
            at=original.at,
            action=original.action,
            actor="rp-forged",
            subject=original.subject,
            details=original.details,
        )
        rewritten.append(prev)
    assert verify_chain(rewritten).ok  # the bare chain cannot tell
    with pytest.raises(AuditChainBroken, match="history rewritten"):
        verify_checkpoint(_checkpoint(600), JWKS, rewritten)


def test_checkpoint_catches_a_truncated_log() -> None:
    with pytest.raises(AuditChainBroken, match="truncated") as caught:
        verify_checkpoint(_checkpoint(600), JWKS, CHAIN[:599])
    assert caught.value.first_bad_seq == 600


def test_checkpoint_signature_is_checked() -> None:
    token = _checkpoint(600)
    with pytest.raises(SignatureError, match="no key with kid"):
        verify_checkpoint(token, public_jwks([SigningKey.generate()]), CHAIN)
    header, payload, signature = token.split(".")
    with pytest.raises(SignatureError):
        verify_checkpoint(f"{header}.{payload}.{signature[::-1]}", JWKS, CHAIN)


def test_a_verdict_token_is_not_a_checkpoint() -> None:
    payload = {"seq": 600, "head": CHAIN[599].entry_hash.hex(), "at": "2026-04-02T09:30:00.000000Z"}
    verdict_typed = sign_compact(payload, KEY)
    with pytest.raises(SignatureError, match="typ"):
        verify_checkpoint(verdict_typed, JWKS, CHAIN)


def test_checkpoint_payload_shape_is_checked() -> None:
    bad = {"seq": True, "head": "00", "at": "yesterday"}
    token = sign_compact(bad, KEY, typ="verrou-audit-checkpoint+jwt")
    with pytest.raises(SignatureError, match="malformed"):
        verify_checkpoint(token, JWKS, CHAIN)
