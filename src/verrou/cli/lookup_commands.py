"""``verrou lookup``: the private exposure check from a terminal.

The value is canonicalised, blinded and tested here; the server learns its kind and bucket,
nothing more. Output names the kind and which breaches hold the value, never the value.
"""

from __future__ import annotations

import base64
import binascii

import click

from verrou.cli import Context, json_option, main, out, print_json
from verrou.errors import KeyMaterialError


@main.command()
@click.option("--email", help="An email address.")
@click.option("--phone", help="A phone number (French numbers without +33 work too).")
@click.option(
    "--person",
    nargs=3,
    metavar="FAMILY GIVEN BIRTHDATE",
    help='A person: family name, given names and birth date ("Dupont" "Jean Pierre" 1980-05-17).',
)
@click.option("--nir", help="A social security number (NIR, 15 digits with its key).")
@click.option(
    "--document",
    nargs=2,
    metavar="TYPE NUMBER",
    help="An identity document: cni, passport, driving_licence or residence_permit, and its "
    "number.",
)
@click.option(
    "--server",
    metavar="URL",
    help="The verrou server (default VERROU_PUBLIC_URL, http://127.0.0.1:8000).",
)
@click.option(
    "--key-id",
    metavar="ID",
    help="Pin the server's OPRF key by the id its operator publishes (`verrou keys show`).",
)
@click.option("--public-key", metavar="BASE64", help="Pin the server's OPRF public key itself.")
@json_option
@click.pass_obj
def lookup(
    obj: Context,
    email: str | None,
    phone: str | None,
    person: tuple[str, str, str] | None,
    nir: str | None,
    document: tuple[str, str] | None,
    server: str | None,
    key_id: str | None,
    public_key: str | None,
    as_json: bool,
) -> None:
    """Was this value in a leak? Asks privately (RFC 9497 VOPRF): the server learns only a
    bucket shared with hundreds of other values, and proves it answered with its published key.

    Give one or more of --email, --phone, --person, --nir, --document. Prints which of the
    breaches the server indexes hold each value.
    """
    from verrou.http.lookup import LookupClient
    from verrou.lookup.client import (
        LookupQuery,
        document_query,
        email_query,
        nir_query,
        person_query,
        phone_query,
    )

    queries: list[LookupQuery] = []
    if email is not None:
        queries.append(email_query(email))
    if phone is not None:
        queries.append(phone_query(phone))
    if person:
        queries.append(person_query(*person))
    if nir is not None:
        queries.append(nir_query(nir))
    if document:
        queries.append(document_query(*document))
    if not queries:
        raise click.UsageError("give at least one of --email, --phone, --person, --nir, --document")
    pinned = None
    if public_key is not None:
        try:
            pinned = base64.b64decode(public_key, validate=True)
        except (ValueError, binascii.Error):
            raise KeyMaterialError("--public-key is not base64") from None
    url = server or obj.settings().public_url
    with LookupClient(url, public_key=pinned, key_id=key_id) as client:
        directory = client.directory()
        results = [client.check(query) for query in queries]
    if as_json:
        print_json(
            {
                "server": url,
                "key_id": directory["key_id"],
                "indexed_breaches": list(directory["breaches"]),
                "results": [{"kind": r.query.label, "breaches": list(r.breaches)} for r in results],
            }
        )
        return
    indexed = ", ".join(directory["breaches"]) or "none yet"
    out.print(f"server {url}, OPRF key {directory['key_id']}; indexed breaches: {indexed}")
    for result in results:
        if result.query.kind.value not in directory["kinds"]:
            out.print(f"{result.query.label}: not indexed by this server")
        elif result.breaches:
            out.print(f"[bold red]{result.query.label}: exposed in {', '.join(result.breaches)}[/]")
        else:
            out.print(f"[green]{result.query.label}: in none of the indexed breaches[/]")
