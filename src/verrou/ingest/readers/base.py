"""What every format reader shares: record types, the byte source, the reader protocol."""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from verrou.errors import DumpError
from verrou.ingest.limits import MAX_COLUMNS, MAX_NAME_CHARS

_SAMPLE_BYTES: Final = 1 << 20
_CHUNK_BYTES: Final = 4 << 20
_Recnums = npt.NDArray[np.int64]


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


@dataclass(frozen=True, slots=True)
class RecordSpan:
    """The records of one span of ``batch_rows`` record numbers (the last span, and the first
    after a resume, may be shorter), as an ingest batch: cut once, on record-number boundaries.

    Row *i* of ``batch`` is record ``records[i]``; the records missing between them are the
    ``malformed`` ones (sorted). Empty spans are never made.
    """

    batch: pa.RecordBatch
    records: _Recnums
    malformed: list[Malformed]

    @property
    def last(self) -> int:
        """The highest record number the span accounts for (a row or a malformed record)."""
        last_row = int(self.records[-1]) if self.records.size else 0
        return max(last_row, self.malformed[-1].row) if self.malformed else last_row

    @property
    def delivered_through(self) -> int:
        """The record before which :meth:`batches` has handed out everything: the last row, or
        the record before the malformed ones that come after it."""
        last_row = int(self.records[-1]) if self.records.size else 0
        tail = [m.row for m in self.malformed if m.row > last_row]
        return tail[0] - 1 if tail else last_row

    def batches(self) -> Iterator[DumpBatch]:
        """The span as batches of consecutive records (slices of ``batch``), each with the
        malformed records just before it; malformed records after the last row come in a last
        batch with no rows."""
        records, malformed = self.records, self.malformed
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
            yield DumpBatch(self.batch.slice(lo, hi - lo), first, mine)
        if m < len(malformed):
            yield DumpBatch(_no_rows(self.batch.schema), malformed[m].row, malformed[m:])


def _no_rows(schema: pa.Schema) -> pa.RecordBatch:
    return pa.record_batch([pa.array([], f.type) for f in schema], schema=schema)


@dataclass(slots=True)
class _Piece:
    """What a format reader hands to the re-chunker: rows with their record numbers.

    ``end`` is the last record number the piece accounts for (rows and malformed records).
    """

    batch: pa.RecordBatch
    records: _Recnums
    malformed: list[Malformed]
    end: int


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


@dataclass(slots=True)
class DumpInfo:
    """What is known of an opened dump. Readers update ``encoding``, ``quoting``, ``notes`` and
    ``unseen_keys`` as they read (see :class:`~verrou.ingest.readers.Dump`)."""

    source: _Source
    format: str
    columns: list[str]
    batch_rows: int
    encoding: str | None = None
    delimiter: str | None = None
    quoting: bool | None = None
    table: str | None = None
    #: Human sentences about choices made while reading (never row content).
    notes: list[str] = field(default_factory=list)
    #: JSON keys met after the leading sample, not among ``columns`` (their values are dropped).
    unseen_keys: set[str] = field(default_factory=set)
    schema: pa.Schema = field(init=False)

    def __post_init__(self) -> None:
        self.schema = pa.schema([(name, pa.string()) for name in self.columns])

    def empty(self) -> pa.RecordBatch:
        """A batch with the dump's columns and no row."""
        return _no_rows(self.schema)

    def note_unseen(self, key: str) -> None:
        """Remember a JSON key that is not a column."""
        # bounded: a hostile dump could bring new keys on every line
        if len(self.unseen_keys) < MAX_COLUMNS and len(key) <= MAX_NAME_CHARS:
            self.unseen_keys.add(key)


class FormatReader(Protocol):
    """One format's way to read a dump: its records as pieces, in record order."""

    def pieces(self, skip: int) -> Iterator[_Piece]:
        """Pieces of the records after ``skip`` (earlier ones may come too; they are dropped)."""
        ...

    def close(self) -> None:
        """Release what the reader holds open beyond one call of :meth:`pieces`."""
        ...


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
