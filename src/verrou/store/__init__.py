"""Registry stores, chosen by the database URL."""

from __future__ import annotations

from pathlib import Path

from verrou.errors import ConfigError
from verrou.store.protocols import RegistryStore


def open_store(
    url: str, *, migrate: bool = True, fingerprint_key_id: str | None = None
) -> RegistryStore:
    """Open the store a URL names; apply pending migrations unless told not to.

    With ``fingerprint_key_id`` (every caller that holds the fingerprint key passes it), the
    store refuses another key than the one the registry is built with
    (:meth:`RegistryStore.bind_fingerprint_key`; the first keyed opening records it).

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
    try:
        if migrate:
            store.migrate()
        if fingerprint_key_id is not None:
            store.bind_fingerprint_key(fingerprint_key_id)
    except BaseException:
        store.close()
        raise
    return store


__all__ = ["RegistryStore", "open_store"]
