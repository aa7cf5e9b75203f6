"""The registry records the canonicaliser versions its fingerprints were made with.

Regression (same class as the wrong fingerprint key): a fingerprint hashes the kind's
canonicaliser version, so a verrou whose person canonicaliser moved to a new version computes
other keys than those a registry was built with. Upgraded in place, it started silently and
answered `clear` for a person frozen under the old version. Every keyed command must refuse
such a registry, naming the kinds and versions, and say what to do.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import Result

from conftest import run_keyed_cli, write_leak
from verrou.api import create_app
from verrou.identifiers.kinds import KIND_VERSIONS
from verrou.keys import CanonicaliserVersionMismatch
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store import RegistryStore, open_store
from verrou.store.migrations import migrations_for

KEY = bytes(range(32))
PERSON = ("--person", "Dupont", "Jean Pierre", "1980-05-17")
CURRENT = {kind.value: version for kind, version in KIND_VERSIONS.items()}


def _run(tmp_path: Path, database: Path, *args: str) -> Result:
    result: Result = run_keyed_cli(tmp_path, database, KEY, *args)
    return result


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A SQLite registry built by this verrou: one leak ingested, Jean Dupont frozen."""
    database = tmp_path / "registry.sqlite3"
    assert _run(tmp_path, database, "keys", "init").exit_code == 0
    dump = write_leak(tmp_path / "leak.csv")
    result = _run(tmp_path, database, "ingest", str(dump), "--breach", "ants-2026")
    assert result.exit_code == 0, result.output
    result = _run(tmp_path, database, "freeze", "place", *PERSON)
    assert result.exit_code == 0, result.output
    return database


def test_a_new_registry_records_this_verrous_canonicaliser_versions(built: Path) -> None:
    with sqlite3.connect(built) as db:
        recorded = dict(db.execute("SELECT kind, version FROM registry_canonicalisers"))
    assert recorded == CURRENT


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ingest", "{other_dump}", "--breach", "other-leak"], id="ingest"),
        pytest.param(["freeze", "place", *PERSON], id="freeze-place"),
        pytest.param(["freeze", "lift", *PERSON], id="freeze-lift"),
        pytest.param(["subject", "show", *PERSON], id="subject-show"),
        pytest.param(["serve", "--port", "1"], id="serve"),
    ],
)
def test_registry_built_with_another_person_canonicaliser_is_refused_by_every_keyed_command(
    tmp_path: Path, built: Path, command: list[str]
) -> None:
    with sqlite3.connect(built) as db:  # as if built by a verrou with another person version
        db.execute("UPDATE registry_canonicalisers SET version = version + 1 WHERE kind = 'person'")
        before = db.execute("SELECT COUNT(*) FROM audit_log").fetchone()
    other = tmp_path / "other.csv"
    other.write_text("email\nsomeone@example.fr\n", encoding="utf-8")
    args = [arg.replace("{other_dump}", str(other)) for arg in command]
    result = _run(tmp_path, built, *args)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    built_with = CURRENT["person"] + 1
    assert f"person {built_with} (this verrou: {CURRENT['person']})" in lines[0]
    assert "rebuild the registry" in lines[0]
    with sqlite3.connect(built) as db:
        assert db.execute("SELECT COUNT(*) FROM audit_log").fetchone() == before
        assert db.execute("SELECT COUNT(*) FROM ingest_runs").fetchone() == (1,)


def test_serve_on_a_registry_of_other_canonicaliser_versions_refuses_to_start(
    built: Path,
) -> None:
    with sqlite3.connect(built) as db:
        db.execute("UPDATE registry_canonicalisers SET version = version + 1 WHERE kind = 'email'")
    settings = Settings.from_env(
        {}, database_url=f"sqlite:///{built}", key_value=KEY.hex(), recorder="thread"
    )
    with pytest.raises(CanonicaliserVersionMismatch) as refused:
        create_app(settings, signing_key=SigningKey.generate())
    assert refused.value.differing == {"email": (CURRENT["email"] + 1, CURRENT["email"])}


def test_registry_from_before_versions_were_recorded_holds_version_1_of_every_kind(
    tmp_path: Path, built: Path
) -> None:
    # Undo migration 0005 on a registry that holds data, then open it again: the migration
    # records what every registry of that time was built with, version 1 of every kind.
    with sqlite3.connect(built) as db:
        db.execute("DROP TABLE registry_canonicalisers")
        db.execute("DELETE FROM schema_migrations WHERE version = 5")
    open_store(f"sqlite:///{built}").close()
    with sqlite3.connect(built) as db:
        recorded = dict(db.execute("SELECT kind, version FROM registry_canonicalisers"))
    assert recorded == dict.fromkeys(CURRENT, 1)
    # This verrou's person, email, address and account-id canonicalisers are at version 2:
    # such a registry is refused, never answered from with keys that cannot match.
    assert CURRENT["person"] == 2
    result = _run(tmp_path, built, "subject", "show", *PERSON)
    assert result.exit_code != 0 and "canonicaliser versions" in result.output
    assert "person 1 (this verrou: 2)" in result.output


def test_an_empty_registry_from_before_versions_records_none_until_first_keyed_use(
    tmp_path: Path,
) -> None:
    database = tmp_path / "empty.sqlite3"
    open_store(f"sqlite:///{database}").close()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM registry_canonicalisers").fetchone() == (0,)
    assert _run(tmp_path, database, "freeze", "place", *PERSON).exit_code == 0
    with sqlite3.connect(database) as db:
        assert dict(db.execute("SELECT kind, version FROM registry_canonicalisers")) == CURRENT


def test_bind_canonicaliser_versions_contract(store: RegistryStore) -> None:
    store.bind_fingerprint_key("fk-000000000001", {"email": 1, "person": 2})
    store.bind_fingerprint_key("fk-000000000001", {"email": 1, "person": 2})
    # A kind this verrou added is recorded, not refused.
    store.bind_fingerprint_key("fk-000000000001", {"email": 1, "person": 2, "nir": 1})
    with pytest.raises(CanonicaliserVersionMismatch) as refused:
        store.bind_fingerprint_key("fk-000000000001", {"email": 2, "person": 2, "nir": 1})
    assert refused.value.differing == {"email": (1, 2)}
    # A kind the registry holds that this verrou no longer knows is refused too.
    with pytest.raises(CanonicaliserVersionMismatch) as refused:
        store.bind_fingerprint_key("fk-000000000001", {"email": 1, "person": 2})
    assert refused.value.differing == {"nir": (1, None)}


def test_migration_0005_exists_for_both_dialects() -> None:
    for dialect in ("sqlite", "postgres"):
        names = {(m.version, m.name) for m in migrations_for(dialect)}
        assert (5, "canonicalisers") in names
