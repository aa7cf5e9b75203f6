"""The signed-in citizen's pages (``/me...``): my identity, freeze, open for one organisation,
lift, contacts, reporting an identity theft and its PDF, signing out.

Every handler first asks :func:`~verrou.web.citizen_session.citizen_of` who is signed in (and,
for a POST, checks the form's CSRF token and origin); opening, lifting and reporting need a
recent sign-in (``recent=True``), checked again on the POST that does it. Each change is a
POST answered by a redirect to a page (303), except a thaw or lift that left some keys frozen:
its result page says which and why. The work is the domain's (:mod:`verrou.registry.citizens`,
:mod:`verrou.registry.filing`), the same functions the JSON API calls. No page shows an
identifier: keys are short fingerprints, emails are masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from verrou.api import citizen_auth
from verrou.api.citizens import ask_email_code, citizen_services
from verrou.api.reports import attest_me, file_my_report, verify_url
from verrou.api.state import CitizenServices, in_store
from verrou.errors import (
    Conflict,
    InvalidApplicant,
    InvalidCode,
    InvalidReport,
    InvalidThaw,
    NotFound,
    Unauthorized,
)
from verrou.registry import citizens, filing, hibp
from verrou.registry.checks import utc_now
from verrou.registry.citizens import OwnerOutcome
from verrou.registry.policy import DOCUMENT_KINDS, Applicant
from verrou.registry.subjects import short_fingerprint
from verrou.store.protocols import RegistryStore
from verrou.web.citizen_session import citizen_of
from verrou.web.forms import field, form_route, posted
from verrou.web.i18n import N_
from verrou.web.labels import DATA_CLASSES, SECTORS, VERDICTS
from verrou.web.pages import harden, redirect, render, request_language

router = APIRouter(include_in_schema=False)

#: The longest a thaw lasts from this page, and what it offers first (days).
THAW_DAYS: Final = (1, 30)
THAW_DEFAULT_DAYS: Final = 3
#: How many checks "who checked my identity" lists.
CHECKS_SHOWN: Final = 50
_DOCUMENT_ID: Final = re.compile(r"^(rpt|att)-[0-9a-f]{32}$")
_CODE: Final = re.compile(r"^[0-9]{6}$")
_SHORT_ID_MAX: Final = 64

#: Success notices after a change (the ``done`` parameter of the page it redirects to).
NOTICES: Final[dict[str, str]] = {
    "frozen": N_("Your identity is frozen: every check on it is now refused."),
    "thawed": N_("Your identity is open for this organisation until the date shown."),
    "lifted": N_("Your freeze is lifted. Checks on your leaked data ask for a stronger proof."),
    "verified": N_("Your email is proven: alerts will be sent to it."),
    "identifiers": N_("Your identifiers are added to your identity."),
}
#: What each of my attributes is, in words.
ATTRIBUTES: Final[dict[str, str]] = {
    "person": N_("Name and birth date"),
    "document": N_("Identity document"),
    "nir": N_("Social security number"),
    "email": N_("Email address"),
    "phone": N_("Phone number"),
    "iban": N_("Bank account (IBAN)"),
    "postal_address": N_("Postal address"),
    "account_id": N_("Account identifier"),
}
#: Where a key comes from.
SOURCES: Final[dict[str, str]] = {
    "claims": N_("From your FranceConnect sign-in"),
    "email": N_("Proven by a code"),
    "bound": N_("Added by you"),
}
#: Who holds a freeze (:data:`verrou.registry.citizens.FreezeHolder`).
HOLDERS: Final[dict[str, str]] = {
    "mine": N_("Frozen by you"),
    "another_account": N_("Frozen by another account"),
    "operator": N_("Frozen by the agency"),
    "report": N_("Frozen by your identity-theft report"),
    "canary": N_("Frozen: protected identity"),
}
#: Why a key stayed as it was (:data:`verrou.registry.citizens.Refusal`).
REFUSALS: Final[dict[str, str]] = {
    "not_frozen": N_("It was not frozen."),
    "not_your_freeze": N_(
        "This freeze is not yours: it was placed by the agency, by an identity-theft report, "
        "or by another account. Only the agency can open it."
    ),
    "contested": N_(
        "Another account also claims this data: it stays frozen until the agency decides."
    ),
    "unproven_exposed": N_(
        "You added this data yourself without proof, and it leaked: it cannot be opened from "
        "your account."
    ),
}
DOCUMENTS: Final[dict[str, str]] = {
    "cni": N_("Identity card"),
    "passport": N_("Passport"),
    "driving_licence": N_("Driving licence"),
    "residence_permit": N_("Residence permit"),
}

#: What every citizen template may use to name things.
LABELS: Final = {
    "attributes": ATTRIBUTES,
    "sources": SOURCES,
    "holders": HOLDERS,
    "refusals": REFUSALS,
    "sectors": SECTORS,
    "verdicts": VERDICTS,
    "documents": DOCUMENTS,
    "short": short_fingerprint,
}


def _page(
    request: Request, template: str, context: Mapping[str, object], *, status: int = 200
) -> Response:
    """``citizen/template`` with :data:`LABELS` and the notice of the ``done`` parameter."""
    return render(
        request,
        f"citizen/{template}",
        {**LABELS, "notice": NOTICES.get(request.query_params.get("done", "")), **context},
        status=status,
    )


def data_classes(names: Sequence[str]) -> list[str]:
    """A breach's data classes as HIBP names, each once, in their order (a name no catalog
    knows is shown as it is)."""
    seen: dict[str, None] = {}
    for name in names:
        for found in hibp.classes_of(name):
            seen.setdefault(DATA_CLASSES.get(found, found))
    return list(seen)


# --- my identity ------------------------------------------------------------------------------


@router.get("/me")
async def me(request: Request) -> Response:
    """My identity: status, keys, exposures, who checked me, my documents, what I can do."""
    current = await citizen_of(request)
    citizen_services(request)
    now = utc_now()

    def read(store: RegistryStore) -> dict[str, object]:
        return {
            "mine": citizens.my_identity(store, current.citizen_id, now=now),
            "checks": citizens.who_checked(store, current.citizen_id, limit=CHECKS_SHOWN),
            "documents": store.list_reports(citizen_id=current.citizen_id),
            "parties": {p.id: p.name for p in store.list_relying_parties()},
        }

    found = await in_store(request, read)
    mine = found["mine"]
    assert isinstance(mine, citizens.MyIdentity)
    exposures = [(e, data_classes(e.data_classes)) for e in mine.exposures]
    return _page(request, "me.html", {**found, "exposures": exposures})


# --- freeze, thaw, lift -----------------------------------------------------------------------


def _confirmation(path: str, template: str) -> None:
    """``GET path``: the page that says what a change does, with its form (``POST path``)."""

    async def confirm(request: Request) -> Response:
        await citizen_of(request)
        return _page(request, template, {})

    router.add_api_route(path, confirm, methods=["GET"], name=template.removesuffix(".html"))


_confirmation("/me/freeze", "freeze.html")
_confirmation("/me/lift", "lift.html")


@router.post("/me/freeze")
async def freeze(request: Request) -> Response:
    current = await citizen_of(request)
    citizen_services(request)
    await in_store(
        request, lambda store: citizens.freeze_mine(store, current.citizen_id, now=utc_now())
    )
    return redirect("/me?done=frozen")


@router.get("/me/thaw")
async def thaw_form(request: Request) -> Response:
    await citizen_of(request)
    citizen_services(request)
    parties = await in_store(request, citizens.active_relying_parties)
    return _page(
        request,
        "thaw.html",
        {
            "parties": parties,
            "days": THAW_DAYS,
            "default_days": THAW_DEFAULT_DAYS,
            "unavailable": None
            if parties
            else N_("No organisation is registered with verrou yet."),
        },
    )


def _thaw_days(raw: str) -> int:
    low, high = THAW_DAYS
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise InvalidThaw(f"a thaw lasts {low} to {high} days", fields={"days": "out_of_range"})
    return int(raw)


@router.post("/me/thaw")
async def thaw(request: Request) -> Response:
    current = await citizen_of(request, recent=True)
    citizen_services(request)
    form = await posted(request)
    party = field(form, "relying_party")
    if not party or len(party) > _SHORT_ID_MAX:
        raise InvalidThaw("choose an organisation", fields={"relying_party": "required"})
    days = _thaw_days(field(form, "days"))
    now = utc_now()

    def run(store: RegistryStore) -> tuple[bool, list[OwnerOutcome]]:
        try:
            return True, citizens.thaw_mine_for(
                store, current.citizen_id, relying_party_id=party, days=days, now=now
            )
        except Conflict:
            return False, citizens.refusals(store, current.citizen_id, now=now, for_thaw=True)

    return _outcome(request, "thawed", *await in_store(request, run))


@router.post("/me/lift")
async def lift(request: Request) -> Response:
    current = await citizen_of(request, recent=True)
    citizen_services(request)
    now = utc_now()

    def run(store: RegistryStore) -> tuple[bool, list[OwnerOutcome]]:
        try:
            return True, citizens.lift_mine(store, current.citizen_id, now=now)
        except Conflict:
            return False, citizens.refusals(store, current.citizen_id, now=now, for_thaw=False)

    return _outcome(request, "lifted", *await in_store(request, run))


def _outcome(request: Request, done: str, opened: bool, outcomes: list[OwnerOutcome]) -> Response:
    """After a thaw or lift: back to my identity when every frozen key opened, else a page
    naming the keys that stayed frozen and why (409 when none opened)."""
    stayed = [o for o in outcomes if o.refusal is not None and o.refusal != "not_frozen"]
    if opened and not stayed:
        return redirect(f"/me?done={done}")
    return _page(
        request,
        "outcome.html",
        {
            "action": done,
            "opened": opened,
            "stayed": stayed,
            "changed": [o for o in outcomes if o.refusal is None],
        },
        status=200 if opened else 409,
    )


# --- contacts and identifiers -----------------------------------------------------------------


@router.get("/me/contacts")
async def contacts(request: Request) -> Response:
    current = await citizen_of(request)
    services = citizen_services(request)

    def read(store: RegistryStore) -> dict[str, object]:
        return {
            "emails": citizens.my_masked_emails(store, services.contact_key, current.citizen_id),
            "bound": [k for k in citizens.my_keys(store, current.citizen_id) if not k.proven],
        }

    return _page(request, "contacts.html", await in_store(request, read))


@router.post("/me/contacts")
async def add_email(request: Request) -> Response:
    current = await citizen_of(request)
    email = field(await posted(request), "email").strip()
    if not email:
        raise InvalidApplicant({"email": "required"})
    code_id, _ = await ask_email_code(request, current.citizen_id, email)
    return redirect(f"/me/contacts/verify?code={code_id}")


def _code_id(raw: str) -> str:
    if not raw or len(raw) > _SHORT_ID_MAX or not raw.isascii():
        raise InvalidCode("no such code: ask for a new one", fields={"code_id": "unknown"})
    return raw


@router.get("/me/contacts/verify")
async def verify_form(request: Request) -> Response:
    await citizen_of(request)
    return _page(
        request, "verify.html", {"code_id": _code_id(request.query_params.get("code", ""))}
    )


@router.post("/me/contacts/verify")
async def verify(request: Request) -> Response:
    current = await citizen_of(request)
    services = citizen_services(request)
    form = await posted(request)
    code_id = _code_id(field(form, "code_id"))
    code = field(form, "code").strip()
    if not _CODE.match(code):
        raise InvalidCode("the code has six digits", fields={"code": "six_digits"})
    await in_store(
        request,
        lambda store: citizens.prove_email(
            store, services.contact_key, current.citizen_id, code_id, code, now=utc_now()
        ),
    )
    return redirect("/me/contacts?done=verified")


@form_route(router, "/me/identifiers", page="/me/contacts")
async def identifiers(request: Request) -> Response:
    current = await citizen_of(request)
    services = citizen_services(request)
    form = await posted(request)
    given = {
        name: field(form, name).strip() or None
        for name in ("document_type", "document_number", "phone", "iban")
    }
    if given["document_type"] not in (None, *DOCUMENT_KINDS):
        raise InvalidApplicant({"document_type": "unknown"})
    if given["document_number"] is None:
        given["document_type"] = None
    if not any(given.values()):
        raise InvalidApplicant({"identifiers": "nothing_given"})
    now = utc_now()
    await in_store(
        request,
        lambda store: citizens.bind_identifiers(
            store,
            services.fingerprinter,
            current.citizen_id,
            Applicant(
                document_type=given["document_type"],
                document_number=given["document_number"],
                phone=given["phone"],
                iban=given["iban"],
            ),
            now=now,
            contact_key=services.contact_key,
        ),
    )
    return redirect("/me/contacts?done=identifiers")


# --- reports ----------------------------------------------------------------------------------


@router.get("/me/report")
async def report_form(request: Request) -> Response:
    """Report an identity theft: the check I did not make (chosen from my list), a note."""
    current = await citizen_of(request)
    citizen_services(request)
    chosen = request.query_params.get("check", "")
    seen = await in_store(
        request, lambda store: citizens.who_checked(store, current.citizen_id, limit=200)
    )
    if chosen and chosen not in {c.check_id for c in seen}:
        raise NotFound("no such check of yours")
    return _page(
        request,
        "report.html",
        {
            "checks": seen,
            "chosen": chosen,
            "note_max": filing.NOTE_MAX,
            "unavailable": None
            if seen
            else N_("No organisation has checked your identity: there is no check to report."),
        },
    )


@router.post("/me/report")
async def report(request: Request) -> Response:
    current = await citizen_of(request, recent=True)
    form = await posted(request)
    check = field(form, "check")
    if not check or len(check) > _SHORT_ID_MAX:
        raise InvalidReport("choose the check you did not make", fields={"check": "required"})
    note = field(form, "note").strip() or None
    if note is not None and len(note) > filing.NOTE_MAX:
        raise InvalidReport("the note is too long", fields={"note": "too_long"})
    stored = await file_my_report(request, current.citizen_id, [check], [], note)
    return redirect(f"/me/reports/{stored.id}")


@form_route(router, "/me/attestations", page="/me")
async def attestation(request: Request) -> Response:
    """A signed proof of my exposure (breaches, data classes, frozen or not) to give a bank."""
    current = await citizen_of(request)
    stored = await attest_me(request, current.citizen_id)
    return redirect(f"/me/reports/{stored.id}")


async def _asking_for(
    request: Request, raw_id: str
) -> tuple[citizen_auth.CitizenSession, CitizenServices, str]:
    """Who asks for one of their documents, the app's services, and the document's id (a
    :class:`NotFound` for an id that cannot be one)."""
    current = await citizen_of(request)
    if not _DOCUMENT_ID.match(raw_id):
        raise NotFound("no such document of yours")
    return current, citizen_services(request), raw_id


@router.get("/me/reports/{document_id}.pdf")
async def document_pdf(request: Request, document_id: str) -> Response:
    """The PDF of one of my documents, in the page's language, as a download."""
    current, services, document_id = await _asking_for(request, document_id)
    pdf = await in_store(
        request,
        lambda store: filing.document_pdf(
            store,
            document_id,
            current.citizen_id,
            citizen_name=current.display_name,
            verify_url=verify_url(services, document_id),
            lang=request_language(request),
        ),
    )
    response = Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{document_id}.pdf"'},
    )
    return harden(response)


@router.get("/me/reports/{document_id}")
async def document(request: Request, document_id: str) -> Response:
    """One of my documents: its id, how a bank verifies it, its download."""
    current, services, document_id = await _asking_for(request, document_id)
    stored = await in_store(
        request, lambda store: filing.my_document(store, document_id, current.citizen_id)
    )
    return _page(
        request,
        "document.html",
        {"document": stored, "verify_url": verify_url(services, stored.id)},
    )


# --- signing out ------------------------------------------------------------------------------


@form_route(router, "/signout", page="/")
async def sign_out(request: Request) -> Response:
    """Revoke my session and clear its cookie (the API's own sign-out), then home."""
    try:
        current = await citizen_of(request)
    except Unauthorized:  # signed out already: nothing to revoke
        return redirect("/")
    signed_out = await citizen_auth.logout(request, current)
    response = redirect("/")
    response.raw_headers.extend(
        (name, value) for name, value in signed_out.raw_headers if name == b"set-cookie"
    )
    return response
