"""Column-level canonicalisation for ingest: one Arrow array in, canonical array and errors out.

Per-value Python calls cost 15-60 µs for email and phone, far too slow for million-row dumps, so
the hot kinds (email, phone, account_id) have a vectorised fast path in ``pyarrow.compute`` (RE2):
values it recognises are canonicalised in bulk, everything else falls back to the per-value
canonicaliser of :mod:`verrou.identifiers.contact` or :mod:`verrou.identifiers.documents`. The
fast path accepts a value only when it gives exactly the per-value output, and rejects one only
in shapes where the per-value canonicaliser's reason is certain (an ASCII "email" without @, a
national-shaped number no French region recognises, a number without 0 or country code); the
tests check the two paths against each other element-wise, output, validity and reason.

Phone validity on the fast path is not hand-written: the RE2 patterns are built at import from
phonenumbers' own metadata (national number pattern and possible lengths of every number type
that ``is_valid_number`` accepts) and apply the same region rules as ``canonical_phone``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata, PhoneNumberType

from verrou.errors import InvalidIdentifier
from verrou.identifiers import documents
from verrou.identifiers.contact import (
    _EMAIL_FAST,
    _EMAIL_LONG_LABEL,
    _EMAIL_MAX_OCTETS,
    _EMAIL_RAW_MAX,
    _EMAIL_SPECIAL_USE,
    ACCOUNT_ID_MAX,
    GMAIL_DOMAINS,
    OVERSEAS_NATIONAL_REGIONS,
    TERRITORIAL_TYPES,
    canonical_account_id,
    canonical_email,
    canonical_phone,
    is_service_slug,
)
from verrou.identifiers.kinds import Kind


@dataclass(frozen=True, slots=True)
class ColumnResult:
    """Canonical values of one column and the reasons of its invalid values."""

    canonical: pa.Array
    """``pa.string()``, same length as the input; null where the input is blank or invalid."""
    errors: list[tuple[int, str]]
    """``(index, reason)`` for each non-blank invalid value, ascending index."""


# Per-value canonicalisers of the document kinds, looked up at call time so that the colleague's
# module can be replaced (and its stubs raise NotImplementedError until it lands).
_DOCUMENT_KINDS: Final[dict[Kind, str]] = {
    Kind.NIR: "canonical_nir",
    Kind.CNI: "canonical_cni",
    Kind.PASSPORT: "canonical_passport",
    Kind.DRIVING_LICENCE: "canonical_driving_licence",
    Kind.RESIDENCE_PERMIT: "canonical_residence_permit",
    Kind.IBAN: "canonical_iban",
}


@dataclass(frozen=True, slots=True)
class _Fast:
    """What a fast path decided: ``canonical`` is null wherever ``accepted`` is false.

    ``rejected`` pairs a mask with the reason the per-value canonicaliser certainly gives for
    those values (invalid values are a few percent of a dump, but at 40-150 µs each on the
    per-value path they would cost as much as the whole batch).
    """

    canonical: pa.Array
    accepted: pa.Array
    blank: pa.Array
    rejected: tuple[tuple[pa.Array, str], ...] = ()


def _mask(array: pa.Array) -> pa.Array:
    """A boolean mask with nulls read as False."""
    # Kleene "and" with the validity: null becomes false. (Not fill_null: any scalar argument
    # makes pyarrow try to import dateutil, a failed file-system lookup on every call.)
    return pc.and_kleene(array, pc.is_valid(array))


def _lengths(values: pa.Array) -> npt.NDArray[np.int32]:
    """Byte length of each value (0 for null), from the offsets."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32, count=len(values) + 1)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    lengths: npt.NDArray[np.int32] = np.diff(offsets)
    if values.null_count:
        lengths[~values.is_valid().to_numpy(zero_copy_only=False)] = 0
    return lengths


def _bytes_at_most(values: pa.Array, limit: int) -> pa.Array:
    """Values of at most ``limit`` bytes. Bytes bound characters from above, so as a fast-path
    condition it can only send a value to the per-value path, never accept one wrongly."""
    return pa.array(_lengths(values) <= limit)


def _empty(values: pa.Array) -> pa.Array:
    """Non-null empty strings."""
    return pc.and_(pa.array(_lengths(values) == 0), pc.is_valid(values))


# The ASCII characters str.strip() removes (Arrow's ascii_trim_whitespace leaves \x1c-\x1f).
_PYTHON_ASCII_WHITESPACE: Final = " \t\n\v\f\r\x1c\x1d\x1e\x1f"


def _python_blank(values: pa.Array) -> pa.Array:
    """Values that ``not raw.strip()`` calls blank, among those made of ASCII whitespace only;
    other blank values (NBSP, ideographic space) are found on the per-value path."""
    return _empty(pc.utf8_trim(values, characters=_PYTHON_ASCII_WHITESPACE))


def _match(values: pa.Array, pattern: str) -> pa.Array:
    return _mask(pc.match_substring_regex(values, pattern=pattern))


# --------------------------------------------------------------------------------------------
# Email fast path
# --------------------------------------------------------------------------------------------

# A dot-atom local part of RFC 5322 atext (lower case only: the value is lower-cased first) and a
# domain of labels that start and end alphanumeric with no "--" anywhere (email-validator rejects
# "ab--" labels that are not punycode, and "xn--" labels are decoded and re-checked, so both stay
# on the per-value path), under an alphabetic TLD. email-validator returns such an address
# unchanged: DOT_ATOM_TEXT local part, DOT_ATOM_TEXT_HOSTNAME domain, idempotent UTS-46 remap.


def _email_aliases(text: pa.Array) -> pa.Array:
    """contact._mailbox_aliases in bulk: ``+tag`` dropped everywhere, Gmail dots dropped.

    Each rewrite runs only on the rows it concerns (a regex pass over a whole batch would cost
    more than the rest of the email fast path)."""
    tagged = _mask(pc.match_substring(text, "+"))
    if pc.any(tagged).as_py():
        untagged = pc.replace_substring_regex(
            text.filter(tagged), pattern=_EMAIL_TAG, replacement=r"\1@"
        )
        text = pc.replace_with_mask(text, tagged, untagged)
    gmail = _falses(len(text))
    for domain in sorted(GMAIL_DOMAINS):
        gmail = pc.or_(gmail, _mask(pc.ends_with(text, "@" + domain)))
    if pc.any(gmail).as_py():
        local = text.filter(gmail)
        for domain in sorted(GMAIL_DOMAINS):
            # An address has one "@", so the literal "@domain" can only be its end.
            local = pc.replace_substring(local, "@" + domain, "")
        local = pc.replace_substring(local, ".", "")
        text = pc.replace_with_mask(
            text, gmail, pc.binary_join_element_wise(local, "@gmail.com", "")
        )
    return text


# "+tag" after a non-empty local part, with the dots just before it (see _mailbox_aliases).
_EMAIL_TAG: Final = r"^([^@+]*[^@+.])\.*\+[^@]*@"


def _email_fast(values: pa.Array) -> _Fast:
    # ascii_* functions only touch ASCII, exactly like NFKC + str.strip + str.lower do on the
    # all-ASCII values the regex lets through.
    text = pc.ascii_lower(pc.ascii_trim_whitespace(values))
    blank = _python_blank(values)
    accepted = pc.and_(
        pc.and_(_match(text, _EMAIL_FAST), pc.invert(_match(text, _EMAIL_LONG_LABEL))),
        pc.and_(
            pc.invert(_match(text, _EMAIL_SPECIAL_USE)),
            pc.and_(
                _bytes_at_most(text, _EMAIL_MAX_OCTETS),
                _bytes_at_most(values, _EMAIL_RAW_MAX),
            ),
        ),
    )
    canonical = pc.if_else(accepted, _email_aliases(text), pa.scalar(None, pa.string()))
    # An ASCII value without "@" (NFKC can only make one from a non-ASCII at-sign look-alike).
    no_at = pc.and_(
        pc.and_(_mask(pc.string_is_ascii(values)), pc.invert(blank)),
        pc.and_(
            pc.invert(_mask(pc.match_substring(values, "@"))),
            _bytes_at_most(values, _EMAIL_RAW_MAX),
        ),
    )
    return _Fast(canonical, accepted, blank, ((no_at, "no @ in the address"),))


# --------------------------------------------------------------------------------------------
# Phone fast path: RE2 rules built from phonenumbers' metadata
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Desc:
    """One PhoneNumberDesc: its national number pattern and the lengths it allows (empty: any)."""

    pattern: str
    lengths: frozenset[int]

    def allows(self, length: int) -> bool:
        return not self.lengths or length in self.lengths


@dataclass(frozen=True, slots=True)
class _RegionRules:
    region: str
    general: _Desc
    # (type, desc) in the order phonenumbers' _number_type_helper tests them: the first that
    # matches is the number's type.
    ordered: tuple[tuple[int, _Desc], ...]
    leading_digits: str | None


@dataclass(frozen=True, slots=True)
class _LengthRules:
    """The RE2 patterns of one region for national numbers of one length."""

    general: str | None  # None: no number of this length is valid
    # One named group per applicable type, in type order: RE2 alternation is leftmost-first, so
    # the group that captures is the first type that matches, i.e. phonenumbers' number type.
    classifier: str | None
    territorial_groups: tuple[str, ...]
    any_type: str | None  # the union of the applicable types: validity without the type


def _desc(metadata: PhoneMetadata, name: str) -> _Desc | None:
    desc = getattr(metadata, name)
    if desc is None or not desc.national_number_pattern:
        return None
    pattern = str(desc.national_number_pattern)
    if "\\(" in pattern:  # pragma: no cover - digits patterns never match a literal parenthesis
        raise RuntimeError(f"unexpected phone pattern in phonenumbers metadata: {name}")
    # Make every group non-capturing so that only our named groups capture.
    pattern = re.sub(r"\((?!\?)", "(?:", pattern)
    return _Desc(pattern, frozenset(desc.possible_length or ()))


def _region_rules(region: str) -> _RegionRules:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:  # pragma: no cover - regions come from phonenumbers' own country map
        raise RuntimeError(f"phonenumbers has no metadata for region {region}")
    general = _desc(metadata, "general_desc")
    if general is None:  # pragma: no cover - every region has a general description
        raise RuntimeError(f"phonenumbers has no general pattern for region {region}")
    # phonenumbers.phonenumberutil._number_type_helper: these first, then fixed line, then
    # mobile unless the two patterns are declared the same (the number is then fixed-or-mobile).
    names = [
        ("premium_rate", PhoneNumberType.PREMIUM_RATE),
        ("toll_free", PhoneNumberType.TOLL_FREE),
        ("shared_cost", PhoneNumberType.SHARED_COST),
        ("voip", PhoneNumberType.VOIP),
        ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
        ("pager", PhoneNumberType.PAGER),
        ("uan", PhoneNumberType.UAN),
        ("voicemail", PhoneNumberType.VOICEMAIL),
        ("fixed_line", PhoneNumberType.FIXED_LINE),
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        names.append(("mobile", PhoneNumberType.MOBILE))
    ordered = tuple((code, found) for name, code in names if (found := _desc(metadata, name)))
    return _RegionRules(region, general, ordered, metadata.leading_digits)


@functools.cache
def _length_rules(region: str, length: int) -> _LengthRules:
    rules = _REGIONS[region]
    if not rules.general.allows(length):
        return _LengthRules(None, None, (), None)
    applicable = [(code, desc) for code, desc in rules.ordered if desc.allows(length)]
    if not applicable:
        return _LengthRules(None, None, (), None)
    classifier = (
        "^(?:"
        + "|".join(f"(?P<t{index}>{desc.pattern})" for index, (_, desc) in enumerate(applicable))
        + ")$"
    )
    territorial = tuple(
        f"t{index}" for index, (code, _) in enumerate(applicable) if code in TERRITORIAL_TYPES
    )
    any_type = "^(?:" + "|".join(desc.pattern for _, desc in applicable) + ")$"
    return _LengthRules(f"^(?:{rules.general.pattern})$", classifier, territorial, any_type)


_MAINLAND_CC: Final = 33
_NSN_LENGTH: Final = 9  # national significant numbers of the national shape: 0 + 9 digits
#: Country codes of the national-number fallbacks, in canonical_phone's region order.
_NATIONAL_OVERSEAS_CCS: Final[tuple[int, ...]] = tuple(
    dict.fromkeys(
        phonenumbers.country_code_for_region(region) for region in OVERSEAS_NATIONAL_REGIONS
    )
)
#: Country codes recognised in international form on the fast path: mainland, the overseas
#: departments and collectivities. +269 is NOT Mayotte but the Comoros (Mayotte is +262 269/639),
#: so it stays on the per-value path like any other foreign number.
_INTERNATIONAL_FAST_CCS: Final[tuple[int, ...]] = (33, 262, 590, 594, 596, 508, 681, 687, 689)
#: Regions of each country code, in phonenumbers' order (region_code_for_number walks it).
_COUNTRY_REGIONS: Final[dict[int, tuple[str, ...]]] = {
    cc: tuple(
        region
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
        if PhoneMetadata.metadata_for_region(region) is not None
    )
    for cc in dict.fromkeys((_MAINLAND_CC, *_NATIONAL_OVERSEAS_CCS, *_INTERNATIONAL_FAST_CCS))
}
_REGIONS: Final[dict[str, _RegionRules]] = {
    region: _region_rules(region) for regions in _COUNTRY_REGIONS.values() for region in regions
}
# A superset of the national numbers an overseas region may claim as territorial: only rows that
# match it need the (more costly) overseas evaluation.
_OVERSEAS_TERRITORIAL_ANY: Final = (
    "^(?:"
    + "|".join(
        desc.pattern
        for cc in _NATIONAL_OVERSEAS_CCS
        for region in _COUNTRY_REGIONS[cc]
        for code, desc in _REGIONS[region].ordered
        if code in TERRITORIAL_TYPES
    )
    + ")$"
)

#: Per country code, a pattern every number valid there matches (the union of all its types).
_COUNTRY_ANY: Final[dict[int, str]] = {
    cc: "^(?:"
    + "|".join(desc.pattern for region in regions for _, desc in _REGIONS[region].ordered)
    + ")$"
    for cc, regions in _COUNTRY_REGIONS.items()
}

_PHONE_INTERNATIONAL: Final = (
    r"^(?:\+|00)(?:" + "|".join(str(cc) for cc in _INTERNATIONAL_FAST_CCS) + r")[1-9][0-9]{3,13}$"
)
_PHONE_RAW_MAX: Final = 64  # canonical_phone's own bound on the raw value


def _falses(length: int) -> pa.Array:
    return pa.array(np.zeros(length, dtype=np.bool_))


def _bytes_of(values: pa.Array) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """Offsets (from 0) and UTF-8 bytes of a ``pa.string()`` array with offset 0."""
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32, count=len(values) + 1)
    start, end = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)[start:end]
        if buffers[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return (offsets - start if start else offsets), data


# Bytes canonical_phone treats as separators (every one of them is, whatever NFKC does):
# ASCII spaces, . ( ) / - and, as UTF-8 sequences, NBSP, FIGURE SPACE and NARROW NBSP.
_ASCII_SEPARATORS: Final = np.zeros(256, dtype=np.bool_)
_ASCII_SEPARATORS[[ord(c) for c in " \t\n\v\f\r.()/-"]] = True
_MULTIBYTE_SEPARATORS: Final = tuple(c.encode() for c in ("\u00a0", "\u2007", "\u202f"))
_IS_DIGIT: Final = np.zeros(256, dtype=np.bool_)
_IS_DIGIT[ord("0") : ord("9") + 1] = True


def _compact_phones(values: pa.Array) -> pa.Array:
    """The values without separators, in bulk on the bytes (one regex pass costs more)."""
    offsets, data = _bytes_of(values)
    drop = np.take(_ASCII_SEPARATORS, data)
    multibyte = len(data) > 0 and int(data.max()) >= 0x80
    for sequence in _MULTIBYTE_SEPARATORS if multibyte else ():
        width = len(sequence)
        if len(data) < width:
            continue
        starts = np.ones(len(data) - width + 1, dtype=np.bool_)
        for position, byte in enumerate(sequence):
            starts &= data[position : len(data) - width + 1 + position] == byte
        for position in range(width):
            drop[position : len(data) - width + 1 + position] |= starts
    keep = ~drop
    # int32 like Arrow's own offsets: a string array never holds 2 GiB in one batch.
    kept_before = np.concatenate((np.zeros(1, np.int32), np.cumsum(keep, dtype=np.int32)))
    new_offsets = np.take(kept_before, offsets)
    validity = pc.is_valid(values).buffers()[1] if values.null_count else None
    return pa.StringArray.from_buffers(
        len(values),
        pa.py_buffer(new_offsets),
        pa.py_buffer(data[keep]),
        validity,
        values.null_count,
    )


def _digit_shapes(compact: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Masks computed on the bytes: national shape (``0``, a non-zero digit, 8 digits), "4 to
    17 ASCII digits, the first not 0" (a number without trunk prefix or country code), and
    "starts with + or 00" (to be checked by a regex)."""
    offsets, data = _bytes_of(compact)
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    non_digits = np.concatenate(
        (np.zeros(1, np.int32), np.cumsum(~np.take(_IS_DIGIT, data), dtype=np.int32))
    )
    digits_only = (lengths > 0) & (np.take(non_digits, offsets[1:]) == np.take(non_digits, starts))
    two = lengths >= 2
    first = np.zeros(len(starts), dtype=np.uint8)
    second = np.zeros(len(starts), dtype=np.uint8)
    first[two] = data[starts[two]]
    second[two] = data[starts[two] + 1]
    national = digits_only & (lengths == 10) & (first == ord("0")) & (second != ord("0"))
    bare = digits_only & (lengths >= 4) & (lengths <= 17) & (first != ord("0"))
    international = (first == ord("+")) | ((first == ord("0")) & (second == ord("0")))
    valid = pc.is_valid(compact)
    return (
        _mask(pc.and_(pa.array(national), valid)),
        _mask(pc.and_(pa.array(bare), valid)),
        _mask(pc.and_(pa.array(international), valid)),
    )


# Every national significant number the fast path evaluates is [1-9] followed by digits. When a
# region's general pattern is exactly "a non-zero digit then n digits" (mainland France's is), it
# holds for every such number of that length and its regex pass is skipped.
_SHAPE_GENERAL: Final = re.compile(r"\^\(\?:\[1-9\]\\d\{(\d+)\}\)\$")


def _general_is_shape(pattern: str, length: int) -> bool:
    found = _SHAPE_GENERAL.fullmatch(pattern)
    return found is not None and int(found.group(1)) == length - 1


def _region_types_of_length(
    nsn: pa.Array, region: str, length: int, territorial: bool
) -> tuple[pa.Array, pa.Array]:
    rules = _length_rules(region, length)
    if rules.general is None or rules.classifier is None or rules.any_type is None:
        return _falses(len(nsn)), _falses(len(nsn))
    if _general_is_shape(rules.general, length):
        general = pa.array(np.ones(len(nsn), dtype=np.bool_))
    else:
        general = _match(nsn, rules.general)
    if not territorial:
        valid = pc.and_(general, _match(nsn, rules.any_type))
        return valid, _falses(len(nsn))
    classified = pc.extract_regex(nsn, pattern=rules.classifier)
    valid = pc.and_(general, pc.is_valid(classified))
    claimed = _falses(len(nsn))
    for group in rules.territorial_groups:
        captured = pa.array(_lengths(pc.struct_field(classified, group)) > 0)
        claimed = pc.or_(claimed, captured)
    return valid, pc.and_(valid, claimed)


def _region_types(
    nsn: pa.Array, region: str, territorial: bool, length: int | None
) -> tuple[pa.Array, pa.Array]:
    """(valid, territorial) masks: phonenumbers' _number_type_helper for one region.

    With ``territorial=False`` only validity is computed (two regex passes, not a classifier).
    ``length``, when given, is the length of every number of ``nsn``.
    """
    if length is not None:
        return _region_types_of_length(nsn, region, length, territorial)
    lengths = pc.utf8_length(nsn)
    distinct = [length for length in pc.unique(lengths).to_pylist() if length is not None]
    if len(distinct) == 1:
        return _region_types_of_length(nsn, region, distinct[0], territorial)
    valid, claimed = _falses(len(nsn)), _falses(len(nsn))
    for length in distinct:
        rows = pa.array(lengths.to_numpy(zero_copy_only=False) == length)
        sub_valid, sub_claimed = _region_types_of_length(
            nsn.filter(rows), region, length, territorial
        )
        valid = pc.replace_with_mask(valid, rows, sub_valid)
        claimed = pc.replace_with_mask(claimed, rows, sub_claimed)
    return valid, claimed


def _country_types(
    nsn: pa.Array, country_code: int, territorial: bool = True, length: int | None = None
) -> tuple[pa.Array, pa.Array]:
    """(valid, territorial) masks for national significant numbers of one country code.

    Mirrors region_code_for_number: the first region of the country code whose leading digits
    match (or, without leading digits, that recognises the number) decides validity and type.
    """
    claimed = _falses(len(nsn))
    valid, is_territorial = claimed, claimed
    for region in _COUNTRY_REGIONS[country_code]:
        region_valid, region_territorial = _region_types(nsn, region, territorial, length)
        leading_digits = _REGIONS[region].leading_digits
        if leading_digits is not None:
            claims = _match(nsn, f"^(?:{leading_digits})")
        else:
            claims = region_valid
        takes = pc.and_(claims, pc.invert(claimed))
        valid = pc.or_(valid, pc.and_(takes, region_valid))
        is_territorial = pc.or_(is_territorial, pc.and_(takes, region_territorial))
        claimed = pc.or_(claimed, claims)
    return valid, is_territorial


def _choose(choice: pa.Array, mask: pa.Array, country_code: int) -> pa.Array:
    """Set ``country_code`` where ``mask`` holds and nothing was chosen yet."""
    free = pc.and_(mask, pc.is_null(choice))
    return pc.if_else(free, pa.scalar(country_code, pa.int32()), choice)


def _national_choice(nsn: pa.Array) -> pa.Array:
    """Country code (null if none) of national numbers: canonical_phone's rules."""
    mainland_valid, _ = _country_types(nsn, _MAINLAND_CC, territorial=False, length=_NSN_LENGTH)
    # A mainland-valid number no overseas region could claim as territorial is mainland's
    # whatever its type: the common case, settled with three regex passes.
    settled = pc.and_(mainland_valid, pc.invert(_match(nsn, _OVERSEAS_TERRITORIAL_ANY)))
    choice = pc.if_else(settled, pa.scalar(33, pa.int32()), pa.scalar(None, pa.int32()))
    rest = pc.invert(settled)
    if not pc.any(rest).as_py():
        return choice
    sub_nsn = nsn.filter(rest)
    sub_valid, sub_territorial = _country_types(sub_nsn, _MAINLAND_CC, length=_NSN_LENGTH)
    sub_choice = pa.nulls(len(sub_nsn), pa.int32())
    sub_choice = _choose(sub_choice, pc.and_(sub_valid, pc.invert(sub_territorial)), 33)
    # Each regex call compiles its pattern, so the cost is per call more than per row: evaluate
    # a country code's regions only on the rows that match one of its patterns at all.
    verdicts: list[tuple[int, pa.Array, pa.Array]] = []
    for cc in _NATIONAL_OVERSEAS_CCS:
        candidates = _match(sub_nsn, _COUNTRY_ANY[cc])
        if not pc.any(candidates).as_py():
            continue
        valid, territorial = _country_types(sub_nsn.filter(candidates), cc, length=_NSN_LENGTH)
        verdicts.append(
            (
                cc,
                pc.replace_with_mask(_falses(len(sub_nsn)), candidates, valid),
                pc.replace_with_mask(_falses(len(sub_nsn)), candidates, territorial),
            )
        )
    for cc, _, territorial in verdicts:
        sub_choice = _choose(sub_choice, territorial, cc)
    sub_choice = _choose(sub_choice, sub_valid, 33)
    for cc, valid, _ in verdicts:
        sub_choice = _choose(sub_choice, valid, cc)
    return pc.replace_with_mask(choice, rest, sub_choice)


def _national_significant_bytes(
    compact: pa.Array, rows: npt.NDArray[np.intp]
) -> npt.NDArray[np.uint8]:
    """The 9 digits after the trunk 0 of national-shaped ``rows``, as a (rows, 9) byte matrix."""
    offsets, data = _bytes_of(compact)
    matrix: npt.NDArray[np.uint8] = data[offsets[rows][:, None] + np.arange(1, 1 + _NSN_LENGTH)]
    return matrix


def _e164_from_codes(
    length: int,
    rows: npt.NDArray[np.intp],
    codes: npt.NDArray[np.int32],
    nsn_bytes: npt.NDArray[np.uint8],
) -> pa.Array:
    """ "+" + country code + national number for ``rows`` (code 0: null), built on the bytes:
    one byte matrix instead of a string join and a masked replace over the whole batch."""
    prefixes = {int(code): f"+{code}".encode() for code in np.unique(codes) if code}
    # Right-aligned rows of a (rows, width) matrix; each row keeps its last len(prefix)+9 bytes.
    width = max((len(prefix) for prefix in prefixes.values()), default=0) + _NSN_LENGTH
    matrix = np.zeros((len(rows), width), dtype=np.uint8)
    matrix[:, width - _NSN_LENGTH :] = nsn_bytes
    row_widths = np.zeros(len(rows), dtype=np.int32)
    for code, prefix in prefixes.items():
        chosen = codes == code
        matrix[chosen, width - _NSN_LENGTH - len(prefix) : width - _NSN_LENGTH] = np.frombuffer(
            prefix, dtype=np.uint8
        )
        row_widths[chosen] = len(prefix) + _NSN_LENGTH
    keep = np.arange(width) >= (width - row_widths)[:, None]
    out_lengths = np.zeros(length, dtype=np.int32)
    out_lengths[rows] = row_widths
    offsets = np.concatenate((np.zeros(1, np.int32), np.cumsum(out_lengths, dtype=np.int32)))
    present = out_lengths > 0
    return pa.StringArray.from_buffers(
        length,
        pa.py_buffer(offsets),
        pa.py_buffer(matrix[keep]),
        pa.py_buffer(np.packbits(present, bitorder="little")),
        int(length - np.count_nonzero(present)),
    )


def _phone_fast(values: pa.Array) -> _Fast:
    length = len(values)
    blank = _python_blank(values)
    compact = _compact_phones(values)
    # Bytes bound characters from above: a value this test turns away is only sent to the
    # per-value path, never accepted wrongly.
    raw_offsets, _ = _bytes_of(values)
    short_enough = pa.array(np.diff(raw_offsets) <= _PHONE_RAW_MAX)
    national_shape, bare_shape, international_start = _digit_shapes(compact)
    national = pc.and_(short_enough, national_shape)
    maybe_international = pc.and_(short_enough, international_start)
    canonical = pa.nulls(length, pa.string())
    # canonical_phone's reasons for values of these shapes, whose every earlier check passes.
    rejected = [(pc.and_(short_enough, bare_shape), "no country code and no leading 0")]

    if pc.any(national).as_py():
        rows = np.flatnonzero(national.to_numpy(zero_copy_only=False))
        nsn_bytes = _national_significant_bytes(compact, rows)
        nsn = pa.StringArray.from_buffers(
            len(rows),
            pa.py_buffer(np.arange(len(rows) + 1, dtype=np.int32) * _NSN_LENGTH),
            pa.py_buffer(nsn_bytes),
        )
        choice = _national_choice(nsn)
        codes = np.nan_to_num(choice.to_numpy(zero_copy_only=False), nan=0).astype(np.int32)
        canonical = _e164_from_codes(length, rows, codes, nsn_bytes)
        no_region = np.zeros(length, dtype=np.bool_)
        no_region[rows[codes == 0]] = True
        rejected.append((pa.array(no_region), "not a valid number for any French region"))

    if pc.any(maybe_international).as_py():
        candidates = compact.filter(maybe_international)
        international = _match(candidates, _PHONE_INTERNATIONAL)
        number = pc.if_else(
            _mask(pc.starts_with(candidates, "+")),
            pc.utf8_slice_codeunits(candidates, start=1),
            pc.utf8_slice_codeunits(candidates, start=2),
        )
        accepted = _falses(len(number))
        known = _falses(len(number))
        for cc in _INTERNATIONAL_FAST_CCS:
            prefix = str(cc)
            has_cc = pc.and_(international, _mask(pc.starts_with(number, prefix)))
            if not pc.any(has_cc).as_py():
                continue
            nsn = pc.utf8_slice_codeunits(number.filter(has_cc), start=len(prefix))
            valid, _ = _country_types(nsn, cc, territorial=False)
            accepted = pc.replace_with_mask(accepted, has_cc, valid)
            known = pc.or_(known, has_cc)
        e164 = pc.if_else(
            accepted,
            pc.binary_join_element_wise("+", number, ""),
            pa.scalar(None, pa.string()),
        )
        canonical = pc.replace_with_mask(canonical, maybe_international, e164)
        invalid = pc.and_(known, pc.invert(accepted))
        rejected.append(
            (
                pc.replace_with_mask(_falses(length), maybe_international, invalid),
                "not a valid number for its country code",
            )
        )

    return _Fast(canonical, pc.is_valid(canonical), blank, tuple(rejected))


# --------------------------------------------------------------------------------------------
# Account id fast path
# --------------------------------------------------------------------------------------------

# Printable ASCII plus the ASCII whitespace Arrow and Python agree on. NFKC and str.casefold are
# the identity and ASCII lower-casing on these; \x1c-\x1f (whitespace to Python only) and the
# control characters stay on the per-value path.
_ACCOUNT_FAST_CHARS: Final = r"^[\x20-\x7e\t\n\v\f\r]*$"
_ACCOUNT_RAW_MAX: Final = 4 * ACCOUNT_ID_MAX  # canonical_account_id's own bound on the raw value


def _account_fast(values: pa.Array, namespace: str) -> _Fast:
    collapsed = pc.replace_substring_regex(values, pattern=r"[\t\n\v\f\r ]+", replacement=" ")
    text = pc.ascii_lower(pc.utf8_trim(collapsed, characters=" "))
    plain = pc.and_(
        _match(values, _ACCOUNT_FAST_CHARS),
        _bytes_at_most(values, _ACCOUNT_RAW_MAX),
    )
    empty = _empty(text)
    blank = pc.and_(plain, empty)
    accepted = pc.and_(
        pc.and_(plain, pc.invert(empty)),
        _bytes_at_most(text, ACCOUNT_ID_MAX),
    )
    canonical = pc.if_else(
        accepted,
        pc.binary_join_element_wise(f"{namespace}:", text, ""),
        pa.scalar(None, pa.string()),
    )
    return _Fast(canonical, accepted, blank)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        # large_string, string_view, dictionary, null, or numbers inferred by a CSV reader.
        values = values.cast(pa.string())
    if values.offset != 0:
        # The phone fast path reads the buffers directly; give it an unsliced array.
        values = pa.concat_arrays([values])
    return values


def _per_value(kind: Kind, namespace: str | None) -> Callable[[str], str]:
    if kind is Kind.EMAIL:
        return canonical_email
    if kind is Kind.PHONE:
        return canonical_phone
    if kind is Kind.ACCOUNT_ID:
        service = namespace or ""
        return lambda raw: canonical_account_id(service, raw)
    if kind in _DOCUMENT_KINDS:
        function: Callable[[str], str] = getattr(documents, _DOCUMENT_KINDS[kind])
        return function
    raise ValueError(f"{kind.value} is not a single-field identifier kind")


def canonicalise_column(
    kind: Kind, values: pa.Array | pa.ChunkedArray, *, namespace: str | None = None
) -> ColumnResult:
    """Canonicalise one column of raw identifiers of ``kind``.

    Blank values (null, empty or whitespace only) give null and no error. Invalid values give
    null and an ``(index, reason)`` error; reasons never contain the value. ``namespace`` is the
    service slug of ``account_id`` columns (required there, refused elsewhere). Email, phone and
    account ids take a vectorised path whose output equals the per-value canonicaliser's; other
    values, and other kinds, are canonicalised value by value.
    """
    if kind is Kind.ACCOUNT_ID:
        if namespace is None:
            raise ValueError("an account_id column needs the namespace (service slug)")
        if not is_service_slug(namespace):
            raise InvalidIdentifier(
                "account_id", "service must be lower-case letters, digits and single hyphens"
            )
    elif namespace is not None:
        raise ValueError("namespace applies to account_id columns only")
    per_value = _per_value(kind, namespace)
    strings = _as_strings(values)
    length = len(strings)

    fast: _Fast | None
    if kind is Kind.EMAIL:
        fast = _email_fast(strings)
    elif kind is Kind.PHONE:
        fast = _phone_fast(strings)
    elif kind is Kind.ACCOUNT_ID:
        fast = _account_fast(strings, namespace or "")
    else:
        fast = None

    errors: list[tuple[int, str]] = []
    if fast is None:
        canonical = pa.nulls(length, pa.string())
        slow = pc.is_valid(strings)
    else:
        canonical = fast.canonical
        settled = pc.or_(fast.accepted, fast.blank)
        for mask, reason in fast.rejected:
            # Exclude what is already settled: a value is in at most one category.
            mask = pc.and_(mask, pc.invert(settled))
            if pc.any(mask).as_py():
                errors.extend((index, reason) for index in pc.indices_nonzero(mask).to_pylist())
                settled = pc.or_(settled, mask)
        slow = pc.and_(pc.is_valid(strings), pc.invert(settled))
    if not pc.any(slow).as_py():
        return ColumnResult(canonical, sorted(errors))

    indices: Sequence[int] = pc.indices_nonzero(slow).to_pylist()
    raw_values: Sequence[str] = strings.filter(slow).to_pylist()
    results: list[str | None] = []
    for index, raw in zip(indices, raw_values, strict=True):
        if not raw.strip():
            results.append(None)
            continue
        try:
            results.append(per_value(raw))
        except InvalidIdentifier as exc:
            results.append(None)
            errors.append((index, exc.reason))
    canonical = pc.replace_with_mask(canonical, slow, pa.array(results, pa.string()))
    return ColumnResult(canonical, sorted(errors))
