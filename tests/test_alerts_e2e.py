"""The whole alert path, with real components only: a citizen registers a contact and freezes
their identity from the command line, a bank's check through the API is denied, and the alert
worker delivers the owner's email to a real SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from conftest import LEAKED_PEOPLE, Mailbox, ingest_leak
from verrou.api import create_app
from verrou.cli import main
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey, key_id_for
from verrou.settings import Settings
from verrou.store import open_store

KEY_HEX = "5a" * 32
OWNER = "jean.dupont.alertes@example.fr"


def _cli(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_a_check_on_a_frozen_identity_reaches_its_owner_by_email(
    tmp_path: Path, smtp_mailbox: tuple[str, Mailbox]
) -> None:
    smtp_url, box = smtp_mailbox
    database_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    env = {
        "VERROU_DATABASE_URL": database_url,
        "VERROU_KEY": KEY_HEX,
        "VERROU_SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing.key"),
        "VERROU_CONTACT_KEY_FILE": str(tmp_path / "keys" / "contact.key"),
        "VERROU_SMTP_URL": smtp_url,
        "VERROU_WEBHOOK_SECRET": "77" * 32,
    }
    secret = bytes.fromhex(KEY_HEX)
    store = open_store(database_url)
    try:
        ingest_leak(store, Fingerprinter(FingerprintKey(key_id_for(secret), secret)), tmp_path)
        _, api_key = store.create_relying_party("Banque Exemple", "bank")
    finally:
        store.close()

    family, given, birth, _, _ = LEAKED_PEOPLE[0]
    person = ("--person", family, given, birth)
    _cli(env, "keys", "init")
    _cli(env, "contact", "add", *person, "--notify-email", OWNER)
    _cli(env, "freeze", "place", *person, "--by", "owner", "--reason", "owner_request")

    settings = Settings.from_env(env)
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/v1/checks",
            # Spelled differently from the citizen's registration: still their identity.
            json={"family_name": family.upper(), "given_names": given, "birth_date": birth},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "deny"

    waiting = _cli(env, "alerts", "status").output
    assert "pending 1 (1 due now), delivered 0, failed 0" in waiting
    assert OWNER not in waiting

    delivered = _cli(env, "alerts", "deliver", "--once")
    assert "delivered 1, retried 0, failed 0" in delivered.output
    ((recipients, message),) = box.messages
    assert recipients == [OWNER]
    text = message["Subject"] + "\n" + message.get_body(preferencelist=("plain",)).get_content()
    assert "Banque Exemple" in text
    # The alert says who tried and when, never the identity data itself.
    for value in (family, given.split()[0], birth, "1980"):
        assert value not in text
    assert answer.json()["check_id"] in message.as_string()

    # Nothing left to send.
    assert "delivered 0, retried 0, failed 0" in _cli(env, "alerts", "deliver", "--once").output
    assert '"delivered": 1' in _cli(env, "alerts", "status", "--json").output
