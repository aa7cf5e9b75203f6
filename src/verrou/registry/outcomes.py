"""The outcome that matters: how often leaked identities are used, month after month.

For each breach, by relying-party sector and by day, the registry keeps counts of what
happened to the identities it exposed (:data:`MEASURES`): checks that touched one of them, the
``step_up`` and ``deny`` verdicts among those, identity-theft reports filed by people it
exposed, and checks on its canaries. The counts are written in the transaction that records
the check or the report (:class:`Tally`, summed per key by :func:`summed`), so a curve is read
from a few hundred rows, never from the audit log.

A curve (:func:`curve`) groups the days by month or by week since the breach's disclosure, or
since its first ingest when no disclosure date is known (:func:`origin_of`): month 0 is the
first month after that day; checks from before it (fraud ahead of the disclosure) fall in
negative periods, kept apart rather than dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final, Literal, TypeAlias

from verrou.registry.records import MEASURES, Breach, Tally

#: The sector of a report that names no relying party of verrou.
NO_SECTOR: Final = "none"
#: How many periods the curve shows after its origin by default: the eighteen months that follow
#: a breach, when its data is sold and used.
HORIZON_MONTHS: Final = 18

Period: TypeAlias = Literal["month", "week"]
PERIODS: Final[tuple[Period, ...]] = ("month", "week")


def check_tallies(
    breaches: Iterable[Breach], sector: str, verdict: str, *, canary: bool, at: datetime
) -> tuple[Tally, ...]:
    """What one check adds: a check for each breach that exposed one of its keys, with its
    verdict, and a canary hit when it touched a canary."""
    day = at.date()
    return tuple(
        Tally(
            breach.id,
            sector,
            day,
            checks=1,
            step_up=int(verdict == "step_up"),
            deny=int(verdict == "deny"),
            canary_hits=int(canary),
        )
        for breach in breaches
    )


def report_tallies(
    breach_ids: Iterable[int], sectors: Iterable[str], at: datetime
) -> tuple[Tally, ...]:
    """What one identity-theft report adds: a report for each breach that exposed its filer,
    under each sector it names (its disputed checks' and declared frauds' relying parties), or
    :data:`NO_SECTOR` when it names none."""
    named = sorted(set(sectors)) or [NO_SECTOR]
    return tuple(
        Tally(breach_id, sector, at.date(), reports=1)
        for breach_id in sorted(set(breach_ids))
        for sector in named
    )


def summed(tallies: Iterable[Tally]) -> list[Tally]:
    """One tally per (breach, sector, day), the counts added: what a transaction upserts."""
    by_key: dict[tuple[int, str, date], Tally] = {}
    for tally in tallies:
        known = by_key.get(tally.key)
        by_key[tally.key] = tally if known is None else _plus(known, tally)
    return [by_key[key] for key in sorted(by_key)]


def _plus(a: Tally, b: Tally) -> Tally:
    return replace(a, **{name: getattr(a, name) + getattr(b, name) for name in MEASURES})


def origin_of(breach: Breach) -> tuple[date, str] | None:
    """The day a breach's curve starts from, and what it is: its disclosure, else its first
    ingest; None when neither is known (a breach recorded but never ingested)."""
    if breach.disclosed_at is not None:
        return breach.disclosed_at.date(), "disclosure"
    if breach.ingested_at is not None:
        return breach.ingested_at.date(), "ingest"
    return None


def period_of(origin: date, day: date, by: Period) -> int:
    """The period ``day`` falls in: whole months (calendar) or weeks since ``origin``; negative
    before it."""
    if by == "week":
        return (day - origin).days // 7
    months = (day.year - origin.year) * 12 + day.month - origin.month
    return months - 1 if day.day < origin.day else months


@dataclass(frozen=True)
class CurvePoint:
    """One period of a curve: its number, the sector (or ``all``) and the counts."""

    period: int
    sector: str
    checks: int = 0
    step_up: int = 0
    deny: int = 0
    reports: int = 0
    canary_hits: int = 0

    def counts(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in MEASURES)


@dataclass(frozen=True)
class Curve:
    """A breach's outcome curve: from ``origin`` (``origin_kind``: disclosure or ingest), by
    ``by``, one point per period of ``periods`` and sector, plus the ``all`` sectors total;
    ``before`` sums what came before the origin, ``after`` what came past the horizon."""

    breach: str
    origin: date
    origin_kind: str
    by: Period
    periods: range
    sectors: tuple[str, ...]
    points: tuple[CurvePoint, ...]
    before: CurvePoint
    after: CurvePoint

    def total(self, period: int) -> CurvePoint:
        """The ``all`` point of one period."""
        return next(p for p in self.points if p.period == period and p.sector == ALL)


#: The sector name of the all-sectors points.
ALL: Final = "all"


def curve(
    breach: Breach,
    tallies: Sequence[Tally],
    *,
    by: Period = "month",
    months: int = HORIZON_MONTHS,
    origin: tuple[date, str] | None = None,
) -> Curve | None:
    """The curve of ``breach`` from its tallies over ``months`` months (``by`` week: as many
    weeks as those months hold); None when the breach has no origin (:func:`origin_of`)."""
    start = origin or origin_of(breach)
    if start is None:
        return None
    day0, kind = start
    count = months if by == "month" else -(-months * 365 // 12 // 7)
    periods = range(count)
    sectors = tuple(sorted({t.sector for t in tallies}))
    sums: dict[tuple[int, str], list[int]] = {}
    before = [0] * len(MEASURES)
    after = [0] * len(MEASURES)
    for tally in tallies:
        period = period_of(day0, tally.day, by)
        if period < 0:
            _add(before, tally.counts())
        elif period >= count:
            _add(after, tally.counts())
        else:
            for sector in (tally.sector, ALL):
                _add(sums.setdefault((period, sector), [0] * len(MEASURES)), tally.counts())
    points = tuple(
        CurvePoint(period, sector, *sums.get((period, sector), [0] * len(MEASURES)))
        for period in periods
        for sector in (*sectors, ALL)
    )
    return Curve(
        breach.name,
        day0,
        kind,
        by,
        periods,
        sectors,
        points,
        CurvePoint(-1, ALL, *before),
        CurvePoint(count, ALL, *after),
    )


def _add(into: list[int], counts: Sequence[int]) -> None:
    for index, value in enumerate(counts):
        into[index] += value
