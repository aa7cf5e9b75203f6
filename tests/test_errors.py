"""The one error tree: every error class lives in :mod:`verrou.errors`, knows its HTTP status
and code, and crosses the check recorder's process boundary (pickle) whole."""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
import pkgutil
import re
from datetime import UTC, datetime
from typing import Any

import pytest

import verrou
import verrou.errors as errors
from verrou.errors import (
    AuditChainBroken,
    BodyTooLarge,
    CanonicaliserVersionMismatch,
    ConfigError,
    Conflict,
    ContactSealError,
    CsrfRejected,
    DeliveryError,
    DumpError,
    FingerprintKeyMismatch,
    IdentityProviderUnavailable,
    InsufficientAssurance,
    InvalidAccount,
    InvalidApplicant,
    InvalidCanary,
    InvalidCode,
    InvalidIdentifier,
    InvalidIdentity,
    InvalidLookup,
    InvalidOperator,
    InvalidOprfElement,
    InvalidRelyingParty,
    InvalidReport,
    InvalidThaw,
    KeyMaterialError,
    LookupFailed,
    LookupUnavailable,
    MappingError,
    MetricsNotFound,
    NoIdentity,
    NotFound,
    NotReady,
    OutputExists,
    RateLimited,
    ReauthenticationRequired,
    RecorderFailed,
    SignatureError,
    SignInFailed,
    SignInNotConfigured,
    StoreError,
    Unauthorized,
    UnreadableAuditEntry,
    UserAgentRequired,
    VerrouError,
    WebhookSignatureError,
)
from verrou.registry.audit import (
    StoredEntry,
    entry_content,
    entry_from_content,
    next_entry,
    verify_stored,
)
from verrou.store import RegistryStore

T0 = datetime(2026, 4, 2, 9, 30, tzinfo=UTC)

#: One instance of each error, built as the code that raises it does.
SAMPLES: dict[type[VerrouError], VerrouError] = {
    VerrouError: VerrouError("something went wrong"),
    ConfigError: ConfigError("VERROU_KEY_FILE is not set"),
    KeyMaterialError: KeyMaterialError("the fingerprint key is 8 bytes; at least 32 are required"),
    FingerprintKeyMismatch: FingerprintKeyMismatch("fk-aaaaaaaaaaaa", "fk-bbbbbbbbbbbb"),
    CanonicaliserVersionMismatch: CanonicaliserVersionMismatch({"nir": (1, 2), "email": (1, None)}),
    ContactSealError: ContactSealError("the sealed contact was altered"),
    SignatureError: SignatureError("the token's signature does not verify"),
    AuditChainBroken: AuditChainBroken("audit log does not verify", first_bad_seq=7),
    UnreadableAuditEntry: UnreadableAuditEntry("audit content is not in canonical form"),
    InvalidIdentifier: InvalidIdentifier("NIR", "NIR key is 99, expected 93"),
    InvalidApplicant: InvalidApplicant({"email": "no @ in the address", "nir": "too short"}),
    InvalidIdentity: InvalidIdentity({"birth_date": "not an ISO date"}),
    NoIdentity: NoIdentity("give at least one identity option"),
    InvalidThaw: InvalidThaw("a thaw must end after it starts"),
    InvalidRelyingParty: InvalidRelyingParty("sector must be one of bank, telco"),
    DumpError: DumpError("the dump has no usable column"),
    MappingError: MappingError("the mapping names a column the dump does not have"),
    BodyTooLarge: BodyTooLarge("the request body is larger than 524,288 bytes"),
    InvalidCanary: InvalidCanary("a canary's source is one printable line of 1 to 120 characters"),
    InvalidOperator: InvalidOperator("an operator's password has at least 12 characters"),
    OutputExists: OutputExists("canaries.csv exists already: canary identities are written once"),
    InvalidAccount: InvalidAccount("the account is not an email address: no @ in the address"),
    Unauthorized: Unauthorized("unknown or revoked API key"),
    UserAgentRequired: UserAgentRequired("send a User-Agent header naming your application"),
    RateLimited: RateLimited("rate limit reached for this API key", 12),
    WebhookSignatureError: WebhookSignatureError("the webhook signature does not verify"),
    NotFound: NotFound("no relying party rp_0000000000000000"),
    MetricsNotFound: MetricsNotFound("not found"),
    Conflict: Conflict("the freeze is already lifted"),
    StoreError: StoreError("the registry is unreachable"),
    NotReady: NotReady("the check recorder cannot write"),
    RecorderFailed: RecorderFailed("internal error while recording checks; it was logged"),
    DeliveryError: DeliveryError("the webhook answered 500"),
    SignInNotConfigured: SignInNotConfigured("citizen sign-in is not configured"),
    SignInFailed: SignInFailed("the sign-in state does not match: start again"),
    IdentityProviderUnavailable: IdentityProviderUnavailable("the provider is unreachable"),
    InsufficientAssurance: InsufficientAssurance("assurance level eidas1 is not accepted"),
    CsrfRejected: CsrfRejected("missing or wrong X-CSRF-Token"),
    ReauthenticationRequired: ReauthenticationRequired("sign in again to do this"),
    InvalidCode: InvalidCode("this code is not the one sent"),
    InvalidReport: InvalidReport("a report disputes a check or declares a fraud"),
    InvalidOprfElement: InvalidOprfElement("not a ristretto255 element"),
    LookupUnavailable: LookupUnavailable("the private exposure check is not configured"),
    InvalidLookup: InvalidLookup({"kind": "not indexed here (indexed: email)"}),
    LookupFailed: LookupFailed("the server refused the lookup (rate_limited: retry later)"),
}

#: Exception classes allowed outside :mod:`verrou.errors`, by name, and why. They are private
#: control flow, caught in the module that raises them; no caller ever sees one.
PRIVATE_CONTROL_FLOW = {
    "_Restart": "a dump reader starts over from the next record with other options",
    "_ProbeDone": "rolls back the store's write probe's transaction",
    "_Unreadable": "a setting's parser tells its caller, which raises ConfigError naming it",
    "_IndexChanged": "the HTTP lookup client reads the directory again and asks once more",
}


def _error_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    ]


def _exceptions_defined_elsewhere() -> tuple[dict[str, type[BaseException]], set[str]]:
    """Exception classes defined in a module of verrou other than errors, and the modules read."""
    found: dict[str, type[BaseException]] = {}
    scanned: set[str] = set()
    for module_info in pkgutil.walk_packages(verrou.__path__, "verrou."):
        if module_info.name.endswith("__main__") or module_info.name == errors.__name__:
            continue
        module = importlib.import_module(module_info.name)
        scanned.add(module.__name__)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found, scanned


def test_every_error_class_has_a_sample() -> None:
    assert set(_error_classes()) == set(SAMPLES)
    assert all(type(error) is cls for cls, error in SAMPLES.items())


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
def test_every_error_knows_its_status_and_code(cls: type[VerrouError]) -> None:
    assert issubclass(cls, VerrouError)
    assert isinstance(cls.status, int) and 400 <= cls.status <= 599
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", cls.code)
    error = SAMPLES[cls]
    assert str(error) == error.message and error.message
    assert error.fields is None or all(
        isinstance(name, str) and isinstance(reason, str) for name, reason in error.fields.items()
    )
    assert error.retry_after is None or error.retry_after >= 1


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
def test_every_error_round_trips_through_pickle(cls: type[VerrouError], protocol: int) -> None:
    error = SAMPLES[cls]
    copy = pickle.loads(pickle.dumps(error, protocol=protocol))
    assert type(copy) is cls
    assert (copy.status, copy.code, copy.message, copy.fields, copy.retry_after) == (
        error.status,
        error.code,
        error.message,
        error.fields,
        error.retry_after,
    )
    assert str(copy) == str(error) and copy.args == error.args
    assert vars(copy) == vars(error)  # the subclass's own attributes too (first_bad_seq, ...)


def test_pickled_errors_keep_what_the_api_answers_with() -> None:
    limited: Any = pickle.loads(pickle.dumps(SAMPLES[RateLimited]))
    assert limited.retry_after == 12
    invalid: Any = pickle.loads(pickle.dumps(SAMPLES[InvalidIdentity]))
    assert isinstance(invalid, InvalidApplicant)
    assert invalid.fields == {"birth_date": "not an ISO date"}
    assert invalid.message == "invalid identity: birth_date: not an ISO date"
    mismatch: Any = pickle.loads(pickle.dumps(SAMPLES[FingerprintKeyMismatch]))
    assert (mismatch.registry_key_id, mismatch.given_key_id) == (
        "fk-aaaaaaaaaaaa",
        "fk-bbbbbbbbbbbb",
    )


def test_no_module_but_errors_defines_an_exception() -> None:
    elsewhere, scanned = _exceptions_defined_elsewhere()
    assert {"verrou.api.routes", "verrou.cli.registry_commands", "verrou.keys"} <= scanned
    allowed = {name for name, cls in elsewhere.items() if cls.__name__ in PRIVATE_CONTROL_FLOW}
    assert set(elsewhere) - allowed == set(), "define error classes in verrou.errors"
    # The private ones stay private and are not our errors (no caller must catch them).
    assert all(cls.__name__.startswith("_") for cls in elsewhere.values())
    assert not any(issubclass(cls, VerrouError) for cls in elsewhere.values())
    in_errors = len(_error_classes())
    assert in_errors / (in_errors + len(elsewhere)) >= 0.9


def test_old_import_paths_still_work() -> None:
    from verrou.keys import CanonicaliserVersionMismatch as canonicalisers_from_keys
    from verrou.keys import FingerprintKeyMismatch as key_from_keys
    from verrou.registry.alerts import WebhookSignatureError as from_alerts
    from verrou.registry.audit import AuditChainBroken as from_audit
    from verrou.registry.contacts import ContactSealError as from_contacts
    from verrou.registry.policy import InvalidApplicant as from_policy
    from verrou.registry.subjects import InvalidThaw as from_subjects
    from verrou.signing import SignatureError as from_signing

    assert (from_alerts, from_audit, from_contacts, from_policy) == (
        WebhookSignatureError,
        AuditChainBroken,
        ContactSealError,
        InvalidApplicant,
    )
    assert (canonicalisers_from_keys, key_from_keys, from_signing, from_subjects) == (
        CanonicaliserVersionMismatch,
        FingerprintKeyMismatch,
        SignatureError,
        InvalidThaw,
    )


@pytest.mark.parametrize(
    ("name", "sector", "rate_limit", "reason"),
    [
        ("Banque", "casino", None, "sector must be one of"),
        ("Two\nlines", "bank", None, "one printable line"),
        ("Banque", "bank", 0, "a rate limit is at least 1"),
    ],
)
def test_the_store_refuses_a_relying_party_with_our_error(
    store: RegistryStore, name: str, sector: Any, rate_limit: int | None, reason: str
) -> None:
    with pytest.raises(InvalidRelyingParty, match=reason) as caught:
        store.create_relying_party(name, sector, rate_limit=rate_limit)
    assert (caught.value.status, caught.value.code) == (422, "invalid_relying_party")
    assert isinstance(caught.value, ValueError)  # as the store raised before
    assert name not in caught.value.message


def test_an_unreadable_audit_entry_is_our_error_with_the_sentence_the_cli_printed() -> None:
    entry = next_entry(
        None, at=T0, action="freeze.place", actor="operator", subject=None, details={}
    )
    spaced = json.dumps(json.loads(entry_content(entry))).encode()  # same fields, other spelling
    with pytest.raises(UnreadableAuditEntry) as caught:
        entry_from_content(spaced, prev_hash=entry.prev_hash, entry_hash=entry.entry_hash)
    assert isinstance(caught.value, AuditChainBroken) and isinstance(caught.value, ValueError)
    assert caught.value.message == (
        "audit log entry cannot be read: audit content is not in canonical form"
    )
    assert caught.value.code == "audit_chain_broken"
    # The walk reports the reason once, not the CLI's sentence inside its own.
    report = verify_stored([StoredEntry(spaced, entry.prev_hash, entry.entry_hash)])
    assert report.problem == "entry 1 cannot be read: audit content is not in canonical form"
