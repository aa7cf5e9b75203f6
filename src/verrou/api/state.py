"""What one app keeps between requests, as one typed object on ``app.state.verrou``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request

from verrou.api.readiness import Readiness
from verrou.api.runtime import KeyCache, Metrics, ProcessRecorder, RateLimiter, ThreadRecorder
from verrou.errors import StoreError
from verrou.settings import Settings
from verrou.store.protocols import RegistryStore

if TYPE_CHECKING:  # the citizen routes read this state: imported for the annotation only
    from verrou.api.citizen_auth import CitizenAuth
    from verrou.api.citizens import CitizenServices

_T = TypeVar("_T")

#: A check recorder, in a child process or on a thread (``VERROU_RECORDER``).
Recorder = ProcessRecorder | ThreadRecorder


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


def api_state(app: Starlette) -> ApiState:
    """The typed state of an app made by :func:`verrou.api.create_app`."""
    state: ApiState = app.state.verrou
    return state
