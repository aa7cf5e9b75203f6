"""verrou's breaches in Have I Been Pwned's terms: the domain side of the HIBP v3 endpoints.

An HIBP client reads a breach as a name, a domain, three dates, a count, an HTML description,
HIBP's data class names and some flags. This module holds how verrou's records map onto that
vocabulary; :mod:`verrou.api.hibp` shapes the answer. Pure: no store, no web framework.

The timeline (see :class:`~verrou.registry.records.Breach`):

* ``BreachDate`` (:func:`breach_date`): when the data was taken, i.e. the start of the intrusion,
  else its detection, else its disclosure, else the ingest of the dump, else the breach's
  creation in verrou;
* ``AddedDate`` (:func:`added_at`): when verrou first knew of it (the breach's creation, which
  precedes its first ingest);
* ``ModifiedDate`` (:func:`modified_at`): the last change verrou records a time for (the last
  ingest, else the creation). An operator's edit of the timeline or description is not dated.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Final

from verrou.identifiers import Kind
from verrou.registry.checks import SignedVerdict
from verrou.registry.records import Breach

#: Every breach verrou holds was ingested by an operator from the dump itself, so it is what
#: HIBP calls verified; verrou holds no fabricated, spam-list, malware or stealer-log breach.
IS_VERIFIED: Final = True

#: verrou's words for what a breach exposed, and the HIBP data classes each one is.
#:
#: One table for both sources of those words: the identifier kinds the breach's fingerprints
#: are of (:class:`~verrou.identifiers.Kind`), and the data classes an operator gives
#: (``verrou breach NAME --data-class ...``), read by :func:`data_classes` in lower case with
#: ``_`` for spaces and hyphens, singular or plural. A ``person`` key is names and a birth
#: date together, hence two classes.
DATA_CLASSES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        # identifier kinds
        Kind.NIR: ("Social security numbers",),
        Kind.CNI: ("Government issued IDs",),
        Kind.PASSPORT: ("Passport numbers",),
        Kind.DRIVING_LICENCE: ("Driver's licenses",),
        Kind.RESIDENCE_PERMIT: ("Government issued IDs",),
        Kind.IBAN: ("Bank account numbers",),
        Kind.EMAIL: ("Email addresses",),
        Kind.PHONE: ("Phone numbers",),
        Kind.ACCOUNT_ID: ("Usernames",),
        Kind.POSTAL_ADDRESS: ("Physical addresses",),
        Kind.PERSON: ("Names", "Dates of birth"),
        # what operators write (and the synthetic ANTS dump declares)
        "civility": ("Salutations",),
        "salutation": ("Salutations",),
        "name": ("Names",),
        "family_name": ("Names",),
        "given_name": ("Names",),
        "given_names": ("Names",),
        "usage_name": ("Names",),
        "birth_date": ("Dates of birth",),
        "date_of_birth": ("Dates of birth",),
        "birth_place": ("Places of birth",),
        "e_mail": ("Email addresses",),
        "email_address": ("Email addresses",),
        "login": ("Usernames",),
        "username": ("Usernames",),
        "phone_number": ("Phone numbers",),
        "address": ("Physical addresses",),
        "document": ("Government issued IDs",),
        "identity_document": ("Government issued IDs",),
        "gender": ("Genders",),
        "nationality": ("Nationalities",),
        "password": ("Passwords",),
        "ip_address": ("IP addresses",),
    }
)

#: Every HIBP name the table gives, by its case-folded spelling (an operator may write one).
_HIBP_NAMES: Final = {name.casefold(): name for names in DATA_CLASSES.values() for name in names}

_SEPARATORS = re.compile(r"[\s\-]+")
#: A host name of at least two labels, the last one letters: "ants.gouv.fr", not "ANTS".
_DOMAIN = re.compile(r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def classes_of(term: str) -> tuple[str, ...]:
    """The HIBP classes of one of verrou's words (an identifier kind, or a data class an
    operator declared): from the table (the word, or its singular), as written when it already
    is an HIBP name, else the word made readable ("account_status" becomes "Account status")
    so that nothing the breach exposed is dropped."""
    key = _SEPARATORS.sub("_", term.strip().lower())
    if not key:
        return ()
    for candidate in (key, key.removesuffix("s"), key.removesuffix("es")):
        if candidate in DATA_CLASSES:
            return DATA_CLASSES[candidate]
    folded = term.strip().casefold()
    if folded in _HIBP_NAMES:
        return (_HIBP_NAMES[folded],)
    readable = key.replace("_", " ")
    return (readable[0].upper() + readable[1:],)


def sorted_data_classes(names: Iterable[str]) -> list[str]:
    """Data class names once each, in HIBP's alphabetical order (case-insensitive)."""
    return sorted(set(names), key=lambda name: (name.casefold(), name))


def data_classes(declared: Iterable[str], kinds: Iterable[str]) -> list[str]:
    """A breach's HIBP data classes: those of the classes its operator declared and of the
    identifier kinds its fingerprints are of (:data:`DATA_CLASSES`), alphabetically."""
    return sorted_data_classes(
        name for term in (*declared, *kinds) for name in classes_of(str(term))
    )


def known_data_classes(breach_classes: Iterable[str] = ()) -> list[str]:
    """What ``GET dataclasses`` lists: every class :data:`DATA_CLASSES` can give, and those of
    the registry's breaches (``breach_classes``), alphabetically."""
    return sorted_data_classes([*_HIBP_NAMES.values(), *breach_classes])


def domain_of(source: str | None) -> str:
    """A breach's HIBP ``Domain``: its source when that is a domain name (lower-cased), else
    an empty string, as HIBP gives for a breach of no web site."""
    candidate = (source or "").strip().lower().removesuffix(".")
    return candidate if _DOMAIN.fullmatch(candidate) else ""


def _first_known(*moments: datetime | None) -> datetime:
    for moment in moments:
        if moment is not None:
            return moment.astimezone(UTC).replace(microsecond=0)
    # The store always records a breach's creation: this is a breach that was never stored.
    raise ValueError("a breach read from the registry has its creation time")


def breach_date(breach: Breach) -> date:
    """When the data was taken (HIBP's ``BreachDate``): see the module's docstring."""
    return _first_known(
        breach.intrusion_started_at,
        breach.detected_at,
        breach.disclosed_at,
        breach.ingested_at,
        breach.created_at,
    ).date()


def added_at(breach: Breach) -> datetime:
    """When verrou first knew of the breach (HIBP's ``AddedDate``), in whole UTC seconds."""
    return _first_known(breach.created_at, breach.ingested_at)


def modified_at(breach: Breach) -> datetime:
    """The last change verrou knows the time of (HIBP's ``ModifiedDate``): the last ingest,
    else the creation."""
    return max(_first_known(breach.ingested_at, breach.created_at), added_at(breach))


def description_html(breach: Breach) -> str:
    """HIBP's ``Description`` is HTML: verrou's text, escaped, so it shows as written."""
    return html.escape(breach.description or "")


def exposed_in(verdict: SignedVerdict) -> list[str]:
    """The names of the breaches a check's signed answer lists (its ``breaches`` claim): those
    holding one of the applicant's keys."""
    payload = json.loads(verdict.payload_json)
    return [str(breach["name"]) for breach in payload["breaches"]]


__all__ = [
    "DATA_CLASSES",
    "IS_VERIFIED",
    "added_at",
    "breach_date",
    "classes_of",
    "data_classes",
    "description_html",
    "domain_of",
    "exposed_in",
    "known_data_classes",
    "modified_at",
    "sorted_data_classes",
]
