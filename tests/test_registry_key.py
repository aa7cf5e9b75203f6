"""The registry records the fingerprint key it is built with and refuses any other.

Regression: `verrou serve` with another fingerprint key than the registry's started silently
and answered `clear` for a frozen identity; `verrou ingest` with another key succeeded and left
two key ids in one registry.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import run_keyed_cli, write_leak
from verrou.api import create_app
from verrou.errors import KeyMaterialError
from verrou.keys import FingerprintKeyMismatch, key_id_for
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore, open_store

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
ID_A = key_id_for(KEY_A)
ID_B = key_id_for(KEY_B)
PERSON = ("--person", "Dupont", "Jean Pierre", "1980-05-17")


def _run(tmp_path: Path, database: Path, secret: bytes, *args: str) -> Result:
    result: Result = run_keyed_cli(tmp_path, database, secret, *args)
    return result


def _assert_refused(result: Result, registry_id: str = ID_A, given_id: str = ID_B) -> None:
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert registry_id in lines[0] and given_id in lines[0]
    assert KEY_A.hex() not in result.output and KEY_B.hex() not in result.output


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A SQLite registry built with key A: one leak ingested, Jean Dupont frozen, keys made."""
    database = tmp_path / "registry.sqlite3"
    assert _run(tmp_path, database, KEY_A, "keys", "init").exit_code == 0
    dump = write_leak(tmp_path / "leak.csv")
    result = _run(tmp_path, database, KEY_A, "ingest", str(dump), "--breach", "ants-2026")
    assert result.exit_code == 0, result.output
    result = _run(tmp_path, database, KEY_A, "freeze", "place", *PERSON)
    assert result.exit_code == 0, result.output
    return database


KEYED_COMMANDS = [
    pytest.param(["ingest", "{other_dump}", "--breach", "other-leak"], id="ingest"),
    pytest.param(["freeze", "place", *PERSON], id="freeze-place"),
    pytest.param(["freeze", "lift", *PERSON], id="freeze-lift"),
    pytest.param(["freeze", "thaw", *PERSON, "--all", "--days", "1"], id="freeze-thaw"),
    pytest.param(["subject", "show", *PERSON], id="subject-show"),
    pytest.param(
        ["contact", "add", *PERSON, "--notify-email", "jean@example.fr"], id="contact-add"
    ),
]


@pytest.mark.parametrize("command", KEYED_COMMANDS)
def test_wrong_fingerprint_key_is_refused_by_every_keyed_command(
    tmp_path: Path, built: Path, command: list[str]
) -> None:
    other = tmp_path / "other.csv"
    other.write_text("email\nsomeone@example.fr\n", encoding="utf-8")
    args = [arg.replace("{other_dump}", str(other)) for arg in command]
    before = sqlite3.connect(built).execute("SELECT COUNT(*) FROM audit_log").fetchone()
    _assert_refused(_run(tmp_path, built, KEY_B, *args))
    with sqlite3.connect(built) as db:
        assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone() == before
        assert db.execute("SELECT DISTINCT key_id FROM ingest_runs").fetchall() == [(ID_A,)]
        assert db.execute("SELECT COUNT(*) FROM freezes").fetchone()[0] > 0
    # The registry's own key still works.
    args_a = [a.replace("other-leak", "other-leak-a") for a in args]
    assert _run(tmp_path, built, KEY_A, *args_a).exit_code == 0


def test_serve_with_wrong_fingerprint_key_refuses_to_start(tmp_path: Path, built: Path) -> None:
    settings = Settings.from_env(
        {}, database_url=f"sqlite:///{built}", key_value=KEY_B.hex(), recorder="thread"
    )
    with pytest.raises(FingerprintKeyMismatch) as refused:
        create_app(settings, signing_key=SigningKey.generate())
    assert ID_A in refused.value.message and ID_B in refused.value.message
    # Through the CLI: one line, non-zero, and no server was started.
    _assert_refused(_run(tmp_path, built, KEY_B, "serve", "--port", "1"))
    # With the registry's key the app builds.
    create_app(
        Settings.from_env({}, database_url=f"sqlite:///{built}", key_value=KEY_A.hex()),
        signing_key=SigningKey.generate(),
    )


def test_first_keyed_command_records_the_key_of_an_empty_registry(tmp_path: Path) -> None:
    database = tmp_path / "registry.sqlite3"
    assert _run(tmp_path, database, KEY_B, "freeze", "place", *PERSON).exit_code == 0
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT key_id FROM registry_key").fetchall() == [(ID_B,)]
    dump = write_leak(tmp_path / "leak.csv")
    refused = _run(tmp_path, database, KEY_A, "ingest", str(dump), "--breach", "ants-2026")
    _assert_refused(refused, registry_id=ID_B, given_id=ID_A)


def test_registry_from_before_the_key_record_adopts_its_ingest_runs_key(
    tmp_path: Path, built: Path
) -> None:
    with sqlite3.connect(built) as db:
        db.execute("DELETE FROM registry_key")  # as a registry migrated from before 0004
    _assert_refused(_run(tmp_path, built, KEY_B, "subject", "show", *PERSON))
    with sqlite3.connect(built) as db:
        assert db.execute("SELECT key_id FROM registry_key").fetchall() == [(ID_A,)]
    assert _run(tmp_path, built, KEY_A, "subject", "show", *PERSON).exit_code == 0


def test_registry_whose_runs_hold_two_key_ids_is_refused(tmp_path: Path, built: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("email\nsomeone@example.fr\n", encoding="utf-8")
    assert _run(tmp_path, built, KEY_A, "ingest", str(other), "--breach", "b2").exit_code == 0
    with sqlite3.connect(built) as db:
        # What the bug left behind: a second run fingerprinted with another key.
        db.execute("UPDATE ingest_runs SET key_id = ? WHERE file_name = 'other.csv'", (ID_B,))
        db.execute("DELETE FROM registry_key")
    for secret in (KEY_A, KEY_B):
        result = _run(tmp_path, built, secret, "subject", "show", *PERSON)
        assert result.exit_code != 0
        line = result.output.strip()
        assert len(line.splitlines()) == 1
        assert "2 fingerprint keys" in line and ID_A in line and ID_B in line


def test_bind_fingerprint_key_contract(store: RegistryStore, database_url: str) -> None:
    store.bind_fingerprint_key(ID_A)
    store.bind_fingerprint_key(ID_A)  # the same key again: fine
    with pytest.raises(FingerprintKeyMismatch):
        store.bind_fingerprint_key(ID_B)
    with pytest.raises(FingerprintKeyMismatch):
        open_store(database_url, fingerprint_key_id=ID_B)
    open_store(database_url, fingerprint_key_id=ID_A).close()
    assert issubclass(FingerprintKeyMismatch, KeyMaterialError)


def test_demo_refuses_a_replaced_fingerprint_key(tmp_path: Path) -> None:
    from verrou.cli import main
    from verrou.keys import create_key_file, load_key_file

    folder = tmp_path / "demo"
    env = {"VERROU_WORKERS": "0", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    args = ["demo", "--rows", "1000", "--dir", str(folder), "--no-serve"]
    first = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    key_file = folder / "keys" / "fingerprint.key"
    built_with = load_key_file(key_file).key_id
    key_file.unlink()
    replaced = create_key_file(key_file).key_id  # the demo folder's key, swapped
    again = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert again.exit_code != 0
    line = again.output.strip()
    assert len(line.splitlines()) == 1 and built_with in line and replaced in line
