"""``verrou metrics``: the outcome curve of a breach, as a table, CSV, JSON or a plot.

The counts are the ones every check and report added in its own transaction
(:mod:`verrou.registry.outcomes`): the query reads a few hundred rows whatever the size of
the audit log.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from verrou.cli import Context, main, out, registry
from verrou.errors import NotFound
from verrou.plots import draw
from verrou.registry.outcomes import ALL, HORIZON_MONTHS, PERIODS, Curve, breach_curve
from verrou.registry.records import MEASURES, Breach


@main.command()
@click.option("--breach", "name", required=True, help="The breach (see `verrou breaches`).")
@click.option(
    "--by",
    type=click.Choice(PERIODS),
    default="month",
    help="Periods (default month) since the disclosure, or the first ingest without one.",
)
@click.option(
    "--months",
    type=click.IntRange(1, 120),
    default=HORIZON_MONTHS,
    help=f"How many months after the origin the curve goes (default {HORIZON_MONTHS}).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "csv", "json")),
    default="table",
    help="table (default), csv (a row per period and sector) or json.",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also draw the curve into this file (.png or .svg).",
)
@click.pass_obj
def metrics(obj: Context, name: str, by: str, months: int, fmt: str, plot: Path | None) -> None:
    """The outcome curve of a breach: checks that touched an identity it exposed, their
    step_up and deny verdicts, identity-theft reports of the people it exposed, and canary
    hits, by relying-party sector and by month (or week) since its disclosure.

    The measure of success: how often leaked identities are used, in the eighteen months that
    follow a breach. Counts only: nothing in it identifies a person.
    """
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise click.BadParameter("the plot is a .png or a .svg file", param_hint="--plot")
    with registry(obj.settings()) as store:
        found, shown = breach_curve(store, name, by=by, months=months)  # type: ignore[arg-type]
    if shown is None:
        raise NotFound(f"breach {name} has no disclosure date and no ingest yet: no curve")
    if fmt == "json":
        out.print_json(json.dumps(curve_json(shown)))
    elif fmt == "csv":
        out.print(curve_csv(shown), end="", markup=False, highlight=False)
    else:
        print_curve(found, shown)
    if plot is not None:
        draw(shown, plot)
        click.echo(f"plot written to {plot}", err=True)


def _rows(shown: Curve) -> list[dict[str, Any]]:
    """One row per period and sector, :data:`ALL` last in each period."""
    return [
        {"period": period, "sector": sector}
        | dict(zip(MEASURES, shown.at(period, sector).counts(), strict=True))
        for period in shown.periods
        for sector in (*shown.sectors, ALL)
    ]


def curve_json(shown: Curve) -> dict[str, Any]:
    """The curve as one JSON document: its origin, its periods, and before/after totals."""
    return {
        "breach": shown.breach,
        "origin": shown.origin.day.isoformat(),
        "origin_kind": shown.origin.kind,
        "by": shown.by,
        "periods": len(shown.periods),
        "sectors": list(shown.sectors),
        "points": _rows(shown),
        "before_origin": dict(zip(MEASURES, shown.before.counts(), strict=True)),
        "after_horizon": dict(zip(MEASURES, shown.after.counts(), strict=True)),
    }


def curve_csv(shown: Curve) -> str:
    """One row per period and sector (``all`` included), the measures as columns."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=["breach", "by", "period", "sector", *MEASURES], lineterminator="\n"
    )
    writer.writeheader()
    for row in _rows(shown):
        writer.writerow({"breach": shown.breach, "by": shown.by} | row)
    return buffer.getvalue()


def print_curve(breach: Breach, shown: Curve) -> None:
    out.print(
        f"[bold]{breach.name}[/]: outcome by {shown.by} since its {shown.origin.kind} "
        f"({shown.origin.day.isoformat()}), all sectors"
        + (f" ({', '.join(shown.sectors)})" if shown.sectors else "")
    )
    table = Table(shown.by, *(m.replace("_", " ") for m in MEASURES))
    if any(shown.before.counts()):
        table.add_row("before", *(f"{n:,}" for n in shown.before.counts()))
    for period in shown.periods:
        table.add_row(str(period), *(f"{n:,}" for n in shown.at(period).counts()))
    if any(shown.after.counts()):
        table.add_row("after", *(f"{n:,}" for n in shown.after.counts()))
    out.print(table)
    if not shown.sectors:
        out.print("no check has touched an identity of this breach yet")


__all__ = ["ALL", "curve_csv", "curve_json", "metrics"]
