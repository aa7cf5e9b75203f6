"""French postal addresses.

Canonical form (version 2: folding gained look-alikes and invisible characters, via
:func:`~verrou.identifiers.names.fold_name`): ``NUMBER|STREET|POSTCODE|CITY``

* folded like names (:func:`verrou.identifiers.names.fold_name`: accents, case, Œ/Æ, hyphens,
  apostrophes and punctuation do not matter);
* NUMBER: house number without leading zeros plus its repetition index glued (``12BIS``,
  ``12TER``, ``12QUATER``, ``12A``); ``B``/``T``/``Q`` are ``BIS``/``TER``/``QUATER``; a range
  ``12-14`` keeps its first number; empty for a lieu-dit without number;
* STREET: the street type abbreviation (first word only) expanded to La Poste's full word, ``ST``,
  ``STE`` and title abbreviations (``GAL``, ``MAL``, ``DR``, ``PDT``, ``CDT``) expanded anywhere,
  words glued without spaces ("Rue de l'Église" == "R. DE L EGLISE" == "rue de Leglise");
* POSTCODE: 5 digits, a department prefix 01–95 (Corsica is 20xxx), 971–978 or 980/984/986–988;
  a 4-digit postcode *field* is an Excel export that dropped the leading zero and is padded;
* CITY: glued words, ``CEDEX`` and what follows dropped, a trailing arrondissement dropped (the
  postcode carries it); empty when unknown. An address with a city and the same address without
  one do not match.

Known gaps: address complements (``APPT 12``, ``BAT B``, ``RESIDENCE ...``) before the number are
kept as part of the street and stop a match; a postcode split by a space inside a one-field address
is not found.
"""

from __future__ import annotations

import re
from typing import Final, NoReturn

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from verrou.errors import InvalidIdentifier
from verrou.identifiers.lookalikes import blank_letters_as_spaces, has_blank_letter
from verrou.identifiers.names import (
    fold_name,
    fold_tokens_uncached,
    remember,
    strip_trailing_arrondissement,
)

KIND: Final = "postal_address"

#: Street types: La Poste abbreviations and common variants, first word of the street only.
STREET_TYPES: Final = {
    "ALL": "ALLEE",
    "AV": "AVENUE",
    "AVE": "AVENUE",
    "AVN": "AVENUE",
    "BD": "BOULEVARD",
    "BLD": "BOULEVARD",
    "BLVD": "BOULEVARD",
    "BVD": "BOULEVARD",
    "BOUL": "BOULEVARD",
    "CHE": "CHEMIN",
    "CHEM": "CHEMIN",
    "CHS": "CHAUSSEE",
    "CRS": "COURS",
    "ESP": "ESPLANADE",
    "FBG": "FAUBOURG",
    "FG": "FAUBOURG",
    "HAM": "HAMEAU",
    "IMP": "IMPASSE",
    "LD": "LIEU DIT",
    "LOT": "LOTISSEMENT",
    "MTE": "MONTEE",
    "PAS": "PASSAGE",
    "PL": "PLACE",
    "PROM": "PROMENADE",
    "QU": "QUAI",
    "R": "RUE",
    "RES": "RESIDENCE",
    "RPT": "ROND POINT",
    "RTE": "ROUTE",
    "SQ": "SQUARE",
    "TRA": "TRAVERSE",
    "VLA": "VILLA",
}

#: Abbreviations expanded wherever they stand in the street or city name.
NAME_ABBREVIATIONS: Final = {
    "ST": "SAINT",
    "STE": "SAINTE",
    "GAL": "GENERAL",
    "MAL": "MARECHAL",
    "DR": "DOCTEUR",
    "PDT": "PRESIDENT",
    "CDT": "COMMANDANT",
}

_REPETITION: Final = {
    "B": "BIS",
    "BIS": "BIS",
    "T": "TER",
    "TER": "TER",
    "Q": "QUATER",
    "QUATER": "QUATER",
    "QUINQUIES": "QUINQUIES",
    "A": "A",
    "C": "C",
}
_NUMBER = re.compile(r"0*(\d{1,5})(BIS|TER|QUATER|QUINQUIES|[A-Z])?", re.ASCII)
_POSTCODE = re.compile(r"\d{5}", re.ASCII)
_NUMBER_WORDS: Final = frozenset({"N", "NO", "NUM", "NUMERO"})
_OVERSEAS: Final = frozenset({"971", "972", "973", "974", "975", "976", "977", "978"})
_PACIFIC_AND_MONACO: Final = frozenset({"980", "984", "986", "987", "988"})


def _postcode_problem(code: str) -> str | None:
    """Why five digits are not a French postcode, or None."""
    department = int(code[:2])
    if department == 0 or department == 96 or department == 99:
        return "postcode: no such department range"
    if department == 97 and code[:3] not in _OVERSEAS:
        return "postcode: no such overseas range"
    if department == 98 and code[:3] not in _PACIFIC_AND_MONACO:
        return "postcode: no such overseas range"
    return None


# A postcode result is "ok:CODE" or the reason it was refused.
_POSTCODE_CACHE: dict[str, str] = {}


def _postcode_result(raw: str) -> str:
    result = _POSTCODE_CACHE.get(raw)
    if result is None:
        try:
            result = "ok:" + _canonical_postcode(raw)
        except InvalidIdentifier as error:
            result = error.reason
        remember(_POSTCODE_CACHE, raw, result)
    return result


def canonical_postcode(raw: str) -> str:
    """Five-digit French postcode, or raise ``InvalidIdentifier("postal_address", reason)``."""
    result = _postcode_result(raw)
    if not result.startswith("ok:"):
        _refuse(result)
    return result[3:]


def _canonical_postcode(raw: str) -> str:
    code = fold_name(raw).replace(" ", "")
    if re.fullmatch(r"2[AB]\d{3}", code):
        return _refuse("postcode: 2A/2B are department codes, Corsican postcodes are 20xxx")
    if len(code) == 4 and code.isdigit() and code.isascii():
        code = "0" + code  # a spreadsheet read the postcode as a number and lost its zero
    if not (len(code) == 5 and _POSTCODE.fullmatch(code)):
        return _refuse("postcode: must be 5 digits")
    problem = _postcode_problem(code)
    if problem:
        return _refuse(problem)
    return code


def _refuse(reason: str) -> NoReturn:
    raise InvalidIdentifier(KIND, reason)


def _city_key(tokens: list[str]) -> str:
    if "CEDEX" in tokens:
        tokens = tokens[: tokens.index("CEDEX")]
    tokens = strip_trailing_arrondissement(tokens)
    return "".join(NAME_ABBREVIATIONS.get(token, token) for token in tokens)


def _split_number(tokens: list[str]) -> tuple[str, list[str]]:
    """The house number (empty when none) and the street tokens after it."""
    if len(tokens) > 1 and tokens[0] in _NUMBER_WORDS and tokens[1][:1].isdigit():
        tokens = tokens[1:]  # "N° 12 rue ..."
    number = ""
    if tokens:
        match = _NUMBER.fullmatch(tokens[0])
        if match is not None:
            suffix = match[2] or ""
            tokens = tokens[1:]
            if not suffix and len(tokens) > 1 and tokens[0] in _REPETITION:
                suffix, tokens = tokens[0], tokens[1:]
            number = match[1] + _REPETITION.get(suffix, suffix)
            while len(tokens) > 1 and tokens[0].isdigit():
                tokens = tokens[1:]  # "12-14 rue ...": the first number names the building
    return number, tokens


def _street(tokens: list[str]) -> str:
    if not tokens:
        return ""
    words = [STREET_TYPES.get(tokens[0], tokens[0])]
    words.extend(NAME_ABBREVIATIONS.get(token, token) for token in tokens[1:])
    return "".join(words).replace(" ", "")


def _number_and_street(tokens: list[str]) -> tuple[str, str]:
    number, tokens = _split_number(tokens)
    return number, _street(tokens)


def _cut_at_postcode(tokens: list[str], code: str) -> tuple[list[str], str, list[str]] | str:
    """The folded line's tokens before its postcode, the postcode, and the line's city tokens
    after it; or why the line has no postcode.

    ``code`` is the canonical postcode field, or empty to look for the postcode in the line.
    With one, the line is cut at the last token after the first that equals it (and stays whole
    when none does); without, at the last such token that is a French postcode, else the reason
    the last five-digit one was refused ("no postcode" when there is none). One rule for
    :func:`canonical_postal_address` and the batch path (:func:`address_column`).
    """
    if code:
        for at in range(len(tokens) - 1, 0, -1):
            if tokens[at] == code:
                return tokens[:at], code, tokens[at + 1 :]
        return tokens, code, []
    problem = "no postcode"
    for at in range(len(tokens) - 1, 0, -1):
        token = tokens[at]
        if len(token) == 5 and _POSTCODE.fullmatch(token):
            found = _postcode_problem(token)
            if found is None:
                return tokens[:at], token, tokens[at + 1 :]
            problem = found
    return problem


def canonical_postal_address(
    line: str, postcode: str | None = None, city: str | None = None
) -> str:
    """Canonical ``NUMBER|STREET|POSTCODE|CITY`` of a French postal address.

    ``line`` is the street line, or the whole address in one field ("12 rue X 75011 Paris"): the
    postcode and city are then taken from it when not given. Raises
    ``InvalidIdentifier("postal_address", reason)``; the reason never holds the address.
    """
    given = canonical_postcode(postcode) if postcode is not None and fold_name(postcode) else ""
    cut = _cut_at_postcode(fold_tokens_uncached(line).split(), given)
    if isinstance(cut, str):
        _refuse(cut)
    tokens, code, line_city = cut
    number, street = _number_and_street(tokens)
    if not street:
        _refuse("no street")
    city_tokens = fold_name(city).split() if city is not None and fold_name(city) else line_city
    return f"{number}|{street}|{code}|{_city_key(city_tokens)}"


def postal_address_readings(
    line: str, postcode: str | None = None, city: str | None = None
) -> list[str]:
    """:func:`canonical_postal_address` under every reading of a Hangul filler in the address
    (dropped, and read as the blank it is drawn as: "12\u3164av\u3164Foch" is "12 av Foch"),
    without duplicates; one value when there is none. Checks and freezes use it, as
    :func:`verrou.identifiers.names.person_key_readings` for names."""
    dropped = canonical_postal_address(line, postcode, city)
    parts = (line, postcode or "", city or "")
    if not any(has_blank_letter(part) for part in parts):
        return [dropped]
    try:
        spaced = canonical_postal_address(
            blank_letters_as_spaces(line),
            None if postcode is None else blank_letters_as_spaces(postcode),
            None if city is None else blank_letters_as_spaces(city),
        )
    except InvalidIdentifier:
        return [dropped]
    return [dropped] if spaced == dropped else [dropped, spaced]


# The city part of a non-blank city field, per raw value (None when the field is blank).
_CITY_CACHE: dict[str, str | None] = {}


def _city_field_key(raw: str) -> str | None:
    if raw in _CITY_CACHE:
        return _CITY_CACHE[raw]
    folded = fold_name(raw)
    return remember(_CITY_CACHE, raw, _city_key(folded.split()) if folded else None)


# Street part per street tokens after the house number (joined by spaces: a str key is cheaper
# than a tuple and not tracked by the garbage collector): streets repeat with other numbers.
_STREET_CACHE: dict[str, str] = {}


def _number_and_street_memo(tokens: list[str]) -> tuple[str, str]:
    """:func:`_number_and_street`, with the street part memoised."""
    number, rest = _split_number(tokens)
    key = " ".join(rest)
    street = _STREET_CACHE.get(key)
    if street is None:
        street = remember(_STREET_CACHE, key, _street(rest))
    return number, street


def _line_result(tokens: list[str], code: str) -> tuple[str, str] | str:
    """``("NUMBER|STREET|POSTCODE|", line city key)`` of a folded line, or the refusal reason.

    ``code`` is the canonical postcode field, or empty to look for the postcode in the line.
    Mirrors :func:`canonical_postal_address` (the reference, tested equal row by row).
    """
    cut = _cut_at_postcode(tokens, code)
    if isinstance(cut, str):
        return cut
    tokens, code, line_city = cut
    number, street = _number_and_street_memo(tokens)
    if not street:
        return "no street"
    return f"{number}|{street}|{code}|", _city_key(line_city) if line_city else ""


#: A five-digit token after the first one in a folded line: a postcode the line may be cut at.
_CODE_TOKEN = re.compile(r" \d{5}(?= |$)", re.ASCII)

_IntArray = npt.NDArray[np.int64]
_BoolArray = npt.NDArray[np.bool_]


def _distinct(column: pa.Array | pa.ChunkedArray | None, rows: int) -> tuple[list[str], _IntArray]:
    """Distinct non-null values and, per row, the index of its value (``len(values)`` for null)."""
    if column is None:
        return [], np.zeros(rows, dtype=np.int64)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column.cast(pa.string()))
    values: list[str] = encoded.dictionary.to_pylist()
    indices = encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
    return values, indices.astype(np.int64, copy=False)


def _strings(values: list[str | None], at: _IntArray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(at))


def address_column(
    line: pa.Array, postcode: pa.Array | None = None, city: pa.Array | None = None
) -> tuple[pa.Array, list[tuple[int, str]]]:
    """Canonical addresses of a batch (null when blank or invalid) and ``(row, reason)`` errors.

    Row by row equal to :func:`canonical_postal_address`; a row whose address fields are all
    blank (no letter or digit) yields null and no error.

    Python runs once per distinct line, postcode and city of the batch (postcodes, cities and
    streets memoised across batches). A row whose postcode field is valid and whose line holds no
    other five-digit token is then joined by Arrow from its line's ``NUMBER|STREET``; only the
    other rows (postcode taken from the line, or possibly repeated in it) run per distinct
    line and postcode pair.
    """
    rows = len(line)
    line_values, line_at = _distinct(line, rows)
    code_values, code_at = _distinct(postcode, rows)
    city_values, city_at = _distinct(city, rows)

    # Per distinct line: "NUMBER|STREET" of the whole line (None without a street), whether it
    # is blank, and whether a five-digit token follows the first one. Only strings and bools are
    # kept (no per-line lists), so the garbage collector has nothing more to walk.
    heads: list[str | None] = []
    line_blank: list[bool] = []
    code_inside: list[bool] = []
    for value in line_values:
        folded = fold_tokens_uncached(value)
        number, street = _number_and_street_memo(folded.split())
        heads.append(f"{number}|{street}" if street else None)
        line_blank.append(not folded)
        code_inside.append(_CODE_TOKEN.search(folded) is not None)
    heads.append(None)
    line_blank.append(True)
    code_inside.append(False)

    # Per code value: "" (blank: the postcode is looked for in the line), "ok:CODE" or a reason.
    code_states = [_postcode_result(value) if fold_name(value) else "" for value in code_values]
    code_states.append("")
    codes = [state[3:] if state.startswith("ok:") else None for state in code_states]
    city_keys = [_city_field_key(value) for value in city_values]
    city_keys.append(None)

    blank: _BoolArray = np.array(line_blank, dtype=np.bool_)[line_at]
    blank &= np.array([not state for state in code_states], dtype=np.bool_)[code_at]
    blank &= np.array([key is None for key in city_keys], dtype=np.bool_)[city_at]
    live = np.flatnonzero(~blank)
    live_line, live_code, live_city = line_at[live], code_at[live], city_at[live]

    code_ok = np.array([code is not None for code in codes], dtype=np.bool_)[live_code]
    code_bad = np.array([bool(state) for state in code_states], dtype=np.bool_)[live_code]
    code_bad &= ~code_ok
    fast = code_ok & ~np.array(code_inside, dtype=np.bool_)[live_line]
    slow = ~fast & ~code_bad

    errors: list[tuple[int, str]] = [
        (int(live[at]), code_states[int(live_code[at])]) for at in np.flatnonzero(code_bad)
    ]

    # Fast rows: NUMBER|STREET|POSTCODE|CITY joined by Arrow (the line has no city part).
    fast_line, fast_code = live_line[fast], live_code[fast]
    fast_heads = _strings(heads, fast_line)
    canonical_fast = pc.binary_join_element_wise(
        fast_heads,
        _strings(codes, fast_code),
        _strings(city_keys, live_city[fast]).fill_null(""),
        "|",
    )
    fast_rows = live[fast]
    for at in np.flatnonzero(fast_heads.is_null().to_numpy(zero_copy_only=False)).tolist():
        errors.append((int(fast_rows[at]), "no street"))

    # Other rows: once per distinct (line, postcode) pair.
    width = len(code_states)
    slow_rows = live[slow]
    pairs, pair_at = np.unique(live_line[slow] * width + live_code[slow], return_inverse=True)
    pair_at = pair_at.reshape(-1).astype(np.int64, copy=False)
    prefixes: list[str | None] = []
    line_cities: list[str | None] = []
    reasons: list[str | None] = []
    for pair in pairs.tolist():
        line_at_pair = pair // width
        tokens = (
            fold_tokens_uncached(line_values[line_at_pair]).split()
            if line_at_pair < len(line_values)
            else []
        )
        result = _line_result(tokens, codes[pair % width] or "")
        if isinstance(result, str):
            prefixes.append(None)
            line_cities.append(None)
            reasons.append(result)
        else:
            prefixes.append(result[0])
            line_cities.append(result[1])
            reasons.append(None)
    canonical_slow = pc.binary_join_element_wise(
        _strings(prefixes, pair_at),
        pc.coalesce(_strings(city_keys, live_city[slow]), _strings(line_cities, pair_at)),
        "",
    )
    refused = np.array([reason is not None for reason in reasons], dtype=np.bool_)
    for at in np.flatnonzero(refused[pair_at]).tolist():
        reason = reasons[int(pair_at[at])]
        assert reason is not None
        errors.append((int(slow_rows[at]), reason))
    errors.sort()

    positions = np.full(rows, -1, dtype=np.int64)
    positions[fast_rows] = np.arange(len(fast_rows), dtype=np.int64)
    positions[slow_rows] = len(fast_rows) + np.arange(len(slow_rows), dtype=np.int64)
    canonical = pa.concat_arrays([canonical_fast, canonical_slow])
    return canonical.take(pa.array(positions, mask=positions < 0)), errors
