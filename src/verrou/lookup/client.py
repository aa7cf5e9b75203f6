"""The Python client of the private exposure check (what ``verrou lookup`` runs).

>>> with LookupClient("http://127.0.0.1:8000") as client:          # doctest: +SKIP
...     client.check(email_query("jean.dupont@example.fr")).breaches
('ants-2026',)

The value is canonicalised here, blinded here, and tested against the bucket's tags here: it
never leaves this process, and the server's answer is checked against its public key (pin it
with ``public_key`` or ``key_id`` to refuse a server that would single you out with a key of
its own).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from verrou.errors import InvalidIdentifier, InvalidOprfElement, LookupFailed
from verrou.identifiers import canonical
from verrou.identifiers.kinds import Kind
from verrou.identifiers.names import PersonParts, person_key_readings
from verrou.lookup.protocol import (
    PERSON_LOOKUP_PREFIX,
    TAG_BYTES,
    breach_tag,
    bucket_of,
    lookup_input,
    public_key_id,
)
from verrou.oprf import Client, Mode
from verrou.registry.policy import DOCUMENT_KINDS


@dataclass(frozen=True)
class LookupQuery:
    """One thing to ask about: its kind and its canonical values (a person has one per family
    name reading; any of them found counts). ``label`` names it in output, never its value."""

    kind: Kind
    canonicals: tuple[str, ...]
    label: str

    def __repr__(self) -> str:  # canonical values are plaintext identifiers: keep them out
        return f"LookupQuery({self.kind.value}, {len(self.canonicals)} value(s))"


def email_query(raw: str) -> LookupQuery:
    return LookupQuery(Kind.EMAIL, (canonical(Kind.EMAIL, raw),), "email")


def phone_query(raw: str) -> LookupQuery:
    return LookupQuery(Kind.PHONE, (canonical(Kind.PHONE, raw),), "phone")


def nir_query(raw: str) -> LookupQuery:
    return LookupQuery(Kind.NIR, (canonical(Kind.NIR, raw),), "nir")


def document_query(document_type: str, number: str) -> LookupQuery:
    """A document by its type (``cni``, ``passport``, ``driving_licence``, ``residence_permit``)
    and number."""
    kind = DOCUMENT_KINDS.get(document_type.strip().lower())
    if kind is None:
        raise InvalidIdentifier("document", "type must be one of " + ", ".join(DOCUMENT_KINDS))
    return LookupQuery(kind, (canonical(kind, number),), kind.value)


def person_query(family_name: str, given_names: str, birth_date: str) -> LookupQuery:
    """A person by family name, given names and birth date: their ``first`` keys (the index's;
    one per reading of the family name)."""
    keys = person_key_readings(PersonParts((family_name,), given_names, birth_date))
    firsts = tuple(key for key in keys if key.startswith(PERSON_LOOKUP_PREFIX))
    return LookupQuery(Kind.PERSON, firsts, "person")


@dataclass(frozen=True)
class LookupResult:
    """The breaches that hold the value (empty: none of those indexed), out of ``indexed``."""

    query: LookupQuery
    breaches: tuple[str, ...]
    indexed: tuple[str, ...]
    bucket_bits: int
    response_bytes: int


class LookupClient:
    """Runs the protocol against one server (``base_url``, e.g. ``http://127.0.0.1:8000``)."""

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
            document = self._json(self._http.get("/v1/lookup"))
            public = base64.b64decode(document["public_key"])
            if public_key_id(public) != document["key_id"]:
                raise InvalidOprfElement("the server's key id is not its public key's")
            if self._pinned_key is not None and public != self._pinned_key:
                raise InvalidOprfElement("the server's public key is not the pinned one")
            if self._pinned_id is not None and document["key_id"] != self._pinned_id:
                raise InvalidOprfElement("the server's key id is not the pinned one")
            self._directory = document
        return self._directory

    def check(self, query: LookupQuery) -> LookupResult:
        """Which indexed breaches hold the value. Asks again once if the index changed its
        bucket size between the directory and the question (409)."""
        try:
            return self._check(query, self.directory())
        except _IndexChanged:
            return self._check(query, self.directory(fresh=True))

    def _check(self, query: LookupQuery, directory: dict[str, Any]) -> LookupResult:
        indexed = tuple(directory["breaches"])
        bits = int(directory["bucket_bits"])
        if query.kind.value not in directory["kinds"] or not query.canonicals:
            return LookupResult(query, (), indexed, bits, 0)
        client = Client(Mode.VOPRF, base64.b64decode(directory["public_key"]))
        inputs = list(dict.fromkeys(lookup_input(query.kind, c) for c in query.canonicals))
        blinded = [client.blind(value) for value in inputs]
        buckets = [bucket_of(value, bits) for value in inputs]
        body = {
            "kind": query.kind.value,
            "bucket_bits": bits,
            "queries": [
                {"bucket": bucket, "element": _b64(item.element)}
                for bucket, item in zip(buckets, blinded, strict=True)
            ],
        }
        response = self._http.post("/v1/lookup", json=body)
        if response.status_code == 409:
            raise _IndexChanged
        answer = self._json(response)
        outputs = client.finalize(
            blinded,
            [base64.b64decode(e) for e in answer["evaluated"]],
            base64.b64decode(answer["proof"]),
        )
        tags = [_tag_set(base64.b64decode(packed)) for packed in answer["tags"]]
        if len(tags) != len(outputs):
            raise LookupFailed("the server answered another number of buckets than asked")
        found = [
            breach
            for breach in indexed
            if any(
                breach_tag(output, breach)[:TAG_BYTES] in bucket_tags
                for output, bucket_tags in zip(outputs, tags, strict=True)
            )
        ]
        return LookupResult(query, tuple(found), indexed, bits, len(response.content))

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message = f"{error['code']}: {error['message']}"
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {response.status_code}"
            raise LookupFailed(f"the server refused the lookup ({message})")
        document: dict[str, Any] = response.json()
        return document


class _IndexChanged(Exception):
    """The server answered 409: its bucket size changed; read the directory again."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _tag_set(packed: bytes) -> frozenset[bytes]:
    return frozenset(packed[i : i + TAG_BYTES] for i in range(0, len(packed), TAG_BYTES))


def check_all(client: LookupClient, queries: Sequence[LookupQuery]) -> list[LookupResult]:
    """Each query's result, in order."""
    return [client.check(query) for query in queries]
