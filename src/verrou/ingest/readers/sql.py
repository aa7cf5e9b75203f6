"""SQL dumps (mysqldump INSERTs, pg_dump COPY or INSERTs): the rows of one table."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from verrou.errors import DumpError
from verrou.ingest.readers.base import (
    DumpInfo,
    Malformed,
    _check_width,
    _Piece,
    _Source,
    _unique_names,
)
from verrou.ingest.readers.lenient_codecs import _python_codec
from verrou.ingest.readers.sql_scanner import _SqlRun, _SqlScanner, _survey_sql, _table_name


class SqlReader:
    """Records of one table of an SQL dump: its INSERT tuples or COPY lines."""

    def __init__(self, info: DumpInfo, *, backslash: bool) -> None:
        self.info = info
        self._backslash = backslash

    def close(self) -> None:
        """Nothing to release: each pass opens and closes its own stream."""

    def pieces(self, skip: int) -> Iterator[_Piece]:
        scanner = _SqlScanner(
            self.info.source,
            _python_codec(self.info.encoding or "utf-8"),
            self.info.table or "",
            self.info.schema,
            backslash=self._backslash,
        )
        rows: list[list[str | None]] = []
        records: list[int] = []
        malformed: list[Malformed] = []
        piece_rows = max(1024, min(self.info.batch_rows, 65536))

        def piece(end: int) -> _Piece:
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.info.columns]
            batch = pa.record_batch(
                [pa.array(list(c), pa.string()) for c in columns], schema=self.info.schema
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
            self.info.notes.append("the COPY block was not ended by \\. (file cut short?)")


def _open_sql(
    source: _Source, batch_rows: int, table: str | None, sample: bytes, encoding: str
) -> SqlReader:
    """Survey an SQL dump and pick the table to read (``table``, else the one with most data)."""
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
    info = DumpInfo(
        source,
        "sql-postgres" if is_postgres else "sql-mysql",
        _unique_names(columns),
        batch_rows,
        encoding=encoding,
        table=chosen.name,
    )
    if len(with_data) > 1:
        others = ", ".join(t.name for t in with_data.values() if t is not chosen)
        how = "as asked" if table is not None else "the largest; pass table= to choose another"
        info.notes.append(
            f"the dump has several tables; reading {chosen.name!r} ({how}); others: {others}"
        )
    if not chosen.columns and not chosen.create_columns:
        info.notes.append(f"no column names for table {chosen.name!r}: named col1..colN")
    # PostgreSQL standard strings keep backslashes; MySQL treats them as escapes.
    return SqlReader(info, backslash=not is_postgres)
