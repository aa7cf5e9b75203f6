"""The audit log: append-only, hash-chained, holding fingerprints and ids, never plaintext.

Chain
-----
Entry ``n`` commits to everything before it::

    content_n    = canonical JSON of {format, seq, at, action, actor, subject, details}
    entry_hash_n = SHA-256(prev_hash_n || content_n)       (:func:`chain_hash`)
    prev_hash_n  = entry_hash_(n-1), and 32 zero bytes for n = 1 (:data:`GENESIS_HASH`)

``format`` (:data:`AUDIT_FORMAT`) is part of the hashed content so that a future change of the
content layout is a new format, never a silent reinterpretation of old entries.

What the chain proves, and what it does not
-------------------------------------------
:func:`verify_chain` finds the first entry that was altered, removed, reordered or duplicated.
Someone who can rewrite the whole log can recompute every hash after the entry they change, and
can cut entries off the end; signed checkpoints (:func:`sign_checkpoint`), kept outside the
database, catch both: :func:`verify_checkpoint` checks that the log still has the signed head.

:func:`verify_registry` also holds the log to the store's head row (seq and hash of the last
entry, written in the transaction of every append, present from migration time): entries cut
off the end, or the whole log deleted, disagree with it. And it replays the freeze, lift and
thaw entries to confirm that the freezes and thaws the registry holds are the ones the log
explains: a freeze row deleted or added, a thaw changed, show up by the key's fingerprint
prefix. An intruder who rewrites the head row as well as the log, or who appends entries that
match rows they add, is caught only by a signed checkpoint taken before.

No plaintext
------------
Callers pass fingerprints (lowercase hex) as ``subject`` and relying-party ids, breach ids,
verdicts and counts in ``details`` -- never a name, an email or a document number. The guard here
is structural (``subject`` must be hex; ``details`` holds JSON scalars, lists and objects only, no
string longer than :data:`MAX_DETAIL_CHARS`); it bounds what can leak, it cannot recognise every
identifier, so the rule stays the caller's.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from types import MappingProxyType
from typing import Any

from verrou.errors import AuditChainBroken as AuditChainBroken  # re-exported: its old home
from verrou.errors import SignatureError, UnreadableAuditEntry
from verrou.registry.policy import Freeze, Thaw
from verrou.signing import (
    SigningKey,
    canonical_json,
    sign_compact,
    unique_object,
    verify_compact,
)

#: Identifies the layout of the hashed content (see the module docstring).
AUDIT_FORMAT = "verrou-audit/1"
#: ``prev_hash`` of the first entry.
GENESIS_HASH = bytes(32)
#: Longest string accepted anywhere in ``details`` (keys included): room for ids and hex
#: fingerprints, none for a free-text dump of someone's identity.
MAX_DETAIL_CHARS = 200
#: ``typ`` of a signed checkpoint; a checkpoint cannot be passed off as a verdict.
CHECKPOINT_TYP = "verrou-audit-checkpoint+jwt"

_HASH_BYTES = 32
_MAX_DETAIL_DEPTH = 8
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_CONTENT_KEYS = frozenset({"format", "seq", "at", "action", "actor", "subject", "details"})


@dataclass(frozen=True)
class AuditEntry:
    """One link of the chain. Build new ones with :func:`next_entry`; stores rebuild read rows."""

    seq: int
    at: datetime
    action: str
    actor: str
    subject: str | None
    details: Mapping[str, Any] = field(hash=False)
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True)
class ChainReport:
    """Outcome of :func:`verify_chain`.

    ``entries`` counts the entries proven intact and ``head_hash`` is the hash of the last of
    them (``None`` when there is none). When ``ok`` is false, ``first_bad_seq`` is the sequence
    number at which the chain first deviates -- entries ``1 .. first_bad_seq - 1`` are intact as
    far as the chain alone can tell -- and ``problem`` says what was found there. An entry altered
    *and rehashed* shows up as a broken link at the next seq; a rewrite of every later hash, or
    a cut tail, only a signed checkpoint reveals (:func:`verify_checkpoint`).
    """

    ok: bool
    entries: int
    head_hash: bytes | None
    first_bad_seq: int | None
    problem: str | None


@dataclass(frozen=True)
class Checkpoint:
    """A statement that the log had ``head_hash`` as the hash of entry ``seq`` at time ``at``."""

    seq: int
    head_hash: bytes
    at: datetime


@dataclass(frozen=True)
class StoredEntry:
    """An entry as a store may keep it: the exact bytes that were hashed, and both hashes.

    Keeping the hashed bytes (rather than re-serialising columns) means verification never
    depends on how a later Python or driver prints a number or a date.
    """

    content: bytes
    prev_hash: bytes
    entry_hash: bytes


@dataclass(frozen=True)
class _Unreadable:
    reason: str


def _utc(at: datetime) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("audit time must be a timezone-aware datetime")
    return at.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def format_at(at: datetime) -> str:
    """ISO 8601 in UTC with microseconds and ``Z``: ``2026-04-02T09:30:00.000000Z``."""
    # Cached: a group of checks formats the same few moments (now, valid-until, breach dates)
    # many times, and strftime is slow.
    return _utc(at).strftime(_AT_FORMAT)


def parse_at(text: str) -> datetime:
    """Inverse of :func:`format_at`; refuses any other spelling."""
    parsed = datetime.strptime(text, _AT_FORMAT).replace(tzinfo=UTC)
    if format_at(parsed) != text:
        raise ValueError("audit time is not in canonical form")
    return parsed


def _checked_string(value: str, where: str) -> str:
    if len(value) > MAX_DETAIL_CHARS:
        raise ValueError(
            f"audit detail {where} is {len(value)} characters, more than {MAX_DETAIL_CHARS}: "
            "the audit log holds fingerprints and ids, never free text"
        )
    return value


def _checked_detail(value: Any, where: str, depth: int) -> Any:
    # Returns a plain, JSON-ready deep copy, so later mutation of the caller's object cannot
    # change what an entry hashes.
    if depth > _MAX_DETAIL_DEPTH:
        raise ValueError(f"audit detail {where} is nested too deeply")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"audit detail {where} is not a finite number")
        return value
    if isinstance(value, str):
        return _checked_string(value, where)
    if isinstance(value, list | tuple):
        return [_checked_detail(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return checked_details(value, where, depth + 1)
    raise ValueError(f"audit detail {where} is a {type(value).__name__}, not a JSON value")


def checked_details(
    details: Mapping[str, Any], where: str = "details", depth: int = 0
) -> dict[str, Any]:
    """Validate ``details`` and return a plain JSON-safe copy.

    Accepts JSON scalars (finite numbers), lists and string-keyed objects of them; raises
    ``ValueError`` for anything else and for any string (key or value) longer than
    :data:`MAX_DETAIL_CHARS`.
    """
    if not isinstance(details, Mapping):
        raise ValueError(f"audit {where} must be a mapping")
    checked: dict[str, Any] = {}
    for key, value in details.items():
        if not isinstance(key, str):
            raise ValueError(f"audit {where} has a key that is not a string")
        _checked_string(key, f"{where} key")
        checked[key] = _checked_detail(value, f"{where}.{key}", depth)
    return checked


def checked_header(seq: int, action: str, actor: str, subject: str | None) -> None:
    """Validate an entry's header fields (see :func:`canonical_content`); ``ValueError``."""
    _checked_header(seq, action, actor, subject)


def _checked_header(seq: int, action: str, actor: str, subject: str | None) -> None:
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError("audit seq must be an integer >= 1")
    if not isinstance(action, str) or len(action) > 64 or not _ACTION.fullmatch(action):
        raise ValueError("audit action must be dotted lowercase words, e.g. 'freeze.place'")
    if not isinstance(actor, str) or not actor or len(actor) > MAX_DETAIL_CHARS:
        raise ValueError(f"audit actor must be a non-empty id of at most {MAX_DETAIL_CHARS} chars")
    if subject is not None and (
        not isinstance(subject, str) or len(subject) > 256 or not _HEX.fullmatch(subject)
    ):
        raise ValueError("audit subject must be a lowercase hex fingerprint or None")


def _content_bytes(
    seq: int, at: str, action: str, actor: str, subject: str | None, details: dict[str, Any]
) -> bytes:
    """The one layout of an entry's hashed bytes (:data:`AUDIT_FORMAT`), of fields already
    checked and ``at`` already formatted: :func:`canonical_content` checks them first, and
    :func:`chain_entry` has a draft that was checked when it was made."""
    return canonical_json(
        {
            "format": AUDIT_FORMAT,
            "seq": seq,
            "at": at,
            "action": action,
            "actor": actor,
            "subject": subject,
            "details": details,
        }
    )


def canonical_content(
    *,
    seq: int,
    at: datetime,
    action: str,
    actor: str,
    subject: str | None,
    details: Mapping[str, Any],
) -> bytes:
    """The bytes an entry hashes: canonical JSON of its fields (and :data:`AUDIT_FORMAT`).

    Validates every field (``ValueError``): seq >= 1, ``at`` timezone-aware, ``action`` dotted
    lowercase, ``actor`` a short id, ``subject`` lowercase hex or None, ``details`` as in
    :func:`checked_details`.
    """
    _checked_header(seq, action, actor, subject)
    return _content_bytes(seq, format_at(at), action, actor, subject, checked_details(details))


def entry_content(entry: AuditEntry) -> bytes:
    """:func:`canonical_content` of an existing entry."""
    return canonical_content(
        seq=entry.seq,
        at=entry.at,
        action=entry.action,
        actor=entry.actor,
        subject=entry.subject,
        details=entry.details,
    )


def chain_hash(prev_hash: bytes, content: bytes) -> bytes:
    """SHA-256(prev_hash || content); ``prev_hash`` is 32 bytes (:data:`GENESIS_HASH` first)."""
    if not isinstance(prev_hash, bytes) or len(prev_hash) != _HASH_BYTES:
        raise ValueError("prev_hash must be 32 bytes")
    return hashlib.sha256(prev_hash + content).digest()


@dataclass(frozen=True)
class AuditDraft:
    """An audit entry before the store gives it its place in the chain (seq, prev_hash, hash).

    Validated on construction with the rules of :func:`canonical_content` (dotted
    action, short actor id, hex fingerprint or None as subject, JSON details without free text),
    so a bad entry is refused before any transaction starts. ``details`` is kept as a read-only
    copy.
    """

    action: str
    actor: str
    subject: str | None
    details: Mapping[str, Any] = field(hash=False)
    at: datetime

    def __post_init__(self) -> None:
        checked_header(1, self.action, self.actor, self.subject)
        format_at(self.at)  # timezone-aware, or ValueError
        object.__setattr__(self, "details", MappingProxyType(checked_details(self.details)))


def chain_entry(
    head_seq: int, head_hash: bytes, draft: AuditDraft
) -> tuple[AuditEntry, StoredEntry]:
    """The entry that follows the chain head (``head_seq`` 0 and 32 zero bytes: an empty log),
    and the form the store keeps: the exact hashed bytes and both hashes.

    The draft was validated when it was made, so its content is laid out without checking it
    again, in the layout :func:`canonical_content` uses after its checks (a test holds the two
    equal).
    """
    seq = head_seq + 1
    content = _content_bytes(
        seq, format_at(draft.at), draft.action, draft.actor, draft.subject, dict(draft.details)
    )
    entry_hash = chain_hash(head_hash, content)
    entry = AuditEntry(
        seq=seq,
        at=draft.at.astimezone(UTC),
        action=draft.action,
        actor=draft.actor,
        subject=draft.subject,
        details=draft.details,
        prev_hash=head_hash,
        entry_hash=entry_hash,
    )
    return entry, StoredEntry(content=content, prev_hash=head_hash, entry_hash=entry_hash)


def next_entry(
    prev: AuditEntry | None,
    *,
    at: datetime,
    action: str,
    actor: str,
    subject: str | None,
    details: Mapping[str, Any],
) -> AuditEntry:
    """Build the entry that follows ``prev`` (the first entry when ``prev`` is None).

    Raises ``ValueError`` for invalid fields, including plaintext-shaped details (see
    :func:`checked_details`). The entry's ``details`` is a read-only copy. The same builder as
    the stores' (:func:`chain_entry`), for an entry kept outside a store.
    """
    draft = AuditDraft(action, actor, subject, details, at)
    if prev is None:
        return chain_entry(0, GENESIS_HASH, draft)[0]
    return chain_entry(prev.seq, prev.entry_hash, draft)[0]


def entry_from_content(content: bytes, *, prev_hash: bytes, entry_hash: bytes) -> AuditEntry:
    """Rebuild an entry from its canonical content (for stores that keep the hashed bytes).

    Raises :class:`~verrou.errors.UnreadableAuditEntry` (a ``ValueError``) when ``content`` is
    not a well-formed entry of :data:`AUDIT_FORMAT` in canonical form (so one entry has exactly
    one stored spelling).
    The hashes are taken as given: :func:`verify_chain` is what checks them.
    """
    try:
        return _entry_from_content(content, prev_hash, entry_hash)
    except ValueError as exc:  # the decoder's reasons, and those of the checks it shares
        raise UnreadableAuditEntry(str(exc)) from exc


def _unreadable(exc: Exception) -> _Unreadable:
    """What a walk reports of an entry :func:`entry_from_content` could not rebuild."""
    return _Unreadable(exc.reason if isinstance(exc, UnreadableAuditEntry) else str(exc))


def _entry_from_content(content: bytes, prev_hash: bytes, entry_hash: bytes) -> AuditEntry:
    try:
        fields = json.loads(content.decode("utf-8"), object_pairs_hook=unique_object)
    except UnicodeDecodeError as exc:
        raise ValueError("audit content is not UTF-8") from exc
    except ValueError as exc:  # JSONDecodeError or a duplicate member
        raise ValueError("audit content is not a JSON object without duplicates") from exc
    if not isinstance(fields, dict) or set(fields) != _CONTENT_KEYS:
        raise ValueError("audit content does not have the entry fields")
    if fields["format"] != AUDIT_FORMAT:
        raise ValueError("audit content is of an unknown format")
    if not isinstance(fields["at"], str) or not isinstance(fields["details"], dict):
        raise ValueError("audit content has fields of the wrong type")
    entry = AuditEntry(
        seq=fields["seq"],
        at=parse_at(fields["at"]),
        action=fields["action"],
        actor=fields["actor"],
        subject=fields["subject"],
        details=MappingProxyType(checked_details(fields["details"])),
        prev_hash=prev_hash,
        entry_hash=entry_hash,
    )
    if entry_content(entry) != content:
        raise ValueError("audit content is not in canonical form")
    return entry


def stored_entry(entry: AuditEntry) -> StoredEntry:
    """The form a store keeps (see :class:`StoredEntry`)."""
    return StoredEntry(
        content=entry_content(entry), prev_hash=entry.prev_hash, entry_hash=entry.entry_hash
    )


def _seq_appears(rest: Iterator[object], seq: int) -> bool:
    return any(isinstance(item, AuditEntry) and item.seq == seq for item in rest)


def verify_stored(records: Iterable[StoredEntry]) -> ChainReport:
    """:func:`verify_chain` for stored records; a record that cannot be decoded is reported."""

    def decoded() -> Iterator[object]:
        for record in records:
            try:
                yield entry_from_content(
                    record.content, prev_hash=record.prev_hash, entry_hash=record.entry_hash
                )
            except (ValueError, TypeError, AttributeError) as exc:
                yield _unreadable(exc)

    return _walk(decoded())


def verify_chain(entries: Iterable[AuditEntry]) -> ChainReport:
    """Walk the log in order and report the first place it deviates from an intact chain.

    Checks, for the entry at each position: that it is an :class:`AuditEntry` with the next seq
    (otherwise: missing, reordered or duplicated), that its ``prev_hash`` is the previous entry's
    hash (broken link), that its fields are valid, and that its ``entry_hash`` is the hash of its
    content (altered). An empty log is intact with no head. Never raises for a bad log: every
    problem is in the report; see :func:`raise_if_broken`.
    """
    return _walk(entries)


def _walk(entries: Iterable[object]) -> ChainReport:
    iterator = iter(entries)
    expected_seq = 1
    prev_hash = GENESIS_HASH
    head: bytes | None = None

    def broken(problem: str) -> ChainReport:
        return ChainReport(
            ok=False,
            entries=expected_seq - 1,
            head_hash=head,
            first_bad_seq=expected_seq,
            problem=problem,
        )

    for item in iterator:
        if isinstance(item, _Unreadable):
            return broken(f"entry {expected_seq} cannot be read: {item.reason}")
        if not isinstance(item, AuditEntry):
            return broken(f"entry {expected_seq}: found a {type(item).__name__}, not an entry")
        seq = item.seq
        if not isinstance(seq, int) or isinstance(seq, bool):
            return broken(f"entry {expected_seq}: seq is not an integer")
        if seq < expected_seq:
            return broken(
                f"entry {expected_seq}: found entry {seq} again (duplicated or replayed entry)"
            )
        if seq > expected_seq:
            if _seq_appears(iterator, expected_seq):
                return broken(
                    f"entry {expected_seq}: found entry {seq} in its place (entries reordered)"
                )
            return broken(f"entry {expected_seq} is missing (next present entry is {seq})")
        if not isinstance(item.prev_hash, bytes) or not hmac.compare_digest(
            item.prev_hash, prev_hash
        ):
            return broken(
                f"entry {seq}: prev_hash does not match the hash of entry {seq - 1} "
                "(broken link: one of the two was altered)"
            )
        try:
            recomputed = chain_hash(item.prev_hash, entry_content(item))
        except (ValueError, TypeError) as exc:
            return broken(f"entry {seq} is malformed: {exc}")
        if not isinstance(item.entry_hash, bytes) or not hmac.compare_digest(
            item.entry_hash, recomputed
        ):
            return broken(f"entry {seq}: content does not match its hash (entry altered)")
        prev_hash = head = item.entry_hash
        expected_seq += 1

    return ChainReport(
        ok=True, entries=expected_seq - 1, head_hash=head, first_bad_seq=None, problem=None
    )


def raise_if_broken(report: ChainReport) -> None:
    """Raise :class:`AuditChainBroken` unless ``report`` is ok."""
    if not report.ok:
        raise AuditChainBroken(
            f"audit log does not verify: {report.problem}", first_bad_seq=report.first_bad_seq
        )


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> str:
    """Sign ``{"seq", "head" (hex), "at"}`` as a compact JWS of type :data:`CHECKPOINT_TYP`."""
    if (
        not isinstance(checkpoint.seq, int)
        or isinstance(checkpoint.seq, bool)
        or checkpoint.seq < 1
    ):
        raise ValueError("checkpoint seq must be an integer >= 1")
    if not isinstance(checkpoint.head_hash, bytes) or len(checkpoint.head_hash) != _HASH_BYTES:
        raise ValueError("checkpoint head_hash must be 32 bytes")
    payload = {
        "seq": checkpoint.seq,
        "head": checkpoint.head_hash.hex(),
        "at": format_at(checkpoint.at),
    }
    return sign_compact(payload, key, typ=CHECKPOINT_TYP)


def read_checkpoint(token: str, jwks: Mapping[str, Any]) -> Checkpoint:
    """Verify a checkpoint's signature and return it (``SignatureError`` otherwise)."""
    payload = verify_compact(token, jwks, typ=CHECKPOINT_TYP)
    seq, head, at = payload.get("seq"), payload.get("head"), payload.get("at")
    try:
        if set(payload) != {"seq", "head", "at"}:
            raise ValueError("members")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("seq")
        if not isinstance(head, str) or not re.fullmatch(r"[0-9a-f]{64}", head):
            raise ValueError("head")
        if not isinstance(at, str):
            raise ValueError("at")
        return Checkpoint(seq=seq, head_hash=bytes.fromhex(head), at=parse_at(at))
    except ValueError:
        raise SignatureError("checkpoint payload is malformed") from None


def verify_checkpoint(token: str, jwks: Mapping[str, Any], entries: Iterable[AuditEntry]) -> None:
    """Check a signed checkpoint against the log; return only if both agree.

    Raises ``SignatureError`` when the token does not verify, and :class:`AuditChainBroken` when
    the log's first ``seq`` entries do not verify, stop before ``seq`` (truncated log) or end in
    another hash than the signed head (history rewritten). Entries after ``seq`` are not read.
    """
    checkpoint = read_checkpoint(token, jwks)
    report = verify_chain(islice(entries, checkpoint.seq))
    raise_if_broken(report)
    if report.entries < checkpoint.seq:
        raise AuditChainBroken(
            f"audit log has {report.entries} entries, the checkpoint covers {checkpoint.seq} "
            "(log truncated)",
            first_bad_seq=report.entries + 1,
        )
    if report.head_hash is None or not hmac.compare_digest(report.head_hash, checkpoint.head_hash):
        raise AuditChainBroken(
            f"audit log entry {checkpoint.seq} does not have the checkpoint's head hash "
            "(history rewritten)",
            first_bad_seq=checkpoint.seq,
        )


# --- the log against the registry: its head row and the freeze state ------------------------

#: Hex characters of a fingerprint named in a report (never the whole key, never plaintext).
KEY_PREFIX_HEX = 12
#: Keys named at most in one report line.
_KEYS_NAMED = 5


@dataclass(frozen=True)
class AuditSnapshot:
    """What the store holds beside the log, read in one transaction under the head lock: the
    head row (seq, hash; None when the row is missing), the log's last entry (None: empty log),
    and every freeze and thaw."""

    head: tuple[int, bytes] | None
    last: tuple[int, bytes] | None
    freezes: Sequence[Freeze]
    thaws: Sequence[Thaw]


#: (placed_by, reason, since, canary, owner) of a freeze; None where an old entry did not say.
#: The owner is "" for a freeze of nobody's account: entries name it only when there is one, so
#: a row given an owner after the fact (to let that account thaw it) is a disagreement.
_FreezeFields = tuple[str | None, str | None, str | None, bool | None, str | None]
#: (relying party, starts, until) of a thaw.
_ThawFields = tuple[str | None, str | None, str | None]


@dataclass
class _FreezeReplay:
    """The freeze state the log's freeze, lift and thaw entries explain, by fingerprint hex."""

    freezes: dict[str, _FreezeFields] = field(default_factory=dict)
    thaws: dict[str, Counter[_ThawFields]] = field(default_factory=dict)

    def apply(self, entry: AuditEntry) -> None:
        key = entry.subject
        if key is None:
            return
        details = entry.details
        if entry.action == "freeze.place":
            # Entries before the store recorded `since` were written with the freeze's time.
            self.freezes[key] = (
                _text(details.get("placed_by")),
                _text(details.get("reason")),
                _text(details.get("since")) or format_at(entry.at),
                details.get("canary") if isinstance(details.get("canary"), bool) else None,
                _text(details.get("owner")) or "",
            )
            self.thaws.pop(key, None)
        elif entry.action == "freeze.lift":
            self.freezes.pop(key, None)
            self.thaws.pop(key, None)  # a lift takes the key's thaws with it
        elif entry.action == "thaw.add":
            window = (
                _text(details.get("relying_party_id")),
                _text(details.get("starts")),
                _text(details.get("until")),
            )
            self.thaws.setdefault(key, Counter())[window] += 1


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _same_freeze(logged: _FreezeFields, held: _FreezeFields) -> bool:
    return all(a is None or a == b for a, b in zip(logged, held, strict=True))


def freeze_disagreements(
    entries: Iterable[AuditEntry], freezes: Sequence[Freeze], thaws: Sequence[Thaw]
) -> list[tuple[str, str]]:
    """Keys whose freeze state is not the one the log explains, as (fingerprint hex, what),
    in fingerprint order: a freeze row deleted, added without an entry or altered, a thaw
    added, removed or changed."""
    replay = _FreezeReplay()
    for entry in entries:
        replay.apply(entry)
    return _disagreements(replay, freezes, thaws)


def _disagreements(
    replay: _FreezeReplay, freezes: Sequence[Freeze], thaws: Sequence[Thaw]
) -> list[tuple[str, str]]:
    held: dict[str, _FreezeFields] = {
        f.fingerprint.hex(): (f.placed_by, f.reason, format_at(f.since), f.canary, f.owner or "")
        for f in freezes
    }
    held_thaws: dict[str, Counter[_ThawFields]] = {}
    for t in thaws:
        window = (t.relying_party_id, format_at(t.starts), format_at(t.until))
        held_thaws.setdefault(t.fingerprint.hex(), Counter())[window] += 1
    found: list[tuple[str, str]] = []
    for key in sorted(set(replay.freezes) | set(held) | set(replay.thaws) | set(held_thaws)):
        logged = replay.freezes.get(key)
        row = held.get(key)
        if logged is not None and row is None:
            found.append((key, "freeze row deleted"))
        elif logged is None and row is not None:
            found.append((key, "freeze row without an audit entry"))
        elif logged is not None and row is not None and not _same_freeze(logged, row):
            found.append((key, "freeze row altered"))
        elif not _same_thaws(replay.thaws.get(key, Counter()), held_thaws.get(key, Counter())):
            found.append((key, "thaws differ from the log (added, removed or changed)"))
    return found


def _same_thaws(logged: Counter[_ThawFields], held: Counter[_ThawFields]) -> bool:
    if logged == held:
        return True
    # An old thaw entry that did not say its window matches any one thaw of its key.
    if sum(logged.values()) != sum(held.values()):
        return False
    rest = held.copy()
    loose = 0
    for window, count in logged.items():
        if None in window:
            loose += count
            continue
        if rest[window] < count:
            return False
        rest[window] -= count
    return loose == sum(rest.values())


def verify_registry(records: Iterable[StoredEntry], snapshot: AuditSnapshot) -> ChainReport:
    """:func:`verify_stored`, then the log against the store's head row, then the freeze state
    against the log (:func:`freeze_disagreements`).

    ``records`` is the store's log in seq order; ``snapshot`` was read before it
    (:meth:`verrou.store.protocols.AuditLogStore.audit_snapshot`), so the walk stops at the head's
    seq and later appends do not count. Never raises for a bad log: see :func:`raise_if_broken`.
    """

    def failed(problem: str, first_bad: int | None, intact: int = 0) -> ChainReport:
        return ChainReport(False, intact, None, first_bad, problem)

    if snapshot.head is None:
        return failed("the audit head row is missing (deleted): the log cannot be checked", None)
    head_seq, head_hash = snapshot.head
    replay = _FreezeReplay()

    def decoded() -> Iterator[object]:
        for record in islice(records, head_seq):
            try:
                entry = entry_from_content(
                    record.content, prev_hash=record.prev_hash, entry_hash=record.entry_hash
                )
            except (ValueError, TypeError, AttributeError) as exc:
                yield _unreadable(exc)
                return
            yield entry
            replay.apply(entry)  # after the walk accepted it (an entry is replayed once)

    report = _walk(decoded())
    if not report.ok:
        return report
    intact = report.entries
    if intact < head_seq:
        what = "the log is empty" if intact == 0 else f"the log ends at entry {intact}"
        return failed(
            f"{what} but its head is entry {head_seq} (entries deleted from the end)",
            intact + 1,
            intact,
        )
    last_seq = 0 if snapshot.last is None else snapshot.last[0]
    if last_seq > head_seq:
        return failed(
            f"entry {last_seq} is past the head, entry {head_seq} (entries added behind the "
            "head's back)",
            head_seq + 1,
            head_seq,
        )
    if head_seq and not hmac.compare_digest(report.head_hash or b"", head_hash):
        return failed(
            f"entry {head_seq} does not have the head's hash (rewritten)", head_seq, head_seq - 1
        )
    disagree = _disagreements(replay, snapshot.freezes, snapshot.thaws)
    if disagree:
        named = ", ".join(
            f"{key[:KEY_PREFIX_HEX]} ({what})" for key, what in disagree[:_KEYS_NAMED]
        )
        more = f" and {len(disagree) - _KEYS_NAMED} more" if len(disagree) > _KEYS_NAMED else ""
        return ChainReport(
            ok=False,
            entries=report.entries,
            head_hash=report.head_hash,
            first_bad_seq=None,
            problem=(
                f"the freeze state disagrees with the audit log for {len(disagree)} "
                f"key(s): {named}{more}"
            ),
        )
    return report
