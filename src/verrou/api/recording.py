"""The recorder's side of the store, shared by the thread and the process recorders: the
registry file it must stay on, what it needs to open the store, and its connection, replaced
after a failure."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from verrou.errors import StoreError
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.registry.alerts import DEFAULT_ALERT_WINDOW
from verrou.registry.checks import CheckJob, CheckService, JobResult, run_jobs
from verrou.signing import SigningKey
from verrou.store.protocols import RegistryStore


@dataclass(frozen=True)
class RegistryFile:
    """The SQLite file the server opened at start, by identity: (device, inode) of its path.

    A file deleted or replaced under a running server goes on answering through the handles
    already open, and what is recorded then goes to a file nobody will open again. So before
    each group the recorder checks that the path still names this file, and fails closed
    (503) if not. It never reopens another file in its place: a file restored from a backup or
    swapped in holds another audit chain (perhaps another registry), and choosing it is the
    operator's decision, made by restarting the server. Putting the same file back (a rename
    undone) makes checks work again.
    """

    path: str
    device: int
    inode: int

    @classmethod
    def of(cls, store: RegistryStore) -> RegistryFile | None:
        """The file of a SQLite store just opened; None for PostgreSQL or an in-memory file."""
        from verrou.store.sqlite import SQLiteStore

        if not isinstance(store, SQLiteStore) or str(store.path) == ":memory:":
            return None
        path = os.path.abspath(store.path)  # as opened: relative to today's directory
        try:
            found = os.stat(path)
        except OSError as exc:
            raise StoreError("the registry file vanished as it was opened") from exc
        return cls(path, found.st_dev, found.st_ino)

    def check(self) -> None:
        """Raise :class:`StoreError` unless the path still names this very file."""
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            raise StoreError(
                "the registry file was deleted under the running server; checks fail closed "
                "until it is put back or the server is restarted"
            ) from None
        except OSError as exc:
            raise StoreError("the registry file cannot be examined") from exc
        if (found.st_dev, found.st_ino) != (self.device, self.inode):
            raise StoreError(
                "the registry file was replaced under the running server; checks fail closed "
                "until the server is restarted on the file it should use"
            )


@dataclass(frozen=True)
class RecorderKeys:
    """What a recorder needs to work: where the registry is, and the keys."""

    database_url: str
    fingerprint_key: FingerprintKey
    signing_key: SigningKey
    verdict_ttl: timedelta
    alert_window: timedelta = DEFAULT_ALERT_WINDOW
    #: The SQLite file the server opened at start (see :class:`RegistryFile`).
    registry_file: RegistryFile | None = None

    def service(self) -> CheckService:
        """A check service on a store connection of its own, on the server's registry file."""
        from verrou.store import open_store

        if self.registry_file is not None:
            self.registry_file.check()  # before opening: SQLite would create a missing file
        store = open_store(self.database_url, migrate=False)
        try:
            if self.registry_file is not None:
                self.registry_file.check()
        except StoreError:
            store.close()
            raise
        return CheckService(
            store, self.signing_key, verdict_ttl=self.verdict_ttl, alert_window=self.alert_window
        )


#: Waits of a recorder before it opens its store again after a failure: the first retry at
#: once, then doubling, at most a second apart (a store back is used within about a second).
RETRY_FIRST: Final = 0.05
RETRY_MOST: Final = 1.0


class RecorderStore:
    """The recorder's side of the store: its connection, replaced after a failure.

    A store failure can leave the connection unusable in ways no query shows: a PostgreSQL
    session opened while the database was read-only stays read-only after it is writable
    again (its default was set at connect), a connection can be half-broken. So after any
    store failure the connection is closed, and the next group opens a new one, no sooner
    than the backoff allows (groups meanwhile fail closed at once, without trying). Nothing
    stays stuck: the first group after the store is usable again reopens it.
    """

    def __init__(self, keys: RecorderKeys, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._clock = clock
        self._fingerprinter = Fingerprinter(keys.fingerprint_key)
        self._service: CheckService | None = None
        self._error: StoreError = StoreError("the check recorder has no store connection yet")
        self._retry_at = 0.0
        self._backoff = 0.0

    def open(self) -> None:
        """Open the store now, or remember why not (the next group tries again)."""
        with contextlib.suppress(StoreError):
            self._usable()

    def close(self) -> None:
        if self._service is not None:
            with contextlib.suppress(Exception):
                self._service.store.close()
            self._service = None

    def run(self, jobs: Sequence[CheckJob], *, probe: bool = False) -> list[JobResult]:
        """:func:`run_jobs` on the store, after checking it is still the server's; with
        ``probe``, first check that a write transaction can be taken now."""
        service = self._usable()
        try:
            if self._keys.registry_file is not None:
                self._keys.registry_file.check()
            if probe:
                service.store.probe_write()
            results = run_jobs(service, self._fingerprinter, jobs) if jobs else []
        except StoreError as exc:
            self._failed(exc)
            self.close()
            raise
        self._backoff = 0.0
        return results

    def _usable(self) -> CheckService:
        if self._service is not None:
            return self._service
        if self._clock() < self._retry_at:
            raise StoreError(self._error.message)
        try:
            self._service = self._keys.service()
        except StoreError as exc:
            self._failed(exc)
            raise
        return self._service

    def _failed(self, error: StoreError) -> None:
        self._error = error
        self._backoff = min(max(self._backoff * 2, RETRY_FIRST), RETRY_MOST)
        self._retry_at = self._clock() + self._backoff
