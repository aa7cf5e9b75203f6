"""The outcome that matters: how often leaked identities are used, month after month.

For each breach, by relying-party sector and by day, the registry keeps counts of what
happened to the identities it exposed (:data:`MEASURES`): checks that touched one of them, the
``step_up`` and ``deny`` verdicts among those, identity-theft reports filed by people it
exposed, and checks on its canaries. The counts are written in the transaction that records
the check or the report (:class:`Tally`, summed per key by :func:`summed`), so a curve is read
from a few hundred rows, never from the audit log.

A curve (:func:`curve`) groups the days by month or by week since the breach's disclosure, or
since its first ingest when no disclosure date is known (:func:`origin_of`): month 0 is the
first month after that day; what came before it (fraud ahead of the disclosure) and past the
horizon is summed apart (:data:`BEFORE`, :data:`AFTER`), never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, Protocol, TypeAlias

from verrou.errors import NotFound
from verrou.registry.records import Breach, Counts, Tally

if TYPE_CHECKING:  # the store's protocols import this module's records' module, not it
    from verrou.store.protocols import BreachStore, OutcomeStore

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
        by_key[tally.key] = tally if known is None else known.plus(tally)
    return [by_key[key] for key in sorted(by_key)]


class Origin(NamedTuple):
    """The day a curve starts from, and what it is: ``disclosure`` or ``ingest``."""

    day: date
    kind: str


def origin_of(breach: Breach, first_ingest: datetime | None = None) -> Origin | None:
    """The day a breach's curve starts from: its disclosure, else its first ingest
    (``first_ingest``, else the breach's last); None when neither is known (a breach recorded
    but never ingested)."""
    if breach.disclosed_at is not None:
        return Origin(breach.disclosed_at.date(), "disclosure")
    ingested = first_ingest or breach.ingested_at
    if ingested is not None:
        return Origin(ingested.date(), "ingest")
    return None


def period_of(origin: date, day: date, by: Period) -> int:
    """The period ``day`` falls in: whole months (calendar) or weeks since ``origin``; negative
    before it."""
    if by == "week":
        return (day - origin).days // 7
    months = (day.year - origin.year) * 12 + day.month - origin.month
    return months - 1 if day.day < origin.day else months


#: The sector name of the all-sectors points.
ALL: Final = "all"
#: The periods that sum what came before the origin and what came past the horizon.
BEFORE: Final = -1
AFTER: Final = -2


@dataclass(frozen=True)
class Curve:
    """A breach's outcome curve from ``origin``, by ``by``, over ``periods``: ``sums`` holds
    the counts per (period, sector), every sector and :data:`ALL`, with what came before the
    origin in period :data:`BEFORE` and past the horizon in :data:`AFTER`."""

    breach: str
    origin: Origin
    by: Period
    periods: range
    sums: Mapping[tuple[int, str], Counts]

    @property
    def sectors(self) -> tuple[str, ...]:
        return tuple(sorted({sector for _, sector in self.sums} - {ALL}))

    def at(self, period: int, sector: str = ALL) -> Counts:
        """The counts of one period (or :data:`BEFORE`, :data:`AFTER`) and sector."""
        return self.sums.get((period, sector), _NONE)

    @property
    def before(self) -> Counts:
        return self.at(BEFORE)

    @property
    def after(self) -> Counts:
        return self.at(AFTER)


_NONE: Final = Counts()


def curve(
    breach: Breach,
    tallies: Sequence[Tally],
    *,
    by: Period = "month",
    months: int = HORIZON_MONTHS,
    origin: Origin | None = None,
) -> Curve | None:
    """The curve of ``breach`` from its tallies over ``months`` months (``by`` week: as many
    weeks as those months hold), from ``origin`` (default :func:`origin_of` the breach); None
    when the breach has no origin."""
    start = origin or origin_of(breach)
    if start is None:
        return None
    count = months if by == "month" else -(-months * 365 // 12 // 7)
    sums: dict[tuple[int, str], Counts] = {}
    for tally in tallies:
        period = period_of(start.day, tally.day, by)
        if period < 0 or period >= count:
            keys = [(BEFORE if period < 0 else AFTER, ALL)]
        else:
            keys = [(period, tally.sector), (period, ALL)]
        for key in keys:
            sums[key] = sums.get(key, _NONE).plus(tally)
    return Curve(breach.name, start, by, range(count), sums)


if TYPE_CHECKING:

    class _CurveStore(BreachStore, OutcomeStore, Protocol):
        """What a breach's curve reads: the breaches, and their outcome counts."""


def breach_curve(
    store: _CurveStore, name: str, *, by: Period = "month", months: int = HORIZON_MONTHS
) -> tuple[Breach, Curve | None]:
    """The breach named ``name`` and its curve (:func:`curve`, from its disclosure or its
    first ingest; None when it has neither); :class:`NotFound` for no breach of that name."""
    summary = next((s for s in store.list_breaches() if s.breach.name == name), None)
    if summary is None:
        raise NotFound(f"no breach {name}: see `verrou breaches`")
    found = summary.breach
    origin = origin_of(found, summary.ingested[0] if summary.ingested else None)
    tallies = store.outcome_tallies(found.id)
    return found, curve(found, tallies, by=by, months=months, origin=origin)
