"""The portal's part of ``verrou demo``: a demo operator (created once, password kept in the
demo's key folder), and what the demo prints so a person can sign in as the demo citizen and
as the demo operator."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from verrou.cli import out
from verrou.cli.demo_citizen import DevProvider
from verrou.errors import VerrouError
from verrou.registry import operators
from verrou.store.protocols import OperatorStore

OPERATOR: Final = "demo-operator"
#: The label of the portal's FranceConnect button, as the French page shows it.
FRANCECONNECT_BUTTON: Final = "S’identifier avec FranceConnect"


def demo_operator(store: OperatorStore, keys: Path) -> str:
    """The demo operator's password: made and stored (mode 0600, beside the demo's keys) the
    first time, read again after; the operator is created with it if missing."""
    path = keys / "operator.password"
    if path.exists():
        password = path.read_text(encoding="utf-8").strip()
    else:
        password = operators.new_password()
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as sink:
            sink.write(password + "\n")
    if store.get_operator(OPERATOR) is None:
        operators.add_operator(store, OPERATOR, password, now=datetime.now(UTC))
    return password


def print_portal(
    base_url: str, provider: DevProvider | None, operator_password: str, citizen_check: str
) -> None:
    """How to reach the portal and sign in to it, as the demo citizen and the demo operator;
    ``citizen_check`` is the curl of a bank's check on the demo citizen (it then shows in
    their "who checked my identity")."""
    out.print(f"Portal: {base_url}/", markup=False)
    if provider is not None:
        out.print(
            f'  citizen: "{FRANCECONNECT_BUTTON}", then user `{provider.citizen_sub}` at the '
            f"development provider {provider.issuer} (demo only: a person of the synthetic "
            "leak; English: the link at the top right)",
            markup=False,
        )
    else:
        out.print("  citizen: sign-in needs the development provider (pip install -e '.[test]')")
    out.print(
        f"  operator: {base_url}/operator/signin as `{OPERATOR}`, password `{operator_password}`",
        markup=False,
    )
    out.print("# a bank checks the demo citizen (it shows in their portal):", markup=False)
    out.print(citizen_check, markup=False, soft_wrap=True)


def portal_tour(base_url: str, operator_password: str) -> None:
    """Run from a script, the demo fetches the portal as a browser would and says what it
    showed: the home page in French, and the demo operator's page of the breach."""
    import re

    import httpx

    home = httpx.get(f"{base_url}/", headers={"accept-language": "fr-FR"}, timeout=30)
    language = re.search(r'<html lang="(\w+)">', home.text)
    operator = httpx.Client(base_url=base_url, timeout=30)
    form = re.search(r'name="csrf" value="([^"]+)"', operator.get("/operator/signin").text)
    if home.status_code != 200 or language is None or form is None:
        raise VerrouError("the demo's portal did not answer its home and sign-in pages")
    signed = operator.post(
        "/operator/signin",
        data={"name": OPERATOR, "password": operator_password, "csrf": form.group(1)},
    )
    page = operator.get("/operator/breaches/ants-2026")
    severity = re.search(r'class="status severity-\w+">([^<]+)<', page.text)
    if signed.status_code != 303 or page.status_code != 200 or severity is None:
        raise VerrouError("the demo operator could not sign in to the portal")
    out.print(
        f"portal: {base_url}/ answered in {language.group(1)} (private check, FranceConnect "
        f"sign-in); the demo operator signed in and read ants-2026's page: severity "
        f"{severity.group(1)}, its timeline and its canary incident",
        markup=False,
    )
