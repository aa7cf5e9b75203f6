"""Identity-theft reports and exposure attestations: records, claims, signing, verification."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from verrou.registry.reports import (
    ATTESTATION_TYP,
    ATTESTATION_VALIDITY,
    FRAUD_CODES,
    REPORT_TYP,
    Attestation,
    AttestedBreach,
    DeclaredFraud,
    DisputedCheck,
    Report,
    ReportFreeze,
    attestation_claims,
    new_attestation,
    new_attestation_id,
    new_report_id,
    report_claims,
    sign_attestation,
    sign_report,
    verify_attestation_token,
    verify_report_token,
)
from verrou.signing import (
    SignatureError,
    SigningKey,
    b64url_decode,
    b64url_encode,
    canonical_json,
    public_jwks,
    sign_compact,
    verify_compact,
)

KEY = SigningKey.generate()
JWKS = public_jwks([KEY])
ISSUED = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)
NOTE = b"sealed:la-note-du-citoyen"


def _report(**changes: Any) -> Report:
    report = Report(
        id="rpt-00112233445566778899aabbccddeeff",
        issued_at=ISSUED,
        citizen_ref="cit-7f3e9a",
        disputed=(
            DisputedCheck(
                check_id="chk_0123456789abcdef01234567",
                relying_party_id="rp-banque",
                relying_party_name="Banque Exemple",
                checked_at=datetime(2026, 3, 30, 14, 5, tzinfo=UTC),
                verdict="step_up",
            ),
        ),
        declared=(
            DeclaredFraud(
                relying_party_id="rp-tel",
                relying_party_name="Télécom Œuvre",
                started=date(2026, 3, 1),
                ended=date(2026, 3, 15),
                what="phone_contract",
                note_sealed=NOTE,
            ),
            DeclaredFraud(None, None, date(2026, 3, 20), None, "credit_taken"),
        ),
        freeze=ReportFreeze(keys=3, since=ISSUED),
    )
    return replace(report, **changes)


def _attestation(**changes: Any) -> Attestation:
    attestation = Attestation(
        id="att-00112233445566778899aabbccddeeff",
        issued_at=ISSUED,
        expires_at=ISSUED + ATTESTATION_VALIDITY,
        citizen_ref="cit-7f3e9a",
        breaches=(
            AttestedBreach("ants-2026", ("names", "emails", "birth_dates"), date(2026, 3, 10)),
            AttestedBreach("telco-2025", ("phones",), None),
        ),
        frozen=True,
    )
    return replace(attestation, **changes)


def _payload(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return decoded


def _resign(claims: dict[str, Any], typ: str) -> str:
    """Claims signed with the real key under a given typ: what only a bug could produce."""
    return sign_compact(claims, KEY, typ=typ)


def _joserfc_payload(token: str) -> dict[str, Any]:
    with pytest.warns(SecurityWarning, match="RFC 9864"):  # EdDSA, see verrou.signing
        obj = jws.deserialize_compact(
            token,
            KeySet.import_key_set(JWKS),  # type: ignore[arg-type]
            registry=JWSRegistry(algorithms=["EdDSA"]),
        )
    decoded: dict[str, Any] = json.loads(obj.payload)
    assert obj.headers()["kid"] == KEY.kid
    return decoded


# -- ids ---------------------------------------------------------------------------------------


def test_ids_are_random_prefixed_and_say_nothing() -> None:
    reports = {new_report_id() for _ in range(200)}
    attestations = {new_attestation_id() for _ in range(200)}
    assert len(reports) == len(attestations) == 200
    assert all(re.fullmatch(r"rpt-[0-9a-f]{32}", rid) for rid in reports)
    assert all(re.fullmatch(r"att-[0-9a-f]{32}", aid) for aid in attestations)


# -- report claims -----------------------------------------------------------------------------


def test_report_claims_are_ids_codes_and_dates() -> None:
    assert report_claims(_report()) == {
        "iss": "verrou",
        "jti": "rpt-00112233445566778899aabbccddeeff",
        "iat": 1775122200,
        "kind": "identity_theft_report",
        "issued_at": "2026-04-02T09:30:00.000000Z",
        "disputed": [
            {
                "check_id": "chk_0123456789abcdef01234567",
                "relying_party_id": "rp-banque",
                "checked_at": "2026-03-30T14:05:00.000000Z",
                "verdict": "step_up",
            }
        ],
        "declared": [
            {
                "what": "phone_contract",
                "relying_party_id": "rp-tel",
                "started": "2026-03-01",
                "ended": "2026-03-15",
            },
            {
                "what": "credit_taken",
                "relying_party_id": None,
                "started": "2026-03-20",
                "ended": None,
            },
        ],
        "freeze": {
            "placed_by": "report",
            "reason": "identity_theft",
            "keys": 3,
            "since": "2026-04-02T09:30:00.000000Z",
        },
        "status": "valid",
        "withdrawn_at": None,
    }


def test_nothing_personal_is_signed_or_shown() -> None:
    report = _report()
    token = sign_report(report, KEY)
    signed = canonical_json(_payload(token))
    # The account reference, the note, and even relying-party names (looked up, so not needed).
    for secret in (b"cit-7f3e9a", NOTE, b"la-note", "Télécom Œuvre".encode(), b"Banque Exemple"):
        assert secret not in signed
    for text in (repr(report), repr(report.declared[0])):
        assert "cit-7f3e9a" not in text
        assert "la-note" not in text


def test_report_round_trip_with_our_verifier_and_with_joserfc() -> None:
    report = _report()
    token = sign_report(report, KEY)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "EdDSA", "kid": KEY.kid, "typ": "verrou-report+jwt"}
    assert verify_report_token(token, JWKS) == report_claims(report)
    assert _joserfc_payload(token) == report_claims(report)
    assert sign_report(report, KEY) == token  # Ed25519 and canonical JSON: deterministic


def test_a_withdrawn_report_verifies_and_says_so() -> None:
    withdrawn = _report(status="withdrawn", withdrawn_at=ISSUED + timedelta(days=3))
    claims = verify_report_token(sign_report(withdrawn, KEY), JWKS)
    assert claims["status"] == "withdrawn"
    assert claims["withdrawn_at"] == "2026-04-05T09:30:00.000000Z"


def test_a_tampered_report_is_refused() -> None:
    token = sign_report(_report(), KEY)
    header, payload, signature = token.split(".")
    claims = _payload(token)
    claims["status"] = "withdrawn"
    forged = f"{header}.{b64url_encode(canonical_json(claims))}.{signature}"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_report_token(forged, JWKS)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(SignatureError):
        verify_report_token(f"{header}.{payload}.{flipped}", JWKS)
    with pytest.raises(SignatureError, match="no key"):
        verify_report_token(token, public_jwks([SigningKey.generate()]))


def test_tokens_do_not_pass_for_one_another() -> None:
    report = sign_report(_report(), KEY)
    attestation = sign_attestation(_attestation(), KEY)
    verdict = sign_compact({"verdict": "deny", "check_id": "chk_1"}, KEY)
    now = ISSUED + timedelta(days=1)
    for token in (verdict, attestation):
        with pytest.raises(SignatureError, match="typ"):
            verify_report_token(token, JWKS)
    for token in (verdict, report):
        with pytest.raises(SignatureError, match="typ"):
            verify_attestation_token(token, JWKS, now)
    for token in (report, attestation):  # and neither is a verdict
        with pytest.raises(SignatureError, match="typ"):
            verify_compact(token, JWKS)


def test_the_kind_is_checked_again_after_the_typ() -> None:
    # An attestation's claims under the report typ: the signature verifies, the kind does not.
    claims = attestation_claims(_attestation())
    with pytest.raises(SignatureError, match="not an identity theft report"):
        verify_report_token(_resign(claims, REPORT_TYP), JWKS)
    claims = report_claims(_report())
    with pytest.raises(SignatureError, match="not an exposure attestation"):
        verify_attestation_token(_resign(claims, ATTESTATION_TYP), JWKS, ISSUED)


@pytest.mark.parametrize("member", sorted(report_claims(_report())))
def test_a_report_missing_any_claim_is_refused(member: str) -> None:
    claims = report_claims(_report())
    del claims[member]
    with pytest.raises(SignatureError):
        verify_report_token(_resign(claims, REPORT_TYP), JWKS)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("iss",), "someone-else"),
        (("iat",), True),
        (("iat",), 1775122201),  # disagrees with issued_at
        (("jti",), "chk_0123"),
        (("status",), "revoked"),
        (("status",), "withdrawn"),  # without withdrawn_at
        (("disputed", 0, "verdict"), "maybe"),
        (("disputed", 0, "checked_at"), "2026-03-30"),
        (("declared", 0, "what"), "I lost my wallet at 12 rue de la Paix"),
        (("declared", 0, "started"), "2026-3-1"),
        (("declared", 0, "ended"), "2026-02-01"),  # before started
        (("freeze", "keys"), 0),
        (("freeze", "placed_by"), "owner"),
        (("declared",), "none"),
    ],
)
def test_a_report_with_a_malformed_claim_is_refused(path: tuple[Any, ...], value: Any) -> None:
    claims = report_claims(_report())
    target: Any = claims
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(SignatureError):
        verify_report_token(_resign(claims, REPORT_TYP), JWKS)


def test_an_empty_report_token_is_refused() -> None:
    claims = report_claims(_report())
    claims["disputed"], claims["declared"] = [], []
    with pytest.raises(SignatureError, match="declares nothing"):
        verify_report_token(_resign(claims, REPORT_TYP), JWKS)


# -- report records ----------------------------------------------------------------------------


def test_fraud_codes_are_a_closed_list() -> None:
    assert FRAUD_CODES == (
        "account_opened",
        "credit_taken",
        "phone_contract",
        "document_used",
        "other",
    )
    with pytest.raises(ValueError, match="what must be one of"):
        DeclaredFraud(None, None, date(2026, 3, 1), None, "stolen bike")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DeclaredFraud(None, "Banque du coin", date(2026, 3, 1), None, "other"), "needs"),
        (lambda: DeclaredFraud(None, None, date(2026, 3, 2), date(2026, 3, 1), "other"), "before"),
        (lambda: DeclaredFraud(None, None, ISSUED, None, "other"), "without a time"),
        (lambda: DisputedCheck("chk_1", "rp", "Banque", ISSUED, "fine"), "verdict"),
        (
            lambda: DisputedCheck("chk_1", "rp", "Banque", ISSUED.replace(tzinfo=None), "deny"),
            "aware",
        ),
        (lambda: ReportFreeze(keys=0, since=ISSUED), "at least one"),
        (lambda: ReportFreeze(keys=1, since=ISSUED, placed_by="owner"), "placed by"),
        (lambda: _report(disputed=(), declared=()), "disputes a check"),
        (lambda: _report(id="chk_1"), "starts with"),
        (lambda: _report(status="withdrawn"), "withdrawn_at"),
        (lambda: _report(withdrawn_at=ISSUED), "withdrawn_at"),
        (lambda: _report(status="withdrawn", withdrawn_at=ISSUED - timedelta(1)), "after"),
        (lambda: _report(disputed=_report().disputed * 2), "once"),
        (lambda: _attestation(expires_at=ISSUED), "expires after"),
        (lambda: _attestation(id="rpt-1"), "starts with"),
        (lambda: AttestedBreach("ants", ("",)), "data class"),
    ],
)
def test_records_refuse_what_cannot_be(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


# -- attestations ------------------------------------------------------------------------------


def test_attestation_claims_and_default_validity() -> None:
    attestation = new_attestation(
        citizen_ref="cit-7f3e9a",
        breaches=_attestation().breaches,
        frozen=False,
        issued_at=ISSUED,
    )
    assert re.fullmatch(r"att-[0-9a-f]{32}", attestation.id)
    assert attestation.expires_at - attestation.issued_at == timedelta(days=90)
    claims = attestation_claims(attestation)
    assert claims == {
        "iss": "verrou",
        "jti": attestation.id,
        "iat": 1775122200,
        "exp": 1775122200 + 90 * 86400,
        "kind": "exposure_attestation",
        "issued_at": "2026-04-02T09:30:00.000000Z",
        "expires_at": "2026-07-01T09:30:00.000000Z",
        "breaches": [
            {
                "name": "ants-2026",
                "data_classes": ["names", "emails", "birth_dates"],
                "disclosed": "2026-03-10",
            },
            {"name": "telco-2025", "data_classes": ["phones"], "disclosed": None},
        ],
        "frozen": False,
    }
    assert b"cit-7f3e9a" not in canonical_json(claims)


def test_attestation_round_trip_with_our_verifier_and_with_joserfc() -> None:
    attestation = _attestation()
    token = sign_attestation(attestation, KEY)
    assert json.loads(b64url_decode(token.split(".")[0]))["typ"] == "verrou-attestation+jwt"
    now = ISSUED + timedelta(days=30)
    assert verify_attestation_token(token, JWKS, now) == attestation_claims(attestation)
    assert _joserfc_payload(token) == attestation_claims(attestation)


def test_an_expired_attestation_is_refused() -> None:
    attestation = _attestation()
    token = sign_attestation(attestation, KEY)
    last_second = attestation.expires_at - timedelta(seconds=1)
    assert verify_attestation_token(token, JWKS, last_second)["frozen"] is True
    for now in (attestation.expires_at, attestation.expires_at + timedelta(days=400)):
        with pytest.raises(SignatureError, match="expired"):
            verify_attestation_token(token, JWKS, now)


def test_an_attestation_from_the_future_is_refused_past_the_clock_skew() -> None:
    token = sign_attestation(_attestation(), KEY)
    verify_attestation_token(token, JWKS, ISSUED - timedelta(minutes=1))
    with pytest.raises(SignatureError, match="future"):
        verify_attestation_token(token, JWKS, ISSUED - timedelta(minutes=10))


def test_attestation_verification_needs_an_aware_now() -> None:
    token = sign_attestation(_attestation(), KEY)
    with pytest.raises(ValueError, match="aware"):
        verify_attestation_token(token, JWKS, datetime(2026, 4, 3))


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("exp", None),
        ("exp", 1775122200 + 1),  # disagrees with expires_at
        ("frozen", 1),
        ("frozen", None),
        ("breaches", [{"name": "ants-2026", "data_classes": [3], "disclosed": None}]),
        ("breaches", [{"name": "", "data_classes": [], "disclosed": None}]),
    ],
)
def test_an_attestation_with_a_malformed_claim_is_refused(member: str, value: Any) -> None:
    claims = attestation_claims(_attestation())
    claims[member] = value
    with pytest.raises(SignatureError):
        verify_attestation_token(_resign(claims, ATTESTATION_TYP), JWKS, ISSUED)


@pytest.mark.parametrize("member", sorted(attestation_claims(_attestation())))
def test_an_attestation_missing_any_claim_is_refused(member: str) -> None:
    claims = attestation_claims(_attestation())
    del claims[member]
    with pytest.raises(SignatureError):
        verify_attestation_token(_resign(claims, ATTESTATION_TYP), JWKS, ISSUED)
