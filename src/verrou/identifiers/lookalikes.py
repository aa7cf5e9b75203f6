"""Look-alike characters (Unicode TR39 confusables) and invisible code points, for canonicalisers.

A frozen identity must not come back ``clear`` because one Latin letter was swapped for its
Cyrillic or Greek double, or because an invisible character was slipped in. Every canonicaliser of
text therefore (after NFKC, so full-width and mathematical letters are already plain):

1. drops every *invisible* code point (:data:`INVISIBLE`): Unicode's Default_Ignorable_Code_Point
   property (DerivedCoreProperties: zero-width space and joiners, word joiner, BOM, soft hyphen,
   combining grapheme joiner, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0, variation
   selectors, tag characters, bidi controls, ...) plus general category ``Cf``, which also covers
   the few format characters the property leaves out (Arabic number signs, interlinear annotation
   marks). Both come from Unicode data, read through the ``regex`` module's property tables: the
   standard library has no Default_Ignorable property, and a hand list would miss code points.
2. maps each remaining non-ASCII character to the ASCII text it imitates, from TR39's
   ``confusables.txt`` as shipped by the ``confusable-homoglyphs`` package (:func:`prototype`;
   its JSON keeps the LEFT-TO-RIGHT MARKs that wrap right-to-left characters in the source's
   comments, which are removed here, else Hebrew and Arabic look-alikes would be missed).

ASCII characters are never remapped: TR39 folds ``m``→``rn``, ``0``→``O`` and ``1``/``I``→``l``,
which would merge distinct document numbers and e-mail addresses that no one can spoof (both sides
are ASCII, typed and displayed as such).

The package's JSON stores each confusables.txt pair in both directions, so the direction is
rebuilt here: TR39's mapping is idempotent (a prototype is never itself a source), hence every
connected group of the pair graph is a star whose centre is the prototype; the centre is the
member with several partners or the multi-character one. For a group of exactly two single
characters the centre cannot be told, and either member serves: what matching needs is the
equivalence class, and both members map to the same representative (the ASCII one, else the lower
code point).

TR39 prototypes are case-sensitive and some are ambiguous once case is folded or letters and digits
share a shape (``l`` stands for ``I``, ``l``, ``1`` and ``|``; ``O`` for ``O`` and ``0``). Each
canonicaliser says which it wants (:class:`Target`): the case it folds to and what to do with a
character that imitates both a letter and a digit (keep the class of the character itself, prefer
the digit, or refuse). See :func:`lookalike_table`.

Known limits. Canonicalisers fold case before look-alikes (so that a name in another script
matches itself in upper and lower case): a small letter whose capital imitates another Latin
letter reads as its capital does (Greek η draws n, its capital Η draws H: η reads H). A name
written wholly in another script has its look-alike letters folded too (ИВАНОВ gives ИBAHOB): it
still gets keys and matches itself, and may also match a Latin name of the same shape, which
over-matches (the safe side). A character whose TR39 prototype is not ASCII is left as it is.
"""

from __future__ import annotations

import enum
import functools
import json
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

import numpy as np
import regex  # type: ignore[import-untyped]  # no stubs shipped; two calls used

#: Where the confusables data comes from (named in reports and tests).
CONFUSABLES_PACKAGE: Final = "confusable_homoglyphs"

_ASCII_PRINTABLE: Final = frozenset(string.printable)
_LRM: Final = "\u200e"
_ASCII_ALNUM: Final = frozenset(string.ascii_letters + string.digits)


@functools.cache
def _invisible_code_points() -> frozenset[int]:
    """Default_Ignorable_Code_Point ∪ general category Cf, from the ``regex`` module's tables."""
    pattern = regex.compile(r"[\p{Default_Ignorable_Code_Point}\p{Cf}]")
    # Every code point but the surrogates (category Cs, neither ignorable nor Cf), decoded at
    # once from UTF-32: building the text with chr() one code point at a time cost 0.2 s at
    # every start of every verrou process.
    code_points = np.concatenate(
        [np.arange(0, 0xD800, dtype="<u4"), np.arange(0xE000, 0x110000, dtype="<u4")]
    )
    everything = code_points.tobytes().decode("utf-32-le")
    return frozenset(ord(match.group()) for match in pattern.finditer(everything))


#: Code points dropped by every text canonicaliser (see the module docstring).
INVISIBLE: Final = _invisible_code_points()

#: ``str.translate`` table deleting :data:`INVISIBLE`.
DROP_INVISIBLE: Final[dict[int, None]] = dict.fromkeys(INVISIBLE)

#: The invisible code points that are *letters* (general category Lo: the Hangul fillers
#: U+115F, U+1160, U+3164, U+FFA0). Unlike a zero-width space they are drawn as a blank as wide
#: as a letter, so one can stand for the space between two names as well as hide inside a word:
#: a name holding one has two readings (see :func:`blank_letters_as_spaces`).
BLANK_LETTERS: Final = frozenset(cp for cp in INVISIBLE if unicodedata.category(chr(cp)) == "Lo")

_BLANK_LETTERS_AS_SPACES: Final = dict.fromkeys(BLANK_LETTERS, " ")


def has_blank_letter(text: str) -> bool:
    """Whether ``text`` holds one of :data:`BLANK_LETTERS`."""
    return not text.isascii() and any(ord(char) in BLANK_LETTERS for char in text)


def blank_letters_as_spaces(text: str) -> str:
    """``text`` with each of :data:`BLANK_LETTERS` read as the space it is drawn as (the other
    reading, dropping them, is what every canonicaliser does)."""
    return text.translate(_BLANK_LETTERS_AS_SPACES)


def drop_invisible(text: str) -> str:
    """``text`` without its invisible code points (ASCII text is returned as it is)."""
    if text.isascii():
        return text
    return text.translate(DROP_INVISIBLE)


@functools.cache
def _prototypes() -> Mapping[str, str]:
    """Each confusable source character to its TR39 prototype (rebuilt; see the module doc)."""
    data_file = resources.files(CONFUSABLES_PACKAGE).joinpath("confusables.json")
    pairs: dict[str, list[dict[str, str]]] = json.loads(data_file.read_text(encoding="utf-8"))
    # confusables.txt wraps right-to-left characters in LEFT-TO-RIGHT MARKs in the comments the
    # package parses: unwrap them, or Arabic and Hebrew look-alikes would be missed.
    partners: dict[str, list[str]] = {}
    for wrapped, entries in pairs.items():
        found_for = partners.setdefault(wrapped.replace(_LRM, ""), [])
        found_for.extend(entry["c"].replace(_LRM, "") for entry in entries)
    found: dict[str, str] = {}
    for char, others in partners.items():
        if len(char) != 1 or len(others) != 1:
            continue  # a multi-character key or a centre with several sources is a prototype
        other = others[0]
        if len(other) > 1 or len(partners.get(other, ())) > 1:
            found[char] = other
        else:
            # A two-member group: one representative for both.
            centre = min(char, other, key=lambda c: (not c.isascii(), ord(c)))
            if centre != char:
                found[char] = centre
    return found


def prototype(char: str) -> str:
    """TR39 prototype of one character (the character itself when it imitates nothing)."""
    return _prototypes().get(char, char)


def lookalike_sources() -> Mapping[str, str]:
    """Every confusable source character and its prototype (for tests and strategies)."""
    return _prototypes()


@functools.cache
def _ascii_by_prototype() -> Mapping[str, frozenset[str]]:
    """Prototype → the printable ASCII characters it stands for (itself included when ASCII)."""
    groups: dict[str, set[str]] = {}
    for char in _ASCII_PRINTABLE:
        groups.setdefault(prototype(char), set()).add(char)
    return {key: frozenset(value) for key, value in groups.items()}


class Ambiguity(enum.Enum):
    """What to do with a look-alike of both a letter and a digit (``O``/``0``, ``l``/``1``)."""

    SAME_CLASS = "same_class"  # a letter imitates the letter, a digit the digit
    DIGIT = "digit"  # phone numbers: only digits are meaningful
    REFUSE = "refuse"  # document numbers: either reading may be the right one


@dataclass(frozen=True, slots=True)
class Target:
    """What one canonicaliser folds look-alikes to."""

    upper: bool
    ambiguity: Ambiguity
    map_digits: bool = True  # False: digits of other scripts are left for the caller to judge


# What _resolve answers for a look-alike of both a letter and a digit under Ambiguity.REFUSE.
_AMBIGUOUS: Final = "\x00"


def _without_marks(text: str) -> str:
    """Prototypes are in NFD and some carry a mark (Greek eta is n with a line below)."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def _cased(text: str, upper: bool) -> str:
    return text.upper() if upper else text.lower()


def _resolve(char: str, target: Target) -> str | None:
    """The ASCII text ``char`` imitates in ``target``'s case, ``_AMBIGUOUS``, or None."""
    # The character, then its case forms (Cyrillic shha: only the small letter imitates h;
    # Cherokee case-folds to capitals), the target's case first.
    forms = (char.lower(), char.upper()) if target.upper else (char.upper(), char.lower())
    for candidate in (char, *forms):
        if len(candidate) != 1:
            continue
        proto = _without_marks(prototype(candidate))
        if proto == candidate or not proto or not proto.isascii():
            continue
        if candidate.isalpha() and any(c in _ASCII_ALNUM for c in proto):
            # A letter drawn as a letter with a hook is that letter ("'B" for B with hook).
            proto = "".join(c for c in proto if c in _ASCII_ALNUM)
        readings = _ascii_by_prototype().get(proto, frozenset({proto}))
        # A single character imitates a single character: prefer those readings.
        singles = {_cased(r, target.upper) for r in readings if len(r) == 1}
        alnum = {r for r in singles if r in _ASCII_ALNUM}
        choices = alnum or singles or {_cased(proto, target.upper)}
        if len(choices) == 1:
            return next(iter(choices))
        letters = {c for c in choices if c.isalpha()}
        digits = {c for c in choices if c.isdigit()}
        if letters and digits:
            if target.ambiguity is Ambiguity.REFUSE:
                return _AMBIGUOUS
            digit_wanted = target.ambiguity is Ambiguity.DIGIT or char.isdecimal()
            choices = digits if digit_wanted else letters
        if len(choices) > 1 and choices == {_cased("I", target.upper), _cased("L", target.upper)}:
            # TR39 draws capital I and small l alike: a capital imitates I, anything else l.
            return _cased("I" if candidate.isupper() else "L", target.upper)
        return min(choices)
    return None


@functools.cache
def _resolved(target: Target) -> Mapping[int, str]:
    """Every non-ASCII character that imitates something, resolved for ``target``."""
    table: dict[int, str] = {}
    # Sources first, then their case forms: upper- or lower-casing a source may give a character
    # that is no source itself but whose case partner is (Cyrillic shha: only the small letter
    # imitates h), so the table answers the same whatever case the canonicaliser folded to first.
    sources = list(_prototypes())
    forms = [form for source in sources for form in (source.upper(), source.lower())]
    for char in sources + forms:
        if len(char) != 1 or char.isascii() or ord(char) in table:
            continue
        if not target.map_digits and unicodedata.category(char) == "Nd":
            continue
        resolved = _resolve(char, target)
        if resolved is not None:
            table[ord(char)] = resolved
    return table


@functools.cache
def lookalike_table(target: Target) -> Mapping[int, str]:
    """``str.translate`` table: each non-ASCII look-alike to what it imitates, for ``target``.

    Characters whose prototype is not ASCII (a look-alike of another non-Latin letter) are left
    as they are: they cannot pass for a Latin-script identifier, and a name written wholly in
    another script keeps its own letters. Decimal digits of other scripts are left alone when
    ``target.map_digits`` is false, and under ``Ambiguity.REFUSE`` the look-alikes of both a
    letter and a digit are left alone too (see :func:`ambiguous_lookalikes`).
    """
    return {code: text for code, text in _resolved(target).items() if text != _AMBIGUOUS}


@functools.cache
def ambiguous_lookalikes(target: Target) -> frozenset[int]:
    """Under ``Ambiguity.REFUSE``: the code points that imitate both a letter and a digit."""
    return frozenset(code for code, text in _resolved(target).items() if text == _AMBIGUOUS)


def fold_lookalikes(text: str, target: Target) -> str:
    """``text`` with invisible code points dropped and non-ASCII look-alikes mapped (once)."""
    if text.isascii():
        return text
    return text.translate(DROP_INVISIBLE).translate(lookalike_table(target))


#: Person names, birth places and postal addresses: upper case, letters stay letters.
NAME_TARGET: Final = Target(upper=True, ambiguity=Ambiguity.SAME_CLASS)
#: E-mail addresses and account ids: lower case, letters stay letters, digits stay digits.
LOWER_TARGET: Final = Target(upper=False, ambiguity=Ambiguity.SAME_CLASS)
#: Phone numbers: a look-alike of a digit is that digit (digits of other scripts are read by value
#: before this table applies).
PHONE_TARGET: Final = Target(upper=True, ambiguity=Ambiguity.DIGIT, map_digits=False)
#: Document numbers, NIR, IBAN: upper case; a look-alike of both a letter and a digit is refused,
#: and digits of other scripts are refused by the shape checks, never read.
DOCUMENT_TARGET: Final = Target(upper=True, ambiguity=Ambiguity.REFUSE, map_digits=False)
