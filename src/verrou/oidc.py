"""OpenID Connect relying party for citizen sign-in, shaped for FranceConnect (no web framework).

Built on authlib's protocol pieces (provider metadata validation, the authorization request
with PKCE, client authentication at the token endpoint, ID token claims validation) and
joserfc (authlib's JOSE library) for signatures; HTTP goes through httpx. authlib's own httpx
client is not used: from 1.9 on it warns that it moves to another HTTP package.

The flow, per OpenID Connect Core 1.0 §3.1:

1. :meth:`OidcClient.authorization_request` reads the provider's metadata (discovery at
   ``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must be the configured one)
   and makes the URL to send the browser to, with a fresh ``state``, ``nonce`` and PKCE
   verifier (S256), kept by the caller (:class:`PendingSignIn`).
2. :meth:`OidcClient.complete` checks the returned ``state``, exchanges the code at the token
   endpoint (``client_secret_basic``, or ``client_secret_post`` when that is all the provider
   offers), verifies the ID token's signature against the provider's JWKS (asymmetric
   algorithms only, never ``none`` nor a MAC keyed with the client secret), validates its
   claims (``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``, ``at_hash``), refuses an
   ``acr`` outside the accepted levels, and reads what the ID token lacks from the userinfo
   endpoint (JSON, or a JWT signed like the ID token, as FranceConnect v2 answers).

Every failure is a :class:`~verrou.errors.SignInFailed` (or one of its kinds) whose message
names the step and the claim, never a value. :class:`VerifiedClaims` masks every personal value
in its repr.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import (
    ClaimError,
    DecodeError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet

from verrou.errors import IdentityProviderUnavailable, InsufficientAssurance, SignInFailed

#: Signature algorithms an ID token may use: asymmetric ones, verified with the provider's
#: published keys. ``none`` and HMAC (keyed with the client secret) are never accepted.
ASYMMETRIC_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Clock skew tolerated between verrou and the provider, in seconds.
LEEWAY_SECONDS: Final = 60
#: An ID token issued longer ago than this (seconds) is refused: it was just minted for us.
ID_TOKEN_MAX_AGE: Final = 600
#: Provider metadata is read again after this many seconds.
METADATA_SECONDS: Final = 3600.0
#: The JWKS is read again for an unknown key id at most this often (seconds).
JWKS_REFRESH_SECONDS: Final = 60.0
HTTP_TIMEOUT: Final = httpx.Timeout(10.0)
#: Token endpoint authentications verrou can do, in the order it prefers them.
CLIENT_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")
#: The claims a sign-in needs (beyond ``sub``), and those it takes when given.
REQUIRED_CLAIMS: Final = ("given_name", "family_name", "birthdate", "gender", "birthcountry")
OPTIONAL_CLAIMS: Final = ("birthplace", "preferred_username", "email")
_PROVIDER_ERROR = re.compile(r"[a-z_]{1,64}")
_BIRTHPLACE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}")
_BIRTHCOUNTRY = re.compile(r"[0-9]{5}")
_BIRTHDATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CLAIM_MAX = 256
_MASKED = "•••"


@dataclass(frozen=True)
class ProviderMetadata:
    """What verrou uses of the provider's discovery document, checked."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_endpoint_auth_method: str
    id_token_algorithms: tuple[str, ...]
    userinfo_algorithms: tuple[str, ...]


@dataclass(frozen=True)
class PendingSignIn:
    """What the relying party keeps between the redirect and the callback: never shown."""

    state: str
    nonce: str
    code_verifier: str

    def __repr__(self) -> str:
        return "PendingSignIn(<secret>)"


@dataclass(frozen=True)
class AuthorizationRequest:
    """The provider URL to send the browser to, and what to keep until it comes back."""

    url: str
    pending: PendingSignIn


@dataclass(frozen=True, repr=False)
class VerifiedClaims:
    """A citizen's identity as the provider asserted it, signature and claims verified.

    ``given_name`` holds every given name, space-separated; ``family_name`` the birth name;
    ``preferred_username`` the usage name (None when not given). ``birthplace`` is the INSEE
    commune code ("" when born abroad), ``birthcountry`` the INSEE country code (``99100``:
    France). ``auth_time`` is when the citizen authenticated at the provider (the ID token's
    ``auth_time``, else the sign-in's time). Personal values are masked in the repr.
    """

    issuer: str
    subject: str
    given_name: str
    family_name: str
    preferred_username: str | None
    birthdate: str
    birthplace: str
    birthcountry: str
    gender: str
    email: str | None
    acr: str
    auth_time: datetime

    def __repr__(self) -> str:
        return (
            f"VerifiedClaims(issuer={self.issuer!r}, subject={_MASKED!r}, "
            f"given_name={_MASKED!r}, family_name={_MASKED!r}, "
            f"preferred_username={None if self.preferred_username is None else _MASKED!r}, "
            f"birthdate={_MASKED!r}, birthplace={_MASKED!r}, birthcountry={_MASKED!r}, "
            f"gender={_MASKED!r}, email={None if self.email is None else _MASKED!r}, "
            f"acr={self.acr!r}, auth_time={self.auth_time.isoformat()!r})"
        )

    @property
    def display_name(self) -> str:
        """How documents name the citizen: given names, then the usage name if any, else the
        birth name."""
        return f"{self.given_name} {self.preferred_username or self.family_name}"


def new_pending_sign_in() -> PendingSignIn:
    """Fresh random ``state``, ``nonce`` and PKCE verifier (256 bits each; FranceConnect wants
    ``state`` and ``nonce`` of at least 32 characters; a verifier is 43 to 128)."""
    return PendingSignIn(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(48),
    )


class OidcClient:
    """A relying party of one provider (the issuer), for one client registration.

    ``accepted_acr`` are the assurance levels a sign-in may have; they are also sent, in order,
    as ``acr_values``. ``transport`` is httpx's (a test may put one between verrou and a real
    provider). The provider's metadata and keys are cached; nothing else is kept.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scope: str,
        accepted_acr: Collection[str],
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.accepted_acr = tuple(accepted_acr)
        self._transport = transport
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    def __repr__(self) -> str:
        return f"OidcClient(issuer={self.issuer!r}, client_id={self.client_id!r})"

    # --- HTTP -----------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport, timeout=HTTP_TIMEOUT, follow_redirects=False
        )

    async def _answer(
        self,
        what: str,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: str | bytes | None = None,
        *,
        refusal_is_failure: bool = True,
    ) -> httpx.Response:
        """The provider's answer to one request. :class:`IdentityProviderUnavailable` naming
        ``what`` when it cannot be reached or does not answer 200 (only when it answers a
        server error, 5xx, with ``refusal_is_failure`` False: the caller reads the refusal)."""
        try:
            async with self._http() as http:
                answer = await http.request(method, url, headers=headers, content=content)
        except httpx.HTTPError as exc:
            raise IdentityProviderUnavailable(
                f"the identity provider's {what} cannot be reached: {type(exc).__name__}"
            ) from None
        status = answer.status_code
        if status != 200 and (refusal_is_failure or status >= 500):
            raise IdentityProviderUnavailable(
                f"the identity provider's {what} answered HTTP {status}"
            )
        return answer

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        answer = await self._answer(what, "GET", url, {"Accept": "application/json"})
        return _json_object(answer, what)

    # --- discovery and keys ---------------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        """The provider's metadata, read by discovery (and cached an hour), checked: a valid
        OpenID provider document (authlib) whose ``issuer`` is exactly the configured one."""
        if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_SECONDS:
            return self._metadata
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url, "discovery document")
        try:
            OpenIDProviderMetadata(document).validate()
        except ValueError as exc:
            raise IdentityProviderUnavailable(
                f"the identity provider's discovery document is invalid: {exc}"
            ) from None
        if document.get("issuer") != self.issuer:
            raise IdentityProviderUnavailable(
                "the identity provider's discovery document names another issuer than "
                "VERROU_OIDC_ISSUER"
            )
        if "code" not in document.get("response_types_supported", []):
            raise IdentityProviderUnavailable("the identity provider does not offer the code flow")
        offered = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        method = next((m for m in CLIENT_AUTH_METHODS if m in offered), None)
        if method is None:
            raise IdentityProviderUnavailable(
                "the identity provider offers neither client_secret_basic nor client_secret_post"
            )
        id_token_algorithms = _asymmetric(
            document.get("id_token_signing_alg_values_supported", ["RS256"])
        )
        if not id_token_algorithms:
            raise IdentityProviderUnavailable(
                "the identity provider signs ID tokens with no asymmetric algorithm"
            )
        userinfo_algorithms = _asymmetric(
            document.get("userinfo_signing_alg_values_supported", id_token_algorithms)
        )
        self._metadata = ProviderMetadata(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
            token_endpoint_auth_method=method,
            id_token_algorithms=id_token_algorithms,
            userinfo_algorithms=userinfo_algorithms or id_token_algorithms,
        )
        self._metadata_at = time.monotonic()
        return self._metadata

    async def _key_set(self, metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        fresh = time.monotonic() - self._keys_at < JWKS_REFRESH_SECONDS
        if self._keys is not None and (not refresh or fresh):
            return self._keys
        document = await self._get_json(metadata.jwks_uri, "key set (JWKS)")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError):
            raise IdentityProviderUnavailable(
                "the identity provider's key set is invalid"
            ) from None
        self._keys, self._keys_at = keys, time.monotonic()
        return keys

    async def _verified_jwt(
        self, value: str, metadata: ProviderMetadata, algorithms: Collection[str], what: str
    ) -> jwt.Token:
        """A JWT whose signature verifies with one of the provider's keys. For a key id the
        key set lacks, the set is read again (at most once a minute): the provider may have
        rotated its keys."""
        decoded = _decoded(value, await self._key_set(metadata), algorithms, what)
        if decoded is None:
            keys = await self._key_set(metadata, refresh=True)
            decoded = _decoded(value, keys, algorithms, what)
        if decoded is None:
            raise SignInFailed(f"the {what} is signed by a key the provider does not publish")
        return decoded

    # --- the flow -------------------------------------------------------------------------

    async def authorization_request(
        self, pending: PendingSignIn | None = None, *, fresh: bool = False
    ) -> AuthorizationRequest:
        """Where to send the browser: the authorization endpoint with ``response_type=code``,
        the scope, ``acr_values``, ``state``, ``nonce`` and the PKCE challenge (S256) of a
        fresh :class:`PendingSignIn` (or the one given). ``fresh`` asks the provider to
        authenticate the user again even if it has a session (``prompt=login``, ``max_age=0``),
        for a re-authentication."""
        metadata = await self.metadata()
        pending = pending or new_pending_sign_in()
        again = {"prompt": "login", "max_age": "0"} if fresh else {}
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=self.scope,
            state=pending.state,
            nonce=pending.nonce,
            acr_values=" ".join(self.accepted_acr),
            code_challenge=create_s256_code_challenge(pending.code_verifier),
            code_challenge_method="S256",
            **again,
        )
        return AuthorizationRequest(url=str(url), pending=pending)

    async def complete(
        self, pending: PendingSignIn, *, code: str, state: str, now: datetime
    ) -> VerifiedClaims:
        """The verified identity of the citizen who came back with ``code`` and ``state``.

        ``pending`` is what :meth:`authorization_request` made for this browser; ``now`` is
        the time to validate the ID token at. Raises :class:`SignInFailed` (state, code, ID
        token, claims), :class:`InsufficientAssurance` (``acr``) or
        :class:`IdentityProviderUnavailable`.
        """
        if not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise SignInFailed("the sign-in state does not match this browser's: start again")
        metadata = await self.metadata()
        token = await self._exchange(metadata, code, pending.code_verifier)
        header_and_claims = await self._verified_jwt(
            token["id_token"], metadata, metadata.id_token_algorithms, "ID token"
        )
        id_token = self._validated_id_token(header_and_claims, token["access_token"], pending, now)
        acr = id_token.get("acr")
        if not isinstance(acr, str) or not acr:
            raise InsufficientAssurance("the ID token does not state an assurance level (acr)")
        if acr not in self.accepted_acr:
            raise InsufficientAssurance(
                f"assurance level {acr if acr in _KNOWN_ACR else 'other'} is not accepted "
                f"(accepted: {' '.join(self.accepted_acr)})"
            )
        userinfo: Mapping[str, Any] = {}
        if any(name not in id_token for name in (*REQUIRED_CLAIMS, *OPTIONAL_CLAIMS)):
            userinfo = await self._userinfo(metadata, token["access_token"], id_token["sub"])
        return verified_claims(self.issuer, id_token, userinfo, acr=acr, now=now)

    async def _exchange(
        self, metadata: ProviderMetadata, code: str, code_verifier: str
    ) -> dict[str, Any]:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.redirect_uri,
            code_verifier=code_verifier,
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        auth = ClientAuth(self.client_id, self._client_secret, metadata.token_endpoint_auth_method)
        url, headers, body = auth.prepare("POST", metadata.token_endpoint, headers, body)
        answer = await self._answer(
            "token endpoint", "POST", url, headers, body, refusal_is_failure=False
        )
        if answer.status_code != 200:
            raise SignInFailed(
                f"the identity provider refused the code ({_provider_error(answer)}): start again"
            )
        token = _json_object(answer, "token answer")
        if not isinstance(token.get("id_token"), str) or not isinstance(
            token.get("access_token"), str
        ):
            raise SignInFailed("the identity provider's token answer has no ID or access token")
        if str(token.get("token_type", "")).lower() != "bearer":
            raise SignInFailed("the identity provider's access token is not a bearer token")
        return token

    def _validated_id_token(
        self, decoded: jwt.Token, access_token: str, pending: PendingSignIn, now: datetime
    ) -> dict[str, Any]:
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": self.issuer},
                "aud": {"essential": True, "value": self.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
                "nonce": {"essential": True},
            },
            {"nonce": pending.nonce, "client_id": self.client_id, "access_token": access_token},
        )
        moment = int(now.timestamp())
        try:
            claims.validate(now=moment, leeway=LEEWAY_SECONDS)
        except ExpiredTokenError:
            raise SignInFailed("the ID token has expired: start again") from None
        except ClaimError as exc:
            raise SignInFailed(f"the ID token has an invalid claim: {_claim_name(exc)}") from None
        except JoseError as exc:
            raise SignInFailed(f"the ID token's claims are invalid ({exc.error})") from None
        if claims["iat"] < moment - ID_TOKEN_MAX_AGE - LEEWAY_SECONDS:
            raise SignInFailed("the ID token was issued too long ago: start again")
        auth_time = claims.get("auth_time")
        if auth_time is not None and not 0 <= auth_time <= moment + LEEWAY_SECONDS:
            raise SignInFailed("the ID token's auth_time claim is in the future or invalid")
        return dict(claims)

    async def _userinfo(
        self, metadata: ProviderMetadata, access_token: str, subject: str
    ) -> dict[str, Any]:
        if metadata.userinfo_endpoint is None:
            return {}
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json, application/jwt",
        }
        answer = await self._answer("userinfo endpoint", "GET", metadata.userinfo_endpoint, headers)
        media_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "application/jwt":
            decoded = await self._verified_jwt(
                answer.text.strip(), metadata, metadata.userinfo_algorithms, "userinfo answer"
            )
            userinfo = dict(decoded.claims)
            if userinfo.get("iss", self.issuer) != self.issuer or not _audience_ok(
                userinfo.get("aud", self.client_id), self.client_id
            ):
                raise SignInFailed("the signed userinfo answer is not for this client")
        else:
            userinfo = _json_object(answer, "userinfo answer")
        # OpenID Connect Core §5.3.2: a userinfo answer for another subject must not be used.
        if userinfo.get("sub") != subject:
            raise SignInFailed("the userinfo answer is about another subject than the ID token")
        return userinfo


_KNOWN_ACR: Final = frozenset({"eidas1", "eidas2", "eidas3"})
_REGISTERED: Final = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "auth_time", "nonce", "acr", "amr", "azp"}
)


def verified_claims(
    issuer: str,
    id_token: Mapping[str, Any],
    userinfo: Mapping[str, Any],
    *,
    acr: str,
    now: datetime,
) -> VerifiedClaims:
    """The identity in a validated ID token, completed from ``userinfo`` for the claims the
    ID token lacks (the ID token wins where both have one). :class:`SignInFailed` naming the
    claims that are missing or malformed, never their values."""
    merged = {**userinfo, **id_token}
    missing = [name for name in REQUIRED_CLAIMS if merged.get(name) in (None, "")]
    if missing:
        raise SignInFailed(f"the identity provider did not give: {', '.join(missing)}")
    invalid: list[str] = []
    shapes = {"birthdate": _BIRTHDATE, "birthplace": _BIRTHPLACE, "birthcountry": _BIRTHCOUNTRY}
    found = {
        name: _claim_text(merged, name, shapes.get(name), invalid)
        for name in ("sub", *REQUIRED_CLAIMS, *OPTIONAL_CLAIMS)
    }
    birthdate = found["birthdate"]
    if birthdate is not None:
        try:
            date.fromisoformat(birthdate)
        except ValueError:
            invalid.append("birthdate")
    if invalid:
        named = ", ".join(sorted(invalid))
        raise SignInFailed(f"the identity provider gave invalid claims: {named}")
    required = {name: found[name] or "" for name in ("sub", *REQUIRED_CLAIMS)}
    auth_time = id_token.get("auth_time")
    return VerifiedClaims(
        issuer=issuer,
        subject=required["sub"],
        given_name=required["given_name"],
        family_name=required["family_name"],
        preferred_username=found["preferred_username"],
        birthdate=required["birthdate"],
        birthplace=found["birthplace"] or "",
        birthcountry=required["birthcountry"],
        gender=required["gender"],
        email=found["email"],
        acr=acr,
        auth_time=now if auth_time is None else datetime.fromtimestamp(auth_time, UTC),
    )


def _claim_text(
    claims: Mapping[str, Any], name: str, shape: re.Pattern[str] | None, invalid: list[str]
) -> str | None:
    """A claim as text with its spaces collapsed, None when absent or empty; a claim that is
    not printable text of a sane length or shape is added to ``invalid``."""
    value = claims.get(name)
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > _CLAIM_MAX
        or not value.isprintable()
        or (shape is not None and not shape.fullmatch(value))
    ):
        invalid.append(name)
        return None
    if name == "sub":
        return value  # an identifier: exactly as the provider gave it
    return " ".join(value.split()) or None


def _decoded(value: str, keys: KeySet, algorithms: Collection[str], what: str) -> jwt.Token | None:
    """``value`` decoded, its signature verified with ``keys``; None for a key id they lack."""
    try:
        return jwt.decode(value, keys, algorithms=algorithms)
    except InvalidKeyIdError:
        return None
    except DecodeError:
        raise SignInFailed(f"the {what} is not a valid JWT") from None
    except JoseError as exc:
        raise SignInFailed(
            f"the {what} does not verify against the provider's keys ({exc.error})"
        ) from None
    except ValueError:
        raise SignInFailed(f"the {what} is not a valid JWT") from None


def _asymmetric(algorithms: object) -> tuple[str, ...]:
    if not isinstance(algorithms, list):
        return ()
    return tuple(a for a in algorithms if isinstance(a, str) and a in ASYMMETRIC_ALGORITHMS)


def _audience_ok(audience: object, client_id: str) -> bool:
    if isinstance(audience, list):
        return client_id in audience
    return audience == client_id


def _claim_name(error: ClaimError) -> str:
    # joserfc names the claim it refused; only registered names are repeated (any other name
    # is chosen by the token's author).
    names = [name for name in error.claim.split(",") if name in _REGISTERED]
    return ", ".join(names) or "unregistered"


def _provider_error(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, str) and _PROVIDER_ERROR.fullmatch(error):
        return error
    return f"HTTP {answer.status_code}"


def _json_object(answer: httpx.Response, what: str) -> dict[str, Any]:
    try:
        document = json.loads(answer.content)
    except ValueError:
        raise IdentityProviderUnavailable(
            f"the identity provider's {what} is not valid JSON"
        ) from None
    if not isinstance(document, dict):
        raise IdentityProviderUnavailable(f"the identity provider's {what} is not a JSON object")
    return document
