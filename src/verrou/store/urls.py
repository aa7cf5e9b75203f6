"""Database URLs fit for messages: every password replaced by ``***``.

A PostgreSQL registry is named either by a URL (``postgresql://user:secret@host/db``, with a
password possibly in the query too: ``?password=secret``) or by a keyword connection string
(``user=verrou password=secret host=db``, quoted values allowed: ``password='a b\\'c'``).
:func:`redacted_url` handles both, never parses with the driver (whose own errors quote the
text they could not parse) and never raises, so every message that names a registry goes
through it. :func:`redacted_text` scrubs the same passwords out of a driver's message.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

#: ``password = value`` in a keyword connection string: a single-quoted value (backslash
#: escapes, possibly unterminated) or a run of non-blanks.
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)", re.IGNORECASE)
#: ``password=value`` among a URL's query parameters.
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&#]*)", re.IGNORECASE)


def _url_form(url: str) -> tuple[str, str] | None:
    """(scheme, rest) when ``url`` is in URL form, None for a keyword connection string."""
    scheme, separator, rest = url.partition("://")
    if not separator or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return None
    return scheme, rest


def redacted_url(url: str) -> str:
    """``url`` with its passwords replaced by ``***`` (URL or keyword form; never raises)."""
    form = _url_form(url)
    if form is None:
        return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + MASK, url)
    scheme, rest = form
    at = rest.rfind("@")  # a password may hold '@' (unencoded): the last one ends the userinfo
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        if colon:
            rest = f"{user}:{MASK}{rest[at:]}"
    rest = _QUERY_PASSWORD.sub(lambda m: m.group(1) + MASK, rest)
    return f"{scheme}://{rest}"


def _passwords(url: str) -> set[str]:
    found: set[str] = set()
    form = _url_form(url)
    if form is None:
        for match in _KEYWORD_PASSWORD.finditer(url):
            value = match.group(2)
            found.add(value)
            if value.startswith("'"):
                inner = re.sub(r"\\(.)", r"\1", value.strip("'"))
                # A parser's message may quote a piece of a quoted value: hide its words too.
                found.update({value.strip("'"), inner})
                found.update(word for word in inner.split() if len(word) >= 4)
    else:
        rest = form[1]
        at = rest.rfind("@")
        if at >= 0:
            _, colon, password = rest[:at].partition(":")
            if colon:
                found.update({password, unquote(password)})
        for match in _QUERY_PASSWORD.finditer(rest):
            found.update({match.group(2), unquote(match.group(2))})
    return {value for value in found if value}


def redacted_text(text: str, url: str) -> str:
    """``text`` (a driver's error message) without any password ``url`` holds."""
    for password in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(password, MASK)
    return text
