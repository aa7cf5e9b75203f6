"""Breach pages: the figures a breach's timeline gives, its severity (the worked examples of
:mod:`verrou.registry.breaches`), its data classes, and its pages read from the registry
(SQLite and PostgreSQL). The pages over the API and on the command line are tested in
``test_breach_pages_edges.py``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import LEAKED_PEOPLE, write_leak
from verrou.fingerprints import Fingerprinter
from verrou.identifiers import Kind
from verrou.ingest.pipeline import IngestOptions, ingest_dump
from verrou.registry.breaches import (
    DATA_CLASS_WEIGHTS,
    OTHER_CLASS_WEIGHT,
    UNKNOWN_DWELL_DAYS,
    BreachPage,
    breach_figures,
    breach_page,
    breach_pages,
    exposed_data_classes,
    severity_level,
)
from verrou.registry.hibp import classes_of
from verrou.registry.records import Breach, BreachSummary
from verrou.store import RegistryStore

INTRUSION = datetime(2026, 3, 2, tzinfo=UTC)
DETECTED = datetime(2026, 4, 8, tzinfo=UTC)
CONTAINED = datetime(2026, 4, 10, tzinfo=UTC)
DISCLOSED = datetime(2026, 4, 15, tzinfo=UTC)
FIRST_INGEST = datetime(2026, 4, 20, 12, tzinfo=UTC)

#: The 2026 ANTS breach as disclosed: 11.7 million people, person data only.
ANTS = Breach(
    name="ants-2026",
    title="France Titres (ANTS)",
    data_classes=("names", "birth_dates", "emails", "phones", "addresses"),
    intrusion_started_at=INTRUSION,
    detected_at=DETECTED,
    record_count=11_700_000,
)
#: A shop's newsletter list: email addresses only, detected the day after the intrusion.
NEWSLETTER = Breach(
    name="shop-newsletter",
    data_classes=("email",),
    intrusion_started_at=INTRUSION,
    detected_at=INTRUSION + timedelta(days=1),
    record_count=2_000,
)


def page_of(
    breach: Breach, fingerprints: dict[str, int] | None = None, runs: int = 1
) -> BreachPage:
    return breach_page(BreachSummary(breach, runs, fingerprints or {}))


def factor_points(page: BreachPage) -> dict[str, float]:
    return {factor.factor: factor.points for factor in page.severity.factors}


# --- figures ----------------------------------------------------------------------------------


def test_figures_of_a_whole_timeline() -> None:
    breach = replace(ANTS, contained_at=CONTAINED, disclosed_at=DISCLOSED)
    figures = breach_figures(breach, FIRST_INGEST)
    assert figures.dwell_days == 37.0
    assert (figures.exposure_window_days, figures.exposure_window_end) == (39.0, "contained")
    assert figures.disclosure_lag_days == 7.0
    assert (figures.ingest_lag_days, figures.ingest_lag_start) == (5.5, "disclosed")


def test_the_window_ends_at_detection_and_the_ingest_lag_counts_from_it_when_not_recorded() -> None:
    figures = breach_figures(ANTS, FIRST_INGEST)
    assert (figures.exposure_window_days, figures.exposure_window_end) == (37.0, "detected")
    assert figures.disclosure_lag_days is None
    assert (figures.ingest_lag_days, figures.ingest_lag_start) == (12.5, "detected")


@pytest.mark.parametrize(
    "timeline",
    [
        {},
        {"detected_at": DETECTED},
        {"intrusion_started_at": INTRUSION},
        {"disclosed_at": DISCLOSED},
        {"contained_at": CONTAINED},
    ],
)
def test_a_missing_date_gives_unknown_figures_not_zero(timeline: dict[str, datetime]) -> None:
    breach = Breach(name="b", **timeline)
    figures = breach_figures(breach, None)
    assert figures.dwell_days is None
    assert figures.exposure_window_days is None and figures.exposure_window_end is None
    assert figures.ingest_lag_days is None and figures.ingest_lag_start is None
    page = page_of(breach, runs=0)
    (dwell, *_) = page.severity.factors
    assert not dwell.known and dwell.basis.startswith("unknown (")
    assert page.severity.provisional


# --- severity: the worked examples ------------------------------------------------------------


def test_the_ants_breach_is_high() -> None:
    page = page_of(ANTS, {"person": 30_000_000, "email": 11_000_000, "phone": 4_000_000})
    assert factor_points(page) == {"dwell_time": 24.7, "data_classes": 25.0, "people": 20.0}
    assert page.severity.score == 69.7
    assert page.severity.level == "high"
    assert not page.severity.provisional
    classes = next(f for f in page.severity.factors if f.factor == "data_classes")
    assert classes.basis == (
        "Dates of birth 5 + Email addresses 4 + Names 5 + Phone numbers 5 + "
        "Physical addresses 6 = 25"
    )


def test_the_ants_breach_as_the_demo_declares_it_is_high_or_critical() -> None:
    declared = (
        *("civility", "family_name", "given_names", "birth_date", "email", "login"),
        *("account_id", "postal_address", "phone"),
    )
    page = page_of(replace(ANTS, data_classes=declared), {"person": 1, "account_id": 1})
    assert page.severity.level in ("high", "critical")


def test_a_small_email_only_breach_detected_in_a_day_is_low() -> None:
    page = page_of(NEWSLETTER, {"email": 2_000})
    assert factor_points(page) == {"dwell_time": 4.7, "data_classes": 4.0, "people": 9.4}
    assert page.severity.score == 18.1
    assert page.severity.level == "low"


def test_the_score_is_the_sum_of_the_factors_shown() -> None:
    for page in (page_of(ANTS), page_of(NEWSLETTER), page_of(Breach(name="b"), runs=0)):
        assert page.severity.score == round(sum(factor_points(page).values()), 1)
        assert all(0 <= f.points <= f.max_points for f in page.severity.factors)
    assert sum(f.max_points for f in page_of(ANTS).severity.factors) == 100


def test_an_unknown_dwell_time_scores_as_a_month_not_as_zero() -> None:
    unknown = page_of(replace(NEWSLETTER, intrusion_started_at=None), {"email": 2_000})
    same_day = page_of(replace(NEWSLETTER, detected_at=INTRUSION), {"email": 2_000})
    month = page_of(
        replace(NEWSLETTER, detected_at=INTRUSION + timedelta(days=UNKNOWN_DWELL_DAYS)),
        {"email": 2_000},
    )
    dwell = unknown.severity.factors[0]
    assert dwell.measure is None and not dwell.known
    assert dwell.basis == "unknown (no intrusion start recorded): scored as 30 days"
    assert dwell.points == month.severity.factors[0].points == 23.3
    assert unknown.severity.score > same_day.severity.score
    assert unknown.severity.provisional and not month.severity.provisional


def test_a_detection_before_the_intrusion_is_shown_and_scored_as_unknown() -> None:
    backwards = replace(NEWSLETTER, detected_at=INTRUSION - timedelta(days=2))
    page = page_of(backwards, {"email": 2_000})
    assert page.figures.dwell_days == -2.0
    dwell = page.severity.factors[0]
    assert not dwell.known and dwell.points == 23.3
    assert "before the intrusion's start" in dwell.basis


def test_a_breach_with_nothing_known_is_provisional_and_says_why() -> None:
    page = page_of(Breach(name="rumour"), runs=0)
    assert page.people is None
    bases = {factor.factor: factor.basis for factor in page.severity.factors}
    assert bases == {
        "dwell_time": "unknown (no intrusion start and no detection recorded): scored as 30 days",
        "data_classes": "unknown (no data class declared or fingerprinted): scored 0 until one is",
        "people": "unknown (no dump ingested yet): scored 0 until one is",
    }
    assert (page.severity.score, page.severity.level) == (23.3, "low")
    assert page.severity.provisional


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0.0, "low"),
        (24.9, "low"),
        (25.0, "moderate"),
        (49.9, "moderate"),
        (50.0, "high"),
        (74.9, "high"),
        (75.0, "critical"),
        (100.0, "critical"),
    ],
)
def test_levels_and_their_thresholds(score: float, level: str) -> None:
    assert severity_level(score) == level


def test_a_year_of_dwell_and_documents_with_an_iban_are_critical_and_capped() -> None:
    breach = replace(ANTS, detected_at=INTRUSION + timedelta(days=400), record_count=100_000)
    page = page_of(breach, {"nir": 1, "iban": 1, "passport": 1, "person": 1})
    points = factor_points(page)
    assert points["dwell_time"] == 40.0 and points["data_classes"] == 40.0
    classes = page.severity.factors[1]
    assert classes.measure is not None and classes.measure > 40
    assert classes.basis.endswith(", at most 40")
    assert page.severity.level == "critical"


# --- data classes -----------------------------------------------------------------------------


def test_documents_nir_and_iban_weigh_more_than_contact_details() -> None:
    (email,) = classes_of(Kind.EMAIL)
    weighty = (
        Kind.NIR,
        Kind.IBAN,
        Kind.CNI,
        Kind.PASSPORT,
        Kind.DRIVING_LICENCE,
        Kind.RESIDENCE_PERMIT,
    )
    for kind in weighty:
        (name,) = classes_of(kind)
        assert DATA_CLASS_WEIGHTS[name] > 4 * DATA_CLASS_WEIGHTS[email], kind
    for kind in (Kind.PHONE, Kind.POSTAL_ADDRESS, Kind.PERSON):
        assert all(DATA_CLASS_WEIGHTS[n] >= DATA_CLASS_WEIGHTS[email] for n in classes_of(kind))


def test_every_identifier_kind_has_a_weight_of_its_own() -> None:
    """A new kind must be weighed on purpose, not fall to the weight of any other class."""
    for kind in Kind:
        assert all(name in DATA_CLASS_WEIGHTS for name in classes_of(kind)), kind


def test_declared_and_fingerprinted_classes_merge_with_their_counts() -> None:
    classes = exposed_data_classes(
        ("e-mails", "Contract type"), {"email": 3, "person": 8, "iban": 0}
    )
    found = {c.name: (c.weight, c.declared, c.kinds, c.fingerprints) for c in classes}
    assert found == {
        "Contract type": (OTHER_CLASS_WEIGHT, True, (), None),
        "Dates of birth": (5, False, ("person",), 8),
        "Email addresses": (4, True, ("email",), 3),
        "Names": (5, False, ("person",), 8),
    }
    assert [c.name for c in classes] == sorted(found)


# --- from the registry ------------------------------------------------------------------------


def test_pages_hold_every_ingest_of_a_breach(
    leaked_store: RegistryStore, fingerprinter: Fingerprinter, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    again.mkdir()
    dump = write_leak(again / "leak.csv")
    dump.write_text(dump.read_text() + "Martin;Paul;1964-02-29;paul@example.net;0611111111\n")
    options = IngestOptions(breach="ants-2026", workers=0, report_dir=again / "reports")
    ingest_dump(leaked_store, fingerprinter, dump, options)
    (page,) = breach_pages(leaked_store)
    assert page.runs == 2 and len(page.ingested) == 2
    assert page.ingested[0] < page.ingested[1] == page.breach.ingested_at
    assert page.first_ingested_at == page.ingested[0]
    assert page.people == 2 * len(LEAKED_PEOPLE) + 1
    assert breach_pages(leaked_store, "ants-2026") == [page]
    assert breach_pages(leaked_store, "unknown") == []
