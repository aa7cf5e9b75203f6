"""The opened dump the pipeline reads: detection at open, then batches cut from the pieces of the
format's reader on record-number boundaries."""

from __future__ import annotations

import codecs
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa

from verrou.errors import DumpError
from verrou.ingest.readers.base import (
    _SAMPLE_BYTES,
    DumpBatch,
    DumpInfo,
    FormatReader,
    Malformed,
    RecordSpan,
    _Piece,
    _Recnums,
)
from verrou.ingest.readers.delimited import CsvReader, _open_csv
from verrou.ingest.readers.detect import (
    _detect_encoding,
    _detect_format,
    _looks_binary,
    _resolve_source,
)
from verrou.ingest.readers.jsonl import JsonlReader, _open_jsonl
from verrou.ingest.readers.parquet import ParquetReader, _open_parquet
from verrou.ingest.readers.sql import SqlReader, _open_sql


class Dump:
    """An opened dump: its format, encoding and columns, and a way to stream its records."""

    def __init__(self, info: DumpInfo, reader: FormatReader) -> None:
        self.info = info
        self._reader = reader
        self.path: Path = info.source.path
        self.compression: str | None = info.source.compression
        self._open_iterators: list[Iterator[RecordSpan] | Iterator[DumpBatch]] = []

    @property
    def format(self) -> str:
        """``csv``, ``jsonl``, ``parquet``, ``sql-mysql`` or ``sql-postgres``."""
        return self.info.format

    @property
    def encoding(self) -> str | None:
        """The text encoding; becomes ``utf-8+cp1252`` if a later part is not UTF-8."""
        return self.info.encoding

    @property
    def delimiter(self) -> str | None:
        """The CSV delimiter."""
        return self.info.delimiter

    @property
    def quoting(self) -> bool | None:
        """Whether CSV quoting is on (it may turn off part-way)."""
        return self.info.quoting

    @property
    def columns(self) -> list[str]:
        """Column names (dotted paths for nested JSON and Parquet)."""
        return self.info.columns

    @property
    def table(self) -> str | None:
        """The SQL table read."""
        return self.info.table

    @property
    def batch_rows(self) -> int:
        """Most rows in a batch."""
        return self.info.batch_rows

    @property
    def notes(self) -> list[str]:
        """Human sentences about choices made while reading (never row content)."""
        return self.info.notes

    @property
    def unseen_keys(self) -> set[str]:
        """JSON keys met after the leading sample, not among ``columns`` (values dropped)."""
        return self.info.unseen_keys

    # -- public API --

    def spans(self, *, skip_records: int = 0) -> Iterator[RecordSpan]:
        """Stream the dump's records as spans of ``batch_rows`` record numbers (the batches of
        an ingest): where batches are cut, once (see the package docstring).

        ``skip_records`` resumes after a crash: records ``1 .. skip_records`` are not returned
        (neither as rows nor as malformed entries). Raises :class:`DumpError` if the file turns out
        to be corrupt part-way (truncated archive, undecodable content).
        """
        if skip_records < 0:
            raise ValueError("skip_records must be >= 0")
        iterator = self._guarded(self._cut(self._reader.pieces(skip_records), skip_records))
        self._open_iterators.append(iterator)
        return iterator

    def batches(self, *, skip_records: int = 0) -> Iterator[DumpBatch]:
        """Stream the dump's records as batches of at most ``batch_rows`` consecutive records:
        each span of :meth:`spans` split at its malformed records (slices, not copies).

        ``skip_records`` and errors are as for :meth:`spans`.
        """
        spans = self.spans(skip_records=skip_records)
        iterator = (batch for span in spans for batch in span.batches())
        self._open_iterators.append(iterator)
        return iterator

    def close(self) -> None:
        """Release open files (iterators still running are closed too)."""
        for iterator in self._open_iterators:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        self._open_iterators.clear()
        self._reader.close()

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

    def _guarded(self, spans: Iterator[RecordSpan]) -> Iterator[RecordSpan]:
        last = 0
        try:
            for span in spans:
                last = span.delivered_through
                yield span
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

    def _cut(self, pieces: Iterator[_Piece], skip: int) -> Iterator[RecordSpan]:
        """Cut pieces into spans on record-number boundaries (see the package docstring)."""
        size = self.info.batch_rows
        schema = self.info.schema
        span_end = (skip // size + 1) * size
        held: list[pa.RecordBatch] = []
        held_records: list[_Recnums] = []
        held_malformed: list[Malformed] = []

        def flush() -> Iterator[RecordSpan]:
            if not held and not held_malformed:
                return
            malformed = sorted(held_malformed, key=lambda m: m.row)
            held_malformed.clear()
            if held:
                table = pa.Table.from_batches(held, schema=schema).combine_chunks()
                whole = table.to_batches()[0] if table.num_rows else self.info.empty()
                records = np.concatenate(held_records)
            else:
                whole, records = self.info.empty(), np.zeros(0, dtype=np.int64)
            held.clear()
            held_records.clear()
            yield RecordSpan(whole, records, malformed)

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
                yield from flush()
                span_end += size
        yield from flush()


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
    reader: CsvReader | JsonlReader | ParquetReader | SqlReader
    if kind == "parquet":
        reader = _open_parquet(source, batch_rows)
        return Dump(reader.info, reader)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DumpError(f"{path.name}: UTF-16 text is not supported; re-export it as UTF-8")
    if _looks_binary(sample):
        raise DumpError(f"{path.name}: the content is binary, not a text dump")
    encoding = _detect_encoding(sample, complete)
    if kind == "jsonl":
        reader = _open_jsonl(source, batch_rows, sample, encoding, complete)
    elif kind == "sql":
        reader = _open_sql(source, batch_rows, table, sample, encoding)
    else:
        reader = _open_csv(source, batch_rows, sample, encoding, complete)
    return Dump(reader.info, reader)
