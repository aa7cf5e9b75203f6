"""Public breach pages: ``GET /v1/breaches`` and ``GET /v1/breaches/{name}``.

What verrou knows about each breach it holds, for anyone, without a key (as the HIBP breach
routes): its description and timeline, the figures derived from it (dwell time, exposure
window, disclosure and ingest lags), its severity with the factors that make it up, the data
classes it exposed with their counts, the people it holds and its ingest runs. The page is the
domain's (:func:`verrou.registry.breaches.breach_page`, where the severity formula is written);
this module shapes it. Nothing in an answer can identify a person: no fingerprint, no record
id, nothing about one person, only a breach's public facts and counts.

``verrou breaches --json`` and ``verrou breach show NAME --json`` print these same models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from verrou.api.responses import ApiResponse, json_answer
from verrou.api.schemas import BREACH_NAME_MAX, documented_errors
from verrou.api.state import in_store
from verrou.errors import NotFound
from verrou.registry.breaches import (
    LEVELS,
    BreachPage,
    FactorName,
    SeverityLevel,
    breach_pages,
)
from verrou.registry.records import TIMELINE_FIELDS

PREFIX: Final = "/v1/breaches"

_errors = documented_errors(
    {
        404: "The registry holds no breach of this name.",
        422: f"A breach name over {BREACH_NAME_MAX} characters.",
        503: "The registry is unreachable.",
    }
)

router = APIRouter(prefix=PREFIX, tags=["breaches"])


def _days(description: str) -> Any:
    """A field of days, described."""
    return Field(
        description=f"{description}, in days (negative when the dates recorded are out of "
        "order); null when a date is missing."
    )


class TimelineOut(BaseModel):
    """Every date verrou holds about a breach (UTC), null when not recorded."""

    intrusion_started_at: datetime | None = Field(description="When the intrusion started.")
    detected_at: datetime | None = Field(description="When the breach was detected.")
    contained_at: datetime | None = Field(description="When the intruders were shut out.")
    disclosed_at: datetime | None = Field(description="When the breach was made public.")
    ingested_at: datetime | None = Field(description="verrou's last ingest of a dump of it.")
    first_ingested_at: datetime | None = Field(description="verrou's first ingest of a dump.")
    recorded_at: datetime | None = Field(description="When verrou recorded the breach.")


class FiguresOut(BaseModel):
    """Durations derived from the timeline."""

    model_config = ConfigDict(from_attributes=True)

    dwell_days: float | None = _days("Dwell time: detected − intrusion started")
    exposure_window_days: float | None = _days(
        "Exposure window: intrusion started → contained, or → detected while the "
        "containment is not recorded"
    )
    disclosure_lag_days: float | None = _days("Disclosure lag: disclosed − detected")
    ingest_lag_days: float | None = _days(
        "Ingest lag: disclosed → first ingest, or detected → first ingest before a "
        "disclosure is recorded"
    )
    exposure_window_end: Literal["contained", "detected"] | None = Field(
        description="What ends the exposure window."
    )
    ingest_lag_start: Literal["disclosed", "detected"] | None = Field(
        description="What the ingest lag counts from."
    )


class DataClassOut(BaseModel):
    """A class of data the breach exposed: declared by the operator, fingerprinted, or both."""

    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="The class, in HIBP's words: `Email addresses`, `Names`, ...")
    weight: int = Field(description="Its weight in the severity's data-class factor.")
    declared: bool = Field(description="The operator declared the breach exposed it.")
    kinds: list[str] = Field(description="verrou's identifier kinds of this class it holds.")
    fingerprints: int | None = Field(
        description="Fingerprints of those kinds (a person may have several); null when the "
        "class was only declared."
    )


class SeverityFactorOut(BaseModel):
    """One factor of the severity: what was measured, the points it gives, and why."""

    model_config = ConfigDict(from_attributes=True)

    factor: FactorName
    known: bool = Field(description="False: the measure is unknown; `basis` says how it scores.")
    measure: float | None = Field(
        description="Dwell days, the sum of the data-class weights, or people; null if unknown."
    )
    points: float
    max_points: float
    basis: str = Field(description="How the points were reached, or what is missing.")


#: The levels' thresholds as the documentation states them, from their one declaration.
_LEVELS = ", ".join(f"{level} from {lowest:g}" for lowest, level in reversed(LEVELS))


class SeverityOut(BaseModel):
    """How severe the breach is, and why: the points of its dwell time, the data classes it
    exposed and the people it holds."""

    model_config = ConfigDict(from_attributes=True)

    score: float = Field(description="Out of 100: the sum of the factors' points.")
    level: SeverityLevel = Field(description=f"From the score: {_LEVELS}.")
    provisional: bool = Field(description="A factor is unknown: the score may change.")
    factors: list[SeverityFactorOut]


class EvidenceOut(BaseModel):
    """One fact an ingest found: ``canaries`` canaries of ``source``, planted at
    ``planted_at``, in the dump of a run recorded at ``recorded_at``."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    source: str
    canaries: int
    planted_at: datetime
    recorded_at: datetime


class BreachPageOut(BaseModel):
    """A breach's public page. Nothing in it identifies a person."""

    name: str = Field(description="The breach's name in verrou, e.g. `ants-2026`.")
    title: str | None
    source: str | None = Field(description="The breached organisation or service.")
    description: str | None = Field(description="Plain text, as the operator wrote it.")
    timeline: TimelineOut
    figures: FiguresOut
    severity: SeverityOut
    data_classes: list[DataClassOut] = Field(description="In HIBP's alphabetical order.")
    fingerprints_by_kind: dict[str, int] = Field(description="Fingerprints per identifier kind.")
    people: int | None = Field(
        description="People (records with an identifier) ingested; null before any ingest."
    )
    runs: int = Field(description="Complete ingest runs of the breach's dumps.")
    ingested: list[datetime] = Field(description="When each run completed, oldest first.")
    evidence: list[EvidenceOut] = Field(
        description="What ingests found in its dumps: canaries planted in a source, so the "
        "data came from that source and was taken on or after their planting date."
    )

    @classmethod
    def of(cls, page: BreachPage) -> BreachPageOut:
        breach = page.breach
        timeline = TimelineOut(
            **{name: getattr(breach, name) for name in TIMELINE_FIELDS},
            first_ingested_at=page.first_ingested_at,
            recorded_at=breach.created_at,
        )
        return cls(
            name=breach.name,
            title=breach.title,
            source=breach.source,
            description=breach.description,
            timeline=timeline,
            figures=FiguresOut.model_validate(page.figures),
            severity=SeverityOut.model_validate(page.severity),
            data_classes=[DataClassOut.model_validate(exposure) for exposure in page.data_classes],
            fingerprints_by_kind=dict(page.fingerprints_by_kind),
            people=page.people,
            runs=page.runs,
            ingested=list(page.ingested),
            evidence=[EvidenceOut.model_validate(item) for item in page.evidence],
        )


PAGES: Final = TypeAdapter(list[BreachPageOut])


async def _pages(request: Request, name: str | None = None) -> list[BreachPageOut]:
    """The pages of every breach, by name, or of the one named ``name`` (none if unknown)."""
    pages = await in_store(request, lambda store: breach_pages(store, name))
    return [BreachPageOut.of(page) for page in pages]


@router.get(
    "",
    response_model=list[BreachPageOut],
    responses=_errors(503),
    summary="Every breach's page",
)
async def every_breach_page(request: Request) -> Response:
    """Every breach the registry holds, by name (an empty list if none): timeline, figures,
    severity and its factors, data classes and counts."""
    return ApiResponse(PAGES.dump_json(await _pages(request)))


@router.get(
    "/{name}",
    response_model=BreachPageOut,
    responses=_errors(404, 422, 503),
    summary="One breach's page",
)
async def one_breach_page(
    request: Request,
    name: Annotated[
        str, Path(max_length=BREACH_NAME_MAX, description="The breach's name (`ants-2026`).")
    ],
) -> Response:
    """One breach's page, as in the list."""
    found = await _pages(request, name)
    if not found:
        # The name is not quoted: the message never echoes what the client sent.
        raise NotFound("the registry holds no breach of this name")
    return json_answer(found[0])


__all__ = ["PAGES", "PREFIX", "BreachPageOut", "router"]
