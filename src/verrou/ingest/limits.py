"""Limits that keep a hostile dump from crashing, stalling or swamping a read.

A leaked dump is untrusted input. Identity records are a few hundred bytes and flat (or a few
levels deep); a record of megabytes, a JSON line nested thousands of levels deep or an object with
thousands of keys is broken or hostile. Such a record is reported as malformed, by record number
and with the limit it broke (never its content), and the read goes on with the next record. The
checks here run on bytes, before any parser sees them, and never recurse.
"""

from __future__ import annotations

import io
import re
from typing import IO, Final

__all__ = [
    "MAX_COLUMNS",
    "MAX_JSON_DEPTH",
    "MAX_NAME_CHARS",
    "MAX_RECORD_BYTES",
    "TOO_DEEP_REASON",
    "TOO_MANY_KEYS_REASON",
    "CappedLines",
    "has_line_longer_than",
    "json_chunk_needs_checks",
    "json_line_problem",
    "overlong_reason",
]

#: Longest record read as data: a CSV or JSON Lines line, a COPY line, an SQL tuple (characters,
#: for SQL). 1 MiB is thousands of times a real identity record, and it keeps every record within
#: what pyarrow's streaming CSV reader can parse with 1 MiB blocks (it fails on a row longer than
#: about two blocks, "straddling object straddles two block boundaries").
MAX_RECORD_BYTES: Final = 1 << 20
#: Deepest JSON nesting read. Real dumps are flat or a few levels deep. pyarrow's JSON parser
#: recurses in C and overflows the stack (a segmentation fault) at about 50,000 levels; Python's
#: json raises RecursionError at about 1,000; flattening recurses once per level.
MAX_JSON_DEPTH: Final = 64
#: Most columns of a dump, and most keys of one JSON object (after flattening). A real dump has
#: tens of columns; every column costs an Arrow array in every batch.
MAX_COLUMNS: Final = 4096
#: Longest JSON key kept as a column name (or noted as an unseen key): names are shown to
#: operators and kept for the whole read, values are not.
MAX_NAME_CHARS: Final = 256


def overlong_reason(what: str, unit: str = "bytes") -> str:
    """The malformed-record reason for a record over :data:`MAX_RECORD_BYTES` (``unit`` is
    "characters" where the text is measured decoded, as SQL is)."""
    return f"{what} longer than the limit of {MAX_RECORD_BYTES:,} {unit}"


TOO_DEEP_REASON: Final = f"JSON nested deeper than the limit of {MAX_JSON_DEPTH} levels"
TOO_MANY_KEYS_REASON: Final = f"JSON object with more keys than the limit of {MAX_COLUMNS:,}"


class CappedLines(io.RawIOBase):
    """The bytes of ``raw`` with every line longer than ``limit`` replaced by ``marker``.

    The over-long line is never held whole: at most ``limit`` bytes of it are kept while looking
    for its end, then it is skipped chunk by chunk up to the next line feed. The marker stands for
    it (one line, so record counts stay right); the caller chooses a marker its parser reports as
    an invalid record it can recognise. ``replaced`` counts the lines replaced so far.
    """

    def __init__(self, raw: IO[bytes], marker: bytes, limit: int = MAX_RECORD_BYTES) -> None:
        super().__init__()
        self._raw = raw
        self._marker = marker + b"\n"
        self._limit = limit
        self._held = b""  # the start of a line whose end has not been read yet (<= limit)
        self._skipping = False  # inside an over-long line, dropping bytes up to its end
        self._eof = False
        self._ready = b""
        self._at = 0
        self.replaced = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()

    def next_block(self) -> bytes:
        """The next whole lines (the dump's last line may lack its line feed); b"" at the end."""
        while True:
            # Reads of at most ``limit`` bytes: a line that starts and ends within one read is
            # shorter than the limit, so only the line across reads needs counting.
            data = self._raw.read(self._limit)
            if not data:
                if self._eof:
                    return b""
                self._eof = True
                if self._skipping:
                    self._skipping = False
                    self.replaced += 1
                    return self._marker
                tail, self._held = self._held, b""
                return tail
            block = self._take(data)
            if block:
                return block

    def _take(self, data: bytes) -> bytes:
        parts: list[bytes] = []
        start = 0
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return b""
            self._skipping = False
            self.replaced += 1
            parts.append(self._marker)
            start = end + 1
        first = data.find(b"\n", start)
        if first < 0:
            if len(self._held) + len(data) - start > self._limit:
                self._held, self._skipping = b"", True
            else:
                self._held += data[start:]
            return b"".join(parts)
        if len(self._held) + first - start > self._limit:
            self.replaced += 1
            parts.append(self._marker)
        else:
            parts += (self._held, data[start : first + 1])
        last = data.rfind(b"\n")
        if last > first:
            parts.append(data[first + 1 : last + 1])
        self._held = data[last + 1 :]
        return b"".join(parts)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(self.next_block, b""))
        while self._at >= len(self._ready):
            self._ready, self._at = self.next_block(), 0
            if not self._ready:
                return b""
        if self._at == 0 and size >= len(self._ready):
            out = self._ready
        else:
            out = self._ready[self._at : self._at + size]
        self._at += len(out)
        return out

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def has_line_longer_than(data: bytes, limit: int = MAX_RECORD_BYTES) -> bool:
    """True if a line of ``data`` is longer than ``limit`` bytes (cheap when none is)."""
    if len(data) <= limit:
        return False
    half = max(limit // 2, 1)
    # If every aligned window of ``half`` bytes holds a line feed, no two consecutive line feeds
    # are ``limit`` bytes apart: a handful of finds instead of a look at every line.
    if all(data.find(b"\n", at, at + half) >= 0 for at in range(0, len(data) - half, half)):
        return False
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return len(data) - start > limit
        if end - start > limit:
            return True
        start = end + 1


# Structural bytes of JSON, for the cheap pre-checks: opening brackets (all as "{"), key
# separators and line feeds.
_STRUCTURE: Final = bytes.maketrans(b"[", b"{")
_NOT_STRUCTURE: Final = bytes(c for c in range(256) if c not in b"{[:\n")
_TOO_DEEP_RUN: Final = b"{" * (MAX_JSON_DEPTH + 1)
_TOO_WIDE_RUN: Final = b":" * (MAX_COLUMNS + 1)
_JSON_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENERS: Final = frozenset(b"{[")


def json_chunk_needs_checks(chunk: bytes) -> bool:
    """False if no line of ``chunk`` can nest too deep or hold too many keys.

    A line can nest no deeper than it has opening brackets and hold no more keys than it has
    ``:`` (strings included, so an over-estimate). One ``translate`` keeps just those bytes and
    the line feeds; two more on that (much shorter) text and a substring search per limit tell
    whether a line has too many (about 3 ms for 4 MiB).
    """
    structure = chunk.translate(_STRUCTURE, _NOT_STRUCTURE)
    if structure.translate(None, b":").find(_TOO_DEEP_RUN) >= 0:
        return True
    return structure.translate(None, b"{").find(_TOO_WIDE_RUN) >= 0


def json_line_problem(line: bytes) -> str | None:
    """Why a JSON line must not be parsed (too deep), or None. Never recurses."""
    if line.count(b"{") + line.count(b"[") <= MAX_JSON_DEPTH:
        return None
    depth = 0
    for token in _JSON_TOKEN.finditer(line):
        char = token.group()[0]
        if char in _OPENERS:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return TOO_DEEP_REASON
        elif char != 0x22:  # a closing bracket (0x22 is '"': a string, skipped whole)
            depth -= 1
    return None
