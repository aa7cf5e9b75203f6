"""Citizen sign-in (OpenID Connect, FranceConnect-shaped) and citizen sessions, as a JSON API.

``GET /v1/citizen/login`` sends the browser to the identity provider; the provider sends it
back to ``GET /v1/citizen/callback``, which verifies the sign-in (:mod:`verrou.oidc`), calls
the sign-in hook (:data:`SignInHook`: the verified identity to a citizen id) and opens a
session: a cookie (HttpOnly, SameSite=Lax, Secure over https) and a CSRF token in the answer.
``POST /v1/citizen/token`` trades a cookie session for a short-lived bearer token (for
scripts and apps: no ambient credential, so no CSRF token); ``POST /v1/citizen/logout``
revokes a session and its tokens; ``GET /v1/citizen/session`` says who is signed in.

What is kept where:

- the sign-in in progress (state, nonce, PKCE verifier): in a cookie sealed under the session
  key, scoped to the callback path, for 10 minutes; nothing on the server;
- a session: the database holds the SHA-256 of its random id, the citizen id, times and the
  assurance level (:class:`~verrou.registry.sessions.CitizenSessionRecord`), never the id nor
  anything personal; the citizen holds the id and their display name sealed together
  (:func:`~verrou.registry.sessions.seal_token`), since documents rendered for them at
  download need the name, and the name must not be stored.

Routes use :func:`citizen_session` (a FastAPI dependency) to know the citizen, and
:func:`require_recent` (or :func:`recent_citizen_session`) before anything sensitive.
Without ``VERROU_OIDC_ISSUER`` every citizen route answers 404 ``sign_in_not_configured``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal, TypeVar

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import RedirectResponse

from verrou.api.responses import HARDENING_HEADERS, json_answer
from verrou.api.schemas import documented_errors
from verrou.api.state import (
    CALLBACK_PATH,
    CitizenAuth,
    CookiePolicy,
    SignInHook,
    api_state,
    in_store,
)
from verrou.errors import (
    ConfigError,
    CsrfRejected,
    ReauthenticationRequired,
    SignInFailed,
    SignInNotConfigured,
    Unauthorized,
)
from verrou.oidc import OidcClient, PendingSignIn, VerifiedClaims
from verrou.registry.checks import utc_now
from verrou.registry.sessions import (
    CitizenSessionRecord,
    SessionKey,
    SessionKind,
    load_session_key_file,
    new_secret,
    open_token,
    seal_token,
    secret_hash,
)
from verrou.settings import ACR_LEVELS, Settings
from verrou.store.protocols import SessionStore

logger = logging.getLogger(__name__)

#: How long a sign-in may take between the redirect and the callback.
SIGN_IN_SECONDS: Final = 600
#: Methods that change state: a cookie session needs its CSRF token for them.
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER: Final = "X-CSRF-Token"
#: Purposes of sealed tokens (bound in their associated data).
_LOGIN_PURPOSE: Final = "oidc-sign-in"
_MAX_PARAMETER: Final = 2048

router = APIRouter(prefix="/v1/citizen", tags=["citizen"])

_T = TypeVar("_T")


def pseudonymous_citizen_id(claims: VerifiedClaims, now: datetime) -> str:
    """The default sign-in hook: a stable citizen id derived from the provider and the
    subject (``ct-`` and 24 hex digits of SHA-256 of ``issuer|sub``), stored nowhere."""
    digest = hashlib.sha256(f"{claims.issuer}|{claims.subject}".encode()).hexdigest()
    return f"ct-{digest[:24]}"


def citizen_auth_from(
    settings: Settings,
    *,
    on_sign_in: SignInHook = pseudonymous_citizen_id,
    session_key: SessionKey | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> CitizenAuth | None:
    """Citizen sign-in as the settings configure it, or None without ``VERROU_OIDC_ISSUER``.

    Loads the session key now (``VERROU_SESSION_KEY_FILE``, unless given), so a missing key
    stops the server before it listens; :class:`ConfigError` without a client id or secret.
    ``transport`` and ``clock`` are for tests (a hop in front of a real provider, a clock
    that moves).
    """
    issuer = settings.oidc_issuer
    if issuer is None:
        return None
    missing = [
        env
        for env, value in (
            ("VERROU_OIDC_CLIENT_ID", settings.oidc_client_id),
            ("VERROU_OIDC_CLIENT_SECRET", settings.oidc_client_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(f"VERROU_OIDC_ISSUER is set: set {' and '.join(missing)} too")
    assert settings.oidc_client_id is not None and settings.oidc_client_secret is not None
    oidc = OidcClient(
        issuer=issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        redirect_uri=settings.public_url.rstrip("/") + CALLBACK_PATH,
        scope=settings.oidc_scope,
        accepted_acr=settings.accepted_acr,
        transport=transport,
    )
    return CitizenAuth(
        oidc=oidc,
        session_key=session_key or load_session_key_file(settings.session_key_file),
        on_sign_in=on_sign_in,
        cookies=CookiePolicy.for_public_url(settings.public_url),
        session_lifetime=timedelta(minutes=settings.session_minutes),
        token_lifetime=timedelta(seconds=settings.citizen_token_seconds),
        reauth_minutes=settings.reauth_minutes,
        clock=clock,
    )


@dataclass(frozen=True, kw_only=True)
class CitizenSession(CitizenSessionRecord):
    """The signed-in citizen of a request (what :func:`citizen_session` returns): the session
    as the store keeps it, with what only the request knows.

    ``display_name`` comes from the citizen's own sealed token, never from the database;
    ``checked_at`` is when the session was checked (the time :func:`require_recent` measures
    from). The repr masks the name.
    """

    display_name: str
    checked_at: datetime

    @property
    def via(self) -> SessionKind:
        """How the request was authenticated: the kind of the session it presented."""
        return self.kind

    def __repr__(self) -> str:
        return (
            f"CitizenSession(citizen_id={self.citizen_id!r}, acr={self.acr!r}, "
            f"via={self.via!r}, expires_at={self.expires_at.isoformat()!r})"
        )


# --- answers ---------------------------------------------------------------------------------


class SignedInOut(BaseModel):
    """A session was opened: its cookie is set with this answer."""

    citizen_id: str = Field(description="The citizen's id in the registry.")
    expires_at: datetime = Field(description="When the session ends (UTC).")
    csrf_token: str = Field(
        description=f"Send it as `{CSRF_HEADER}` with every POST, PUT, PATCH or DELETE made "
        "with the session cookie. Shown once: it is stored only as a hash."
    )


class TokenOut(BaseModel):
    """A bearer token for the citizen API, bound to the session it was issued from."""

    access_token: str = Field(description="Send it as `Authorization: Bearer <token>`.")
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds the token lasts.")
    expires_at: datetime = Field(description="When the token ends (UTC).")


class SessionOut(BaseModel):
    """Who is signed in; nothing personal but the name the citizen's own token carries."""

    model_config = ConfigDict(from_attributes=True)  # read from a CitizenSession

    citizen_id: str
    display_name: str = Field(description="Given names and usage (else birth) name.")
    acr: str = Field(description="Assurance level of the sign-in (`eidas1` to `eidas3`).")
    auth_time: datetime = Field(description="When the citizen authenticated (UTC).")
    expires_at: datetime = Field(description="When this session or token ends (UTC).")
    via: SessionKind = Field(description="How the request was authenticated.")


class SignedOutOut(BaseModel):
    """The session and every token issued from it are revoked."""

    status: Literal["signed_out"] = "signed_out"


_errors = documented_errors(
    {
        401: "No session, or an unknown, expired or revoked one (or a failed sign-in).",
        403: "CSRF token missing or wrong, or an assurance level that is not accepted.",
        502: "The identity provider cannot be reached or answered nonsense.",
        404: "Citizen sign-in is not configured on this server (no VERROU_OIDC_ISSUER).",
        422: "A query parameter is too long or repeated.",
        503: "The registry is unavailable.",
    }
)


CSRF_PARAMETER: dict[str, Any] = {
    "parameters": [
        {
            "name": CSRF_HEADER,
            "in": "header",
            "required": False,
            "description": "The session's CSRF token; required with the session cookie, not "
            "with a bearer token.",
            "schema": {"type": "string"},
        }
    ]
}


# --- plumbing --------------------------------------------------------------------------------


def _configured(request: Request) -> CitizenAuth:
    citizen = api_state(request.app).citizen
    if citizen is None:
        raise SignInNotConfigured(
            "citizen sign-in is not configured on this server (VERROU_OIDC_ISSUER)"
        )
    return citizen


def _set_session_cookie(
    response: Response, auth: CitizenAuth, token: str, lifetime: timedelta
) -> None:
    response.set_cookie(
        auth.cookies.session_name,
        token,
        max_age=max(0, int(lifetime.total_seconds())),
        path="/",
        secure=auth.cookies.secure,
        httponly=True,
        samesite="lax",
    )


def _clear_cookie(response: Response, auth: CitizenAuth, name: str, path: str) -> None:
    response.delete_cookie(
        name, path=path, secure=auth.cookies.secure, httponly=True, samesite="lax"
    )


def _session_token(
    auth: CitizenAuth, kind: SessionKind, sid: str, display_name: str, csrf: str | None = None
) -> str:
    document = {"s": sid, "n": display_name}
    if csrf is not None:  # a cookie session's: the portal's forms carry it back
        document["c"] = csrf
    return seal_token(auth.session_key, f"session:{kind}", document)


def safe_next(path: str | None) -> str | None:
    """``path`` when it is a page of this site to go to after sign-in (``/`` then no second
    slash or backslash, printable ASCII, bounded), else None: an open redirect is refused."""
    if (
        path is None
        or not path.startswith("/")
        or path.startswith(("//", "/\\"))
        or len(path) > 512
        or not all(33 <= ord(c) < 127 for c in path)
    ):
        return None
    return path


def _pending_sign_in(
    request: Request, auth: CitizenAuth, now: datetime
) -> tuple[PendingSignIn, str | None]:
    sealed = request.cookies.get(auth.cookies.sign_in_name)
    document = None if sealed is None else open_token(auth.session_key, _LOGIN_PURPOSE, sealed)
    if document is None:
        raise SignInFailed(
            "no sign-in in progress in this browser (or it was altered): start again at "
            "/v1/citizen/login"
        )
    started = document.get("at")
    if not isinstance(started, int) or not 0 <= now.timestamp() - started <= SIGN_IN_SECONDS:
        raise SignInFailed("the sign-in took too long: start again at /v1/citizen/login")
    then = document.get("nx")
    try:
        pending = PendingSignIn(
            state=str(document["st"]), nonce=str(document["no"]), code_verifier=str(document["cv"])
        )
    except KeyError:
        raise SignInFailed("the sign-in in progress is unreadable: start again") from None
    return pending, safe_next(then) if isinstance(then, str) else None


# --- the session of a request ----------------------------------------------------------------


def _presented(request: Request, auth: CitizenAuth) -> tuple[SessionKind, str]:
    """How the request authenticates: a bearer token wins over the cookie (it is not ambient:
    a browser never adds it on its own)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("send Authorization: Bearer <citizen token>")
        return "bearer", credentials.strip()
    cookie = request.cookies.get(auth.cookies.session_name)
    if cookie:
        return "cookie", cookie
    raise Unauthorized("not signed in: sign in at /v1/citizen/login")


async def citizen_session(request: Request) -> CitizenSession:
    """The citizen session of a request, or a refusal: 401 without a session or for an
    unknown, expired or revoked one; 403 for a state-changing request (POST, PUT, PATCH,
    DELETE) on the cookie session without its ``X-CSRF-Token``. A bearer token needs no CSRF
    token. 404 when citizen sign-in is not configured."""
    return await session_of(request, csrf=request.headers.get(CSRF_HEADER, ""))


async def session_of(request: Request, *, csrf: str) -> CitizenSession:
    """:func:`citizen_session` with the CSRF token taken from wherever the caller reads it
    (the header for the API, a form field for the portal's pages)."""
    auth = _configured(request)
    now = auth.clock()
    kind, token = _presented(request, auth)
    document = open_token(auth.session_key, f"session:{kind}", token)
    sid = None if document is None else document.get("s")
    display_name = None if document is None else document.get("n")
    refused = "the session is unknown, expired or revoked: sign in again"
    if not isinstance(sid, str) or not isinstance(display_name, str):
        raise Unauthorized(refused)
    sid_hash = secret_hash(sid)
    record = await in_store(request, lambda store: store.get_session(sid_hash))
    if record is None or record.kind != kind or not record.usable_at(now):
        raise Unauthorized(refused)
    if (
        kind == "cookie"
        and request.method in UNSAFE_METHODS
        and (
            record.csrf_hash is None or not hmac.compare_digest(secret_hash(csrf), record.csrf_hash)
        )
    ):
        raise CsrfRejected(
            f"this request needs the session's CSRF token ({CSRF_HEADER} header, or the "
            "portal form's field)"
        )
    return CitizenSession(**asdict(record), display_name=display_name, checked_at=now)


def cookie_csrf(request: Request) -> str | None:
    """The CSRF token sealed in the request's session cookie (for a page to put in its forms),
    or None without a readable cookie session. Proves nothing by itself: the session behind it
    is checked by :func:`session_of`."""
    auth = api_state(request.app).citizen
    cookie = None if auth is None else request.cookies.get(auth.cookies.session_name)
    if auth is None or not cookie:
        return None
    document = open_token(auth.session_key, "session:cookie", cookie)
    csrf = None if document is None else document.get("c")
    return csrf if isinstance(csrf, str) else None


def _acr_rank(acr: str) -> int:
    return ACR_LEVELS.index(acr) if acr in ACR_LEVELS else -1


def require_recent(session: CitizenSession, minutes: int, min_acr: str = "eidas2") -> None:
    """Refuse (403 ``reauthentication_required``) unless the citizen signed in within the
    last ``minutes`` minutes, at assurance level ``min_acr`` or above. For freezes' thaws and
    lifts, reports and anything else an impostor must not do with a stolen session."""
    if _acr_rank(session.acr) < _acr_rank(min_acr) or _acr_rank(min_acr) < 0:
        raise ReauthenticationRequired(
            f"this needs a sign-in at assurance level {min_acr} or above (FranceConnect+): "
            "sign in again"
        )
    if session.checked_at - session.auth_time > timedelta(minutes=minutes):
        raise ReauthenticationRequired(
            f"this needs a sign-in within the last {minutes} minutes: sign in again"
        )


async def recent_citizen_session(
    request: Request, session: Annotated[CitizenSession, Depends(citizen_session)]
) -> CitizenSession:
    """:func:`citizen_session`, then :func:`require_recent` with ``VERROU_REAUTH_MINUTES`` and
    eidas2: the dependency of sensitive routes."""
    require_recent(session, _configured(request).reauth_minutes)
    return session


CurrentSession = Annotated[CitizenSession, Depends(citizen_session)]


def _session_change(
    path: str, answer: type[BaseModel], summary: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """How a change of the session is declared: POST with the CSRF header, answering
    ``answer`` or 401, 403, 404 and 503."""
    return router.post(
        path,
        response_model=answer,
        responses=_errors(401, 403, 404, 503),
        summary=summary,
        openapi_extra=CSRF_PARAMETER,
    )


# --- routes ----------------------------------------------------------------------------------


@router.get(
    "/login",
    status_code=302,
    response_class=Response,
    responses={
        302: {"description": "To the identity provider's sign-in page."},
        **_errors(404, 502, 503),
    },
    summary="Sign in with FranceConnect",
)
async def login(
    request: Request,
    next: Annotated[str | None, Query(max_length=512)] = None,
    fresh: bool = False,
) -> Response:
    """Sends the browser to the identity provider. The sign-in in progress is kept in a sealed
    cookie scoped to the callback, for 10 minutes. With ``next`` (a path of this site), the
    callback sends the browser there instead of answering JSON; with ``fresh``, the provider
    is asked to authenticate the citizen again (``prompt=login``, ``max_age=0``), as a thaw or
    a lift needs."""
    auth = _configured(request)
    now = auth.clock()
    authorization = await auth.oidc.authorization_request(fresh=fresh)
    pending = authorization.pending
    document: dict[str, str | int] = {
        "st": pending.state,
        "no": pending.nonce,
        "cv": pending.code_verifier,
        "at": int(now.timestamp()),
    }
    then = safe_next(next)
    if then is not None:
        document["nx"] = then
    sealed = seal_token(auth.session_key, _LOGIN_PURPOSE, document)
    response = RedirectResponse(authorization.url, status_code=302)
    response.raw_headers.extend(HARDENING_HEADERS)
    response.set_cookie(
        auth.cookies.sign_in_name,
        sealed,
        max_age=SIGN_IN_SECONDS,
        path=auth.cookies.sign_in_path,
        secure=auth.cookies.secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get(
    "/callback",
    response_model=SignedInOut,
    responses=_errors(401, 403, 404, 422, 502, 503),
    summary="Where the identity provider sends the citizen back",
)
async def callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=_MAX_PARAMETER)] = None,
    state: Annotated[str | None, Query(max_length=_MAX_PARAMETER)] = None,
    error: Annotated[str | None, Query(max_length=_MAX_PARAMETER)] = None,
) -> Response:
    """Verifies the sign-in (state, code, ID token signature and claims, assurance level) and
    opens a session: its cookie is set, its CSRF token is in the answer."""
    auth = _configured(request)
    now = auth.clock()
    pending, then = _pending_sign_in(request, auth, now)
    if error is not None:
        said = error if error.isascii() and error.replace("_", "").isalpha() else "an error"
        raise SignInFailed(f"the identity provider did not sign you in ({said[:64]})")
    if not code or not state:
        raise SignInFailed("the identity provider's answer has no code or no state")
    claims = await auth.oidc.complete(pending, code=code, state=state, now=now)
    citizen_id = await asyncio.to_thread(auth.on_sign_in, claims, now)
    sid, csrf = new_secret(), new_secret()
    record = CitizenSessionRecord(
        sid_hash=secret_hash(sid),
        citizen_id=citizen_id,
        kind="cookie",
        acr=claims.acr,
        auth_time=claims.auth_time,
        created_at=now,
        expires_at=now + auth.session_lifetime,
        csrf_hash=secret_hash(csrf),
    )

    def open_session(store: SessionStore) -> None:
        store.purge_expired(now)
        store.create_session(record)

    await in_store(request, open_session)
    logger.info("citizen %s signed in (%s)", citizen_id, claims.acr)
    response: Response
    if then is None:
        response = json_answer(
            SignedInOut(citizen_id=citizen_id, expires_at=record.expires_at, csrf_token=csrf)
        )
    else:  # a page of the portal asked for the sign-in: back to it
        response = RedirectResponse(then, status_code=303)
        response.raw_headers.extend(HARDENING_HEADERS)
    _set_session_cookie(
        response,
        auth,
        _session_token(auth, "cookie", sid, claims.display_name, csrf),
        auth.session_lifetime,
    )
    _clear_cookie(response, auth, auth.cookies.sign_in_name, auth.cookies.sign_in_path)
    return response


@router.get(
    "/session",
    response_model=SessionOut,
    responses=_errors(401, 404, 503),
    summary="Who is signed in",
)
async def session(current: CurrentSession) -> Response:
    """The signed-in citizen's id, assurance level and times, with the display name their own
    token carries."""
    return json_answer(SessionOut.model_validate(current))


@_session_change("/token", TokenOut, "A bearer token from the cookie session")
async def token(request: Request, current: CurrentSession) -> Response:
    """A short-lived bearer token (``VERROU_CITIZEN_TOKEN_SECONDS``, never past the session)
    for the same citizen and sign-in. Only from the cookie session, with its CSRF token: a
    token does not make more tokens."""
    auth = _configured(request)
    if current.via != "cookie":
        raise Unauthorized("a bearer token is issued from the cookie session only")
    now = current.checked_at
    sid = new_secret()
    record = CitizenSessionRecord(
        sid_hash=secret_hash(sid),
        citizen_id=current.citizen_id,
        kind="bearer",
        acr=current.acr,
        auth_time=current.auth_time,
        created_at=now,
        expires_at=min(now + auth.token_lifetime, current.expires_at),
        issued_from=current.sid_hash,
    )
    await in_store(request, lambda store: store.create_session(record))
    return json_answer(
        TokenOut(
            access_token=_session_token(auth, "bearer", sid, current.display_name),
            expires_in=int((record.expires_at - now).total_seconds()),
            expires_at=record.expires_at,
        )
    )


@_session_change("/logout", SignedOutOut, "Sign out")
async def logout(request: Request, current: CurrentSession) -> Response:
    """Revokes the session (or the bearer token) of the request, and every token issued from
    it; clears the session cookie."""
    auth = _configured(request)
    await in_store(
        request, lambda store: store.revoke_session(current.sid_hash, at=current.checked_at)
    )
    response = json_answer(SignedOutOut())
    _clear_cookie(response, auth, auth.cookies.session_name, "/")
    return response


__all__ = [
    "CSRF_HEADER",
    "CitizenAuth",
    "CitizenSession",
    "CookiePolicy",
    "CurrentSession",
    "SignInHook",
    "citizen_auth_from",
    "citizen_session",
    "cookie_csrf",
    "pseudonymous_citizen_id",
    "recent_citizen_session",
    "require_recent",
    "router",
    "safe_next",
    "session_of",
]
