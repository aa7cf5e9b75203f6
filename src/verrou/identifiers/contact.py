"""Email, phone and account identifiers (canonicaliser versions: email 2, phone 1, account_id 2).

Every canonicaliser here turns raw text into the one canonical text of its kind or raises
:class:`verrou.errors.InvalidIdentifier`. Reasons are fixed sentences: they never quote the value,
a part of it (local part, digits) or a library message that might (email-validator's messages name
the offending characters, so they are translated, never passed on).

Decisions (changing any of them changes fingerprints, so it is a new version of the kind). Every
kind here drops invisible code points and maps non-ASCII look-alike characters to what they
imitate (:mod:`verrou.identifiers.lookalikes`, Unicode TR39 data): new in email 2 and account_id
2; phone stays at version 1, since every number it accepted before keeps its E.164 form (it now
also reads a look-alike of a digit as that digit). Email 2 also folds the provider aliases below.

Email
    NFKC, then surrounding whitespace (NBSP included) is stripped and the WHOLE address is
    lower-cased. French mail providers (Orange, Free, SFR, La Poste, Gmail...) treat the local part
    case-insensitively and dumps spell the same mailbox in several cases; matching matters more
    than display, so ``Jean.Dupont@Orange.fr`` and ``jean.dupont@orange.fr`` are one identifier.
    Internationalised domains are kept in their ASCII (punycode) form, the form DNS and most dumps
    use: ``jean@café.fr`` and ``jean@xn--caf-dma.fr`` are the same canonical address. Unicode local
    parts are accepted (SMTPUTF8) and lower-cased. Quoted local parts (``"jean dupont"@x.fr``),
    display names (``Jean <jean@x.fr>``) and IP-literal domains are rejected: they do not occur
    in the identity data we ingest and each would need its own equivalence rules. Look-alikes
    are folded in the whole local part, and in each domain label that then becomes ASCII (a
    homograph of a Latin label: ``gmаil`` with a Cyrillic а is ``gmail``); a label in another
    script that does not fold wholly is kept, since folding it in part would mix writing
    directions, which IDNA refuses, and a real Arabic or Hebrew address would be refused. A
    domain given in punycode is decoded for that fold, so ``xn--gmil-63d.com`` is ``gmail.com``
    too. A homograph domain is another domain, but for a freeze matching it is the safe side.

    Provider aliases. ``+tag`` sub-addressing is dropped for EVERY domain (``jean+banque@x.fr`` is
    ``jean@x.fr``), when something precedes the ``+``: Gmail, Outlook, iCloud, Fastmail, Proton and
    most self-hosted servers deliver tagged addresses to the untagged mailbox, and a leaked
    address with a tag belongs to the person of the untagged one. Where a ``+`` is really part of
    a distinct mailbox name the two now match: that over-matches (a ``step_up`` or ``deny``
    instead of ``clear``), the safe side for a freeze, whereas not folding lets a frozen address
    come back ``clear`` with any tag added. Dots are dropped only for Gmail (gmail.com, and
    googlemail.com, which becomes gmail.com), the one large provider that ignores them; elsewhere
    ``jean.dupont`` and ``jeandupont`` are commonly two people, so folding dots everywhere would
    over-match widely.

Phone
    E.164. ``+`` or ``00`` means an international number, parsed as such (any country). A national
    number must start with the trunk prefix ``0``; a bare number without ``0`` or country code is
    rejected (it is ambiguous between a French number that lost its zero in a spreadsheet and a
    6-digit overseas number). National numbers are resolved by :func:`_national_phone`: mainland
    France and the overseas regions that share its numbering plan (trunk ``0``, see
    :data:`OVERSEAS_NATIONAL_REGIONS`). New Caledonia, French Polynesia and Wallis-and-Futuna have
    no trunk prefix (6/8-digit numbers) and are accepted only with their country code. Numbers
    with an extension are rejected: an extension marks a shared switchboard line, which identifies
    no single person (dropping it would make every employee behind it match).

Account id
    ``service:id`` where the service slug is ``[a-z0-9]`` words joined by single hyphens and the id
    is NFKC, case-folded (the services we model treat logins case-insensitively), inner whitespace
    collapsed to one space, invisible format characters (zero-width space, BOM, soft hyphen)
    dropped; control characters are rejected. At most 256 characters of id.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import email_validator
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneNumber, PhoneNumberType

from verrou.errors import InvalidIdentifier
from verrou.identifiers.lookalikes import (
    LOWER_TARGET,
    PHONE_TARGET,
    drop_invisible,
    fold_lookalikes,
)

# --------------------------------------------------------------------------------------------
# Email
# --------------------------------------------------------------------------------------------

#: Raw inputs longer than this are rejected before any Unicode work (bounded cost per value);
#: a valid address is at most 254 octets, NFKC rarely shrinks text by 4x.
_EMAIL_RAW_MAX: Final = 1024

# email-validator's messages, matched by substring and translated into our own fixed sentences.
# Order matters: the first matching entry wins.
_EMAIL_REASONS: Final[tuple[tuple[str, str], ...]] = (
    ("must have an @-sign", "no @ in the address"),
    ('"full-width" at-sign', "look-alike character instead of @"),
    ("small commercial at", "look-alike character instead of @"),
    ("something before the @-sign", "nothing before the @"),
    ("something after the @-sign", "nothing after the @"),
    ("quoting the part before", "quoted local part is not supported"),
    ("after close quote", "text after a closing quote"),
    ("display name", "display name around the address is not supported"),
    ("angle bracket", "display name around the address is not supported"),
    ("in brackets", "IP address instead of a domain is not supported"),
    ("bracketed ip", "IP address instead of a domain is not supported"),
    ("so many characters", "domain label longer than 63 characters"),
    ("too long", "address too long"),
    ("should have a period", "domain has no dot"),
    ("top-level domain", "domain does not end in a valid top-level domain"),
    ("special-use or reserved", "domain is a special-use or reserved name"),
    ("two letters followed by two dashes", "domain label has two hyphens in 3rd-4th position"),
    ("idna", "domain is not a valid internationalised name"),
    ("unsafe characters", "unsafe or invisible character in the address"),
    ("invalid characters before the @-sign", "invalid character before the @"),
    ("characters before the @-sign", "invalid character before the @"),
    ("in quotes before the @-sign", "invalid character before the @"),
    ("contains invalid characters", "invalid character in the domain"),
    ("period", "misplaced dot"),
    ("hyphen", "misplaced hyphen in the domain"),
    ("before the @-sign", "invalid character before the @"),
    ("after the @-sign", "invalid character in the domain"),
)


def _email_reason(message: str) -> str:
    """Our fixed sentence for an email-validator message (which may quote characters)."""
    lowered = message.lower()
    for needle, reason in _EMAIL_REASONS:
        if needle in lowered:
            return reason
    return "not a valid email address"


# The common shape of an address, for which email-validator's answer is known in advance (the
# column fast path in verrou.identifiers.columns uses the same patterns, in RE2 over Arrow):
_ATEXT: Final = r"[a-z0-9!#$%&'*+/=?^_\x60{|}~-]"
_LABEL: Final = r"[a-z0-9](?:-?[a-z0-9])*"
_EMAIL_FAST: Final = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+[a-z]{{2,63}}$"
# Any domain label of 64 characters or more (a run of 64 label characters after the @).
_EMAIL_LONG_LABEL: Final = r"@.*[a-z0-9-]{64}"
# Special-use names email-validator refuses, read from the library so the two stay in step.
_EMAIL_SPECIAL_USE: Final = (
    r"[@.](?:"
    + "|".join(re.escape(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
    + r")$"
)
_EMAIL_MAX_OCTETS: Final = 254
_EMAIL_FAST_RE: Final = re.compile(_EMAIL_FAST)
_EMAIL_LONG_LABEL_RE: Final = re.compile(_EMAIL_LONG_LABEL)
_EMAIL_SPECIAL_USE_RE: Final = re.compile(_EMAIL_SPECIAL_USE)


def _simple_email(raw: str) -> str | None:
    """The canonical form of an all-ASCII address of the common shape, or None (then the full
    validation decides). Equal to the full path's answer: tested on generated addresses."""
    if not raw.isascii():
        return None
    text = raw.strip(" \t\n\v\f\r").lower()
    if (
        len(text) <= _EMAIL_MAX_OCTETS
        and _EMAIL_FAST_RE.fullmatch(text)
        and not _EMAIL_LONG_LABEL_RE.search(text)
        and not _EMAIL_SPECIAL_USE_RE.search(text)
    ):
        return _mailbox_aliases(text)
    return None


#: Gmail's domains; googlemail.com is the same mailbox service under its older name.
GMAIL_DOMAINS: Final = frozenset({"gmail.com", "googlemail.com"})


def _mailbox_aliases(address: str) -> str:
    """Fold the spellings a provider delivers to one mailbox (see the module docstring).

    ``+tag`` is dropped for every domain (when something precedes the ``+``); for Gmail dots in
    the local part are dropped too and googlemail.com becomes gmail.com.
    """
    local, _, domain = address.rpartition("@")
    tagged = local.find("+")
    if tagged > 0 and local[:tagged].rstrip("."):
        # "jean.+x" would leave a dot last, which no address has: the dot goes with the tag.
        local = local[:tagged].rstrip(".")
    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _fold_email_case(text: str) -> str:
    """Lower-case and NFKC until stable, so that canonicalisation is idempotent.

    NFKC can produce upper-case letters (U+210C BLACK-LETTER CAPITAL H gives ``H``) and lower-casing
    can produce text NFKC changes, hence the loop; it ends after one or two rounds in practice.
    """
    for _ in range(4):
        folded = unicodedata.normalize("NFKC", text.lower())
        if folded == text:
            break
        text = folded
    return text


def _fold_domain_lookalikes(domain: str) -> str:
    """Fold each domain label that folds wholly to ASCII: a homograph of a Latin label.

    Other labels (a real Arabic, Cyrillic or Hebrew name) keep their letters: folded in part they
    would mix scripts and writing directions, which IDNA refuses, so a real address would be
    refused. Only their invisible code points go.
    """
    labels = []
    for label in domain.split("."):
        folded = fold_lookalikes(label, LOWER_TARGET)
        labels.append(folded if folded.isascii() else drop_invisible(label))
    return ".".join(labels)


def _fold_email_lookalikes(text: str) -> str:
    """Case, NFKC and look-alikes folded (local part wholly, domain label by label)."""
    text = _fold_email_case(text)
    local, at, domain = text.rpartition("@")
    local = _fold_email_case(fold_lookalikes(local, LOWER_TARGET))
    return f"{local}{at}{_fold_email_case(_fold_domain_lookalikes(domain))}"


def canonical_email(raw: str) -> str:
    """Canonical email address: validated, punycode domain, whole address lower-cased.

    Raises ``InvalidIdentifier("email", reason)``; see the module docstring for the rules.
    """
    if len(raw) > _EMAIL_RAW_MAX:
        raise InvalidIdentifier("email", "address too long")
    simple = _simple_email(raw)
    if simple is not None:
        return simple
    return _validated_email(raw)


def _validated_email(raw: str, refolded: bool = False) -> str:
    """The full path of :func:`canonical_email`: NFKC, case and look-alike folding,
    email-validator, then the provider aliases."""
    text = drop_invisible(unicodedata.normalize("NFKC", raw)).strip()
    if not text:
        raise InvalidIdentifier("email", "empty address")
    # NFKC already turned the full-width and small at-signs into "@".
    if "@" not in text:
        raise InvalidIdentifier("email", "no @ in the address")
    if text.count("@") > 1:
        raise InvalidIdentifier("email", "more than one @")
    if any(ch.isspace() for ch in text):
        raise InvalidIdentifier("email", "whitespace inside the address")
    text = _fold_email_lookalikes(text)
    try:
        validated = validate_email(
            text,
            allow_smtputf8=True,
            allow_empty_local=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            strict=False,
            check_deliverability=False,
            test_environment=False,
            globally_deliverable=True,
        )
    except EmailNotValidError as exc:
        raise InvalidIdentifier("email", _email_reason(str(exc))) from None
    except Exception:  # a library bug must still surface as our error, not leak
        raise InvalidIdentifier("email", "not a valid email address") from None
    local = validated.local_part
    domain = validated.ascii_domain.lower()
    if "xn--" in domain and not refolded:
        # A domain written in punycode hides its Unicode letters from the look-alike fold: fold
        # the decoded form, and validate again if that changed it.
        decoded = _fold_email_case(_fold_domain_lookalikes(validated.domain))
        if decoded != validated.domain.lower():
            return _validated_email(f"{local}@{decoded}", refolded=True)
    return _mailbox_aliases(f"{local}@{domain}")


# --------------------------------------------------------------------------------------------
# Phone
# --------------------------------------------------------------------------------------------

#: Overseas regions tried (in this order, after mainland France) for a national number written
#: with the trunk prefix 0. All have trunk prefix 0 and 9-digit national numbers, except
#: Saint-Pierre-et-Miquelon (PM), which also has 6-digit ones.
OVERSEAS_NATIONAL_REGIONS: Final[tuple[str, ...]] = ("RE", "YT", "GP", "MQ", "GF", "PM", "BL", "MF")

#: French collectivities without a trunk prefix: reachable only in international form.
OVERSEAS_INTERNATIONAL_ONLY_REGIONS: Final[tuple[str, ...]] = ("NC", "PF", "WF")

#: Number types allocated to one territory (geographic, mobile and VoIP blocks). For these an
#: overseas region's metadata is more specific than mainland France's: libphonenumber's FR
#: fixed-line pattern also covers 0263, 0268, 0269 (Réunion, Mayotte), 0596 (Martinique) and 0598
#: blocks, and its VoIP pattern covers the overseas 0939/0947/0976 blocks.
TERRITORIAL_TYPES: Final[frozenset[int]] = frozenset(
    {
        PhoneNumberType.FIXED_LINE,
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.VOIP,
    }
)

_PHONE_RAW_MAX: Final = 64
_PHONE_MAX_DIGITS: Final = 17  # libphonenumber's longest national significant number
_PHONE_MIN_DIGITS: Final = 4

_EXTENSION = re.compile(r"(?:ext|extn|extension|poste|x|#)\.?\s*:?\s*[0-9]{1,7}$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s.\-()/]+")
_PHONE_SHAPE = re.compile(r"\+?[0-9]+")


def _ascii_digits(text: str) -> str:
    """Digits of any script as ASCII; NFKC already mapped full-width ones."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _international_phone(digits: str) -> str:
    """E.164 of an international number (digits after ``+`` or ``00``), any country."""
    try:
        parsed = phonenumbers.parse("+" + digits, None)
        valid = phonenumbers.is_valid_number(parsed)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidIdentifier("phone", "unknown country code") from None
        raise InvalidIdentifier("phone", "not a valid number for its country code") from None
    except Exception:  # a library bug must not escape as a foreign exception
        raise InvalidIdentifier("phone", "not a valid number for its country code") from None
    if not valid:
        raise InvalidIdentifier("phone", "not a valid number for its country code")
    return _e164(parsed)


def _e164(number: PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _general_patterns(country_code: int) -> tuple[re.Pattern[str], ...]:
    patterns = []
    for region in phonenumbers.region_codes_for_country_code(country_code):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        general = metadata.general_desc if metadata is not None else None
        if general is None or general.national_number_pattern is None:
            return ()  # unknown shape: no prefilter for this code
        patterns.append(re.compile(general.national_number_pattern))
    return tuple(patterns)


#: Each country code's general number patterns (one per region). A number that fits none of
#: them is invalid for phonenumbers too (its validation starts by that match), so most of the
#: overseas candidates of a mainland number are ruled out by one regex each instead of a full
#: validation.
_GENERAL_PATTERNS: Final[dict[int, tuple[re.Pattern[str], ...]]] = {}


def _may_be_valid(country_code: int, national_number: str) -> bool:
    patterns = _GENERAL_PATTERNS.get(country_code)
    if patterns is None:
        patterns = _GENERAL_PATTERNS[country_code] = _general_patterns(country_code)
    return not patterns or any(pattern.fullmatch(national_number) for pattern in patterns)


def _valid_with_type(country_code: int, national_number: str) -> tuple[str, int] | None:
    if not _may_be_valid(country_code, national_number):
        return None
    number = PhoneNumber(country_code=country_code, national_number=int(national_number))
    try:
        # number_type is UNKNOWN exactly when is_valid_number is false (phonenumbers' validity
        # is "the number has a type in its region's metadata"), so one call answers both.
        number_type = phonenumbers.number_type(number)
        if number_type == PhoneNumberType.UNKNOWN:
            return None
        return _e164(number), int(number_type)
    except Exception:  # a library bug must not escape as a foreign exception
        return None


#: Country codes of :data:`OVERSEAS_NATIONAL_REGIONS`, in that order, without repeats: regions
#: sharing a code (RE and YT; GP, BL and MF) give the same number, and phonenumbers picks the
#: region from the number itself (region_code_for_number).
_OVERSEAS_NATIONAL_CCS: Final[tuple[int, ...]] = tuple(
    dict.fromkeys(
        phonenumbers.country_code_for_region(region) for region in OVERSEAS_NATIONAL_REGIONS
    )
)


def _national_phone(digits: str) -> str | None:
    """E.164 of a national number (``0`` + digits) for France or an overseas region, or None.

    The trunk prefix 0 is the only national prefix of all these regions, so the national
    significant number is what follows it (phonenumbers would strip it the same way when parsing
    with each region; a test pins this). Mainland France is tried first, so national services
    (toll-free, shared-cost, premium, non-geographic 08 numbers) stay +33 even though every
    overseas metadata repeats them. A territorial number (fixed, mobile, VoIP) that an overseas
    region also recognises goes to that region, whose metadata is the specific one (see
    :data:`TERRITORIAL_TYPES`). Then mainland, then any overseas match, in
    :data:`OVERSEAS_NATIONAL_REGIONS` order.
    """
    national = digits[1:]
    if not national or national[0] == "0":
        return None
    mainland = _valid_with_type(33, national)
    if mainland is not None and mainland[1] not in TERRITORIAL_TYPES:
        return mainland[0]
    fallback: str | None = None
    for country_code in _OVERSEAS_NATIONAL_CCS:
        found = _valid_with_type(country_code, national)
        if found is None:
            continue
        if found[1] in TERRITORIAL_TYPES:
            return found[0]
        fallback = fallback or found[0]
    if mainland is not None:
        return mainland[0]
    return fallback


def canonical_phone(raw: str) -> str:
    """Canonical phone number in E.164 (``+33612345678``).

    Accepts spaces (NBSP included), dots, hyphens, parentheses and slashes as separators, digits
    of any script (full-width included), ``+`` or ``00`` for international numbers, and a French
    national number starting with ``0`` (mainland or overseas; see the module docstring).
    Raises ``InvalidIdentifier("phone", reason)``.
    """
    if len(raw) > _PHONE_RAW_MAX:
        raise InvalidIdentifier("phone", "too many characters for a phone number")
    text = drop_invisible(unicodedata.normalize("NFKC", raw)).strip()
    # Digits of any script are read by value first; what is left that imitates a digit (Cyrillic
    # З for 3, a letter O for 0) is read as that digit.
    text = fold_lookalikes(_ascii_digits(text), PHONE_TARGET)
    if not text:
        raise InvalidIdentifier("phone", "empty number")
    extension = _EXTENSION.search(text)
    if extension and _PHONE_SHAPE.fullmatch(_SEPARATORS.sub("", text[: extension.start()])):
        raise InvalidIdentifier("phone", "has an extension (shared line)")
    compact = _SEPARATORS.sub("", text)
    if not _PHONE_SHAPE.fullmatch(compact):
        raise InvalidIdentifier("phone", "unexpected character in the number")
    if compact.startswith("+"):
        international: str | None = compact[1:]
    elif compact.startswith("00"):
        international = compact[2:]
    else:
        international = None
    digits = international if international is not None else compact
    if len(digits) > _PHONE_MAX_DIGITS:
        raise InvalidIdentifier("phone", "too many digits")
    if len(digits) < _PHONE_MIN_DIGITS:
        raise InvalidIdentifier("phone", "too few digits")

    if international is not None:
        return _international_phone(international)

    if not compact.startswith("0"):
        raise InvalidIdentifier("phone", "no country code and no leading 0")
    found = _national_phone(compact)
    if found is None:
        raise InvalidIdentifier("phone", "not a valid number for any French region")
    return found


# --------------------------------------------------------------------------------------------
# Account and login ids
# --------------------------------------------------------------------------------------------

ACCOUNT_ID_MAX: Final = 256
_SERVICE_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SERVICE_SLUG_MAX: Final = 64
_ACCOUNT_RAW_MAX: Final = 4 * ACCOUNT_ID_MAX


def _fold_account_once(text: str) -> str:
    # Invisible code points (zero-width space, BOM, soft hyphen, Hangul fillers...) are dropped:
    # two logins never differ by one only. Non-ASCII look-alikes become what they imitate.
    text = drop_invisible(unicodedata.normalize("NFKC", text))
    text = fold_lookalikes(unicodedata.normalize("NFKC", text.casefold()), LOWER_TARGET)
    return " ".join(text.split())


def _fold_account(text: str) -> str:
    """Apply the account folding until stable.

    NFKC can create upper case (U+210C gives ``H``), case folding can leave text NFKC changes and
    dropping a format character can bring a combining mark next to its base, hence the loop; it
    ends after one or two rounds in practice and makes canonicalisation idempotent.
    """
    for _ in range(4):
        folded = _fold_account_once(text)
        if folded == text:
            break
        text = folded
    return text


def is_service_slug(service: str) -> bool:
    """True when ``service`` is a valid account namespace (``[a-z0-9]`` words, single hyphens)."""
    return len(service) <= _SERVICE_SLUG_MAX and _SERVICE_SLUG.fullmatch(service) is not None


def canonical_account_id(service: str, raw: str) -> str:
    """Canonical account or login id, namespaced by the breached service: ``service:id``.

    ``service`` must already be a slug (lower-case ``[a-z0-9]`` words joined by single hyphens,
    at most 64 characters): it comes from configuration, so a wrong one is refused rather than
    silently slugified into another namespace. Raises ``InvalidIdentifier("account_id", reason)``.
    """
    if not is_service_slug(service):
        raise InvalidIdentifier(
            "account_id", "service must be lower-case letters, digits and single hyphens"
        )
    if len(raw) > _ACCOUNT_RAW_MAX:
        raise InvalidIdentifier("account_id", f"id longer than {ACCOUNT_ID_MAX} characters")
    text = _fold_account(raw)
    if not text:
        raise InvalidIdentifier("account_id", "empty id")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise InvalidIdentifier("account_id", "control or invalid character in the id")
    if len(text) > ACCOUNT_ID_MAX:
        raise InvalidIdentifier("account_id", f"id longer than {ACCOUNT_ID_MAX} characters")
    return f"{service}:{text}"
