"""Subject states and the verdict policy: the pure domain behind a relying party's check.

A check turns the applicant's attributes into identity keys (:func:`applicant_keys`), asks the
store what it holds for their fingerprints (exposures, freezes, thaws), and :func:`decide` turns
those records into one :class:`Decision`. No database, no web framework: the store and the API
call this module, never the other way round.

Per identity key, the subject state and the verdict it gives:

===========  ==================================================================  ===========
state        when                                                                verdict
===========  ==================================================================  ===========
``canary``   a canary freeze (a planted fake identity); no thaw lifts it         ``deny``
``frozen``   a freeze without an active thaw for this relying party or for all   ``deny``
``thawed``   every freeze has an active thaw (starts ≤ now < until) for this     ``clear``
             relying party or for all
``exposed``  a leaked record holds the key, and no freeze                        ``step_up``
``unknown``  nothing                                                             ``clear``
===========  ==================================================================  ===========

A thaw lifts the freeze it answers, not the exposure: a thawed key that also leaked is ``clear``
(its owner opened it for this bank, which says more than the leak), and the ``exposed`` reason is
still listed. Several keys combine: the strongest verdict wins (deny > step_up > clear) and every
reason of every key is listed.

Fail closed, in code:

* there is no default verdict: each state maps to its verdict in an exhaustive ``match``, and the
  decision is the strongest of the per-key verdicts, of which there is at least one (a check with
  no identity key raises :class:`InvalidApplicant`, it is never "nothing known, so clear");
* the store being unreachable is the caller's :class:`verrou.errors.StoreError` (503). It must be
  raised before :func:`decide` is called, never swallowed into empty record lists: empty lists
  here mean "the store answered and holds nothing", which is ``clear``.

Privacy: nothing here holds a plaintext identifier beyond :class:`Applicant` itself; keys carry
fingerprints, and :class:`InvalidApplicant` names fields and reasons, never values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final, Literal, TypeAlias, assert_never, get_args

from verrou.errors import InvalidApplicant, InvalidIdentifier
from verrou.fingerprints import Fingerprinter
from verrou.identifiers import (
    Kind,
    PersonParts,
    canonical,
    person_key_readings,
    person_keys,
    postal_address_readings,
)

# --- verdicts and states -------------------------------------------------------------------------


class Verdict(StrEnum):
    """The answer to a check, ordered by strength: ``deny`` > ``step_up`` > ``clear``.

    Comparisons between verdicts (``<``, ``max``) follow strength, not alphabetical order.
    """

    CLEAR = "clear"
    STEP_UP = "step_up"
    DENY = "deny"

    @property
    def strength(self) -> int:
        """0 for clear, 1 for step_up, 2 for deny."""
        return _STRENGTH[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strength < other.strength

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strength <= other.strength

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strength > other.strength

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.strength >= other.strength


_STRENGTH: Final = {Verdict.CLEAR: 0, Verdict.STEP_UP: 1, Verdict.DENY: 2}


class SubjectState(StrEnum):
    """What the registry knows about one identity key."""

    EXPOSED = "exposed"
    FROZEN = "frozen"
    THAWED = "thawed"
    CANARY = "canary"
    UNKNOWN = "unknown"


def state_verdict(state: SubjectState) -> Verdict:
    """The verdict one subject state gives (exhaustive: a new state must be given a verdict)."""
    match state:
        case SubjectState.CANARY | SubjectState.FROZEN:
            return Verdict.DENY
        case SubjectState.EXPOSED:
            return Verdict.STEP_UP
        case SubjectState.THAWED | SubjectState.UNKNOWN:
            return Verdict.CLEAR
        case _:
            assert_never(state)


# Which state names an attribute whose keys disagree at the same verdict (a person yields several
# keys): the more specific fact first.
_STATE_PRECEDENCE: Final = {
    SubjectState.CANARY: 4,
    SubjectState.FROZEN: 3,
    SubjectState.EXPOSED: 2,
    SubjectState.THAWED: 1,
    SubjectState.UNKNOWN: 0,
}

# --- freeze records ------------------------------------------------------------------------------

PlacedBy: TypeAlias = Literal["owner", "operator", "report"]
PLACED_BY: Final[tuple[str, ...]] = get_args(PlacedBy)

#: Why a freeze was placed: a code from this list, never free text (free text invites someone to
#: type the very identifier the registry must not hold).
FreezeReason: TypeAlias = Literal[
    "owner_request",
    "lost_document",
    "stolen_document",
    "identity_theft",
    "fraud_suspected",
    "canary",
    "operator_decision",
]
FREEZE_REASONS: Final[tuple[str, ...]] = get_args(FreezeReason)


_PLACER_RANK: Final[dict[str, int]] = {"owner": 0, "operator": 1, "report": 2}


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True)
class ExposureHit:
    """A fingerprint found in a leaked record (what the store's lookup answers)."""

    fingerprint: bytes
    kind: Kind
    breach_id: int
    breach_name: str
    run_id: int
    record: int
    record_id: str = ""


@dataclass(frozen=True)
class Freeze:
    """A freeze on one identity-key fingerprint, as the store holds it. A lifted freeze is absent.

    ``placed_by``: the owner, an operator, or an identity-theft report. ``canary`` marks a planted
    fake identity: any check on it is denied and is an incident. ``owner`` is the citizen id of
    a freeze a signed-in citizen placed on their own key (None for every other freeze, an
    owner's freeze placed by an operator included): only that citizen may ever thaw or lift it.
    """

    fingerprint: bytes
    placed_by: PlacedBy
    reason: FreezeReason
    since: datetime
    canary: bool = False
    owner: str | None = None

    @property
    def rank(self) -> int:
        """How hard this freeze is to open: an owner's (0) < an operator's (1) < a report's (2)
        < a canary (3). A freeze placed on a key that holds a weaker one replaces it (and its
        thaws), so that a report or an operator is never outranked by what a citizen's
        account -- perhaps a hijacked one -- can undo."""
        return 3 if self.canary else _PLACER_RANK[self.placed_by]

    def __post_init__(self) -> None:
        if self.placed_by not in PLACED_BY:
            raise ValueError(f"placed_by must be one of {', '.join(PLACED_BY)}")
        if self.reason not in FREEZE_REASONS:
            raise ValueError(f"reason must be one of {', '.join(FREEZE_REASONS)}")
        _require_aware("since", self.since)
        if self.owner is not None and (self.placed_by != "owner" or not self.owner):
            raise ValueError("only an owner's freeze names its owner")


@dataclass(frozen=True)
class Thaw:
    """A freeze lifted for one relying party (``None``: all) from ``starts`` until ``until``.

    Active when ``starts <= now < until``. It lifts every non-canary freeze of its fingerprint.
    """

    fingerprint: bytes
    relying_party_id: str | None
    starts: datetime
    until: datetime

    def __post_init__(self) -> None:
        _require_aware("starts", self.starts)
        _require_aware("until", self.until)
        if self.until <= self.starts:
            raise ValueError("a thaw must end after it starts")

    def active_for(self, relying_party_id: str, now: datetime) -> bool:
        """True when this thaw opens the key to this relying party at ``now``."""
        applies = self.relying_party_id is None or self.relying_party_id == relying_party_id
        return applies and self.starts <= now < self.until


# --- applicant attributes → identity keys --------------------------------------------------------

#: Document types an applicant may present, and the identifier kind of their number.
#: The document types an applicant's ``document.type`` may name (each is its identifier kind).
DocumentType: TypeAlias = Literal["cni", "passport", "driving_licence", "residence_permit"]
DOCUMENT_KINDS: Final = {name: Kind(name) for name in get_args(DocumentType)}


@dataclass(frozen=True)
class PostalAddress:
    """A postal address as the applicant gives it (``line`` may hold the whole address)."""

    line: str
    postcode: str | None = None
    city: str | None = None


@dataclass(frozen=True)
class Applicant:
    """The attributes a relying party sends about an applicant; every field is optional.

    ``usage_name`` is the married or usage family name, when it differs from ``family_name``
    (the birth name). A person is only matched through family name + given names + birth date
    together (``birth_place`` is optional and adds a key); ``document_type`` (one of
    :data:`DOCUMENT_KINDS`) goes with ``document_number``.
    """

    family_name: str | None = None
    usage_name: str | None = None
    given_names: str | None = None
    birth_date: str | date | None = None
    birth_place: str | None = None
    document_type: str | None = None
    document_number: str | None = None
    nir: str | None = None
    email: str | None = None
    phone: str | None = None
    iban: str | None = None
    postal_address: PostalAddress | None = None


@dataclass(frozen=True)
class IdentityKey:
    """One fingerprint an applicant yields, with the attribute it came from.

    ``attribute`` is ``person``, ``document``, ``nir``, ``email``, ``phone``, ``iban`` or
    ``postal_address``; a person yields several keys (one per matching key).
    """

    attribute: str
    kind: Kind
    fingerprint: bytes


ApplicantKeys: TypeAlias = list[IdentityKey]

_MISSING: Final = "missing"


def _probe(
    *, family: str = "Probe", given: str = "Probe", birth: str = "2000-01-01", place: str = ""
) -> PersonParts:
    """A valid person but for one part: checking each part alone through person_keys gives the
    canonicaliser's own reason for every bad part, so all of them are reported at once."""
    return PersonParts((family,), given, birth, place or None)


_PART_PREFIXES: Final = {"birth_date": "birth date: ", "birth_place": "birth place: "}


def _given(value: str | None) -> str | None:
    """The value when it holds something other than whitespace, else None (not given)."""
    if value is None or not value.strip():
        return None
    return value


def _part_problem(field: str, parts: PersonParts, today: date | None) -> str | None:
    try:
        person_keys(parts, today)
    except InvalidIdentifier as error:
        prefix = _PART_PREFIXES.get(field, "")
        return error.reason.removeprefix(prefix)
    return None


def _person_canonicals(
    attributes: Applicant, today: date | None, problems: dict[str, str]
) -> list[str]:
    """Person matching keys, or [] with the bad parts added to ``problems``."""
    family = _given(attributes.family_name)
    usage = _given(attributes.usage_name)
    given = _given(attributes.given_names)
    raw_birth = attributes.birth_date
    birth = raw_birth.isoformat() if isinstance(raw_birth, date) else _given(raw_birth)
    place = _given(attributes.birth_place)
    if family is None and usage is None and given is None and birth is None and place is None:
        return []
    families = tuple(name for name in (family, usage) if name is not None)
    if families and given is not None and birth is not None:
        # The common case, a complete and valid person, in one pass; only when it fails are the
        # parts checked one by one to name every bad one.
        try:
            return person_key_readings(PersonParts(families, given, birth, place), today)
        except InvalidIdentifier:
            pass
    found: dict[str, str] = {}
    if not families:
        found["family_name"] = _MISSING
    for field, name in (("family_name", family), ("usage_name", usage)):
        if name is not None and (problem := _part_problem(field, _probe(family=name), today)):
            found[field] = problem
    if given is None:
        found["given_names"] = _MISSING
    elif problem := _part_problem("given_names", _probe(given=given), today):
        found["given_names"] = problem
    if birth is None:
        found["birth_date"] = _MISSING
    elif problem := _part_problem("birth_date", _probe(birth=birth), today):
        found["birth_date"] = problem
    if place is not None and (problem := _part_problem("birth_place", _probe(place=place), today)):
        found["birth_place"] = problem
    if found:
        problems.update(found)
        return []
    assert given is not None and birth is not None
    try:
        return person_key_readings(PersonParts(families, given, birth, place), today)
    except InvalidIdentifier as error:  # parts valid alone but not together: name the person
        problems["person"] = error.reason
        return []


def applicant_keys(
    attributes: Applicant, fingerprinter: Fingerprinter, *, today: date | None = None
) -> ApplicantKeys:
    """The identity keys of an applicant, canonicalised and fingerprinted.

    Raises :class:`InvalidApplicant` listing every invalid field at once (a person part missing
    while others are given counts as invalid: a person matches only as a whole), or when no
    attribute is given at all. Blank strings count as not given. ``today`` bounds birth dates
    (default: the current date).
    """
    problems: dict[str, str] = {}
    keys: ApplicantKeys = []

    def add(attribute: str, kind: Kind, canonical_values: Iterable[str]) -> None:
        for value in canonical_values:
            keys.append(IdentityKey(attribute, kind, fingerprinter.fingerprint(kind, value)))

    add("person", Kind.PERSON, _person_canonicals(attributes, today, problems))

    document_type = _given(attributes.document_type)
    document_number = _given(attributes.document_number)
    if document_type is not None or document_number is not None:
        kind = DOCUMENT_KINDS.get((document_type or "").strip().lower())
        if document_type is None:
            problems["document_type"] = _MISSING
        elif kind is None:
            problems["document_type"] = "expected one of " + ", ".join(DOCUMENT_KINDS)
        if document_number is None:
            problems["document_number"] = _MISSING
        elif kind is not None:
            try:
                add("document", kind, [canonical(kind, document_number)])
            except InvalidIdentifier as error:
                problems["document_number"] = error.reason

    single: tuple[tuple[str, Kind, str | None], ...] = (
        ("nir", Kind.NIR, attributes.nir),
        ("email", Kind.EMAIL, attributes.email),
        ("phone", Kind.PHONE, attributes.phone),
        ("iban", Kind.IBAN, attributes.iban),
    )
    for field, kind, raw in single:
        value = _given(raw)
        if value is None:
            continue
        try:
            add(field, kind, [canonical(kind, value)])
        except InvalidIdentifier as error:
            problems[field] = error.reason

    address = attributes.postal_address
    if address is not None and _given(address.line) is not None:
        try:
            readings = postal_address_readings(address.line, address.postcode, address.city)
            add("postal_address", Kind.POSTAL_ADDRESS, readings)
        except InvalidIdentifier as error:
            problems["postal_address"] = error.reason

    if problems:
        raise InvalidApplicant(problems)
    if not keys:
        raise InvalidApplicant({"applicant": "no identifying attribute given"})
    return keys


# --- the decision --------------------------------------------------------------------------------

ReasonCode: TypeAlias = Literal["exposed", "frozen", "thawed", "canary"]


@dataclass(frozen=True)
class Reason:
    """Why a verdict was given, for one attribute.

    ``breach`` names the breach of an ``exposed`` reason; ``freeze_placed_by`` and ``since`` come
    from the freeze of a ``frozen``, ``thawed`` or ``canary`` reason; ``until`` ends a ``thawed``
    window.
    """

    code: ReasonCode
    attribute: str
    kind: str
    breach: str | None = None
    freeze_placed_by: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class LeakedTogether:
    """Attributes of the applicant found in one same leaked record of a breach."""

    breach: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class AttributeState:
    """The state of one attribute: the state of its key with the strongest verdict."""

    attribute: str
    state: SubjectState


@dataclass(frozen=True)
class Decision:
    """The explicit answer to a check.

    ``reasons`` lists every reason of every key; ``breaches`` the breaches any key leaked in;
    ``subject_fingerprints`` the applicant's key fingerprints (for the audit log and the owner's
    alerts, never plaintext); ``linked_attributes`` the groups of attributes that leaked together
    in one record ("this email and this name + birth date leaked together in breach X").
    """

    verdict: Verdict
    reasons: tuple[Reason, ...]
    breaches: tuple[str, ...]
    subject_fingerprints: tuple[bytes, ...]
    linked_attributes: tuple[LeakedTogether, ...] = ()
    states: tuple[AttributeState, ...] = ()

    @property
    def canary_tripped(self) -> bool:
        """True when a canary identity was checked: an incident to raise, beyond the deny."""
        return any(reason.code == "canary" for reason in self.reasons)


@dataclass(frozen=True)
class _KeyAssessment:
    state: SubjectState
    reasons: tuple[Reason, ...]


def _assess_key(
    key: IdentityKey,
    exposures: Sequence[ExposureHit],
    freezes: Sequence[Freeze],
    thaws: Sequence[Thaw],
    relying_party_id: str,
    now: datetime,
) -> _KeyAssessment:
    if not exposures and not freezes:
        return _NOTHING_KNOWN  # most keys of most checks: no record at all
    kind = key.kind.value
    reasons: list[Reason] = []
    canary = frozen = thawed = False
    open_until = [t.until for t in thaws if t.active_for(relying_party_id, now)]
    for freeze in sorted(freezes, key=lambda f: f.since):
        if freeze.canary:
            canary = True
            code: ReasonCode = "canary"
            until = None
        elif open_until:
            thawed = True
            code, until = "thawed", max(open_until)
        else:
            frozen = True
            code, until = "frozen", None
        reasons.append(
            Reason(code, key.attribute, kind, None, freeze.placed_by, freeze.since, until)
        )
    breaches = sorted({hit.breach_name for hit in exposures})
    reasons.extend(Reason("exposed", key.attribute, kind, breach) for breach in breaches)

    if canary:
        state = SubjectState.CANARY
    elif frozen:
        state = SubjectState.FROZEN
    elif thawed:
        state = SubjectState.THAWED
    elif breaches:
        state = SubjectState.EXPOSED
    else:
        state = SubjectState.UNKNOWN
    return _KeyAssessment(state, tuple(reasons))


_NOTHING_KNOWN: Final = _KeyAssessment(SubjectState.UNKNOWN, ())


def _strength(state: SubjectState) -> tuple[int, int]:
    return state_verdict(state).strength, _STATE_PRECEDENCE[state]


def _linked_attributes(
    keys: Sequence[IdentityKey], exposures: Sequence[ExposureHit]
) -> tuple[LeakedTogether, ...]:
    attribute_of = {key.fingerprint: key.attribute for key in keys}
    records: dict[tuple[int, int], tuple[str, set[str]]] = {}
    for hit in exposures:
        attribute = attribute_of.get(hit.fingerprint)
        if attribute is None:
            continue
        _, attributes = records.setdefault((hit.run_id, hit.record), (hit.breach_name, set()))
        attributes.add(attribute)
    groups = {
        LeakedTogether(breach, tuple(sorted(attributes)))
        for breach, attributes in records.values()
        if len(attributes) > 1
    }
    return tuple(sorted(groups, key=lambda g: (g.breach, g.attributes)))


def decide(
    keys: Sequence[IdentityKey],
    exposures: Sequence[ExposureHit],
    freezes: Sequence[Freeze],
    thaws: Sequence[Thaw],
    *,
    relying_party_id: str,
    now: datetime,
) -> Decision:
    """The verdict on an applicant's keys, from what the store holds for their fingerprints.

    Each key gets a subject state (see the module docstring); the strongest verdict wins and
    every reason is listed. Records for fingerprints that are not among ``keys`` are ignored.
    Always returns an explicit :class:`Decision`; raises :class:`InvalidApplicant` when ``keys``
    is empty (nothing to decide on is not "clear") and ``ValueError`` for a naive ``now`` or an
    empty ``relying_party_id``. A store failure must surface as the caller's ``StoreError``
    before this is called, never as empty record lists.
    """
    if not keys:
        raise InvalidApplicant({"applicant": "no identifying attribute given"})
    if not relying_party_id:
        raise ValueError("relying_party_id must not be empty")
    _require_aware("now", now)

    hits_by_fp: dict[bytes, list[ExposureHit]] = {}
    for hit in exposures:
        hits_by_fp.setdefault(hit.fingerprint, []).append(hit)
    freezes_by_fp: dict[bytes, list[Freeze]] = {}
    for freeze in freezes:
        freezes_by_fp.setdefault(freeze.fingerprint, []).append(freeze)
    thaws_by_fp: dict[bytes, list[Thaw]] = {}
    for thaw in thaws:
        thaws_by_fp.setdefault(thaw.fingerprint, []).append(thaw)

    verdicts: list[Verdict] = []
    reasons: dict[Reason, None] = {}  # ordered set: key order, then per-key order
    states: dict[str, SubjectState] = {}
    breaches: set[str] = set()
    fingerprints: dict[bytes, None] = {}
    for key in keys:
        fp = key.fingerprint
        assessment = _assess_key(
            key,
            hits_by_fp.get(fp, []),
            freezes_by_fp.get(fp, []),
            thaws_by_fp.get(fp, []),
            relying_party_id,
            now,
        )
        verdicts.append(state_verdict(assessment.state))
        reasons.update(dict.fromkeys(assessment.reasons))
        breaches.update(hit.breach_name for hit in hits_by_fp.get(fp, []))
        fingerprints[fp] = None
        before = states.get(key.attribute)
        if before is None or _strength(assessment.state) > _strength(before):
            states[key.attribute] = assessment.state

    return Decision(
        verdict=max(verdicts, key=_STRENGTH.__getitem__),
        reasons=tuple(reasons),
        breaches=tuple(sorted(breaches)),
        subject_fingerprints=tuple(fingerprints),
        linked_attributes=_linked_attributes(keys, exposures),
        states=tuple(AttributeState(attribute, state) for attribute, state in states.items()),
    )


__all__ = [
    "DOCUMENT_KINDS",
    "FREEZE_REASONS",
    "PLACED_BY",
    "Applicant",
    "ApplicantKeys",
    "AttributeState",
    "Decision",
    "Freeze",
    "FreezeReason",
    "IdentityKey",
    "InvalidApplicant",
    "LeakedTogether",
    "PlacedBy",
    "PostalAddress",
    "Reason",
    "ReasonCode",
    "SubjectState",
    "Thaw",
    "Verdict",
    "applicant_keys",
    "decide",
    "state_verdict",
]
