"""The private exposure check over HTTP: the protocol of :mod:`verrou.lookup.client` carried
by httpx, against one verrou server.

>>> with LookupClient("http://127.0.0.1:8000", key_id="ok-...") as client:   # doctest: +SKIP
...     client.check(email_query("jean.dupont@example.fr")).breaches
('ants-2026',)
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from verrou.errors import LookupFailed
from verrou.lookup.client import (
    LookupQuery,
    LookupResult,
    LookupRound,
    check_directory,
    not_asked,
)


class LookupClient:
    """Runs the protocol against one server (``base_url``, e.g. ``http://127.0.0.1:8000``),
    refusing a server whose key is not the pinned one (``public_key`` or ``key_id``)."""

    def __init__(
        self,
        base_url: str,
        *,
        public_key: bytes | None = None,
        key_id: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._owns_http = http is None
        self._pinned_key = public_key
        self._pinned_id = key_id
        self._directory: dict[str, Any] | None = None

    def __enter__(self) -> LookupClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def directory(self, *, fresh: bool = False) -> dict[str, Any]:
        """The server's directory (``GET /v1/lookup``), its key checked against the pins."""
        if self._directory is None or fresh:
            document = _answer(self._http.get("/v1/lookup"))
            check_directory(document, self._pinned_key, self._pinned_id)
            self._directory = document
        return self._directory

    def check(self, query: LookupQuery) -> LookupResult:
        """Which indexed breaches hold the value. Asks again once when the index changed its
        bucket size between the directory and the question (409)."""
        try:
            return self._check(query, self.directory())
        except _IndexChanged:
            return self._check(query, self.directory(fresh=True))

    def _check(self, query: LookupQuery, directory: dict[str, Any]) -> LookupResult:
        unanswerable = not_asked(query, directory)
        if unanswerable is not None:
            return unanswerable
        round_ = LookupRound.start(query, directory)
        response = self._http.post("/v1/lookup", json=round_.body())
        if response.status_code == 409:
            raise _IndexChanged
        return round_.conclude(_answer(response), len(response.content))


class _IndexChanged(Exception):
    """The server answered 409: its bucket size changed; read the directory again."""


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON of a successful answer; :class:`LookupFailed` with the server's error code and
    sentence otherwise (they never hold the value asked about)."""
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}"
        raise LookupFailed(f"the server refused the lookup ({message})")
    document: dict[str, Any] = response.json()
    return document
