"""The one response class of the API: every answer, verdicts and errors alike, carries the
headers that keep it out of caches and stop browsers from sniffing its type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import TypeAdapter
from starlette.responses import Response

#: Sent with every API answer. A verdict is personal data about an applicant: no shared or
#: browser cache may keep it, and no browser may guess a type other than the declared one.
HARDENING_HEADERS: Final = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)


class ApiResponse(Response):
    """A JSON response with :data:`HARDENING_HEADERS`.

    The headers are appended already encoded, after Starlette built its own: passing them as
    ``headers=`` would encode them on every answer (about 0.7 µs, as much as the rest of the
    response object), and a middleware would cost a call per ASGI message.
    """

    media_type: str | None = "application/json"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        super().init_headers(headers)
        self.raw_headers.extend(HARDENING_HEADERS)


class EmptyResponse(ApiResponse):
    """An answer with no body, so with no content type (HIBP's "not found" is an empty 404),
    and the same :data:`HARDENING_HEADERS`."""

    media_type = None


#: One serializer per type of answer, built at its first answer.
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def json_answer(value: Any, status: int = 200) -> ApiResponse:
    """``value`` (a pydantic model or a dataclass, as its route's ``response_model``
    declares it) as the JSON answer."""
    kind = type(value)
    adapter = _ADAPTERS.get(kind) or _ADAPTERS.setdefault(kind, TypeAdapter(kind))
    return ApiResponse(adapter.dump_json(value), status_code=status)
