"""The words for the registry's codes that both the citizens' and the operators' pages show:
relying parties' sectors, verdicts, breaches' data classes (their Have I Been Pwned names).
Each is a message id of the catalogs; the templates translate it (``_(labels.sector(code))``),
and an unknown code is shown as it is."""

from __future__ import annotations

from typing import Final

from verrou.web.i18n import N_

#: Relying parties' sectors.
SECTORS: Final[dict[str, str]] = {
    "bank": N_("Bank"),
    "payment": N_("Payment"),
    "telco": N_("Telecom operator"),
    "insurer": N_("Insurer"),
    "other": N_("Other"),
}

VERDICTS: Final[dict[str, str]] = {
    "clear": N_("Accepted"),
    "step_up": N_("Stronger proof asked"),
    "deny": N_("Refused"),
}

#: Breaches' data classes (their Have I Been Pwned names, :func:`verrou.registry.hibp.classes_of`).
DATA_CLASSES: Final[dict[str, str]] = {
    "Bank account numbers": N_("Bank account numbers"),
    "Dates of birth": N_("Dates of birth"),
    "Driver's licenses": N_("Driving licences"),
    "Email addresses": N_("Email addresses"),
    "Genders": N_("Genders"),
    "Government issued IDs": N_("Identity document numbers"),
    "IP addresses": N_("IP addresses"),
    "Names": N_("Names"),
    "Nationalities": N_("Nationalities"),
    "Passport numbers": N_("Passport numbers"),
    "Passwords": N_("Passwords"),
    "Phone numbers": N_("Phone numbers"),
    "Physical addresses": N_("Postal addresses"),
    "Places of birth": N_("Places of birth"),
    "Salutations": N_("Civility"),
    "Social security numbers": N_("Social security numbers"),
    "Usernames": N_("Usernames"),
}


def sector(code: str) -> str:
    return SECTORS.get(code, code)


def verdict(code: str) -> str:
    return VERDICTS.get(code, code)


def data_class(name: str) -> str:
    return DATA_CLASSES.get(name, name)
