"""The words on verrou's PDFs, in French and English, and how dates are written.

Every phrase is a ``(french, english)`` pair: a document leads with its language and repeats
each line in the other, so a bank's back office abroad reads the same paper as the citizen.
Dates are written by hand rather than through the C locale (``strftime("%B")``), whose month
names depend on the machine: the same report must give the same bytes everywhere.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final, Literal, TypeAlias
from zoneinfo import ZoneInfo

from verrou.identifiers.names import ENGLISH_MONTHS, FRENCH_MONTHS
from verrou.registry.reports import FraudCode

Lang: TypeAlias = Literal["fr", "en"]
LANGS: Final[tuple[Lang, ...]] = ("fr", "en")
#: A phrase in both languages: ``(french, english)``.
Phrase: TypeAlias = tuple[str, str]

#: Times on the documents are local to France, where the registry and its citizens are.
PARIS: Final = ZoneInfo("Europe/Paris")

NBSP: Final = "\u00a0"


#: A declared fraud's code as a readable phrase. Keyed by every :data:`FraudCode` (a test pins
#: that none is missing).
FRAUD_PHRASES: Final[dict[FraudCode, Phrase]] = {
    "account_opened": (
        "Ouverture d’un compte bancaire à mon nom",
        "Bank account opened in my name",
    ),
    "credit_taken": ("Crédit souscrit à mon nom", "Credit taken out in my name"),
    "phone_contract": (
        "Abonnement téléphonique souscrit à mon nom",
        "Phone contract taken out in my name",
    ),
    "document_used": (
        "Utilisation de mes pièces d’identité",
        "My identity documents used",
    ),
    "other": (
        "Autre usage frauduleux de mon identité",
        "Other fraudulent use of my identity",
    ),
}

#: A check's verdict as the relying party received it.
VERDICT_PHRASES: Final[dict[str, Phrase]] = {
    "clear": ("accepté", "clear"),
    "step_up": ("vérification renforcée", "step-up verification"),
    "deny": ("refusé", "denied"),
}


def french_typography(text: str) -> str:
    """French spacing: a no-break space before ``:``, ``;``, ``?``, ``!`` and inside ``« »``,
    so that a line never starts with a colon or a closing guillemet."""
    for before, after in ((" :", ":"), (" ;", ";"), (" ?", "?"), (" !", "!"), (" »", "»")):
        text = text.replace(before, NBSP + after)
    return text.replace("« ", "«" + NBSP)


def ordered(phrase: Phrase, lang: Lang) -> Phrase:
    """``phrase`` with the document's language first (the French one typeset)."""
    french, english = french_typography(phrase[0]), phrase[1]
    return (french, english) if lang == "fr" else (english, french)


def pick(phrase: Phrase, lang: Lang) -> str:
    """The phrase in one language."""
    return french_typography(phrase[0]) if lang == "fr" else phrase[1]


def day(value: date) -> Phrase:
    """A calendar day: ``1er avril 2026`` / ``1 April 2026``."""
    first = "er" if value.day == 1 else ""
    return (
        f"{value.day}{first} {FRENCH_MONTHS[value.month - 1]} {value.year}",
        f"{value.day} {ENGLISH_MONTHS[value.month - 1]} {value.year}",
    )


def moment(value: datetime) -> Phrase:
    """A moment in Paris time: ``2 avril 2026 à 11:30 (heure de Paris)``."""
    local = value.astimezone(PARIS)
    french, english = day(local.date())
    clock = f"{local:%H:%M}"
    return (
        f"{french} à {clock} (heure de Paris)",
        f"{english}, {clock} Paris time",
    )


def day_of(value: datetime) -> Phrase:
    """The Paris calendar day of a moment."""
    return day(value.astimezone(PARIS).date())
