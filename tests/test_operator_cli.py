"""``verrou operators add | list | disable``, in process over a real SQLite file: the password
from a prompt (asked twice), a file or generated and printed once, never stored in clear; the
accounts it makes are the ones the portal signs in."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from verrou.cli import main
from verrou.errors import Unauthorized
from verrou.registry import operators
from verrou.store import open_store

PASSWORD = "a long enough operator password"


def _cli(database: Path, *args: str, given: str | None = None, code: int = 0) -> Result:
    result = CliRunner().invoke(
        main,
        ["--database-url", f"sqlite:///{database}", "operators", *args],
        input=given,
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == code, result.output
    return result


def _signs_in(database: Path, name: str, password: str) -> bool:
    store = open_store(f"sqlite:///{database}")
    try:
        operators.sign_in(
            store, name, password, now=datetime.now(UTC), lifetime=timedelta(minutes=5)
        )
    except Unauthorized:
        return False
    finally:
        store.close()
    return True


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "registry.sqlite3"


def test_a_password_typed_twice_adds_an_operator_who_signs_in(database: Path) -> None:
    added = _cli(database, "add", "alice", given=f"{PASSWORD}\n{PASSWORD}\n")
    assert "operator alice added" in added.output
    assert PASSWORD not in added.stdout
    assert _signs_in(database, "alice", PASSWORD)
    assert not _signs_in(database, "alice", PASSWORD + "!")
    stored = b"".join(p.read_bytes() for p in database.parent.glob("registry.sqlite3*"))
    assert PASSWORD.encode() not in stored and b"scrypt$" in stored


def test_two_different_typings_are_asked_again(database: Path) -> None:
    other = "another long password"
    added = _cli(database, "add", "alice", given=f"{PASSWORD}\n{other}\n{other}\n{other}\n")
    assert "do not match" in added.output
    assert _signs_in(database, "alice", other) and not _signs_in(database, "alice", PASSWORD)


def test_a_password_file_or_a_generated_password(database: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    _cli(database, "add", "bob", "--password-file", str(secret))
    assert _signs_in(database, "bob", PASSWORD)

    generated = _cli(database, "add", "carol", "--generate")
    assert "shown once" in generated.output
    (printed,) = re.findall(r"^[A-Za-z0-9_-]{20}$", generated.stdout, flags=re.MULTILINE)
    assert _signs_in(database, "carol", printed)
    both = _cli(database, "add", "dave", "--generate", "--password-file", str(secret), code=2)
    assert "not both" in both.output


def test_refusals_name_what_is_wrong(database: Path, tmp_path: Path) -> None:
    short = _cli(database, "add", "alice", given="short\nshort\n", code=1)
    assert "at least 12 characters" in short.output
    bad_name = _cli(database, "add", "Alice Smith", "--generate", code=1)
    assert "operator name" in bad_name.output
    missing = _cli(database, "add", "alice", "--password-file", str(tmp_path / "none"), code=2)
    assert "--password-file" in missing.output
    _cli(database, "add", "alice", "--generate")
    taken = _cli(database, "add", "alice", "--generate", code=1)
    assert "already exists" in taken.output


def test_list_and_disable(database: Path) -> None:
    assert "no operator yet" in _cli(database, "list").output
    for name in ("bob", "alice"):
        _cli(database, "add", name, given=f"{PASSWORD}\n{PASSWORD}\n")
    listed = json.loads(_cli(database, "list", "--json").stdout)
    assert [entry["name"] for entry in listed] == ["alice", "bob"]
    assert all(entry["disabled_at"] is None for entry in listed)
    assert "scrypt" not in _cli(database, "list", "--json").stdout

    disabled = _cli(database, "disable", "bob")
    assert "operator bob disabled" in disabled.output
    assert not _signs_in(database, "bob", PASSWORD) and _signs_in(database, "alice", PASSWORD)
    table = _cli(database, "list").output
    (bob_row,) = [line for line in table.splitlines() if line.strip().startswith("bob")]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d", bob_row)
    again = _cli(database, "disable", "bob", code=1)
    assert "no enabled operator named bob" in again.output
    assert "no enabled operator" in _cli(database, "disable", "nobody", code=1).output
