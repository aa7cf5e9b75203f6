"""``verrou demo``: a synthetic ANTS leak ingested into SQLite, then the check API serving it."""

from __future__ import annotations

import contextlib
import csv
import json
import shlex
import socket
import sys
import threading
import time
import unicodedata
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from verrou.cli import (
    Context,
    _ingest_with_progress,
    _progress,
    err,
    keyed_registry,
    main,
    out,
    print_ingest_report,
    registry,
)
from verrou.cli.demo_citizen import CLIENT_ID as CITIZEN_CLIENT_ID
from verrou.cli.demo_citizen import SCOPE as CITIZEN_SCOPE
from verrou.cli.demo_citizen import citizen_story, dev_provider
from verrou.cli.demo_portal import demo_operator, portal_tour, print_portal
from verrou.errors import InvalidApplicant, InvalidIdentifier, VerrouError
from verrou.fingerprints import Fingerprinter
from verrou.identifiers.kinds import Kind
from verrou.keys import create_key_file
from verrou.lookup.protocol import OprfKey
from verrou.registry.contacts import create_contact_key_file
from verrou.registry.policy import Applicant, applicant_keys
from verrou.registry.records import BreachInfo
from verrou.registry.sessions import create_session_key_file
from verrou.registry.subjects import place_freeze
from verrou.settings import SETTINGS_BY_FIELD, Settings
from verrou.signing import create_signing_key_file
from verrou.store import RegistryStore
from verrou.store.urls import redacted_url

DEMO_BREACH = BreachInfo(
    name="ants-2026",
    title="France Titres (ANTS) accounts, synthetic replica",
    source="ANTS",
    description="Synthetic dump shaped like the April 2026 France Titres breach.",
    data_classes=(
        "civility",
        "family_name",
        "given_names",
        "birth_date",
        "email",
        "login",
        "account_id",
        "postal_address",
        "phone",
    ),
    intrusion_started_at=datetime(2026, 3, 2, tzinfo=UTC),
    detected_at=datetime(2026, 4, 8, tzinfo=UTC),
    contained_at=datetime(2026, 4, 10, tzinfo=UTC),
    disclosed_at=datetime(2026, 4, 15, tzinfo=UTC),
)

#: What the demo indexes for the private check: what a person checks first, and the quickest
#: to index (each value costs about 0.1 ms of one core; `all` kinds would take twice as long).
DEMO_LOOKUP_KINDS = (Kind.EMAIL, Kind.PHONE, Kind.PERSON)

#: Someone who is not in the synthetic leak (its names and domains never produce this).
UNKNOWN_APPLICANT = {
    "family_name": "Verrouillé",
    "given_names": "Camille",
    "birth_date": "1990-01-01",
    "email": "camille.verrouille@example.org",
}


#: Latin letters and the Cyrillic letters drawn the same, for the demo's spoofed applicant only
#: (the canonicalisers take their look-alikes from Unicode's confusables data, not from this).
_CYRILLIC_DOUBLES = str.maketrans("aceopxyAEOPCXHKMTB", "асеорхуАЕОРСХНКМТВ")
#: An invisible Hangul filler, a default-ignorable code point a form may accept.
_HANGUL_FILLER = "\u3164"


@dataclass(frozen=True)
class DemoApplicants:
    leaked: dict[str, str]
    frozen: dict[str, str]
    spoofed: dict[str, str]
    unknown: dict[str, str]
    #: The demo citizen who signs in: a third leaked person.
    citizen: dict[str, str]
    #: A canary planted in the leak, as a fraudster would send it (None: none planted).
    canary: dict[str, str] | None = None


#: Where the demo's canaries were planted before the leak, and the operators' address they
#: tell (queued in the outbox: `verrou alerts deliver` sends it with VERROU_SMTP_URL).
DEMO_CANARY_SOURCE = "mutuelle-partenaire"
DEMO_OPERATOR = "cert@ants-demo.gouv.fr"


def _canary_file(folder: Path) -> Path:
    return folder / "canaries" / f"canaries-{DEMO_CANARY_SOURCE}.csv"


def plant_demo_canaries(settings: Settings, folder: Path, dump: Path) -> None:
    """Plant three canaries as ``verrou canary create`` does (their identities written once,
    to the demo's canaries/ folder), and slip their rows into the dump about to leak, as if
    the source had been breached with everybody else."""
    from verrou.cli.canary_commands import kept_in, planting_file
    from verrou.registry.canaries import plant_canaries
    from verrou.registry.contacts import Contact, load_contact_key_file
    from verrou.synth.canaries import canary_identities

    target = _canary_file(folder)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with planting_file(target) as handle, keyed_registry(settings) as (store, fingerprinter):
        plant_canaries(
            store,
            fingerprinter,
            canary_identities(2026, "canari.ants-demo.gouv.fr"),
            count=3,
            source=DEMO_CANARY_SOURCE,
            contacts=[Contact("email", DEMO_OPERATOR)],
            contact_key=load_contact_key_file(settings.contact_key_file),
            keep=kept_in(handle),
            now=datetime.now(UTC),
            actor="demo",
        )
    _, *rows = target.read_text(encoding="utf-8").splitlines()
    with dump.open("a", encoding="utf-8") as leak:
        leak.write("\n".join(rows) + "\n")
    out.print(
        f"planted 3 canaries of {DEMO_CANARY_SOURCE} (identities in {target}); the leak holds them",
        markup=False,
    )


def demo_canary(folder: Path) -> dict[str, str] | None:
    """The first canary planted, as an applicant, or None when the demo planted none."""
    target = _canary_file(folder)
    if not target.exists():
        return None
    with target.open(encoding="utf-8", newline="") as handle:
        row = next(csv.DictReader(handle, delimiter=";"), None)
    if row is None:
        return None
    return {
        "family_name": row["nom"],
        "given_names": row["prenoms"],
        "birth_date": row["date_naissance"],
        "email": row["email"],
    }


def spoofed_applicant(applicant: dict[str, str]) -> dict[str, str]:
    """``applicant`` as a fraudster would type it past a naive registry: the first Latin letter
    of the family name and of the email that has a Cyrillic double swapped for it, and an
    invisible filler slipped into the given names."""

    def first_swapped(text: str) -> str:
        for index, char in enumerate(text):
            double = char.translate(_CYRILLIC_DOUBLES)
            if double != char:
                return text[:index] + double + text[index + 1 :]
        return text

    given = applicant["given_names"]
    return {
        **applicant,
        "family_name": first_swapped(applicant["family_name"]),
        "given_names": given[:1] + _HANGUL_FILLER + given[1:],
        "email": first_swapped(applicant["email"]),
    }


def _applicant(fields: dict[str, str]) -> Applicant:
    return Applicant(
        family_name=fields.get("family_name"),
        given_names=fields.get("given_names"),
        birth_date=fields.get("birth_date"),
        email=fields.get("email"),
    )


def _leaked_people(dump: Path, fingerprinter: Fingerprinter, count: int) -> list[dict[str, str]]:
    """The first ``count`` rows of the synthetic dump with a valid name, birth date and email."""
    found: list[dict[str, str]] = []
    with dump.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            applicant = {
                "family_name": row.get("nom_naissance") or row.get("nom") or "",
                "given_names": row.get("prenoms") or "",
                "birth_date": row.get("date_naissance") or "",
                "email": row.get("email") or "",
            }
            if not all(applicant.values()):
                continue
            try:
                applicant_keys(_applicant(applicant), fingerprinter)
            except (InvalidApplicant, InvalidIdentifier):
                continue
            found.append(applicant)
            if len(found) == count:
                return found
    raise VerrouError("the synthetic dump holds too few complete rows for the demo")


def prepare_applicants(
    store: RegistryStore, dump: Path, fingerprinter: Fingerprinter, folder: Path
) -> DemoApplicants:
    """Pick a leaked applicant, freeze a second one as its owner would, make up a third, and
    take the first canary planted in the leak (:func:`plant_demo_canaries`)."""
    canary = demo_canary(folder)
    leaked, frozen, citizen = _leaked_people(dump, fingerprinter, 3)
    # As the owner would, through the same domain operation as `verrou freeze place`.
    place_freeze(
        store,
        applicant_keys(_applicant(frozen), fingerprinter),
        placed_by="owner",
        reason="owner_request",
        actor="demo",
        now=datetime.now(UTC),
    )
    return DemoApplicants(
        leaked, frozen, spoofed_applicant(frozen), UNKNOWN_APPLICANT, citizen, canary
    )


def curl_command(base_url: str, api_key: str, body: dict[str, Any]) -> str:
    """A ready-to-paste curl for one check. Characters of other scripts than Latin, and
    invisible ones, are written as ``\\u`` escapes, so a look-alike or a hidden character
    shows on the screen as what it is; accented Latin letters stay as they are."""
    return " ".join(
        [
            "curl -s",
            shlex.quote(f"{base_url}/v1/checks"),
            "-H",
            shlex.quote(f"Authorization: Bearer {api_key}"),
            "-H",
            shlex.quote("Content-Type: application/json"),
            "-d",
            shlex.quote(_shown_escaped(json.dumps(body, ensure_ascii=False))),
        ]
    )


def _shown_escaped(text: str) -> str:
    """``text`` with every non-ASCII character that is not a Latin letter as a JSON escape."""

    def shown(char: str) -> str:
        if char.isascii() or unicodedata.name(char, "").startswith("LATIN "):
            return char
        return "".join(f"\\u{unit:04x}" for unit in _utf16_units(char))

    return "".join(shown(char) for char in text)


def _utf16_units(char: str) -> list[int]:
    encoded = char.encode("utf-16-be")
    return [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]


@main.command()
@click.option("--rows", type=click.IntRange(100, 10_000_000), default=100_000, show_default=True)
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("verrou-demo"),
    show_default=True,
    help="The demo's own folder.",
)
@click.option(
    "--workers",
    type=click.IntRange(*SETTINGS_BY_FIELD["workers"].bounds),
    help="Ingest worker processes.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Serve the check API and the portal after the ingest (until Ctrl-C).",
)
@click.option("--serve-for", type=float, hidden=True, help="Stop serving after SECONDS (tests).")
@click.pass_obj
def demo(
    obj: Context,
    rows: int,
    folder: Path,
    workers: int | None,
    port: int,
    serve: bool,
    serve_for: float | None,
) -> None:
    """Ingest an ANTS-shaped synthetic leak into SQLite, then serve the check API and the web
    portal on it.

    Everything lives in the demo folder: its own keys (keys/), the dump (dumps/), the
    canaries planted in it (canaries/), the registry (registry.sqlite3) and the reports; nothing
    else to install or start. It then creates a demo relying party, freezes one leaked identity
    as its owner would, and serves the API and the portal (French and English) on 127.0.0.1.
    It prints the portal's address, how to sign in as the demo citizen (a development
    FranceConnect-like provider) and as the demo operator (its password is in
    keys/operator.password), five curl commands: a leaked applicant (step_up), the frozen one
    (deny), the frozen one again spelled with Cyrillic look-alikes and an invisible character
    (still deny), an unknown one (clear) and a canary (deny, an incident), two `verrou lookup`
    commands (the private exposure check) and the `verrou metrics` command. On a terminal it
    serves until Ctrl-C; run from a script (no terminal), it asks the five questions and three
    private checks itself, plays the citizen, draws the outcome curve, signs the demo operator
    in to the portal and stops. Running it again reuses what is there.
    """
    from verrou.ingest.pipeline import IngestOptions
    from verrou.synth import SynthSpec, write_dump

    folder = folder.resolve()
    keys = folder / "keys"
    database_url = obj.database_url or f"sqlite:///{folder / 'registry.sqlite3'}"
    settings = Settings.from_env(
        {},
        database_url=database_url,
        key_file=keys / "fingerprint.key",
        signing_key_file=keys / "signing.key",
        contact_key_file=keys / "contact.key",
        session_key_file=keys / "session.key",
        oprf_key_file=keys / "oprf.key",
        report_dir=folder / "reports",
        workers=workers,
    )
    if not settings.key_file.exists():
        create_key_file(settings.key_file)
    if not settings.signing_key_file.exists():
        create_signing_key_file(settings.signing_key_file)
    if not settings.session_key_file.exists():
        create_session_key_file(settings.session_key_file)
    if not settings.contact_key_file.exists():
        create_contact_key_file(settings.contact_key_file)
    oprf_key = (
        OprfKey.load_file(settings.oprf_key_file)
        if settings.oprf_key_file.exists()
        else OprfKey.create_file(settings.oprf_key_file)
    )
    dump = folder / "dumps" / f"ants-2026-{rows}.csv"
    if not dump.exists():
        dump.parent.mkdir(parents=True, exist_ok=True)
        spec = SynthSpec(rows=rows, fmt="csv", with_documents=True)
        partial = dump.with_name(dump.name + ".part")
        with _progress("generating synthetic leak", rows) as advance:
            write_dump(spec, partial, on_progress=advance)
        partial.with_name(partial.name + ".truth.json").replace(
            dump.with_name(dump.name + ".truth.json")
        )
        # Canaries planted at a partner of the agency before the leak: the dump holds them,
        # so the ingest attributes it and dates it, and a check on one is an incident.
        plant_demo_canaries(settings, folder, partial)
        partial.replace(dump)
    with keyed_registry(settings) as (store, fingerprinter):
        store.ensure_breach(DEMO_BREACH)
        options = IngestOptions(
            breach="ants-2026",
            service="ants",
            batch_rows=settings.batch_rows,
            workers=settings.workers,
            report_dir=settings.report_dir,
            lookup_kinds=DEMO_LOOKUP_KINDS,
        )
        report = _ingest_with_progress(store, fingerprinter, dump, options, rows, oprf_key=oprf_key)
        applicants = prepare_applicants(store, dump, fingerprinter, folder)
        _, api_key = store.create_relying_party("Banque Démo", "bank", actor="demo")
        operator_password = demo_operator(store, keys)
    print_ingest_report(report, settings.database_url)
    out.print()
    out.print(f"registry: {folder / 'registry.sqlite3'}  (keys in {keys})")
    if not serve:
        out.print(f"try: VERROU_DATABASE_URL={redacted_url(settings.database_url)} verrou breaches")
        return
    port = _usable_port(port)
    base_url = f"http://127.0.0.1:{port}"
    examples: tuple[tuple[str, dict[str, str]], ...] = (
        ("a leaked applicant -> step_up", applicants.leaked),
        ("a leaked applicant whose owner froze the identity -> deny", applicants.frozen),
        (
            "the frozen one with Cyrillic look-alikes and an invisible filler -> deny",
            applicants.spoofed,
        ),
        ("someone unknown -> clear", applicants.unknown),
    )
    if applicants.canary is not None:
        examples += (
            (
                f"a canary of {DEMO_CANARY_SOURCE}, found in the leak -> deny (an incident)",
                applicants.canary,
            ),
        )
    interactive = serve_for is None and sys.stdin.isatty()
    with dev_provider(applicants.citizen) as provider:
        if provider is not None:  # citizen sign-in, with the development provider only here
            settings = replace(
                settings,
                oidc_issuer=provider.issuer,
                oidc_client_id=CITIZEN_CLIENT_ID,
                oidc_client_secret=provider.client_secret,
                oidc_scope=CITIZEN_SCOPE,
                public_url=base_url,
            )
        if interactive:
            out.print(
                "\nThe check API is starting. In another terminal, ask it about "
                f"{len(examples)} applicants:\n"
            )
        else:
            out.print(f"\nThe check API is starting; {len(examples)} applicants to ask it about:\n")
        for title, body in examples:
            out.print(f"# {title}", markup=False)
            out.print(curl_command(base_url, api_key, body), markup=False, soft_wrap=True)
            out.print()
        out.print(f"Docs: {base_url}/docs   Keys: {base_url}/.well-known/jwks.json", markup=False)
        out.print("# the private exposure check (the server learns a bucket, nothing more):")
        for query in lookup_commands(base_url, oprf_key, applicants):
            out.print(query, markup=False, soft_wrap=True)
        out.print("# the outcome curve of the breach (checks on its identities, month by month):")
        out.print(
            f"VERROU_DATABASE_URL={redacted_url(settings.database_url)} "
            f"verrou metrics --breach {DEMO_BREACH.name} --plot outcomes.png",
            markup=False,
            soft_wrap=True,
        )
        out.print()
        citizen_check = curl_command(
            base_url,
            api_key,
            {key: applicants.citizen[key] for key in ("family_name", "given_names", "birth_date")},
        )
        print_portal(base_url, provider, operator_password, citizen_check)
        if interactive:
            out.print("Stop with Ctrl-C.\n")
            _serve(settings, port, None)
        elif serve_for is not None:
            _serve(settings, port, serve_for)
        else:
            # Not on a terminal (a script, CI): nobody will paste the commands, so the demo
            # asks the questions itself, then plays the citizen, and stops the server.
            def story() -> None:
                private_lookups(base_url, oprf_key, applicants)
                if provider is not None:
                    citizen_story(base_url, provider, api_key, folder, applicants.citizen)
                outcome_plot(settings, folder / "reports" / "outcomes-ants-2026.png")
                portal_tour(base_url, operator_password)

            _serve_and_ask(settings, port, api_key, examples, then=story)


def lookup_commands(base_url: str, key: OprfKey, applicants: DemoApplicants) -> list[str]:
    """``verrou lookup`` for a leaked email and an unknown one, pinned to the demo's key."""
    return [
        shlex.join(
            ["verrou", "lookup", "--server", base_url, "--key-id", key.key_id, "--email", email]
        )
        for email in (applicants.leaked["email"], applicants.unknown["email"])
    ]


def private_lookups(base_url: str, key: OprfKey, applicants: DemoApplicants) -> None:
    """Run the private exposure check on the leaked applicant's email and person, and on the
    unknown one's email, as ``verrou lookup`` would."""
    from verrou.http.lookup import LookupClient
    from verrou.lookup.client import email_query, person_query

    leaked, unknown = applicants.leaked, applicants.unknown
    asked = (
        ("the leaked applicant's email", email_query(leaked["email"])),
        (
            "the leaked applicant's name and birth date",
            person_query(leaked["family_name"], leaked["given_names"], leaked["birth_date"]),
        ),
        ("the unknown applicant's email", email_query(unknown["email"])),
    )
    with LookupClient(base_url, key_id=key.key_id) as client:
        for title, query in asked:
            result = client.check(query)
            found = ", ".join(result.breaches) or "no indexed breach"
            out.print(
                f"private check: {title:<44} found in: {found} "
                f"({result.response_bytes:,} bytes, {result.bucket_bits}-bit bucket)",
                markup=False,
            )


def outcome_plot(settings: Settings, path: Path) -> None:
    """Draw the demo breach's outcome curve (what its checks did to the leaked identities,
    by month since its disclosure) as ``verrou metrics --plot`` does, and say where."""
    from verrou.plots import draw
    from verrou.registry.outcomes import curve

    with registry(settings) as store:
        breach = store.get_breach(DEMO_BREACH.name)
        assert breach is not None
        shown = curve(breach, store.outcome_tallies(breach.id))
    if shown is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    draw(shown, path)
    checks = sum(shown.at(period).checks for period in shown.periods)
    out.print(
        f"outcome curve: {checks:,} checks on its identities since the disclosure; "
        f"plot: {path} (`verrou metrics --breach {DEMO_BREACH.name}` for the table)",
        markup=False,
    )


def _usable_port(port: int) -> int:
    """``port`` if 127.0.0.1 can listen on it, else a free one (the demo must not fail
    because something else already uses 8000)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return port
        except OSError:
            probe.bind(("127.0.0.1", 0))
            free = int(probe.getsockname()[1])
    err.print(f"port {port} is taken on 127.0.0.1; the demo uses {free}")
    return free


def _server(settings: Settings, port: int) -> Any:
    import uvicorn

    from verrou.api.server import ApiServer
    from verrou.web import portal_app

    app = portal_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )
    # The API's own server: a Ctrl-C stops the recorder quietly, as under `verrou serve`.
    return ApiServer(config, app)


def _serve(settings: Settings, port: int, serve_for: float | None) -> None:
    server = _server(settings, port)
    if serve_for is not None:
        timer = threading.Timer(serve_for, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    # uvicorn re-raises the Ctrl-C that stopped it once it has shut down: the end asked for.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        err.print(f"[bold red]error:[/] the API could not listen on 127.0.0.1:{port}")
        raise SystemExit(1)


def _serve_and_ask(
    settings: Settings,
    port: int,
    api_key: str,
    examples: tuple[tuple[str, dict[str, str]], ...],
    *,
    then: Callable[[], None] | None = None,
) -> None:
    server = _server(settings, port)
    thread = threading.Thread(target=server.run, name="verrou-demo-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                err.print(f"[bold red]error:[/] the API could not listen on 127.0.0.1:{port}")
                raise SystemExit(1)
            time.sleep(0.05)
        for title, body in examples:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/checks",
                data=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                verdict = json.loads(answer.read())["verdict"]
            out.print(f"asked: {title:<72} got: {verdict}", markup=False)
        if then is not None:
            then()
    finally:
        server.should_exit = True
        thread.join(30)
    _print_audit_verified(settings)


def _print_audit_verified(settings: Settings) -> None:
    """What ``verrou audit verify`` says of the demo's log: every check and freeze above is in
    the hash chain, the chain ends at its recorded head, and the freeze state is the one the
    log explains."""
    from verrou.registry.audit import verify_registry

    with registry(settings) as store:
        snapshot = store.audit_snapshot()
        report = verify_registry(store.audit_entries(), snapshot)
    if not report.ok:
        raise VerrouError(f"the demo's audit log does not verify: {report.problem}")
    out.print(
        f"audit log: {report.entries} entries verified (hash chain, head, freeze state); "
        "run `verrou audit verify` to check it yourself",
        markup=False,
    )
