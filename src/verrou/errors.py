"""One error tree for verrou.

Every error knows its HTTP status (``status``), a stable machine code (``code``) and a human
sentence (its message). The API answers with the three (and ``fields``, ``retry_after`` when set);
the CLI prints the sentence on one line. Messages never carry a plaintext identifier: callers
pass the kind and the reason, never the value; ``fields`` maps a field to why it is wrong, never
to what was submitted.

Every error pickles (:meth:`VerrouError.__reduce__`): errors cross the check recorder's process
boundary, and most of them take other arguments than their message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias


def _rebuilt(cls: type[VerrouError], args: tuple[Any, ...], state: dict[str, Any]) -> VerrouError:
    """An error unpickled: made without calling its ``__init__``, then given its attributes."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


_Reduced: TypeAlias = tuple[Any, tuple[type["VerrouError"], tuple[Any, ...], dict[str, Any]]]


class VerrouError(Exception):
    """Base of every error verrou raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    #: Each invalid field and why (never its value), for errors about submitted data.
    fields: dict[str, str] | None = None
    #: Seconds after which a retry may succeed (the API's ``Retry-After``).
    retry_after: int | None = None

    def __init__(
        self,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = None if fields is None else dict(fields)
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> _Reduced:
        # The default rebuilds with ``type(self)(*self.args)``, which fails for every error whose
        # ``__init__`` takes other arguments than its message (or loses their attributes).
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


# --- configuration and keys -------------------------------------------------------------------


class ConfigError(VerrouError):
    """Settings are missing or unsafe; the process must not start."""

    code = "configuration_error"


class KeyMaterialError(ConfigError):
    """The fingerprint key is missing, unreadable, too short or would be overwritten."""

    code = "key_error"


class FingerprintKeyMismatch(KeyMaterialError):
    """The fingerprint key given is not the one the registry was built with.

    With another key every fingerprint differs, so a frozen identity would match nothing and
    come back ``clear``: every command that uses the key refuses to run. Key rotation, when it
    exists, will be an explicit command; there is none yet.
    """

    code = "fingerprint_key_mismatch"

    def __init__(self, registry_key_id: str, given_key_id: str) -> None:
        super().__init__(
            f"this registry was built with fingerprint key {registry_key_id}, not "
            f"{given_key_id}: refusing to use another key (set VERROU_KEY or VERROU_KEY_FILE "
            "to the registry's key; key rotation is not supported yet)"
        )
        self.registry_key_id = registry_key_id
        self.given_key_id = given_key_id


class CanonicaliserVersionMismatch(KeyMaterialError):
    """The registry's fingerprints were made with other canonicaliser versions than this
    verrou's.

    A fingerprint hashes the kind's canonicaliser version with the value, so for a kind whose
    version changed every key differs: its freezes and exposures would match nothing, and a
    frozen identity would come back ``clear``. Every keyed command refuses to run, as for
    another fingerprint key (:class:`FingerprintKeyMismatch`).
    """

    code = "canonicaliser_version_mismatch"

    def __init__(self, differing: dict[str, tuple[int, int | None]]) -> None:
        described = ", ".join(
            f"{kind} {built} (this verrou: {'none' if ours is None else ours})"
            for kind, (built, ours) in sorted(differing.items())
        )
        super().__init__(
            f"this registry was built with other canonicaliser versions: {described}; its "
            "keys would not match this verrou's, so frozen identities would come back clear. "
            "Run the verrou release that built it, or rebuild the registry with this one "
            "(ingest the dumps into a new registry and place the freezes again)"
        )
        self.differing = differing


class ContactSealError(VerrouError):
    """A sealed contact cannot be opened: wrong key, moved to another subject, or altered.

    The message says which of these it can tell apart, never anything about the contact.
    """

    code = "contact_seal_error"


class SignatureError(VerrouError):
    """A token does not verify: malformed, unknown key, wrong type or bad signature."""

    status = 400
    code = "bad_signature"


class AuditChainBroken(VerrouError):
    """The audit log does not verify: an entry was altered, removed, reordered or duplicated."""

    status = 500
    code = "audit_chain_broken"

    def __init__(self, message: str, first_bad_seq: int | None = None) -> None:
        super().__init__(message)
        self.first_bad_seq = first_bad_seq


class UnreadableAuditEntry(AuditChainBroken, ValueError):
    """An audit entry's stored content does not decode to a canonical entry. ``reason`` says why.

    Also a ``ValueError``, as the decoder raised before: callers that catch one keep working.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"audit log entry cannot be read: {reason}")
        self.reason = reason


# --- submitted data ---------------------------------------------------------------------------


class InvalidIdentifier(VerrouError):
    """A raw value is not a valid identifier of its kind.

    ``reason`` is a short sentence that says why without echoing the value
    ("NIR key is 99, expected 93").
    """

    status = 422
    code = "invalid_identifier"

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"invalid {kind}: {reason}")
        self.kind = kind
        self.reason = reason


class InvalidApplicant(VerrouError):
    """Some applicant attributes are invalid. ``fields`` maps each bad field to why.

    Every invalid field is listed, not just the first; reasons never hold the value.
    """

    status = 422
    code = "invalid_applicant"
    fields: dict[str, str]

    def __init__(self, fields: dict[str, str]) -> None:
        names = ", ".join(sorted(fields))
        super().__init__(
            f"invalid applicant: {len(fields)} invalid field(s): {names}", fields=fields
        )


class InvalidIdentity(InvalidApplicant):
    """:class:`InvalidApplicant` whose one-line message lists each field and why (reasons name
    what is wrong, never the value): the CLI's, for an identity given on its command line."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields)
        detail = "; ".join(f"{name}: {reason}" for name, reason in sorted(fields.items()))
        self.message = f"invalid identity: {detail}"
        self.args = (self.message,)


class NoIdentity(VerrouError):
    """A command about an identity was given none."""

    status = 400
    code = "no_identity"


class InvalidThaw(VerrouError):
    """A thaw window that cannot be: it ends before it starts, or has already ended."""

    status = 422
    code = "invalid_thaw"


class InvalidRelyingParty(VerrouError, ValueError):
    """A relying party's name, sector or rate limit is refused.

    Also a ``ValueError``: the store raised one before it raised this, and callers that catch
    it keep working.
    """

    status = 422
    code = "invalid_relying_party"


class DumpError(VerrouError):
    """A dump cannot be read at all (unknown format, corrupt archive, no usable column)."""

    status = 400
    code = "unreadable_dump"


class MappingError(VerrouError):
    """A column mapping file is malformed or names columns the dump does not have."""

    status = 400
    code = "invalid_mapping"


class BodyTooLarge(VerrouError):
    """A request body larger than the API reads."""

    status = 413
    code = "body_too_large"


# --- access -----------------------------------------------------------------------------------


class Unauthorized(VerrouError):
    """A missing, unknown or revoked API key."""

    status = 401
    code = "unauthorized"


class RateLimited(VerrouError):
    """The API key's rate limit is reached; ``retry_after`` says in how many seconds to retry."""

    status = 429
    code = "rate_limited"
    retry_after: int

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)


class WebhookSignatureError(VerrouError):
    """A webhook request does not carry a valid verrou signature."""

    status = 401
    code = "invalid_signature"


# --- lookups ----------------------------------------------------------------------------------


class NotFound(VerrouError):
    """What was asked for does not exist."""

    status = 404
    code = "not_found"


class MetricsNotFound(VerrouError):
    """``/metrics`` without its token answers as a route that does not exist."""

    status = 404
    code = "not_found"


class Conflict(VerrouError):
    """The request contradicts the registry's current state."""

    status = 409
    code = "conflict"


# --- infrastructure ---------------------------------------------------------------------------


class StoreError(VerrouError):
    """The registry store failed or is unreachable. Checks fail closed on it (503)."""

    status = 503
    code = "store_unavailable"


class NotReady(StoreError):
    """/readyz's answer when a check would fail now (503, as the check would get)."""


class RecorderFailed(VerrouError):
    """The recorder failed for a reason other than the store (a bug): logged, answered 500."""

    status = 500
    code = "internal_error"


class DeliveryError(VerrouError):
    """One delivery attempt failed. The message is safe to store: no address, no identifier."""

    status = 502
    code = "delivery_failed"


# --- citizen sign-in --------------------------------------------------------------------------


class SignInNotConfigured(VerrouError):
    """Citizen sign-in without an identity provider configured (no VERROU_OIDC_ISSUER): the
    citizen routes answer this, as routes that do not exist here, never a fallback provider."""

    status = 404
    code = "sign_in_not_configured"


class SignInFailed(VerrouError):
    """A citizen sign-in that cannot be completed: bad or missing state, a code the provider
    refuses, an ID token that does not verify. The message names the step, never a claim."""

    status = 401
    code = "sign_in_failed"


class IdentityProviderUnavailable(SignInFailed):
    """The identity provider cannot be reached or answers nonsense: nobody is signed in."""

    status = 502
    code = "identity_provider_unavailable"


class InsufficientAssurance(SignInFailed):
    """The identity provider's assurance level (``acr``) is missing or not an allowed one."""

    status = 403
    code = "insufficient_assurance"


class CsrfRejected(VerrouError):
    """A state-changing request on a cookie session without the session's ``X-CSRF-Token``."""

    status = 403
    code = "csrf_rejected"


class ReauthenticationRequired(VerrouError):
    """The operation needs a recent sign-in (``VERROU_REAUTH_MINUTES``) at eidas2 or above."""

    status = 403
    code = "reauthentication_required"
