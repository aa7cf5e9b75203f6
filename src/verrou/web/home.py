"""The public pages: home (what verrou is, and the private exposure check, which runs in the
browser: :mod:`static/js/lookup.js`), and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from verrou.api.citizen_auth import safe_next
from verrou.api.state import api_state
from verrou.web.citizen_session import sign_in_url
from verrou.web.i18n import LANGUAGE_COOKIE, LANGUAGES
from verrou.web.pages import redirect, render, secure_cookies

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    state = api_state(request.app)
    return render(
        request,
        "home.html",
        {
            "lookup_enabled": state.lookup is not None,
            "sign_in_enabled": state.citizen is not None,
            "sign_in": sign_in_url("/me"),
        },
    )


@router.get("/lang/{language}")
async def switch_language(
    request: Request, language: str, next: Annotated[str | None, Query(max_length=512)] = None
) -> Response:
    """Remember ``language`` (a cookie for a year) and go back to the page the switch was on."""
    response = redirect(safe_next(next) or "/")
    if language in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=365 * 24 * 3600,
            path="/",
            secure=secure_cookies(request),
            httponly=True,
            samesite="lax",
        )
    return response
