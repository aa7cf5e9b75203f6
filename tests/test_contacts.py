from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from verrou.errors import InvalidIdentifier, KeyMaterialError, VerrouError
from verrou.identifiers.contact import canonical_email
from verrou.registry.contacts import (
    NONCE_BYTES,
    PAD_BLOCK,
    TAG_BYTES,
    Contact,
    ContactKey,
    ContactSealError,
    create_contact_key_file,
    load_contact_key_file,
    open_sealed,
    seal,
    sealed_kid,
)

SUBJECT = bytes.fromhex("a1" * 32)
OTHER_SUBJECT = bytes.fromhex("b2" * 32)


@pytest.fixture
def key() -> ContactKey:
    return ContactKey.generate()


def test_email_contact_round_trips_in_canonical_form(key: ContactKey) -> None:
    contact = Contact("email", "  Jean.Dupont@Orange.FR ")
    assert contact.address == "jean.dupont@orange.fr"
    blob = seal(contact, key, subject_fingerprint=SUBJECT)
    assert open_sealed(blob, key, subject_fingerprint=SUBJECT) == contact
    assert b"dupont" not in blob


def test_webhook_contact_round_trips(key: ContactKey) -> None:
    contact = Contact("webhook", "https://hooks.example.fr/verrou?token=abc")
    blob = seal(contact, key, subject_fingerprint=SUBJECT)
    assert open_sealed(blob, key, subject_fingerprint=SUBJECT) == contact


def test_two_seals_differ_and_length_hides_the_address(key: ContactKey) -> None:
    short = Contact("email", "a@b.fr")
    longer = Contact("email", "jean.dupont@orange.fr")
    first = seal(short, key, subject_fingerprint=SUBJECT)
    assert first != seal(short, key, subject_fingerprint=SUBJECT)  # fresh nonce each time
    assert len(first) == len(seal(longer, key, subject_fingerprint=SUBJECT))
    assert sealed_kid(first) == key.kid


def test_wrong_key_is_refused_with_both_key_ids(key: ContactKey) -> None:
    blob = seal(Contact("email", "a@b.fr"), key, subject_fingerprint=SUBJECT)
    other = ContactKey.generate()
    with pytest.raises(ContactSealError, match=f"{key.kid}.*{other.kid}"):
        open_sealed(blob, other, subject_fingerprint=SUBJECT)


def test_wrong_secret_under_the_same_kid_does_not_authenticate(key: ContactKey) -> None:
    blob = seal(Contact("email", "a@b.fr"), key, subject_fingerprint=SUBJECT)
    impostor = ContactKey(kid=key.kid, secret=bytes(32))
    with pytest.raises(ContactSealError, match="does not authenticate"):
        open_sealed(blob, impostor, subject_fingerprint=SUBJECT)


def test_blob_moved_to_another_subject_is_refused(key: ContactKey) -> None:
    blob = seal(Contact("email", "a@b.fr"), key, subject_fingerprint=SUBJECT)
    with pytest.raises(ContactSealError, match="another subject"):
        open_sealed(blob, key, subject_fingerprint=OTHER_SUBJECT)


def test_every_single_byte_change_is_detected(key: ContactKey) -> None:
    blob = seal(Contact("email", "jean.dupont@orange.fr"), key, subject_fingerprint=SUBJECT)
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(ContactSealError):
            open_sealed(bytes(tampered), key, subject_fingerprint=SUBJECT)


@pytest.mark.parametrize("cut", [0, 1, 5, 20, 40])
def test_truncated_blob_is_refused(key: ContactKey, cut: int) -> None:
    blob = seal(Contact("email", "a@b.fr"), key, subject_fingerprint=SUBJECT)
    with pytest.raises(ContactSealError):
        open_sealed(blob[:cut], key, subject_fingerprint=SUBJECT)


def test_unknown_version_is_named(key: ContactKey) -> None:
    blob = seal(Contact("email", "a@b.fr"), key, subject_fingerprint=SUBJECT)
    with pytest.raises(ContactSealError, match="version byte 2"):
        open_sealed(b"\x02" + blob[1:], key, subject_fingerprint=SUBJECT)


def test_seal_error_is_a_verrou_error_and_quotes_nothing(key: ContactKey) -> None:
    blob = seal(Contact("email", "jean.dupont@orange.fr"), key, subject_fingerprint=SUBJECT)
    with pytest.raises(VerrouError) as caught:
        open_sealed(blob, key, subject_fingerprint=OTHER_SUBJECT)
    assert isinstance(caught.value, ContactSealError)
    assert "dupont" not in str(caught.value)
    assert SUBJECT.hex() not in str(caught.value)


def test_empty_subject_fingerprint_is_refused(key: ContactKey) -> None:
    with pytest.raises(ContactSealError):
        seal(Contact("email", "a@b.fr"), key, subject_fingerprint=b"")


def test_contact_repr_masks_the_address() -> None:
    contact = Contact("email", "jean.dupont@orange.fr")
    assert "dupont" not in repr(contact)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "https://hooks.example.fr/x",
        "https://8.8.8.8/x",
    ],
)
def test_webhook_urls_accepted(url: str) -> None:
    assert Contact("webhook", url).address == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.fr/x", "only to 127.0.0.1"),
        ("http://localhost/x", "only to 127.0.0.1"),
        ("ftp://hooks.example.fr/x", "https://"),
        ("https://user:pw@hooks.example.fr/x", "user name"),
        ("https://10.0.0.1/x", "non-public"),
        ("https://127.0.0.1/x", "non-public"),
        ("https://169.254.169.254/latest", "non-public"),
        ("https:///x", "no host"),
        ("https://hooks.example.fr/x y", "whitespace"),
        ("https://hooks.example.fr:99999/x", "malformed"),
        ("", "empty"),
    ],
)
def test_webhook_urls_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        Contact("webhook", url)


def test_invalid_email_contact_is_refused_without_quoting_it() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        Contact("email", "jean.dupont(at)orange.fr")
    assert "dupont" not in str(caught.value)


def test_unknown_channel_is_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="channel"):
        Contact("sms", "+33612345678")  # type: ignore[arg-type]


# --- key files ------------------------------------------------------------------------------


def test_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "contact.key"
    key = create_contact_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_contact_key_file(path) == key
    assert key.kid.startswith("ck-")
    assert key.secret.hex() not in repr(key)
    assert len(key.secret) == 32


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "contact.key"
    first = create_contact_key_file(path)
    with pytest.raises(KeyMaterialError, match="refusing to overwrite"):
        create_contact_key_file(path)
    assert load_contact_key_file(path) == first


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="no contact key"):
        load_contact_key_file(tmp_path / "absent.key")


def test_altered_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "contact.key"
    create_contact_key_file(path)
    document = json.loads(path.read_text())
    document["kid"] = "ck-000000000000"
    path.write_text(json.dumps(document))
    with pytest.raises(KeyMaterialError, match="does not match"):
        load_contact_key_file(path)


def test_foreign_file_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "contact.key"
    path.write_text('{"format": "verrou-fingerprint-key/1", "key_id": "x", "key": "AAAA"}')
    path.chmod(0o600)  # a private file, only of the wrong kind
    with pytest.raises(KeyMaterialError, match="not a verrou contact key"):
        load_contact_key_file(path)


def test_short_key_is_refused() -> None:
    with pytest.raises(KeyMaterialError, match="32 bytes"):
        ContactKey(kid="ck-x", secret=bytes(16))


# --- properties -----------------------------------------------------------------------------

_KEY = ContactKey.generate()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(address=st.emails(), subject=st.binary(min_size=1, max_size=64))
def test_any_valid_email_round_trips(address: str, subject: bytes) -> None:
    try:
        canonical = canonical_email(address)
    except InvalidIdentifier:
        assume(False)
        return
    contact = Contact("email", address)
    assert contact.address == canonical
    blob = seal(contact, _KEY, subject_fingerprint=subject)
    header = 2 + len(_KEY.kid)
    assert (len(blob) - header - NONCE_BYTES - TAG_BYTES) % PAD_BLOCK == 0
    assert open_sealed(blob, _KEY, subject_fingerprint=subject) == contact
    with pytest.raises(ContactSealError):
        open_sealed(blob, _KEY, subject_fingerprint=subject + b"\x00")
