"""One error tree for verrou.

Every error knows its HTTP status, a stable machine code and a human sentence. Messages never carry
a plaintext identifier: callers pass the kind and the reason, never the value.
"""

from __future__ import annotations


class VerrouError(Exception):
    """Base of every error verrou raises on purpose."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(VerrouError):
    """Settings are missing or unsafe; the process must not start."""

    code = "configuration_error"


class KeyMaterialError(ConfigError):
    """The fingerprint key is missing, unreadable, too short or would be overwritten."""

    code = "key_error"


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


class DumpError(VerrouError):
    """A dump cannot be read at all (unknown format, corrupt archive, no usable column)."""

    status = 400
    code = "unreadable_dump"


class MappingError(VerrouError):
    """A column mapping file is malformed or names columns the dump does not have."""

    status = 400
    code = "invalid_mapping"


class NotFound(VerrouError):
    status = 404
    code = "not_found"


class Conflict(VerrouError):
    status = 409
    code = "conflict"


class StoreError(VerrouError):
    """The registry store failed or is unreachable. Checks fail closed on it (503)."""

    status = 503
    code = "store_unavailable"
