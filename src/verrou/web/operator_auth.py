"""Operator sign-in to the portal, apart from citizens': a name and a password
(``verrou operators add``), an ``operator`` cookie holding a random session id (the store keeps
its hash, in the operators' own table), and a CSRF token derived from it on every form.

A citizen's session is never looked at here, and an operator's never by the citizen pages: the
two roles share no cookie, no table and no code path that could turn one into the other.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from verrou.api.citizen_auth import safe_next
from verrou.api.state import api_state, in_store
from verrou.errors import RateLimited, Unauthorized
from verrou.registry import operators
from verrou.registry.checks import utc_now
from verrou.registry.operator_records import OperatorSessionRecord
from verrou.web.forms import (
    CSRF_FIELD,
    FORM_COOKIE,
    check_token,
    field,
    form_route,
    form_token,
    operator_csrf,
    posted,
    set_form_cookie,
)
from verrou.web.pages import coming_back, gettext, redirect, render, secure_cookies

logger = logging.getLogger(__name__)

SIGN_IN_PATH: Final = "/operator/signin"


@dataclass(frozen=True)
class SignedInOperator:
    """The operator of a request: their name and session (what the pages see)."""

    name: str
    session: OperatorSessionRecord


def cookie_name(request: Request) -> str:
    """``__Host-verrou_operator`` over https (no subdomain can set it), else
    ``verrou_operator``."""
    return "__Host-verrou_operator" if secure_cookies(request) else "verrou_operator"


async def operator_of(request: Request) -> SignedInOperator:
    """The signed-in operator of ``request`` (for every operator page); :class:`Unauthorized`
    without a usable session. A POST must carry the session's CSRF token."""
    sid = request.cookies.get(cookie_name(request))
    if not sid or len(sid) > 128:
        raise Unauthorized("operators sign in at " + SIGN_IN_PATH)
    now = utc_now()
    record = await in_store(request, lambda store: operators.session_for(store, sid, now=now))
    csrf = operator_csrf(sid)
    if request.method == "POST":
        form = await posted(request)
        check_token(field(form, CSRF_FIELD), csrf)
    request.scope["verrou.operator"] = record.operator
    request.scope["verrou.csrf"] = csrf
    return SignedInOperator(record.operator, record)


router = APIRouter(include_in_schema=False)


def _sign_in_page(request: Request, *, error: str = "", status: int = 200) -> Response:
    token, new = form_token(request)
    then = request.query_params.get("next", "")
    response = render(
        request,
        "operator/signin.html",
        {"form_token": token, "error": error, "next": then if then.startswith("/operator") else ""},
        status=status,
    )
    if new:
        set_form_cookie(response, token, secure=secure_cookies(request))
    return response


@router.get(SIGN_IN_PATH)
async def sign_in_page(request: Request) -> Response:
    return _sign_in_page(request)


@router.post(SIGN_IN_PATH)
async def sign_in(request: Request) -> Response:
    form = await posted(request)
    check_token(field(form, CSRF_FIELD), request.cookies.get(FORM_COOKIE, ""))
    state = api_state(request.app)
    address = request.client.host if request.client else "unknown"
    limit = state.settings.operator_sign_in_rate_limit
    wait = state.limiter.take_key(f"operator-sign-in:{address}", limit, 1, burst=limit)
    if wait is not None:
        raise RateLimited("too many sign-in attempts: wait a minute", retry_after=int(wait) + 1)
    name, password = field(form, "name").strip(), field(form, "password")
    lifetime = timedelta(minutes=state.settings.operator_session_minutes)
    now = utc_now()

    def open_session() -> operators.OperatorSignIn:
        serving = state.live()
        with serving.store_lock:
            return operators.sign_in(serving.store, name, password, now=now, lifetime=lifetime)

    try:
        signed = await asyncio.to_thread(open_session)
    except Unauthorized:
        logger.info("an operator sign-in failed")
        message = gettext(request, "Wrong operator name or password.")
        return _sign_in_page(request, error=message, status=401)
    logger.info("operator %s signed in", signed.record.operator)
    then = field(form, "next")
    target = safe_next(then)
    response = redirect(target if target and target.startswith("/operator") else "/operator")
    response.set_cookie(
        cookie_name(request),
        signed.sid,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=secure_cookies(request),
        httponly=True,
        samesite="strict",
    )
    return response


@form_route(router, "/operator/signout", page="/operator")
async def sign_out(request: Request) -> Response:
    operator = await operator_of(request)
    now = utc_now()
    sid_hash = operator.session.sid_hash
    await in_store(request, lambda store: store.revoke_operator_session(sid_hash, at=now))
    response = redirect(SIGN_IN_PATH)
    response.delete_cookie(
        cookie_name(request),
        path="/",
        secure=secure_cookies(request),
        httponly=True,
        samesite="strict",
    )
    return response


def sign_in_redirect(request: Request) -> Response:
    """Where an operator page sends a browser without a session: the sign-in, then back."""
    return redirect(f"{SIGN_IN_PATH}?next={quote(coming_back(request), safe='/')}")


__all__ = ["SIGN_IN_PATH", "SignedInOperator", "operator_of", "router", "sign_in_redirect"]
