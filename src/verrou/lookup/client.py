"""The client side of the private exposure check, without I/O: the queries, one round of the
protocol (:class:`LookupRound`: the request body, then the result from the answer), and the
checks of the server's directory. :class:`verrou.http.lookup.LookupClient` carries the
messages over HTTP (what ``verrou lookup`` runs):

>>> with LookupClient("http://127.0.0.1:8000") as client:          # doctest: +SKIP
...     client.check(email_query("jean.dupont@example.fr")).breaches
('ants-2026',)

The value is canonicalised, blinded and tested against the bucket's tags on the client: it
never leaves it, and the server's answer is checked against its public key (pin it with
``public_key`` or ``key_id`` to refuse a server that would single you out with a key of its
own).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from verrou.errors import InvalidIdentifier, InvalidOprfElement
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
from verrou.oprf import Blinded, Client, Mode
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


def check_directory(
    document: dict[str, Any], public_key: bytes | None = None, key_id: str | None = None
) -> None:
    """Refuse a directory (``GET /v1/lookup``) whose key id is not its public key's, or whose
    key is not the one pinned (:class:`InvalidOprfElement`)."""
    public = base64.b64decode(document["public_key"])
    if public_key_id(public) != document["key_id"]:
        raise InvalidOprfElement("the server's key id is not its public key's")
    if public_key is not None and public != public_key:
        raise InvalidOprfElement("the server's public key is not the pinned one")
    if key_id is not None and document["key_id"] != key_id:
        raise InvalidOprfElement("the server's key id is not the pinned one")


@dataclass(frozen=True)
class LookupRound:
    """One question in flight: what the client keeps (blinds, buckets) between the request
    body it sends (:meth:`body`) and the answer it concludes from (:meth:`conclude`). No I/O:
    the HTTP client (:class:`verrou.http.lookup.LookupClient`) carries the messages, and the
    portal's script does the same steps in the browser."""

    query: LookupQuery
    client: Client
    blinded: tuple[Blinded, ...]
    buckets: tuple[int, ...]
    bits: int
    indexed: tuple[str, ...]

    @classmethod
    def start(cls, query: LookupQuery, directory: dict[str, Any]) -> LookupRound:
        client = Client(Mode.VOPRF, base64.b64decode(directory["public_key"]))
        bits = int(directory["bucket_bits"])
        inputs = list(dict.fromkeys(lookup_input(query.kind, c) for c in query.canonicals))
        return cls(
            query,
            client,
            tuple(client.blind(value) for value in inputs),
            tuple(bucket_of(value, bits) for value in inputs),
            bits,
            tuple(directory["breaches"]),
        )

    def body(self) -> dict[str, Any]:
        """The JSON body of ``POST /v1/lookup``."""
        return {
            "kind": self.query.kind.value,
            "bucket_bits": self.bits,
            "queries": [
                {"bucket": bucket, "element": _b64(item.element)}
                for bucket, item in zip(self.buckets, self.blinded, strict=True)
            ],
        }

    def conclude(self, answer: dict[str, Any], size: int = 0) -> LookupResult:
        """The breaches that hold the value, from the server's answer, once its proof verifies
        against the directory's key (:class:`InvalidOprfElement` otherwise)."""
        outputs = self.client.finalize(
            self.blinded,
            [base64.b64decode(e) for e in answer["evaluated"]],
            base64.b64decode(answer["proof"]),
        )
        tags = [_tag_set(base64.b64decode(packed)) for packed in answer["tags"]]
        if len(tags) != len(outputs):
            raise InvalidOprfElement("the server answered another number of buckets than asked")
        found = tuple(
            breach
            for breach in self.indexed
            if any(
                breach_tag(output, breach)[:TAG_BYTES] in bucket_tags
                for output, bucket_tags in zip(outputs, tags, strict=True)
            )
        )
        return LookupResult(self.query, found, self.indexed, self.bits, size)


def not_asked(query: LookupQuery, directory: dict[str, Any]) -> LookupResult | None:
    """The result of a query the server cannot answer (a kind it does not index, a person
    without a ``first`` key): found nowhere, without asking. None when it must be asked."""
    if query.kind.value in directory["kinds"] and query.canonicals:
        return None
    return LookupResult(query, (), tuple(directory["breaches"]), int(directory["bucket_bits"]), 0)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _tag_set(packed: bytes) -> frozenset[bytes]:
    return frozenset(packed[i : i + TAG_BYTES] for i in range(0, len(packed), TAG_BYTES))
