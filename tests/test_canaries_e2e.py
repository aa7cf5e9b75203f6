"""The whole canary story, with real components only, on both stores: an operator plants
canaries from the command line (the CSV written once, the registry holding fingerprints only),
the source leaks them in a dump whose ingest names the source and dates the theft, a bank checks
one through the API and is denied, and the incident reaches the operators by email (a real SMTP
server) and by signed webhook (a real receiver), both on loopback."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from conftest import Mailbox, Receiver
from test_no_plaintext import assert_absent, needles, postgres_text, text_of
from verrou.api import create_app
from verrou.cli import main
from verrou.registry.alerts import SIGNATURE_HEADER, verify_webhook_signature
from verrou.settings import Settings
from verrou.store import open_store

KEY_HEX = "3c" * 32
WEBHOOK_SECRET = "5e" * 32
OPERATOR = "cert@operateur.example.fr"
SOURCE = "partenaire-x"
DOMAIN = "canary.example.gouv.fr"


def _cli(env: dict[str, str], *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def _registry_text(database_url: str, folder: Path) -> str:
    """Everything the registry holds, as text: the SQLite files' printable runs, or every
    column of every PostgreSQL table."""
    if database_url.startswith("sqlite:///"):
        files = sorted(folder.glob("registry.sqlite3*"))
        assert files
        return text_of(b"".join(path.read_bytes() for path in files))
    return postgres_text(database_url)[0]


def _applicant(row: dict[str, str]) -> dict[str, Any]:
    """How a fraudster holding the leaked row fills in a bank's form."""
    day, month, year = row["date_naissance"].split("/")
    return {
        "family_name": row["nom"],
        "given_names": row["prenoms"].replace(",", ""),
        "birth_date": f"{year}-{month}-{day}",
        "email": row["email"],
    }


def test_a_canary_reveals_and_dates_the_leak_of_its_source(
    database_url: str,
    tmp_path: Path,
    smtp_mailbox: tuple[str, Mailbox],
    receiver: Receiver,
) -> None:
    smtp_url, box = smtp_mailbox
    env = {
        "VERROU_DATABASE_URL": database_url,
        "VERROU_KEY": KEY_HEX,
        "VERROU_SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing.key"),
        "VERROU_CONTACT_KEY_FILE": str(tmp_path / "keys" / "contact.key"),
        "VERROU_OPRF_KEY_FILE": str(tmp_path / "keys" / "oprf.key"),
        "VERROU_REPORT_DIR": str(tmp_path / "reports"),
        "VERROU_WORKERS": "0",
        "VERROU_SMTP_URL": smtp_url,
        "VERROU_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "VERROU_OPERATOR_EMAIL": OPERATOR,
        "VERROU_OPERATOR_WEBHOOK": receiver.url,
        "VERROU_CANARY_DOMAIN": DOMAIN,
        "COLUMNS": "200",
    }
    dump, planting = tmp_path / "dump.csv", tmp_path / "planting.csv"
    _cli(env, "keys", "init")
    _cli(env, "synth", "--rows", "300", "--with-documents", "--out", str(dump))

    # Planted: the identities written once, readable by the operator only.
    created = _cli(
        env,
        "canary",
        "create",
        "--count",
        "3",
        "--source",
        SOURCE,
        "--seed",
        "7",
        "--out",
        str(planting),
    )
    ids = re.findall(r"cn-[0-9a-f]{12}", created.output)
    assert len(ids) == 3 and f"of source {SOURCE}" in created.output
    assert planting.stat().st_mode & 0o777 == 0o600
    written = planting.read_bytes()
    header, *lines = written.decode("utf-8").splitlines()
    assert header == dump.read_text(encoding="utf-8").splitlines()[0] and len(lines) == 3
    again = _cli(
        env, "canary", "create", "--count", "1", "--source", SOURCE, "--out", str(planting), code=1
    )
    assert "exists already" in again.output and planting.read_bytes() == written
    secrets_of_the_canaries = needles(planting)
    assert len(secrets_of_the_canaries) > 30
    in_the_csv = [n for n in secrets_of_the_canaries if n in written.decode("utf-8")]
    assert len(in_the_csv) >= 20  # the search can fail: the CSV is full of what it looks for
    assert_absent(_registry_text(database_url, tmp_path), secrets_of_the_canaries, "registry")

    # The source leaks: its dump holds the canaries among everybody else.
    with dump.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    listed = json.loads(_cli(env, "canary", "list", "--json").output)
    planted_on = listed[0]["planted_at"][:10]
    ingested = _cli(env, "ingest", str(dump), "--breach", "fuite-2027")
    assert f"canaries of source {SOURCE} found: 3, planted on {planted_on}" in ingested.output
    store = open_store(database_url)
    try:
        breach = store.get_breach("fuite-2027")
        assert breach is not None
        (evidence,) = store.breach_evidence(breach.id)
        assert (evidence.kind, evidence.source, evidence.canaries) == ("canary", SOURCE, 3)
        assert evidence.planted_at.isoformat() == listed[0]["planted_at"]
        _, api_key = store.create_relying_party("Banque Exemple", "bank")
    finally:
        store.close()
    # The breach's page shows the attribution, on the command line as in the public API.
    page = _cli(env, "breach", "show", "fuite-2027").output
    assert f"evidence: 3 canaries of source {SOURCE}, planted {planted_on}" in page

    # A bank checks one of them: denied, and an incident for the operators.
    row = next(csv.DictReader(lines, fieldnames=header.split(";"), delimiter=";"))
    with TestClient(create_app(Settings.from_env(env))) as client:
        answer = client.post(
            "/v1/checks", json=_applicant(row), headers={"Authorization": f"Bearer {api_key}"}
        )
        (public,) = [p for p in client.get("/v1/breaches").json() if p["name"] == "fuite-2027"]
    assert [(e["source"], e["canaries"]) for e in public["evidence"]] == [(SOURCE, 3)]
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["verdict"] == "deny"  # a canary, and since the leak exposed in its breach:
    assert {(r["code"], r["breach"]) for r in verdict["reasons"]} == {
        ("canary", None),
        ("exposed", "fuite-2027"),
    }

    (incident,) = json.loads(_cli(env, "canary", "incidents", "--json").output)
    assert incident["check_id"] == verdict["check_id"]
    assert (incident["source"], incident["relying_party"], incident["sector"]) == (
        SOURCE,
        "Banque Exemple",
        "bank",
    )
    assert incident["verdict"] == "deny" and incident["canary_id"] in ids
    counts = {
        c["id"]: c["incidents"] for c in json.loads(_cli(env, "canary", "list", "--json").output)
    }
    assert counts == {canary_id: int(canary_id == incident["canary_id"]) for canary_id in ids}
    # The breach's outcome curve counts the hit, with the check.
    curve = json.loads(_cli(env, "metrics", "--breach", "fuite-2027", "--format", "json").output)
    hits = [p for p in curve["points"] if p["sector"] == "all" and p["canary_hits"]]
    assert [(p["checks"], p["deny"], p["canary_hits"]) for p in hits] == [(1, 1, 1)]
    shown = _cli(env, "canary", "incidents").output
    assert incident["canary_id"] in shown and "Banque Exemple" in shown and SOURCE in shown

    delivered = _cli(env, "alerts", "deliver", "--once")
    assert "delivered 2, retried 0, failed 0" in delivered.output
    ((recipients, message),) = box.messages
    assert recipients == [OPERATOR]
    mail = message["Subject"] + "\n" + message.get_body(preferencelist=("plain",)).get_content()
    assert "Canary incident" in message["Subject"] and "Incident canari" in mail
    for told in (SOURCE, "Banque Exemple", incident["canary_id"], verdict["check_id"]):
        assert told in mail
    ((headers, body),) = receiver.requests
    verify_webhook_signature(body, headers[SIGNATURE_HEADER], bytes.fromhex(WEBHOOK_SECRET))
    posted = json.loads(body)
    assert posted["kind"] == "canary_tripped" and posted["relying_party"] == "Banque Exemple"
    assert posted["canary"] == {"id": incident["canary_id"], "source": SOURCE}
    assert posted["check_id"] == verdict["check_id"]
    # Never a value of the canary: not in the incident, not in the registry after all this.
    assert_absent(mail, secrets_of_the_canaries, "the incident email")
    assert_absent(body.decode("utf-8"), secrets_of_the_canaries, "the incident webhook")
    assert_absent(json.dumps(verdict), secrets_of_the_canaries, "the verdict")
    assert_absent(_registry_text(database_url, tmp_path), secrets_of_the_canaries, "registry")


def test_a_planting_that_cannot_be_leaves_no_file(tmp_path: Path) -> None:
    env = {
        "VERROU_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "VERROU_KEY": KEY_HEX,
        "VERROU_CONTACT_KEY_FILE": str(tmp_path / "keys" / "contact.key"),
        "VERROU_SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing.key"),
        "VERROU_OPRF_KEY_FILE": str(tmp_path / "keys" / "oprf.key"),
    }
    out = tmp_path / "planting.csv"
    create = ("canary", "create", "--count", "2", "--source", SOURCE, "--out", str(out))
    _cli(env, "keys", "init")
    refused = _cli(env, *create, code=2)
    assert "--domain" in refused.output
    refused = _cli({**env, "VERROU_CANARY_DOMAIN": DOMAIN}, *create, code=2)
    assert "VERROU_OPERATOR_EMAIL" in refused.output and not out.exists()
    env |= {"VERROU_CANARY_DOMAIN": DOMAIN, "VERROU_OPERATOR_EMAIL": OPERATOR}
    _cli(env, *create)
    out.unlink()
    # Another fingerprint key than the registry's: refused once the file is open, and removed.
    refused = _cli({**env, "VERROU_KEY": "4d" * 32}, *create, code=2)
    assert "fingerprint key" in refused.output and not out.exists()
    listed = json.loads(_cli(env, "canary", "list", "--json").output)
    assert [c["incidents"] for c in listed] == [0, 0]
    assert "no canary incident" in _cli(env, "canary", "incidents").output
