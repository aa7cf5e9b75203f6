"""Migrations written once: the placeholders of ``shared/`` rendered per dialect."""

from __future__ import annotations

from pathlib import Path

import pytest

from verrou.store import migrations
from verrou.store.migrations import DIALECTS, PLACEHOLDERS, migrations_for, render


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_migration_renders_with_no_placeholder_left(dialect: str) -> None:
    found = migrations_for(dialect)
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    for migration in found:
        assert "{{" not in migration.sql and "}}" not in migration.sql, migration.name


def test_both_dialects_have_the_same_migrations() -> None:
    sqlite, postgres = ([(m.version, m.name) for m in migrations_for(d)] for d in DIALECTS)
    assert sqlite == postgres


def test_placeholders_render_per_dialect() -> None:
    sql = "CREATE TABLE t (id {{id}}, at {{time}}, on_off {{flag:on_off}});"
    assert render(sql, "sqlite") == (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT, "
        "on_off INTEGER NOT NULL DEFAULT 0 CHECK (on_off IN (0, 1)));"
    )
    assert render(sql, "postgres") == (
        "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TIMESTAMPTZ, "
        "on_off BOOLEAN NOT NULL DEFAULT FALSE);"
    )
    # What is not a placeholder is left alone: JSON braces, strftime's %, dollar quoting.
    plain = "SELECT '{}', '{\"a\": 1}', strftime('%Y', 'now'), $$ x $$;"
    assert render(plain, "sqlite") == render(plain, "postgres") == plain


#: Placeholders that are a table option only one dialect has: empty in the other.
OPTIONS = {"without_rowid": "postgres"}


def test_every_placeholder_has_a_spelling_in_each_dialect() -> None:
    for name, spelling in PLACEHOLDERS.items():
        for dialect in DIALECTS:
            argument = ":col" if "{column}" in spelling.sqlite else ""
            token = "{{" + name + argument + "}}"
            if OPTIONS.get(name) == dialect:
                assert render(token, dialect) == "", (name, dialect)
            else:
                assert render(token, dialect).strip(), (name, dialect)


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("x {{nope}}", "unknown migration placeholder {{nope}}"),
        ("x {{flag}}", "takes its column's name"),
        ("x {{time:at}}", "takes no argument"),
        ("x {{time }}", "malformed migration placeholder"),
        ("x {{time", "malformed migration placeholder"),
        ("x time}}", "malformed migration placeholder"),
    ],
)
def test_a_bad_placeholder_is_refused(sql: str, refused: str) -> None:
    for dialect in DIALECTS:
        with pytest.raises(ValueError, match="placeholder") as error:
            render(sql, dialect)
        assert refused in str(error.value)


def test_an_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="no SQL dialect 'mysql'"):
        migrations_for("mysql")


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name in ("shared", *DIALECTS):
        (root / name).mkdir()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_migration_is_its_shared_part_then_the_dialects_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(
        tmp_path,
        {
            "shared/0001_core.sql": "CREATE TABLE t (b {{bytes}});\n",
            "sqlite/0001_core.sql": "CREATE TRIGGER ...;\n",
            "postgres/0002_more.sql": "CREATE UNLOGGED TABLE u (b {{bytes}});\n",
        },
    )
    monkeypatch.setattr(migrations.resources, "files", lambda package: root)
    sqlite = migrations_for("sqlite")
    assert [(m.version, m.name, m.sql) for m in sqlite] == [
        (1, "core", "CREATE TABLE t (b BLOB);\n\nCREATE TRIGGER ...;\n")
    ]
    postgres = migrations_for("postgres")
    assert [(m.version, m.name, m.sql) for m in postgres] == [
        (1, "core", "CREATE TABLE t (b BYTEA);\n"),
        (2, "more", "CREATE UNLOGGED TABLE u (b BYTEA);\n"),
    ]


def test_loading_refuses_an_unknown_placeholder_and_parts_that_disagree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path, {"shared/0001_core.sql": "CREATE TABLE t (b {{blob}});\n"})
    monkeypatch.setattr(migrations.resources, "files", lambda package: root)
    for dialect in DIALECTS:
        with pytest.raises(ValueError, match="unknown migration placeholder"):
            migrations_for(dialect)
    (root / "shared/0001_core.sql").write_text("CREATE TABLE t (b {{bytes}});\n")
    (root / "sqlite/0001_base.sql").write_text("SELECT 1;\n")
    with pytest.raises(ValueError, match="disagree on its name"):
        migrations_for("sqlite")
    assert [m.name for m in migrations_for("postgres")] == ["core"]
