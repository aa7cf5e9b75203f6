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
    Batch boundaries depend only on record numbers, and are cut in one place
    (``Dump.spans``): a span holds the records from one multiple of ``batch_rows`` to the next,
    its rows with their record numbers and its malformed records; the ingest takes one span per
    batch. ``Dump.batches`` splits each span at its malformed records, so a batch never crosses a
    multiple of ``batch_rows`` and never contains a malformed record (its rows are consecutive
    records, so row *i* is record ``first_row + i``). The malformed records just before a batch's
    first row are attached to it; malformed records at the very end come in a last batch with no
    rows. So a read resumed with ``skip_records=k`` yields, from the next multiple of
    ``batch_rows`` on, exactly the spans and batches of an uninterrupted read.

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

from verrou.ingest.readers.base import DumpBatch, FormatReader, Malformed, RecordSpan
from verrou.ingest.readers.dump import Dump, open_dump
from verrou.ingest.readers.sql_scanner import _SqlScanner

__all__ = [
    "Dump",
    "DumpBatch",
    "FormatReader",
    "Malformed",
    "RecordSpan",
    "_SqlScanner",
    "open_dump",
]
