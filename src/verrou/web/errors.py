"""Errors on the portal's pages, as pages: a page that needs a session sends the browser to the
right sign-in (citizens' or operators'), a change that needs a recent sign-in says so and offers
it, and every other error is a page in the request's language naming what went wrong and, for a
form, which fields, never what was typed in them."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from verrou.errors import ReauthenticationRequired, Unauthorized, VerrouError
from verrou.web import citizen_session, operator_auth
from verrou.web.i18n import N_
from verrou.web.pages import coming_back, render

#: What each error code means to the person reading the page (translated by the catalogs).
MESSAGES: Final[dict[str, str]] = {
    "csrf_rejected": N_(
        "This form was not sent from this site's own page, or it is too old. Go back, "
        "reload the page and try again."
    ),
    "invalid_identifier": N_("A value you entered is not valid: check the fields named below."),
    "invalid_applicant": N_("What you entered is not valid: check the fields named below."),
    "invalid_thaw": N_("This opening is not possible: check the organisation and the duration."),
    "invalid_code": N_("This code is wrong or has expired. Ask for a new one."),
    "invalid_report": N_("This report cannot be filed: choose one of the checks in the list."),
    "invalid_operator": N_("This operator account is not valid."),
    "rate_limited": N_("Too many attempts. Wait a minute, then try again."),
    "not_found": N_("This page does not exist, or it is not yours."),
    "conflict": N_("This cannot be done now: someone else holds it or it changed meanwhile."),
    "sign_in_not_configured": N_("Citizen sign-in is not set up on this server."),
    "sign_in_failed": N_("The sign-in did not complete. Start again."),
    "insufficient_assurance": N_(
        "Your sign-in's assurance level is not enough for this. Sign in with FranceConnect+."
    ),
    "delivery_failed": N_("The email could not be sent. Try again in a moment."),
    "store_unavailable": N_("The registry is unavailable right now: nothing was changed."),
    "configuration_error": N_("This server is not set up for this."),
}
GENERIC: Final = N_("Something went wrong: nothing was changed.")


def error_page(request: Request, exc: VerrouError) -> Response:
    """``exc`` answered as a page (or a redirect to a sign-in)."""
    if isinstance(exc, Unauthorized):
        if request.url.path.startswith("/operator"):
            return operator_auth.sign_in_redirect(request)
        return citizen_session.sign_in_redirect(request)
    if isinstance(exc, ReauthenticationRequired):
        return render(
            request,
            "reauthenticate.html",
            {"sign_in": citizen_session.sign_in_url(coming_back(request), fresh=True)},
            status=403,
        )
    return render(
        request,
        "error.html",
        {
            "message": MESSAGES.get(exc.code, GENERIC),
            "code": exc.code,
            "fields": sorted(exc.fields or {}),
            "retry_after": exc.retry_after,
        },
        status=exc.status,
    )


def not_found_page(request: Request, status: int = 404) -> Response:
    code = "not_found" if status == 404 else "http_error"
    return render(
        request,
        "error.html",
        {"message": MESSAGES.get(code, GENERIC), "code": code, "fields": [], "retry_after": None},
        status=status,
    )
