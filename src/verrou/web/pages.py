"""How the portal answers: pages rendered from Jinja2 templates in the request's language,
redirects, and the headers every portal answer carries.

Every page is personal or may be: none is cached (``no-store``). The Content-Security-Policy
allows scripts, styles, images and requests from this origin only, no inline script or style,
no frame around a page (``frame-ancestors 'none'``), forms posted here only. Forms that change
anything carry a CSRF token (:mod:`verrou.web.forms`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from verrou.web import labels
from verrou.web.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGE_NAMES,
    LANGUAGES,
    Formats,
    Language,
    language_of,
    translations,
)

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
#: Sent with every portal answer (pages, redirects, static files).
PORTAL_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
_NO_STORE: Final = (b"cache-control", b"no-store")


def harden(response: Response, *, cache: bool = False) -> Response:
    """``response`` with :data:`PORTAL_HEADERS` (and ``no-store`` unless ``cache``)."""
    response.raw_headers.extend(PORTAL_HEADERS)
    if not cache:
        response.raw_headers.append(_NO_STORE)
    return response


def secure_cookies(request: Request) -> bool:
    """Whether cookies must be Secure: under TLS, as the browser sees the site
    (``VERROU_PUBLIC_URL`` is https, e.g. behind a TLS proxy) or as the request came."""
    public_url: str = request.app.state.verrou.settings.public_url
    return public_url.startswith("https://") or request.url.scheme == "https"


def request_language(request: Request) -> Language:
    """The language of ``request`` (:func:`verrou.web.i18n.language_of`), read once."""
    cached = request.scope.get("verrou.language")
    if cached is None:
        cached = language_of(
            request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language")
        )
        request.scope["verrou.language"] = cached
    language: Language = cached
    return language


@functools.cache
def environment(language: Language) -> Environment:
    """The templates as ``language`` renders them: its catalog installed, its formats as
    filters (``datetime``, ``date``, ``number``)."""
    env = Environment(
        loader=PackageLoader("verrou.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    formats = Formats(language)
    env.filters.update(
        datetime=formats.datetime,
        date=formats.date,
        number=formats.number,
    )
    env.globals.update(
        language=language, languages=LANGUAGES, language_names=LANGUAGE_NAMES, labels=labels
    )
    return env


def gettext(request: Request, message: str, **values: Any) -> str:
    """``message`` translated into the request's language, with ``values`` put in."""
    text = translations(request_language(request)).gettext(message)
    return text % values if values else text


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    """``template`` rendered for ``request`` (its language; ``request``, ``path`` and
    ``signed_in`` available to every template), with the portal's headers."""
    env = environment(request_language(request))
    page = env.get_template(template).render(
        {
            "request": request,
            "path": request.url.path,
            "query": request.url.query,
            "citizen": request.scope.get("verrou.citizen"),
            "operator": request.scope.get("verrou.operator"),
            "csrf": request.scope.get("verrou.csrf", ""),
            "flash": request.query_params.get("done", ""),
            **(context or {}),
        }
    )
    return harden(HTMLResponse(page, status_code=status))


def coming_back(request: Request) -> str:
    """The page to come back to after a sign-in: this one, with its query when it was shown
    by GET (``/me/report?check=...`` keeps its check); a POST comes back to its form's page."""
    if request.method == "GET" and request.url.query:
        return f"{request.url.path}?{request.url.query}"
    return request.url.path


def redirect(url: str, *, status: int = 303) -> Response:
    """A redirect (303: the browser follows with GET, so a reload never posts again)."""
    return harden(RedirectResponse(url, status_code=status))
