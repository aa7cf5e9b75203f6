"""The portal's forms: reading a posted form, and proving it was posted from our own pages.

Every form that changes anything carries a CSRF token in a hidden ``csrf`` field:

- a citizen's forms, the token of their session (sealed in their session cookie, its hash in
  the store: :func:`verrou.api.citizen_auth.session_of` checks it);
- an operator's forms, a token derived from their session id (:func:`operator_csrf`);
- the operator sign-in form (nobody is signed in yet), the value of a ``verrou_form`` cookie
  set with the form (double submit: another site can neither read nor set it).

On top of the token, a POST whose browser says it comes from another site (``Sec-Fetch-Site:
cross-site``) or whose ``Origin`` is not ours is refused, token or not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from verrou.errors import CsrfRejected, InvalidApplicant
from verrou.web.pages import redirect

CSRF_FIELD: Final = "csrf"
FORM_COOKIE: Final = "verrou_form"
#: A portal form is a few short fields; nothing bigger is read.
MAX_FORM_BYTES: Final = 16 * 1024
_REFUSED: Final = "this form was not posted from this site's own page: reload it and try again"


def form_route(
    router: APIRouter, action: str, *, page: str
) -> Callable[[Callable[..., Awaitable[Response]]], Callable[..., Awaitable[Response]]]:
    """``@router.post(action)`` for a form that lives on ``page``; a GET on ``action`` (a reload
    after the form, a bookmark, the address typed again) is sent to ``page`` (303), not answered
    "method not allowed". The GET never does what the form does: a change is a POST."""

    def register(
        endpoint: Callable[..., Awaitable[Response]],
    ) -> Callable[..., Awaitable[Response]]:
        router.add_api_route(action, _redirect_to(page), methods=["GET"], name=f"form {action}")
        return router.post(action)(endpoint)

    return register


def _redirect_to(page: str) -> Callable[[], Awaitable[Response]]:
    """An endpoint sending the browser to ``page`` (it takes no parameter: nothing from the
    request chooses where it goes)."""

    async def to_its_page() -> Response:
        return redirect(page)

    return to_its_page


def same_site(request: Request) -> None:
    """Refuse (:class:`CsrfRejected`) a request its browser says comes from another site."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise CsrfRejected(_REFUSED)
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        ours = urlsplit(str(request.base_url))
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise CsrfRejected(_REFUSED)


async def posted(request: Request) -> FormData:
    """The posted form (urlencoded, at most :data:`MAX_FORM_BYTES`), after :func:`same_site`."""
    same_site(request)
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise InvalidApplicant({"form": "too_large"})
    return await request.form(max_files=0, max_fields=64, max_part_size=MAX_FORM_BYTES)


def field(form: FormData, name: str) -> str:
    """A text field of ``form`` ('' when absent or not text)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def operator_csrf(sid: str) -> str:
    """The CSRF token of the operator session ``sid``: only who holds the session id can
    compute it, and it needs no storage."""
    return hmac.new(sid.encode(), b"verrou-operator-csrf/1", hashlib.sha256).hexdigest()


def check_token(given: str, expected: str) -> None:
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected(_REFUSED)


def form_token(request: Request) -> tuple[str, bool]:
    """The double-submit token of a form shown before any session (the operator sign-in):
    the request's ``verrou_form`` cookie, or a new one (True: set it with
    :func:`set_form_cookie` on the answer)."""
    token = request.cookies.get(FORM_COOKIE)
    if token is not None and len(token) == 43:
        return token, False
    return secrets.token_urlsafe(32), True


def set_form_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        FORM_COOKIE, token, max_age=3600, path="/", secure=secure, httponly=True, samesite="strict"
    )
