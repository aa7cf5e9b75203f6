"""``verrou breaches`` and ``verrou breach``: the breaches an operator records, and their pages.

``verrou breach NAME --detected ...`` (short for ``verrou breach set NAME ...``) records a
breach's timeline and what it exposed; ``verrou breach show NAME`` prints its page; ``verrou
breaches`` lists every breach with its dwell time and severity. Figures and severity are the
public pages' own (:mod:`verrou.registry.breaches`), and ``--json`` prints what
``GET /v1/breaches`` answers (:class:`verrou.api.breaches.BreachPageOut`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import click
from rich import box
from rich.table import Table

from verrou.api.breaches import PAGES, BreachPageOut
from verrou.cli import Context, _parse_when, day, json_option, main, out, print_json, registry
from verrou.errors import NotFound
from verrou.registry.breaches import BreachPage, Severity, SeverityFactor, breach_pages
from verrou.registry.records import BreachInfo

#: The command ``verrou breach NAME ...`` stands for (how it was written before ``show``).
TIMELINE_COMMAND: Final = "set"

_FACTOR_NAMES: Final = {
    "dwell_time": "dwell time",
    "data_classes": "data classes",
    "people": "people",
}

#: What ends an exposure window, and what an ingest lag counts from, as `breach show` says it.
_WINDOW_ENDS: Final = {
    "contained": "to containment",
    "detected": "to detection: containment not recorded",
}
_LAG_STARTS: Final = {
    "disclosed": "from disclosure",
    "detected": "from detection: disclosure not recorded",
}


@main.command(short_help="List breaches with their dwell time and severity.")
@json_option
@click.pass_obj
def breaches(obj: Context, as_json: bool) -> None:
    """List breaches: people, runs, detection, dwell time, severity, last ingest, and the
    fingerprints of each identifier kind. `verrou breach show NAME` tells one in full."""
    with registry(obj.settings()) as store:
        pages = breach_pages(store)
    if as_json:
        print_json(PAGES.dump_python([BreachPageOut.of(page) for page in pages], mode="json"))
    else:
        _print_breaches(pages)


def _print_breaches(pages: Sequence[BreachPage]) -> None:
    if not pages:
        out.print("no breach yet: `verrou ingest DUMP --breach NAME` creates one")
        return
    # No borders, so that a row fits 100 columns with a name of up to 36 characters; a longer
    # name wraps in its cell, never cut.
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("breach", overflow="fold")
    for heading in ("people", "runs", "detected", "dwell", "severity", "ingested"):
        table.add_column(heading, no_wrap=True, justify="right" if heading == "people" else "left")
    for page in pages:
        dwell = page.figures.dwell_days
        table.add_row(
            page.breach.name,
            _count(page.people),
            str(page.runs),
            day(page.breach.detected_at),
            "-" if dwell is None else f"{dwell:.0f} d",
            _severity(page.severity),
            day(page.breach.ingested_at),
        )
    out.print(table)
    if any(page.severity.provisional for page in pages):
        out.print("* provisional: a factor is unknown (`verrou breach show NAME` says which)")
    for page in pages:
        if not page.fingerprints_by_kind:
            continue
        title = f"{page.breach.name}: fingerprints by kind"
        kinds = Table("kind", "fingerprints", title=title, min_width=len(title) + 2)
        for kind, count in sorted(page.fingerprints_by_kind.items()):
            kinds.add_row(kind, f"{count:,}")
        out.print(kinds)


class BreachGroup(click.Group):
    """``verrou breach COMMAND``, where a first argument that is no command's name is a breach's
    name: ``verrou breach ants-2026 --detected 2026-04-08`` runs ``verrou breach set
    ants-2026 --detected 2026-04-08``, as it did before the group had commands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [TIMELINE_COMMAND, *args]
        return super().parse_args(ctx, args)


@main.group(
    cls=BreachGroup,
    options_metavar="",
    subcommand_metavar="[set] NAME [OPTIONS] | show NAME [--json]",
)
def breach() -> None:
    """Record a breach's timeline, or show its page.

    `verrou breach NAME --intrusion-started ... --detected ...` records breach NAME (`set` may
    be left out, except for a breach named like a command); `verrou breach show NAME` prints
    its timeline, figures, severity and data classes.
    """


@breach.command(TIMELINE_COMMAND, short_help="Record breach NAME: its timeline and data classes.")
@click.argument("name")
@click.option("--title")
@click.option("--source", help="The breached organisation or service.")
@click.option("--description")
@click.option(
    "--data-class",
    "data_classes",
    multiple=True,
    help="Exposed data class (repeat): email, phone, birth_date, ...",
)
@click.option("--intrusion-started", help="ISO date the intrusion started.")
@click.option("--detected", help="ISO date the breach was detected.")
@click.option("--contained", help="ISO date the breach was contained.")
@click.option("--disclosed", help="ISO date the breach was disclosed.")
@click.pass_obj
def set_timeline(
    obj: Context,
    name: str,
    title: str | None,
    source: str | None,
    description: str | None,
    data_classes: tuple[str, ...],
    intrusion_started: str | None,
    detected: str | None,
    contained: str | None,
    disclosed: str | None,
) -> None:
    """Create or update breach NAME and its timeline (dwell time = detected − intrusion start).

    Options left out keep what the breach holds.
    """
    info = BreachInfo(
        name=name,
        title=title,
        source=source,
        description=description,
        data_classes=data_classes,
        intrusion_started_at=_parse_when(intrusion_started),
        detected_at=_parse_when(detected),
        contained_at=_parse_when(contained),
        disclosed_at=_parse_when(disclosed),
    )
    with registry(obj.settings()) as store:
        saved = store.ensure_breach(info)
    dwell = saved.dwell_days
    out.print(
        f"breach {saved.name} saved"
        + (f"; dwell time {dwell:.0f} days" if dwell is not None else "")
    )


@breach.command("show", short_help="Print breach NAME's page: figures, severity, data classes.")
@click.argument("name")
@json_option
@click.pass_obj
def show(obj: Context, name: str, as_json: bool) -> None:
    """Print the page of breach NAME: its timeline, dwell time, exposure window, disclosure
    and ingest lags, severity with each factor's points, and data classes with their counts
    (what `GET /v1/breaches/NAME` answers)."""
    with registry(obj.settings()) as store:
        found = breach_pages(store, name)
    if not found:
        raise NotFound(f"no breach named {name!r} (`verrou breaches` lists them)")
    (page,) = found
    if as_json:
        print_json(BreachPageOut.of(page).model_dump(mode="json"))
    else:
        _print_page(page)


def _print_page(page: BreachPage) -> None:
    breach = page.breach
    out.print(f"[bold]{breach.name}[/]" + (f" — {breach.title}" if breach.title else ""))
    if breach.source:
        out.print(f"source: {breach.source}")
    if breach.description:
        out.print(breach.description)
    dates = Table.grid(padding=(0, 2))
    for label, moment in (
        ("intrusion started", breach.intrusion_started_at),
        ("detected", breach.detected_at),
        ("contained", breach.contained_at),
        ("disclosed", breach.disclosed_at),
        ("first ingest", page.first_ingested_at),
        ("last ingest", breach.ingested_at),
    ):
        dates.add_row(label, day(moment))
    figures = page.figures
    window = _WINDOW_ENDS.get(figures.exposure_window_end or "")
    lag = _LAG_STARTS.get(figures.ingest_lag_start or "")
    for label, days, note in (
        ("dwell time", figures.dwell_days, None),
        ("exposure window", figures.exposure_window_days, window),
        ("disclosure lag", figures.disclosure_lag_days, None),
        ("ingest lag", figures.ingest_lag_days, lag),
    ):
        reading = "unknown" if days is None else f"{days:.1f} days"
        dates.add_row(label, reading + (f" ({note})" if note else ""))
    out.print(dates)
    severity = page.severity
    out.print(f"severity: [bold]{severity.level}[/], {severity.score:.1f} out of 100")
    factors = Table("factor", "points", "why")
    for factor in severity.factors:
        factors.add_row(_FACTOR_NAMES[factor.factor], _points(factor), factor.basis)
    out.print(factors)
    if severity.provisional:
        out.print("provisional: the score may change once the unknown factors are known")
    classes = Table("data class", "weight", "declared", "kinds", "fingerprints")
    for exposure in page.data_classes:
        classes.add_row(
            exposure.name,
            str(exposure.weight),
            "yes" if exposure.declared else "no",
            ", ".join(exposure.kinds) or "-",
            _count(exposure.fingerprints),
        )
    if page.data_classes:
        out.print(classes)
    runs = f"{page.runs} run" + ("" if page.runs == 1 else "s")
    out.print(f"people: {_count(page.people)} ({runs})")
    for evidence in page.evidence:
        out.print(
            f"evidence: {evidence.canaries:,} canaries of source {evidence.source}, planted "
            f"{day(evidence.planted_at)}: the data came from {evidence.source}, taken on or "
            f"after {day(evidence.planted_at)} (found {day(evidence.recorded_at)})"
        )


def _severity(severity: Severity) -> str:
    """``high 69.7``, with ``*`` when provisional."""
    return f"{severity.level} {severity.score:.1f}" + ("*" if severity.provisional else "")


def _points(factor: SeverityFactor) -> str:
    return f"{factor.points:.1f} / {factor.max_points:.0f}"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
