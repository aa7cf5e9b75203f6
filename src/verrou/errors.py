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
from typing import Any, ClassVar, TypeAlias


def _rebuilt(cls: type[VerrouError], args: tuple[Any, ...], state: dict[str, Any]) -> VerrouError:
    """An error unpickled: made without calling its ``__init__``, then given its attributes."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


_Reduced: TypeAlias = tuple[Any, tuple[type["VerrouError"], tuple[Any, ...], dict[str, Any]]]


class VerrouError(Exception):
    """Base of every error verrou raises on purpose.

    A subclass declares its ``status`` and ``code`` in its class line, as keywords
    (:meth:`__init_subclass__`), and inherits the rest: the message, ``fields``, ``retry_after``
    and pickling. Most errors are then their docstring and that line.
    """

    #: The HTTP status the API answers with.
    status: ClassVar[int] = 500
    #: The stable machine code the API answers with (the metrics' label too).
    code: ClassVar[str] = "internal_error"
    #: Each invalid field and why (never its value), for errors about submitted data.
    fields: dict[str, str] | None = None
    #: Seconds after which a retry may succeed (the API's ``Retry-After``).
    retry_after: int | None = None

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None) -> None:
        # Keywords rather than class attributes: a misspelt one (``stauts=``) is a TypeError at
        # import and a mypy error, where a misspelt attribute would silently keep the parent's.
        super().__init_subclass__()
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

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


class ConfigError(VerrouError, code="configuration_error"):
    """Settings are missing or unsafe; the process must not start."""


class KeyMaterialError(ConfigError, code="key_error"):
    """The fingerprint key is missing, unreadable, too short or would be overwritten."""


class FingerprintKeyMismatch(KeyMaterialError, code="fingerprint_key_mismatch"):
    """The fingerprint key given is not the one the registry was built with.

    With another key every fingerprint differs, so a frozen identity would match nothing and
    come back ``clear``: every command that uses the key refuses to run. Key rotation, when it
    exists, will be an explicit command; there is none yet.
    """

    def __init__(self, registry_key_id: str, given_key_id: str) -> None:
        super().__init__(
            f"this registry was built with fingerprint key {registry_key_id}, not "
            f"{given_key_id}: refusing to use another key (set VERROU_KEY or VERROU_KEY_FILE "
            "to the registry's key; key rotation is not supported yet)"
        )
        self.registry_key_id = registry_key_id
        self.given_key_id = given_key_id


class CanonicaliserVersionMismatch(KeyMaterialError, code="canonicaliser_version_mismatch"):
    """The registry's fingerprints were made with other canonicaliser versions than this
    verrou's.

    A fingerprint hashes the kind's canonicaliser version with the value, so for a kind whose
    version changed every key differs: its freezes and exposures would match nothing, and a
    frozen identity would come back ``clear``. Every keyed command refuses to run, as for
    another fingerprint key (:class:`FingerprintKeyMismatch`).
    """

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


class ContactSealError(VerrouError, code="contact_seal_error"):
    """A sealed contact cannot be opened: wrong key, moved to another subject, or altered.

    The message says which of these it can tell apart, never anything about the contact.
    """


class SignatureError(VerrouError, status=400, code="bad_signature"):
    """A token does not verify: malformed, unknown key, wrong type or bad signature."""


class AuditChainBroken(VerrouError, status=500, code="audit_chain_broken"):
    """The audit log does not verify: an entry was altered, removed, reordered or duplicated."""

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


class InvalidIdentifier(VerrouError, status=422, code="invalid_identifier"):
    """A raw value is not a valid identifier of its kind.

    ``reason`` is a short sentence that says why without echoing the value
    ("NIR key is 99, expected 93").
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"invalid {kind}: {reason}")
        self.kind = kind
        self.reason = reason


class InvalidApplicant(VerrouError, status=422, code="invalid_applicant"):
    """Some applicant attributes are invalid. ``fields`` maps each bad field to why.

    Every invalid field is listed, not just the first; reasons never hold the value.
    """

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


class NoIdentity(VerrouError, status=400, code="no_identity"):
    """A command about an identity was given none."""


class InvalidThaw(VerrouError, status=422, code="invalid_thaw"):
    """A thaw window that cannot be: it ends before it starts, or has already ended."""


class InvalidRelyingParty(VerrouError, ValueError, status=422, code="invalid_relying_party"):
    """A relying party's name, sector or rate limit is refused.

    Also a ``ValueError``: the store raised one before it raised this, and callers that catch
    it keep working.
    """


class DumpError(VerrouError, status=400, code="unreadable_dump"):
    """A dump cannot be read at all (unknown format, corrupt archive, no usable column)."""


class MappingError(VerrouError, status=400, code="invalid_mapping"):
    """A column mapping file is malformed or names columns the dump does not have."""


class BodyTooLarge(VerrouError, status=413, code="body_too_large"):
    """A request body larger than the API reads."""


class InvalidCanary(VerrouError, status=422, code="invalid_canary"):
    """A canary planting that cannot be: a source that is not one short line, an email domain
    that is not one, a count out of range. The message names the rule, never a value."""


class InvalidOperator(VerrouError, status=422, code="invalid_operator"):
    """An operator account that cannot be: a name outside the allowed characters, a password
    too short. The message names the rule, never the value."""


class OutputExists(VerrouError, status=409, code="output_exists"):
    """A file a command writes once exists already (a canary planting's CSV holds the only copy
    of its identities): it is never overwritten."""


class InvalidAccount(VerrouError, status=400, code="invalid_account"):
    """An HIBP-style account search for something that is not an email address (HIBP answers
    400). The message says why, never what was searched."""


# --- access -----------------------------------------------------------------------------------


class Unauthorized(VerrouError, status=401, code="unauthorized"):
    """A missing, unknown or revoked API key."""


class UserAgentRequired(VerrouError, status=403, code="user_agent_required"):
    """An HIBP-style request without a ``User-Agent``: HIBP refuses those (403), and its
    clients expect the same here."""


class RateLimited(VerrouError, status=429, code="rate_limited"):
    """The API key's rate limit is reached; ``retry_after`` says in how many seconds to retry."""

    retry_after: int

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)


class WebhookSignatureError(VerrouError, status=401, code="invalid_signature"):
    """A webhook request does not carry a valid verrou signature."""


# --- lookups ----------------------------------------------------------------------------------


class NotFound(VerrouError, status=404, code="not_found"):
    """What was asked for does not exist."""


class MetricsNotFound(VerrouError, status=404, code="not_found"):
    """``/metrics`` without its token answers as a route that does not exist."""


class Conflict(VerrouError, status=409, code="conflict"):
    """The request contradicts the registry's current state."""


# --- infrastructure ---------------------------------------------------------------------------


class StoreError(VerrouError, status=503, code="store_unavailable"):
    """The registry store failed or is unreachable. Checks fail closed on it (503)."""


class NotReady(StoreError):
    """/readyz's answer when a check would fail now (503, as the check would get)."""


class RecorderFailed(VerrouError, status=500, code="internal_error"):
    """The recorder failed for a reason other than the store (a bug): logged, answered 500."""


class DeliveryError(VerrouError, status=502, code="delivery_failed"):
    """One delivery attempt failed. The message is safe to store: no address, no identifier."""


# --- citizen sign-in --------------------------------------------------------------------------


class SignInNotConfigured(VerrouError, status=404, code="sign_in_not_configured"):
    """Citizen sign-in without an identity provider configured (no VERROU_OIDC_ISSUER): the
    citizen routes answer this, as routes that do not exist here, never a fallback provider."""


class SignInFailed(VerrouError, status=401, code="sign_in_failed"):
    """A citizen sign-in that cannot be completed: bad or missing state, a code the provider
    refuses, an ID token that does not verify. The message names the step, never a claim."""


class IdentityProviderUnavailable(SignInFailed, status=502, code="identity_provider_unavailable"):
    """The identity provider cannot be reached or answers nonsense: nobody is signed in."""


class InsufficientAssurance(SignInFailed, status=403, code="insufficient_assurance"):
    """The identity provider's assurance level (``acr``) is missing or not an allowed one."""


class CsrfRejected(VerrouError, status=403, code="csrf_rejected"):
    """A state-changing request on a cookie session without the session's ``X-CSRF-Token``."""


class ReauthenticationRequired(VerrouError, status=403, code="reauthentication_required"):
    """The operation needs a recent sign-in (``VERROU_REAUTH_MINUTES``) at eidas2 or above."""


# --- citizens, reports -------------------------------------------------------------------


class InvalidCode(VerrouError, status=422, code="invalid_code"):
    """An email proof's one-time code is unknown, used, expired, wrong, or tried too often."""


class InvalidReport(VerrouError, status=422, code="invalid_report"):
    """An identity-theft report that cannot be: nothing disputed or declared, dates that do
    not follow, a name the PDF's font cannot print. The message names the rule, never a value."""


# --- the private exposure check ---------------------------------------------------------------


class InvalidOprfElement(VerrouError, status=422, code="invalid_oprf_element"):
    """An element, a scalar or a proof the OPRF protocol refuses (RFC 9497's DeserializeError,
    InvalidInputError and VerifyError): not a canonical encoding, the identity element, or a
    proof that does not verify against the server's public key."""


class LookupUnavailable(VerrouError, status=404, code="lookup_not_configured"):
    """The private exposure check without an OPRF key (no VERROU_OPRF_KEY_FILE): its routes
    answer as routes that do not exist here."""


class InvalidLookup(VerrouError, status=422, code="invalid_lookup"):
    """A lookup request the server refuses; ``fields`` names each problem (a kind not indexed,
    too many elements, a bucket out of range). Nothing in it echoes the request."""

    fields: dict[str, str]

    def __init__(self, fields: dict[str, str]) -> None:
        reasons = "; ".join(f"{name}: {why}" for name, why in sorted(fields.items()))
        super().__init__(f"invalid lookup: {reasons}", fields=fields)


class LookupFailed(VerrouError, status=502, code="lookup_failed"):
    """The lookup client's server refused or failed a lookup; the message gives its answer's
    code and sentence, never the value asked about."""
