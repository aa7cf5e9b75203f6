"""The web portal, in French and English, for citizens and operators: server-rendered pages
(Jinja2) over the same domain and store as the API, on the same app and origin.

:func:`portal_app` is the API of :func:`verrou.api.create_app` with the portal mounted on it
(what ``verrou serve`` and ``verrou demo`` run); :func:`mount_portal` mounts it on an app.

- ``/``: what verrou is, and the private exposure check (in the browser: the value is blinded
  before it leaves it);
- ``/me...``: the signed-in citizen (FranceConnect): exposures, who checked me, freeze, open
  for one organisation, lift, contacts, reports (:mod:`verrou.web.citizen_pages`);
- ``/operator...``: operators, signed in apart (:mod:`verrou.web.operator_auth`): breaches,
  ingest runs, canaries and incidents, outcome curves, relying parties, conflicts
  (:mod:`verrou.web.operator_pages`);
- ``/static/``: the style sheet and scripts, from the package (nothing from a CDN).

Every page works without JavaScript but the private check. Pages carry a strict
Content-Security-Policy (:mod:`verrou.web.pages`), every change a CSRF token
(:mod:`verrou.web.forms`).
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from verrou.api import create_app
from verrou.errors import VerrouError
from verrou.settings import Settings
from verrou.web import citizen_pages, home, operator_auth, operator_pages
from verrou.web.errors import error_page, not_found_page
from verrou.web.pages import harden

#: Paths of the API (answered in JSON): everything else is the portal's.
API_PREFIXES = ("/v1/", "/api/", "/.well-known/", "/docs", "/openapi", "/healthz", "/readyz")


#: The sign-in's own steps, which a browser walks through: a failed one is shown as a page to
#: a browser (it asks for text/html), and stays JSON for a script.
SIGN_IN_PATHS = ("/v1/citizen/login", "/v1/citizen/callback")


def is_page(request: Request) -> bool:
    """Whether ``request`` is for a portal page (answered in HTML) rather than the API."""
    path = request.url.path
    if path in SIGN_IN_PATHS:
        return "text/html" in request.headers.get("accept", "")
    return not path.startswith(API_PREFIXES) and path != "/metrics"


class _Static(StaticFiles):
    """The package's static files, with the portal's headers (revalidated on every use)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        harden(response, cache=True)
        response.headers["cache-control"] = "no-cache"
        return response


def mount_portal(app: FastAPI) -> FastAPI:
    """Mount the portal's pages and static files on ``app`` (made by ``create_app``); its
    errors on pages become pages, the API's stay JSON."""
    app.mount("/static", _Static(packages=[("verrou.web", "static")]), name="static")
    app.include_router(home.router)
    app.include_router(citizen_pages.router)
    app.include_router(operator_auth.router)
    app.include_router(operator_pages.router)
    api_error = app.exception_handlers[VerrouError]
    api_http_error = app.exception_handlers[StarletteHTTPException]

    async def verrou_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, VerrouError) and is_page(request):
            return error_page(request, exc)
        answer = api_error(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and is_page(request):
            return not_found_page(request, exc.status_code)
        answer = api_http_error(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(VerrouError, verrou_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    return app


def portal_app(settings: Settings, **keys: Any) -> FastAPI:
    """:func:`verrou.api.create_app` (``keys`` as it takes them) with the portal mounted."""
    return mount_portal(create_app(settings, **keys))


__all__ = ["is_page", "mount_portal", "portal_app"]
