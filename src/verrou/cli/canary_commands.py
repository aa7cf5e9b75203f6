"""Operator commands about canary identities: plant them (``canary create``), list them, and
list the incidents they raised. Ids, sources, dates, kinds and counts only: a canary's values
are in its planting CSV, written once, and nowhere else."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from verrou import cli
from verrou.cli import Context, err, json_option, keyed_registry, main, out, print_json, registry
from verrou.errors import ConfigError, OutputExists
from verrou.keys import open_private_file
from verrou.registry import canaries as canary_domain
from verrou.registry.canary_records import CanaryIdentity, CanaryIncident
from verrou.registry.contacts import Contact, load_contact_key_file
from verrou.settings import Settings

ACTOR = "operator"


@main.group()
def canary() -> None:
    """Canary identities: made-up people planted in one source, whose use reveals its leak.

    A check on a canary is denied and raises an incident to the operators
    (VERROU_OPERATOR_EMAIL, VERROU_OPERATOR_WEBHOOK); a dump that holds canaries is attributed
    to their source, and dated after their planting.
    """


def operator_contacts(settings: Settings) -> list[Contact]:
    """Where canary incidents go, from the settings; ConfigError when nowhere."""
    contacts = []
    if settings.operator_email:
        contacts.append(Contact("email", settings.operator_email))
    if settings.operator_webhook:
        contacts.append(Contact("webhook", settings.operator_webhook))
    if not contacts:
        raise ConfigError(
            "set VERROU_OPERATOR_EMAIL and/or VERROU_OPERATOR_WEBHOOK: a canary's incidents "
            "must reach the operators"
        )
    return contacts


@contextmanager
def planting_file(path: Path) -> Iterator[TextIO]:
    """The planting CSV, created for writing (mode 0600, never over an existing file); removed
    again if the planting fails."""
    try:
        binary = open_private_file(path)
    except FileExistsError:
        raise OutputExists(
            f"{path} exists already: canary identities are written once, to a new file"
        ) from None
    try:
        with io.TextIOWrapper(binary, encoding="utf-8", newline="") as text:
            yield text
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def kept_in(handle: TextIO) -> Callable[[Sequence[CanaryIdentity]], None]:
    """What keeps a planting's identities: its CSV rows written to ``handle`` and synced to
    disk, before the planting commits."""
    from verrou.synth.canaries import write_canary_rows

    def keep(identities: Sequence[CanaryIdentity]) -> None:
        write_canary_rows(handle, identities)
        handle.flush()
        os.fsync(handle.fileno())

    return keep


@canary.command("create")
@click.option(
    "--count",
    type=click.IntRange(1, canary_domain.MAX_PLANTING),
    required=True,
    help="How many canaries to plant.",
)
@click.option(
    "--source",
    required=True,
    help="Where they are planted (a partner, a service): named in incidents, and in the "
    "evidence of a dump that holds them.",
)
@click.option(
    "--domain",
    metavar="DOMAIN",
    help="Email domain of the canaries, one the operators control (default VERROU_CANARY_DOMAIN).",
)
@click.option(
    "--out",
    "out_path",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The planting CSV to write (never overwritten; default canaries-SOURCE-TIME.csv).",
)
@click.option(
    "--seed", type=int, help="Draw the same identities for the same seed (drills, tests)."
)
@click.pass_obj
def canary_create(
    obj: Context,
    count: int,
    source: str,
    domain: str | None,
    out_path: Path | None,
    seed: int | None,
) -> None:
    """Plant canaries in a source, and write their identities once.

    Generates --count identities that pass every validator, refuses any whose keys the
    registry holds, stores their fingerprints only (a canary freeze on each key, and the
    operators' contacts sealed on it), and writes the identities once, as CSV rows shaped like
    the source's dump, to a new file readable by its owner only.

    Plant the rows in the source, then delete the file: it is the only copy.
    """
    from verrou.ingest.plan import service_slug  # here: it loads pyarrow
    from verrou.synth.canaries import canary_identities

    settings = obj.settings()
    chosen = domain or settings.canary_domain
    if not chosen:
        raise click.UsageError("give --domain or set VERROU_CANARY_DOMAIN")
    email_domain = canary_domain.checked_domain(chosen)
    source = canary_domain.checked_source(source)
    contacts = operator_contacts(settings)
    contact_key = load_contact_key_file(settings.contact_key_file)
    now = datetime.now(UTC)
    target = out_path or Path(f"canaries-{service_slug(source)}-{now:%Y%m%dT%H%M%SZ}.csv")
    draws = canary_identities(
        seed if seed is not None else int.from_bytes(os.urandom(8), "big"), email_domain
    )
    with planting_file(target) as handle, keyed_registry(settings) as (store, fingerprinter):
        planting = canary_domain.plant_canaries(
            store,
            fingerprinter,
            draws,
            count=count,
            source=source,
            contacts=contacts,
            contact_key=contact_key,
            keep=kept_in(handle),
            now=now,
            actor=ACTOR,
        )
    ids = [planted.id for planted in planting.canaries]
    out.print(f"planted {len(ids):,} canaries of source {source}: {', '.join(ids)}")
    if planting.refused:
        err.print(
            f"{planting.refused:,} candidates refused: a key of theirs was in the registry "
            "(exposed, frozen, claimed or checked) or in another candidate"
        )
    out.print(
        f"their identities are in {target} (mode 0600), the only copy: plant its rows in "
        f"{source}, then delete it"
    )
    channels = ", ".join(contact.channel for contact in contacts)
    out.print(f"a check on one raises an incident by {channels} (`verrou alerts deliver`)")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _summary_json(summary: canary_domain.CanarySummary) -> dict[str, Any]:
    return {
        "id": summary.canary.id,
        "source": summary.canary.source,
        "planted_at": summary.canary.planted_at.isoformat(),
        "kinds": list(summary.canary.kinds),
        "incidents": summary.incidents,
    }


@canary.command("list")
@json_option
@click.pass_obj
def canary_list(obj: Context, as_json: bool) -> None:
    """List canaries: id, source, planting time, kinds of keys, incidents."""
    with registry(obj.settings()) as store:
        found = canary_domain.summaries(store)
    if as_json:
        print_json([_summary_json(summary) for summary in found])
        return
    cli.print_table(
        ("id", "source", "planted (UTC)", "kinds", "incidents"),
        [
            (
                s.canary.id,
                s.canary.source,
                _day(s.canary.planted_at),
                ", ".join(s.canary.kinds),
                f"{s.incidents:,}",
            )
            for s in found
        ],
        "no canary yet: `verrou canary create --count N --source NAME` plants some",
    )


def _incident_json(incident: CanaryIncident) -> dict[str, Any]:
    check = incident.check
    return {
        "at": check.at.isoformat(),
        "source": incident.canary.source,
        "canary_id": incident.canary.id,
        "relying_party_id": check.relying_party_id,
        "relying_party": check.relying_party_name,
        "sector": check.sector,
        "verdict": check.verdict,
        "check_id": check.check_id,
    }


@canary.command("incidents")
@click.option(
    "--limit",
    type=click.IntRange(1, canary_domain.MAX_INCIDENTS),
    default=100,
    show_default=True,
    help="The newest incidents to show.",
)
@json_option
@click.pass_obj
def canary_incidents(obj: Context, limit: int, as_json: bool) -> None:
    """List checks on canaries, newest first.

    When, which canary and source, who checked (relying party, sector) and the verdict.
    """
    with registry(obj.settings()) as store:
        found = canary_domain.incidents(store, limit=limit)
    if as_json:
        print_json([_incident_json(incident) for incident in found])
        return
    shown = [_incident_json(incident) for incident in found]
    cli.print_table(
        ("time (UTC)", "source", "canary", "relying party", "sector", "verdict"),
        [
            (
                _day(incident.check.at),
                row["source"],
                row["canary_id"],
                row["relying_party"] or row["relying_party_id"],
                row["sector"],
                row["verdict"],
            )
            for incident, row in zip(found, shown, strict=True)
        ],
        "no canary incident",
    )
