"""The API's own documentation (``/docs``, ``/openapi.json``), served from the package.

FastAPI's default page loads Swagger UI from a public CDN: every operator opening /docs told a
third party about our server and ran whatever script the CDN served. The Swagger UI files come
from the ``fastapi-offline`` distribution (current Swagger UI 5, which renders OpenAPI 3.1) and
are served here, under a Content-Security-Policy that allows nothing from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import Response

from verrou.api.responses import ApiResponse
from verrou.errors import NotFound

ASSETS_PATH: Final = "/docs/assets"

#: The files the page needs, by the name it asks for: (file in the distribution, media type).
_ASSETS: Final = {
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "favicon.png": ("favicon.png", "image/png"),
}


@cache
def _asset(name: str) -> bytes:
    return (files("fastapi_offline") / "static" / _ASSETS[name][0]).read_bytes()


def _page(title: str) -> tuple[bytes, str]:
    """The /docs page and its Content-Security-Policy (its one inline script allowed by hash)."""
    html = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{title} — docs",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        # Swagger UI's default validator badge is an image from validator.swagger.io that
        # carries our document's URL: no validator.
        swagger_ui_parameters={"validatorUrl": None},
    ).body
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in re.findall(rb"<script>(.*?)</script>", html, flags=re.DOTALL)
    ]
    policy = "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {' '.join(hashes)}",
            # Swagger UI sets style attributes from script; styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    return bytes(html), policy


def docs_router(title: str, openapi: Callable[[], dict[str, Any]]) -> APIRouter:
    """Routes of the documentation: the page, its assets and the OpenAPI document."""
    router = APIRouter(include_in_schema=False)
    page, policy = _page(title)

    @router.get("/openapi.json")
    async def openapi_document() -> Response:
        return ApiResponse(json.dumps(openapi()))

    @router.get("/docs")
    async def docs() -> Response:
        return ApiResponse(
            page,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": policy},
        )

    @router.get(ASSETS_PATH + "/{name}")
    async def asset(name: str, request: Request) -> Response:
        if name not in _ASSETS:
            raise NotFound("no such documentation file")
        return ApiResponse(_asset(name), media_type=_ASSETS[name][1])

    return router
