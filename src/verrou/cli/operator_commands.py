"""``verrou operators``: the accounts operators sign in to the portal with (``/operator``),
apart from citizens'. Names, times and password hashes only: a password is read from a prompt
or a file, or generated and printed once, and never stored but as its scrypt hash
(:mod:`verrou.registry.operators`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from verrou.cli import Context, json_option, main, out, print_json, print_table, registry
from verrou.errors import InvalidOperator
from verrou.registry import operators as operator_domain
from verrou.registry.operator_records import Operator


@main.group()
def operators() -> None:
    """Operator accounts of the portal (/operator): add, list, disable.

    Operators sign in with a name and a password, apart from citizens; a disabled operator's
    sessions stop at once.
    """


def _password_from(password_file: Path | None, generate: bool) -> tuple[str, bool]:
    """The new operator's password, and whether it was generated (then printed once)."""
    if password_file is not None and generate:
        raise click.UsageError("give --password-file or --generate, not both")
    if generate:
        return operator_domain.new_password(), True
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidOperator(
                f"the password file {password_file} cannot be read ({type(exc).__name__})",
                fields={"password_file": "unreadable"},
            ) from None
        return (lines[0] if lines else ""), False
    entered: str = click.prompt(
        "password", hide_input=True, confirmation_prompt=True, err=True, prompt_suffix=": "
    )
    return entered, False


@operators.command("add")
@click.argument("name")
@click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Read the password from the first line of this file instead of a prompt.",
)
@click.option("--generate", is_flag=True, help="Make a random password and print it once, instead.")
@click.pass_obj
def operators_add(obj: Context, name: str, password_file: Path | None, generate: bool) -> None:
    """Add operator NAME (2 to 63 lower-case letters, digits, '.', '_' or '-').

    The password (at least 12 characters) is asked twice, read from --password-file, or
    generated with --generate and printed once: verrou keeps only its hash.
    """
    operator_domain.check_name(name)
    password, generated = _password_from(password_file, generate)
    with registry(obj.settings()) as store:
        added = operator_domain.add_operator(store, name, password, now=datetime.now(UTC))
    out.print(f"operator {added.name} added: they sign in at /operator/signin")
    if generated:
        out.print("password (shown once, not stored):")
        click.echo(password)


def _operator_json(operator: Operator) -> dict[str, str | None]:
    return {
        "name": operator.name,
        "created_at": operator.created_at.isoformat(),
        "disabled_at": None if operator.disabled_at is None else operator.disabled_at.isoformat(),
    }


@operators.command("list")
@json_option
@click.pass_obj
def operators_list(obj: Context, as_json: bool) -> None:
    """List operators: name, when added, and when disabled if they are (never a password
    hash: it stays in the registry)."""
    with registry(obj.settings()) as store:
        found = store.list_operators()
    if not as_json:  # the canary commands' table: one sentence when there is no row
        print_table(
            ("name", "added (UTC)", "disabled (UTC)"),
            [(o.name, _minute(o.created_at), _minute(o.disabled_at)) for o in found],
            "no operator yet: `verrou operators add NAME` adds one",
        )
        return
    print_json([_operator_json(operator) for operator in found])


def _minute(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}"


@operators.command("disable")
@click.argument("name")
@click.pass_obj
def operators_disable(obj: Context, name: str) -> None:
    """Disable operator NAME: their sessions stop at once and they can no longer sign in."""
    with registry(obj.settings()) as store:
        operator_domain.disable_operator(store, name, now=datetime.now(UTC))
    out.print(f"operator {name} disabled; their sessions are revoked")
