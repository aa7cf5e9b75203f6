"""The private exposure check over HTTP: ``GET /v1/lookup`` and ``POST /v1/lookup``.

Anyone may ask, without an account: the answer tells the server nothing but a bucket
(:mod:`verrou.lookup.protocol`). Every evaluation is still an oracle for someone who would try
a dictionary of values, so evaluations are rate-limited per client address and for everyone
together (``VERROU_LOOKUP_RATE_LIMIT``, ``VERROU_LOOKUP_GLOBAL_RATE_LIMIT``); a 429 says when
to come back. Nothing about a lookup is logged or audited.
"""

from __future__ import annotations

import base64
import math

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from verrou.api.schemas import documented_errors
from verrou.api.state import LookupState, api_state, in_store
from verrou.errors import LookupUnavailable, RateLimited
from verrou.identifiers.kinds import LOOKUP_KINDS, Kind
from verrou.lookup.protocol import MAX_BUCKET_BITS, MAX_ELEMENTS, PROTOCOL, TAG_BYTES
from verrou.oprf import SUITE
from verrou.registry.lookups import Query

router = APIRouter(prefix="/v1/lookup", tags=["lookup"])

_errors = documented_errors(
    {
        404: "The private exposure check is not configured on this server (no OPRF key).",
        409: "The index changed its bucket size since the directory was read: read it again.",
        422: "Not a valid request: a kind not indexed, a bucket out of range, an element that "
        "is not a ristretto255 element, too many elements.",
        429: "Too many evaluations from this address, or from everyone: retry after "
        "`Retry-After` seconds.",
        503: "The registry is unreachable.",
    }
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return b""  # refused as an element by the service: "not a ristretto255 element"


def _lookup(request: Request) -> LookupState:
    state = api_state(request.app).lookup
    if state is None:
        raise LookupUnavailable("the private exposure check is not configured on this server")
    return state


class DirectoryOut(BaseModel):
    protocol: str = Field(description=f"`{PROTOCOL}`: see the README for every step.")
    suite: str = Field(description=f"RFC 9497 suite: `{SUITE}`.")
    mode: str = Field(description="`VOPRF`: each evaluation comes with a proof.")
    public_key: str = Field(description="The server's public key (base64): pin it.")
    key_id: str = Field(description="The key's id, as the operator publishes it.")
    bucket_bits: int = Field(description="Bits of a bucket id (the first bits of SHA-256).")
    tag_bytes: int
    max_elements: int
    kinds: list[Kind] = Field(description="The kinds the index holds.")
    breaches: list[str] = Field(description="Breaches whose values are indexed: a tag each.")
    indexed: int = Field(description="Tags in the index, all buckets together.")


class QueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bucket: int = Field(ge=0, lt=1 << MAX_BUCKET_BITS)
    element: str = Field(max_length=64, description="The blinded element (base64).")


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(description="One of " + ", ".join(k.value for k in LOOKUP_KINDS) + ".")
    bucket_bits: int = Field(ge=0, le=MAX_BUCKET_BITS, description="As the directory says.")
    queries: list[QueryIn] = Field(min_length=1, max_length=MAX_ELEMENTS)


class LookupOut(BaseModel):
    bucket_bits: int
    evaluated: list[str] = Field(description="One evaluated element a query, in order.")
    proof: str = Field(description="The batch proof (c ‖ s, base64).")
    tags: list[str] = Field(
        description=f"Each query's bucket of tags, in order: {TAG_BYTES} bytes each, sorted, "
        "padded to the same count for every bucket (base64). No bucket id is echoed, so that "
        "every answer to the same number of queries has the same size."
    )


@router.get("", response_model=DirectoryOut, responses=_errors(404, 503), summary="Directory")
async def lookup_directory(request: Request) -> DirectoryOut:
    """What a client needs to run the private exposure check: the public key, the bucket size,
    the kinds and breaches indexed."""
    current = await _lookup(request).current(request)
    return DirectoryOut(
        protocol=PROTOCOL,
        suite=SUITE,
        mode="VOPRF",
        public_key=_b64(current.public_key),
        key_id=current.key_id,
        bucket_bits=current.bucket_bits,
        tag_bytes=TAG_BYTES,
        max_elements=MAX_ELEMENTS,
        kinds=list(current.kinds),
        breaches=list(current.breaches),
        indexed=current.indexed,
    )


@router.post(
    "",
    response_model=LookupOut,
    responses=_errors(404, 409, 422, 429, 503),
    summary="Evaluate blinded elements",
)
async def lookup(request: Request, body: LookupIn) -> LookupOut:
    """Evaluate the blinded elements with the server's key, with one proof, and return each
    query's bucket of tags, padded. Rate-limited per client address and for everyone."""
    state = api_state(request.app)
    lookups = _lookup(request)
    _take(request, len(body.queries))
    current = await lookups.current(request)
    queries = [Query(q.bucket, _unb64(q.element)) for q in body.queries]
    lookups.service.refuse_invalid(current, body.kind, body.bucket_bits, queries)
    answer = await in_store(
        request, lambda store: lookups.service.answer(store, body.bucket_bits, queries)
    )
    state.metrics.lookups.labels(body.kind.value).inc(len(queries))
    assert answer.evaluation.proof is not None
    return LookupOut(
        bucket_bits=body.bucket_bits,
        evaluated=[_b64(e) for e in answer.evaluation.elements],
        proof=_b64(answer.evaluation.proof),
        tags=[_b64(answer.buckets[q.bucket]) for q in queries],
    )


def _take(request: Request, count: int) -> None:
    """Take ``count`` evaluations from the client address's allowance and everyone's."""
    state = api_state(request.app)
    settings = state.settings
    address = request.client.host if request.client is not None else "unknown"
    for key, limit in (
        (f"lookup:{address}", settings.lookup_rate_limit),
        ("lookup:*", settings.lookup_global_rate_limit),
    ):
        wait = state.limiter.take_key(key, limit, count)
        if wait is not None:
            raise RateLimited(
                "too many private-check evaluations: retry later", max(1, math.ceil(wait))
            )
