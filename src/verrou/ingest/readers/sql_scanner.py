"""The SQL dump scanner: statement heads, INSERT tuples and COPY lines of one table, per record or
in vectorised runs, and the survey pass that lists a dump's tables."""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from verrou.ingest.limits import MAX_RECORD_BYTES, has_line_longer_than, overlong_reason
from verrou.ingest.readers.base import _CHUNK_BYTES, Malformed, _bools, _ints, _Piece, _Source

#: Longest SQL tuple we wait for before calling it unterminated (bounds memory). Tuples longer
#: than MAX_RECORD_BYTES but within this are parsed, to skip them exactly, and reported malformed.
_MAX_TUPLE_CHARS: Final = 8 << 20
_NAME: Final = r"(?:(?:`[^`]+`|\"[^\"]+\"|[\w$]+)\.)*(?:`[^`]+`|\"[^\"]+\"|[\w$]+)"
_SQL_HEAD_TEXT: Final = (
    r"^[ \t]*(?:"
    r"(?P<ins>(?:INSERT(?:\s+IGNORE)?|REPLACE)\s+INTO)\s+(?P<itab>" + _NAME + r")"
    r"\s*(?:\((?P<icols>[^)]*)\))?\s*VALUES\b"
    r"|(?P<copy>COPY)\s+(?P<ctab>" + _NAME + r")\s*(?:\((?P<ccols>[^)]*)\))?\s+FROM\s+stdin\s*;"
    r"[^\n]*\n"
    r"|(?P<create>CREATE\s+(?:TEMPORARY\s+|UNLOGGED\s+)?TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<ttab>" + _NAME + r")\s*\("
    r")"
)
_SQL_HEAD: Final = re.compile(_SQL_HEAD_TEXT, re.IGNORECASE | re.MULTILINE)
_SQL_HEAD_BYTES: Final = re.compile(_SQL_HEAD_TEXT.encode(), re.IGNORECASE | re.MULTILINE)
# Unrolled loops ("normal* (special normal*)*"): one character-class run per step instead of an
# alternation per character; several times faster with Python's re.
_MYSQL_BODY: Final = r"[^'\\]*(?:(?:\\.|'')[^'\\]*)*"
_PG_BODY: Final = r"[^']*(?:''[^']*)*"
_BARE: Final = r"[^,'\s()]+"
_MYSQL_ESCAPES: Final = {
    "0": "\0",
    "b": "\b",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "Z": "\x1a",
    "%": "\\%",  # MySQL keeps the backslash before % and _ (they are LIKE escapes)
    "_": "\\_",
}
_MYSQL_ESCAPE: Final = re.compile(r"\\(.)|''", re.DOTALL)
_COPY_ESCAPE: Final = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)
_COPY_ESCAPES: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_RESYNC: Final = re.compile(r"\)\s*([,;])")

# Vectorised SQL paths (see _SqlScanner._fast_tuples and _SqlScanner._fast_copy). They only take
# input they can prove the per-tuple / per-line code above would parse the same way, and leave
# everything else (malformed tuples, prefixed strings, odd line ends...) to that code.
#: Python's ``\s`` for str patterns (the characters for which ``str.isspace()`` is true), in RE2.
_RE2_SPACE: Final = (
    r"\t\n\x0b\x0c\r\x1c-\x20\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
    r"\x{205f}\x{3000}"
)
#: One tuple field as cut by the vectorised path: the value, then the ``,`` or ``)`` after it.
_RE2_FIELD: Final = r"^[{s}]*(?:'(?P<q>{body})'|(?P<b>[^,'(){s}]+))[{s}]*[,)]$"
#: What ``utf8_trim`` removes around a field to leave the value as written.
_TOKEN_TRIM: Final = ",)" + "".join(c for c in map(chr, range(0x3001)) if c.isspace())
#: What may stand between a tuple and the next: blanks, then the ``(`` or ``,``.
_RE2_GAP: Final = r"^[" + _RE2_SPACE + r"]*[(,]$"
_OPEN, _COMMA, _CLOSE = ord("("), ord(","), ord(")")
#: Smallest and first share of the buffer the vectorised INSERT path looks at in one go.
_FAST_MIN_CHARS: Final = 16 << 10
_FAST_START_CHARS: Final = 256 << 10
#: Tuples of a statement parsed one by one before the vectorised INSERT path is tried.
_FAST_AFTER_TUPLES: Final = 8
#: A vectorised run shorter than this costs about as much as parsing its tuples one by one.
_FAST_WORTH_TUPLES: Final = 64


def _sql_patterns(
    backslash: bool, *, prefixed: bool = False
) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Tuple and value patterns. ``prefixed`` also accepts ``_binary 'x'`` / ``E'x'`` strings;
    it is about 40 % slower, so it is only tried on a tuple the plain pattern rejects."""
    body = _MYSQL_BODY if backslash else _PG_BODY
    prefix = r"(?:[A-Za-z_]\w*\s*)?" if prefixed else ""
    value = f"(?:{prefix}'{body}'|{_BARE})"
    tuple_ = re.compile(r"\s*\(\s*(" + value + r"(?:\s*,\s*" + value + r")*)\s*\)\s*([,;]?)")
    values = re.compile(prefix + r"'(" + body + r")'|(" + _BARE + ")", re.DOTALL)
    return tuple_, values


def _unescape_mysql(match: re.Match[str]) -> str:
    char = match.group(1)
    if char is None:
        return "'"
    return _MYSQL_ESCAPES.get(char, char)


def _unescape_copy(match: re.Match[str]) -> str:
    octal, hexa, char = match.groups()
    if octal is not None:
        return chr(int(octal, 8))
    if hexa is not None:
        return chr(int(hexa, 16))
    return str(_COPY_ESCAPES.get(char, char))


def _table_name(raw: str) -> str:
    """Last segment of a possibly qualified, possibly quoted SQL name."""
    last = re.split(r"\.(?=(?:[^`\"]*[`\"][^`\"]*[`\"])*[^`\"]*$)", raw)[-1]
    return last.strip('`"')


def _column_list(raw: str) -> list[str]:
    return [part.strip().strip('`"') for part in raw.split(",") if part.strip()]


def _create_columns(body: str) -> list[str]:
    """Column names of a CREATE TABLE body (text after the opening parenthesis)."""
    depth, current, parts = 0, [], []
    in_string: str | None = None
    for char in body:
        if in_string:
            current.append(char)
            if char == in_string:
                in_string = None
            continue
        if char in "'`\"":
            in_string = char
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                parts.append("".join(current))
                break
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    names = []
    skip = re.compile(
        r"(?i)(PRIMARY|KEY|UNIQUE|CONSTRAINT|INDEX|FULLTEXT|SPATIAL|FOREIGN|CHECK|PERIOD)\b"
    )
    for part in parts:
        text = part.strip()
        if not text or skip.match(text):
            continue
        match = re.match(r"(`[^`]+`|\"[^\"]+\"|[\w$]+)", text)
        if match:
            names.append(match.group(1).strip('`"'))
    return names


_SqlRecord = tuple[int, list[str | None] | None, str | None]


@dataclass(frozen=True, slots=True)
class _SqlRun:
    """Records parsed in one go by a vectorised path; ``before`` is the record count before it."""

    before: int
    piece: _Piece


def _escaped_positions(slashes: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """Positions of the characters escaped by the backslashes at ``slashes`` (sorted).

    In a run of backslashes, the first escapes the second, the third the fourth, and so on; an
    odd one out escapes the character after the run.
    """
    if not slashes.size:
        return slashes
    starts = np.ones(slashes.size, dtype=bool)
    starts[1:] = np.diff(slashes) != 1
    run_start = np.maximum.accumulate(np.where(starts, np.arange(slashes.size), 0))
    escaper = (np.arange(slashes.size) - run_start) % 2 == 0
    escaped: npt.NDArray[np.intp] = slashes[escaper] + 1
    return escaped


def _first_blank_line(text: str) -> int:
    """Start of the first empty (or ``\\r``-only) line of ``text`` after its first line, or -1."""
    found = [at + 1 for at in (text.find("\n\n"), text.find("\n\r\n")) if at >= 0]
    return min(found) if found else -1


def _copy_end(text: str) -> int:
    """Start of the line ``\\.`` (optionally ``\\.\\r``) ending a COPY block, or -1."""
    at = 0
    while True:
        found = text.find("\\.", at)
        if found < 0:
            return -1
        if (found == 0 or text[found - 1] == "\n") and text.startswith(("\\.\n", "\\.\r\n"), found):
            return found
        at = found + 1


class _SqlScanner:
    """Yields ``(record number, values | None, reason | None)`` for one table of an SQL dump."""

    def __init__(
        self, source: _Source, codec: str, table: str, schema: pa.Schema, *, backslash: bool
    ) -> None:
        self.source = source
        self.codec = codec
        self.table = table.lower()
        self.schema = schema
        self.width = len(schema)
        self.backslash = backslash
        body = _MYSQL_BODY if backslash else _PG_BODY
        self.fast_field = _RE2_FIELD.format(s=_RE2_SPACE, body=body)
        # Tuples of any width: the width was checked on the structural characters, which are
        # those of the per-tuple regex's parse wherever this matches (see _fast_tuples).
        value = f"(?:'{body}'|[^,'(){_RE2_SPACE}]+)"
        blank = f"[{_RE2_SPACE}]*"
        self.fast_run: str | None = (
            f"^(?:{blank}\\({blank}{value}(?:{blank},{blank}{value})*{blank}\\){blank},)+$"
        )
        self.window = _FAST_START_CHARS
        self.window_cap = _FAST_START_CHARS
        #: Tuples to parse one by one before the next vectorised try (short statements, such as
        #: pg_dump --inserts' one tuple each, are not worth one).
        self.wait = 0
        #: What ``wait`` becomes after a vectorised try that took few tuples or none (doubles).
        self.penalty = 1
        self.tuple_re, self.value_re = _sql_patterns(backslash)
        self.slow_tuple_re, self.slow_value_re = _sql_patterns(backslash, prefixed=True)
        self.count = 0
        self.unterminated_copy = False
        self.buf = ""
        self.eof = False
        self._first = True
        self._stream: IO[bytes] = io.BytesIO()
        self._decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")()

    def records(self) -> Iterator[_SqlRecord | _SqlRun]:
        self._decoder = codecs.getincrementaldecoder(self.codec)()
        with self.source.open() as stream:
            self._stream = stream
            self._first = True
            pos = self._fill(0)
            while True:
                buf = self.buf
                head = _SQL_HEAD.search(buf, pos)
                if head is None or (head.end() + 4096 > len(buf) and not self.eof):
                    if self.eof:
                        return
                    # keep an overlap so a statement head cut by the chunk end is found whole
                    keep = max(pos, len(buf) - 65536) if head is None else head.start()
                    pos = self._fill(keep)
                    continue
                name = head.group("itab") or head.group("ctab")
                pos = head.end()
                if name is None or _table_name(name).lower() != self.table:
                    continue
                if head.group("ins"):
                    pos = yield from self._tuples(pos)
                else:
                    pos = yield from self._copy(pos)

    def _fill(self, pos: int) -> int:
        """Drop consumed text, append the next chunk; returns the new position (0)."""
        data = self._stream.read(_CHUNK_BYTES)
        text = self._decoder.decode(data, final=not data)
        if self._first:
            text = text.removeprefix("\ufeff")
            self._first = False
        self.buf = self.buf[pos:] + text
        self.eof = not data
        return 0

    def _tuples(self, pos: int) -> Generator[_SqlRecord | _SqlRun, None, int]:
        match_tuple = self.tuple_re.match
        findall = self.value_re.findall
        backslash = self.backslash
        width = self.width
        self.wait = max(self.wait, _FAST_AFTER_TUPLES)
        while True:
            if self.wait:
                self.wait -= 1
            else:
                start = pos
                run, pos, cut = self._fast_tuples(pos, self.window)
                if run is not None:
                    yield run
                    # look about twice as far as what was used, next time
                    used = pos - start
                    self.window = min(max(2 * used, _FAST_MIN_CHARS), _MAX_TUPLE_CHARS)
                    self.window_cap = min(max(4 * used, _FAST_START_CHARS), _MAX_TUPLE_CHARS)
                    if cut:
                        continue
                    if run.piece.records.size >= _FAST_WORTH_TUPLES:
                        self.penalty = 1
                    else:  # short runs cost more than they save: try less often
                        self.wait, self.penalty = self.penalty, min(self.penalty * 2, 1024)
                else:
                    # No tuple taken. If the window ended inside the first tuple, look further,
                    # but not much further than runs usually go: an unclosed quote makes all
                    # that follows look like one long string, and scanning it again and again
                    # would cost more than the per-tuple parser.
                    rest = len(self.buf) - pos
                    if cut and self.window < self.window_cap:
                        if rest > self.window:
                            self.window = min(2 * self.window, self.window_cap)
                            continue
                        if not self.eof and rest < _MAX_TUPLE_CHARS:
                            pos = self._fill(pos)
                            continue
                    # the next tuple needs the per-tuple parser; back off if that keeps happening
                    self.wait, self.penalty = self.penalty, min(self.penalty * 2, 1024)
                    self.window = _FAST_MIN_CHARS
            buf = self.buf
            found = match_tuple(buf, pos)
            values_of = findall
            if found is None:
                found = self.slow_tuple_re.match(buf, pos)
                values_of = self.slow_value_re.findall
            if found is None or (found.end() == len(buf) and not self.eof):
                remaining = len(buf) - pos
                if not self.eof and remaining < _MAX_TUPLE_CHARS:
                    pos = self._fill(pos)
                    continue
                if not buf[pos:].strip():
                    return pos
                self.count += 1
                if remaining >= _MAX_TUPLE_CHARS:
                    yield (
                        self.count,
                        None,
                        overlong_reason("SQL tuple", "characters") + ", or unterminated",
                    )
                else:
                    yield self.count, None, "unterminated or unparseable SQL tuple"
                resync, pos = self._resync(pos)
                if resync != ",":
                    return pos
                continue
            self.count += 1
            if found.end() - pos > MAX_RECORD_BYTES:
                pos = found.end()
                yield self.count, None, overlong_reason("SQL tuple", "characters")
                if found.group(2) != ",":
                    return pos
                continue
            row: list[str | None] = []
            for quoted, bare in values_of(found.group(1)):
                if bare:
                    row.append(None if bare.upper() == "NULL" else bare)
                elif not quoted:
                    row.append(None)
                elif backslash and ("\\" in quoted or "''" in quoted):
                    row.append(_MYSQL_ESCAPE.sub(_unescape_mysql, quoted))
                elif "''" in quoted:
                    row.append(quoted.replace("''", "'"))
                else:
                    row.append(quoted)
            pos = found.end()
            if len(row) != width:
                yield self.count, None, f"row has {len(row)} fields, expected {width}"
            else:
                yield self.count, row, None
            if found.group(2) != ",":
                return pos

    def _resync(self, pos: int) -> tuple[str | None, int]:
        """Skip to just after the next ``)`` followed by ``,`` or ``;`` (that character, and the
        position), reading on in chunks without keeping what is skipped; (None, end) if none."""
        while True:
            resync = _RESYNC.search(self.buf, pos)
            if resync is not None:
                return resync.group(1), resync.end()
            if self.eof:
                return None, len(self.buf)
            # keep a little, for a ")" and its "," cut by the chunk end
            pos = self._fill(max(pos, len(self.buf) - 64))

    def _fast_tuples(self, pos: int, window: int) -> tuple[_SqlRun | None, int, bool]:
        """Parse the run of well-formed tuples at ``pos`` (within ``window`` chars) in one go.

        Returns the run (None if empty), the position after it, and whether the run stopped only
        because the window (or buffer) ended. The tuple after the run is left to the per-tuple
        parser: the last of its statement, wrong width, prefixed string, garbage...

        Quotes are located with a parity count (after backslash escapes), which gives the
        structural ``(``, ``,`` and ``)``; tuples whose structural characters have the right
        shape are then checked with RE2 against the very sub-patterns of ``_sql_patterns``, as a
        whole run, or piece by piece to find the first bad one. A tuple is taken only if the
        per-tuple regex would match its text, and that parse is unique; where it matches, its
        strings are exactly the spans the parity count found, so the widths agree too.
        """
        width = self.width
        data = self.buf[pos : pos + window].encode("utf-8")
        chars = np.frombuffer(data, dtype=np.uint8)
        quote = chars == ord("'")
        if self.backslash:
            escaped = _escaped_positions(np.flatnonzero(chars == ord("\\")))
            quote[escaped[escaped < chars.size]] = False
        outside = (np.cumsum(quote, dtype=np.int64) & 1) == 0
        struct = np.flatnonzero(
            ((chars == _OPEN) | (chars == _COMMA) | (chars == _CLOSE)) & outside
        )
        kinds = chars[struct]
        step = width + 2  # "(" field "," ... field ")" ","
        pattern = np.full(step, _COMMA, dtype=np.uint8)
        pattern[0], pattern[width] = _OPEN, _CLOSE
        full = int(struct.size) // step
        shaped = (kinds[: full * step].reshape(full, step) == pattern).all(axis=1)
        # a tuple of more than MAX_RECORD_BYTES bytes is left to the per-tuple parser (which
        # counts characters) to report
        spans = struct[step - 1 : full * step : step] - struct[0 : full * step : step]
        shaped &= spans <= MAX_RECORD_BYTES
        limit = full if shaped.all() else int(np.argmin(shaped))
        # the tuple after the shaped ones: cut by the window end, or something else?
        rest = kinds[limit * step : (limit + 1) * step]
        cut = rest.size < step and bool((rest == pattern[: rest.size]).all())
        if limit < full and spans[limit] > MAX_RECORD_BYTES:
            cut = False
        if not limit:
            return None, pos, cut
        offsets = np.zeros(limit * step + 1, dtype=np.int32)
        offsets[1:] = struct[: limit * step] + 1
        pieces = pa.StringArray.from_buffers(
            limit * step, pa.py_buffer(offsets), pa.py_buffer(data)
        )
        grid = np.arange(limit * step).reshape(limit, step)
        good = limit if self._fast_run_matches(data, int(struct[limit * step - 1]) + 1) else 0
        if not good:
            # find the first tuple the per-tuple regex would not take, piece by piece
            gaps = pc.match_substring_regex(pieces.take(grid[:, [0, step - 1]].ravel()), _RE2_GAP)
            fields = pc.match_substring_regex(
                pieces.take(grid[:, 1 : width + 1].ravel()), self.fast_field
            )
            valid = _bools(gaps).reshape(limit, 2).all(axis=1)
            valid &= _bools(fields).reshape(limit, width).all(axis=1)
            good = limit if valid.all() else int(np.argmin(valid))
            if not good:
                return None, pos, False
        # the fields of the good tuples in column-major order (each column is then a slice),
        # stripped of the blanks around them and of the "," or ")" after them
        tokens = pc.utf8_trim(pieces.take(grid[:good, 1 : width + 1].T.ravel()), _TOKEN_TRIM)
        values = self._fast_values(tokens)
        columns = [values.slice(j * good, good) for j in range(width)]
        before = self.count
        self.count += good
        run = _SqlRun(
            before,
            _Piece(
                pa.record_batch(columns, schema=self.schema),
                np.arange(before + 1, self.count + 1, dtype=np.int64),
                [],
                self.count,
            ),
        )
        end = int(struct[good * step - 1]) + 1  # just after the "," ending the last tuple
        continuation = int(np.count_nonzero((chars[:end] & 0xC0) == 0x80))
        return run, pos + end - continuation, cut and good == limit

    def _fast_run_matches(self, data: bytes, end: int) -> bool:
        """True if ``data[:end]`` is a series of tuples, each followed by a ``,``."""
        if self.fast_run is None:
            return False
        offsets = np.asarray([0, end], dtype=np.int32)
        text = pa.StringArray.from_buffers(1, pa.py_buffer(offsets), pa.py_buffer(data))
        try:
            return bool(pc.match_substring_regex(text, self.fast_run)[0].as_py())
        except pa.ArrowInvalid:  # RE2 gave up (memory budget): leave it to the other checks
            self.fast_run = None
            return False

    def _fast_values(self, tokens: pa.Array) -> pa.Array:
        """Values of a vectorised run, as ``_tuples`` would have built them one by one.

        ``tokens`` are the values as written (quoted or bare). String comparisons go through
        lengths and substring tests: ``pc.equal`` on strings costs ~200 µs a call, whatever
        the size.
        """
        is_bare = ~_bools(pc.starts_with(tokens, "'"))
        bare, quoted = tokens, pc.utf8_slice_codeunits(tokens, 1, -1)
        bare_size = _ints(pc.binary_length(bare))
        if self.backslash:
            special = _bools(pc.match_substring(quoted, "\\")) | _bools(
                pc.match_substring(quoted, "''")
            )
            if special.any():
                where = np.flatnonzero(special)
                fixed = [
                    _MYSQL_ESCAPE.sub(_unescape_mysql, value)
                    for value in quoted.take(where).to_pylist()
                ]
                quoted = pc.replace_with_mask(
                    quoted, pa.array(special), pa.array(fixed, pa.string())
                )
        else:
            quoted = pc.replace_substring(quoted, "''", "'")
        # NULL in any letter case (no other text upper-cases to "NULL")
        null = is_bare & (bare_size == 4) & _bools(pc.match_substring(pc.ascii_upper(bare), "NULL"))
        null |= ~is_bare & (_ints(pc.binary_length(quoted)) == 0)
        values = pc.if_else(pa.array(is_bare), bare, quoted)
        return pc.if_else(pa.array(null), pa.scalar(None, pa.string()), values)

    def _fast_copy(self, pos: int) -> tuple[_SqlRun | None, int, bool, int]:
        r"""Parse the complete COPY lines at ``pos`` with pyarrow's CSV reader.

        Returns the run (None if empty), the position after it, whether the block ended (``\.``)
        and how many lines the per-line parser should take instead (lines with a lone carriage
        return, which pyarrow would read as a line end, or any disagreement on the line count).
        """
        buf = self.buf
        last = buf.rfind("\n", pos)
        if last < 0:
            return None, pos, False, 0
        region = buf[pos : last + 1]
        stop = _copy_end(region)
        lines = region if stop < 0 else region[:stop]
        after = pos + len(region) if stop < 0 else pos + region.index("\n", stop) + 1
        # pyarrow reads an empty line as a row of nulls, the per-line parser as one empty field:
        # the same thing for a one-column table only
        blank = -1
        if self.width > 1:
            blank = 0 if lines.startswith(("\n", "\r\n")) else _first_blank_line(lines)
        if blank == 0:
            return None, pos, False, 1
        if blank > 0:
            lines, stop, after = lines[:blank], -1, pos + blank
        count = lines.count("\n")
        if not count:
            return None, after if stop >= 0 else pos, stop >= 0, 0
        if "\r" in lines and lines.count("\r") != lines.count("\r\n"):
            return None, pos, False, count
        data = lines.encode("utf-8")
        if has_line_longer_than(data):
            return None, pos, False, count  # the per-line parser reports it
        names = [f"c{i}" for i in range(self.width)]
        invalid: list[tuple[int, int]] = []

        def on_invalid(row: Any) -> str:
            invalid.append((-1 if row.number is None else int(row.number), row.actual_columns))
            return "skip"

        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=len(data) + 1, column_names=names
            ),
            parse_options=pacsv.ParseOptions(
                delimiter="\t",
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=["\\N", ""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        bad = np.asarray([number for number, _ in invalid], dtype=np.int64)
        if table.num_rows + bad.size != count or (
            bad.size and (bad.min() < 1 or bad.max() > count or np.any(np.diff(bad) <= 0))
        ):
            return None, pos, False, count
        columns = []
        for column in table.columns:
            values = column.combine_chunks()
            special = pc.fill_null(pc.match_substring(values, "\\"), False)
            if pc.any(special).as_py():
                where = np.flatnonzero(_bools(special))
                fixed = [
                    _COPY_ESCAPE.sub(_unescape_copy, value)
                    for value in values.take(where).to_pylist()
                ]
                values = pc.replace_with_mask(values, special, pa.array(fixed, pa.string()))
            columns.append(values)
        before = self.count
        self.count += count
        numbers = np.arange(before + 1, self.count + 1, dtype=np.int64)
        malformed = [
            Malformed(before + number, f"row has {fields} fields, expected {self.width}")
            for number, fields in invalid
        ]
        if bad.size:
            numbers = numbers[~np.isin(numbers, bad + before)]
        batch = pa.record_batch(columns, schema=self.schema)
        return _SqlRun(before, _Piece(batch, numbers, malformed, self.count)), after, stop >= 0, 0

    def _copy(self, pos: int) -> Generator[_SqlRecord | _SqlRun, None, int]:
        width = self.width
        slow = 0  # lines to parse one by one before the next vectorised attempt
        while True:
            if slow:
                slow -= 1
            else:
                run, pos, done, slow = self._fast_copy(pos)
                if run is not None:
                    yield run
                if done:
                    return pos
            buf = self.buf
            end = buf.find("\n", pos)
            if end < 0 and len(buf) - pos > MAX_RECORD_BYTES:
                self.count += 1
                yield self.count, None, overlong_reason("COPY line", "characters")
                pos = self._skip_line(pos)
                continue
            if end < 0:
                if not self.eof:
                    pos = self._fill(pos)
                    continue
                end = len(buf)
                if pos >= end:
                    self.unterminated_copy = True
                    return pos
            line = buf[pos:end].removesuffix("\r")
            pos = end + 1
            if line == "\\.":
                return pos
            self.count += 1
            if len(line) > MAX_RECORD_BYTES:
                yield self.count, None, overlong_reason("COPY line", "characters")
                continue
            fields = line.split("\t")
            if len(fields) != width:
                yield self.count, None, f"row has {len(fields)} fields, expected {width}"
                continue
            yield (
                self.count,
                [
                    None
                    if value in ("\\N", "")
                    else _COPY_ESCAPE.sub(_unescape_copy, value)
                    if "\\" in value
                    else value
                    for value in fields
                ],
                None,
            )

    def _skip_line(self, pos: int) -> int:
        """Position after the end of the line at ``pos``, read on in chunks, none of it kept."""
        while True:
            end = self.buf.find("\n", pos)
            if end >= 0:
                return end + 1
            if self.eof:
                return len(self.buf)
            pos = self._fill(len(self.buf))


@dataclass(slots=True)
class _SqlTable:
    name: str
    data_bytes: int = 0
    columns: list[str] = field(default_factory=list)
    create_columns: list[str] = field(default_factory=list)
    first_width: int = 0


def _survey_sql(source: _Source) -> tuple[dict[str, _SqlTable], bool]:
    """One fast pass over the bytes: tables with data, their size and columns; COPY or not."""
    tables: dict[str, _SqlTable] = {}
    overlap = 65536
    copy = False
    last: tuple[str, int] | None = None  # (table key, offset) of the last data head
    tuple_re, value_re = _sql_patterns(True, prefixed=True)
    with source.open() as stream:
        base = 0  # absolute offset of buf[0]
        buf = b""
        scanned = 0  # heads starting before this buf offset were already handled
        while True:
            data = stream.read(_CHUNK_BYTES)
            buf += data
            eof = not data
            limit = len(buf) if eof else max(0, len(buf) - overlap)
            for head in _SQL_HEAD_BYTES.finditer(buf, scanned):
                if head.start() >= limit:
                    break
                scanned = head.end()
                raw = head.group("itab") or head.group("ctab") or head.group("ttab")
                name = _table_name(raw.decode("utf-8", "replace"))
                key = name.lower()
                table = tables.setdefault(key, _SqlTable(name))
                offset = base + head.start()
                if head.group("create"):
                    body = buf[head.end() : head.end() + overlap].decode("utf-8", "replace")
                    table.create_columns = _create_columns(body)
                    if last is not None:
                        tables[last[0]].data_bytes += offset - last[1]
                    last = None
                    continue
                if last is not None:
                    tables[last[0]].data_bytes += offset - last[1]
                last = (key, offset)
                copy = copy or bool(head.group("copy"))
                cols = head.group("icols") or head.group("ccols")
                if cols and not table.columns:
                    table.columns = _column_list(cols.decode("utf-8", "replace"))
                if not table.first_width and head.group("ins"):
                    text = buf[head.end() : head.end() + overlap].decode("utf-8", "replace")
                    found = tuple_re.match(text)
                    if found:
                        table.first_width = len(value_re.findall(found.group(1)))
            if eof:
                if last is not None:
                    tables[last[0]].data_bytes += base + len(buf) - last[1]
                break
            # Every head starting before ``limit`` was tried with at least ``overlap`` bytes after
            # it: search on from there, keeping one byte for the ``^`` test. (Going back to the
            # last head instead rescanned -- and kept in memory -- a whole head-less COPY block.)
            scanned = max(scanned, limit)
            drop = max(0, scanned - 1)
            buf = buf[drop:]
            base += drop
            scanned -= drop
    return tables, copy
