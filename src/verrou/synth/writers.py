"""Serialising a chunk per format: CSV and JSON Lines lines, SQL INSERT rows, Parquet tables."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from verrou.synth.building import _Chunk, _join
from verrou.synth.defects import _set_cells
from verrou.synth.spec import SQL_ROWS_PER_INSERT, SQL_TABLE, Defect, SynthSpec


def _lines_bytes(lines: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a non-null string array."""
    lines = pa.concat_arrays([lines]) if lines.offset else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    data = lines.buffers()[2]
    return data.slice(start, end - start).to_pybytes() if data is not None else b""


def _csv_lines(spec: SynthSpec, chunk: _Chunk) -> pa.Array:
    cols = [chunk.columns[c] for c in spec.columns]
    lines = pc.binary_join_element_wise(*cols, ";", null_handling="replace", null_replacement="")
    if chunk.malformed:
        nom_at = spec.columns.index("nom")
        updates: dict[int, str] = {}
        for i, defect in chunk.malformed:
            parts = [c[i].as_py() or "" for c in cols]
            if defect == Defect.MALFORMED_EXTRA_FIELD:
                # A family name exported with an unquoted separator in it.
                parts[nom_at] = (
                    parts[nom_at].replace("-", ";", 1)
                    if "-" in parts[nom_at]
                    else (parts[nom_at] + "; ")
                )
            else:
                parts = parts[:-1]
            updates[i] = ";".join(parts)
        lines = _set_cells(lines, updates)
    return _join(lines, "\n")


def _json_value(arr: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
    return pc.fill_null(_join('"', escaped, '"'), "null")


def _jsonl_lines(spec: SynthSpec, chunk: _Chunk) -> pa.Array:
    c = chunk.columns
    parts: list[pa.Array | str] = ['{"id_compte":', pc.cast(pa.array(chunk.ids), pa.string())]
    for name in spec.columns:
        if name == "id_compte":
            continue
        if name == "email":
            parts += [',"contact":{"email":', _json_value(c["email"])]
        elif name == "telephone":
            parts += [',"telephone":', _json_value(c["telephone"]), "}"]
        else:
            parts += [f',"{name}":', _json_value(c[name])]
    parts.append("}\n")
    return _join(*parts)


def _sql_value(arr: pa.Array) -> pa.Array:
    escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), "'", "\\'")
    return pc.fill_null(_join("'", escaped, "'"), "NULL")


def _sql_rows(spec: SynthSpec, chunk: _Chunk, first_row: int, total: int) -> pa.Array:
    n = len(chunk.ids)
    values: list[pa.Array | str] = [pc.cast(pa.array(chunk.ids), pa.string())]
    for name in spec.columns[1:]:
        values += [",", _sql_value(chunk.columns[name])]
    pos = first_row + np.arange(n)
    opens = pos % SQL_ROWS_PER_INSERT == 0
    closes = (pos % SQL_ROWS_PER_INSERT == SQL_ROWS_PER_INSERT - 1) | (pos == total - 1)
    head = pc.if_else(pa.array(opens), f"INSERT INTO `{SQL_TABLE}` VALUES (", "(")
    tail = pc.if_else(pa.array(closes), ");\n", "),")
    return _join(head, *values, tail)


def _sql_header(spec: SynthSpec) -> str:
    defs = ["  `id_compte` bigint NOT NULL"]
    defs += [f"  `{c}` varchar(255) DEFAULT NULL" for c in spec.columns[1:]]
    body = ",\n".join(defs)
    return (
        "-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n"
        "--\n-- Host: localhost    Database: ants_comptes\n"
        "-- ------------------------------------------------------\n"
        "/*!40101 SET NAMES utf8mb4 */;\n\n"
        f"DROP TABLE IF EXISTS `{SQL_TABLE}`;\n"
        f"CREATE TABLE `{SQL_TABLE}` (\n{body}\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"
        f"LOCK TABLES `{SQL_TABLE}` WRITE;\n"
    )


def _parquet_table(spec: SynthSpec, chunk: _Chunk) -> pa.Table:
    arrays = [pa.array(chunk.ids, pa.int64())] + [chunk.columns[c] for c in spec.columns[1:]]
    return pa.Table.from_arrays(arrays, schema=_parquet_schema(spec))


def _parquet_schema(spec: SynthSpec) -> pa.Schema:
    return pa.schema(
        [pa.field("id_compte", pa.int64(), nullable=False)]
        + [pa.field(c, pa.string()) for c in spec.columns[1:]]
    )
