"""Parquet dumps: row group by row group, every column as text, nested structs flattened."""

from __future__ import annotations

import json
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from verrou.errors import DumpError
from verrou.ingest.limits import MAX_COLUMNS, MAX_RECORD_BYTES, overlong_reason
from verrou.ingest.readers.base import (
    _CHUNK_BYTES,
    DumpInfo,
    Malformed,
    _blank_to_null,
    _bools,
    _check_width,
    _Piece,
    _Recnums,
    _Source,
)
from verrou.ingest.readers.lenient_codecs import _FALLBACK_ERRORS, register_codecs


class ParquetReader:
    """Records of a Parquet dump; a row group that cannot be decoded makes its rows malformed."""

    def __init__(
        self, info: DumpInfo, parquet: pq.ParquetFile, closers: list[Callable[[], None]]
    ) -> None:
        self.info = info
        self._parquet = parquet
        self._closers = closers

    def close(self) -> None:
        """Close the Parquet file (and the spooled copy of a compressed one)."""
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()

    def pieces(self, skip: int) -> Iterator[_Piece]:
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
                    batch_size=self.info.batch_rows, row_groups=[index], use_threads=False
                ):
                    n = batch.num_rows
                    records = np.arange(record + 1, record + n + 1, dtype=np.int64)
                    record += n
                    yield _parquet_piece(_parquet_strings(batch, self.info.schema), records)
            except (OSError, pa.ArrowException) as error:
                reason = f"Parquet row group {index + 1} cannot be decoded ({type(error).__name__})"
                while record < group_end:
                    upto = min(group_end, record + self.info.batch_rows)
                    lost = [Malformed(r, reason) for r in range(record + 1, upto + 1)]
                    yield _Piece(self.info.empty(), np.zeros(0, dtype=np.int64), lost, upto)
                    record = upto
            record = group_end


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
                register_codecs()
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


def _open_parquet(source: _Source, batch_rows: int) -> ParquetReader:
    """Open a Parquet dump (spooled to a temporary file if compressed) and read its schema."""
    name = source.path.name
    closers: list[Callable[[], None]] = []
    try:
        if source.compression is None:
            handle: Any = source.path
        else:
            # Parquet needs random access: spool the decompressed file to disk, not to memory.
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by ParquetReader.close
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
    info = DumpInfo(source, "parquet", columns, batch_rows)
    return ParquetReader(info, parquet, [parquet.close, *closers])
