"""Operator commands about citizens: keys two accounts claim (conflicts), and identity-theft
reports (list, show, withdraw). Ids, codes, counts and short fingerprints only: the registry
holds nothing more about a citizen."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from rich import box
from rich.table import Table

from verrou.cli import Context, json_option, main, out, print_json, registry
from verrou.errors import NotFound
from verrou.registry import filing
from verrou.registry.citizen_records import StoredReport
from verrou.registry.subjects import short_fingerprint

ACTOR = "operator"


@main.group()
def citizens() -> None:
    """Citizens' accounts: keys several accounts claim, for an operator to resolve."""


@citizens.command("conflicts")
@json_option
@click.pass_obj
def citizens_conflicts(obj: Context, as_json: bool) -> None:
    """Keys two or more citizens claim. Such a key stays frozen: no account may thaw or lift
    it until an operator has found whose it is."""
    with registry(obj.settings()) as store:
        contested = store.contested_keys()
    if as_json:
        print_json(
            [
                {
                    "key": short_fingerprint(c.fingerprint),
                    "kind": c.kind.value,
                    "citizens": list(c.citizens),
                    "frozen": c.frozen,
                }
                for c in contested
            ]
        )
        return
    if not contested:
        out.print("no key is claimed by two accounts")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("key", no_wrap=True)
    table.add_column("kind")
    table.add_column("citizens", overflow="fold")
    table.add_column("frozen")
    for c in contested:
        table.add_row(
            short_fingerprint(c.fingerprint),
            c.kind.value,
            ", ".join(c.citizens),
            "yes" if c.frozen else "no",
        )
    out.print(table)


@main.group()
def reports() -> None:
    """Identity-theft reports and exposure attestations citizens filed."""


def _report_json(report: StoredReport) -> dict[str, Any]:
    return {
        "id": report.id,
        "kind": report.kind,
        "citizen_id": report.citizen_id,
        "issued_at": report.issued_at.isoformat(),
        "expires_at": None if report.expires_at is None else report.expires_at.isoformat(),
        "status": report.status,
        "withdrawn_at": None if report.withdrawn_at is None else report.withdrawn_at.isoformat(),
        "claims": json.loads(report.claims),
        "has_note": report.sealed_note is not None,
    }


@reports.command("list")
@json_option
@click.pass_obj
def reports_list(obj: Context, as_json: bool) -> None:
    """Every report and attestation, newest first."""
    with registry(obj.settings()) as store:
        found = store.list_reports()
    if as_json:
        print_json([_report_json(r) for r in found])
        return
    if not found:
        out.print("no report yet")
        return
    # Ids are copied into `reports show` and `withdraw`: never wrapped (the citizen's id is in
    # `show` and --json, so the table fits 80 columns).
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "kind", "issued (UTC)", "status", "disputed"):
        table.add_column(column, no_wrap=column == "id")
    for r in found:
        claims = json.loads(r.claims)
        table.add_row(
            r.id,
            r.kind,
            r.issued_at.strftime("%Y-%m-%d %H:%M"),
            r.status,
            str(len(claims.get("disputed", []))) if r.kind == "report" else "-",
        )
    out.print(table)


@reports.command("show")
@click.argument("report_id")
@click.pass_obj
def reports_show(obj: Context, report_id: str) -> None:
    """One report or attestation: its signed claims, status and token (ids and codes only)."""
    with registry(obj.settings()) as store:
        found = store.get_report(report_id)
    if found is None:
        raise NotFound(f"no report {report_id}")
    print_json({**_report_json(found), "token": found.token})


@reports.command("withdraw")
@click.argument("report_id")
@click.pass_obj
def reports_withdraw(obj: Context, report_id: str) -> None:
    """Withdraw report REPORT_ID: banks verifying it learn it is withdrawn. The freeze it
    placed stays (`verrou freeze lift` decides that apart)."""
    with registry(obj.settings()) as store:
        withdrawn = filing.withdraw(store, report_id, actor=ACTOR, now=datetime.now(UTC))
    assert withdrawn.withdrawn_at is not None
    out.print(
        f"withdrew {withdrawn.id} at {withdrawn.withdrawn_at:%Y-%m-%d %H:%M} UTC; "
        "the freeze it placed stays until an operator lifts it"
    )
