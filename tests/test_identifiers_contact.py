"""Email, phone and account-id canonicalisers: vectors, properties and privacy of reasons."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from verrou.errors import InvalidIdentifier
from verrou.identifiers import contact
from verrou.identifiers.contact import (
    OVERSEAS_INTERNATIONAL_ONLY_REGIONS,
    OVERSEAS_NATIONAL_REGIONS,
    TERRITORIAL_TYPES,
    canonical_account_id,
    canonical_email,
    canonical_phone,
)

# Every reason a canonicaliser may give. A closed set is what guarantees that no reason can
# carry a value (or a part of one).
EMAIL_REASONS = {
    "address too long",
    "empty address",
    "no @ in the address",
    "more than one @",
    "whitespace inside the address",
    "not a valid email address",
    *(reason for _, reason in contact._EMAIL_REASONS),
}
PHONE_REASONS = {
    "too many characters for a phone number",
    "empty number",
    "has an extension (shared line)",
    "unexpected character in the number",
    "too many digits",
    "too few digits",
    "unknown country code",
    "not a valid number for its country code",
    "no country code and no leading 0",
    "not a valid number for any French region",
}
ACCOUNT_REASONS = {
    "service must be lower-case letters, digits and single hyphens",
    f"id longer than {contact.ACCOUNT_ID_MAX} characters",
    "empty id",
    "control or invalid character in the id",
}

WHITESPACE = [" ", "\t", "\u00a0", "\u202f", "\u3000", "\n"]
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _reason(function: object, *args: str) -> str:
    assert callable(function)
    with pytest.raises(InvalidIdentifier) as caught:
        function(*args)
    return caught.value.reason


# --------------------------------------------------------------------------------------------
# Email vectors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("jean.dupont@orange.fr", "jean.dupont@orange.fr"),
        ("  Jean.Dupont@Orange.FR\u00a0", "jean.dupont@orange.fr"),
        # Gmail ignores dots and +tag; every provider's +tag is dropped (contact docstring).
        ("JEAN-PIERRE.MARTIN+ants@GMAIL.COM", "jean-pierremartin@gmail.com"),
        ("jean.pierre@googlemail.com", "jeanpierre@gmail.com"),
        ("jean.dupont+banque@orange.fr", "jean.dupont@orange.fr"),
        ("+ants@orange.fr", "+ants@orange.fr"),
        # Invisible code points are dropped (email 2), not refused.
        ("jean\u200b@orange.fr", "jean@orange.fr"),
        ("o'brien@laposte.net", "o'brien@laposte.net"),
        # IDN: the ASCII (punycode) form is canonical, whichever form the dump has.
        ("jean@café.fr", "jean@xn--caf-dma.fr"),
        ("jean@CAFÉ.fr", "jean@xn--caf-dma.fr"),
        ("jean@xn--caf-dma.fr", "jean@xn--caf-dma.fr"),
        # SMTPUTF8 local parts are kept, lower-cased.
        ("Jérôme@LaPoste.net", "jérôme@laposte.net"),
        # NFKC: full-width letters and at-sign are the ASCII ones.
        ("ｊｅａｎ＠ｏｒａｎｇｅ．ｆｒ", "jean@orange.fr"),
        ("info@free.fr", "info@free.fr"),
    ],
)
def test_email_vectors(raw: str, expected: str) -> None:
    assert canonical_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty address"),
        ("  \u00a0 ", "empty address"),
        ("jean.dupont.orange.fr", "no @ in the address"),
        ("jean@dupont@orange.fr", "more than one @"),
        ("jean dupont@orange.fr", "whitespace inside the address"),
        ("@orange.fr", "nothing before the @"),
        ("jean@", "nothing after the @"),
        ("jean@orange", "domain has no dot"),
        ("jean@orange.fr1", "domain does not end in a valid top-level domain"),
        ("jean@box.local", "domain is a special-use or reserved name"),
        ("jean@printer.localhost", "domain is a special-use or reserved name"),
        ("jean@site.test", "domain is a special-use or reserved name"),
        ('"jean"@orange.fr', "quoted local part is not supported"),
        ("<jean@orange.fr>", "display name around the address is not supported"),
        ("jean@[192.0.2.1]", "IP address instead of a domain is not supported"),
        ("jean..dupont@orange.fr", "misplaced dot"),
        (".jean@orange.fr", "misplaced dot"),
        ("jean.@orange.fr", "misplaced dot"),
        ("jean@orange..fr", "misplaced dot"),
        ("jean@-orange.fr", "misplaced hyphen in the domain"),
        ("jean@ab--cd.fr", "domain label has two hyphens in 3rd-4th position"),
        ("jean@" + "a" * 64 + ".fr", "domain label longer than 63 characters"),
        ("j" * 250 + "@orange.fr", "address too long"),
        ("j" * 2000 + "@orange.fr", "address too long"),
        ("jean,dupont@orange.fr", "invalid character before the @"),
        ("jean@orange_fr.fr", "invalid character in the domain"),
    ],
)
def test_email_invalid_vectors(raw: str, reason: str) -> None:
    assert _reason(canonical_email, raw) == reason


# --------------------------------------------------------------------------------------------
# Phone vectors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("0612345678", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("06-12-34-56-78", "+33612345678"),
        ("06\u00a012\u00a034\u00a056\u00a078", "+33612345678"),
        ("(01) 23 45 67 89", "+33123456789"),
        ("01/23/45/67/89", "+33123456789"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "+33612345678"),
        ("0033 6 12 34 56 78", "+33612345678"),
        ("０６１２３４５６７８", "+33612345678"),
        ("＋３３６１２３４５６７８", "+33612345678"),
        ("0800 12 34 56", "+33800123456"),
        ("09 51 23 45 67", "+33951234567"),
        # Réunion: fixed and mobile, national and international.
        ("0262 12 34 56", "+262262123456"),
        ("0692 12 34 56", "+262692123456"),
        ("+262 692 12 34 56", "+262692123456"),
        # Mayotte (+262 too, 0269 fixed and 0639 mobile).
        ("0269 61 23 45", "+262269612345"),
        ("0639 01 23 45", "+262639012345"),
        # Guadeloupe, Saint-Barthélemy, Saint-Martin share +590.
        ("0590 12 34 56", "+590590123456"),
        ("+590 590 12 34 56", "+590590123456"),
        ("0690 12 34 56", "+590690123456"),
        # Martinique (0596 is also in libphonenumber's mainland pattern: the overseas one wins).
        ("0596 61 23 45", "+596596612345"),
        ("0696 12 34 56", "+596696123456"),
        ("0696123456", "+596696123456"),
        # Guyane.
        ("0594 12 34 56", "+594594123456"),
        ("0694 12 34 56", "+594694123456"),
        # Saint-Pierre-et-Miquelon, 6-digit national numbers after the trunk 0.
        ("0 41 12 34", "+508411234"),
        ("+508 41 12 34", "+508411234"),
        # New Caledonia, French Polynesia, Wallis-and-Futuna: international form only.
        ("+687 75 12 34", "+687751234"),
        ("+689 87 12 34 56", "+68987123456"),
        ("+681 72 12 34", "+681721234"),
        # Any other country in international form.
        ("+44 20 7946 0958", "+442079460958"),
        ("+32 470 12 34 56", "+32470123456"),
    ],
)
def test_phone_vectors(raw: str, expected: str) -> None:
    assert canonical_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty number"),
        ("   ", "empty number"),
        ("06 12 34 56 78 poste 12", "has an extension (shared line)"),
        ("01 23 45 67 89 ext. 4", "has an extension (shared line)"),
        ("01 23 45 67 89 x4", "has an extension (shared line)"),
        ("06 12 AB CD EF", "unexpected character in the number"),
        ("tel:+33612345678", "unexpected character in the number"),
        ("06 12 34 56 78 +", "unexpected character in the number"),
        ("0612345678901234567890", "too many digits"),
        ("012", "too few digits"),
        ("612345678", "no country code and no leading 0"),
        ("751234", "no country code and no leading 0"),
        ("0123", "not a valid number for any French region"),
        ("06 99 99 99 9", "not a valid number for any French region"),
        ("00 999 123 456", "unknown country code"),
        ("+33 6 12 34 56 7", "not a valid number for its country code"),
        # A Réunion number written with +33 is a different, invalid number.
        ("+33 262 12 34 56", "not a valid number for its country code"),
        ("0" * 70, "too many characters for a phone number"),
    ],
)
def test_phone_invalid_vectors(raw: str, reason: str) -> None:
    assert _reason(canonical_phone, raw) == reason


def test_national_regions_share_the_trunk_prefix_zero() -> None:
    """_national_phone relies on the trunk 0 being the only national prefix of these regions."""
    for region in ("FR", *OVERSEAS_NATIONAL_REGIONS):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        assert metadata.national_prefix == "0"
        assert metadata.national_prefix_for_parsing in (None, "0")
        assert not metadata.national_prefix_transform_rule
    for region in OVERSEAS_INTERNATIONAL_ONLY_REGIONS:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None
        assert metadata.national_prefix is None


def _national_by_parsing(digits: str) -> str | None:
    """The documented region rule, with phonenumbers.parse per region (slow reference)."""
    found: dict[str, tuple[str, int]] = {}
    for region in ("FR", *OVERSEAS_NATIONAL_REGIONS):
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            found[region] = (e164, phonenumbers.number_type(number))
    mainland = found.pop("FR", None)
    if mainland is not None and mainland[1] not in TERRITORIAL_TYPES:
        return mainland[0]
    for e164, number_type in found.values():
        if number_type in TERRITORIAL_TYPES:
            return e164
    if mainland is not None:
        return mainland[0]
    return next(iter(found.values()))[0] if found else None


def test_national_resolution_matches_parsing_with_each_region() -> None:
    rng = random.Random(20260401)
    prefixes = [f"{p:03d}" for p in range(100, 1000)]
    prefixes += [
        f"{head}{p}"
        for head in ("26", "59", "63", "69", "70", "80", "93", "94", "97")
        for p in range(100)
    ]
    for prefix in prefixes:
        for _ in range(2):
            digits = (
                "0" + prefix + "".join(rng.choice("0123456789") for _ in range(9 - len(prefix)))
            )
            assert contact._national_phone(digits) == _national_by_parsing(digits), digits
    for short in ("0411234", "0551234", "0708412345"):
        assert contact._national_phone(short) == _national_by_parsing(short), short


# --------------------------------------------------------------------------------------------
# Account id vectors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "raw", "expected"),
    [
        ("ants", "jdupont", "ants:jdupont"),
        ("ants", "  JDupont ", "ants:jdupont"),
        ("france-titres", "Jean  \t Dupont", "france-titres:jean dupont"),
        ("ants", "ÉLODIE\u00a0Martin", "ants:élodie martin"),
        ("ants", "Straße", "ants:strasse"),
        ("ants", "ｊｄｕｐｏｎｔ１２", "ants:jdupont12"),
        ("ants", "jean\u200bdupont", "ants:jeandupont"),
        ("ants", "ID-000123", "ants:id-000123"),
        ("x1", "a" * 256, "x1:" + "a" * 256),
    ],
)
def test_account_id_vectors(service: str, raw: str, expected: str) -> None:
    assert canonical_account_id(service, raw) == expected


@pytest.mark.parametrize(
    ("service", "raw", "reason"),
    [
        ("ants", "", "empty id"),
        ("ants", " \t\u00a0", "empty id"),
        ("ants", "\u200b", "empty id"),
        ("ants", "a" * 257, "id longer than 256 characters"),
        ("ants", "jean\x00dupont", "control or invalid character in the id"),
        ("ants", "jean\x7fdupont", "control or invalid character in the id"),
        ("ANTS", "jdupont", "service must be lower-case letters, digits and single hyphens"),
        ("france titres", "j", "service must be lower-case letters, digits and single hyphens"),
        ("ants:", "j", "service must be lower-case letters, digits and single hyphens"),
        ("", "j", "service must be lower-case letters, digits and single hyphens"),
        ("-ants", "j", "service must be lower-case letters, digits and single hyphens"),
    ],
)
def test_account_id_invalid_vectors(service: str, raw: str, reason: str) -> None:
    assert _reason(canonical_account_id, service, raw) == reason


# --------------------------------------------------------------------------------------------
# Strategies (shared with the column tests)
# --------------------------------------------------------------------------------------------

_LOCAL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+'!#%&*/=?^`{|}~"
_LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_TLDS = [
    "fr",
    "com",
    "net",
    "org",
    "re",
    "museum",
    "FR",
    "Com",
    "local",
    "test",
    "onion",
    "arpa",
    "invalid",
    "localhost",
    "x",
    "c0m",
    "xn--p1ai",
    "1fr",
]
_DOMAINS = [
    "orange.fr",
    "gmail.com",
    "free.fr",
    "sfr.fr",
    "laposte.net",
    "wanadoo.fr",
    "hotmail.fr",
    "yahoo.fr",
    "café.fr",
    "xn--caf-dma.fr",
    "ab--cd.fr",
    "a-b.fr",
]


_ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-+", min_size=1, max_size=12)


@st.composite
def realistic_emails(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 3)):
        local = ".".join(draw(st.lists(_ATOM, min_size=1, max_size=3)))
    else:
        local = draw(st.text(alphabet=_LOCAL_CHARS, min_size=1, max_size=30))
    if draw(st.integers(0, 2)):
        domain = draw(st.sampled_from(_DOMAINS))
    else:
        labels = draw(
            st.lists(
                st.text(alphabet=_LABEL_CHARS, min_size=1, max_size=15)
                | st.sampled_from(["a" * 63, "b" * 64, "xn--caf-dma", "ab--cd", "-x", "x-"]),
                min_size=0,
                max_size=3,
            )
        )
        domain = ".".join([*labels, draw(st.sampled_from(_TLDS))])
    address = f"{local}@{domain}"
    if draw(st.booleans()):
        address = address.upper() if draw(st.booleans()) else address.title()
    return address


@st.composite
def adversarial_emails(draw: st.DrawFn) -> str:
    address = list(draw(realistic_emails()))
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(address)))
        address.insert(
            position,
            draw(
                st.sampled_from(
                    [
                        " ",
                        "\u00a0",
                        ".",
                        "@",
                        '"',
                        "<",
                        ">",
                        "é",
                        "\u200b",
                        "＠",
                        "Ａ",
                        "\x00",
                        "..",
                        "-",
                        "[",
                        "\\",
                        "İ",
                        "ß",
                        "\u0301",
                    ]
                )
            ),
        )
    return "".join(address)


def padded(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values with random surrounding whitespace (NBSP, ideographic space, tab...)."""
    pad = st.text(alphabet=WHITESPACE, max_size=3)
    return st.builds(lambda left, value, right: left + value + right, pad, strategy, pad)


EMAILS = padded(realistic_emails() | adversarial_emails()) | st.text(max_size=40)

_NATIONAL_STARTS = [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "9",
    "60",
    "61",
    "69",
    "73",
    "78",
    "80",
    "81",
    "89",
    "262",
    "263",
    "268",
    "269",
    "639",
    "692",
    "693",
    "590",
    "598",
    "690",
    "691",
    "594",
    "694",
    "596",
    "696",
    "697",
    "709",
    "939",
    "947",
    "976",
    "806",
]
_COUNTRY_CODES = [
    "33",
    "262",
    "269",
    "590",
    "594",
    "596",
    "508",
    "681",
    "687",
    "689",
    "44",
    "1",
    "32",
    "41",
]
_SEPARATORS = ["", "", " ", ".", "-", "\u00a0", "/", "\u202f", "  "]


@st.composite
def phone_digits(draw: st.DrawFn) -> str:
    """A phone number as bare digits: national, international (+ or 00), or near-misses."""
    form = draw(st.sampled_from(["national", "national", "plus", "double-zero", "short"]))
    if form == "short":
        return "0" + draw(st.text(alphabet="0123456789", min_size=0, max_size=12))
    if form == "national":
        start = draw(st.sampled_from(_NATIONAL_STARTS))
        length = draw(st.sampled_from([9, 9, 9, 8, 10, 6]))
        rest = draw(st.text(alphabet="0123456789", min_size=0, max_size=12))
        return "0" + (start + rest)[: max(length, len(start))]
    cc = draw(st.sampled_from(_COUNTRY_CODES))
    trunk = draw(st.sampled_from(["", "", "", "0"]))
    start = draw(st.sampled_from(_NATIONAL_STARTS))
    rest = draw(st.text(alphabet="0123456789", min_size=0, max_size=10))
    nsn = (start + rest)[: draw(st.integers(4, 12))]
    return ("+" if form == "plus" else "00") + cc + trunk + nsn


@st.composite
def formatted_phone(draw: st.DrawFn, digits: str) -> str:
    """``digits`` written as people write them: separators, full-width digits, (0)."""
    prefix = "+" if digits.startswith("+") else ""
    body = digits[len(prefix) :]
    pieces = []
    position = 0
    while position < len(body):
        step = draw(st.integers(1, 4))
        pieces.append(body[position : position + step])
        position += step
    text = prefix + "".join(piece + draw(st.sampled_from(_SEPARATORS)) for piece in pieces)
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH_DIGITS)
    return text


@st.composite
def phones(draw: st.DrawFn) -> str:
    return draw(formatted_phone(draw(phone_digits())))


PHONES = (
    padded(phones())
    | st.text(alphabet="0123456789+ .-()/#xX\u00a0poste", max_size=25)
    | st.text(max_size=25)
)

ACCOUNT_IDS = (
    padded(st.text(alphabet="abcXYZ019_.-@ \t", min_size=0, max_size=20))
    | st.text(max_size=30)
    | st.sampled_from(["a" * 256, "a" * 257, " " * 1025 + "a", "\x1cjean\x1f", "ﬁ", "ℌ", "ǅ"])
)


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


def _outcome(function: object, *args: str) -> tuple[str, str]:
    """("ok", canonical) or ("invalid", reason); anything else raised fails the test."""
    assert callable(function)
    try:
        return "ok", function(*args)
    except InvalidIdentifier as exc:
        return "invalid", exc.reason


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(EMAILS)
def test_email_never_raises_anything_else_and_reasons_are_fixed(raw: str) -> None:
    status, value = _outcome(canonical_email, raw)
    if status == "invalid":
        assert value in EMAIL_REASONS
    else:
        assert value == value.strip() and "@" in value


@settings(max_examples=300)
@given(padded(realistic_emails() | adversarial_emails()))
def test_email_is_idempotent(raw: str) -> None:
    status, value = _outcome(canonical_email, raw)
    if status == "ok":
        assert canonical_email(value) == value


@settings(max_examples=300)
@given(realistic_emails(), st.text(alphabet=WHITESPACE, min_size=1, max_size=3))
def test_email_ignores_surrounding_space_and_case(raw: str, pad: str) -> None:
    # Case invariance holds for ASCII addresses (Unicode upper-casing does not round-trip: ß).
    assume(raw.isascii())
    expected = _outcome(canonical_email, raw)
    assert _outcome(canonical_email, pad + raw.upper() + pad) == expected
    assert _outcome(canonical_email, raw.swapcase()) == expected


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(PHONES)
def test_phone_never_raises_anything_else_and_reasons_are_fixed(raw: str) -> None:
    status, value = _outcome(canonical_phone, raw)
    if status == "invalid":
        assert value in PHONE_REASONS
    else:
        assert value.startswith("+") and value[1:].isdigit() and len(value) <= 16


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(phone_digits(), st.data())
def test_phone_ignores_separators_spacing_and_full_width_digits(
    digits: str, data: st.DataObject
) -> None:
    expected = _outcome(canonical_phone, digits)
    written = data.draw(formatted_phone(digits))
    pad = data.draw(st.text(alphabet=WHITESPACE, max_size=2))
    assert _outcome(canonical_phone, pad + written + pad) == expected


@settings(max_examples=300)
@given(padded(phones()))
def test_phone_is_idempotent(raw: str) -> None:
    status, value = _outcome(canonical_phone, raw)
    if status == "ok":
        assert canonical_phone(value) == value


@settings(max_examples=400)
@given(ACCOUNT_IDS)
def test_account_id_never_raises_anything_else_and_is_idempotent(raw: str) -> None:
    status, value = _outcome(canonical_account_id, "ants", raw)
    if status == "invalid":
        assert value in ACCOUNT_REASONS
        return
    service, _, identifier = value.partition(":")
    assert service == "ants"
    assert canonical_account_id("ants", identifier) == value


@settings(max_examples=300)
@given(st.text(alphabet="abcXYZ019_.-@", min_size=1, max_size=20), st.data())
def test_account_id_ignores_spacing_and_case(raw: str, data: st.DataObject) -> None:
    expected = canonical_account_id("ants", raw)
    pad = data.draw(st.text(alphabet=WHITESPACE, max_size=3))
    assert canonical_account_id("ants", pad + raw.upper() + pad) == expected
    assert canonical_account_id("ants", raw.swapcase()) == expected
    spaced = raw.replace("_", "_" + data.draw(st.sampled_from(["", " "])))
    assert canonical_account_id("ants", spaced.replace(" ", " \t\u00a0")) == (
        canonical_account_id("ants", spaced)
    )


def test_reasons_do_not_pass_on_library_messages() -> None:
    """email-validator's messages quote the offending characters; ours never do."""
    with pytest.raises(InvalidIdentifier) as caught:
        canonical_email("jean,dupont@orange.fr")
    assert "," not in caught.value.reason and "jean" not in str(caught.value)
    with pytest.raises(InvalidIdentifier) as caught:
        canonical_phone("+33 6 12 34 56 7")
    assert not any(ch.isdigit() for ch in str(caught.value))


HOSTILE = [
    "\ud800",
    "jean\ud800@orange.fr",
    "06 12 34 56 78\udfff",
    "\x00" * 10,
    "a" * 100_000,
    "@" * 300,
    "0" * 100_000,
    "+" * 20,
    "\u202ejean@orange.fr",
    "\u0301jean@orange.fr",
    "jean@xn--.fr",
    "jean@xn--zz.fr",
    '"' * 50 + "@x.fr",
    "\\" * 40,
    "<" * 30 + ">" * 30,
    "١٢٣٤٥٦٧٨٩٠",
    "\U0001f600@\U0001f600.fr",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_inputs_raise_only_our_error(raw: str) -> None:
    for function, args, reasons in (
        (canonical_email, (raw,), EMAIL_REASONS),
        (canonical_phone, (raw,), PHONE_REASONS),
        (canonical_account_id, ("ants", raw), ACCOUNT_REASONS),
    ):
        status, value = _outcome(function, *args)
        assert status == "ok" or value in reasons


_LOCAL_CHARS = "abcxyzABC019._-+!#$%&'*/=?^`{|}~\"() é@"
_DOMAIN_CHARS = "abcxyzABC019.-é_"


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(_LOCAL_CHARS, min_size=0, max_size=20),
    st.text(_DOMAIN_CHARS, min_size=0, max_size=30),
    st.sampled_from(["fr", "com", "org", "FR", "local", "invalid", "test", "x", "онлайн"]),
    st.sampled_from(["", " ", "\t", "\x1c", "\n"]),
)
def test_the_email_fast_path_agrees_with_the_full_validation(
    local: str, domain: str, tld: str, pad: str
) -> None:
    """The single-value fast path (a regex) answers only where it knows email-validator's
    answer; wherever it answers, the full path gives the same canonical address."""
    from verrou.identifiers.contact import _simple_email, _validated_email

    raw = f"{pad}{local}@{domain}.{tld}{pad}"
    simple = _simple_email(raw)
    if simple is None:
        return
    assert _validated_email(raw) == simple


def test_the_email_fast_path_takes_the_common_shapes() -> None:
    from verrou.identifiers.contact import _simple_email

    assert _simple_email(" Jean.Dupont+ants@Example.FR ") == "jean.dupont@example.fr"
    assert _simple_email("jean@exämple.fr") is None  # IDNA: the full path decides
    assert _simple_email("jean@example.local") is None  # special use: refused there
