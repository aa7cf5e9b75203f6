"""JSON Lines dumps: chunks of whole lines through pyarrow.json, or line by line when a chunk may
hold a hostile or oddly typed document."""

from __future__ import annotations

import codecs
import io
import json
import re
import secrets
from collections.abc import Iterator
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from verrou.errors import DumpError
from verrou.ingest.limits import (
    MAX_COLUMNS,
    MAX_NAME_CHARS,
    TOO_MANY_KEYS_REASON,
    CappedLines,
    has_line_longer_than,
    json_chunk_needs_checks,
    json_line_problem,
    overlong_reason,
)
from verrou.ingest.readers.base import (
    _CHUNK_BYTES,
    _SAMPLE_BYTES,
    DumpInfo,
    Malformed,
    _blank_to_null,
    _is_utf8,
    _Piece,
    _Source,
)
from verrou.ingest.readers.detect import _decode_sample
from verrou.ingest.readers.lenient_codecs import _CP1252_LENIENT, _UTF8_FALLBACK, register_codecs

_JSON_SAMPLE_LINES: Final = 2000


class JsonlReader:
    """Records of a JSON Lines dump, flattened to the dotted columns found in its leading lines."""

    def __init__(self, info: DumpInfo, json_schema: pa.Schema) -> None:
        self.info = info
        self._json_schema = json_schema
        #: Stands for a line over MAX_RECORD_BYTES (see CappedLines); random, so a dump cannot
        #: forge it.
        self._overlong = b"\x1fverrou-overlong-" + secrets.token_hex(8).encode()

    def close(self) -> None:
        """Nothing to release: each pass opens and closes its own stream."""

    def pieces(self, skip: int) -> Iterator[_Piece]:
        record = 0
        # Whole lines only, and an over-long line replaced by the marker (never buffered whole).
        with CappedLines(self.info.source.open(), self._overlong) as stream:
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
        if self.info.encoding == "cp1252":
            register_codecs()
            chunk = codecs.decode(chunk, _CP1252_LENIENT).encode("utf-8")
        else:
            if not _is_utf8(chunk):
                register_codecs()
                chunk = codecs.decode(chunk, _UTF8_FALLBACK).encode("utf-8")
                if self.info.encoding != "utf-8+cp1252":
                    self.info.encoding = "utf-8+cp1252"
                    self.info.notes.append(
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
            if name not in self.info.schema.names:
                self.info.note_unseen(name)
        for name in self.info.columns:
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
        return pa.record_batch(combined, schema=self.info.schema)

    def _json_python(self, chunk: bytes, before: int) -> _Piece:
        """Per-line fallback: any line that is not a JSON object becomes a Malformed entry."""
        values: dict[str, list[str | None]] = {name: [] for name in self.info.columns}
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
                    self.info.note_unseen(key)
            for name, column in values.items():
                column.append(flat.get(name))
            records.append(number)
        batch = pa.record_batch(
            [pa.array(values[name], pa.string()) for name in self.info.columns],
            schema=self.info.schema,
        )
        return _Piece(batch, np.asarray(records, dtype=np.int64), malformed, number)


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


def _open_jsonl(
    source: _Source, batch_rows: int, sample: bytes, encoding: str, complete: bool
) -> JsonlReader:
    """Sample the leading objects of a JSON Lines dump for its columns and text leaves."""
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
    info = DumpInfo(source, "jsonl", columns, batch_rows, encoding=encoding)
    return JsonlReader(info, _json_explicit_schema(columns, string_only))


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
