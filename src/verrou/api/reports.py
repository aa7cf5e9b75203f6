"""Identity-theft reports and exposure attestations over HTTP.

A signed-in citizen files a report (after a recent sign-in at eidas2: it freezes their identity
for good, until an operator decides), lists theirs, downloads each as a PDF (their name is
printed from their own session token, never stored), and asks for an exposure attestation.
A relying party verifies a report or attestation with its API key, from the token
(``POST /v1/reports/verify``) or the id in the QR code (``GET /v1/reports/{id}``), and learns
its current status and which of *its own* checks the report disputes; offline, any JOSE
library verifies the token against ``/.well-known/jwks.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from verrou.api.citizen_auth import CitizenSession, CurrentSession, recent_citizen_session
from verrou.api.citizens import citizen_change, citizen_errors, citizen_read, citizen_services
from verrou.api.responses import json_answer
from verrou.api.routes import SECURED, relying_party
from verrou.api.schemas import documented_errors
from verrou.api.state import CitizenServices, api_state, in_store
from verrou.errors import NotFound
from verrou.registry import filing
from verrou.registry.checks import utc_now
from verrou.registry.citizen_records import StoredReport
from verrou.registry.reports import FraudCode
from verrou.store.protocols import RegistryStore

citizen_router = APIRouter(prefix="/v1/citizen", tags=["citizen"])
party_router = APIRouter(prefix="/v1/reports", tags=["reports"])

RecentSession = Annotated[CitizenSession, Depends(recent_citizen_session)]
_ID = r"^(rpt|att)-[0-9a-f]{32}$"


_party_errors = documented_errors(
    {
        400: "The token is not a valid report or attestation of this registry.",
        401: "Missing, unknown or revoked API key.",
        404: "This registry issued no such document.",
        422: "A token too long, or an id that is not one.",
        503: "The registry is unreachable.",
    }
)


def verify_url(services: CitizenServices, document_id: str) -> str:
    """Where a bank verifies a document online (and what its QR code holds)."""
    return f"{services.public_url.rstrip('/')}/v1/reports/{document_id}"


# --- the citizen's side ---------------------------------------------------------------------


class FraudIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    what: FraudCode = Field(description="What was done in my name (a code, never free text).")
    started: date
    ended: date | None = None
    relying_party_id: str | None = Field(
        default=None, max_length=64, description="Where, when it is a relying party of verrou."
    )


class ReportIn(BaseModel):
    """Dispute checks from my list ("I did not apply at Banque X on 3 May") and declare frauds.
    Filing freezes my identity until an operator lifts it."""

    model_config = ConfigDict(extra="forbid")

    disputed_check_ids: list[str] = Field(default_factory=list, max_length=50)
    declared: list[FraudIn] = Field(default_factory=list, max_length=20)
    note: str | None = Field(
        default=None,
        max_length=filing.NOTE_MAX,
        description="What happened, in my words: sealed at once, never stored or shown in clear.",
    )


class DocumentOut(BaseModel):
    id: str
    kind: Literal["report", "attestation"]
    issued_at: datetime
    expires_at: datetime | None = None
    status: Literal["valid", "withdrawn"]
    token: str = Field(description="Compact JWS (Ed25519), verifiable with the JWKS.")
    verify_url: str
    pdf_url: str


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


def _document(services: CitizenServices, stored: StoredReport) -> DocumentOut:
    """A stored document as its owner sees it: what the record says (the answer's fields
    only), where a bank verifies it and where its PDF is."""
    return DocumentOut.model_validate(
        {
            **asdict(stored),
            "verify_url": verify_url(services, stored.id),
            "pdf_url": f"/v1/citizen/documents/{stored.id}.pdf",
        }
    )


async def _issued(
    request: Request,
    issue: Callable[[RegistryStore, CitizenServices], tuple[StoredReport, object]],
) -> StoredReport:
    """A document ``issue`` signs with the app's keys, on the request side's store."""
    services = citizen_services(request)
    stored, _ = await in_store(request, lambda store: issue(store, services))
    return stored


async def attest_me(request: Request, citizen_id: str) -> StoredReport:
    """Issue the citizen's exposure attestation (:func:`~verrou.registry.filing.issue_attestation`)
    with the app's signing key: the API's route and the portal's."""
    return await _issued(
        request,
        lambda store, services: filing.issue_attestation(
            store,
            services.signing_key,
            citizen_id,
            now=utc_now(),
            validity=services.attestation_validity,
        ),
    )


async def file_my_report(
    request: Request,
    citizen_id: str,
    disputed_check_ids: Sequence[str],
    declared: Sequence[filing.FraudDeclared],
    note: str | None,
) -> StoredReport:
    """File the citizen's report (:func:`~verrou.registry.filing.file_report`) with the app's
    signing and contact keys: the API's route and the portal's."""
    return await _issued(
        request,
        lambda store, services: filing.file_report(
            store,
            services.signing_key,
            citizen_id,
            disputed_check_ids=disputed_check_ids,
            declared=declared,
            now=utc_now(),
            note=note,
            contact_key=services.contact_key,
        ),
    )


@citizen_change(
    citizen_router, "/reports", DocumentOut, "Report an identity theft", 422, status_code=201
)
async def file_report(request: Request, current: RecentSession, body: ReportIn) -> Response:
    """File an identity-theft report: it freezes my identity (``deny`` everywhere, and no
    thaw of mine opens it), and gives a signed report any bank can verify. Needs a recent
    sign-in at eidas2."""
    declared = [
        filing.FraudDeclared(f.what, f.started, f.ended, f.relying_party_id) for f in body.declared
    ]
    stored = await file_my_report(
        request, current.citizen_id, body.disputed_check_ids, declared, body.note
    )
    return json_answer(_document(citizen_services(request), stored), 201)


@citizen_change(
    citizen_router, "/attestations", DocumentOut, "Get a proof of exposure", status_code=201
)
async def attest(request: Request, current: CurrentSession) -> Response:
    """A signed exposure attestation: the breaches that exposed me (names, data classes,
    disclosure dates) and whether my identity is frozen, valid for a limited time."""
    stored = await attest_me(request, current.citizen_id)
    return json_answer(_document(citizen_services(request), stored), 201)


@citizen_read(citizen_router, "/documents", DocumentsOut, "My reports and attestations")
async def my_documents(request: Request, current: CurrentSession) -> Response:
    services = citizen_services(request)
    found = await in_store(request, lambda store: store.list_reports(citizen_id=current.citizen_id))
    return json_answer(DocumentsOut(documents=[_document(services, s) for s in found]))


@citizen_router.get(
    "/documents/{document_id}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The document as a PDF."},
        **citizen_errors(422),
    },
    summary="Download a report or attestation as a PDF",
)
async def document_pdf(
    request: Request,
    current: CurrentSession,
    document_id: Annotated[str, Path(pattern=_ID)],
    lang: Literal["fr", "en"] = "fr",
) -> Response:
    """The PDF of one of my documents, with my name as I signed in (printed now, never
    stored), what it says, and a QR code of where a bank verifies it."""
    services = citizen_services(request)

    def render(store: RegistryStore) -> bytes:
        return filing.document_pdf(
            store,
            document_id,
            current.citizen_id,
            citizen_name=current.display_name,
            verify_url=verify_url(services, document_id),
            lang=lang,
        )

    pdf = await in_store(request, render)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{document_id}.pdf"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- the relying party's side -----------------------------------------------------------------


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=16_384, description="The document's compact JWS.")


@party_router.post(
    "/verify",
    response_model=filing.Verification,
    responses=_party_errors(400, 401, 404, 503),
    summary="Verify a report or attestation token",
    openapi_extra=SECURED,
)
async def verify_token(request: Request, body: VerifyIn) -> Response:
    """The token's signature and claims, then its status now (valid, withdrawn, expired), and
    which of your own checks the report disputes."""
    party = await relying_party(request)
    jwks = api_state(request.app).jwks
    found = await in_store(
        request,
        lambda store: filing.verify_for(
            store, body.token, jwks, relying_party_id=party.id, now=utc_now()
        ),
    )
    return json_answer(found)


@party_router.get(
    "/{document_id}",
    response_model=filing.Verification,
    responses=_party_errors(401, 404, 503),
    summary="The status of a report or attestation (its QR code)",
    openapi_extra=SECURED,
)
async def verify_id(request: Request, document_id: Annotated[str, Path(pattern=_ID)]) -> Response:
    """What the QR code on a document opens: its status now, and your checks it disputes."""
    party = await relying_party(request)
    jwks = api_state(request.app).jwks

    def run(store: RegistryStore) -> filing.Verification:
        stored = store.get_report(document_id)
        if stored is None:
            raise NotFound(f"no document {document_id}")
        now = utc_now()
        return filing.verify_for(store, stored.token, jwks, relying_party_id=party.id, now=now)

    return json_answer(await in_store(request, run))


__all__ = ["citizen_router", "file_my_report", "party_router", "verify_url"]
