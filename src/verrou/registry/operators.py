"""Operators of the registry, as the portal signs them in: separately from citizens.

An operator is a name and a password hash (scrypt, with its own random salt and parameters in
the stored text); ``verrou operators add`` creates one. A signed-in operator holds a session
named by a random id, of which the store keeps only the SHA-256 with the operator's name, the
times and the SHA-256 of its CSRF token: the table and the cookie are the operators' own, so no
citizen session, whatever its assurance level, can ever be taken for an operator's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from verrou.errors import Conflict, InvalidOperator, Unauthorized
from verrou.registry.operator_records import Operator, OperatorSessionRecord
from verrou.registry.sessions import new_secret, secret_hash
from verrou.store.protocols import OperatorStore

#: scrypt's cost (2^15 × 8 × 1: 32 MiB and about 60 ms here), the OWASP minimum or above.
SCRYPT_N: Final = 1 << 15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
_SCRYPT_MAXMEM: Final = 64 * 1024 * 1024
MIN_PASSWORD_CHARS: Final = 12
_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
#: Compared against when the name is unknown, so that a wrong name costs the same as a wrong
#: password (the answer's time does not tell which names exist).
_DUMMY: Final = "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def hash_password(password: str) -> str:
    """The stored form of ``password``: ``scrypt$N$r$p$salt$hash`` (base64, unpadded)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=_SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def password_matches(stored: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` (:func:`hash_password`) was made from."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        given = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(given, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def check_name(name: str) -> str:
    """``name`` when it is a valid operator name (lower-case letters, digits, ``.``, ``_``
    and ``-``, 2 to 63 characters); :class:`InvalidOperator` otherwise."""
    if not _NAME.match(name):
        raise InvalidOperator(
            "an operator name is 2 to 63 lower-case letters, digits, '.', '_' or '-'",
            fields={"name": "invalid"},
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidOperator(
            f"an operator's password has at least {MIN_PASSWORD_CHARS} characters",
            fields={"password": "too_short"},
        )
    return password


def new_password() -> str:
    """A random password for a new operator: 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class OperatorSignIn:
    """What a sign-in gives the operator's browser: the session id and its CSRF token
    (secrets: the store has their hashes only), with the record kept."""

    sid: str
    csrf: str
    record: OperatorSessionRecord

    def __repr__(self) -> str:
        return f"OperatorSignIn({self.record.operator!r})"


def add_operator(store: OperatorStore, name: str, password: str, *, now: datetime) -> Operator:
    """A new operator; :class:`Conflict` if the name is taken."""
    operator = Operator(check_name(name), hash_password(check_password(password)), now)
    if not store.add_operator(operator):
        raise Conflict(f"an operator named {name} already exists")
    return operator


def sign_in(
    store: OperatorStore, name: str, password: str, *, now: datetime, lifetime: timedelta
) -> OperatorSignIn:
    """A session for the operator ``name`` if ``password`` is theirs and they are not
    disabled; :class:`Unauthorized` otherwise, saying nothing of which was wrong."""
    operator = store.get_operator(name) if _NAME.match(name) else None
    matches = password_matches(operator.password_hash if operator else _DUMMY, password)
    if operator is None or not matches or operator.disabled_at is not None:
        raise Unauthorized("wrong operator name or password")
    sid, csrf = new_secret(), new_secret()
    record = OperatorSessionRecord(
        sid_hash=secret_hash(sid),
        operator=operator.name,
        csrf_hash=secret_hash(csrf),
        created_at=now,
        expires_at=now + lifetime,
    )
    store.purge_operator_sessions(now)
    store.create_operator_session(record)
    return OperatorSignIn(sid, csrf, record)


def session_for(store: OperatorStore, sid: str, *, now: datetime) -> OperatorSessionRecord:
    """The usable session named ``sid`` of an operator still enabled; :class:`Unauthorized`
    otherwise."""
    record = store.get_operator_session(secret_hash(sid))
    operator = None if record is None else store.get_operator(record.operator)
    if (
        record is None
        or not record.usable_at(now)
        or operator is None
        or operator.disabled_at is not None
    ):
        raise Unauthorized("the operator session is unknown, expired or revoked: sign in again")
    return record


def disable_operator(store: OperatorStore, name: str, *, now: datetime) -> None:
    """Disable ``name`` and revoke their sessions; :class:`Conflict` if no such operator is
    enabled."""
    if not store.disable_operator(name, at=now):
        raise Conflict(f"no enabled operator named {name}")
