"""Versioned schema migrations (``NNNN_name.sql``), written once where the dialects agree.

A migration's ``shared/`` file is what both dialects run, with a placeholder (``{{name}}``, or
``{{name:column}}`` for one that must name its column) wherever they spell a thing differently:
:data:`PLACEHOLDERS` is the vocabulary, each with its SQLite and PostgreSQL spelling. Its
``sqlite/`` and ``postgres/`` files hold what only that dialect runs (triggers, seed rows,
storage options), after the shared part. Either part may be missing: a migration that is only
``shared/`` is written once for both. ``{{`` and ``}}`` stand for nothing else in these files,
so a placeholder outside the vocabulary, or a malformed one, is refused when the migrations are
loaded, never sent to the database.

Applied migrations are recorded by version and name only (``schema_migrations``), so where a
migration's statements are written does not matter to a registry that already ran it, as long
as what they render to is the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

DIALECTS = ("sqlite", "postgres")


class Spelling(NamedTuple):
    """What a placeholder renders to in each dialect; ``{column}`` stands for its argument."""

    sqlite: str
    postgres: str

    def of(self, dialect: str) -> str:
        return self.sqlite if dialect == "sqlite" else self.postgres


#: The placeholders of the shared migrations, by name.
PLACEHOLDERS: dict[str, Spelling] = {
    # A 64-bit integer: SQLite's INTEGER is one.
    "bigint": Spelling("INTEGER", "BIGINT"),
    "bytes": Spelling("BLOB", "BYTEA"),
    # A moment. SQLite stores text: the registry's own tables (from 0002 on) write one fixed
    # width (verrou.registry.audit.format_at), so that text order is time order.
    "time": Spelling("TEXT", "TIMESTAMPTZ"),
    # The moment the migration runs, as a time of the registry's own tables is written.
    "now": Spelling("strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'", "now()"),
    # A row id numbered by the database, the table's primary key (SQLite: the rowid).
    "id": Spelling("INTEGER PRIMARY KEY", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    # A number in order of insertion beside the table's own key, and that key. SQLite numbers
    # only its rowid, which is then the primary key: the table's own key is only unique there.
    "serial": Spelling("INTEGER PRIMARY KEY", "BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE"),
    "key_beside_serial": Spelling("NOT NULL UNIQUE", "PRIMARY KEY"),
    # A yes/no column, no unless set (``{{flag:canary}}``): SQLite keeps its integers to 0 and 1.
    "flag": Spelling(
        "INTEGER NOT NULL DEFAULT 0 CHECK ({column} IN (0, 1))", "BOOLEAN NOT NULL DEFAULT FALSE"
    ),
    # After a table whose primary key is all it holds: SQLite then keeps one B-tree, not a
    # rowid table beside its key's index (PostgreSQL has no such option, nor needs one).
    "without_rowid": Spelling(" WITHOUT ROWID", ""),
}

_PLACEHOLDER = re.compile(r"\{\{(\w+)(?::(\w+))?\}\}")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def render(sql: str, dialect: str) -> str:
    """A migration's text with its placeholders spelt for ``dialect``.

    Raises :class:`ValueError` for an unknown dialect, an unknown placeholder, an argument
    given to a placeholder that takes none (or missing from one that takes one), and for any
    ``{{`` or ``}}`` that is not a placeholder.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"no SQL dialect {dialect!r} (known: {', '.join(DIALECTS)})")

    def spelt(match: re.Match[str]) -> str:
        name, column = match.group(1), match.group(2)
        spelling = PLACEHOLDERS.get(name)
        if spelling is None:
            raise ValueError(f"unknown migration placeholder {match.group(0)}")
        if (column is not None) != any("{column}" in text for text in spelling):
            raise ValueError(
                f"migration placeholder {match.group(0)}: {name} "
                + ("takes its column's name" if column is None else "takes no argument")
            )
        return spelling.of(dialect).replace("{column}", column or "")

    rendered = _PLACEHOLDER.sub(spelt, sql)
    for stray in ("{{", "}}"):
        if stray in rendered:
            line = next(line for line in rendered.splitlines() if stray in line)
            raise ValueError(f"malformed migration placeholder in: {line.strip()}")
    return rendered


def migrations_for(dialect: str) -> list[Migration]:
    """All migrations of a dialect ("sqlite" or "postgres"), rendered, in version order.

    Each is its ``shared/`` part, then the dialect's own; the parts of a version must agree on
    its name, which ``schema_migrations`` records.
    """
    parts: dict[int, list[tuple[str, str]]] = {}
    for folder in ("shared", dialect):
        for entry in resources.files(__package__).joinpath(folder).iterdir():
            if entry.name.endswith(".sql"):
                number, _, rest = entry.name.partition("_")
                text = render(entry.read_text("utf-8"), dialect)
                parts.setdefault(int(number), []).append((rest.removesuffix(".sql"), text))
    found = []
    for version, texts in sorted(parts.items()):
        names = sorted({name for name, _ in texts})
        if len(names) != 1:
            raise ValueError(f"the parts of migration {version} disagree on its name: {names}")
        found.append(Migration(version, names[0], "\n".join(text for _, text in texts)))
    return found
