"""The signed-in citizen's own routes: my identity, who checked it, freeze, thaw for one bank,
lift, my identifiers and emails (``/v1/citizen/...``).

Each route knows the citizen from :func:`~verrou.api.citizen_auth.citizen_session` (a cookie
with its CSRF token on every change, or a bearer token), calls the domain
(:mod:`verrou.registry.citizens`) on the request side's store connection, and shapes the answer.
Thaw and lift need a recent sign-in at ``eidas2`` or above
(:func:`~verrou.api.citizen_auth.recent_citizen_session`). Answers carry ids, codes, short
fingerprints and dates, never an identifier: the citizen's own values stay in their browser.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Annotated, Any, Final, Literal, Protocol

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, ConfigDict, Field

from verrou.api.citizen_auth import (
    CSRF_PARAMETER,
    CitizenSession,
    CurrentSession,
    recent_citizen_session,
)
from verrou.api.responses import json_answer
from verrou.api.schemas import ApplicantIn, DocumentIn, PostalAddressIn, documented_errors
from verrou.api.state import CitizenServices, api_state, in_store
from verrou.errors import ConfigError, DeliveryError, SignInNotConfigured
from verrou.registry import citizens
from verrou.registry.checks import utc_now
from verrou.registry.citizens import OwnerOutcome
from verrou.registry.contacts import Contact
from verrou.registry.policy import Applicant
from verrou.registry.subjects import short_fingerprint
from verrou.settings import smtp_address
from verrou.store.protocols import RegistryStore

router = APIRouter(prefix="/v1/citizen", tags=["citizen"])

RecentSession = Annotated[CitizenSession, Depends(recent_citizen_session)]


#: What each error means on the citizen's routes (every one may answer 401 and 404).
CITIZEN_ERRORS: Final = {
    401: "No session, or an expired or revoked one.",
    403: "A forged or missing CSRF token, or a sign-in too old or below eidas2.",
    404: "Citizen sign-in is not configured here, or no such relying party, code or document.",
    409: "Nothing could be opened: each key's reason is in the message.",
    422: "Invalid input: each bad field and why, never its value.",
    429: "Too many email codes asked for this hour; retry after the Retry-After header's seconds.",
    502: "The email with the code could not be sent.",
    503: "The registry is unreachable.",
}
_documented = documented_errors(CITIZEN_ERRORS)


def citizen_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error responses of a citizen's route: ``statuses`` with 401, 404 and 503."""
    return _documented(*sorted({401, 404, 503, *statuses}))


def citizen_read(
    router: APIRouter, path: str, answer: type[BaseModel], summary: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """How a citizen's read is declared: GET, answering ``answer`` or 401, 404 and 503."""
    return router.get(path, response_model=answer, responses=citizen_errors(), summary=summary)


def citizen_change(
    router: APIRouter,
    path: str,
    answer: type[BaseModel],
    summary: str,
    *statuses: int,
    status_code: int | None = None,
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """How a citizen's change is declared: POST with the CSRF header (a cookie session needs
    it; the session checks it), answering ``answer`` or 401, 403, 404, 503 and ``statuses``."""
    return router.post(
        path,
        response_model=answer,
        status_code=status_code,
        responses=citizen_errors(403, *statuses),
        openapi_extra=CSRF_PARAMETER,
        summary=summary,
    )


def citizen_services(request: Request) -> CitizenServices:
    """The app's citizen services; :class:`SignInNotConfigured` without citizen sign-in."""
    services: CitizenServices | None = api_state(request.app).citizen_services
    if services is None:
        raise SignInNotConfigured("citizen sign-in is not configured on this server")
    return services


# --- answers ----------------------------------------------------------------------------------


class KeyOut(BaseModel):
    attribute: str = Field(description="person, document, nir, email, phone, iban, ...")
    kind: str
    key: str = Field(description="The key's short fingerprint: tells keys apart, nothing more.")
    source: Literal["claims", "email", "bound"] = Field(
        description="From the verified sign-in, an email proven by code, or bound unproven."
    )


class ExposureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a MyExposure

    breach: str
    title: str | None
    data_classes: list[str]
    disclosed_at: datetime | None
    attributes: list[str] = Field(description="Which of my attributes this breach holds.")


class MeOut(BaseModel):
    citizen_id: str
    frozen: bool = Field(description="True when every key holds a freeze.")
    keys: list[KeyOut]
    exposures: list[ExposureOut]


class OutcomeOut(BaseModel):
    attribute: str
    key: str
    outcome: str = Field(
        description="placed, already_frozen, thawed, lifted, not_frozen or refused."
    )
    refusal: str | None = Field(
        default=None,
        description="Why a key was left as it was: not_your_freeze (an operator's, a report's, "
        "a canary's or another citizen's), contested (another account claims it), "
        "unproven_exposed (bound without proof, and a breach holds it).",
    )


class OutcomesOut(BaseModel):
    outcomes: list[OutcomeOut]


class CheckSeenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a CheckSeen

    check_id: str
    at: datetime
    relying_party_id: str
    relying_party: str = Field(validation_alias="relying_party_name")
    sector: str
    verdict: str
    attributes: list[str]


class ChecksOut(BaseModel):
    checks: list[CheckSeenOut]


class RelyingPartyOut(BaseModel):
    id: str
    name: str
    sector: str


class RelyingPartiesOut(BaseModel):
    relying_parties: list[RelyingPartyOut]


class EmailCodeOut(BaseModel):
    code_id: str
    expires_at: datetime


# --- requests -----------------------------------------------------------------------------------


class ThawIn(BaseModel):
    """Open my identity for one relying party (or every one) for a few days."""

    model_config = ConfigDict(extra="forbid")

    relying_party_id: str | None = Field(
        default=None, max_length=64, description="One relying party; omit for every one."
    )
    days: float = Field(gt=0, le=30, description="How long, at most 30 days.")


class IdentifiersIn(BaseModel):
    """My own identifiers, bound to my account without proof (I may freeze them)."""

    model_config = ConfigDict(extra="forbid")

    document: DocumentIn | None = None
    nir: str | None = Field(default=None, max_length=32)
    iban: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    postal_address: PostalAddressIn | None = None

    def to_applicant(self) -> Applicant:
        """An applicant of these identifiers only, read as a check's applicant is."""
        return ApplicantIn.model_validate(self, from_attributes=True).to_applicant()


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)


class EmailCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code_id: str = Field(max_length=64)
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


def _outcomes(found: list[OwnerOutcome]) -> OutcomesOut:
    return OutcomesOut(
        outcomes=[
            OutcomeOut(
                attribute=o.key.attribute,
                key=short_fingerprint(o.key.fingerprint),
                outcome=o.outcome,
                refusal=o.refusal,
            )
            for o in found
        ]
    )


class _ChangeMine(Protocol):
    """A change of all of a citizen's keys at once (:func:`~verrou.registry.citizens.freeze_mine`,
    :func:`~verrou.registry.citizens.lift_mine`)."""

    def __call__(
        self, store: RegistryStore, citizen_id: str, *, now: datetime
    ) -> list[OwnerOutcome]: ...


async def _change_mine(request: Request, change: _ChangeMine, current: CitizenSession) -> Response:
    """``change`` on the request side's store connection, answered as its outcomes."""
    citizen_services(request)
    found = await in_store(request, lambda store: change(store, current.citizen_id, now=utc_now()))
    return json_answer(_outcomes(found))


# --- routes -------------------------------------------------------------------------------------


@citizen_read(router, "/me", MeOut, "My identity")
async def me(request: Request, current: CurrentSession) -> Response:
    """My keys (short fingerprints), whether my identity is frozen, and the breaches that
    exposed me with what they exposed."""
    citizen_services(request)

    def read(store: RegistryStore) -> MeOut:
        mine = citizens.my_identity(store, current.citizen_id, now=utc_now())
        return MeOut(
            citizen_id=current.citizen_id,
            frozen=mine.frozen,
            keys=[
                KeyOut(
                    attribute=state.key.attribute,
                    kind=state.key.kind.value,
                    key=short_fingerprint(state.key.fingerprint),
                    source=state.key.source,
                )
                for state in mine.keys
            ],
            exposures=[ExposureOut.model_validate(e) for e in mine.exposures],
        )

    return json_answer(await in_store(request, read))


@citizen_read(router, "/checks", ChecksOut, "Who checked my identity")
async def checks(
    request: Request,
    current: CurrentSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: datetime | None = None,
) -> Response:
    """The checks relying parties made on my keys, newest first: who (name and sector), when,
    which verdict, on which of my attributes. Page with ``before`` (the last ``at`` seen)."""
    citizen_services(request)
    seen = await in_store(
        request,
        lambda store: citizens.who_checked(store, current.citizen_id, limit=limit, before=before),
    )
    return json_answer(ChecksOut(checks=[CheckSeenOut.model_validate(c) for c in seen]))


@citizen_read(
    router, "/relying-parties", RelyingPartiesOut, "The organisations I may open my identity for"
)
async def relying_parties(request: Request, current: CurrentSession) -> Response:
    """Every active relying party (id, name, sector), for a thaw."""
    citizen_services(request)
    parties = await in_store(request, citizens.active_relying_parties)
    return json_answer(
        RelyingPartiesOut(
            relying_parties=[
                RelyingPartyOut(id=p.id, name=p.name, sector=p.sector) for p in parties
            ]
        )
    )


@citizen_change(router, "/freeze", OutcomesOut, "Freeze my identity")
async def freeze(request: Request, current: CurrentSession) -> Response:
    """Freeze every key of my identity: every check is ``deny`` from the next one on. Only I
    (after a recent sign-in) can open it again."""
    return await _change_mine(request, citizens.freeze_mine, current)


@citizen_change(
    router, "/thaw", OutcomesOut, "Open my identity for one bank for a few days", 409, 422
)
async def thaw(request: Request, current: RecentSession, body: ThawIn) -> Response:
    """Open my own frozen keys for one relying party (or every one) for up to 30 days. Keys
    frozen by someone else, claimed by another account, or bound without proof and leaked
    stay frozen (each with its reason). Needs a sign-in within the last minutes at eidas2."""
    citizen_services(request)
    found = await in_store(
        request,
        lambda store: citizens.thaw_mine_for(
            store,
            current.citizen_id,
            relying_party_id=body.relying_party_id,
            days=body.days,
            now=utc_now(),
        ),
    )
    return json_answer(_outcomes(found))


@citizen_change(router, "/lift", OutcomesOut, "Lift my freeze", 409)
async def lift(request: Request, current: RecentSession) -> Response:
    """Lift my own freezes (checks on leaked keys are ``step_up`` again). Needs a recent
    sign-in at eidas2."""
    return await _change_mine(request, citizens.lift_mine, current)


@citizen_change(
    router, "/identifiers", OutcomesOut, "Add my document, NIR, IBAN, phone or address", 422
)
async def identifiers(request: Request, current: CurrentSession, body: IdentifiersIn) -> Response:
    """Bind my own identifiers to my account, canonicalised as checks are. I may freeze them;
    a thaw opens them only while no other account claims them and no breach holds them."""
    services = citizen_services(request)
    now = utc_now()
    added = await in_store(
        request,
        lambda store: citizens.bind_identifiers(
            store,
            services.fingerprinter,
            current.citizen_id,
            body.to_applicant(),
            now=now,
            contact_key=services.contact_key,
        ),
    )
    return json_answer(_outcomes([OwnerOutcome(key, "placed") for key in added]))


def send_email_code(services: CitizenServices, contact: Contact, code: str) -> None:
    """Send ``code`` to ``contact`` over SMTP (:class:`DeliveryError` when it cannot)."""
    if services.smtp_url is None:
        raise ConfigError("email codes need VERROU_SMTP_URL")
    host, port = smtp_address(services.smtp_url)
    message = EmailMessage()
    message["From"] = services.sender
    message["To"] = contact.address
    message["Subject"] = "[verrou] Votre code de vérification / Your verification code"
    message.set_content(
        f"Votre code verrou : {code}\n"
        f"Il est valable {int(citizens.EMAIL_CODE_TTL.total_seconds() // 60)} minutes.\n\n"
        f"Your verrou code: {code}\n\n"
        "Si vous n'avez rien demandé, ignorez ce message. / "
        "If you did not ask for it, ignore this message.\n"
    )
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        raise DeliveryError("the email with the code could not be sent: try again") from None


async def ask_email_code(request: Request, citizen_id: str, email: str) -> tuple[str, datetime]:
    """Start proving ``email`` for the citizen (:func:`~verrou.registry.citizens.start_email_proof`)
    and send its code: the code's id and when it expires. The API's route and the portal's."""
    services = citizen_services(request)
    now = utc_now()
    code_id, code, contact = await in_store(
        request,
        lambda store: citizens.start_email_proof(
            store, services.fingerprinter, services.contact_key, citizen_id, email, now=now
        ),
    )
    await asyncio.to_thread(send_email_code, services, contact, code)
    return code_id, now + citizens.EMAIL_CODE_TTL


@citizen_change(
    router,
    "/emails",
    EmailCodeOut,
    "Add an email: a code is sent to it",
    422,
    429,
    502,
    status_code=202,
)
async def add_email(request: Request, current: CurrentSession, body: EmailIn) -> Response:
    """Send a six-digit code to this address; proving it makes it mine and my alert contact."""
    code_id, expires_at = await ask_email_code(request, current.citizen_id, body.email)
    return json_answer(EmailCodeOut(code_id=code_id, expires_at=expires_at), 202)


@citizen_change(router, "/emails/verify", OutcomesOut, "Prove an email with its code", 422)
async def verify_email(request: Request, current: CurrentSession, body: EmailCodeIn) -> Response:
    """The code sent to the address: the email becomes mine and receives my alerts."""
    services = citizen_services(request)
    key = await in_store(
        request,
        lambda store: citizens.prove_email(
            store, services.contact_key, current.citizen_id, body.code_id, body.code, now=utc_now()
        ),
    )
    return json_answer(_outcomes([OwnerOutcome(key, "placed")]))
