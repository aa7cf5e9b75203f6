"""verrou's one entry point: ``verrou --help``."""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from verrou.errors import ConfigError, KeyMaterialError, VerrouError
from verrou.fingerprints import Fingerprinter
from verrou.keys import create_key_file, load_fingerprint_key
from verrou.registry.records import BreachEvidence
from verrou.settings import SETTINGS_BY_FIELD, Settings
from verrou.store import RegistryStore, open_store
from verrou.store.urls import redacted_url

if TYPE_CHECKING:  # imported where used: the lookup's crypto is loaded only by what needs it
    from verrou.lookup.protocol import OprfKey

F = TypeVar("F", bound=Callable[..., Any])

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Context:
    verbose: bool
    database_url: str | None

    def settings(self, **overrides: object) -> Settings:
        return Settings.from_env(None, database_url=self.database_url, **overrides)


#: ``--json`` (``as_json``): the command prints its answer as JSON (:func:`print_json`) instead
#: of a table or sentences.
json_option = click.option("--json", "as_json", is_flag=True, help="Print as JSON.")


def print_json(value: object) -> None:
    """Print ``value``, a JSON document's Python form, as indented JSON on stdout."""
    out.print_json(json.dumps(value))


@contextmanager
def registry(settings: Settings) -> Iterator[RegistryStore]:
    """The registry, for commands that do not use the fingerprint key."""
    store = open_store(settings.database_url)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def keyed_registry(settings: Settings) -> Iterator[tuple[RegistryStore, Fingerprinter]]:
    """The registry and a fingerprinter with the key it is built with.

    The one way a command gets both: the store opens bound to the key's id and refuses another
    key (:class:`verrou.keys.FingerprintKeyMismatch`, one line naming both ids), so no command
    can fingerprint with a key the registry was not built with.
    """
    key = load_fingerprint_key(settings)
    store = open_store(settings.database_url, fingerprint_key_id=key.key_id)
    try:
        yield store, Fingerprinter(key)
    finally:
        store.close()


class VerrouGroup(click.Group):
    """Turns our own errors into one line on stderr and a non-zero exit (-v: the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VerrouError as exc:
            verbose = bool(ctx.obj and ctx.obj.verbose) or "-v" in sys.argv[1:2]
            if verbose:
                traceback.print_exc()
            err.print(f"[bold red]error:[/] {exc.message}", markup=True, highlight=False)
            ctx.exit(2 if isinstance(exc, ConfigError) else 1)


@click.group(cls=VerrouGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--database-url",
    metavar="URL",
    help="Registry store (overrides VERROU_DATABASE_URL): sqlite:///file or postgresql://...",
)
@click.version_option(package_name="verrou")
@click.pass_context
def main(ctx: click.Context, verbose: bool, database_url: str | None) -> None:
    """verrou freezes the utility of leaked identity data.

    It ingests leaked dumps into a registry of keyed fingerprints (never plaintext), so that
    banks and telcos checking an applicant learn that the identity leaked, or was frozen by its
    owner.

    Start with `verrou demo`. Configuration comes from VERROU_* environment variables
    (see the README).
    """
    ctx.obj = Context(verbose=verbose, database_url=database_url)


# --- keys -------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Key management: the fingerprint key, the signing key, the contact key, the session key
    and the OPRF key.

    All five live outside the database (VERROU_KEY_FILE, VERROU_SIGNING_KEY_FILE,
    VERROU_CONTACT_KEY_FILE, VERROU_SESSION_KEY_FILE, VERROU_OPRF_KEY_FILE), readable by their
    owner only.
    """


@keys.command("init")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path),
    help="Where to write the fingerprint key (default VERROU_KEY_FILE or "
    "~/.config/verrou/fingerprint.key).",
)
@click.pass_obj
def keys_init(obj: Context, key_file: Path | None) -> None:
    """Create each missing key file (mode 0600); never overwrites one.

    The fingerprint key (keyed hashing of identifiers), the signing key (Ed25519, signs verdicts
    and audit checkpoints), the contact key (seals citizens' alert contacts), the session key
    (seals citizens' session tokens) and the OPRF key (the private exposure check). Keep them
    apart from the database and back them up: with a lost key, fingerprints can never be
    matched again, verdicts no longer verify and contacts cannot be opened (a lost session key
    only signs every citizen out; a lost OPRF key means indexing the dumps again). Fails when
    every key already exists.
    """
    from verrou.lookup.protocol import OprfKey
    from verrou.registry.contacts import create_contact_key_file
    from verrou.registry.sessions import create_session_key_file
    from verrou.signing import create_signing_key_file

    settings = obj.settings(key_file=key_file)
    wanted: list[tuple[str, Path, Callable[[Path], str]]] = [
        ("fingerprint key", settings.key_file, lambda p: create_key_file(p).key_id),
        ("signing key", settings.signing_key_file, lambda p: create_signing_key_file(p).kid),
        ("contact key", settings.contact_key_file, lambda p: create_contact_key_file(p).kid),
        ("session key", settings.session_key_file, lambda p: create_session_key_file(p).kid),
        ("OPRF key", settings.oprf_key_file, lambda p: OprfKey.create_file(p).key_id),
    ]
    inline_key = bool(settings.key_value and key_file is None)
    if inline_key:
        wanted.pop(0)  # VERROU_KEY gives the fingerprint key: no file to make
    missing = [path for _, path, _ in wanted if not path.exists()]
    if not missing:
        raise KeyMaterialError(
            "every key file already exists (" + ", ".join(str(p) for _, p, _ in wanted) + "); "
            "refusing to overwrite a key"
        )
    if inline_key:
        out.print("fingerprint key: given by VERROU_KEY")
    for what, path, create in wanted:
        if path in missing:
            key_id = create(path)
            out.print(f"{what}: created {path} (id {key_id}, mode 0600)")
        else:
            out.print(f"{what}: exists {path}")


@keys.command("show")
@click.pass_obj
def keys_show(obj: Context) -> None:
    """Print the ids of the keys in use (never a key): fingerprint key id, signing key kid
    (RFC 7638 thumbprint, as in the JWKS), contact key id, session key id and OPRF key id
    (publish it: `verrou lookup --key-id` pins it)."""
    from verrou.lookup.protocol import OprfKey
    from verrou.registry.contacts import load_contact_key_file
    from verrou.registry.sessions import load_session_key_file
    from verrou.signing import load_signing_key_file

    settings = obj.settings()
    key = load_fingerprint_key(settings)
    where = "VERROU_KEY" if settings.key_value else str(settings.key_file)
    out.print(f"{key.key_id}  fingerprint key ({where})")
    others: list[tuple[str, Path, Callable[[Path], str]]] = [
        ("signing key", settings.signing_key_file, lambda p: load_signing_key_file(p).kid),
        ("contact key", settings.contact_key_file, lambda p: load_contact_key_file(p).kid),
        ("session key", settings.session_key_file, lambda p: load_session_key_file(p).kid),
        ("OPRF key", settings.oprf_key_file, lambda p: OprfKey.load_file(p).key_id),
    ]
    for what, path, load in others:
        if path.exists():
            out.print(f"{load(path)}  {what} ({path})")
        else:
            out.print(f"-  {what}: none at {path} (`verrou keys init` creates it)")


# --- migrate ----------------------------------------------------------------------------------


@main.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Apply pending schema migrations (idempotent; also done at every start)."""
    settings = obj.settings()
    store = open_store(settings.database_url, migrate=False)
    try:
        applied = store.migrate()
        version = store.schema_version()
    finally:
        store.close()
    if applied:
        out.print(f"applied migrations {', '.join(map(str, applied))}; schema at {version}")
    else:
        out.print(f"schema up to date at {version}")


# --- synth ------------------------------------------------------------------------------------


@main.command()
@click.option("--rows", type=click.IntRange(1, 100_000_000), default=100_000, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet", "sql"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--with-documents", is_flag=True, help="Add CNI, passport, licence, NIR and IBAN columns."
)
@click.option(
    "--encoding",
    type=click.Choice(["utf-8", "cp1252"]),
    default="utf-8",
    show_default=True,
    help="Text encoding (CSV only).",
)
@click.option("--seed", type=int, default=2026, show_default=True)
@click.option(
    "--broken-share",
    type=click.FloatRange(0, 0.5),
    default=0.02,
    show_default=True,
    help="Share of rows with a deliberately invalid value.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Dump file to write; the ground truth goes beside it (FILE.truth.json).",
)
def synth(
    rows: int,
    fmt: str,
    with_documents: bool,
    encoding: str,
    seed: int,
    broken_share: float,
    out_path: Path,
) -> None:
    """Write a synthetic leaked dump shaped like the 2026 ANTS breach, and its ground truth."""
    from verrou.synth import SynthSpec, write_dump

    spec = SynthSpec(
        rows=rows,
        fmt=fmt,  # type: ignore[arg-type]  # click.Choice checked it
        with_documents=with_documents,
        seed=seed,
        broken_share=broken_share,
        encoding=encoding,  # type: ignore[arg-type]  # click.Choice checked it
    )
    started = time.perf_counter()
    with _progress("writing", rows) as advance:
        write_dump(spec, out_path, on_progress=advance)
    elapsed = time.perf_counter() - started
    out.print(
        f"wrote {rows:,} rows to {out_path} in {elapsed:.1f}s "
        f"(ground truth: {out_path.name}.truth.json)"
    )


# --- ingest -----------------------------------------------------------------------------------

# Options that mirror a setting take its range (and default) from its declaration.
_WORKERS = SETTINGS_BY_FIELD["workers"]
_BATCH_ROWS = SETTINGS_BY_FIELD["batch_rows"]


@main.command()
@click.argument("dump", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--breach", required=True, help="Breach name (created if new), e.g. ants-2026.")
@click.option(
    "--service",
    help="Breached service, the namespace of logins and account ids (default: the breach name).",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Column mapping (TOML) instead of detection.",
)
@click.option(
    "--save-mapping",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the detected mapping (TOML) for editing, then continue.",
)
@click.option(
    "--dry-run", is_flag=True, help="Show mapping, hit rates and masked samples; write nothing."
)
@click.option("--table", help="Table to read in a SQL dump holding several.")
@click.option(
    "--workers",
    type=click.IntRange(*_WORKERS.bounds),
    help="Worker processes (default VERROU_WORKERS or the CPU count; 0 = in-process).",
)
@click.option(
    "--batch-rows",
    type=click.IntRange(*_BATCH_ROWS.bounds),
    help=f"Rows per batch (default VERROU_BATCH_ROWS or {_BATCH_ROWS.default}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def ingest(
    obj: Context,
    dump: Path,
    breach: str,
    service: str | None,
    mapping_file: Path | None,
    save_mapping: Path | None,
    dry_run: bool,
    table: str | None,
    workers: int | None,
    batch_rows: int | None,
    as_json: bool,
) -> None:
    """Ingest a leaked DUMP (.csv/.tsv, .jsonl, .parquet, .sql; .gz and .zip too).

    Only keyed fingerprints are stored. Bad values are counted and listed (row, column, reason,
    masked value) in a report file; they never stop the ingest. Ingesting the same file again
    adds nothing; an interrupted ingest resumes where it stopped.
    """
    from verrou.ingest.mapping import save_mapping as write_mapping
    from verrou.ingest.pipeline import IngestOptions
    from verrou.ingest.pipeline import dry_run as preview

    settings = obj.settings(workers=workers, batch_rows=batch_rows)
    options = IngestOptions(
        breach=breach,
        service=service,
        mapping_file=mapping_file,
        table=table,
        batch_rows=settings.batch_rows,
        workers=settings.workers,
        report_dir=settings.report_dir,
        lookup_kinds=settings.lookup_kinds,
    )
    if dry_run or save_mapping:
        report, mapping = preview(dump, options)
        if save_mapping:
            write_mapping(mapping, save_mapping)
            err.print(f"mapping written to {save_mapping}")
        if dry_run:
            if as_json:
                print_json(report.to_json())
            else:
                _print_dry_run(report)
            return
    with keyed_registry(settings) as (store, fingerprinter):
        oprf_key = lookup_key(settings)
        if oprf_key is None and settings.lookup_kinds and not as_json:
            err.print(
                f"no OPRF key at {settings.oprf_key_file}: this dump is not indexed for the "
                "private exposure check (`verrou keys init` creates the key)"
            )
        result = _ingest_with_progress(
            store, fingerprinter, dump, options, None, enabled=not as_json, oprf_key=oprf_key
        )
        alerted = 0
        if result.status == "complete":
            from verrou.registry.citizens import alert_new_exposures

            # One alert per signed-in citizen the new breach holds (name and data classes).
            alerted = alert_new_exposures(store, result.run_id, now=datetime.now(UTC))
    if alerted and not as_json:
        plural = "" if alerted == 1 else "s"
        err.print(f"{alerted:,} citizen{plural} with a contact alerted of this breach")
    if as_json:
        print_json(result.to_json())
    else:
        print_ingest_report(result, settings.database_url)


def _ingest_with_progress(
    store: RegistryStore,
    fingerprinter: Fingerprinter,
    dump: Path,
    options: Any,
    total: int | None,
    *,
    enabled: bool = True,
    oprf_key: OprfKey | None = None,
) -> Any:
    """Run an ingest with a progress bar (rows, rows/s) on a terminal; with ``oprf_key``, it
    builds the private check's index of ``options.lookup_kinds`` too."""
    from verrou.ingest.pipeline import ingest_dump

    with _progress("ingesting", total, enabled=enabled) as advance:
        last = [0]

        def on_progress(records: int) -> None:
            advance(records - last[0])
            last[0] = records

        return ingest_dump(
            store, fingerprinter, dump, options, on_progress=on_progress, oprf_key=oprf_key
        )


def lookup_key(settings: Settings) -> OprfKey | None:
    """The OPRF key ingest indexes with: None when no kind is to be indexed, or when its file
    does not exist (a file that exists and cannot be read is an error)."""
    from verrou.lookup.protocol import OprfKey

    if not settings.lookup_kinds or not settings.oprf_key_file.exists():
        return None
    return OprfKey.load_file(settings.oprf_key_file)


def print_ingest_report(report: Any, where: str) -> None:
    """The final ingest report as a person reads it."""
    if report.status == "already_ingested":
        out.print(
            f"{report.file} was already ingested for breach {report.breach} "
            f"(run {report.run_id}); nothing added."
        )
        print_canaries_found(report.canaries)
        return
    out.print(
        f"[bold]Ingest of {report.file}[/] → breach [bold]{report.breach}[/]"
        f"{' (resumed)' if report.resumed else ''}"
    )
    out.print(
        f"format {report.format}{', ' + report.encoding if report.encoding else ''}; "
        f"registry {redacted_url(where)}"
    )
    summary = Table.grid(padding=(0, 2))
    summary.add_row("rows read", f"{report.rows_read:,}")
    summary.add_row("rows with ≥1 valid identifier", f"{report.rows_with_identifier:,}")
    summary.add_row("rows with a rejected value", f"{report.rows_rejected:,}")
    summary.add_row("unparseable rows", f"{report.rows_malformed:,}")
    summary.add_row("elapsed", f"{report.elapsed_s:.2f} s ({report.rows_per_s:,.0f} rows/s)")
    out.print(summary)
    kinds = Table("kind", "valid", "invalid", "fingerprints", "duplicates", title="per kind")
    for kind in sorted(set(report.valid) | set(report.invalid)):
        kinds.add_row(
            kind,
            f"{report.valid.get(kind, 0):,}",
            f"{report.invalid.get(kind, 0):,}",
            f"{report.fingerprints.get(kind, 0):,}",
            f"{report.duplicates.get(kind, 0):,}",
        )
    out.print(kinds)
    if report.reasons:
        reasons = Table("kind: reason", "count", title="rejected values by reason")
        for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1])[:15]:
            reasons.add_row(reason, f"{count:,}")
        out.print(reasons)
    if report.indexed:
        indexed = ", ".join(f"{kind} {count:,}" for kind, count in sorted(report.indexed.items()))
        out.print(f"indexed for the private exposure check: {indexed}")
    if report.report_file:
        out.print(f"rejected rows listed in {report.report_file}")
    print_canaries_found(report.canaries)


def day(value: datetime | None) -> str:
    """A moment as the CLI's tables show its date (``-`` when unknown)."""
    return "-" if value is None else value.strftime("%Y-%m-%d")


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
    """Rows under their columns, ids never wrapped (they are copied into other commands), or
    the sentence ``empty`` when there is none."""
    if not rows:
        out.print(empty)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column in ("id", "canary", "time (UTC)", "planted (UTC)"))
    for row in rows:
        table.add_row(*row)
    out.print(table)


def print_canaries_found(found: list[BreachEvidence]) -> None:
    """Which sources' canaries a dump holds: where its data came from, and a date it was
    taken after (the breach's evidence)."""
    for evidence in found:
        planted = day(evidence.planted_at)
        out.print(
            f"[bold]canaries of source {evidence.source} found: {evidence.canaries:,}, planted "
            f"on {planted}[/]: this data was taken from {evidence.source} on or after {planted}"
        )


def _print_dry_run(report: Any) -> None:
    out.print(
        f"[bold]Dry run of {report.file}[/]: {report.format}"
        f"{', ' + report.encoding if report.encoding else ''}; "
        f"{report.sample_rows:,} sample rows; nothing written"
    )
    table = Table("column", "field", "by", "hit rate", "samples (masked canonical)")
    for col in report.columns:
        table.add_row(
            col.column,
            col.field or "-",
            col.by,
            "-" if col.hit_rate is None else f"{col.hit_rate:.1%}",
            ", ".join(col.samples),
        )
    out.print(table)
    out.print(f"identifier kinds: {', '.join(report.kinds) or 'none'}")


@contextmanager
def _progress(
    label: str, total: int | None, *, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    if not enabled or not err.is_terminal:
        yield lambda n: None
        return
    progress = Progress(
        TextColumn(f"{label}"),
        BarColumn(),
        TaskProgressColumn() if total else TextColumn(""),
        TextColumn("{task.completed:,.0f} rows"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    started = time.perf_counter()
    with progress:
        task = progress.add_task(label, total=total, rate="")

        def advance(n: int) -> None:
            progress.advance(task, n)
            done = progress.tasks[0].completed
            elapsed = time.perf_counter() - started
            if elapsed > 0:
                progress.update(task, rate=f"{done / elapsed:,.0f} rows/s")

        yield advance


# --- dates (`verrou breach`, `verrou freeze thaw`) --------------------------------------------


def _parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date (2026-04-10 or 2026-04-10T08:00)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- demo -------------------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()

# The operator commands of the registry register themselves on `main`. (Not a module named
# `registry`: importing it would rebind this package's `registry` store opener to the module.)
from verrou.cli import breach_commands as _breach_commands  # noqa: E402,F401
from verrou.cli import canary_commands as _canary_commands  # noqa: E402,F401
from verrou.cli import citizen_commands as _citizen_commands  # noqa: E402,F401
from verrou.cli import demo as _demo  # noqa: E402,F401
from verrou.cli import lookup_commands as _lookup_commands  # noqa: E402,F401
from verrou.cli import metrics_commands as _metrics_commands  # noqa: E402,F401
from verrou.cli import operator_commands as _operator_commands  # noqa: E402,F401
from verrou.cli import registry_commands as _registry_commands  # noqa: E402,F401
from verrou.cli import serve as _serve  # noqa: E402,F401
