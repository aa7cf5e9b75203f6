"""Breach pages: what a breach's timeline and contents say about it, and how severe it is.

:func:`breach_page` turns a breach as the store lists it (a
:class:`~verrou.registry.records.BreachSummary`) into a :class:`BreachPage`, and
:func:`breach_pages` reads them from the registry, for the public ``GET /v1/breaches``
(:mod:`verrou.api.breaches`), ``verrou breaches`` and ``verrou breach show`` to shape. No web
framework, and of the store only its protocol. A page holds a breach's public facts and counts
only, never a fingerprint, a record or anything else about one person.

Figures
-------

In days (to the hundredth), each None when a date it needs is not recorded:

* **dwell time**: detected − intrusion started (how long the intruders were inside);
* **exposure window**: contained − intrusion started, or detected − intrusion started while the
  containment is not recorded (``exposure_window_end`` says which);
* **disclosure lag**: disclosed − detected;
* **ingest lag**: first ingest − disclosed, or first ingest − detected before a disclosure is
  recorded (``ingest_lag_start`` says which).

A figure comes out negative when the dates recorded are out of order: it is shown as it is, so
that the operator sees the mistake.

Severity
--------

A score out of 100, the sum of three factors, each shown with its points and how they were
reached, and a level from the score:

================  =========  ====================================================================
factor            at most    points
================  =========  ====================================================================
dwell time        40         40 × ln(1 + d) / ln(366), d the dwell time in days (a year or more
                             gives 40)
data classes      40         the sum of the weights of the classes exposed, at most 40
people            20         20 × log10(n) / 7, n the people (records) ingested (10 million or
                             more give 20)
================  =========  ====================================================================

Data class weights (the classes are HIBP's names, :data:`verrou.registry.hibp.DATA_CLASSES`,
for both the identifier kinds fingerprinted and the classes the operator declared): 20 for what
opens accounts or moves money (social security numbers, government issued IDs, passport numbers,
driver's licenses, bank account numbers); 10 passwords; 6 physical addresses; 5 names, dates of
birth, places of birth, phone numbers; 4 email addresses; 2 usernames, IP addresses; 1 any
other class (:data:`DATA_CLASS_WEIGHTS`).

Levels (:data:`LEVELS`): **low** below 25, **moderate** from 25, **high** from 50,
**critical** from 75. Each factor's points are rounded to a tenth; the score is their sum.

Unknown factors are never scored as nothing happened. A dwell time that is not known (no
intrusion start or no detection recorded, or a detection before the intrusion's start) is
*unknown*, and scored as :data:`UNKNOWN_DWELL_DAYS` (30) days, 23.3 points: a missing date
never makes a breach look milder than a month-long intrusion. A breach with no dump ingested has
an unknown number of people, and no data class declared or fingerprinted means unknown classes:
both score 0 until they are known, since nothing can be assumed about them. Any unknown factor
makes the severity *provisional*, and the factor says what is missing.

Worked examples (pinned by ``tests/test_breach_pages.py``):

* the 2026 ANTS breach: dwell 37 days, 40 × ln 38 / ln 366 = 24.7; names 5 + dates of birth 5 +
  email addresses 4 + phone numbers 5 + physical addresses 6 = 25; 11.7 million people,
  20 × log10(11,700,000) / 7 = 20.2, so 20; score 69.7, **high**;
* a shop's newsletter list: 2,000 email addresses, detected a day after the intrusion:
  40 × ln 2 / ln 366 = 4.7; email addresses 4; 20 × log10(2,000) / 7 = 9.4; score 18.1, **low**.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal, Protocol

from verrou.registry import hibp
from verrou.registry.records import Breach, BreachEvidence, BreachSummary, days_between
from verrou.store.protocols import BreachEvidenceStore, BreachStore

SeverityLevel = Literal["low", "moderate", "high", "critical"]
FactorName = Literal["dwell_time", "data_classes", "people"]
WindowEnd = Literal["contained", "detected"]
LagStart = Literal["disclosed", "detected"]

#: The lowest score of each level, highest first.
LEVELS: Final[tuple[tuple[float, SeverityLevel], ...]] = (
    (75.0, "critical"),
    (50.0, "high"),
    (25.0, "moderate"),
    (0.0, "low"),
)

DWELL_MAX_POINTS: Final = 40.0
#: Dwell time that gives every dwell point: a year.
DWELL_FULL_DAYS: Final = 365.0
#: What an unknown dwell time is scored as (see the module's docstring).
UNKNOWN_DWELL_DAYS: Final = 30.0

DATA_CLASSES_MAX_POINTS: Final = 40.0
#: Weight of each HIBP data class; a class not listed weighs :data:`OTHER_CLASS_WEIGHT`.
DATA_CLASS_WEIGHTS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "Social security numbers": 20,
        "Government issued IDs": 20,
        "Passport numbers": 20,
        "Driver's licenses": 20,
        "Bank account numbers": 20,
        "Passwords": 10,
        "Physical addresses": 6,
        "Names": 5,
        "Dates of birth": 5,
        "Places of birth": 5,
        "Phone numbers": 5,
        "Email addresses": 4,
        "Usernames": 2,
        "IP addresses": 2,
    }
)
OTHER_CLASS_WEIGHT: Final = 1

PEOPLE_MAX_POINTS: Final = 20.0
#: People that give every people point: 10 million (10^7).
PEOPLE_FULL_DECADES: Final = 7


@dataclass(frozen=True)
class BreachFigures:
    """Durations derived from a breach's timeline, in days; None when a date is missing."""

    dwell_days: float | None
    exposure_window_days: float | None
    #: What ends the exposure window: its containment, else its detection.
    exposure_window_end: WindowEnd | None
    disclosure_lag_days: float | None
    ingest_lag_days: float | None
    #: What the ingest lag counts from: the disclosure, else the detection.
    ingest_lag_start: LagStart | None


@dataclass(frozen=True)
class DataClassExposure:
    """One class of data a breach exposed, with its weight in the severity."""

    name: str
    weight: int
    #: The operator declared it (``verrou breach NAME --data-class ...``).
    declared: bool
    #: The identifier kinds of the breach's fingerprints that are of this class.
    kinds: tuple[str, ...]
    #: Fingerprints of those kinds; None when the class was only declared.
    fingerprints: int | None


@dataclass(frozen=True)
class SeverityFactor:
    """One factor of a severity: what was measured, the points it gave, and why."""

    factor: FactorName
    #: Days of dwell, the sum of the weights, or people; None when unknown.
    measure: float | None
    points: float
    max_points: float
    #: How the points were reached, or what is missing and how that is scored.
    basis: str

    @property
    def known(self) -> bool:
        """False when the measure is unknown (``basis`` says what is missing)."""
        return self.measure is not None


@dataclass(frozen=True)
class Severity:
    """A breach's severity: its score out of 100, its level, and the factors that add up to it."""

    score: float
    level: SeverityLevel
    factors: tuple[SeverityFactor, ...]

    @property
    def provisional(self) -> bool:
        """True while a factor is unknown: the score may change when it is recorded."""
        return not all(factor.known for factor in self.factors)


@dataclass(frozen=True)
class BreachPage:
    """What verrou publishes about one breach: nothing in it identifies a person."""

    breach: Breach
    #: People (records with an identifier) ingested; None before any ingest.
    people: int | None
    runs: int
    #: When each complete ingest run finished, oldest first.
    ingested: tuple[datetime, ...]
    first_ingested_at: datetime | None
    fingerprints_by_kind: Mapping[str, int]
    data_classes: tuple[DataClassExposure, ...]
    figures: BreachFigures
    severity: Severity
    #: What ingests found in its dumps (canaries of a source: where and after when the data
    #: was taken), oldest first.
    evidence: tuple[BreachEvidence, ...] = ()


def _days(start: datetime | None, end: datetime | None) -> float | None:
    days = days_between(start, end)
    return None if days is None else round(days, 2)


def breach_figures(breach: Breach, first_ingested_at: datetime | None) -> BreachFigures:
    """The figures of ``breach``'s timeline (see the module's docstring)."""
    started, detected = breach.intrusion_started_at, breach.detected_at
    contained, disclosed = breach.contained_at, breach.disclosed_at
    window = _days(started, contained or detected)
    lag = _days(disclosed or detected, first_ingested_at)
    window_end: WindowEnd = "detected" if contained is None else "contained"
    lag_start: LagStart = "detected" if disclosed is None else "disclosed"
    return BreachFigures(
        dwell_days=_days(started, detected),
        exposure_window_days=window,
        exposure_window_end=None if window is None else window_end,
        disclosure_lag_days=_days(detected, disclosed),
        ingest_lag_days=lag,
        ingest_lag_start=None if lag is None else lag_start,
    )


def exposed_data_classes(
    declared: tuple[str, ...], fingerprints_by_kind: Mapping[str, int]
) -> tuple[DataClassExposure, ...]:
    """The data classes of a breach, in HIBP's alphabetical order: those its operator declared
    and those of the identifier kinds it holds fingerprints of, each once, with its weight."""
    declared_names = {name for term in declared for name in hibp.classes_of(term)}
    kinds_of: dict[str, list[str]] = {}
    for kind, count in sorted(fingerprints_by_kind.items()):
        if count > 0:
            for name in hibp.classes_of(kind):
                kinds_of.setdefault(name, []).append(kind)
    return tuple(
        DataClassExposure(
            name=name,
            weight=DATA_CLASS_WEIGHTS.get(name, OTHER_CLASS_WEIGHT),
            declared=name in declared_names,
            kinds=tuple(kinds_of.get(name, ())),
            fingerprints=(
                sum(fingerprints_by_kind[kind] for kind in kinds_of[name])
                if name in kinds_of
                else None
            ),
        )
        for name in hibp.sorted_data_classes([*declared_names, *kinds_of])
    )


def _points(value: float) -> float:
    return round(float(value), 1)


def _dwell_factor(breach: Breach) -> SeverityFactor:
    days = breach.dwell_days
    if days is not None and days >= 0:
        points = _points(DWELL_MAX_POINTS * _dwell_share(days))
        basis = f"{days:.1f} days between the intrusion's start and its detection"
        return SeverityFactor("dwell_time", round(days, 2), points, DWELL_MAX_POINTS, basis)
    if days is not None:
        missing = "the detection is recorded before the intrusion's start"
    elif breach.intrusion_started_at is None and breach.detected_at is None:
        missing = "no intrusion start and no detection recorded"
    elif breach.intrusion_started_at is None:
        missing = "no intrusion start recorded"
    else:
        missing = "no detection recorded"
    points = _points(DWELL_MAX_POINTS * _dwell_share(UNKNOWN_DWELL_DAYS))
    basis = f"unknown ({missing}): scored as {UNKNOWN_DWELL_DAYS:.0f} days"
    return SeverityFactor("dwell_time", None, points, DWELL_MAX_POINTS, basis)


def _dwell_share(days: float) -> float:
    return min(1.0, math.log1p(days) / math.log1p(DWELL_FULL_DAYS))


def _data_classes_factor(classes: tuple[DataClassExposure, ...]) -> SeverityFactor:
    if not classes:
        basis = "unknown (no data class declared or fingerprinted): scored 0 until one is"
        return SeverityFactor("data_classes", None, 0.0, DATA_CLASSES_MAX_POINTS, basis)
    weights = sum(exposure.weight for exposure in classes)
    points = _points(min(DATA_CLASSES_MAX_POINTS, weights))
    terms = " + ".join(f"{exposure.name} {exposure.weight}" for exposure in classes)
    capped = f", at most {DATA_CLASSES_MAX_POINTS:.0f}" if weights > points else ""
    basis = f"{terms} = {weights}{capped}"
    return SeverityFactor("data_classes", weights, points, DATA_CLASSES_MAX_POINTS, basis)


def _people_factor(people: int | None) -> SeverityFactor:
    if people is None:
        basis = "unknown (no dump ingested yet): scored 0 until one is"
        return SeverityFactor("people", None, 0.0, PEOPLE_MAX_POINTS, basis)
    share = min(1.0, math.log10(max(people, 1)) / PEOPLE_FULL_DECADES)
    points = _points(PEOPLE_MAX_POINTS * share)
    basis = f"{people:,} people (records) ingested"
    return SeverityFactor("people", people, points, PEOPLE_MAX_POINTS, basis)


def severity_level(score: float) -> SeverityLevel:
    """The level of a score (:data:`LEVELS`)."""
    return next(level for lowest, level in LEVELS if score >= lowest)


def breach_severity(
    breach: Breach, classes: tuple[DataClassExposure, ...], people: int | None
) -> Severity:
    """The severity of ``breach`` given what it exposed and how many people (see the module's
    docstring for the formula)."""
    factors = (_dwell_factor(breach), _data_classes_factor(classes), _people_factor(people))
    score = _points(sum(factor.points for factor in factors))
    return Severity(score=score, level=severity_level(score), factors=factors)


def breach_page(summary: BreachSummary, evidence: Sequence[BreachEvidence] = ()) -> BreachPage:
    """The public page of a breach as the store lists it, with the evidence its ingests
    recorded."""
    breach = summary.breach
    first_ingest = summary.ingested[0] if summary.ingested else breach.ingested_at
    classes = exposed_data_classes(breach.data_classes, summary.fingerprints_by_kind)
    people = breach.record_count if summary.runs else None
    return BreachPage(
        breach=breach,
        people=people,
        runs=summary.runs,
        ingested=summary.ingested,
        first_ingested_at=first_ingest,
        fingerprints_by_kind=dict(summary.fingerprints_by_kind),
        data_classes=classes,
        figures=breach_figures(breach, first_ingest),
        severity=breach_severity(breach, classes, people),
        evidence=tuple(sorted(evidence, key=lambda e: (e.planted_at, e.source))),
    )


class _PageStore(BreachStore, BreachEvidenceStore, Protocol):
    """What a breach page reads: the breaches, and what their ingests found."""


def breach_pages(store: _PageStore, name: str | None = None) -> list[BreachPage]:
    """The page of every breach of the registry, by name, or of the one named ``name`` (an
    empty list when the registry holds none of that name)."""
    return [
        breach_page(summary, store.breach_evidence(summary.breach.id))
        for summary in store.list_breaches()
        if name is None or summary.breach.name == name
    ]


__all__ = [
    "DATA_CLASS_WEIGHTS",
    "LEVELS",
    "UNKNOWN_DWELL_DAYS",
    "BreachFigures",
    "BreachPage",
    "DataClassExposure",
    "Severity",
    "SeverityFactor",
    "breach_figures",
    "breach_page",
    "breach_pages",
    "breach_severity",
    "exposed_data_classes",
    "severity_level",
]
