"""Detection: where a dump's bytes are (plain, gzip, zip member), its format, its encoding, and
for CSV its delimiter and whether quoting can be trusted."""

from __future__ import annotations

import codecs
import re
import zipfile
from pathlib import Path
from typing import Final

from verrou.errors import DumpError
from verrou.ingest.readers.base import _Source
from verrou.ingest.readers.lenient_codecs import _python_codec
from verrou.ingest.readers.sql_scanner import _SQL_HEAD_BYTES

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
