from __future__ import annotations

import json
import os
import stat
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import SecurityWarning, UnsupportedAlgorithmError
from joserfc.jwk import KeySet, OKPKey
from joserfc.jws import JWSRegistry

from verrou.errors import KeyMaterialError, VerrouError
from verrou.signing import (
    VERDICT_TYP,
    SignatureError,
    SigningKey,
    b64url_decode,
    b64url_encode,
    canonical_json,
    create_signing_key_file,
    jwk_thumbprint,
    load_signing_key_file,
    public_jwks,
    sign_compact,
    verify_compact,
)

VERDICT = {
    "verdict": "step_up",
    "reasons": ["exposed"],
    "breaches": ["ants-2026"],
    "check_id": "chk-01",
    "iat": 1775000000,
}

KEY = SigningKey.generate()
JWKS = public_jwks([KEY])


def _parts(token: str) -> list[str]:
    return token.split(".")


def _reencode(part: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(part).encode())


def _joserfc_verify(token: str, jwks: dict[str, Any], alg: str) -> jws.CompactSignature:
    return jws.deserialize_compact(
        token, KeySet.import_key_set(jwks), registry=JWSRegistry(algorithms=[alg])
    )


# -- round trip and independent verification ---------------------------------------------------


def test_round_trip_returns_the_payload_and_writes_the_documented_header() -> None:
    token = sign_compact(VERDICT, KEY)
    assert verify_compact(token, JWKS) == VERDICT
    header = json.loads(b64url_decode(_parts(token)[0]))
    assert header == {"alg": "EdDSA", "kid": KEY.kid, "typ": "verrou-verdict+jwt"}


def test_joserfc_verifies_our_tokens_with_the_published_jwks() -> None:
    token = sign_compact(VERDICT, KEY)
    # joserfc lists EdDSA as deprecated (RFC 9864): it must be allowed explicitly and warns.
    with pytest.warns(SecurityWarning, match="RFC 9864"):
        obj = _joserfc_verify(token, JWKS, "EdDSA")
    assert json.loads(obj.payload) == VERDICT
    assert obj.headers()["kid"] == KEY.kid


def test_joserfc_refuses_both_ed25519_names_without_an_allow_list() -> None:
    # Pins the evidence behind SIGNING_ALG: neither name is in joserfc's default set, so every
    # joserfc relying party configures an allow-list anyway; EdDSA is the name others accept.
    token = sign_compact(VERDICT, KEY)
    with pytest.raises(UnsupportedAlgorithmError, match="not recommended"):
        jws.deserialize_compact(token, KeySet.import_key_set(JWKS))
    assert "Ed25519" not in JWSRegistry.recommended
    assert "EdDSA" not in JWSRegistry.recommended


def test_tokens_signed_by_joserfc_under_either_name_verify_here() -> None:
    okp = OKPKey.import_key(KEY.private_key)
    for alg in ("Ed25519", "EdDSA"):
        header = {"alg": alg, "kid": KEY.kid, "typ": VERDICT_TYP}
        expected_warning = pytest.warns(SecurityWarning) if alg == "EdDSA" else nullcontext()
        with expected_warning:
            token = jws.serialize_compact(
                header, b'{"verdict":"deny"}', okp, registry=JWSRegistry(algorithms=[alg])
            )
        assert verify_compact(token, JWKS) == {"verdict": "deny"}


def test_kid_is_the_rfc7638_thumbprint_computed_independently() -> None:
    assert KEY.kid == OKPKey.import_key(KEY.private_key).thumbprint()
    assert jwk_thumbprint(KEY.public_key()) == KEY.kid


def test_jwks_shape_and_deduplication() -> None:
    other = SigningKey.generate()
    jwks = public_jwks([KEY, other, KEY])
    assert [jwk["kid"] for jwk in jwks["keys"]] == [KEY.kid, other.kid]
    jwk = jwks["keys"][0]
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}  # no private "d"
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert b64url_decode(jwk["x"]) == raw


def test_a_retired_key_in_the_set_still_verifies_its_tokens() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    jwks = public_jwks([new, old])
    assert verify_compact(sign_compact(VERDICT, old), jwks) == VERDICT
    assert verify_compact(sign_compact(VERDICT, new), jwks) == VERDICT


# -- canonical bytes -------------------------------------------------------------------------


def test_same_payload_in_any_key_order_signs_the_same_bytes() -> None:
    reordered = dict(reversed(list(VERDICT.items())))
    assert list(reordered) != list(VERDICT)
    assert sign_compact(reordered, KEY) == sign_compact(VERDICT, KEY)
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12)),
        max_size=8,
    ),
    st.randoms(use_true_random=False),
)
def test_canonical_bytes_do_not_depend_on_insertion_order(
    payload: dict[str, Any], rnd: Any
) -> None:
    items = list(payload.items())
    rnd.shuffle(items)
    shuffled = dict(items)
    assert canonical_json(shuffled) == canonical_json(payload)
    assert sign_compact(shuffled, KEY) == sign_compact(payload, KEY)


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"score": float("nan")})


# -- tampering ---------------------------------------------------------------------------------


def test_tampered_payload_is_rejected() -> None:
    header, _, signature = _parts(sign_compact(VERDICT, KEY))
    forged = _reencode({**VERDICT, "verdict": "clear"})
    with pytest.raises(SignatureError, match="signature does not verify"):
        verify_compact(f"{header}.{forged}.{signature}", JWKS)


def test_tampered_header_is_rejected() -> None:
    _, payload, signature = _parts(sign_compact(VERDICT, KEY))
    for header in (
        {"alg": "EdDSA", "kid": KEY.kid, "typ": "verrou-verdict+JWT"},  # typ case changed
        {"alg": "Ed25519", "kid": KEY.kid, "typ": VERDICT_TYP},  # accepted alg, other bytes
    ):
        with pytest.raises(SignatureError):
            verify_compact(f"{_reencode(header)}.{payload}.{signature}", JWKS)


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256", "RS256", None])
def test_other_algorithms_are_refused_before_any_key_is_used(alg: str | None) -> None:
    _, payload, signature = _parts(sign_compact(VERDICT, KEY))
    header = _reencode({"alg": alg, "kid": KEY.kid, "typ": VERDICT_TYP})
    with pytest.raises(SignatureError, match="alg"):
        verify_compact(f"{header}.{payload}.{signature}", JWKS)
    with pytest.raises(SignatureError):
        verify_compact(f"{header}.{payload}.", JWKS)


def test_every_single_character_change_of_the_signature_is_rejected() -> None:
    token = sign_compact(VERDICT, KEY)
    head, _, signature = token.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index in range(len(signature)):
        replacement = alphabet[(alphabet.index(signature[index]) + 1) % 64]
        forged = signature[:index] + replacement + signature[index + 1 :]
        with pytest.raises(SignatureError):
            verify_compact(f"{head}.{forged}", JWKS)


def test_non_canonical_base64_padding_bits_are_refused() -> None:
    # 64 bytes end on a character carrying 2 unused bits; a lax decoder ignores them, which would
    # let a token be altered and still verify. Regression for that malleability.
    token = sign_compact(VERDICT, KEY)
    head, _, signature = token.rpartition(".")
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(last) ^ 1]
    with pytest.raises(SignatureError, match="canonical base64url"):
        verify_compact(f"{head}.{signature[:-1]}{sibling}", JWKS)


def test_unknown_kid_is_rejected() -> None:
    stranger = SigningKey.generate()
    with pytest.raises(SignatureError, match="no key with kid"):
        verify_compact(sign_compact(VERDICT, stranger), JWKS)


def test_a_key_set_that_maps_our_kid_to_another_key_is_rejected() -> None:
    impostor = public_jwks([SigningKey.generate()])
    impostor["keys"][0]["kid"] = KEY.kid
    with pytest.raises(SignatureError, match="signature does not verify"):
        verify_compact(sign_compact(VERDICT, KEY), impostor)


def test_ambiguous_or_unusable_keys_are_rejected() -> None:
    token = sign_compact(VERDICT, KEY)
    jwk = JWKS["keys"][0]
    cases: list[tuple[Any, str]] = [
        ({"keys": [jwk, jwk]}, "several keys"),
        ({"keys": [{**jwk, "use": "enc"}]}, "not a signature key"),
        ({"keys": [{**jwk, "crv": "Ed448"}]}, "not an Ed25519 key"),
        ({"keys": [{**jwk, "alg": "ES256"}]}, "for algorithm"),
        ({"keys": [{**jwk, "x": jwk["x"][:-2]}]}, "malformed public value"),
        ({}, "no 'keys' list"),
    ]
    for jwks, message in cases:
        with pytest.raises(SignatureError, match=message):
            verify_compact(token, jwks)


def test_token_of_another_type_is_rejected() -> None:
    token = sign_compact({"seq": 1}, KEY, typ="verrou-audit-checkpoint+jwt")
    with pytest.raises(SignatureError, match="typ"):
        verify_compact(token, JWKS)
    assert verify_compact(token, JWKS, typ="verrou-audit-checkpoint+jwt") == {"seq": 1}


def test_unsupported_header_members_are_rejected() -> None:
    okp = OKPKey.import_key(KEY.private_key)
    header = {"alg": "Ed25519", "kid": KEY.kid, "typ": VERDICT_TYP, "jku": "https://evil"}
    token = jws.serialize_compact(header, b"{}", okp, registry=JWSRegistry(algorithms=["Ed25519"]))
    with pytest.raises(SignatureError, match="unsupported members"):
        verify_compact(token, JWKS)


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "###.###.###", "x" * 70_000, "e30.e30.e30="],
)
def test_malformed_tokens_raise_our_error(token: str) -> None:
    with pytest.raises(SignatureError):
        verify_compact(token, JWKS)


def test_signed_non_object_or_duplicate_member_payloads_are_rejected() -> None:
    header = b64url_encode(
        json.dumps({"alg": "EdDSA", "kid": KEY.kid, "typ": VERDICT_TYP}).encode()
    )
    for raw in (b"[1,2]", b'{"verdict":"deny","verdict":"clear"}', b"\xff"):
        signing_input = f"{header}.{b64url_encode(raw)}"
        signature = b64url_encode(KEY.private_key.sign(signing_input.encode()))
        with pytest.raises(SignatureError, match="payload is not a JSON object"):
            verify_compact(f"{signing_input}.{signature}", JWKS)


def test_signature_error_is_a_verrou_error_with_its_status() -> None:
    assert issubclass(SignatureError, VerrouError)
    assert (SignatureError.status, SignatureError.code) == (400, "bad_signature")


# -- key files -------------------------------------------------------------------------------


def test_key_file_is_private_pem_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    key = create_signing_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_signing_key_file(path)
    assert loaded == key
    assert verify_compact(sign_compact(VERDICT, loaded), public_jwks([key])) == VERDICT


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    first = create_signing_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyMaterialError, match="refusing to overwrite"):
        create_signing_key_file(path)
    assert path.read_bytes() == before
    assert load_signing_key_file(path) == first


def test_repr_never_shows_key_material() -> None:
    raw = KEY.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    text = repr(KEY) + str(KEY)
    assert text == f"SigningKey(kid={KEY.kid!r})" * 2
    assert raw.hex() not in text
    assert b64url_encode(raw) not in text


def test_missing_unreadable_and_foreign_key_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="no signing key at"):
        load_signing_key_file(tmp_path / "absent.pem")
    with pytest.raises(KeyMaterialError, match="cannot read"):
        load_signing_key_file(tmp_path)  # a directory
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    garbage.chmod(0o600)  # private files, only not Ed25519 keys
    with pytest.raises(KeyMaterialError, match="not a PEM private key"):
        load_signing_key_file(garbage)
    ec_file = tmp_path / "ec.pem"
    ec_file.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ec_file.chmod(0o600)
    with pytest.raises(KeyMaterialError, match="not Ed25519"):
        load_signing_key_file(ec_file)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
    )
    encrypted.chmod(0o600)
    with pytest.raises(KeyMaterialError, match="encrypted"):
        load_signing_key_file(encrypted)


def test_a_signing_key_with_a_wrong_kid_cannot_be_built() -> None:
    with pytest.raises(KeyMaterialError, match="does not match"):
        SigningKey(kid="not-the-thumbprint", private_key=KEY.private_key)
