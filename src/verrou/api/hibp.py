"""Have I Been Pwned API v3-compatible endpoints (``/api/v3/...``), so that an existing HIBP
client pointed at ``http://HOST:PORT/api/v3/`` works unchanged.

* ``GET breaches`` (``?domain=``), ``GET breach/{name}``, ``GET latestbreach`` and
  ``GET dataclasses``: public, as on HIBP; verrou's breaches in HIBP's shape
  (:class:`HibpBreach`, mapped by :mod:`verrou.registry.hibp`).
* ``GET breachedaccount/{account}``: for a relying party, by its API key in HIBP's
  ``hibp-api-key`` header. Each search *is* a check of ``Applicant(email=account)``, run through
  the recorder as ``POST /v1/checks`` runs one: rate-limited, in the audit log, in the citizen's
  "who checked me", alerting the owner. Its breaches are those the signed answer lists.

Every route needs a ``User-Agent`` (403 without, as HIBP). Errors keep the API's one JSON shape
(HIBP clients read the status and ``Retry-After``); "not found" is an empty 404, as on HIBP.
The searched account is never in an answer, an error or a log line: the access log (opt-in,
``verrou serve --access-log``) shows its path with the account replaced
(:class:`AccountRedaction`).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field, TypeAdapter

from verrou.api.responses import ApiResponse, EmptyResponse
from verrou.api.routes import party_of_key, run_checks
from verrou.api.schemas import BREACH_NAME_MAX, EMAIL_MAX, documented_errors
from verrou.api.state import in_store
from verrou.errors import InvalidAccount, InvalidApplicant, Unauthorized, UserAgentRequired
from verrou.registry import hibp
from verrou.registry.policy import Applicant
from verrou.registry.records import BreachSummary

PREFIX: Final = "/api/v3"

_errors = documented_errors(
    {
        400: "The account is not an email address (the message says why, never what it was).",
        401: "Missing, unknown or revoked API key in the hibp-api-key header.",
        403: "No User-Agent header: name your application in it, as HIBP requires.",
        422: "A parameter of the wrong type or too long (a truncateResponse that is not a "
        f"boolean, a breach name over {BREACH_NAME_MAX} characters).",
        429: "Rate limit reached; retry after the Retry-After header's seconds.",
        503: "The registry is unreachable: no answer (searches fail closed, as checks).",
    }
)


def _not_found(description: str) -> dict[int | str, dict[str, str]]:
    return {404: {"description": description}}


async def require_user_agent(
    user_agent: Annotated[
        str | None, Header(description="Your application's name, required as on HIBP.")
    ] = None,
) -> None:
    """Refuse a request that names no client (403), as HIBP does."""
    if user_agent is None or not user_agent.strip():
        raise UserAgentRequired("send a User-Agent header naming your application")


router = APIRouter(prefix=PREFIX, tags=["hibp"], dependencies=[Depends(require_user_agent)])

#: HIBP's API-key header, declared as a security scheme of the OpenAPI document. Not refused by
#: FastAPI when missing: :func:`breached_account` answers 401 in the API's error shape.
HIBP_API_KEY = APIKeyHeader(
    name="hibp-api-key",
    scheme_name="hibpApiKey",
    description="A relying party's API key (from `verrou rp create`), as `hibp-api-key: vrp_...`.",
    auto_error=False,
)


class HibpBreach(BaseModel):
    """A breach as HIBP v3 describes one, with HIBP's field names exactly."""

    Name: str = Field(description="The breach's name in verrou: what `breach/{name}` takes.")
    Title: str
    Domain: str = Field(description="The breached site, when verrou's source is a domain name.")
    BreachDate: date = Field(
        description="When the data was taken: the intrusion's start, else its detection, "
        "else its disclosure, else the dump's ingest (else when verrou recorded the breach)."
    )
    AddedDate: datetime = Field(description="When verrou first recorded the breach (UTC).")
    ModifiedDate: datetime = Field(description="The breach's last ingest in verrou (UTC).")
    PwnCount: int = Field(description="Records of the breach's dumps that verrou ingested.")
    Description: str = Field(description="HTML.")
    LogoPath: str = Field(default="", description="Always empty: verrou keeps no logos.")
    DataClasses: list[str] = Field(description="What the breach exposed, in HIBP's names.")
    IsVerified: bool = Field(description="Always true: verrou ingested the dump itself.")
    # verrou has no such breaches: always false.
    IsFabricated: bool = False
    IsSensitive: bool = False
    IsRetired: bool = False
    IsSpamList: bool = False
    IsMalware: bool = False
    IsSubscriptionFree: bool = False
    IsStealerLog: bool = False

    @classmethod
    def of(cls, summary: BreachSummary) -> HibpBreach:
        """A breach of the registry, with the identifier kinds its fingerprints are of."""
        breach = summary.breach
        return cls(
            Name=breach.name,
            Title=breach.title or breach.name,
            Domain=hibp.domain_of(breach.source),
            BreachDate=hibp.breach_date(breach),
            AddedDate=hibp.added_at(breach),
            ModifiedDate=hibp.modified_at(breach),
            PwnCount=breach.record_count,
            Description=hibp.description_html(breach),
            DataClasses=hibp.data_classes(breach.data_classes, summary.fingerprints_by_kind),
            IsVerified=hibp.IS_VERIFIED,
        )


class HibpBreachName(BaseModel):
    """A breach in a truncated account search: its name only."""

    Name: str


_BREACHES = TypeAdapter(list[HibpBreach])
_NAMES = TypeAdapter(list[HibpBreachName])
_STRINGS = TypeAdapter(list[str])

DomainFilter = Annotated[
    str | None,
    Query(max_length=253, description="Only the breaches of this domain (e.g. ants.gouv.fr)."),
]


async def _registry_breaches(request: Request) -> list[HibpBreach]:
    """Every breach of the registry, in HIBP's shape, by name."""
    summaries = await in_store(request, lambda store: store.list_breaches())
    return [HibpBreach.of(summary) for summary in summaries]


def _on_domain(breaches: list[HibpBreach], domain: str | None) -> list[HibpBreach]:
    """The breaches of ``domain`` (all of them without one), whatever its case."""
    wanted = (domain or "").strip().lower()
    return [breach for breach in breaches if breach.Domain == wanted] if wanted else breaches


@router.get(
    "/breaches",
    response_model=list[HibpBreach],
    responses=_errors(403, 422, 503),
    summary="All breaches (HIBP v3)",
)
async def breaches(request: Request, domain: DomainFilter = None) -> Response:
    """Every breach the registry holds, or those of one domain (an empty list if none)."""
    found = _on_domain(await _registry_breaches(request), domain)
    return ApiResponse(_BREACHES.dump_json(found))


@router.get(
    "/breach/{name}",
    response_model=HibpBreach,
    responses={**_errors(403, 422, 503), **_not_found("No breach of this name (empty body).")},
    summary="One breach by name (HIBP v3)",
)
async def breach(
    request: Request, name: Annotated[str, Path(max_length=BREACH_NAME_MAX)]
) -> Response:
    found = next((b for b in await _registry_breaches(request) if b.Name == name), None)
    if found is None:
        return EmptyResponse(status_code=404)
    return ApiResponse(found.model_dump_json())


@router.get(
    "/latestbreach",
    response_model=HibpBreach,
    responses={**_errors(403, 503), **_not_found("The registry holds no breach (empty body).")},
    summary="The breach added last (HIBP v3)",
)
async def latest_breach(request: Request) -> Response:
    """The breach verrou recorded last (greatest ``AddedDate``)."""
    found = await _registry_breaches(request)
    if not found:
        return EmptyResponse(status_code=404)
    latest = max(found, key=lambda breach: (breach.AddedDate, breach.Name))
    return ApiResponse(latest.model_dump_json())


@router.get(
    "/dataclasses",
    response_model=list[str],
    responses=_errors(403, 503),
    summary="Every data class, alphabetically (HIBP v3)",
)
async def data_classes(request: Request) -> Response:
    """The HIBP data classes verrou maps its identifier kinds and breach data classes to
    (:data:`verrou.registry.hibp.DATA_CLASSES`), and any other its breaches list."""
    found = await _registry_breaches(request)
    names = hibp.known_data_classes(name for breach in found for name in breach.DataClasses)
    return ApiResponse(_STRINGS.dump_json(names))


@router.get(
    "/breachedaccount/{account}",
    response_model=list[HibpBreach] | list[HibpBreachName],
    responses={
        200: {"description": "The breaches holding the account: names only when truncated."},
        **_errors(400, 401, 403, 422, 429, 503),
        **_not_found("The account is in no breach (of this domain): empty body."),
    },
    summary="The breaches of an email address (HIBP v3); a check",
)
async def breached_account(
    request: Request,
    account: Annotated[str, Path(description="An email address.")],
    api_key: Annotated[str | None, Security(HIBP_API_KEY)],
    truncate: Annotated[
        bool, Query(alias="truncateResponse", description="Only the breaches' names.")
    ] = True,
    include_unverified: Annotated[
        bool,
        Query(alias="includeUnverified", description="Accepted; every verrou breach is verified."),
    ] = False,
    domain: DomainFilter = None,
) -> Response:
    """The breaches holding this email address. The search is a check of the address by your
    relying party, as ``POST /v1/checks`` with only ``email``: it counts against your rate
    limit, is audited, and its owner sees it and is alerted."""
    del include_unverified  # nothing to include: verrou holds only verified breaches
    if api_key is None or not api_key.strip():
        raise Unauthorized("missing API key: send the hibp-api-key header")
    party = await party_of_key(request, api_key.strip())
    if len(account) > EMAIL_MAX:
        raise InvalidAccount(f"the account is not an email address: over {EMAIL_MAX} characters")
    try:
        (verdict,) = await run_checks(request, "hibp", party, [Applicant(email=account)])
    except InvalidApplicant as invalid:
        reasons = "; ".join(sorted(set(invalid.fields.values())))
        raise InvalidAccount(f"the account is not an email address: {reasons}") from None
    names = hibp.exposed_in(verdict)
    if names and (domain or not truncate):  # the breaches' domains or details are needed
        held = set(names)
        registry = await _registry_breaches(request)
        found = _on_domain([b for b in registry if b.Name in held], domain)
        if found and not truncate:
            return ApiResponse(_BREACHES.dump_json(found))
        names = [b.Name for b in found]
    if not names:
        return EmptyResponse(status_code=404)
    return ApiResponse(_NAMES.dump_json([HibpBreachName(Name=name) for name in names]))


# --- the access log ---------------------------------------------------------------------------

#: The searched account in a request line, wherever the path puts it (any case, any prefix:
#: even a mistyped path that gets a 404 must not log the address).
_ACCOUNT_IN_PATH = re.compile(r"(breachedaccount/)[^?\s]*", re.IGNORECASE)


class AccountRedaction(logging.Filter):
    """Replaces the account of an HIBP account search in uvicorn's access log lines (whose
    arguments are client, method, path, HTTP version and status) by ``[account]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            redacted = _ACCOUNT_IN_PATH.sub(r"\1[account]", args[2])
            record.args = (*args[:2], redacted, *args[3:])
        return True


def redact_access_log(logger: logging.Logger | None = None) -> None:
    """Install :class:`AccountRedaction` on uvicorn's access log (once)."""
    access = logger or logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, AccountRedaction) for existing in access.filters):
        access.addFilter(AccountRedaction())


__all__ = [
    "HIBP_API_KEY",
    "PREFIX",
    "AccountRedaction",
    "HibpBreach",
    "HibpBreachName",
    "redact_access_log",
    "router",
]
