"""Writing a whole dump: chunks generated ahead in threads, written in order, then the truth."""

from __future__ import annotations

import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from verrou.synth.building import _Chunk
from verrou.synth.people import _generate_chunk
from verrou.synth.pools import _build_pools, _Pools
from verrou.synth.spec import (
    CHUNK_ROWS,
    COLUMN_KINDS,
    BrokenCell,
    ColumnTruth,
    Defect,
    DuplicateRow,
    GroundTruth,
    MalformedRecord,
    ProgressCallback,
    SynthSpec,
    truth_path,
)
from verrou.synth.writers import (
    _csv_lines,
    _jsonl_lines,
    _lines_bytes,
    _parquet_schema,
    _parquet_table,
    _sql_header,
    _sql_rows,
)


@dataclass
class _Rendered:
    """A chunk ready to write: its payload and the facts the ground truth needs."""

    rows: int
    payload: bytes | pa.Table
    non_blank: dict[str, int]
    broken: list[tuple[int, str, Defect]]
    malformed: list[tuple[int, Defect]]
    duplicates: list[tuple[int, int, str]]


def _render_chunk(spec: SynthSpec, pools: _Pools, chunk_no: int, first_row: int) -> _Rendered:
    """Generate and serialise one chunk. Depends only on (spec, chunk_no): safe to run ahead."""
    n = min(CHUNK_ROWS, spec.rows - first_row)
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, chunk_no]))
    chunk = _generate_chunk(spec, pools, rng, n, _FIRST_ACCOUNT_ID + chunk_no * _ACCOUNT_ID_SPAN)
    payload: bytes | pa.Table
    if spec.fmt == "csv":
        payload = _lines_bytes(_csv_lines(spec, chunk))
        if spec.encoding != "utf-8":
            payload = payload.decode("utf-8").encode(spec.encoding)
    elif spec.fmt == "jsonl":
        payload = _lines_bytes(_jsonl_lines(spec, chunk))
    elif spec.fmt == "sql":
        payload = _lines_bytes(_sql_rows(spec, chunk, first_row, spec.rows))
    else:
        payload = _parquet_table(spec, chunk)
    return _Rendered(
        rows=n,
        payload=payload,
        non_blank=_non_blank(spec, chunk),
        broken=chunk.broken,
        malformed=chunk.malformed,
        duplicates=chunk.duplicates,
    )


#: Account ids of chunk k start at ``_FIRST_ACCOUNT_ID + k * _ACCOUNT_ID_SPAN`` (gaps are < 40),
#: so chunks never depend on each other and can be generated concurrently.
_FIRST_ACCOUNT_ID = 10_000_000
_ACCOUNT_ID_SPAN = CHUNK_ROWS * 40
#: Chunks generated ahead of the writer (bounds memory; pyarrow and numpy release the GIL).
_WORKERS = 2
_IN_FLIGHT = 3


def write_dump(
    spec: SynthSpec, out: Path, on_progress: ProgressCallback | None = None
) -> GroundTruth:
    """Write a synthetic dump to ``out`` and its ground truth to ``<out>.truth.json``.

    The same spec (seed included) always gives byte-identical files. Memory stays bounded: rows
    are generated :data:`CHUNK_ROWS` at a time, two chunks in parallel, and written in order.
    ``on_progress`` receives the number of rows written so far after each chunk.
    """
    pools = _build_pools(spec.seed)
    columns = spec.columns
    non_blank = dict.fromkeys(columns, 0)
    invalid = dict.fromkeys(columns, 0)
    truth = GroundTruth(spec=spec, rows=spec.rows, columns={})

    parquet_writer: pq.ParquetWriter | None = None
    with open(out, "wb") as fh, ThreadPoolExecutor(max_workers=_WORKERS) as executor:
        if spec.fmt == "csv":
            fh.write((";".join(columns) + "\n").encode(spec.encoding))
        elif spec.fmt == "sql":
            fh.write(_sql_header(spec).encode("utf-8"))
        elif spec.fmt == "parquet":
            parquet_writer = pq.ParquetWriter(fh, _parquet_schema(spec), compression="snappy")

        starts = iter(enumerate(range(0, spec.rows, CHUNK_ROWS)))
        pending: deque[tuple[int, Future[_Rendered]]] = deque()
        written = 0
        while True:
            while len(pending) < _IN_FLIGHT:
                nxt = next(starts, None)
                if nxt is None:
                    break
                chunk_no, first_row = nxt
                pending.append(
                    (first_row, executor.submit(_render_chunk, spec, pools, chunk_no, first_row))
                )
            if not pending:
                break
            first_row, future = pending.popleft()
            rendered = future.result()
            if isinstance(rendered.payload, pa.Table):
                assert parquet_writer is not None
                parquet_writer.write_table(rendered.payload)
            else:
                fh.write(rendered.payload)
            _tally(rendered, first_row, non_blank, invalid, truth)
            written += rendered.rows
            if on_progress is not None:
                on_progress(written)

        if parquet_writer is not None:
            parquet_writer.close()
        elif spec.fmt == "sql":
            fh.write(b"UNLOCK TABLES;\n")

    for name in columns:
        kind, fld = COLUMN_KINDS[name]
        truth.columns[name] = ColumnTruth(
            kind=kind.value,
            field=fld,
            non_blank=non_blank[name],
            valid=non_blank[name] - invalid[name],
            invalid=invalid[name],
        )
    truth.rows_with_valid_identifier = truth.well_formed_rows
    truth_path(out).write_text(
        json.dumps(truth.to_json(), ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return truth


def _non_blank(spec: SynthSpec, chunk: _Chunk) -> dict[str, int]:
    """Non-blank cells per column over the chunk's well-formed records."""
    kept = np.ones(len(chunk.ids), dtype=bool)
    for i, _ in chunk.malformed:
        kept[i] = False
    kept_arr = pa.array(kept)
    counts: dict[str, int] = {}
    for name in spec.columns:
        arr = chunk.columns[name]
        present = pc.and_(pc.is_valid(arr), pc.not_equal(pc.fill_null(arr, ""), ""))
        counts[name] = int(pc.sum(pc.and_(present, kept_arr)).as_py() or 0)
    return counts


def _tally(
    rendered: _Rendered,
    offset: int,
    non_blank: dict[str, int],
    invalid: dict[str, int],
    truth: GroundTruth,
) -> None:
    for name, count in rendered.non_blank.items():
        non_blank[name] += count
    for i, column, defect in rendered.broken:
        invalid[column] += 1
        truth.broken_cells.append(BrokenCell(row=offset + i + 1, column=column, defect=defect))
    truth.malformed.extend(
        MalformedRecord(row=offset + i + 1, defect=d) for i, d in rendered.malformed
    )
    truth.duplicates.extend(
        DuplicateRow(row=offset + j + 1, of_row=offset + i + 1, variant=v)
        for j, i, v in rendered.duplicates
    )
