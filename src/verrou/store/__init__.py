"""Registry stores, chosen by the database URL."""

from __future__ import annotations

from pathlib import Path

from verrou.errors import ConfigError
from verrou.store.base import RegistryStore


def open_store(url: str, *, migrate: bool = True) -> RegistryStore:
    """Open the store a URL names; apply pending migrations unless told not to.

    ``sqlite:///relative/path.sqlite3``, ``sqlite:////absolute/path``, or
    ``postgresql://user@host:port/dbname``.
    """
    store: RegistryStore
    if url.startswith("sqlite:///"):
        from verrou.store.sqlite import SQLiteStore

        store = SQLiteStore(Path(url.removeprefix("sqlite:///")))
    elif url.startswith(("postgresql://", "postgres://")):
        from verrou.store.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise ConfigError("database URL must start with sqlite:/// or postgresql://")
    if migrate:
        store.migrate()
    return store


__all__ = ["RegistryStore", "open_store"]
