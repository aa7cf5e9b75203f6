"""The operators' commands about citizens: conflicts, reports (list, show, withdraw), and the
ingest that alerts the citizens a new breach holds."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import test_cli_registry as cli_tests
from conftest import write_leak
from test_citizens import ELODIE, JEAN
from verrou.fingerprints import Fingerprinter
from verrou.keys import parse_key_value
from verrou.registry import citizens, filing
from verrou.registry.contacts import load_contact_key_file
from verrou.registry.policy import Applicant
from verrou.signing import load_signing_key_file
from verrou.store import open_store

NOW = datetime(2026, 5, 3, 9, 0, tzinfo=UTC)
KEY_HEX, run = cli_tests.KEY_HEX, cli_tests.run
# The command-line tests' fixtures: a registry file, the environment, `verrou keys init` run.
database, env, keyed = cli_tests.database, cli_tests.env, cli_tests.keyed
IBAN = Applicant(iban="FR76 3000 6000 0112 3456 7890 189")


def _store(path: Path):  # type: ignore[no-untyped-def]
    return open_store(f"sqlite:///{path}")


def test_conflicts_reports_and_withdrawal(keyed: dict[str, str], database: Path) -> None:
    fingerprinter = Fingerprinter(parse_key_value(KEY_HEX))
    empty = run(keyed, database, "citizens", "conflicts")
    assert empty.exit_code == 0 and "no key is claimed by two accounts" in empty.output

    store = _store(database)
    try:
        jean = citizens.sign_in(store, fingerprinter, JEAN, now=NOW)
        elodie = citizens.sign_in(store, fingerprinter, ELODIE, now=NOW)
        citizens.bind_identifiers(store, fingerprinter, jean.id, IBAN, now=NOW)
        citizens.bind_identifiers(store, fingerprinter, elodie.id, IBAN, now=NOW)
        stored, _ = filing.file_report(
            store,
            load_signing_key_file(Path(keyed["VERROU_SIGNING_KEY_FILE"])),
            jean.id,
            disputed_check_ids=[],
            declared=[filing.FraudDeclared("credit_taken", date(2026, 5, 1))],
            now=NOW,
        )
    finally:
        store.close()

    conflicts = json.loads(run(keyed, database, "citizens", "conflicts", "--json").output)
    assert len(conflicts) == 1 and conflicts[0]["kind"] == "iban" and conflicts[0]["frozen"]
    assert set(conflicts[0]["citizens"]) == {jean.id, elodie.id}
    assert len(conflicts[0]["key"]) == 12  # a short fingerprint, never the IBAN
    table = run(keyed, database, "citizens", "conflicts")
    assert "iban" in table.output and "30006000" not in table.output.replace(" ", "")

    listed = run(keyed, database, "reports", "list")
    assert listed.exit_code == 0 and stored.id in listed.output and "valid" in listed.output
    shown = json.loads(run(keyed, database, "reports", "show", stored.id).output)
    assert shown["claims"]["declared"][0]["what"] == "credit_taken"
    assert shown["token"] == stored.token

    withdrawn = run(keyed, database, "reports", "withdraw", stored.id)
    assert withdrawn.exit_code == 0 and "the freeze it placed stays" in withdrawn.output
    again = run(keyed, database, "reports", "withdraw", stored.id)
    assert again.exit_code != 0 and "withdrawn already" in again.output
    missing = run(keyed, database, "reports", "show", "rpt-" + "0" * 32)
    assert missing.exit_code != 0 and "no report" in missing.output
    as_json = json.loads(run(keyed, database, "reports", "list", "--json").output)
    assert as_json[0]["status"] == "withdrawn"


def test_an_ingest_alerts_the_citizens_it_exposes(
    keyed: dict[str, str], database: Path, tmp_path: Path
) -> None:
    fingerprinter = Fingerprinter(parse_key_value(KEY_HEX))
    contact_key = load_contact_key_file(Path(keyed["VERROU_CONTACT_KEY_FILE"]))
    store = _store(database)
    try:
        store.bind_fingerprint_key(fingerprinter.key_id)
        jean = citizens.sign_in(store, fingerprinter, JEAN, now=NOW, contact_key=contact_key)
        code_id, code, _ = citizens.start_email_proof(
            store, fingerprinter, contact_key, jean.id, "jean@example.fr", now=NOW
        )
        citizens.prove_email(store, contact_key, jean.id, code_id, code, now=NOW)
    finally:
        store.close()
    dump = write_leak(tmp_path / "leak.csv")
    ingested = run(keyed, database, "ingest", str(dump), "--breach", "telco-2026")
    assert ingested.exit_code == 0, ingested.output
    assert "1 citizen with a contact alerted of this breach" in ingested.output
    status = run(keyed, database, "alerts", "status", "--json")
    assert json.loads(status.output)["pending"] == 1
