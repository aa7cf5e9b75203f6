"""Request and response schemas of the check API (not storage rows: see verrou.store).

Field descriptions and examples here are the API's documentation (``/docs``). Every string has
a length bound, so no request can make the server hold an unbounded value, and no model echoes
a value back in an error.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from verrou.registry.checks import MAX_BATCH
from verrou.registry.policy import DocumentType, ReasonCode, SubjectState, Verdict

_SHORT = 200


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
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    iban: str | None = Field(default=None, max_length=64)
    postal_address: PostalAddressIn | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    applicants: list[ApplicantIn] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} applicants."
    )


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


class StatusOut(BaseModel):
    status: str


class JwkOut(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str | None = None
    use: str | None = None


class JwksOut(BaseModel):
    keys: list[JwkOut]
