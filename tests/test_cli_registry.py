"""The operator's registry commands: freeze, subject, rp, audit, contact, alerts, keys.

Real SQLite files in a temp dir, keys in the temp dir, a real SMTP server (aiosmtpd) on loopback.
"""

from __future__ import annotations

import ast
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import Mailbox
from verrou.api import schemas
from verrou.cli import main
from verrou.fingerprints import Fingerprinter
from verrou.keys import parse_key_value
from verrou.lookup.protocol import OprfKey
from verrou.registry.alerts import Alert
from verrou.registry.policy import Applicant, Verdict, applicant_keys, decide
from verrou.signing import load_signing_key_file, public_jwks
from verrou.store import RegistryStore, open_store

KEY_HEX = bytes(range(32)).hex()
PERSON = ("--person", "Lefèvre", "Hélène Marie", "1980-05-17")
EMAIL = "helene.lefevre@example.fr"
API_KEY = re.compile(r"vrp_[A-Za-z0-9_-]{43}")


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "registry.sqlite3"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    keys = tmp_path / "keys"
    return {
        "VERROU_KEY": KEY_HEX,
        "VERROU_KEY_FILE": str(keys / "fingerprint.key"),
        "VERROU_SIGNING_KEY_FILE": str(keys / "signing.key"),
        "VERROU_CONTACT_KEY_FILE": str(keys / "contact.key"),
        "VERROU_SESSION_KEY_FILE": str(keys / "session.key"),
        "VERROU_OPRF_KEY_FILE": str(keys / "oprf.key"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # nothing may land in the real home
        "COLUMNS": "80",
    }


def run(env: dict[str, str], database: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        main,
        ["--database-url", f"sqlite:///{database}", *args],
        env=env,
        input=stdin,
        catch_exceptions=False,
    )


@pytest.fixture
def keyed(env: dict[str, str], database: Path) -> dict[str, str]:
    """``env`` once `verrou keys init` made the signing and contact keys."""
    result = run(env, database, "keys", "init")
    assert result.exit_code == 0, result.output
    return env


def stored_bytes(database: Path) -> bytes:
    """Every byte of the SQLite registry, WAL and journal included."""
    return b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))


def helene_keys() -> list[bytes]:
    applicant = Applicant(
        family_name="Lefèvre", given_names="Hélène Marie", birth_date="1980-05-17"
    )
    return [
        k.fingerprint for k in applicant_keys(applicant, Fingerprinter(parse_key_value(KEY_HEX)))
    ]


def assert_fits_80_columns(output: str) -> None:
    too_wide = [line for line in output.splitlines() if len(line) > 80]
    assert not too_wide, too_wide


@pytest.mark.parametrize(
    "command",
    [
        ["freeze"],
        ["freeze", "place"],
        ["freeze", "lift"],
        ["freeze", "thaw"],
        ["subject"],
        ["subject", "show"],
        ["rp"],
        ["rp", "create"],
        ["rp", "list"],
        ["rp", "revoke"],
        ["audit"],
        ["audit", "verify"],
        ["audit", "checkpoint"],
        ["contact"],
        ["contact", "add"],
        ["alerts"],
        ["alerts", "deliver"],
        ["keys", "show"],
    ],
)
def test_every_registry_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_identity_help_says_why_to_prefer_json() -> None:
    result = CliRunner().invoke(main, ["freeze", "place", "--help"])
    text = " ".join(result.output.split())
    assert "keeps identifiers out of the shell history and the process list" in text


# --- keys -------------------------------------------------------------------------------------


def test_keys_init_creates_what_is_missing_and_show_prints_ids(
    env: dict[str, str], database: Path, tmp_path: Path
) -> None:
    del env["VERROU_KEY"]
    first = run(env, database, "keys", "init")
    assert first.exit_code == 0, first.output
    assert first.output.count("created") == 5
    Path(env["VERROU_CONTACT_KEY_FILE"]).unlink()
    second = run(env, database, "keys", "init")
    assert second.exit_code == 0, second.output
    assert re.search(r"fingerprint key: exists", second.output)
    assert re.search(r"signing key: exists", second.output)
    assert re.search(r"contact key: created", second.output)
    third = run(env, database, "keys", "init")
    assert third.exit_code == 2 and "refusing to overwrite" in third.output
    assert third.output.count("\n") == 1

    shown = run(env, database, "keys", "show").output.splitlines()
    kid = load_signing_key_file(Path(env["VERROU_SIGNING_KEY_FILE"])).kid
    assert shown[0].startswith("fk-")
    assert shown[1].startswith(kid + " ") and "signing key" in shown[1]
    assert shown[2].startswith("ck-") and "contact key" in shown[2]
    assert shown[3].startswith("sk-") and "session key" in shown[3]
    oprf = OprfKey.load_file(Path(env["VERROU_OPRF_KEY_FILE"]))
    assert shown[4].startswith(oprf.key_id + " ") and "OPRF key" in shown[4]
    for name in ("fingerprint.key", "signing.key", "contact.key", "session.key", "oprf.key"):
        assert (tmp_path / "keys" / name).stat().st_mode & 0o777 == 0o600


# --- freeze and subject -----------------------------------------------------------------------


def test_freeze_then_show_then_lift(keyed: dict[str, str], database: Path) -> None:
    placed = run(keyed, database, "freeze", "place", *PERSON, "--email", EMAIL, "--by", "owner")
    assert placed.exit_code == 0, placed.output
    assert "3 of 3 keys newly frozen (owner_request, by owner)" in placed.output

    shown = run(keyed, database, "subject", "show", *PERSON, "--email", EMAIL)
    assert shown.exit_code == 0, shown.output
    assert "state frozen" in shown.output
    assert shown.output.count("freeze.place") == 3
    assert "owner_request" in shown.output
    assert_fits_80_columns(shown.output)
    for text in ("Lef", "Hélène", "1980", EMAIL):
        assert text not in shown.output + placed.output

    as_json = json.loads(run(keyed, database, "subject", "show", *PERSON, "--json").output)
    assert as_json["state"] == "frozen"
    assert [k["state"] for k in as_json["keys"]] == ["frozen", "frozen"]
    assert [h["action"] for h in as_json["keys"][0]["history"]] == ["freeze.place"]

    again = run(keyed, database, "freeze", "place", *PERSON, "--by", "owner")
    assert "0 of 2 keys newly frozen" in again.output and "already frozen" in again.output
    # An operator's freeze outranks an owner's: it replaces it (and would take its thaws).
    stronger = run(keyed, database, "freeze", "place", *PERSON)
    assert "2 of 2 keys newly frozen (owner_request, by operator)" in stronger.output

    lifted = run(keyed, database, "freeze", "lift", *PERSON, "--email", EMAIL)
    assert lifted.exit_code == 0, lifted.output
    assert "3 of 3 keys unfrozen" in lifted.output
    after = json.loads(run(keyed, database, "subject", "show", *PERSON, "--json").output)
    assert after["state"] == "unknown"
    history = [h["action"] for h in after["keys"][0]["history"]]
    assert history == ["freeze.place", "freeze.place", "freeze.lift"]

    nothing = run(keyed, database, "freeze", "lift", *PERSON)
    assert nothing.exit_code == 1 and "not frozen" in nothing.output


def test_person_spelled_differently_is_the_same_identity(
    keyed: dict[str, str], database: Path
) -> None:
    assert run(keyed, database, "freeze", "place", *PERSON).exit_code == 0
    spelled = {"family_name": "LEFEVRE", "given_names": "helene marie", "birth_date": "17/05/1980"}
    shown = run(
        keyed,
        database,
        "subject",
        "show",
        "--applicant-json",
        "-",
        "--json",
        stdin=json.dumps(spelled),
    )
    assert shown.exit_code == 0, shown.output
    assert [k["state"] for k in json.loads(shown.output)["keys"]] == ["frozen", "frozen"]
    swapped = run(
        keyed, database, "subject", "show", "--person", "lefevre", "Marie Hélène", "19800517"
    )
    assert "state frozen" in swapped.output


def test_thaw_for_one_relying_party_for_three_days(keyed: dict[str, str], database: Path) -> None:
    created = run(keyed, database, "rp", "create", "Banque Exemple", "--sector", "bank")
    parties = json.loads(run(keyed, database, "rp", "list", "--json").output)
    bank = parties[0]["id"]
    run(keyed, database, "rp", "create", "Télécom Exemple", "--sector", "telco")
    telco = json.loads(run(keyed, database, "rp", "list", "--json").output)[1]["id"]
    assert created.exit_code == 0
    assert run(keyed, database, "freeze", "place", *PERSON).exit_code == 0

    thawed = run(keyed, database, "freeze", "thaw", *PERSON, "--for", bank, "--days", "3")
    assert thawed.exit_code == 0, thawed.output
    assert f"2 of 2 keys open for {bank}" in thawed.output

    fingerprints = helene_keys()
    applicant = Applicant(
        family_name="Lefèvre", given_names="Hélène Marie", birth_date="1980-05-17"
    )
    keys = applicant_keys(applicant, Fingerprinter(parse_key_value(KEY_HEX)))
    store = open_store(f"sqlite:///{database}")
    try:

        def verdict(party: str, at: datetime) -> Verdict:
            freezes, thaws = store.freezes_for(fingerprints, now=at)
            return decide(keys, [], freezes, thaws, relying_party_id=party, now=at).verdict

        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert verdict(bank, tomorrow) is Verdict.CLEAR
        assert verdict(telco, tomorrow) is Verdict.DENY
        assert verdict(bank, tomorrow + timedelta(days=3)) is Verdict.DENY
    finally:
        store.close()

    shown = json.loads(run(keyed, database, "subject", "show", *PERSON, "--json").output)
    assert [t["relying_party_id"] for t in shown["keys"][0]["thaws"]] == [bank]


def test_thaw_usage_errors(keyed: dict[str, str], database: Path) -> None:
    both = run(keyed, database, "freeze", "thaw", *PERSON, "--all", "--for", "rp_1", "--days", "1")
    assert both.exit_code == 2 and "exactly one of --for RP_ID and --all" in both.output
    no_end = run(keyed, database, "freeze", "thaw", *PERSON, "--all")
    assert no_end.exit_code == 2 and "--days, --hours and --until" in no_end.output
    not_frozen = run(keyed, database, "freeze", "thaw", *PERSON, "--all", "--hours", "2")
    assert not_frozen.exit_code == 1
    assert "this identity is not frozen" in not_frozen.output


# --- errors name fields, never values ----------------------------------------------------------


def test_no_identity_is_one_clear_error(keyed: dict[str, str], database: Path) -> None:
    result = run(keyed, database, "subject", "show")
    assert result.exit_code == 1
    assert result.output.startswith("error: no identity given")
    assert result.output.count("\n") == 1


def test_invalid_values_are_named_never_echoed(keyed: dict[str, str], database: Path) -> None:
    bad_nir = "2 95 10 99 126 111 92"  # its key is 93
    result = run(keyed, database, "freeze", "place", "--nir", bad_nir, "--email", "jean@@x")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "invalid identity" in result.output and "nir:" in result.output
    assert "email:" in result.output
    for shown in (bad_nir, bad_nir.replace(" ", ""), "9512611", "jean@@x"):
        assert shown not in result.output

    as_json = json.dumps({"nir": bad_nir, "jean.dupont@example.fr": "x", "phone": 612})
    from_json = run(keyed, database, "freeze", "place", "--applicant-json", "-", stdin=as_json)
    assert from_json.exit_code == 1
    assert "phone: expected a string" in from_json.output
    assert "unknown field" in from_json.output
    for shown in (bad_nir, "jean.dupont", "612"):
        assert shown not in from_json.output


def test_applicant_json_is_the_api_shape(keyed: dict[str, str], database: Path) -> None:
    """--applicant-json is validated by the API's ApplicantIn and its duplicate-refusing
    decoder: the same body means the same thing to both."""
    duplicate = '{"email": "a@example.fr", "email": "b@example.fr"}'
    twice = run(keyed, database, "freeze", "place", "--applicant-json", "-", stdin=duplicate)
    assert twice.exit_code == 1 and twice.output.count("\n") == 1
    assert "applicant_json: duplicate member" in twice.output
    assert "example.fr" not in twice.output

    nested = json.dumps({"document": {"type": "passport", "numero": "X"}, "phone": None})
    unknown = run(keyed, database, "freeze", "place", "--applicant-json", "-", stdin=nested)
    assert unknown.exit_code == 1 and "document: unknown field" in unknown.output
    assert "numero" not in unknown.output

    too_long = json.dumps({"email": "x" * 400 + "@example.fr"})
    bounded = run(keyed, database, "freeze", "place", "--applicant-json", "-", stdin=too_long)
    assert bounded.exit_code == 1 and "email: String should have at most 320" in bounded.output
    assert "xxxx" not in bounded.output


def test_applicant_schemas_import_no_web_framework() -> None:
    tree = ast.parse(Path(schemas.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert "pydantic" in imported
    assert not imported & {"fastapi", "starlette"}


# --- relying parties --------------------------------------------------------------------------


def test_rp_create_list_revoke(keyed: dict[str, str], database: Path) -> None:
    created = run(
        keyed, database, "rp", "create", "Banque Exemple", "--sector", "bank", "--rate-limit", "50"
    )
    assert created.exit_code == 0, created.output
    (api_key,) = API_KEY.findall(created.output)
    assert "not stored" in created.output and "cannot be shown again" in created.output

    store = open_store(f"sqlite:///{database}")
    try:
        party = store.relying_party_by_key(api_key)
        assert party is not None and party.rate_limit == 50
    finally:
        store.close()

    listed = run(keyed, database, "rp", "list")
    assert party.id in listed.output and "Banque Exemple" in listed.output
    assert api_key not in listed.output and api_key[:12] in listed.output
    assert_fits_80_columns(listed.output)
    as_json = json.loads(run(keyed, database, "rp", "list", "--json").output)
    assert [(p["id"], p["rate_limit"], p["revoked_at"]) for p in as_json] == [(party.id, 50, None)]

    revoked = run(keyed, database, "rp", "revoke", party.id)
    assert revoked.exit_code == 0, revoked.output
    store = open_store(f"sqlite:///{database}")
    try:
        assert store.relying_party_by_key(api_key) is None
    finally:
        store.close()
    twice = run(keyed, database, "rp", "revoke", party.id)
    assert twice.exit_code == 1 and "already revoked" in twice.output
    unknown = run(keyed, database, "rp", "revoke", "rp_0000000000000000")
    assert unknown.exit_code == 1 and "no relying party rp_0000000000000000" in unknown.output

    assert api_key.encode() not in stored_bytes(database)
    assert api_key[4:].encode() not in stored_bytes(database)


def test_rp_create_refuses_a_multi_line_name(keyed: dict[str, str], database: Path) -> None:
    result = run(keyed, database, "rp", "create", "Banque\nExemple", "--sector", "bank")
    assert result.exit_code == 1 and "one printable line" in result.output
    bad_sector = run(keyed, database, "rp", "create", "Banque", "--sector", "casino")
    assert bad_sector.exit_code == 2


# --- audit ------------------------------------------------------------------------------------


def tamper(database: Path, sql: str, *params: object) -> None:
    """Rewrite the audit log as an attacker with write access to the file would."""
    db = sqlite3.connect(database)
    try:
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        db.execute(sql, params)
        db.commit()
    finally:
        db.close()


def content_of(database: Path, seq: int) -> bytes:
    db = sqlite3.connect(database)
    try:
        (content,) = db.execute("SELECT content FROM audit_log WHERE seq = ?", (seq,)).fetchone()
        return bytes(content)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("alter", "problem"),
    [
        (lambda c: c.replace(b'"owner"', b'"ownes"'), "content does not match its hash"),
        (lambda c: b"[" + c[1:], "cannot be read"),
    ],
    ids=["rewritten-field", "unreadable"],
)
def test_audit_verify_names_the_first_altered_entry(
    keyed: dict[str, str], database: Path, alter: object, problem: str
) -> None:
    assert run(keyed, database, "rp", "create", "Banque Exemple", "--sector", "bank").exit_code == 0
    assert run(keyed, database, "freeze", "place", *PERSON, "--by", "owner").exit_code == 0
    fresh = run(keyed, database, "audit", "verify")
    assert fresh.exit_code == 0, fresh.output
    assert "audit log intact: 3 entries, head " in fresh.output

    original = content_of(database, 2)
    assert callable(alter)
    altered = alter(original)
    assert len(altered) == len(original) and altered != original  # one byte
    tamper(database, "UPDATE audit_log SET content = ? WHERE seq = 2", altered)

    broken = run(keyed, database, "audit", "verify")
    assert broken.exit_code == 1
    assert "first bad entry is seq 2" in broken.output and problem in broken.output
    assert broken.output.count("\n") == 1
    refused = run(keyed, database, "audit", "checkpoint")
    assert refused.exit_code == 1 and "seq 2" in refused.output


def test_checkpoint_catches_a_truncated_log(
    keyed: dict[str, str], database: Path, tmp_path: Path
) -> None:
    empty = run(keyed, database, "audit", "checkpoint")
    assert empty.exit_code == 1 and "empty" in empty.output
    run(keyed, database, "rp", "create", "Banque Exemple", "--sector", "bank")
    run(keyed, database, "freeze", "place", *PERSON)
    checkpoint = tmp_path / "checkpoint.jws"
    written = run(keyed, database, "audit", "checkpoint", "--out", str(checkpoint))
    assert written.exit_code == 0, written.output
    assert "checkpoint of entry 3" in written.output
    printed = run(keyed, database, "audit", "checkpoint").output.strip()
    assert printed.count(".") == 2  # a compact JWS on stdout, alone

    run(keyed, database, "freeze", "lift", *PERSON)  # the log goes on after the checkpoint
    verified = run(keyed, database, "audit", "verify", "--checkpoint", str(checkpoint))
    assert verified.exit_code == 0, verified.output
    assert "checkpoint verified: entry 3" in verified.output
    jwks = tmp_path / "jwks.json"
    signing = load_signing_key_file(Path(keyed["VERROU_SIGNING_KEY_FILE"]))
    jwks.write_text(json.dumps(public_jwks([signing])))
    with_jwks = run(
        keyed, database, "audit", "verify", "--checkpoint", str(checkpoint), "--jwks", str(jwks)
    )
    assert with_jwks.exit_code == 0, with_jwks.output

    # Cut the log back to its first entry and the head with it (the freezes it explains, none,
    # are the freezes held): the log alone still verifies, the checkpoint does not.
    tamper(database, "DELETE FROM audit_log WHERE seq > 1")
    tamper(
        database,
        "UPDATE audit_head SET seq = 1, entry_hash = "
        "(SELECT entry_hash FROM audit_log WHERE seq = 1) WHERE id = 1",
    )
    assert run(keyed, database, "audit", "verify").exit_code == 0
    cut = run(keyed, database, "audit", "verify", "--checkpoint", str(checkpoint))
    assert cut.exit_code == 1
    assert "truncated" in cut.output

    forged = tmp_path / "forged.jws"
    forged.write_text(checkpoint.read_text().strip()[:-4] + "AAAA")
    bad = run(keyed, database, "audit", "verify", "--checkpoint", str(forged))
    assert bad.exit_code == 1 and "signature" in bad.output


# --- contacts and alerts ----------------------------------------------------------------------


def test_contact_add_is_sealed_and_shown(keyed: dict[str, str], database: Path) -> None:
    added = run(keyed, database, "contact", "add", *PERSON, "--notify-email", EMAIL)
    assert added.exit_code == 0, added.output
    assert "email contact registered for 2 keys" in added.output
    shown = run(keyed, database, "subject", "show", *PERSON)
    assert shown.output.count("contact.add") == 2  # one entry per key
    as_json = json.loads(run(keyed, database, "subject", "show", *PERSON, "--json").output)
    assert [k["contacts"] for k in as_json["keys"]] == [1, 1]
    everything = added.output + shown.output
    stored = stored_bytes(database)
    for text in (EMAIL, "helene.lefevre", "example.fr"):
        assert text not in everything
        assert text.encode() not in stored
        assert text.upper().encode() not in stored

    neither = run(keyed, database, "contact", "add", *PERSON)
    assert neither.exit_code == 2 and "exactly one of" in neither.output
    bad = run(keyed, database, "contact", "add", *PERSON, "--notify-webhook", "http://10.0.0.1/x")
    assert bad.exit_code == 1 and "10.0.0.1" not in bad.output


def enqueue_for_helene(database: Path) -> str:
    """Queue an alert for Hélène's first key, with the contact `verrou contact add` sealed."""
    store: RegistryStore = open_store(f"sqlite:///{database}")
    try:
        fingerprint = helene_keys()[0]
        (contact,) = store.contacts_for([fingerprint])[fingerprint]
        alert = Alert(
            subject_fingerprint=fingerprint,
            kind="attempt_on_frozen",
            relying_party="Banque Exemple",
            at=datetime.now(UTC),
            check_id="chk_0123456789abcdef01234567",
        )
        store.enqueue_alert(alert, contact.sealed, now=datetime.now(UTC) - timedelta(seconds=1))
        return alert.id
    finally:
        store.close()


def test_alerts_deliver_once_over_smtp(
    keyed: dict[str, str], database: Path, smtp_mailbox: tuple[str, Mailbox]
) -> None:
    url, box = smtp_mailbox
    assert run(keyed, database, "contact", "add", *PERSON, "--notify-email", EMAIL).exit_code == 0
    alert_id = enqueue_for_helene(database)

    env = {**keyed, "VERROU_SMTP_URL": url}
    delivered = run(env, database, "alerts", "deliver", "--once")
    assert delivered.exit_code == 0, delivered.output
    assert "delivered 1, retried 0, failed 0" in delivered.output
    assert "VERROU_WEBHOOK_SECRET is not set" in delivered.output  # said, not fatal
    ((recipients, message),) = box.messages
    assert recipients == [EMAIL]
    assert alert_id in message.as_string()

    again = run(env, database, "alerts", "deliver", "--once")
    assert "delivered 0, retried 0, failed 0" in again.output
    assert len(box.messages) == 1


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "no alert transport configured"),
        ({"VERROU_WEBHOOK_SECRET": "ab" * 16 + "zz"}, "neither hex nor base64"),
        ({"VERROU_WEBHOOK_SECRET": "ab" * 31}, "at least 32"),
    ],
    ids=["nothing", "not-hex-nor-base64", "short"],
)
def test_alerts_deliver_refuses_bad_transport_settings(
    keyed: dict[str, str], database: Path, variables: dict[str, str], message: str
) -> None:
    result = run({**keyed, **variables}, database, "alerts", "deliver", "--once")
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1


def test_alerts_deliver_accepts_a_base64_webhook_secret(
    keyed: dict[str, str], database: Path
) -> None:
    secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="  # 35 bytes
    result = run(
        {**keyed, "VERROU_WEBHOOK_SECRET": secret}, database, "alerts", "deliver", "--once"
    )
    assert result.exit_code == 0, result.output
    assert "delivered 0, retried 0, failed 0" in result.output
