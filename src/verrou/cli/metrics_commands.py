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
from verrou.registry.outcomes import ALL, HORIZON_MONTHS, PERIODS, Curve, curve, origin_of
from verrou.registry.records import MEASURES, Breach

#: The plot's size in pixels (inches × dots per inch), as the tests read it back.
PLOT_INCHES = (10.0, 6.0)
PLOT_DPI = 100
_LABELS = {
    "checks": "checks on exposed identities",
    "step_up": "step_up verdicts",
    "deny": "deny verdicts",
    "reports": "identity-theft reports",
    "canary_hits": "canary hits",
}


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
        summary = next((s for s in store.list_breaches() if s.breach.name == name), None)
        if summary is None:
            raise NotFound(f"no breach {name}: see `verrou breaches`")
        found = summary.breach
        tallies = store.outcome_tallies(found.id)
    origin = origin_of(found, summary.ingested[0] if summary.ingested else None)
    shown = curve(found, tallies, by=by, months=months, origin=origin)  # type: ignore[arg-type]
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


def draw(shown: Curve, path: Path) -> None:
    """The curve over its periods: one line per measure, all sectors, and the checks by
    sector below. matplotlib's Agg backend: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (top, bottom) = pyplot.subplots(
        2, 1, figsize=PLOT_INCHES, dpi=PLOT_DPI, sharex=True, height_ratios=(3, 2)
    )
    periods = list(shown.periods)
    for measure in MEASURES:
        index = MEASURES.index(measure)
        top.plot(
            periods,
            [shown.at(p).counts()[index] for p in periods],
            marker="o",
            markersize=3,
            label=_LABELS[measure],
        )
    top.set_title(
        f"{shown.breach}: attempts on its identities, by {shown.by} since "
        f"{shown.origin.kind} ({shown.origin.day.isoformat()})"
    )
    top.set_ylabel("count")
    top.legend(loc="upper right", fontsize="small")
    top.grid(alpha=0.3)
    for sector in shown.sectors:
        counts = [shown.at(p, sector).checks for p in periods]
        bottom.plot(periods, counts, marker=".", label=sector)
    bottom.set_xlabel(f"{shown.by}s since {shown.origin.kind}")
    bottom.set_ylabel("checks by sector")
    if shown.sectors:
        bottom.legend(loc="upper right", fontsize="small")
    bottom.grid(alpha=0.3)
    bottom.set_xticks(periods[:: max(1, len(periods) // 18)])
    figure.tight_layout()
    metadata = {"Software": None} if path.suffix.lower() == ".png" else {"Date": None}
    figure.savefig(path, format=path.suffix.lower()[1:], metadata=metadata)
    pyplot.close(figure)


__all__ = ["ALL", "curve_csv", "curve_json", "draw", "metrics"]
