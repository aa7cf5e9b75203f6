"""The portal's languages: French by default, English one click away.

A request's language is, in order: the ``verrou_lang`` cookie the language switch sets, the
browser's ``Accept-Language``, French. Texts are gettext messages (English ids) translated by
the catalogs under ``locale/`` (``python -m verrou.web.catalog`` extracts and checks them);
dates and numbers are formatted by Babel for the language (``1 234,5`` and ``2 déc. 2026`` in
French, ``1,234.5`` and ``Dec 2, 2026`` in English), in Europe/Paris time.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from importlib.resources import files
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

Language = Literal["fr", "en"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "fr"
LANGUAGE_COOKIE: Final = "verrou_lang"
#: The names of the languages, each in itself (what the switch shows).
LANGUAGE_NAMES: Final[dict[Language, str]] = {"fr": "Français", "en": "English"}
#: Where dates are shown for: the registry's times are UTC, its people in France.
TIME_ZONE: Final = ZoneInfo("Europe/Paris")


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs without translating it (a template translates it)."""
    return message


def language_of(cookie: str | None, accept_language: str | None) -> Language:
    """The language of a request: the cookie's if it names one, else the best of
    ``Accept-Language`` (``fr-CA`` counts as ``fr``), else French."""
    if cookie in LANGUAGES:
        return cookie
    if accept_language:
        wanted = []
        for part in accept_language.split(",")[:20]:
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            if tag and quality > 0:
                wanted.append((quality, tag.strip().replace("-", "_")))
        wanted.sort(key=lambda item: -item[0])  # stable: the browser's order breaks ties
        chosen = negotiate_locale([tag for _, tag in wanted], list(LANGUAGES), sep="_")
        if chosen in LANGUAGES:
            return chosen
        for _, tag in wanted:  # "fr_CA" -> "fr"
            base = tag.split("_")[0].lower()
            if base in LANGUAGES:
                return base
    return DEFAULT_LANGUAGE


@functools.cache
def translations(language: Language) -> NullTranslations:
    """The compiled catalog of ``language``, all its parts (``*.po``) together; English is
    the messages' own language."""
    if language == "en":
        return NullTranslations()
    folder = files("verrou.web").joinpath("locale", language, "LC_MESSAGES")
    merged: Translations | None = None
    for po in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not po.name.endswith(".po"):
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        part = Translations(compiled)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged or NullTranslations()


class Formats:
    """Dates and numbers as ``language`` writes them (the templates' filters)."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self.locale = Locale.parse(language)

    def datetime(self, value: dt.datetime | None, style: str = "medium") -> str:
        if value is None:
            return "—"
        return format_datetime(value, style, tzinfo=TIME_ZONE, locale=self.locale)

    def date(self, value: dt.date | dt.datetime | None, style: str = "medium") -> str:
        if value is None:
            return "—"
        if isinstance(value, dt.datetime):
            value = value.astimezone(TIME_ZONE).date()
        return format_date(value, style, locale=self.locale)

    def number(self, value: float | int | None) -> str:
        return "—" if value is None else format_decimal(value, locale=self.locale)
