"""What one app keeps between requests, as one typed object on ``app.state.verrou``: the
serving side (store, recorder, caches) and, with citizen sign-in, what the citizen routes read
(:class:`CitizenAuth`, :class:`CitizenServices`), declared here so that the routes modules
import this state and it imports none of them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, TypeVar
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request

from verrou.api.readiness import Readiness
from verrou.api.runtime import KeyCache, Metrics, ProcessRecorder, RateLimiter, ThreadRecorder
from verrou.errors import StoreError
from verrou.fingerprints import Fingerprinter
from verrou.oidc import OidcClient, VerifiedClaims
from verrou.registry import citizens
from verrou.registry.checks import utc_now
from verrou.registry.citizens import SignedInIdentity
from verrou.registry.contacts import ContactKey
from verrou.registry.lookups import Directory, LookupService, directory
from verrou.registry.sessions import SessionKey
from verrou.settings import Settings
from verrou.signing import SigningKey
from verrou.store.protocols import RegistryStore

_T = TypeVar("_T")

#: A check recorder, in a child process or on a thread (``VERROU_RECORDER``).
Recorder = ProcessRecorder | ThreadRecorder


# --- citizens -------------------------------------------------------------------------------

#: What a verified sign-in becomes: the citizen's id. Called in a worker thread, once per
#: sign-in, with the verified identity and the sign-in's time. The registry's own function
#: (the citizen domain, :meth:`CitizenServices.sign_in_hook`) replaces the default,
#: :func:`~verrou.api.citizen_auth.pseudonymous_citizen_id`.
SignInHook = Callable[[VerifiedClaims, datetime], str]

CALLBACK_PATH: Final = "/v1/citizen/callback"


@dataclass(frozen=True)
class CookiePolicy:
    """Names, paths and the Secure flag of the citizen cookies, from ``VERROU_PUBLIC_URL``.

    Over https the session cookie is ``__Host-`` (Secure, Path=/, no Domain: no subdomain can
    set or overwrite it) and the sign-in cookie ``__Secure-``.
    """

    secure: bool
    session_name: str
    sign_in_name: str
    sign_in_path: str

    @classmethod
    def for_public_url(cls, public_url: str) -> CookiePolicy:
        parts = urlsplit(public_url)
        secure = parts.scheme == "https"
        return cls(
            secure=secure,
            session_name="__Host-verrou_session" if secure else "verrou_session",
            sign_in_name="__Secure-verrou_sign_in" if secure else "verrou_sign_in",
            sign_in_path=parts.path.rstrip("/") + CALLBACK_PATH,
        )


@dataclass(frozen=True)
class CitizenAuth:
    """What the citizen sign-in routes need, built once by
    :func:`~verrou.api.citizen_auth.citizen_auth_from`."""

    oidc: OidcClient
    session_key: SessionKey
    on_sign_in: SignInHook
    cookies: CookiePolicy
    session_lifetime: timedelta
    token_lifetime: timedelta
    reauth_minutes: int
    clock: Callable[[], datetime] = utc_now


@dataclass(frozen=True)
class CitizenServices:
    """What the citizen routes need beyond the session: the fingerprint key (to derive keys
    as checks do), the contact key (to seal emails and notes), the signing key (reports),
    where email codes are sent from, and the public URL documents point to."""

    fingerprinter: Fingerprinter
    contact_key: ContactKey
    signing_key: SigningKey
    smtp_url: str | None
    sender: str
    public_url: str
    attestation_validity: timedelta

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        fingerprinter: Fingerprinter,
        contact_key: ContactKey,
        signing_key: SigningKey,
    ) -> CitizenServices:
        return cls(
            fingerprinter,
            contact_key,
            signing_key,
            settings.smtp_url,
            settings.alert_sender,
            settings.public_url,
            timedelta(days=settings.attestation_days),
        )

    def sign_in_hook(self, app: Starlette) -> Callable[[SignedInIdentity, datetime], str]:
        """The sign-in hook of :mod:`verrou.api.citizen_auth`: the registry records the
        citizen and binds the person keys of their verified claims, on the request side's
        store connection."""

        def sign_in(claims: SignedInIdentity, now: datetime) -> str:
            serving = api_state(app).live()
            with serving.store_lock:
                citizen = citizens.sign_in(
                    serving.store,
                    self.fingerprinter,
                    claims,
                    now=now,
                    contact_key=self.contact_key,
                )
            return citizen.id

        return sign_in


# --- the app -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Serving:
    """What the lifespan opened: the request side's store connection (used from worker
    threads, one at a time under ``store_lock``), the recorder, the API-key cache and
    ``/readyz``'s cache."""

    store: RegistryStore
    store_lock: threading.Lock
    runner: Recorder
    keys: KeyCache
    readiness: Readiness


@dataclass
class ApiState:
    """The application state: what ``create_app`` builds, and what its lifespan opens."""

    settings: Settings
    jwks: dict[str, list[dict[str, str]]]
    metrics: Metrics
    limiter: RateLimiter
    #: Set while the app is serving (between its lifespan's start and stop).
    serving: Serving | None = field(default=None)
    #: Citizen sign-in; None without VERROU_OIDC_ISSUER (its routes then answer 503).
    citizen: CitizenAuth | None = field(default=None)
    #: What the citizen's own routes need (keys, mail); None without citizen sign-in.
    citizen_services: CitizenServices | None = field(default=None)
    #: The private exposure check; None without an OPRF key file (its routes then answer 404).
    lookup: LookupState | None = field(default=None)

    def live(self) -> Serving:
        """What a check needs; :class:`StoreError` (503) before start-up or after shutdown."""
        if self.serving is None:
            raise StoreError("the check recorder is not running")
        return self.serving


async def in_store(request: Request, work: Callable[[RegistryStore], _T]) -> _T:
    """``work`` on the request side's store connection, off the event loop (a slow database
    stalls no other request), under its lock (one thread at a time on the connection)."""
    serving = api_state(request.app).live()

    def run() -> _T:
        with serving.store_lock:
            return work(serving.store)

    return await asyncio.to_thread(run)


# --- the private exposure check --------------------------------------------------------------

#: Seconds the lookup directory is reused before it is read again (an ingest that completes
#: changes it; a client that asks with the old bucket size gets a 409 and asks again).
DIRECTORY_SECONDS: Final = 5.0


@dataclass
class LookupState:
    """The service with its directory, read again after :data:`DIRECTORY_SECONDS`."""

    service: LookupService
    _directory: Directory | None = field(default=None)
    _read_at: float = field(default=0.0)

    async def current(self, request: Request) -> Directory:
        now = time.monotonic()
        if self._directory is None or now - self._read_at > DIRECTORY_SECONDS:
            key = self.service.key
            self._directory = await in_store(request, lambda store: directory(store, key))
            self._read_at = now
        return self._directory


def api_state(app: Starlette) -> ApiState:
    """The typed state of an app made by :func:`verrou.api.create_app`."""
    state: ApiState = app.state.verrou
    return state
