"""The signed-in citizen of a portal page: the API's own session check
(:func:`verrou.api.citizen_auth.session_of`), with the CSRF token read from the form."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from verrou.api.citizen_auth import CitizenSession, cookie_csrf, require_recent, session_of
from verrou.api.state import api_state
from verrou.web.forms import CSRF_FIELD, field, posted
from verrou.web.pages import coming_back, redirect


async def citizen_of(request: Request, *, recent: bool = False) -> CitizenSession:
    """The citizen of ``request``; :class:`~verrou.errors.Unauthorized` without a session,
    :class:`~verrou.errors.CsrfRejected` for a POST without the session's token, and with
    ``recent``, :class:`~verrou.errors.ReauthenticationRequired` for a sign-in older than
    ``VERROU_REAUTH_MINUTES`` or below eidas2 (thaw, lift, report)."""
    csrf = ""
    if request.method == "POST":
        csrf = field(await posted(request), CSRF_FIELD)
    session = await session_of(request, csrf=csrf)
    request.scope["verrou.citizen"] = session
    request.scope["verrou.csrf"] = cookie_csrf(request) or ""
    if recent:
        auth = api_state(request.app).citizen
        assert auth is not None  # session_of refused otherwise
        require_recent(session, auth.reauth_minutes)
    return session


def sign_in_url(then: str, *, fresh: bool = False) -> str:
    """The sign-in that comes back to the page ``then`` (``fresh``: authenticate again)."""
    url = f"/v1/citizen/login?next={quote(then, safe='/')}"
    return url + "&fresh=true" if fresh else url


def sign_in_redirect(request: Request, *, fresh: bool = False) -> Response:
    return redirect(sign_in_url(coming_back(request), fresh=fresh))
