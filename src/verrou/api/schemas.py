"""Request and response schemas of the check API (not storage rows: see verrou.store).

Field descriptions and examples here are the API's documentation (``/docs``). Every string has
a length bound, so no request can make the server hold an unbounded value, and no model echoes
a value back in an error.

This is also the one applicant shape of the CLI (``--applicant-json``): decoding
(:func:`decode_document`), validation, the conversion to the domain's :class:`Applicant` and
the naming of errors (:func:`field_errors`) live here, with pydantic and no web framework, so
the CLI uses them without importing FastAPI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from verrou.registry.checks import MAX_BATCH
from verrou.registry.policy import (
    Applicant,
    DocumentType,
    PostalAddress,
    ReasonCode,
    SubjectState,
    Verdict,
)
from verrou.signing import unique_object

_SHORT = 200
#: The longest email the API reads (the check's ``email`` field, HIBP's account search).
EMAIL_MAX = 320
#: The longest breach name looked up (every string the API reads is bounded; operators name
#: breaches as "ants-2026").
BREACH_NAME_MAX = 200


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: DocumentType = Field(description="Kind of identity document.")
    number: str = Field(max_length=64, description="Document number as printed.")


class PostalAddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: str = Field(max_length=_SHORT, description="Street line, or the whole address.")
    postcode: str | None = Field(default=None, max_length=16)
    city: str | None = Field(default=None, max_length=100)


class ApplicantIn(BaseModel):
    """An applicant's attributes; send what you collected, every field is optional.

    A person is matched on family name + given names + birth date together (birth place adds a
    key); spelling differences (case, accents, hyphens, particles, given-name order) do not
    matter.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "family_name": "Dupont",
                    "given_names": "Jean Pierre",
                    "birth_date": "1980-05-17",
                    "email": "jean.dupont@example.fr",
                }
            ]
        },
    )

    family_name: str | None = Field(default=None, max_length=_SHORT, description="Birth name.")
    usage_name: str | None = Field(
        default=None, max_length=_SHORT, description="Married or usage name, if different."
    )
    given_names: str | None = Field(default=None, max_length=_SHORT)
    birth_date: str | None = Field(
        default=None, max_length=32, description="ISO 8601 (1980-05-17) or French (17/05/1980)."
    )
    birth_place: str | None = Field(default=None, max_length=_SHORT)
    document: DocumentIn | None = None
    nir: str | None = Field(default=None, max_length=32, description="French social security no.")
    email: str | None = Field(default=None, max_length=EMAIL_MAX)
    phone: str | None = Field(default=None, max_length=32)
    iban: str | None = Field(default=None, max_length=64)
    postal_address: PostalAddressIn | None = None

    def to_applicant(self) -> Applicant:
        """The domain's applicant (canonicalised later, by the check or the CLI command): the
        same fields, but the document's two, and the address as the domain's."""
        document, address = self.document, self.postal_address
        return Applicant(
            **self.model_dump(exclude={"document", "postal_address"}),
            document_type=document.type if document else None,
            document_number=document.number if document else None,
            postal_address=(
                PostalAddress(address.line, address.postcode, address.city) if address else None
            ),
        )


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    applicants: list[ApplicantIn] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} applicants."
    )


#: Request models: the OpenAPI document holds their schemas, and an error may name their fields.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (ApplicantIn, BatchIn)


# --- decoding and errors, shared by the API and the CLI ---------------------------------------


#: Decodes bodies refusing duplicate members at any depth (the hook the JWS and audit parsers
#: use): with "last one wins", a body could mean one thing to a proxy or a log and another to
#: us. Built once: ``json.loads(..., object_pairs_hook=...)`` builds a decoder per call, which
#: cost as much as the hook itself.
_DECODER = json.JSONDecoder(object_pairs_hook=unique_object)


def decode_document(body: bytes | str) -> Any:
    """The JSON document of ``body``; ``ValueError`` whose message says which rule it broke
    (not UTF-8 text, not JSON, nested too deeply, a duplicate member), never quoting a position
    or a snippet of it (a plain ValueError: callers turn it into their own error)."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return _DECODER.decode(text)
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or a duplicate member
        duplicate = not isinstance(exc, json.JSONDecodeError)
        raise ValueError("duplicate member" if duplicate else "not valid JSON") from None


def _schema_fields(models: tuple[type[BaseModel], ...]) -> frozenset[str]:
    """Every field name our request models declare, nested models included."""
    names: set[str] = set()
    pending = list(models)
    while pending:
        model = pending.pop()
        for name, info in model.model_fields.items():
            names.add(name)
            for argument in (info.annotation, *get_args(info.annotation)):
                for inner in (argument, *get_args(argument)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        pending.append(inner)
    return frozenset(names)


#: Field names an error may quote: ours, by our schema. Anything else in an error's location was
#: written by the client (an unknown member's name) and is never echoed.
_SCHEMA_FIELDS = _schema_fields(REQUEST_MODELS)

#: Pydantic error types whose message is built from our schema only (lengths, types, allowed
#: values); any other type gets a sentence of ours, so no message can quote the input.
_SCHEMA_MESSAGES = frozenset(
    {
        "missing",
        "string_type",
        "string_too_long",
        "string_too_short",
        "string_unicode",
        "list_type",
        "model_type",
        "model_attributes_type",
        "dict_type",
        "literal_error",
    }
)


def field_error(
    error: Mapping[str, Any], *, root: str = "body", wording: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """(field, reason) of one pydantic (or FastAPI) validation error, naming only what our
    schema defines: an unknown member is reported at its parent's path (``root`` at the top,
    "applicants.2", "document"), and its name, which the client chose, is left out.
    ``wording`` replaces the reason of some error types (the CLI's own sentences)."""
    kind = str(error.get("type", ""))
    if kind == "json_invalid":
        return root, str(error.get("msg") or "not valid JSON")
    location = tuple(error.get("loc", ()))
    if kind == "extra_forbidden":  # the last part is the member's name, even one of ours
        location = location[:-1]
    path: list[str] = []
    for part in location:
        if part == "body" and not path:
            continue
        if isinstance(part, int) or part in _SCHEMA_FIELDS:
            path.append(str(part))
        else:  # a name we did not define: stop at its parent
            kind = "extra_forbidden"
            break
    where = ".".join(path) or root
    if wording is not None and kind in wording:
        return where, wording[kind]
    if kind == "extra_forbidden":
        return where, "unknown field"
    context = error.get("ctx") or {}
    if kind == "too_long":  # pydantic's sentence adds the submitted count
        reason = f"at most {int(context.get('max_length', 0))} items"
    elif kind == "too_short":
        reason = f"at least {int(context.get('min_length', 0))} item(s)"
    else:
        reason = str(error.get("msg")) if kind in _SCHEMA_MESSAGES else "invalid value"
    return where, reason


def field_errors(
    errors: Iterable[Mapping[str, Any]],
    *,
    root: str = "body",
    wording: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Each invalid field and why (:func:`field_error`), never a value."""
    return dict(field_error(error, root=root, wording=wording) for error in errors)


class ReasonOut(BaseModel):
    code: ReasonCode = Field(
        description="exposed: leaked in a breach; frozen: its owner froze it; thawed: a freeze "
        "lifted for you until `until`; canary: a planted identity (report it)."
    )
    attribute: str = Field(description="Which attribute of the request: person, email, ...")
    kind: str = Field(description="Identifier kind of the matched key.")
    breach: str | None = Field(description="The breach, for `exposed`.")
    placed_by: str | None = Field(description="Who placed the freeze: owner, operator, report.")
    since: str | None = Field(description="Since when (UTC, ISO 8601).")
    until: str | None = Field(description="End of a thaw window.")


class BreachOut(BaseModel):
    name: str
    title: str | None
    data_classes: list[str] = Field(description="What the breach exposed: names, emails, ...")
    detected_at: str | None
    disclosed_at: str | None


class LeakedTogetherOut(BaseModel):
    breach: str
    attributes: list[str] = Field(description="Attributes found together in one leaked record.")


class AttributeStateOut(BaseModel):
    attribute: str
    state: SubjectState


class CheckOut(BaseModel):
    """A signed verdict. ``jws`` signs every other member of this object (its JWS payload is
    exactly them); verify it with the keys at ``/.well-known/jwks.json`` and keep it as proof."""

    iss: str
    aud: str = Field(description="Your relying-party id.")
    iat: int = Field(description="Checked at, seconds since the epoch.")
    exp: int = Field(description="Valid until, seconds since the epoch.")
    check_id: str
    verdict: Verdict = Field(
        description="clear: nothing known; step_up: this identity leaked, verify it by a "
        "stronger means; deny: its owner froze it."
    )
    reasons: list[ReasonOut]
    breaches: list[BreachOut]
    leaked_together: list[LeakedTogetherOut]
    attributes: list[AttributeStateOut]
    checked_at: str
    valid_until: str
    jws: str = Field(description="Compact JWS (EdDSA / Ed25519) over the other members.")


class BatchOut(BaseModel):
    results: list[CheckOut] = Field(description="One signed verdict per applicant, in order.")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine code, e.g. invalid_applicant, unauthorized.")
    message: str = Field(description="A sentence for humans; never quotes an identifier.")
    status: int
    fields: dict[str, str] | None = Field(
        default=None, description="For 422: each invalid field and why (never its value)."
    )


class ErrorOut(BaseModel):
    """The one error shape of the whole API."""

    error: ErrorBody


#: The OpenAPI ``responses`` of some error statuses (see :func:`documented_errors`).
ErrorResponses = Callable[..., dict[int | str, dict[str, Any]]]


def documented_errors(descriptions: Mapping[int, str]) -> ErrorResponses:
    """A routes module's error responses for the OpenAPI document: ``errors(401, 503)`` is
    each status with the one error shape and what it means on these routes."""

    def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
        return {s: {"model": ErrorOut, "description": descriptions[s]} for s in statuses}

    return errors


class StatusOut(BaseModel):
    status: str


class JwkOut(BaseModel):
    """A published verification key: always an Ed25519 signature key."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The public key, base64url.")
    kid: str = Field(description="RFC 7638 thumbprint.")
    alg: str | None = None
    use: Literal["sig"] | None = None


class JwksOut(BaseModel):
    keys: list[JwkOut]
