"""The outcome curve: counts kept in the checks' and reports' own transactions (SQLite and
PostgreSQL), read back as the curve of a breach after a known sequence of events, and
``verrou metrics`` in every format, its plot a real PNG of the expected size."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PIL import Image

from test_citizens import JEAN, applicant_jean, check
from verrou.fingerprints import Fingerprinter
from verrou.registry import citizens, filing
from verrou.registry.outcomes import (
    ALL,
    NO_SECTOR,
    Origin,
    curve,
    origin_of,
    period_of,
    report_tallies,
    summed,
)
from verrou.registry.policy import Applicant, IdentityKey, applicant_keys
from verrou.registry.records import BreachInfo, Tally
from verrou.registry.subjects import place_freeze
from verrou.signing import SigningKey
from verrou.store import RegistryStore

DISCLOSED = datetime(2026, 4, 15, 12, 0, tzinfo=UTC)
ELODIE = Applicant(family_name="de La Fontaine", given_names="Élodie", birth_date="1975-11-02")
MAI = Applicant(family_name="Nguyễn", given_names="Thị Mai", birth_date="1992-03-30")
NOBODY = Applicant(family_name="Personne", given_names="Paul", birth_date="1990-01-01")


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)


# --- periods and curves -----------------------------------------------------------------------


def test_periods_are_whole_calendar_months_or_weeks_since_the_origin() -> None:
    origin = date(2026, 4, 15)
    assert period_of(origin, date(2026, 4, 15), "month") == 0
    assert period_of(origin, date(2026, 5, 14), "month") == 0
    assert period_of(origin, date(2026, 5, 15), "month") == 1
    assert period_of(origin, date(2027, 10, 14), "month") == 17
    assert period_of(origin, date(2026, 4, 14), "month") == -1
    assert period_of(origin, date(2026, 4, 21), "week") == 0
    assert period_of(origin, date(2026, 4, 22), "week") == 1
    assert period_of(origin, date(2026, 4, 8), "week") == -1


def test_tallies_sum_per_key_and_reports_without_a_party_have_no_sector() -> None:
    day = date(2026, 5, 1)
    tallies = [Tally(1, "bank", day, checks=1, step_up=1), Tally(1, "bank", day, checks=1, deny=1)]
    tallies += [Tally(1, "telco", day, checks=1)]
    assert summed(tallies) == [
        Tally(1, "bank", day, checks=2, step_up=1, deny=1),
        Tally(1, "telco", day, checks=1),
    ]
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    assert report_tallies([2, 1, 2], [], moment) == (
        Tally(1, NO_SECTOR, day, reports=1),
        Tally(2, NO_SECTOR, day, reports=1),
    )
    assert len(report_tallies([1], ["bank", "telco", "bank"], moment)) == 2


# --- the counts, kept by the checks and the reports ------------------------------------------


@pytest.fixture
def disclosed(leaked_store: RegistryStore) -> RegistryStore:
    leaked_store.ensure_breach(
        BreachInfo(name="ants-2026", disclosed_at=DISCLOSED, title="France Titres (ANTS)")
    )
    leaked_store.create_relying_party("Banque Exemple", "bank", at=DISCLOSED)
    leaked_store.create_relying_party("Télécom Exemple", "telco", at=DISCLOSED)
    return leaked_store


def _keys(applicant: Applicant, fingerprinter: Fingerprinter) -> list[IdentityKey]:
    return applicant_keys(applicant, fingerprinter, today=date(2026, 12, 1))


def test_the_curve_counts_a_known_sequence_of_checks_reports_and_canary_hits(
    disclosed: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    store = disclosed
    # Before the disclosure: a bank checks Jean (a leaked person).
    assert (
        check(store, "Banque Exemple", applicant_jean(), fingerprinter, at("2026-04-10"))
        == "step_up"
    )
    # Month 0: the bank checks Jean again; someone unknown is checked (no breach: not counted).
    check(store, "Banque Exemple", applicant_jean(), fingerprinter, at("2026-04-20"))
    assert check(store, "Banque Exemple", NOBODY, fingerprinter, at("2026-04-20")) == "clear"
    # Month 1: the telco checks Élodie; Jean files a report disputing the bank's check.
    check(store, "Télécom Exemple", ELODIE, fingerprinter, at("2026-05-16"))
    jean = citizens.sign_in(store, fingerprinter, JEAN, now=at("2026-05-20"))
    bank_check = next(
        c for c in citizens.who_checked(store, jean.id) if c.at.date() == date(2026, 4, 20)
    )
    filing.file_report(
        store,
        SigningKey.generate(),
        jean.id,
        disputed_check_ids=[bank_check.check_id],
        declared=[],
        now=at("2026-05-20"),
    )
    # Month 2: Mai froze her identity; the bank's check is denied. An operator plants a canary
    # on Élodie's person keys; the telco's check trips it (deny, and a canary hit).
    place_freeze(
        store,
        _keys(MAI, fingerprinter),
        placed_by="owner",
        reason="owner_request",
        actor="test",
        now=at("2026-06-01"),
    )
    assert check(store, "Banque Exemple", MAI, fingerprinter, at("2026-06-20")) == "deny"
    place_freeze(
        store,
        _keys(ELODIE, fingerprinter),
        placed_by="operator",
        reason="canary",
        actor="test",
        now=at("2026-06-21"),
        canary=True,
    )
    assert check(store, "Télécom Exemple", ELODIE, fingerprinter, at("2026-07-01")) == "deny"
    # Past eighteen months: one more check of Jean, counted after the horizon (denied: his
    # report froze his identity).
    check(store, "Banque Exemple", applicant_jean(), fingerprinter, at("2027-12-01"))

    breach = store.get_breach("ants-2026")
    assert breach is not None and origin_of(breach) == Origin(DISCLOSED.date(), "disclosure")
    shown = curve(breach, store.outcome_tallies(breach.id))
    assert shown is not None and shown.sectors == ("bank", "telco") and len(shown.periods) == 18
    assert shown.before.counts() == (1, 1, 0, 0, 0)
    assert shown.after.counts() == (1, 0, 1, 0, 0)
    # (checks, step_up, deny, reports, canary_hits) per month, all sectors.
    expected = {0: (1, 1, 0, 0, 0), 1: (1, 1, 0, 1, 0), 2: (2, 0, 2, 0, 1)}
    for period in shown.periods:
        assert shown.at(period).counts() == expected.get(period, (0, 0, 0, 0, 0)), period
    assert shown.at(1, "bank").counts() == (0, 0, 0, 1, 0)  # the report, under the bank
    assert shown.at(1, "telco").counts() == (1, 1, 0, 0, 0)
    assert shown.at(2, "telco").counts() == (1, 0, 1, 0, 1)
    # By week: the same events, finer.
    weekly = curve(breach, store.outcome_tallies(breach.id), by="week")
    assert weekly is not None and len(weekly.periods) == 79
    assert sum(weekly.at(p).checks for p in weekly.periods) == 4
    # Counts only: the totals /metrics exports, per breach and sector.
    totals = {(t.breach_id, t.sector): t.counts() for t in store.outcome_totals()}
    assert totals == {(breach.id, "bank"): (4, 2, 2, 1, 0), (breach.id, "telco"): (2, 1, 1, 0, 1)}


def test_a_breach_without_disclosure_starts_at_its_ingest(
    leaked_store: RegistryStore,
) -> None:
    breach = leaked_store.get_breach("ants-2026")
    assert breach is not None and breach.disclosed_at is None
    origin = origin_of(breach)
    assert origin is not None and origin.kind == "ingest"
    first = datetime(2026, 5, 1, tzinfo=UTC)
    assert origin_of(breach, first) == Origin(first.date(), "ingest")
    shown = curve(breach, [])
    assert shown is not None and not shown.sums and not any(shown.at(0).counts())


# --- verrou metrics ---------------------------------------------------------------------------


def test_verrou_metrics_prints_every_format_and_draws_the_plot(
    tmp_path: Path, fingerprinter: Fingerprinter
) -> None:
    from click.testing import CliRunner

    from conftest import ingest_leak
    from verrou.cli import main
    from verrou.plots import PLOT_DPI, PLOT_INCHES
    from verrou.store import open_store

    database = tmp_path / "registry.sqlite3"
    store = open_store(f"sqlite:///{database}")
    try:
        ingest_leak(store, fingerprinter, tmp_path)
        store.ensure_breach(BreachInfo(name="ants-2026", disclosed_at=DISCLOSED))
        store.create_relying_party("Banque Exemple", "bank", at=DISCLOSED)
        for day in ("2026-04-20", "2026-05-20", "2026-05-21"):
            check(store, "Banque Exemple", applicant_jean(), fingerprinter, at(day))
    finally:
        store.close()
    runner = CliRunner()
    base = ["--database-url", f"sqlite:///{database}", "metrics", "--breach", "ants-2026"]

    table = runner.invoke(main, base, catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert "since its disclosure (2026-04-15)" in table.output

    as_json = json.loads(runner.invoke(main, [*base, "--format", "json"]).output)
    totals = [p for p in as_json["points"] if p["sector"] == ALL]
    assert [p["checks"] for p in totals[:3]] == [1, 2, 0]
    assert as_json["origin_kind"] == "disclosure" and as_json["periods"] == 18

    as_csv = runner.invoke(main, [*base, "--format", "csv", "--by", "week"]).output.splitlines()
    assert as_csv[0] == "breach,by,period,sector,checks,step_up,deny,reports,canary_hits"
    assert as_csv[1].startswith("ants-2026,week,0,bank,1,1,0,0,0")

    for suffix in (".png", ".svg"):
        plot = tmp_path / f"curve{suffix}"
        drawn = runner.invoke(main, [*base, "--plot", str(plot)], catch_exceptions=False)
        assert drawn.exit_code == 0 and plot.stat().st_size > 1000
    with Image.open(tmp_path / "curve.png") as image:
        assert image.format == "PNG"
        assert image.size == (int(PLOT_INCHES[0] * PLOT_DPI), int(PLOT_INCHES[1] * PLOT_DPI))
    assert (tmp_path / "curve.svg").read_text().lstrip().startswith("<?xml")

    unknown = runner.invoke(
        main, ["--database-url", f"sqlite:///{database}", "metrics", "--breach", "nope"]
    )
    assert unknown.exit_code != 0 and "no breach nope" in unknown.output
    assert runner.invoke(main, [*base, "--plot", str(tmp_path / "x.gif")]).exit_code == 2
