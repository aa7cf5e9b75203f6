"""The check API: ``create_app(settings)`` builds the FastAPI application.

Routes live in :mod:`verrou.api.routes` (and, by role, in :mod:`~verrou.api.citizens`,
:mod:`~verrou.api.reports`, :mod:`~verrou.api.hibp` and :mod:`~verrou.api.breaches`); request
and response schemas in :mod:`verrou.api.schemas`; the group-commit runner, rate limits and
metrics in :mod:`verrou.api.runtime`. Every error, ours or the framework's, is answered with
one JSON shape (:class:`verrou.api.schemas.ErrorOut`) that never quotes a submitted value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from verrou.api.breaches import router as breaches_router
from verrou.api.citizen_auth import CitizenAuth, citizen_auth_from, pseudonymous_citizen_id
from verrou.api.citizen_auth import router as citizen_router
from verrou.api.citizens import router as citizens_router
from verrou.api.docs import docs_router
from verrou.api.hibp import router as hibp_router
from verrou.api.lookups import router as lookup_router
from verrou.api.readiness import NotReady, Readiness
from verrou.api.recording import RecorderKeys, RegistryFile
from verrou.api.reports import citizen_router as citizen_reports_router
from verrou.api.reports import party_router as party_reports_router
from verrou.api.responses import ApiResponse
from verrou.api.routes import MAX_BODY_BYTES, SECURITY_SCHEME, router, security_scheme
from verrou.api.runtime import KeyCache, Metrics, ProcessRecorder, RateLimiter, ThreadRecorder
from verrou.api.schemas import REQUEST_MODELS, field_errors
from verrou.api.state import (
    ApiState,
    CitizenServices,
    LookupState,
    Recorder,
    Serving,
    api_state,
)
from verrou.errors import StoreError, VerrouError
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey, load_fingerprint_key
from verrou.lookup.protocol import OprfKey
from verrou.registry.contacts import load_contact_key_file
from verrou.registry.lookups import LookupService
from verrou.settings import Settings
from verrou.signing import SigningKey, load_signing_key_file, public_jwks
from verrou.store import open_store

API_TITLE = "verrou check API"

logger = logging.getLogger(__name__)


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    *,
    retry_after: int | None = None,
) -> Response:
    """The one error shape of the API."""
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if fields is not None:
        body["fields"] = fields
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return ApiResponse(json.dumps({"error": body}), status_code=status, headers=headers)


def lookup_state_from(settings: Settings, key: OprfKey | None = None) -> LookupState | None:
    """The private exposure check with ``key``, else with the OPRF key file when it exists
    (read now: a damaged file stops the server before it listens); None without either."""
    if key is None:
        if not settings.oprf_key_file.exists():
            return None
        key = OprfKey.load_file(settings.oprf_key_file)
    return LookupState(LookupService(key))


def create_app(
    settings: Settings,
    *,
    fingerprint_key: FingerprintKey | None = None,
    signing_key: SigningKey | None = None,
    clock: Callable[[], float] = time.monotonic,
    citizen_auth: CitizenAuth | None = None,
    oprf_key: OprfKey | None = None,
) -> FastAPI:
    """The API for ``settings``; keys default to the ones the settings name (loaded now, so a
    missing key stops the server before it listens). ``citizen_auth`` (citizen sign-in, with
    its sign-in hook) defaults to :func:`~verrou.api.citizen_auth.citizen_auth_from` the
    settings: none without ``VERROU_OIDC_ISSUER``, else with the session key loaded now.
    ``oprf_key`` (the private exposure check) defaults to :func:`lookup_state_from`'s."""
    signer = signing_key or load_signing_key_file(settings.signing_key_file)
    citizen = citizen_auth if citizen_auth is not None else citizen_auth_from(settings)
    keys = RecorderKeys(
        database_url=settings.database_url,
        fingerprint_key=fingerprint_key or load_fingerprint_key(settings),
        signing_key=signer,
        verdict_ttl=timedelta(seconds=settings.verdict_ttl),
        alert_window=timedelta(seconds=settings.alert_window),
    )
    # Refuse to start with another fingerprint key than the registry's (before listening).
    open_store(settings.database_url, fingerprint_key_id=keys.fingerprint_key.key_id).close()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.database_url)
        runner: Recorder
        try:
            # The recorders must stay on the file opened now (see RegistryFile).
            on_file = replace(keys, registry_file=RegistryFile.of(store))
            if settings.recorder == "process":
                runner = ProcessRecorder(on_file, on_group=metrics.groups.observe)
            else:
                runner = ThreadRecorder(on_file, on_group=metrics.groups.observe)
            await runner.start()
        except BaseException:
            store.close()
            raise
        # The store connection of the request side (keys, readiness) is used from worker
        # threads, one at a time.
        store_lock = threading.Lock()

        async def probe() -> None:
            # Both connections a check needs: the request side's (API keys), the recorder's.
            def ping() -> None:
                with store_lock:
                    store.ping()

            await asyncio.to_thread(ping)
            await runner.probe()

        state.serving = Serving(
            store=store,
            store_lock=store_lock,
            runner=runner,
            keys=KeyCache(store, settings.auth_cache_seconds, clock, lock=store_lock),
            readiness=Readiness(probe),
        )
        try:
            yield
        finally:
            state.serving = None
            await runner.stop()
            store.close()

    app = FastAPI(
        title=API_TITLE,
        version="1",
        description=(
            "Ask whether an applicant's identity data can be trusted on its own right now. "
            "Answers are signed verdicts: `clear`, `step_up` (this identity leaked: verify it "
            "by a stronger means) or `deny` (its owner froze it). Authenticate with "
            "`Authorization: Bearer <API key>` (from `verrou rp create`)."
        ),
        lifespan=lifespan,
        # Served by verrou.api.docs, from the package and with our headers, not from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    services = None
    if citizen is not None:
        services = CitizenServices.from_settings(
            settings,
            Fingerprinter(keys.fingerprint_key),
            load_contact_key_file(settings.contact_key_file),
            signer,
        )
        if citizen.on_sign_in is pseudonymous_citizen_id:  # the registry's own sign-in
            citizen = replace(citizen, on_sign_in=services.sign_in_hook(app))
    state = ApiState(
        settings=settings,
        jwks=public_jwks([signer]),
        metrics=metrics,
        limiter=RateLimiter(settings.rate_limit, clock),
        citizen=citizen,
        citizen_services=services,
        lookup=lookup_state_from(settings, oprf_key),
    )
    app.state.verrou = state  # the one attribute: read it with api_state(app)
    app.include_router(router)
    app.include_router(citizen_router)
    app.include_router(citizens_router)
    app.include_router(citizen_reports_router)
    app.include_router(party_reports_router)
    app.include_router(lookup_router)
    app.include_router(hibp_router)
    app.include_router(breaches_router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = document.setdefault("components", {})
            components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = security_scheme()
            schemas = components.setdefault("schemas", {})
            for model in REQUEST_MODELS:  # parsed by the routes themselves: add their schemas
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(docs_router(API_TITLE, openapi))

    @app.exception_handler(VerrouError)
    async def verrou_error(request: Request, exc: VerrouError) -> Response:
        metrics.errors.labels(exc.code).inc()
        message = exc.message
        if isinstance(exc, StoreError):
            # The detail names the database; operators read it in the log, clients get a
            # sentence that says what it means for them.
            logger.warning("answering 503: %s", exc.message)
            serving = state.serving
            if serving is not None and not isinstance(exc, NotReady):
                serving.readiness.invalidate()
            message = "the registry is unavailable: no verdict was given; retry later"
        return error_response(
            exc.status, exc.code, message, exc.fields, retry_after=exc.retry_after
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # Pydantic's own answer quotes the input: name our field and the rule only.
        fields = field_errors(exc.errors())
        metrics.errors.labels("invalid_request").inc()
        return error_response(
            422, "invalid_request", f"the request body is invalid: {len(fields)} field(s)", fields
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # a body that is not even text (e.g. not UTF-8)
            metrics.errors.labels("invalid_request").inc()
            return error_response(
                422, "invalid_request", "the request body is not valid JSON", {"body": "invalid"}
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        metrics.errors.labels("internal_error").inc()
        return error_response(500, "internal_error", "internal error; it was logged")

    return app


__all__ = [
    "API_TITLE",
    "MAX_BODY_BYTES",
    "ApiState",
    "api_state",
    "create_app",
    "error_response",
]
