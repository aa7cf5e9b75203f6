"""HTTP routes: parse the request, call the domain, shape the answer. Nothing else."""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.types import DecoratedCallable
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from verrou.api.responses import ApiResponse
from verrou.api.schemas import (
    ApplicantIn,
    BatchIn,
    BatchOut,
    CheckOut,
    ErrorOut,
    JwksOut,
    StatusOut,
    decode_document,
    documented_errors,
)
from verrou.api.state import api_state, in_store
from verrou.errors import BodyTooLarge, MetricsNotFound, RateLimited, Unauthorized
from verrou.registry.checks import CheckJob, SignedVerdict
from verrou.registry.policy import Applicant
from verrou.registry.records import RelyingParty, Tally
from verrou.store.protocols import RegistryStore

router = APIRouter()


#: Largest request body read (413 beyond): a full batch of 100 applicants at every field's
#: maximum length fits with room to spare; nothing bigger is a check.
MAX_BODY_BYTES = 512 * 1024


_errors = documented_errors(
    {
        401: "Missing, unknown or revoked API key.",
        413: f"The request body is larger than {MAX_BODY_BYTES:,} bytes.",
        422: "Invalid applicant: each bad field and why, never its value.",
        429: "Rate limit reached; retry after the Retry-After header's seconds.",
        503: "The registry is unreachable: no verdict (checks fail closed).",
    }
)


def _json(body: Any, status: int = 200) -> Response:
    return ApiResponse(json.dumps(body), status_code=status)


#: How the OpenAPI document names the API-key scheme (see :func:`security_scheme`).
SECURITY_SCHEME = "apiKey"
SECURED: dict[str, Any] = {"security": [{SECURITY_SCHEME: []}]}


def security_scheme() -> dict[str, Any]:
    """The OpenAPI security scheme of the check routes."""
    return {
        "type": "http",
        "scheme": "bearer",
        "description": "API key from `verrou rp create`: `Authorization: Bearer vrp_...`.",
    }


_Body = TypeVar("_Body", bound=BaseModel)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that parses its body itself (:func:`parsed`)."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }


async def _bounded_body(request: Request) -> bytes:
    """The body, refused as soon as it is known to exceed :data:`MAX_BODY_BYTES` (by its
    declared length, or while streaming a chunked one), so no request can make us hold more."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"the request body is larger than {MAX_BODY_BYTES:,} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the request body is larger than {MAX_BODY_BYTES:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _invalid_body(reason: str) -> RequestValidationError:
    """A body that is not one JSON document without duplicate members: 422 naming only
    ``body``, never a position or a snippet of it (FastAPI's own error, so its one handler
    answers; not a class of ours, since :mod:`verrou.errors` imports no web framework)."""
    return RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": reason}])


async def parsed(request: Request, model: type[_Body]) -> _Body:
    """The body as ``model``: decoded refusing duplicate members (:func:`decode_document`),
    then validated by pydantic.

    The check routes parse their body themselves, after authenticating the caller: FastAPI's
    body pipeline cost a tenth of a check. The decoder with its duplicate hook costs about
    3 µs more than pydantic's own JSON parser on one applicant (2 µs an applicant in a batch),
    which has no such hook. Errors take the same path as FastAPI's own (the same 422).
    """
    body = await _bounded_body(request)
    try:
        document = decode_document(body)
    except ValueError as exc:
        raise _invalid_body(str(exc)) from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None


async def relying_party(request: Request) -> RelyingParty:
    """The relying party whose API key authenticates the request; 401 otherwise.

    Called by the handlers themselves rather than as a FastAPI dependency: on the hot path the
    dependency machinery cost more than the check's own policy (the scheme is declared in the
    OpenAPI document by ``openapi_extra``).
    """
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    return await party_of_key(request, credentials)


async def party_of_key(request: Request, api_key: str) -> RelyingParty:
    """The active relying party whose API key is ``api_key``, however the request carried it
    (a bearer token, or HIBP's ``hibp-api-key`` header); 401 otherwise."""
    keys = api_state(request.app).live().keys
    party = keys.cached(api_key)
    if party is None:
        # A store read: off the event loop, so a slow database cannot stall other requests.
        party = await asyncio.to_thread(keys.party, api_key)
    if party is None:
        raise Unauthorized("unknown or revoked API key")
    return party


async def run_checks(
    request: Request, endpoint: str, party: RelyingParty, applicants: Sequence[Applicant]
) -> list[SignedVerdict]:
    """Rate-limit and run the checks of one request through the recorder (canonicalised,
    decided, audited, owners alerted, signed), timing it for /metrics under ``endpoint``.

    Every route that checks applicants calls this, so each one is limited, audited and
    alerted as a check is: :class:`RateLimited` (429) past the party's limit,
    :class:`~verrou.errors.InvalidApplicant` when an applicant is invalid.
    """
    started = time.perf_counter()
    try:
        return await _recorded(request, party, applicants)
    finally:
        api_state(request.app).metrics.latency.labels(endpoint).observe(
            time.perf_counter() - started
        )


async def _recorded(
    request: Request, party: RelyingParty, applicants: Sequence[Applicant]
) -> list[SignedVerdict]:
    state = api_state(request.app)
    wait = state.limiter.take(party, len(applicants))
    if wait is not None:
        raise RateLimited("rate limit reached for this API key", max(1, math.ceil(wait)))
    job = CheckJob(party, tuple(applicants))
    verdicts = await state.live().runner.run(job)
    for verdict in verdicts:
        state.metrics.checks.labels(verdict.verdict, party.sector).inc()
    return verdicts


def _check_route(
    path: str, answer: type[BaseModel], body: type[BaseModel], summary: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """How a check route is declared: secured by an API key, its body parsed by the handler
    (:func:`parsed`, so the OpenAPI ``requestBody`` is given here), and the errors a check
    may answer. One declaration, so the single and the batch check cannot document
    different answers."""
    return router.post(
        path,
        response_model=answer,
        responses=_errors(401, 413, 422, 429, 503),
        summary=summary,
        tags=["checks"],
        openapi_extra={**SECURED, "requestBody": request_body(body)},
    )


@_check_route("/v1/checks", CheckOut, ApplicantIn, "Check one applicant")
async def check(request: Request) -> Response:
    """A signed verdict on one applicant. The owner of a frozen or leaked identity is alerted
    that you checked it."""
    party = await relying_party(request)
    body = await parsed(request, ApplicantIn)
    outcomes = await run_checks(request, "single", party, [body.to_applicant()])
    return ApiResponse(outcomes[0].answer_json())


@_check_route("/v1/checks/batch", BatchOut, BatchIn, "Check up to 100 applicants")
async def check_batch(request: Request) -> Response:
    """One signed verdict per applicant, in order. Counts as one check per applicant for the
    rate limit; one invalid applicant rejects the batch (422 names it by index)."""
    party = await relying_party(request)
    body = await parsed(request, BatchIn)
    applicants = [applicant.to_applicant() for applicant in body.applicants]
    outcomes = await run_checks(request, "batch", party, applicants)
    answers = b",".join(outcome.answer_json() for outcome in outcomes)
    return ApiResponse(b'{"results":[' + answers + b"]}")


@router.get(
    "/.well-known/jwks.json",
    response_model=JwksOut,
    summary="Public keys that verify verdicts",
    tags=["keys"],
)
async def jwks(request: Request) -> Response:
    return _json(api_state(request.app).jwks)


@router.get("/healthz", response_model=StatusOut, summary="The process is up", tags=["health"])
async def healthz() -> Response:
    return _json({"status": "ok"})


@router.get(
    "/readyz",
    response_model=StatusOut,
    responses=_errors(503),
    summary="A check would be answered and recorded now",
    tags=["health"],
)
async def readyz(request: Request) -> Response:
    """200 when the store answers and the check recorder can write to it now (probed at
    most once a second); 503, as a check would get, otherwise."""
    await api_state(request.app).live().readiness.check()
    return _json({"status": "ready"})


@router.get(
    "/metrics",
    summary="Prometheus metrics (with VERROU_METRICS_TOKEN)",
    tags=["health"],
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics."},
        **_errors(401),
        404: {"model": ErrorOut, "description": "No VERROU_METRICS_TOKEN is set."},
    },
)
async def metrics(request: Request) -> Response:
    """Counts per verdict and sector, latencies, group sizes, and each breach's outcome totals
    (read from the registry at each scrape). Only for the bearer of
    VERROU_METRICS_TOKEN; without one set, nobody (404), as if there were no such page."""
    state = api_state(request.app)
    token = state.settings.metrics_token
    if token is None:
        raise MetricsNotFound("not found")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    given = credentials.strip().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given, token.encode()):
        raise Unauthorized("this page needs Authorization: Bearer <VERROU_METRICS_TOKEN>")

    def outcome_totals(store: RegistryStore) -> list[tuple[str, Tally]]:
        names = {summary.breach.id: summary.breach.name for summary in store.list_breaches()}
        return [(names.get(t.breach_id, str(t.breach_id)), t) for t in store.outcome_totals()]

    state.metrics.outcomes.refresh(await in_store(request, outcome_totals))
    return ApiResponse(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
