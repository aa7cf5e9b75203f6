"""Streaming readers for leaked dumps: CSV, JSON Lines, Parquet and SQL, plain, gzip or zip.

Every reader turns a dump into Arrow record batches whose columns are all ``pa.string()`` (empty
strings and SQL ``NULL`` become null), in bounded memory: nothing holds more than one chunk of the
file (a few MiB) plus one batch. Rows that cannot be parsed never stop the read and are never
dropped silently: they come back as :class:`Malformed` entries carrying their record number and a
reason, never their text (a leaked row is plaintext identity data).

Record numbers
    Record *n* is the *n*-th data record of the dump, 1-based, header excluded: a CSV record (a
    quoted field may span lines; blank lines are not records), a non-blank JSON Lines line, a
    Parquet row, an SQL tuple or ``COPY`` line of the chosen table. Malformed records count.

Batches
    Batch boundaries depend only on record numbers: a batch never crosses a multiple of
    ``batch_rows`` and never contains a malformed record (its rows are consecutive records, so row
    *i* is record ``first_row + i``). The malformed records just before a batch's first row are
    attached to it; malformed records at the very end come in a last batch with no rows. So a read
    resumed with ``skip_records=k`` yields, from the next multiple of ``batch_rows`` on, exactly the
    batches of an uninterrupted read.

Encodings
    UTF-8 (with or without BOM) or cp1252 (French Windows exports), decided by a strict UTF-8
    decode of the first MiB. If a later part of a "UTF-8" file turns out not to be UTF-8 (files
    concatenated from several exports), the read goes on from the next record with a decoder that
    keeps valid UTF-8 and reads each invalid byte as cp1252; ``Dump.notes`` says so and
    ``Dump.encoding`` becomes ``"utf-8+cp1252"``. Valid UTF-8 records decode the same either way,
    so nothing already delivered changes.

CSV quoting
    Quoting is on unless the first MiB has a field that opens a quote it does not close properly
    (a stray ``"`` at the start of an unquoted field; one quote still open where a longer file's
    sample ends is a value going on past it, not a stray quote). If quoting is on and a row later
    swallows a line break together with a quote (the sign of a stray quote eating the following
    lines), the read goes on from the next record with quoting off. With quoting off, a value
    fully enclosed in quotes still loses its enclosing quotes.

Hostile records (limits in :mod:`verrou.ingest.limits`)
    A line (CSV, JSON Lines, COPY) or SQL tuple over ``MAX_RECORD_BYTES``, a Parquet value over it,
    a JSON line nested deeper than ``MAX_JSON_DEPTH`` or an object with more than ``MAX_COLUMNS``
    keys is one malformed record; an over-long line is skipped in chunks, never held whole. A
    Parquet row group that cannot be decoded makes its rows malformed and the next group is read.
    A quoted CSV record that spans lines and outgrows pyarrow's blocks turns quoting off from there
    on, as a stray quote does. A header (or schema) with more than ``MAX_COLUMNS`` columns is a
    :class:`DumpError`.
"""

from __future__ import annotations

import codecs
import csv
import encodings.cp1252
import io
import itertools
import json
import re
import secrets
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from verrou.errors import DumpError
from verrou.ingest.limits import (
    MAX_COLUMNS,
    MAX_NAME_CHARS,
    MAX_RECORD_BYTES,
    TOO_MANY_KEYS_REASON,
    CappedLines,
    has_line_longer_than,
    json_chunk_needs_checks,
    json_line_problem,
    overlong_reason,
)

__all__ = ["Dump", "DumpBatch", "Malformed", "open_dump"]

_SAMPLE_BYTES: Final = 1 << 20
_CHUNK_BYTES: Final = 4 << 20
#: pyarrow's streaming CSV reader keeps several blocks in flight: 1 MiB blocks read as fast as
#: 4 MiB ones here (0.73 s vs 0.76 s for 1M rows) with half the resident memory (123 vs 258 MiB).
_CSV_BLOCK_BYTES: Final = 1 << 20
#: Longest SQL tuple we wait for before calling it unterminated (bounds memory). Tuples longer
#: than MAX_RECORD_BYTES but within this are parsed, to skip them exactly, and reported malformed.
_MAX_TUPLE_CHARS: Final = 8 << 20
_JSON_SAMPLE_LINES: Final = 2000
_DELIMITERS: Final = (";", ",", "\t", "|")
_DUMP_SUFFIXES: Final = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".sql": "sql",
}
#: Literal cell values that mean "no value" in CSV exports (MySQL writes NULL and \N).
_CSV_NULLS: Final = ["", "NULL", "\\N"]
_Recnums = npt.NDArray[np.int64]


# --- codecs -------------------------------------------------------------------------------------
# pyarrow's CSV transcoder looks codecs up by name and decodes strictly, so the lenient decoders
# are registered as codecs of their own (once, at import; registering is idempotent in effect).

_FALLBACK_ERRORS: Final = "verrou-cp1252-fallback"
_UTF8_FALLBACK: Final = "verrou_utf8_cp1252"
_CP1252_LENIENT: Final = "verrou_cp1252"


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    """Decode bytes that are not UTF-8 as cp1252 (its 5 unassigned bytes become U+FFFD)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    raw = error.object[error.start : error.end]
    return codecs.charmap_decode(raw, "replace", encodings.cp1252.decoding_table)[0], error.end


codecs.register_error(_FALLBACK_ERRORS, _cp1252_fallback)


class _Utf8FallbackDecoder(codecs.BufferedIncrementalDecoder):
    def _buffer_decode(self, data: Any, errors: str, final: bool) -> tuple[str, int]:
        return codecs.utf_8_decode(data, _FALLBACK_ERRORS, final)


class _Cp1252LenientDecoder(codecs.IncrementalDecoder):
    def decode(self, data: Any, final: bool = False) -> str:
        return codecs.charmap_decode(data, "replace", encodings.cp1252.decoding_table)[0]


def _search_codec(name: str) -> codecs.CodecInfo | None:
    if name == _UTF8_FALLBACK:
        return codecs.CodecInfo(
            name=_UTF8_FALLBACK,
            encode=codecs.utf_8_encode,
            decode=lambda data, errors="strict": codecs.utf_8_decode(data, _FALLBACK_ERRORS, True),
            incrementaldecoder=_Utf8FallbackDecoder,
        )
    if name == _CP1252_LENIENT:
        return codecs.CodecInfo(
            name=_CP1252_LENIENT,
            encode=codecs.lookup("cp1252").encode,
            decode=lambda data, errors="strict": codecs.charmap_decode(
                data, "replace", encodings.cp1252.decoding_table
            ),
            incrementaldecoder=_Cp1252LenientDecoder,
        )
    return None


codecs.register(_search_codec)


def _python_codec(encoding: str) -> str:
    """The lenient codec used to decode a dump declared with ``encoding``."""
    return _CP1252_LENIENT if encoding == "cp1252" else _UTF8_FALLBACK


# --- public types -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Malformed:
    """A record that could not be parsed. ``reason`` never quotes the record's text."""

    row: int
    reason: str


@dataclass(frozen=True, slots=True)
class DumpBatch:
    """Consecutive records ``first_row .. first_row + batch.num_rows - 1`` of a dump.

    ``malformed`` lists the unparseable records just before ``first_row`` (after the previous
    batch); a batch with no rows carries only malformed records (then ``first_row`` is the first
    record number of its span).
    """

    batch: pa.RecordBatch
    first_row: int
    malformed: list[Malformed]


@dataclass(slots=True)
class _Piece:
    """What a format reader hands to the re-chunker: rows with their record numbers.

    ``end`` is the last record number the piece accounts for (rows and malformed records).
    """

    batch: pa.RecordBatch
    records: _Recnums
    malformed: list[Malformed]
    end: int


class _Restart(Exception):
    """A reader must go on from the next undelivered record with other options."""

    def __init__(self, what: str, why: str = "a stray quote was met") -> None:
        super().__init__(what)
        self.what = what
        self.why = why


@dataclass(slots=True)
class _Source:
    """Where the dump's bytes come from (after archive and compression are resolved)."""

    path: Path
    compression: str | None
    member: str | None  # zip member name
    inner_name: str  # name used for the format by extension

    def open(self) -> IO[bytes]:
        """A fresh binary stream of the decompressed dump."""
        if self.compression == "gzip":
            import gzip

            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        if self.compression == "zip":
            archive = zipfile.ZipFile(self.path)
            assert self.member is not None
            stream = archive.open(self.member)
            # The archive must outlive the member stream; closing the stream closes the archive.
            original_close = stream.close

            def close() -> None:
                original_close()
                archive.close()

            stream.close = close  # type: ignore[method-assign]
            return stream
        return open(self.path, "rb")


class Dump:
    """An opened dump: its format, encoding and columns, and a way to stream its records."""

    def __init__(
        self,
        source: _Source,
        format: str,
        *,
        batch_rows: int,
        columns: list[str],
        encoding: str | None = None,
        delimiter: str | None = None,
        quoting: bool | None = None,
        table: str | None = None,
    ) -> None:
        self._source = source
        self.path: Path = source.path
        self.format: str = format
        self.compression: str | None = source.compression
        self.encoding: str | None = encoding
        self.delimiter: str | None = delimiter
        self.quoting: bool | None = quoting
        self.columns: list[str] = columns
        self.table: str | None = table
        self.batch_rows = batch_rows
        #: Human sentences about choices made while reading (never row content).
        self.notes: list[str] = []
        #: JSON keys met after the leading sample, not among ``columns`` (their values are dropped).
        self.unseen_keys: set[str] = set()
        self._schema = pa.schema([(name, pa.string()) for name in columns])
        self._open_iterators: list[Iterator[DumpBatch]] = []
        self._closers: list[Callable[[], None]] = []
        # format-specific state set by open_dump
        self._csv_column_names: list[str] = []
        self._json_schema: pa.Schema | None = None
        self._parquet: pq.ParquetFile | None = None
        self._sql_backslash = True
        #: Stands for a line over MAX_RECORD_BYTES (see CappedLines); random, so a dump cannot
        #: forge it.
        self._overlong = b"\x1fverrou-overlong-" + secrets.token_hex(8).encode()

    # -- public API --

    def batches(self, *, skip_records: int = 0) -> Iterator[DumpBatch]:
        """Stream the dump's records as batches of at most ``batch_rows`` rows.

        ``skip_records`` resumes after a crash: records ``1 .. skip_records`` are not returned
        (neither as rows nor as malformed entries). Raises :class:`DumpError` if the file turns out
        to be corrupt part-way (truncated archive, undecodable content).
        """
        if skip_records < 0:
            raise ValueError("skip_records must be >= 0")
        iterator = self._guarded(self._rechunk(self._pieces(skip_records), skip_records))
        self._open_iterators.append(iterator)
        return iterator

    def close(self) -> None:
        """Release open files (iterators still running are closed too)."""
        for iterator in self._open_iterators:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        self._open_iterators.clear()
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()

    def __enter__(self) -> Dump:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Dump({self.path.name!r}, format={self.format!r}, compression={self.compression!r}, "
            f"encoding={self.encoding!r}, columns={len(self.columns)})"
        )

    # -- plumbing --

    def _guarded(self, batches: Iterator[DumpBatch]) -> Iterator[DumpBatch]:
        last = 0
        try:
            for item in batches:
                last = item.first_row + item.batch.num_rows - 1
                yield item
        except DumpError:
            raise
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile, pa.ArrowException) as error:
            raise DumpError(
                f"{self.path.name}: the file is truncated or corrupt after record {max(last, 0)} "
                f"({type(error).__name__})"
            ) from error
        except UnicodeDecodeError as error:
            raise DumpError(
                f"{self.path.name}: text after record {max(last, 0)} cannot be decoded "
                f"as {self.encoding}"
            ) from error

    def _pieces(self, skip: int) -> Iterator[_Piece]:
        if self.format == "csv":
            return self._csv_pieces(skip)
        if self.format == "jsonl":
            return self._jsonl_pieces()
        if self.format == "parquet":
            return self._parquet_pieces(skip)
        return self._sql_pieces()

    def _empty(self) -> pa.RecordBatch:
        return pa.record_batch(
            [pa.array([], pa.string()) for _ in self.columns], schema=self._schema
        )

    def _rechunk(self, pieces: Iterator[_Piece], skip: int) -> Iterator[DumpBatch]:
        """Cut pieces into batches on record-number boundaries (see the module docstring)."""
        size = self.batch_rows
        span_end = (skip // size + 1) * size
        held: list[pa.RecordBatch] = []
        held_records: list[_Recnums] = []
        held_malformed: list[Malformed] = []

        def flush(span_start: int) -> Iterator[DumpBatch]:
            malformed = sorted(held_malformed, key=lambda m: m.row)
            held_malformed.clear()
            if held:
                table = pa.Table.from_batches(held, schema=self._schema).combine_chunks()
                whole = table.to_batches()[0] if table.num_rows else self._empty()
                records = np.concatenate(held_records)
            else:
                whole, records = self._empty(), np.zeros(0, dtype=np.int64)
            held.clear()
            held_records.clear()
            # Split at holes so each batch's rows are consecutive records.
            cuts = (np.flatnonzero(np.diff(records) != 1) + 1).tolist() if records.size else []
            bounds = [0, *cuts, int(records.size)]
            m = 0
            for lo, hi in itertools.pairwise(bounds):
                if hi <= lo:
                    continue
                first = int(records[lo])
                mine: list[Malformed] = []
                while m < len(malformed) and malformed[m].row < first:
                    mine.append(malformed[m])
                    m += 1
                yield DumpBatch(whole.slice(lo, hi - lo), first, mine)
            if m < len(malformed):
                yield DumpBatch(self._empty(), malformed[m].row, malformed[m:])

        span_start = skip + 1
        for piece in pieces:
            records, batch, malformed = piece.records, piece.batch, piece.malformed
            if skip:
                if piece.end <= skip:
                    continue
                keep = int(np.searchsorted(records, skip, side="right"))
                records, batch = records[keep:], batch.slice(keep)
                malformed = [m for m in malformed if m.row > skip]
            while True:
                cut = int(np.searchsorted(records, span_end, side="right"))
                if cut:
                    held.append(batch.slice(0, cut))
                    held_records.append(records[:cut])
                held_malformed.extend(m for m in malformed if m.row <= span_end)
                if piece.end < span_end:
                    break
                malformed = [m for m in malformed if m.row > span_end]
                records, batch = records[cut:], batch.slice(cut)
                yield from flush(span_start)
                span_start, span_end = span_end + 1, span_end + size
        if held or held_malformed:
            yield from flush(span_start)

    # -- CSV --

    def _csv_pieces(self, skip: int) -> Iterator[_Piece]:
        delivered = 0
        encoding = self.encoding or "utf-8"
        quoting = bool(self.quoting)
        while True:
            try:
                for piece in self._csv_run(encoding, quoting, delivered):
                    delivered = piece.end
                    yield piece
                return
            except _Restart as restart:
                if restart.what == "quoting" and quoting:
                    quoting = False
                    self.quoting = False
                    self.notes.append(
                        f"{restart.why} near record {delivered + 1}; "
                        "read on from there with quoting off"
                    )
                    continue
                raise
            except pa.ArrowInvalid as error:
                if "straddl" in str(error) and quoting:
                    # A quoted record spanning lines, longer than pyarrow's blocks: quoting off
                    # cuts it into lines, each at most MAX_RECORD_BYTES (reported malformed).
                    quoting = False
                    self.quoting = False
                    self.notes.append(
                        f"a quoted record longer than {MAX_RECORD_BYTES:,} bytes was met near "
                        f"record {delivered + 1}; read on from there with quoting off"
                    )
                    continue
                if "UTF8" in str(error) and encoding in ("utf-8", "utf-8-sig"):
                    encoding = _UTF8_FALLBACK
                    self.encoding = "utf-8+cp1252"
                    self.notes.append(
                        f"bytes that are not UTF-8 were met after record {delivered}; "
                        "from there, invalid bytes are read as cp1252"
                    )
                    continue
                raise

    def _csv_run(self, encoding: str, quoting: bool, after: int) -> Iterator[_Piece]:
        """One pass of pyarrow's streaming CSV reader, yielding only records after ``after``."""
        pending: list[int] = []  # malformed record numbers, in order
        reasons: dict[int, str] = {}
        stray = [0]

        overlong = self._overlong.decode("ascii")
        seen_overlong = [0]

        def on_invalid(row: Any) -> str:
            # ``number`` is the parsed-row count including the header (needs use_threads=False).
            number = int(row.number) - 1 if row.number is not None else -1
            pending.append(number)
            text = row.text or ""
            if overlong in text:
                seen_overlong[0] += 1
                reasons[number] = overlong_reason("line")
                return "skip"
            reasons[number] = (
                f"row has {row.actual_columns} fields, expected {row.expected_columns}"
            )
            if quoting and "\n" in text and '"' in text:
                stray[0] = number
            return "skip"

        names = self._csv_column_names
        pa_encoding = {"utf-8-sig": "utf8", "utf-8": "utf8"}.get(encoding, encoding)
        if encoding == "cp1252":
            pa_encoding = _CP1252_LENIENT
        # An over-long line becomes a line of width + 1 fields, which pyarrow hands to on_invalid.
        marker = self._overlong + (self.delimiter or ",").encode("ascii") * max(len(names), 1)
        stream = CappedLines(self._source.open(), marker)
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    use_threads=False,  # single-threaded is faster here and gives row numbers
                    block_size=_CSV_BLOCK_BYTES,
                    skip_rows=1,
                    column_names=names,
                    encoding=pa_encoding,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter or ",",
                    quote_char='"' if quoting else False,
                    double_quote=True,
                    newlines_in_values=quoting,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in names},
                    null_values=_CSV_NULLS,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            next_record = 1
            for batch in reader:
                if stray[0]:
                    raise _Restart("quoting")
                if stream.replaced > seen_overlong[0] and _holds(batch, overlong):
                    # the over-long line was inside a quoted value: the quoting is broken there
                    raise _Restart("quoting", "a quoted value longer than the limit was met")
                n = batch.num_rows
                if n == 0:
                    continue
                bad = np.asarray([p for p in pending if p >= next_record], dtype=np.int64)
                candidates = np.arange(next_record, next_record + n + bad.size, dtype=np.int64)
                records = candidates[~np.isin(candidates, bad)][:n] if bad.size else candidates
                end = int(records[-1])
                mine = [Malformed(p, reasons.pop(p)) for p in pending if p <= end]
                pending[:] = [p for p in pending if p > end]
                next_record = end + 1
                if not quoting:
                    batch = _strip_enclosing_quotes(batch)
                if end <= after:
                    continue
                if after >= int(records[0]) or (mine and mine[0].row <= after):
                    # a restarted pass: drop what the previous pass already delivered
                    keep = int(np.searchsorted(records, after, side="right"))
                    records, batch = records[keep:], batch.slice(keep)
                    mine = [m for m in mine if m.row > after]
                yield _Piece(
                    batch.cast(self._schema) if batch.schema != self._schema else batch,
                    records,
                    mine,
                    end,
                )
            if stray[0]:
                raise _Restart("quoting")
            if pending:
                yield _Piece(
                    self._empty(),
                    np.zeros(0, dtype=np.int64),
                    [Malformed(p, reasons[p]) for p in pending],
                    max(pending),
                )
        finally:
            stream.close()

    # -- JSON Lines --

    def _jsonl_pieces(self) -> Iterator[_Piece]:
        record = 0
        # Whole lines only, and an over-long line replaced by the marker (never buffered whole).
        with CappedLines(self._source.open(), self._overlong) as stream:
            first = True
            while True:
                blocks: list[bytes] = []
                size = 0
                while size < _CHUNK_BYTES and (block := stream.next_block()):
                    blocks.append(block)
                    size += len(block)
                chunk = b"".join(blocks)
                if first:
                    chunk = chunk.removeprefix(codecs.BOM_UTF8)
                    first = False
                if chunk and not chunk.isspace():  # i.e. chunk.strip(), without the copy
                    piece = self._json_chunk(chunk, record)
                    record = piece.end
                    yield piece
                if not size:
                    return

    def _json_chunk(self, chunk: bytes, before: int) -> _Piece:
        if self.encoding == "cp1252":
            chunk = codecs.decode(chunk, _CP1252_LENIENT).encode("utf-8")
        else:
            if not _is_utf8(chunk):
                chunk = codecs.decode(chunk, _UTF8_FALLBACK).encode("utf-8")
                if self.encoding != "utf-8+cp1252":
                    self.encoding = "utf-8+cp1252"
                    self.notes.append(
                        f"bytes that are not UTF-8 were met after record {before}; "
                        "invalid bytes are read as cp1252"
                    )
        if _has_blank_line(chunk):
            chunk = b"\n".join(line for line in chunk.split(b"\n") if line.strip()) + b"\n"
        count = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
        records = np.arange(before + 1, before + count + 1, dtype=np.int64)
        # pyarrow's parser must never see a deep document (it overflows the C stack) nor one with
        # thousands of keys: chunks that may hold one take the per-line path, which checks lines.
        if not json_chunk_needs_checks(chunk):
            batch = self._json_arrow(chunk, count)
            if batch is not None:
                return _Piece(batch, records, [], before + count)
        return self._json_python(chunk, before)

    def _json_arrow(self, chunk: bytes, count: int) -> pa.RecordBatch | None:
        """Parse a chunk with pyarrow.json; None when the chunk needs the per-line path."""
        try:
            table = pajson.read_json(
                io.BytesIO(chunk),
                read_options=pajson.ReadOptions(use_threads=False, block_size=len(chunk) + 1),
                parse_options=pajson.ParseOptions(
                    explicit_schema=self._json_schema, unexpected_field_behavior="infer"
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        if table.num_rows != count:
            return None
        while any(pa.types.is_struct(f.type) for f in table.schema):
            table = table.flatten()
            if table.num_columns > MAX_COLUMNS:
                return None  # the per-line path finds the objects with too many keys
        arrays = []
        for name in table.column_names:
            if name not in self._schema.names:
                self._note_unseen(name)
        for name in self.columns:
            if name not in table.column_names:
                arrays.append(pa.nulls(count, pa.string()))
                continue
            column = table.column(name)
            kind = column.type
            if pa.types.is_null(kind):
                arrays.append(pa.nulls(count, pa.string()))
            elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
                arrays.append(_blank_to_null(column.cast(pa.string())))
            elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
                arrays.append(column.cast(pa.string()))
            else:
                # floats print differently from Python, timestamps were inferred from text:
                # the per-line path keeps the text as written.
                return None
        combined = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
        return pa.record_batch(combined, schema=self._schema)

    def _json_python(self, chunk: bytes, before: int) -> _Piece:
        """Per-line fallback: any line that is not a JSON object becomes a Malformed entry."""
        values: dict[str, list[str | None]] = {name: [] for name in self.columns}
        records: list[int] = []
        malformed: list[Malformed] = []
        number = before
        for line in chunk.split(b"\n"):
            if not line.strip():
                continue
            number += 1
            problem = _json_line_problem(line, self._overlong)
            if problem is not None:
                malformed.append(Malformed(number, problem))
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: belt and braces, see limits
                malformed.append(Malformed(number, "invalid JSON"))
                continue
            if not isinstance(obj, dict):
                malformed.append(Malformed(number, "not an object"))
                continue
            flat: dict[str, str | None] = {}
            _flatten_json(obj, "", flat)
            if len(flat) > MAX_COLUMNS:
                malformed.append(Malformed(number, TOO_MANY_KEYS_REASON))
                continue
            for key in flat:
                if key not in values:
                    self._note_unseen(key)
            for name, column in values.items():
                column.append(flat.get(name))
            records.append(number)
        batch = pa.record_batch(
            [pa.array(values[name], pa.string()) for name in self.columns], schema=self._schema
        )
        return _Piece(batch, np.asarray(records, dtype=np.int64), malformed, number)

    def _note_unseen(self, key: str) -> None:
        # bounded: a hostile dump could bring new keys on every line
        if len(self.unseen_keys) < MAX_COLUMNS and len(key) <= MAX_NAME_CHARS:
            self.unseen_keys.add(key)

    # -- Parquet --

    def _parquet_pieces(self, skip: int) -> Iterator[_Piece]:
        assert self._parquet is not None
        meta = self._parquet.metadata
        start = 0
        groups: list[int] = []
        for index in range(meta.num_row_groups):
            rows = meta.row_group(index).num_rows
            if start + rows <= skip and not groups:
                start += rows  # whole row groups before the resume point are not read at all
                continue
            groups.append(index)
        if not groups:
            return
        record = start
        for index in groups:
            # Row group by row group: a row group that cannot be decoded (corrupt part-way) makes
            # its rows malformed, and the next one is read.
            group_end = record + meta.row_group(index).num_rows
            try:
                for batch in self._parquet.iter_batches(
                    batch_size=self.batch_rows, row_groups=[index], use_threads=False
                ):
                    n = batch.num_rows
                    records = np.arange(record + 1, record + n + 1, dtype=np.int64)
                    record += n
                    yield _parquet_piece(_parquet_strings(batch, self._schema), records)
            except (OSError, pa.ArrowException) as error:
                reason = f"Parquet row group {index + 1} cannot be decoded ({type(error).__name__})"
                while record < group_end:
                    upto = min(group_end, record + self.batch_rows)
                    lost = [Malformed(r, reason) for r in range(record + 1, upto + 1)]
                    yield _Piece(self._empty(), np.zeros(0, dtype=np.int64), lost, upto)
                    record = upto
            record = group_end

    # -- SQL --

    def _sql_pieces(self) -> Iterator[_Piece]:
        scanner = _SqlScanner(
            self._source,
            _python_codec(self.encoding or "utf-8"),
            self.table or "",
            self._schema,
            backslash=self._sql_backslash,
        )
        rows: list[list[str | None]] = []
        records: list[int] = []
        malformed: list[Malformed] = []
        piece_rows = max(1024, min(self.batch_rows, 65536))

        def piece(end: int) -> _Piece:
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.columns]
            batch = pa.record_batch(
                [pa.array(list(c), pa.string()) for c in columns], schema=self._schema
            )
            out = _Piece(batch, np.asarray(records, dtype=np.int64), list(malformed), end)
            rows.clear()
            records.clear()
            malformed.clear()
            return out

        for item in scanner.records():
            if isinstance(item, _SqlRun):
                if rows or malformed:
                    yield piece(item.before)
                yield item.piece
                continue
            number, values, reason = item
            if reason is None:
                assert values is not None
                rows.append(values)
                records.append(number)
            else:
                malformed.append(Malformed(number, reason))
            if len(rows) + len(malformed) >= piece_rows:
                yield piece(number)
        if rows or malformed:
            yield piece(scanner.count)
        if scanner.unterminated_copy:
            self.notes.append("the COPY block was not ended by \\. (file cut short?)")


_BLANK_LINE: Final = re.compile(rb"(?:^|\n)[ \t\r]*(?:\n|$)")
#: A line feed followed by ASCII whitespace: a cheap pre-test for blank lines.
_LINE_OPENS_WITH_SPACE: Final = re.compile(rb"\n[ \t\r\x0b\x0c\n]")
#: ASCII whitespace other than the line feed (what ``bytes.strip`` removes, besides ``\n``).
_INLINE_SPACE: Final = b" \t\r\x0b\x0c"


def _has_blank_line(chunk: bytes) -> bool:
    """True if dropping the lines whose ``strip()`` is empty would change the chunk.

    Same answer as running the drop whenever ``_BLANK_LINE`` matches (it always matches a chunk
    ending in a line feed, where the drop is a no-op unless a line is blank), but without that
    regex's slow scan of the whole chunk (its ``^`` alternative defeats the prefix search).
    """
    if not chunk.endswith(b"\n"):
        return _BLANK_LINE.search(chunk) is not None
    if not chunk[:1].isspace() and _LINE_OPENS_WITH_SPACE.search(chunk) is None:
        return False
    bare = chunk.translate(None, _INLINE_SPACE)
    return bare.startswith(b"\n") or b"\n\n" in bare


def _bools(array: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """A boolean Arrow array without nulls as a NumPy array.

    From its bits: ``to_numpy`` on booleans tries (and fails) to import pandas on every call.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    bits = np.unpackbits(np.frombuffer(array.buffers()[1], dtype=np.uint8), bitorder="little")
    flags: npt.NDArray[np.bool_] = bits[array.offset : array.offset + len(array)] != 0
    return flags


def _ints(array: pa.Array) -> npt.NDArray[np.int64]:
    """An integer Arrow array without nulls as a NumPy array."""
    return np.asarray(array.to_numpy(zero_copy_only=True), dtype=np.int64)


def _is_utf8(data: bytes) -> bool:
    """Strict UTF-8 validity (same verdict as ``data.decode("utf-8")``), without decoding."""
    offsets = pa.array([0, len(data)], pa.int32()).buffers()[1]
    try:
        pa.StringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _blank_to_null(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return pc.if_else(pc.not_equal(array, ""), array, pa.scalar(None, pa.string()))


def _holds(batch: pa.RecordBatch, text: str) -> bool:
    """True if a value of ``batch`` contains ``text``."""
    return any(
        pc.any(pc.fill_null(pc.match_substring(column, text), False)).as_py()
        for column in batch.columns
    )


def _strip_enclosing_quotes(batch: pa.RecordBatch) -> pa.RecordBatch:
    """With quoting off, ``"Dupont"`` still means Dupont; ``""`` inside it means one quote."""
    arrays = []
    for column in batch.columns:
        stripped = pc.replace_substring_regex(column, pattern=r'^"(.*)"$', replacement=r"\1")
        arrays.append(_blank_to_null(stripped))
    return pa.record_batch(arrays, schema=batch.schema)


def _json_line_problem(line: bytes, overlong: bytes) -> str | None:
    """Why a JSON Lines line is not parsed at all (over-long, too deep), or None."""
    if line.rstrip(b"\r") == overlong:
        return overlong_reason("line")
    return json_line_problem(line)


def _flatten_json(obj: dict[str, Any], prefix: str, out: dict[str, str | None]) -> None:
    # Recursion is bounded: objects deeper than MAX_JSON_DEPTH never get this far.
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten_json(value, name + ".", out)
        elif value is None or value == "":
            out[name] = None
        elif isinstance(value, str):
            out[name] = value
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, int | float):
            out[name] = str(value)
        else:
            out[name] = json.dumps(value, ensure_ascii=False)


def _flat_field_names(schema: pa.Schema) -> list[str]:
    names: list[str] = []

    def walk(prefix: str, kind: pa.DataType, name: str) -> None:
        if pa.types.is_struct(kind):
            for index in range(kind.num_fields):
                child = kind.field(index)
                walk(f"{prefix}{name}.", child.type, child.name)
        else:
            names.append(prefix + name)

    for item in schema:
        walk("", item.type, item.name)
    return names


def _parquet_piece(batch: pa.RecordBatch, records: _Recnums) -> _Piece:
    """Rows of a Parquet batch, those with a value over MAX_RECORD_BYTES made malformed."""
    end = int(records[-1]) if records.size else 0
    too_long: npt.NDArray[np.bool_] | None = None
    for column in batch.columns:
        lengths = pc.binary_length(column)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > MAX_RECORD_BYTES:
            over = _bools(pc.fill_null(pc.greater(lengths, MAX_RECORD_BYTES), False))
            too_long = over if too_long is None else too_long | over
    if too_long is None:
        return _Piece(batch, records, [], end)
    reason = overlong_reason("value")
    malformed = [Malformed(int(r), reason) for r in records[too_long]]
    keep = ~too_long
    return _Piece(batch.filter(pa.array(keep)), records[keep], malformed, end)


def _parquet_strings(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Every Parquet column as text; nested structs flattened to dotted names."""
    table = pa.Table.from_batches([batch])
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    arrays = []
    for name in schema.names:
        column = table.column(name).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if not pa.types.is_string(column.type):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                # lists, maps, binary that is not UTF-8: keep a readable text form
                column = pa.array(
                    [
                        None
                        if v is None
                        else v.decode("utf-8", _FALLBACK_ERRORS)
                        if isinstance(v, bytes)
                        else json.dumps(v, ensure_ascii=False, default=str)
                        for v in column.to_pylist()
                    ],
                    pa.string(),
                )
        arrays.append(_blank_to_null(column))
    return pa.record_batch(arrays, schema=schema)


# --- SQL scanning -------------------------------------------------------------------------------

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


# --- opening ------------------------------------------------------------------------------------


def open_dump(path: Path, *, batch_rows: int = 65536, table: str | None = None) -> Dump:
    """Open a leaked dump: detect compression, format, encoding, delimiter, quoting and columns.

    Raises :class:`DumpError` (one sentence naming the file and what is wrong) if the file cannot
    be read at all. ``table`` picks the table of a multi-table SQL dump (default: the largest).
    """
    path = Path(path)
    if batch_rows < 1:
        raise ValueError("batch_rows must be >= 1")
    if not path.is_file():
        raise DumpError(f"{path.name}: no such file")
    source = _resolve_source(path)
    try:
        with source.open() as stream:
            sample = stream.read(_SAMPLE_BYTES)
            complete = len(sample) < _SAMPLE_BYTES or not stream.read(1)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise DumpError(
            f"{path.name}: the {source.compression or 'file'} data is corrupt or truncated"
        ) from error
    if not sample.strip():
        raise DumpError(f"{path.name}: the dump is empty")
    kind = _detect_format(path, source, sample)
    if kind == "parquet":
        return _open_parquet(source, batch_rows)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DumpError(f"{path.name}: UTF-16 text is not supported; re-export it as UTF-8")
    if _looks_binary(sample):
        raise DumpError(f"{path.name}: the content is binary, not a text dump")
    encoding = _detect_encoding(sample, complete)
    if kind == "jsonl":
        return _open_jsonl(source, batch_rows, sample, encoding, complete)
    if kind == "sql":
        return _open_sql(source, batch_rows, table, sample, encoding)
    return _open_csv(source, batch_rows, sample, encoding, complete)


def _resolve_source(path: Path) -> _Source:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    suffix = path.suffix.lower()
    if magic[:2] == b"\x1f\x8b":
        inner = path.stem if suffix in (".gz", ".gzip") else path.name
        return _Source(path, "gzip", None, inner)
    if suffix in (".gz", ".gzip"):
        raise DumpError(f"{path.name}: named like a gzip file but is not gzip data")
    if magic in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = [i for i in archive.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as error:
            raise DumpError(f"{path.name}: the zip archive is corrupt") from error
        return _Source(path, "zip", _pick_member(path, members), "")
    if suffix == ".zip":
        raise DumpError(f"{path.name}: named like a zip archive but is not zip data")
    return _Source(path, None, None, path.name)


def _pick_member(path: Path, members: list[zipfile.ZipInfo]) -> str:
    names = [m.filename for m in members if not Path(m.filename).name.startswith(".")]
    names = [n for n in names if not n.startswith("__MACOSX/")]
    if not names:
        raise DumpError(f"{path.name}: the zip archive holds no file")
    if any(n == "xl/workbook.xml" for n in names):
        raise DumpError(f"{path.name}: Excel workbooks are not supported; export the sheet as CSV")
    if len(names) == 1:
        return names[0]
    dumps = [n for n in names if _suffix_format(n) is not None]
    if len(dumps) == 1:
        return dumps[0]
    listed = ", ".join(sorted(dumps or names)[:6])
    raise DumpError(
        f"{path.name}: the zip archive holds several files ({listed}); extract the one to ingest"
    )


def _suffix_format(name: str) -> str | None:
    parts = [p.lower() for p in Path(name).suffixes]
    if parts and parts[-1] in (".gz", ".gzip"):
        parts = parts[:-1]
    return _DUMP_SUFFIXES.get(parts[-1]) if parts else None


def _detect_format(path: Path, source: _Source, sample: bytes) -> str:
    if sample.startswith(b"PAR1"):
        return "parquet"
    name = source.member or source.inner_name
    by_suffix = _suffix_format(name)
    if by_suffix is not None:
        return by_suffix
    head = sample.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return "jsonl"
    if _SQL_HEAD_BYTES.search(sample) or head.startswith((b"-- MySQL dump", b"-- PostgreSQL")):
        return "sql"
    if _looks_binary(sample):
        raise DumpError(f"{path.name}: the content is binary, not a text dump")
    if _sniff_delimiter(sample.decode("utf-8", "replace")) is not None:
        return "csv"
    raise DumpError(f"{path.name}: unknown dump format (expected CSV, JSON Lines, Parquet or SQL)")


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    controls = sum(sample.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
    return controls > len(sample) // 100


def _detect_encoding(sample: bytes, complete: bool) -> str:
    """utf-8-sig / utf-8 if the sample decodes strictly as UTF-8, else cp1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _decode_sample(sample: bytes, encoding: str, complete: bool) -> str:
    codec = _python_codec(encoding)
    text = codecs.getincrementaldecoder(codec)().decode(sample, final=complete)
    text = text.removeprefix("\ufeff")
    if not complete:
        # the last line may be cut in the middle
        cut = text.rfind("\n")
        text = text[: cut + 1] if cut > 0 else text
    return text


#: A quoted field within one line (``""`` is an escaped quote): what a delimiter inside it is not.
_QUOTED_FIELD: Final = re.compile(r'"(?:[^"\r\n]|"")*"')


def _sniff_delimiter(text: str) -> str | None:
    """The delimiter among ; , TAB | that splits the first lines into equal, >1 field counts.

    Delimiters inside quoted fields do not count: a column of addresses quoted because they
    hold the delimiter ("12 rue X; bat B") made every data line look one field wider than the
    header, and the dump was read as one column.
    """
    lines = [_QUOTED_FIELD.sub("", line) for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        return None
    best: tuple[float, str] | None = None
    for rank, delimiter in enumerate(_DELIMITERS):
        counts = [line.count(delimiter) for line in lines]
        if counts[0] == 0:
            continue
        consistent = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = consistent * 1000 + counts[0] - rank * 0.01
        if consistent >= 0.5 and (best is None or score > best[0]):
            best = (score, delimiter)
    return best[1] if best else None


def _has_stray_quotes(text: str, delimiter: str, complete: bool = True) -> bool:
    """True if a field opens a quote that is not closed right before a delimiter or line end.

    In a sample cut from a longer file (``complete`` false), one quote left open with no quote
    after it is a field that goes on past the sample (a long value with line breaks in it), not
    a stray quote: turning quoting off for it split every quoted value of the rest of the file.
    """
    d = re.escape(delimiter)
    well_formed = re.compile(r"(?:^|(?<=" + d + r'))"(?:[^"]|"")*"(?=' + d + r"|\r?\n|\r|$)", re.M)
    rest = well_formed.sub("", text)
    openers = list(re.finditer(r"(?:^|" + d + r')"', rest, re.M))
    if not openers:
        return False
    last = openers[-1]
    return complete or len(openers) > 1 or '"' in rest[last.end() :]


_DATA_LIKE: Final = re.compile(r"^\s*(?:[^@\s]+@[^@\s]+|[+\d][\d\s./:-]{3,})\s*$")


def _open_csv(
    source: _Source, batch_rows: int, sample: bytes, encoding: str, complete: bool
) -> Dump:
    name = source.path.name
    text = _decode_sample(sample, encoding, complete)
    suffix = Path(source.member or source.inner_name).suffix.lower()
    delimiter = "\t" if suffix == ".tsv" and "\t" in text else _sniff_delimiter(text)
    if delimiter is None:
        delimiter = ","  # a one-column file
    quoting = not _has_stray_quotes(text, delimiter, complete)
    header_reader = csv.reader(
        io.StringIO(text),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    try:
        header = next(header_reader)
    except (StopIteration, csv.Error) as error:
        raise DumpError(f"{name}: no header row could be read") from error
    header = [cell.strip() for cell in header]
    if not any(header):
        raise DumpError(f"{name}: the header row is empty")
    data_like = sum(1 for cell in header if _DATA_LIKE.match(cell))
    if data_like and data_like * 2 >= len(header):
        raise DumpError(f"{name}: the first row holds data, not column names; add a header row")
    _check_width(name, len(header))
    columns = _unique_names(header)
    dump = Dump(
        source,
        "csv",
        batch_rows=batch_rows,
        columns=columns,
        encoding=encoding,
        delimiter=delimiter,
        quoting=quoting,
    )
    dump._csv_column_names = columns
    if not quoting:
        dump.notes.append("stray quotes in the first MiB: quoting is off")
    return dump


def _check_width(name: str, width: int) -> None:
    if width > MAX_COLUMNS:
        raise DumpError(
            f"{name}: {width:,} columns, more than the limit of {MAX_COLUMNS:,}; "
            "not an identity dump (or a broken header)"
        )


def _unique_names(header: list[str]) -> list[str]:
    """Column names with blanks named ``colN`` and duplicates suffixed ``_2``, ``_3``..."""
    seen: dict[str, int] = {}
    names = []
    for index, cell in enumerate(header, start=1):
        base = cell or f"col{index}"
        name = base
        while name in seen:
            seen[base] += 1
            name = f"{base}_{seen[base]}"
        seen[name] = 1
        names.append(name)
    return names


def _open_jsonl(
    source: _Source, batch_rows: int, sample: bytes, encoding: str, complete: bool
) -> Dump:
    if has_line_longer_than(sample) or b"\n" not in sample:
        # Sample whole lines, an over-long one left out (as a blank line): else one hostile line
        # at the top would leave no object in the sample and the dump unreadable.
        blocks: list[bytes] = []
        size = 0
        with CappedLines(source.open(), b"") as stream:
            while size < _SAMPLE_BYTES and (block := stream.next_block()):
                blocks.append(block)
                size += len(block)
            complete = not stream.next_block()
        sample = b"".join(blocks)
    text = _decode_sample(sample, encoding, complete)
    seen: dict[str, None] = {}
    string_only: dict[str, bool] = {}
    objects = 0
    for line in text.splitlines()[:_JSON_SAMPLE_LINES]:
        if not line.strip() or json_line_problem(line.encode("utf-8")) is not None:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(obj, dict):
            continue
        flat: dict[str, str | None] = {}
        _flatten_json(obj, "", flat)
        if len(flat) > MAX_COLUMNS:
            continue  # reported as malformed when read
        objects += 1
        for key in flat:
            if len(seen) < MAX_COLUMNS and len(key) <= MAX_NAME_CHARS:
                seen.setdefault(key, None)
        _note_string_leaves(obj, "", string_only)
    if not objects:
        raise DumpError(f"{source.path.name}: no JSON object found in the first lines")
    columns = list(seen)
    dump = Dump(source, "jsonl", batch_rows=batch_rows, columns=columns, encoding=encoding)
    dump._json_schema = _json_explicit_schema(columns, string_only)
    return dump


def _note_string_leaves(obj: dict[str, Any], prefix: str, out: dict[str, bool]) -> None:
    for key, value in obj.items():
        name = prefix + key
        if isinstance(value, dict):
            out[name] = out.get(name, True) and True
            _note_string_leaves(value, name + ".", out)
        else:
            out[name] = out.get(name, True) and (value is None or isinstance(value, str))


def _json_explicit_schema(columns: list[str], string_only: dict[str, bool]) -> pa.Schema:
    """Declare text leaves as strings so pyarrow does not turn "1980-01-02" into a timestamp.

    Only top-level keys whose whole subtree is text are declared; the rest is inferred.
    """
    tree: dict[str, Any] = {}
    for column in columns:
        node = tree
        parts = column.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(parts[-1], None)

    def all_text(prefix: str, node: dict[str, Any]) -> bool:
        return all(
            string_only.get(prefix + key, False)
            and (child is None or all_text(prefix + key + ".", child))
            for key, child in node.items()
        )

    def to_type(node: dict[str, Any] | None) -> pa.DataType:
        if node is None:
            return pa.string()
        return pa.struct([(key, to_type(child)) for key, child in node.items()])

    fields = []
    for key, child in tree.items():
        if string_only.get(key, False) and (child is None or all_text(key + ".", child)):
            fields.append((key, to_type(child)))
    return pa.schema(fields)


def _open_parquet(source: _Source, batch_rows: int) -> Dump:
    name = source.path.name
    closers: list[Callable[[], None]] = []
    try:
        if source.compression is None:
            handle: Any = source.path
        else:
            # Parquet needs random access: spool the decompressed file to disk, not to memory.
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by Dump.close
            with source.open() as stream:
                shutil.copyfileobj(stream, spool, _CHUNK_BYTES)
            spool.seek(0)
            handle = spool
            closers.append(spool.close)
        parquet = pq.ParquetFile(handle)
    except (OSError, EOFError, zlib.error, pa.ArrowException) as error:
        for closer in closers:
            closer()
        raise DumpError(f"{name}: the Parquet file is corrupt or truncated") from error
    columns = _flat_field_names(parquet.schema_arrow)
    if not columns:
        raise DumpError(f"{name}: the Parquet file has no column")
    if len(columns) > MAX_COLUMNS:
        parquet.close()
        for closer in closers:
            closer()
        _check_width(name, len(columns))
    dump = Dump(source, "parquet", batch_rows=batch_rows, columns=columns)
    dump._parquet = parquet
    dump._closers.extend([parquet.close, *closers])
    return dump


def _open_sql(
    source: _Source, batch_rows: int, table: str | None, sample: bytes, encoding: str
) -> Dump:
    name = source.path.name
    try:
        tables, has_copy = _survey_sql(source)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:
        raise DumpError(f"{name}: the compressed data is corrupt or truncated") from error
    with_data = {key: t for key, t in tables.items() if t.data_bytes}
    if not with_data:
        raise DumpError(f"{name}: no INSERT or COPY data found in the SQL dump")
    if table is not None:
        chosen = with_data.get(table.lower()) or with_data.get(_table_name(table).lower())
        if chosen is None:
            listed = ", ".join(t.name for t in with_data.values())
            raise DumpError(f"{name}: no data for table {table!r} (tables with data: {listed})")
    else:
        chosen = max(with_data.values(), key=lambda t: t.data_bytes)
    columns = chosen.columns or chosen.create_columns
    if not columns:
        if not chosen.first_width:
            raise DumpError(f"{name}: no column names or values found for table {chosen.name!r}")
        columns = [f"col{i}" for i in range(1, chosen.first_width + 1)]
    _check_width(name, len(columns))
    is_postgres = has_copy or b"PostgreSQL database dump" in sample
    dump = Dump(
        source,
        "sql-postgres" if is_postgres else "sql-mysql",
        batch_rows=batch_rows,
        columns=_unique_names(columns),
        encoding=encoding,
        table=chosen.name,
    )
    # PostgreSQL standard strings keep backslashes; MySQL treats them as escapes.
    dump._sql_backslash = not is_postgres
    if len(with_data) > 1:
        others = ", ".join(t.name for t in with_data.values() if t is not chosen)
        how = "as asked" if table is not None else "the largest; pass table= to choose another"
        dump.notes.append(
            f"the dump has several tables; reading {chosen.name!r} ({how}); others: {others}"
        )
    if not chosen.columns and not chosen.create_columns:
        dump.notes.append(f"no column names for table {chosen.name!r}: named col1..colN")
    return dump
