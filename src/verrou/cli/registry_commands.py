"""Operator commands of the registry: freezes and thaws, an identity's report, relying parties,
the audit log, alert contacts and their delivery.

The commands parse options, call :mod:`verrou.registry.subjects` or the store, and print. Identity
values given on the command line are never printed back, not even in errors.
"""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import IO, Any, Final, TypeVar

import click
from pydantic import ValidationError
from rich import box
from rich.table import Table

from verrou.api.schemas import ApplicantIn, decode_document, field_errors
from verrou.cli import (
    Context,
    _parse_when,
    err,
    json_option,
    keyed_registry,
    main,
    out,
    print_json,
    registry,
)
from verrou.errors import (
    ConfigError,
    Conflict,
    InvalidApplicant,
    InvalidIdentity,
    NoIdentity,
    NotFound,
)
from verrou.fingerprints import Fingerprinter
from verrou.keys import decode_secret
from verrou.registry import subjects
from verrou.registry.alerts import (
    WEBHOOK_SECRET_MIN_BYTES,
    AlertTransport,
    DeliveryReport,
    SmtpTransport,
    WebhookTransport,
    deliver_due,
    run_worker,
)
from verrou.registry.audit import (
    AuditChainBroken,
    AuditEntry,
    ChainReport,
    Checkpoint,
    StoredEntry,
    entry_from_content,
    read_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
    verify_registry,
)
from verrou.registry.contacts import Contact, load_contact_key_file
from verrou.registry.policy import (
    DOCUMENT_KINDS,
    FREEZE_REASONS,
    PLACED_BY,
    Applicant,
    IdentityKey,
    PostalAddress,
    applicant_keys,
)
from verrou.registry.records import KEY_PREFIX_CHARS, SECTORS, RelyingParty
from verrou.settings import SETTINGS_BY_FIELD, Settings
from verrou.signing import load_signing_key_file, public_jwks
from verrou.store.protocols import RegistryStore

F = TypeVar("F", bound=Callable[..., Any])

#: The actor id of audit entries written from the command line.
ACTOR: Final = "operator"


def _now() -> datetime:
    return datetime.now(UTC)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _file_option(*names: str, mode: str = "r", help: str) -> Callable[[F], F]:
    """An option naming a UTF-8 text file (``-``: stdin or stdout), opened by click in ``mode``."""
    return click.option(*names, type=click.File(mode, encoding="utf-8"), metavar="FILE", help=help)


# --- identity options -------------------------------------------------------------------------

_IDENTITY_PARAMS: Final = (
    "person",
    "usage_name",
    "birth_place",
    "document",
    "nir",
    "email",
    "phone",
    "iban",
    "address",
    "postcode",
    "city",
    "applicant_json",
)

_IDENTITY_OPTIONS: Final = (
    click.option(
        "--person",
        nargs=3,
        metavar="FAMILY GIVEN BIRTH_DATE",
        help='Birth family name, given names (quote several: "Jean Pierre") and birth date '
        "(1985-06-15 or 15/06/1985). Spelling, accents and given-name order do not matter.",
    ),
    click.option("--usage-name", metavar="NAME", help="Usage or married name, with --person."),
    click.option("--birth-place", metavar="PLACE", help="Birth place, with --person."),
    click.option(
        "--document",
        nargs=2,
        metavar="TYPE NUMBER",
        help=f"Identity document: TYPE is one of {', '.join(DOCUMENT_KINDS)}.",
    ),
    click.option("--nir", metavar="NIR", help="Social security number (NIR)."),
    click.option("--email", metavar="ADDRESS", help="Email address."),
    click.option("--phone", metavar="NUMBER", help="Phone number."),
    click.option("--iban", metavar="IBAN", help="Bank account number (IBAN)."),
    click.option("--address", metavar="LINE", help="Postal address (with --postcode, --city)."),
    click.option("--postcode", metavar="CODE", help="Postcode of --address."),
    click.option("--city", metavar="CITY", help="City of --address."),
    _file_option(
        "--applicant-json",
        help="The identity as a JSON object, '-' for stdin (the check API's applicant: "
        "family_name, usage_name, given_names, birth_date, birth_place, document {type, "
        "number}, nir, email, phone, iban, postal_address {line, postcode, city}). Prefer it "
        "to the options above: it keeps identifiers out of the shell history and the process "
        "list.",
    ),
)


def identity_options(command: F) -> F:
    """Add the identity options to a command, which receives them as ``applicant``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in _IDENTITY_PARAMS}
        kwargs["applicant"] = applicant_from_options(given)
        return command(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_IDENTITY_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def applicant_from_options(given: Mapping[str, Any]) -> Applicant:
    """The applicant the identity options describe; :class:`NoIdentity` when there is none."""
    source = given["applicant_json"]
    flags = [name for name in _IDENTITY_PARAMS if name != "applicant_json" and given[name]]
    if source is not None:
        if flags:
            raise NoIdentity(
                "give the identity either with --applicant-json or with options, not both"
            )
        return applicant_from_json(source.read())
    if not flags:
        raise NoIdentity(
            "no identity given: use --person FAMILY GIVEN BIRTH_DATE, --document TYPE NUMBER, "
            "--nir, --email, --phone, --iban, --address, or --applicant-json FILE"
        )
    family, given_names, birth_date = given["person"] or (None, None, None)
    document_type, document_number = given["document"] or (None, None)
    line = given["address"]
    if line is None and (given["postcode"] or given["city"]):
        raise InvalidIdentity({"postal_address": "--postcode and --city go with --address"})
    return Applicant(
        family_name=family,
        usage_name=given["usage_name"],
        given_names=given_names,
        birth_date=birth_date,
        birth_place=given["birth_place"],
        document_type=document_type,
        document_number=document_number,
        nir=given["nir"],
        email=given["email"],
        phone=given["phone"],
        iban=given["iban"],
        postal_address=None
        if line is None
        else PostalAddress(line, given["postcode"], given["city"]),
    )


#: The CLI's own sentences for some validation rules (the API keeps pydantic's).
_JSON_WORDING: Final = {
    "string_type": "expected a string",
    "model_type": "expected a JSON object",
    "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
}


def applicant_from_json(text: str) -> Applicant:
    """An applicant from the check API's JSON shape (:class:`ApplicantIn`, decoded refusing
    duplicate members as the API does); :class:`InvalidIdentity` naming the bad fields (never
    their values, nor the name of a member the schema does not define)."""
    try:
        document = decode_document(text)
    except ValueError as exc:
        raise InvalidIdentity({"applicant_json": str(exc)}) from None
    if not isinstance(document, dict):
        raise InvalidIdentity({"applicant_json": "expected a JSON object"})
    try:
        body = ApplicantIn.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise InvalidIdentity(
            field_errors(errors, root="applicant_json", wording=_JSON_WORDING)
        ) from None
    return body.to_applicant()


def identity_keys(fingerprinter: Fingerprinter, applicant: Applicant) -> list[IdentityKey]:
    """The applicant's keys with the registry's fingerprint key (from
    :func:`verrou.cli.keyed_registry`); :class:`InvalidIdentity` lists every invalid field at
    once."""
    try:
        return applicant_keys(applicant, fingerprinter)
    except InvalidApplicant as exc:
        raise InvalidIdentity(exc.fields) from None


# --- freeze -----------------------------------------------------------------------------------

_OUTCOME_TEXT: Final = {
    "placed": "frozen",
    "already_frozen": "already frozen",
    "lifted": "lifted",
    "thawed": "thawed",
    "not_frozen": "not frozen",
}


def _print_outcomes(outcomes: list[subjects.FreezeOutcome]) -> None:
    table = Table("kind", "key", "result")
    for outcome in outcomes:
        text = _OUTCOME_TEXT[outcome.outcome]
        if outcome.outcome == "already_frozen" and outcome.freeze is not None:
            text += f" (by {outcome.freeze.placed_by} since {_when(outcome.freeze.since)})"
        table.add_row(outcome.key.kind.value, outcome.short, text)
    out.print(table)


@main.group()
def freeze() -> None:
    """Freeze an identity, lift the freeze, or thaw it for a while.

    A frozen identity gets the verdict deny at every check; a thaw opens it for one relying
    party (or all) for a time. An identity is given by options (--person, --document, --nir,
    --email, ... or --applicant-json); a person yields several keys and every one is changed.
    """


@freeze.command("place")
@identity_options
@click.option(
    "--reason",
    type=click.Choice(FREEZE_REASONS),
    help="Why, as a code (never free text). Default: owner_request, or canary with --canary.",
)
@click.option(
    "--by",
    "placed_by",
    type=click.Choice(PLACED_BY),
    default="operator",
    show_default=True,
    help="Who asked: the owner, an operator, or an identity-theft report.",
)
@click.option(
    "--canary",
    is_flag=True,
    help="A planted fake identity: every check is denied and raises an incident; no thaw opens it.",
)
@click.pass_obj
def freeze_place(
    obj: Context, applicant: Applicant, reason: str | None, placed_by: str, canary: bool
) -> None:
    """Freeze an identity: every check on it is denied until the freeze is lifted."""
    settings = obj.settings()
    chosen = reason or ("canary" if canary else "owner_request")
    with keyed_registry(settings) as (store, fingerprinter):
        keys = identity_keys(fingerprinter, applicant)
        outcomes = subjects.place_freeze(
            store,
            keys,
            placed_by=placed_by,  # type: ignore[arg-type]  # click.Choice checked it
            reason=chosen,  # type: ignore[arg-type]  # click.Choice checked it
            actor=ACTOR,
            now=_now(),
            canary=canary,
        )
    _print_outcomes(outcomes)
    placed = sum(o.outcome == "placed" for o in outcomes)
    out.print(f"{placed} of {len(outcomes)} keys newly frozen ({chosen}, by {placed_by})")


@freeze.command("lift")
@identity_options
@click.pass_obj
def freeze_lift(obj: Context, applicant: Applicant) -> None:
    """Lift the freeze of an identity (its thaws go with it)."""
    settings = obj.settings()
    with keyed_registry(settings) as (store, fingerprinter):
        keys = identity_keys(fingerprinter, applicant)
        outcomes = subjects.lift_freeze(store, keys, actor=ACTOR, now=_now())
    _print_outcomes(outcomes)
    lifted = sum(o.outcome == "lifted" for o in outcomes)
    if lifted == 0:
        raise Conflict("this identity is not frozen: there is nothing to lift")
    out.print(f"{lifted} of {len(outcomes)} keys unfrozen")


@freeze.command("thaw")
@identity_options
@click.option("--for", "relying_party_id", metavar="RP_ID", help="Open for this relying party.")
@click.option("--all", "for_all", is_flag=True, help="Open for every relying party.")
@click.option("--days", type=click.IntRange(1, 366), help="Open for N days.")
@click.option("--hours", type=click.IntRange(1, 24 * 366), help="Open for N hours.")
@click.option(
    "--until", "until_text", metavar="ISO", help="Open until this time (UTC without an offset)."
)
@click.option(
    "--starts",
    "starts_text",
    metavar="ISO",
    help="Open from this time (default: now; UTC without an offset).",
)
@click.pass_obj
def freeze_thaw(
    obj: Context,
    applicant: Applicant,
    relying_party_id: str | None,
    for_all: bool,
    days: int | None,
    hours: int | None,
    until_text: str | None,
    starts_text: str | None,
) -> None:
    """Open a frozen identity for one relying party (--for RP_ID) or all (--all), for a while
    (--days N, --hours N or --until ISO). The freeze stays: it closes again by itself."""
    if (relying_party_id is not None) == for_all:
        raise click.UsageError("give exactly one of --for RP_ID and --all")
    if sum(x is not None for x in (days, hours, until_text)) != 1:
        raise click.UsageError("give exactly one of --days, --hours and --until")
    now = _now()
    starts = _parse_when(starts_text) or now
    if days is not None:
        until = starts + timedelta(days=days)
    elif hours is not None:
        until = starts + timedelta(hours=hours)
    else:
        parsed = _parse_when(until_text)
        assert parsed is not None
        until = parsed
    settings = obj.settings()
    with keyed_registry(settings) as (store, fingerprinter):
        keys = identity_keys(fingerprinter, applicant)
        outcomes = subjects.thaw(
            store,
            keys,
            relying_party_id=relying_party_id,
            starts=starts,
            until=until,
            actor=ACTOR,
            now=now,
        )
    _print_outcomes(outcomes)
    thawed = sum(o.outcome == "thawed" for o in outcomes)
    party = relying_party_id or "every relying party"
    out.print(
        f"{thawed} of {len(outcomes)} keys open for {party} "
        f"from {_when(starts)} until {_when(until)}"
    )


# --- subject ----------------------------------------------------------------------------------


@main.group()
def subject() -> None:
    """What the registry holds about an identity."""


def _report_json(report: subjects.SubjectReport) -> dict[str, Any]:
    return {
        "state": report.state.value,
        "keys": [
            {
                "attribute": key.attribute,
                "kind": key.kind,
                "fingerprint": key.short,
                "state": key.state.value,
                "exposures": [{"breach": e.breach, "records": e.records} for e in key.exposures],
                "freeze": None
                if key.freeze is None
                else {
                    "placed_by": key.freeze.placed_by,
                    "reason": key.freeze.reason,
                    "since": key.freeze.since.isoformat(),
                    "canary": key.freeze.canary,
                },
                "thaws": [
                    {
                        "relying_party_id": t.relying_party_id,
                        "starts": t.starts.isoformat(),
                        "until": t.until.isoformat(),
                    }
                    for t in key.thaws
                ],
                "contacts": key.contacts,
                "history": [
                    {"seq": h.seq, "at": h.at.isoformat(), "action": h.action, "actor": h.actor}
                    for h in key.history
                ],
            }
            for key in report.keys
        ],
        "unreadable_audit_entries": report.unreadable_audit_entries,
    }


def _exposure_text(exposures: tuple[subjects.Exposure, ...]) -> str:
    if not exposures:
        return "-"
    return ", ".join(
        f"{e.breach} ({e.records} record{'s' if e.records != 1 else ''})" for e in exposures
    )


def _print_report(report: subjects.SubjectReport) -> None:
    out.print(f"identity: {len(report.keys)} keys, state [bold]{report.state.value}[/]")
    keys = Table("kind", "key", "state", "alerts", "exposed in", title="keys")
    for key in report.keys:
        keys.add_row(
            key.kind, key.short, key.state.value, str(key.contacts), _exposure_text(key.exposures)
        )
    out.print(keys)
    frozen = [key for key in report.keys if key.freeze is not None]
    if frozen:
        table = Table("key", "by", "reason", "since", "canary", title="freezes")
        for key in frozen:
            assert key.freeze is not None
            table.add_row(
                key.short,
                key.freeze.placed_by,
                key.freeze.reason,
                _when(key.freeze.since),
                "yes" if key.freeze.canary else "no",
            )
        out.print(table)
    thawed = [(key, t) for key in report.keys for t in key.thaws]
    if thawed:
        table = Table("key", "for", "from", "until", title="thaws")
        for key, t in thawed:
            table.add_row(key.short, t.relying_party_id or "all", _when(t.starts), _when(t.until))
        out.print(table)
    entries: dict[int, tuple[subjects.HistoryEntry, list[str]]] = {}
    for key in report.keys:
        for h in key.history:
            entries.setdefault(h.seq, (h, []))[1].append(key.kind)
    if entries:
        table = Table("seq", "at", "action", "actor", "keys", title="history")
        for seq in sorted(entries):
            h, kinds = entries[seq]
            counted = ", ".join(
                kind if kinds.count(kind) == 1 else f"{kind} ×{kinds.count(kind)}"
                for kind in dict.fromkeys(kinds)
            )
            table.add_row(str(seq), _when(h.at), h.action, h.actor, counted)
        out.print(table)
    else:
        out.print("history: no audit entry about this identity")
    if report.unreadable_audit_entries:
        err.print(
            f"warning: {report.unreadable_audit_entries} audit entries could not be read; "
            "run `verrou audit verify`"
        )


@subject.command("show")
@identity_options
@json_option
@click.pass_obj
def subject_show(obj: Context, applicant: Applicant, as_json: bool) -> None:
    """Show an identity's keys: state, breaches, freeze, thaws, alert contacts and history.

    Keys are shown by their first 12 hex characters; the identity itself is never printed.
    """
    settings = obj.settings()
    with keyed_registry(settings) as (store, fingerprinter):
        keys = identity_keys(fingerprinter, applicant)
        report = subjects.subject_report(store, keys, now=_now())
    if as_json:
        print_json(_report_json(report))
    else:
        _print_report(report)


# --- relying parties --------------------------------------------------------------------------


@main.group("rp")
def relying_parties() -> None:
    """Relying parties: the banks, payment firms, telcos and insurers that call the check API."""


def _limit_text(party: RelyingParty, settings: Settings) -> str:
    if party.rate_limit is None:
        return f"{settings.rate_limit:,} (default)"
    return f"{party.rate_limit:,}"


@relying_parties.command("create")
@click.argument("name")
@click.option("--sector", type=click.Choice(SECTORS), required=True, help="Its sector.")
@click.option(
    "--rate-limit",
    type=click.IntRange(*SETTINGS_BY_FIELD["rate_limit"].bounds),
    metavar="N",
    help="Checks a minute it may make (default: VERROU_RATE_LIMIT).",
)
@click.pass_obj
def rp_create(obj: Context, name: str, sector: str, rate_limit: int | None) -> None:
    """Register relying party NAME (shown to citizens in their alerts) and print its API key.

    The key is printed once: verrou keeps only its hash.
    """
    settings = obj.settings()
    with registry(settings) as store:
        party, api_key = store.create_relying_party(
            name,
            sector,  # type: ignore[arg-type]  # click.Choice checked it
            rate_limit=rate_limit,
            actor=ACTOR,
        )
    out.print(
        f"created relying party {party.id}: {party.name} ({party.sector}), "
        f"{_limit_text(party, settings)} checks a minute"
    )
    out.print("API key:")
    click.echo(api_key)
    out.print(
        "This key is not stored (verrou keeps only its hash) and cannot be shown again: hand it "
        "to the relying party over a secure channel now. Lost, it can only be revoked and "
        "replaced."
    )


@relying_parties.command("list")
@json_option
@click.pass_obj
def rp_list(obj: Context, as_json: bool) -> None:
    """List relying parties, revoked ones included (key prefixes only, never keys)."""
    settings = obj.settings()
    with registry(settings) as store:
        parties = store.list_relying_parties()
    if as_json:
        print_json([_party_json(p) for p in parties])
    else:
        _print_parties(parties, settings)


def _party_json(party: RelyingParty) -> dict[str, Any]:
    return {
        "id": party.id,
        "name": party.name,
        "sector": party.sector,
        "key_prefix": party.key_prefix,
        "rate_limit": party.rate_limit,
        "created_at": party.created_at.isoformat(),
        "revoked_at": None if party.revoked_at is None else party.revoked_at.isoformat(),
    }


def _print_parties(parties: list[RelyingParty], settings: Settings) -> None:
    if not parties:
        out.print("no relying party yet: `verrou rp create NAME --sector bank` adds one")
        return
    # Ids and key prefixes are copied and compared: never wrapped or cut.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=len(parties[0].id))
    table.add_column("name", overflow="fold")
    table.add_column("sector")
    table.add_column("key", no_wrap=True, min_width=KEY_PREFIX_CHARS)
    table.add_column("limit", no_wrap=True)
    table.add_column("status")
    for p in parties:
        status = "active" if p.revoked_at is None else "revoked"
        limit = f"{settings.rate_limit:,}*" if p.rate_limit is None else f"{p.rate_limit:,}"
        table.add_row(p.id, p.name, p.sector, p.key_prefix, limit, status)
    out.print(table)
    if any(p.rate_limit is None for p in parties):
        out.print("limit: checks a minute; * the server default, VERROU_RATE_LIMIT")


@relying_parties.command("revoke")
@click.argument("rp_id")
@click.pass_obj
def rp_revoke(obj: Context, rp_id: str) -> None:
    """Revoke relying party RP_ID: its API key stops working."""
    settings = obj.settings()
    with registry(settings) as store:
        if not store.revoke_relying_party(rp_id, actor=ACTOR):
            party = next((p for p in store.list_relying_parties() if p.id == rp_id), None)
            if party is None:
                raise NotFound(f"no relying party {rp_id}")
            revoked = "" if party.revoked_at is None else f" on {_when(party.revoked_at)}"
            raise Conflict(f"relying party {rp_id} was already revoked{revoked}")
    out.print(
        f"revoked {rp_id}: its API key no longer authenticates (a running server may accept it "
        f"for up to {settings.auth_cache_seconds} s more)"
    )


# --- audit ------------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The hash-chained audit log: verify it, sign checkpoints of it."""


def _decoded(records: Iterable[StoredEntry]) -> Iterator[AuditEntry]:
    for record in records:  # UnreadableAuditEntry (an AuditChainBroken) when one does not decode
        yield entry_from_content(
            record.content, prev_hash=record.prev_hash, entry_hash=record.entry_hash
        )


def _broken(report_problem: str | None, seq: int | None, intact: int) -> AuditChainBroken:
    if seq is None:
        return AuditChainBroken(f"audit log does not verify: {report_problem}")
    return AuditChainBroken(
        f"audit log does not verify: first bad entry is seq {seq} "
        f"({intact:,} entries before it are intact): {report_problem}",
        first_bad_seq=seq,
    )


def _verified(store: RegistryStore) -> ChainReport:
    """The log checked link by link, against its head row, and against the freeze state."""
    snapshot = store.audit_snapshot()  # first: the walk then stops at its head
    report = verify_registry(store.audit_entries(), snapshot)
    if not report.ok:
        raise _broken(report.problem, report.first_bad_seq, report.entries)
    return report


def _jwks(settings: Settings, source: IO[str] | None) -> dict[str, Any]:
    if source is None:
        return public_jwks([load_signing_key_file(settings.signing_key_file)])
    try:
        keyset = json.load(source)
    except ValueError:
        raise ConfigError("--jwks: not a JSON key set") from None
    if not isinstance(keyset, dict):
        raise ConfigError("--jwks: not a JSON key set")
    return keyset


@audit.command("verify")
@_file_option(
    "--checkpoint",
    help="Also check a signed checkpoint (from `verrou audit checkpoint`): catches a log "
    "rewritten from some entry on, or cut short.",
)
@_file_option(
    "--jwks",
    help="Public key set to verify the checkpoint with (default: the public half of "
    "VERROU_SIGNING_KEY_FILE).",
)
@click.pass_obj
def audit_verify(obj: Context, checkpoint: IO[str] | None, jwks: IO[str] | None) -> None:
    """Walk the whole audit log and check every link of the chain, the log's end against its
    recorded head, and the freezes and thaws against the freeze, lift and thaw entries.

    Prints the number of entries and the head hash, or names the first bad entry (or the keys,
    by fingerprint prefix, whose freeze state the log does not explain) and exits 1.
    """
    settings = obj.settings()
    with registry(settings) as store:
        report = _verified(store)
        if report.head_hash is None:
            out.print("audit log is empty")
        else:
            out.print(
                f"audit log intact: {report.entries:,} entries, head {report.head_hash.hex()}"
            )
        if checkpoint is not None:
            token = checkpoint.read().strip()
            keyset = _jwks(settings, jwks)
            signed = read_checkpoint(token, keyset)
            verify_checkpoint(token, keyset, _decoded(store.audit_entries()))
            out.print(
                f"checkpoint verified: entry {signed.seq:,} still has the head hash signed "
                f"at {_when(signed.at)}"
            )


@audit.command("checkpoint")
@_file_option(
    "--out",
    "out_file",
    mode="w",
    help="Write the checkpoint to FILE (default: print it).",
)
@click.pass_obj
def audit_checkpoint(obj: Context, out_file: IO[str] | None) -> None:
    """Sign the current head of the audit log (a compact JWS, with VERROU_SIGNING_KEY_FILE).

    Keep checkpoints outside the database: `verrou audit verify --checkpoint FILE` then
    catches a log rewritten or cut short after it was signed. The log is verified first; a
    broken log is never signed.
    """
    settings = obj.settings()
    key = load_signing_key_file(settings.signing_key_file)
    with registry(settings) as store:
        report = _verified(store)
    if report.head_hash is None:
        raise Conflict("the audit log is empty: there is no head to sign")
    token = sign_checkpoint(Checkpoint(report.entries, report.head_hash, _now()), key)
    if out_file is None:
        click.echo(token)
        return
    out_file.write(token + "\n")
    out.print(
        f"checkpoint of entry {report.entries:,} (head {report.head_hash.hex()[:16]}…) "
        f"written to {out_file.name}"
    )


# --- contacts ---------------------------------------------------------------------------------


@main.group()
def contact() -> None:
    """Alert contacts: where an identity's owner is told when someone checks it."""


@contact.command("add")
@identity_options
@click.option("--notify-email", metavar="ADDRESS", help="Send alerts to this email address.")
@click.option("--notify-webhook", metavar="URL", help="POST alerts to this https:// URL (signed).")
@click.pass_obj
def contact_add(
    obj: Context, applicant: Applicant, notify_email: str | None, notify_webhook: str | None
) -> None:
    """Register where alerts about an identity go: an email address or a webhook.

    The contact is sealed with VERROU_CONTACT_KEY_FILE once per key of the identity; the
    database never holds it in clear.
    """
    if (notify_email is None) == (notify_webhook is None):
        raise click.UsageError("give exactly one of --notify-email and --notify-webhook")
    if notify_email is not None:
        target = Contact("email", notify_email)
    else:
        assert notify_webhook is not None
        target = Contact("webhook", notify_webhook)
    settings = obj.settings()
    contact_key = load_contact_key_file(settings.contact_key_file)
    with keyed_registry(settings) as (store, fingerprinter):
        keys = identity_keys(fingerprinter, applicant)
        owner_ref = subjects.register_contact(
            store, keys, target, contact_key, now=_now(), actor=ACTOR
        )
    out.print(
        f"{target.channel} contact registered for {len(keys)} keys "
        f"(registration {owner_ref}, sealed with {contact_key.kid})"
    )


# --- alerts -----------------------------------------------------------------------------------

#: Alerts one delivery pass takes.
_BATCH: Final = 100


def webhook_secret(value: str) -> bytes:
    """VERROU_WEBHOOK_SECRET decoded (hex or base64, at least 32 bytes); ConfigError otherwise."""
    secret = decode_secret(value, "VERROU_WEBHOOK_SECRET")
    if len(secret) < WEBHOOK_SECRET_MIN_BYTES:
        raise ConfigError(
            f"VERROU_WEBHOOK_SECRET is {len(secret)} bytes; at least "
            f"{WEBHOOK_SECRET_MIN_BYTES} are required"
        )
    return secret


def alert_transports(settings: Settings) -> dict[str, AlertTransport]:
    """The transports the settings configure, by channel; ConfigError when there is none."""
    transports: dict[str, AlertTransport] = {}
    smtp = settings.smtp
    if smtp is not None:
        transports["email"] = SmtpTransport(smtp[0], smtp[1], settings.alert_sender)
    if settings.webhook_secret:
        transports["webhook"] = WebhookTransport(secret=webhook_secret(settings.webhook_secret))
    if not transports:
        raise ConfigError(
            "no alert transport configured: set VERROU_SMTP_URL and/or VERROU_WEBHOOK_SECRET"
        )
    return transports


@main.group()
def alerts() -> None:
    """Alerts to citizens: deliver the outbox by email (SMTP) and signed webhook."""


@alerts.command("status")
@json_option
@click.pass_obj
def alerts_status(obj: Context, as_json: bool) -> None:
    """Show the outbox: alerts pending, delivered and failed, how many are due now, and since
    when the oldest undelivered one waits (counts only: no contact, no key)."""
    settings = obj.settings()
    with registry(settings) as store:
        status = store.outbox_status(_now())
    counts = {name: status.by_status.get(name, 0) for name in ("pending", "delivered", "failed")}
    oldest = None if status.oldest_pending_at is None else _when(status.oldest_pending_at)
    if as_json:
        print_json({**counts, "due_now": status.due_now, "oldest_pending_at": oldest})
        return
    out.print(
        f"pending {counts['pending']:,} ({status.due_now:,} due now), "
        f"delivered {counts['delivered']:,}, failed {counts['failed']:,}"
    )
    if oldest is not None:
        out.print(f"oldest undelivered alert: {oldest}")


@alerts.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between passes when nothing is due.",
)
@click.pass_obj
def alerts_deliver(obj: Context, once: bool, poll: float) -> None:
    """Deliver due alerts (VERROU_SMTP_URL for email, VERROU_WEBHOOK_SECRET for webhooks).

    Failed attempts are retried with growing delays, then given up. Without --once, runs
    until interrupted (Ctrl-C or SIGTERM), then prints what it did.
    """
    settings = obj.settings()
    transports = alert_transports(settings)
    for channel, variable in (("email", "VERROU_SMTP_URL"), ("webhook", "VERROU_WEBHOOK_SECRET")):
        if channel not in transports:
            err.print(
                f"warning: {variable} is not set: {channel} alerts will be retried, then fail"
            )
    contact_key = load_contact_key_file(settings.contact_key_file)
    with registry(settings) as store:
        if once:
            report = DeliveryReport()
            while True:
                batch = deliver_due(store, contact_key, transports, now=_now(), limit=_BATCH)
                report.add(batch)
                if batch.processed < _BATCH:
                    break
        else:
            report = _run_until_stopped(
                lambda stop: run_worker(
                    store, contact_key, transports, stop=stop, poll_interval=poll, limit=_BATCH
                )
            )
    out.print(
        f"delivered {len(report.delivered)}, retried {len(report.retried)}, "
        f"failed {len(report.failed)}"
    )


def _run_until_stopped(work: Callable[[threading.Event], DeliveryReport]) -> DeliveryReport:
    """Run ``work`` until SIGINT or SIGTERM sets its stop event."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        err.print("delivering alerts; Ctrl-C stops")
        return work(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
