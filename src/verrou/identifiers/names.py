"""Names, birth dates and person matching keys.

A ``person`` is never stored: it yields several canonical *matching key* texts, each hashed later,
so the same human matches across the spellings found in dumps (accents, case, Œ/Æ, hyphens,
apostrophes, particles, given-name order, birth vs usage name).

Folding (version 2, :data:`NAME_FOLDING_VERSION`): NFKC, then the letters NFKD cannot decompose
(Œ→OE, Æ→AE, ß→SS, Ø→O, Ł→L, Đ/Ð→D, Þ→TH, ...), uppercase, NFKD and drop every combining mark;
then invisible code points are dropped and each non-ASCII look-alike becomes the Latin letter it
imitates (Cyrillic О → O, Greek Ι → I; Unicode TR39 data, :mod:`verrou.identifiers.lookalikes`);
every character that is not a letter or digit (space, NBSP, hyphen, apostrophes ' ’ ʼ, dot, comma,
...) is a token boundary. The folded text is the tokens joined by one space. Version 1 had no
look-alike or invisible-character step. A name written wholly in another script keeps its letters
where they imitate no Latin one, so it still gets keys; its look-alike letters fold like any other.

What matches what (family names; all comparisons after folding):

* separators never matter: "Le-Goff" == "Le Goff" == "LE GOFF" == "le goff";
  "d'Estaing" == "d’Estaing" == "D ESTAING".
* each family name yields a *stripped* key (leading particles dropped while more than one token
  remains, tokens glued) and, when different, a *glued* key (all tokens glued). Two spellings match
  when they share either key:

  - "de La Fontaine", "De la Fontaine", "DE LA FONTAINE", "La Fontaine", "Fontaine" all share
    ``FONTAINE``;
  - "Delafontaine" (one word) matches "de La Fontaine" and "De Lafontaine" through the glued key
    ``DELAFONTAINE``, but not "La Fontaine" nor "Fontaine";
  - "Lafontaine" matches "La Fontaine" and "De Lafontaine" (``LAFONTAINE``), not "de La Fontaine";
  - "Le Goff" matches "Legoff" (glued) and "Goff" (stripped);
  - particles inside a name stay: "Giscard d'Estaing" is ``GISCARDDESTAING`` only.

  Dropping particles trades a little precision for recall on purpose: a key also holds the given
  names and the exact birth date, so "Jean Fontaine" and "Jean de La Fontaine" born the same day
  are very likely one person typed two ways, and a false match only costs a stronger check.
* a family field holding "DUPONT ÉPOUSE MARTIN", "Martin née Dupont", "Dupont ep. Martin",
  "Durand veuve Petit" is split into two names at the first marker (ÉPOUSE, EPSE, EP, NÉE, VEUVE,
  VVE); each yields its keys. The birth and usage names given as two fields do the same. A marker
  with no name beside it ("Ep", "Née" alone) is not a marker: it is the family name.
* given names: the *full* key sorts the tokens and glues them ("Marie Claire" == "Claire-Marie"
  == "ClaireMarie" → ``CLAIREMARIE``), so an invisible character standing for the blank between
  two names, which folding drops, changes nothing; the *first* key is the first token as written
  ("Jean-Pierre" → ``JEAN``, so it matches "Jean").
* birth place: folded, glued, "ST"/"STE" expanded to SAINT/SAINTE, a parenthesised part ("Lyon
  (69)") and a trailing arrondissement ("Paris 15e") dropped. A 5-character INSEE commune code
  (``75115``, ``2A004``, ``99352`` for a country) is accepted as ``#CODE``, a namespace of its own:
  it never matches a place written as a name, and postcodes are not told apart from INSEE codes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from verrou.errors import InvalidIdentifier
from verrou.identifiers.lookalikes import (
    NAME_TARGET,
    blank_letters_as_spaces,
    fold_lookalikes,
    has_blank_letter,
)

#: Version of :func:`fold_name`. Any change of its output changes fingerprints: bump it then.
NAME_FOLDING_VERSION: Final = 2

#: The matching keys a person yields, in the order :func:`person_keys` emits them per family key.
PERSON_KEY_NAMES: Final = ("full", "first", "place")

#: Most family keys one family-name field yields (two names around ÉPOUSE/NÉE, two forms each).
FAMILY_KEYS_PER_FIELD: Final = 4

#: Leading family-name particles (French, Italian, Spanish, Portuguese, Dutch, German).
FAMILY_PARTICLES: Final = frozenset(
    {
        "D",
        "DA",
        "DAL",
        "DALLA",
        "DAS",
        "DE",
        "DEGLI",
        "DEI",
        "DEL",
        "DELLA",
        "DELLE",
        "DELLO",
        "DEN",
        "DER",
        "DES",
        "DI",
        "DO",
        "DOS",
        "DU",
        "L",
        "LA",
        "LE",
        "LES",
        "LO",
        "TEN",
        "TER",
        "VAN",
        "VOM",
        "VON",
        "ZU",
        "ZUR",
    }
)

#: Tokens that join a birth name and a usage name inside one field ("DUPONT EPOUSE MARTIN").
MARRIAGE_MARKERS: Final = frozenset({"EPOUSE", "EPSE", "EP", "NEE", "VEUVE", "VVE"})

_CACHE_LIMIT: Final = 100_000
_EARLIEST_BIRTH_YEAR: Final = 1880

# Letters that NFKD leaves whole, so stripping combining marks alone would keep or lose them.
_UNDECOMPOSABLE: Final = str.maketrans(
    {
        "Œ": "OE",
        "œ": "OE",
        "Æ": "AE",
        "æ": "AE",
        "ß": "SS",
        "ẞ": "SS",
        "Ø": "O",
        "ø": "O",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "Ð": "D",
        "ð": "D",
        "Þ": "TH",
        "þ": "TH",
        "Ħ": "H",
        "ħ": "H",
        "ı": "I",
        "Ŧ": "T",
        "ŧ": "T",
        "ĸ": "K",
        "Ŋ": "NG",
        "ŋ": "NG",
        "ƒ": "F",
        "Ƒ": "F",
    }
)
# Spacing modifier letters (ʼ ʻ ʹ ...) count as letters for str.isalnum, but in names they are
# apostrophes: make them boundaries.
_MODIFIER_BOUNDARIES: Final = {cp: " " for cp in range(0x02B0, 0x0300)}
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")
_NON_TOKEN = re.compile(r"[\W_]+")

_T = TypeVar("_T")


def remember(cache: dict[str, _T], key: str, value: _T) -> _T:
    """Store in a bounded memo: dumps repeat names, postcodes and cities heavily, but memory
    must stay bounded. The one eviction rule of the folding memos, here and in
    :mod:`verrou.identifiers.address`."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _fold_characters(raw: str) -> str:
    """The folding pipeline before tokenising: letters and digits kept, boundaries as spaces."""
    text = unicodedata.normalize("NFKC", raw).upper().translate(_UNDECOMPOSABLE)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))
    # After case and accents are folded: invisible code points go, and a non-ASCII look-alike
    # (Cyrillic О, Greek Ι, ...) becomes the Latin letter it imitates (TR39 data, see lookalikes).
    text = fold_lookalikes(text.translate(_MODIFIER_BOUNDARIES), NAME_TARGET)
    return _NON_TOKEN.sub(" ", text)


def _fold_once(raw: str) -> str:
    return " ".join(_fold_characters(raw).split())


# Below U+0250 (Latin-1, Latin Extended-A and B: every French name) no character composes with
# its neighbour under NFKC, so folding is per character and one str.translate does it all.
_LATIN_END: Final = "\u0250"
_LATIN_FOLD: Final = {cp: _fold_characters(chr(cp)) for cp in range(0x250)}


def fold_tokens_uncached(raw: str) -> str:
    """:func:`fold_name` without the memo, for values that rarely repeat (address lines)."""
    if raw.isascii():
        return " ".join(_ASCII_TOKEN.findall(raw)).upper()
    if max(raw) < _LATIN_END:
        return " ".join(raw.translate(_LATIN_FOLD).split())
    folded = _fold_once(raw)
    # Case mapping can create new decomposable text (rare scripts): fold to a fixed point so
    # folding stays idempotent. Pure ASCII output is always a fixed point.
    for _ in range(3):
        if folded.isascii():
            break
        again = _fold_once(folded)
        if again == folded:
            break
        folded = again
    return folded


_FOLD_CACHE: dict[str, str] = {}


def fold_name(raw: str) -> str:
    """Fold a name (version :data:`NAME_FOLDING_VERSION`) to uppercase ASCII-like tokens.

    ``"Lætitia d’Œuf-Müller"`` → ``"LAETITIA D OEUF MULLER"``. Idempotent. Memoised in a bounded
    cache, because names repeat heavily in dumps.
    """
    folded = _FOLD_CACHE.get(raw)
    if folded is None:
        folded = remember(_FOLD_CACHE, raw, fold_tokens_uncached(raw))
    return folded


# --- family names -------------------------------------------------------------------------------


def _family_name_keys(tokens: list[str]) -> list[str]:
    stripped = tokens
    while len(stripped) > 1 and stripped[0] in FAMILY_PARTICLES:
        stripped = stripped[1:]
    keys = ["".join(stripped)]
    glued = "".join(tokens)
    if glued != keys[0]:
        keys.append(glued)
    return keys


_FAMILY_CACHE: dict[str, tuple[str, ...]] = {}


def family_keys(raw: str) -> tuple[str, ...]:
    """Family keys of one family-name field, in order, without duplicates (empty when blank).

    At most :data:`FAMILY_KEYS_PER_FIELD`: two names split at a marriage marker, each giving its
    particle-stripped key and, when different, its glued key.
    """
    cached = _FAMILY_CACHE.get(raw)
    if cached is not None:
        return cached
    tokens = fold_name(raw).split()
    names: list[list[str]] = []
    for at, token in enumerate(tokens):
        if token in MARRIAGE_MARKERS:
            # Split once; a marker first or last is not a separator between two names.
            before, after = tokens[:at], tokens[at + 1 :]
            names = [part for part in (before, after) if part]
            break
    if not names and tokens:
        # No marker, or only markers ("Ep", "Née", "Veuve Vve"): with no name beside it a
        # marker word is the name itself, and a real family name can be one of these words.
        names = [tokens]
    keys: list[str] = []
    for name in names:
        for key in _family_name_keys(name):
            if key not in keys:
                keys.append(key)
    return remember(_FAMILY_CACHE, raw, tuple(keys))


# --- given names --------------------------------------------------------------------------------

_GIVEN_CACHE: dict[str, tuple[str, str] | None] = {}
_MISSING: Final = object()


def given_name_keys(raw: str) -> tuple[str, str] | None:
    """``(all tokens sorted and glued, first token)`` of a given-names field, or None when
    blank.

    Glued, so that where the names are split never matters: "Jean Pierre", "Jean-Pierre",
    "Pierre Jean" and "JeanPierre" share ``JEANPIERRE``. This is what keeps a blank-looking
    invisible character between two names from changing the key: the Hangul fillers (U+3164,
    U+FFA0, ...) are dropped, which joins "Jean\u3164Pierre" into one token, and a key that
    depended on the split would then miss the frozen "Jean Pierre".
    """
    cached = _GIVEN_CACHE.get(raw, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]
    tokens = fold_name(raw).split()
    value = ("".join(sorted(tokens)), tokens[0]) if tokens else None
    return remember(_GIVEN_CACHE, raw, value)


# --- birth dates --------------------------------------------------------------------------------

#: French month names, for dates written to French readers (alerts, documents).
FRENCH_MONTHS: Final = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
#: English month names (stdlib names follow the locale; these never do).
ENGLISH_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_TIME = r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<zone>Z|[+-]\d{2}:?\d{2})?)?"
# ASCII digits only: a date is NFKC-normalised first, so full-width digits still count.
_YEAR_FIRST = re.compile(
    r"(?P<y>\d{4})(?P<s>[-/])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})" + _TIME, re.ASCII
)
_DAY_FIRST = re.compile(r"(?P<d>\d{1,2})(?P<s>[/.-])(?P<m>\d{1,2})(?P=s)(?P<y>\d{4})", re.ASCII)
_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})", re.ASCII)
_MIDNIGHT = re.compile(r"00:00(?::00(?:\.0+)?)?", re.ASCII)

_NO_DATE: Final = "birth date: missing"
_FUTURE: Final = "birth date: is in the future"

# A parsed date is "ok:YYYY-MM-DD"; anything else is the reason it was refused.
_DATE_CACHE: dict[str, str] = {}


def _parse_birth_date(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).strip()
    if not fold_tokens_uncached(text):
        return _NO_DATE
    match = _YEAR_FIRST.fullmatch(text) or _COMPACT.fullmatch(text)
    if match is None:
        match = _DAY_FIRST.fullmatch(text)
    if match is None:
        return "birth date: format not recognised (expected DD/MM/YYYY or YYYY-MM-DD)"
    groups = match.groupdict()
    time = groups.get("time")
    if time is not None and not _MIDNIGHT.fullmatch(time):
        # A birth date stored as a timestamp off midnight is usually shifted by a time zone:
        # taking its date part would give the wrong day.
        return "birth date: has a time of day other than midnight (time-zone shifted?)"
    zone = groups.get("zone")
    if zone is not None and zone not in ("Z", "+00:00", "+0000", "-00:00", "-0000"):
        return "birth date: has a time zone other than UTC (time-zone shifted?)"
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if not 1 <= month <= 12:
        return f"birth date: month {month} does not exist"
    if day < 1:
        return "birth date: day 0 does not exist"
    if year < _EARLIEST_BIRTH_YEAR:
        return f"birth date: year is before {_EARLIEST_BIRTH_YEAR}"
    try:
        parsed = date(year, month, day)
    except ValueError:
        if month == 2 and day == 29:
            return "birth date: day 29 is not valid in February of a non-leap year"
        return f"birth date: day {day} is not valid in {ENGLISH_MONTHS[month - 1]}"
    return "ok:" + parsed.isoformat()


def _birth_date_result(raw: str) -> str:
    result = _DATE_CACHE.get(raw)
    if result is None:
        result = remember(_DATE_CACHE, raw, _parse_birth_date(raw))
    return result


def canonical_birth_date(raw: str, today: date | None = None) -> str:
    """ISO ``YYYY-MM-DD`` of a birth date, or raise ``InvalidIdentifier("person", reason)``.

    Accepts ``DD/MM/YYYY``, ``D/M/YYYY``, ``DD-MM-YYYY``, ``DD.MM.YYYY``, ``YYYY-MM-DD``,
    ``YYYY/MM/DD``, ``YYYYMMDD`` and ISO with a midnight time (``YYYY-MM-DDT00:00:00``,
    ``YYYY-MM-DD 00:00:00``, optional ``Z``). Refuses impossible dates, years before 1880 and
    dates after ``today`` (default: the current date). The reason never holds the full date.
    """
    result = _birth_date_result(raw)
    if not result.startswith("ok:"):
        raise InvalidIdentifier("person", result)
    iso = result[3:]
    if iso > (today or date.today()).isoformat():
        raise InvalidIdentifier("person", _FUTURE)
    return iso


# --- birth places -------------------------------------------------------------------------------

_PARENTHESISED = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_COMMUNE_CODE = re.compile(r"(?:\d{5}|2[AB]\d{3})")
_PLACE_PLACEHOLDERS: Final = frozenset(
    {"INCONNU", "INCONNUE", "NC", "ND", "NR", "NA", "NON RENSEIGNE", "NEANT", "X", "XX", "XXX"}
)
_PLACE_ABBREVIATIONS: Final = {"ST": "SAINT", "STE": "SAINTE"}
_ARRONDISSEMENT = re.compile(r"\d+|\d+(?:E|EME|ER|ERE)|ARRONDISSEMENT|ARR")

# A place result is "ok:KEY", "" for no place, or the reason it was refused.
_PLACE_CACHE: dict[str, str] = {}


def strip_trailing_arrondissement(tokens: list[str]) -> list[str]:
    """Drop "15E", "15", "ARRONDISSEMENT" after a city name ("PARIS 15E ARR" → "PARIS")."""
    while len(tokens) > 1 and _ARRONDISSEMENT.fullmatch(tokens[-1]):
        tokens = tokens[:-1]
    return tokens


def _parse_birth_place(raw: str) -> str:
    folded = fold_name(_PARENTHESISED.sub(" ", raw))
    if not folded or folded in _PLACE_PLACEHOLDERS:
        return ""
    tokens = folded.split()
    if len(tokens) == 1 and _COMMUNE_CODE.fullmatch(tokens[0]):
        return "ok:#" + tokens[0]
    # Leading department numbers ("75 PARIS") and trailing arrondissements say nothing more.
    while len(tokens) > 1 and tokens[0].isdigit():
        tokens = tokens[1:]
    tokens = strip_trailing_arrondissement(tokens)
    if all(token.isdigit() for token in tokens):
        return "birth place: a numeric place must be a 5-digit INSEE commune code"
    return "ok:" + "".join(_PLACE_ABBREVIATIONS.get(token, token) for token in tokens)


def _birth_place_result(raw: str) -> str:
    result = _PLACE_CACHE.get(raw)
    if result is None:
        result = remember(_PLACE_CACHE, raw, _parse_birth_place(raw))
    return result


# --- person keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonParts:
    """The raw parts of a person as found in a dump or a check request.

    ``family_names`` holds the birth name and the usage (married) name; either may be blank.
    """

    family_names: tuple[str, ...]
    given_names: str
    birth_date: str
    birth_place: str | None = None


_NO_FAMILY = "no family name"
_NO_GIVEN = "no given name"


def person_keys(parts: PersonParts, today: date | None = None) -> list[str]:
    """The canonical matching-key texts of a person, deduplicated, in a stable order.

    For each distinct family key (fields in order, each field's keys in order):
    ``full|FAMILY|GIVENTOKENSSORTEDGLUED|YYYY-MM-DD``, ``first|FAMILY|FIRSTGIVEN|YYYY-MM-DD`` and,
    with a birth place, ``place|FAMILY|FIRSTGIVEN|YYYY-MM-DD|PLACE``. Raises
    ``InvalidIdentifier("person", reason)`` naming the wrong part, never its value.
    """
    families: list[str] = []
    for raw in parts.family_names:
        for key in family_keys(raw):
            if key not in families:
                families.append(key)
    if not families:
        raise InvalidIdentifier("person", _NO_FAMILY)
    given = given_name_keys(parts.given_names)
    if given is None:
        raise InvalidIdentifier("person", _NO_GIVEN)
    birth = canonical_birth_date(parts.birth_date, today)
    place_result = _birth_place_result(parts.birth_place or "")
    if place_result and not place_result.startswith("ok:"):
        raise InvalidIdentifier("person", place_result)
    place = place_result[3:]
    full, first = given
    keys: list[str] = []
    for family in families:
        keys.append(f"full|{family}|{full}|{birth}")
        keys.append(f"first|{family}|{first}|{birth}")
        if place:
            keys.append(f"place|{family}|{first}|{birth}|{place}")
    return keys


def person_key_readings(parts: PersonParts, today: date | None = None) -> list[str]:
    """:func:`person_keys` under every reading of the person's text: a Hangul filler
    (:data:`~verrou.identifiers.lookalikes.BLANK_LETTERS`) draws a blank, so it may stand for
    the space between two names ("Pierre\u3164Jean") or hide inside one ("Pi\u3164erre");
    both readings' keys are returned, in that order, without duplicates. Without such a
    character this is :func:`person_keys`. Checks and freezes use it, so that neither placement
    turns a frozen "Pierre Jean" into someone unknown.
    """
    keys = person_keys(parts, today)
    texts = (*parts.family_names, parts.given_names, parts.birth_place or "")
    if not any(has_blank_letter(text) for text in texts):
        return keys
    spaced = PersonParts(
        tuple(blank_letters_as_spaces(name) for name in parts.family_names),
        blank_letters_as_spaces(parts.given_names),
        parts.birth_date,
        None if parts.birth_place is None else blank_letters_as_spaces(parts.birth_place),
    )
    return keys + [key for key in person_keys(spaced, today) if key not in keys]


# --- column level (ingest) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonColumns:
    """Person matching keys of a batch.

    ``keys`` has :func:`person_key_slots` arrays of batch length; slot
    ``(field * FAMILY_KEYS_PER_FIELD + family_key) * 3 + key_name`` holds that key or null. Reading
    a row's non-null values in slot order gives exactly :func:`person_keys` of that row.
    ``errors`` holds ``(row index, part, reason)`` for rows that have person data but no valid
    person; part is ``family_name``, ``given_names``, ``birth_date`` or ``birth_place``.
    """

    keys: list[pa.Array]
    errors: list[tuple[int, str, str]]


def person_key_slots(family_fields: int) -> int:
    """Number of key arrays :func:`person_key_columns` returns for that many family fields."""
    return family_fields * FAMILY_KEYS_PER_FIELD * len(PERSON_KEY_NAMES)


_BoolArray = npt.NDArray[np.bool_]
_IntArray = npt.NDArray[np.int64]


def _as_dictionary(column: pa.Array | pa.ChunkedArray) -> tuple[list[str], _IntArray]:
    """Distinct non-null values and per-row indices into them (-1 for null).

    Canonicalising once per distinct value is the point: names and dates repeat heavily.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        if not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        column = pc.dictionary_encode(column)
    values: list[str] = column.dictionary.cast(pa.string()).to_pylist()
    indices: _IntArray = pc.fill_null(column.indices.cast(pa.int64()), -1).to_numpy()
    return values, indices


def _per_value_strings(per_value: list[str | None]) -> tuple[pa.Array, _BoolArray]:
    """Arrow array of per-distinct-value results plus a presence table whose last entry (read
    by index -1, a null row) is False."""
    values = pa.array(per_value, pa.string())
    present = np.append(values.is_valid().to_numpy(zero_copy_only=False), False)
    return values, present


def _fast_birth_dates(column: pa.Array, today_iso: str) -> tuple[pa.Array, _BoolArray, _BoolArray]:
    """Vectorised ``DD/MM/YYYY`` and ``YYYY-MM-DD``: (ISO or null, handled, valid) per row.

    These two shapes are nearly every row of a dump. Their ten bytes are read straight from the
    Arrow buffers with numpy and checked with exactly the rules of :func:`canonical_birth_date`;
    rows not handled go through the memoised scalar parser.
    """
    rows = len(column)
    handled = np.zeros(rows, dtype=np.bool_)
    _, offsets_buffer, data_buffer = column.buffers()
    if rows == 0 or data_buffer is None:
        return pa.nulls(rows, pa.string()), handled, handled.copy()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[
        column.offset : column.offset + rows + 1
    ]
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    present = column.is_valid().to_numpy(zero_copy_only=False)
    candidates = np.flatnonzero((np.diff(offsets) == 10) & present)
    text = data[offsets[candidates][:, None] + np.arange(10)]
    digit = (text >= ord("0")) & (text <= ord("9"))
    day_first = (
        digit[:, [0, 1, 3, 4, 6, 7, 8, 9]].all(axis=1)
        & (text[:, 2] == ord("/"))
        & (text[:, 5] == ord("/"))
    )
    year_first = (
        digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1)
        & (text[:, 4] == ord("-"))
        & (text[:, 7] == ord("-"))
    )
    value = text.astype(np.int64) - ord("0")

    def number(day_first_at: slice, year_first_at: slice) -> _IntArray:
        weights = 10 ** np.arange(day_first_at.stop - day_first_at.start - 1, -1, -1)
        parsed: _IntArray = np.where(
            day_first, value[:, day_first_at] @ weights, value[:, year_first_at] @ weights
        )
        return parsed

    year = number(slice(6, 10), slice(0, 4))
    month = number(slice(3, 5), slice(5, 7))
    day = number(slice(0, 2), slice(8, 10))
    shaped = day_first | year_first
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    good_month = (month >= 1) & (month <= 12)
    last_day = month_days[np.where(good_month, month, 0)] + (leap & (month == 2))
    good = shaped & good_month & (day >= 1) & (day <= last_day)
    good &= (year >= _EARLIEST_BIRTH_YEAR) & (
        year * 10_000 + month * 100 + day <= int(today_iso.replace("-", ""))
    )
    days = (
        (np.where(good, year, 1970) - 1970).astype("datetime64[Y]").astype("datetime64[M]")
        + np.where(good, month - 1, 0).astype("timedelta64[M]")
    ).astype("datetime64[D]") + np.where(good, day - 1, 0).astype("timedelta64[D]")
    handled[candidates[shaped]] = True
    valid = np.zeros(rows, dtype=np.bool_)
    valid[candidates[good]] = True
    per_row = np.zeros(rows, dtype="datetime64[D]")
    per_row[candidates] = days
    iso = pa.array(per_row, pa.date32(), mask=~valid).cast(pa.string())
    return iso, handled, valid


def _birth_date_columns(
    column: pa.Array | pa.ChunkedArray, today_iso: str
) -> tuple[pa.Array, _BoolArray, _BoolArray, dict[int, str]]:
    """Per row: ISO date or null, valid, blank, and the refusal reason of invalid rows."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    rows = len(column)
    iso, handled, valid = _fast_birth_dates(column, today_iso)
    reasons: dict[int, str] = {}
    rest = ~handled & ~pc.is_null(column).to_numpy(zero_copy_only=False)
    blank = ~handled & ~rest  # null rows
    for row in np.flatnonzero(handled & ~valid).tolist():
        result = _birth_date_result(column[row].as_py())
        reasons[row] = _FUTURE if result.startswith("ok:") else result
    if rest.any():
        # Other shapes (D/M/YYYY, YYYYMMDD, timestamps, junk): once per distinct value.
        rest_rows = np.flatnonzero(rest)
        values, indices = _as_dictionary(column.take(pa.array(rest_rows)))
        cached = _DATE_CACHE.get
        results = [cached(value) or _birth_date_result(value) for value in values]
        results = [_FUTURE if r.startswith("ok:") and r[3:] > today_iso else r for r in results]
        ok = np.array([r.startswith("ok:") for r in results], dtype=np.bool_)[indices]
        empty = np.array([r == _NO_DATE for r in results], dtype=np.bool_)[indices]
        valid[rest_rows[ok]] = True
        blank[rest_rows[empty]] = True
        for at in np.flatnonzero(~ok).tolist():
            reasons[int(rest_rows[at])] = results[indices[at]]
        rest_iso = pa.array([r[3:] if r.startswith("ok:") else None for r in results], pa.string())
        positions = np.full(rows, -1, dtype=np.int64)
        positions[rest_rows] = indices
        slow_iso = rest_iso.take(pa.array(positions, mask=positions < 0))
        iso = pc.if_else(pa.array(handled), iso, slow_iso)
    return iso, valid, blank, reasons


def _family_field(
    column: pa.Array,
) -> list[tuple[pa.Array, _BoolArray, _IntArray]]:
    """Per slot of one family field: distinct-value keys, their presence table, row indices."""
    values, indices = _as_dictionary(column)
    cached = _FAMILY_CACHE.get
    results = [cached(value) or family_keys(value) for value in values]
    widest = max(map(len, results), default=0)
    slots = []
    for slot in range(widest):
        if slot == 0:
            per_value: list[str | None] = [r[0] if r else None for r in results]
        else:
            per_value = [r[slot] if len(r) > slot else None for r in results]
        keys, present = _per_value_strings(per_value)
        slots.append((keys, present, indices))
    return slots


def person_key_columns(
    family_names: Sequence[pa.Array],
    given_names: pa.Array,
    birth_date: pa.Array,
    birth_place: pa.Array | None = None,
    today: date | None = None,
) -> PersonColumns:
    """Person matching keys of a batch, column-wise; row by row equal to :func:`person_keys`.

    Python runs once per distinct name (memoised across batches), common date shapes are parsed
    by Arrow and numpy, and key texts are joined by Arrow over only the rows that have each key.
    A row whose person fields are all blank yields nulls and no error. ``today`` bounds birth
    dates as in :func:`canonical_birth_date`.
    """
    rows = len(given_names)
    today_iso = (today or date.today()).isoformat()
    slot_count = person_key_slots(len(family_names))

    fields = [_family_field(column) for column in family_names]
    family_present = np.zeros(rows, dtype=np.bool_)
    for field in fields:
        if field:
            _, present, indices = field[0]  # the first slot is present whenever any is
            family_present |= present[indices]

    given_values, given_indices = _as_dictionary(given_names)
    cached_given = _GIVEN_CACHE.get
    given_results = [cached_given(v) or given_name_keys(v) for v in given_values]
    given_full_values, given_table = _per_value_strings(
        [r[0] if r else None for r in given_results]
    )
    given_first_values, _ = _per_value_strings([r[1] if r else None for r in given_results])
    given_present = given_table[given_indices]

    birth, date_ok, date_blank, date_reasons = _birth_date_columns(birth_date, today_iso)

    place_values: pa.Array | None = None
    place_indices = np.full(rows, -1, dtype=np.int64)
    place_blank = np.ones(rows, dtype=np.bool_)
    place_bad = np.zeros(rows, dtype=np.bool_)
    place_reasons = [""]
    if birth_place is not None:
        values, place_indices = _as_dictionary(birth_place)
        cached_place = _PLACE_CACHE.get
        results = [cached_place(v) or _birth_place_result(v) for v in values]
        if any(r.startswith("ok:") for r in results):
            place_values = pa.array(
                [r[3:] if r.startswith("ok:") else None for r in results], pa.string()
            )
        place_blank = np.array([not r for r in results] + [True], dtype=np.bool_)[place_indices]
        place_bad = np.array(
            [bool(r) and not r.startswith("ok:") for r in results] + [False], dtype=np.bool_
        )[place_indices]
        place_reasons = [*results, ""]

    valid = family_present & given_present & date_ok & ~place_bad

    # Gather the (row, family key) pairs of every slot into one long array, so each key name is
    # one Arrow join over the keys that exist rather than one join per mostly-null slot.
    used: list[tuple[int, _IntArray]] = []
    families: list[pa.Array] = []
    earlier: list[tuple[pa.Array, _BoolArray, _IntArray]] = []
    for field_at, field in enumerate(fields):
        field_slots = []
        for slot_at, (keys, present, indices) in enumerate(field):
            has_key = valid & present[indices]
            for other_keys, other_present, other_indices in earlier:
                # A key an earlier field already gave the row is not repeated (first wins).
                both = np.flatnonzero(has_key & other_present[other_indices])
                if len(both):
                    mine = keys.take(pa.array(indices[both]))
                    theirs = other_keys.take(pa.array(other_indices[both]))
                    has_key[both[pc.equal(mine, theirs).to_numpy(zero_copy_only=False)]] = False
            field_slots.append((keys, present, indices))
            key_rows = np.flatnonzero(has_key)
            if len(key_rows):
                used.append((field_at * FAMILY_KEYS_PER_FIELD + slot_at, key_rows))
                families.append(keys.take(pa.array(indices[key_rows])))
        earlier.extend(field_slots)

    key_arrays: list[pa.Array] = [pa.nulls(rows, pa.string())] * slot_count
    if used:
        long_rows = np.concatenate([key_rows for _, key_rows in used])
        long_family = pa.concat_arrays(families)
        long_given = given_indices[long_rows]
        long_birth = birth.take(pa.array(long_rows))
        tails = {
            "full": (given_full_values.take(pa.array(long_given)), long_birth),
            "first": (given_first_values.take(pa.array(long_given)), long_birth),
        }
        if place_values is not None:
            long_place = place_indices[long_rows]
            tails["place"] = (
                tails["first"][0],
                pc.binary_join_element_wise(
                    long_birth,
                    place_values.take(pa.array(long_place, mask=long_place < 0)),
                    "|",
                ),
            )
        long_keys = {
            name: pc.binary_join_element_wise(name, long_family, given, rest, "|")
            for name, (given, rest) in tails.items()
        }
        start = 0
        for slot, key_rows in used:
            # Row i of the slot reads its rank among the rows that have this slot's key.
            positions = np.full(rows, -1, dtype=np.int64)
            positions[key_rows] = np.arange(len(key_rows))
            spread = pa.array(positions, mask=positions < 0)
            for offset, name in enumerate(PERSON_KEY_NAMES):
                if name in long_keys:
                    key_arrays[slot * len(PERSON_KEY_NAMES) + offset] = (
                        long_keys[name].slice(start, len(key_rows)).take(spread)
                    )
            start += len(key_rows)

    errors: list[tuple[int, str, str]] = []
    blank = ~family_present & ~given_present & date_blank & place_blank
    for row in np.flatnonzero(~valid & ~blank).tolist():
        if not family_present[row]:
            errors.append((row, "family_name", _NO_FAMILY))
        elif not given_present[row]:
            errors.append((row, "given_names", _NO_GIVEN))
        elif not date_ok[row]:
            errors.append((row, "birth_date", date_reasons.get(row, _NO_DATE)))
        else:
            errors.append((row, "birth_place", place_reasons[place_indices[row]]))
    return PersonColumns(keys=key_arrays, errors=errors)
