"""Hostile dumps: a record built to crash, stop or swamp the reader is one malformed row.

Each test is named after the bug it pins (hardening issue, item 3). Small representatives are
stored under ``tests/data/hostile/dumps/`` (the large ones gzip-compressed, a few KiB); files of
tens of MiB are written into ``tmp_path``. Reads that once crashed the process (deep nesting) run
in a subprocess, so a segmentation fault fails the test instead of killing the test run.

Every hostile record carries :data:`SECRET`, an identifier that must never appear in a reason, a
note or a rejects report.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verrou.errors import DumpError
from verrou.fingerprints import Fingerprinter
from verrou.ingest.limits import (
    MAX_COLUMNS,
    MAX_JSON_DEPTH,
    MAX_RECORD_BYTES,
    TOO_DEEP_REASON,
    TOO_MANY_KEYS_REASON,
    CappedLines,
    has_line_longer_than,
    json_chunk_needs_checks,
    json_line_problem,
)
from verrou.ingest.pipeline import IngestOptions, IngestReport, ingest_dump
from verrou.ingest.readers import Malformed, open_dump
from verrou.store import open_store

HOSTILE = Path(__file__).parent / "data" / "hostile" / "dumps"
SECRET = "victim.secret@example.fr"
GOOD = [
    ("alice.martin@example.fr", "MARTIN"),
    ("bob.durand@example.fr", "DURAND"),
    ("chloe.petit@example.fr", "PETIT"),
]
MIB = 1 << 20
LIMIT_TEXT = f"{MAX_RECORD_BYTES:,} bytes"
LIMIT_CHARS = f"{MAX_RECORD_BYTES:,} characters"  # SQL is measured decoded


# --- helpers ----------------------------------------------------------------------------------


def read(
    path: Path, **kwargs: Any
) -> tuple[list[dict[str, str | None]], list[int], list[Malformed]]:
    """Rows, their record numbers and the malformed records of a dump, read in this process."""
    with open_dump(path, **kwargs) as dump:
        batches = list(dump.batches())
        notes = " ".join(dump.notes)
    assert SECRET not in notes
    rows = [row for b in batches for row in b.batch.to_pylist()]
    numbers = [b.first_row + i for b in batches for i in range(b.batch.num_rows)]
    malformed = [m for b in batches for m in b.malformed]
    for item in malformed:
        assert SECRET not in item.reason and "xxxx" not in item.reason
    return rows, numbers, malformed


_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from verrou.ingest.readers import open_dump

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows, numbers, malformed = [], [], []
    with open_dump(Path(sys.argv[1]), batch_rows=int(sys.argv[2])) as dump:
        for b in dump.batches():
            rows += b.batch.column(0).to_pylist()
            numbers += [b.first_row + i for i in range(b.batch.num_rows)]
            malformed += [[m.row, m.reason] for m in b.malformed]
        notes = dump.notes
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"first_column": rows, "numbers": numbers, "malformed": malformed,
                      "notes": notes, "grown_kib": grown}))
    """
)


def read_in_subprocess(path: Path, batch_rows: int = 1000) -> dict[str, Any]:
    """Read a dump in a child process; fails (not crashes) on a segmentation fault."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(batch_rows)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    if path.stat().st_size > 16 * MIB:
        path.unlink()  # a generated file of 100 MiB: do not keep it in pytest's kept temp dirs
    assert done.returncode == 0, f"reader died with {done.returncode}: {done.stderr[-2000:]}"
    assert SECRET not in done.stdout and SECRET not in done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def write_chunks(path: Path, parts: Iterator[bytes]) -> Path:
    """Write a large file piece by piece (the test itself must not hold it)."""
    with path.open("wb") as handle:
        for part in parts:
            handle.write(part)
    return path


def filler(size: int, piece: bytes = b"x") -> Iterator[bytes]:
    """``size`` bytes of ``piece`` repeated, in 1 MiB writes, starting with the secret."""
    yield SECRET.encode()
    block = piece * (MIB // len(piece))
    left = size
    while left > 0:
        yield block[:left]
        left -= len(block)


def good_emails() -> list[str]:
    return [email for email, _ in GOOD]


# --- JSON Lines: deep nesting -----------------------------------------------------------------


def nested_jsonl(depth: int, opener: str = '{"a":', closer: str = "}") -> bytes:
    deep = opener * depth + f'"{SECRET}"' + closer * depth
    lines = [json.dumps({"email": e, "nom": n}) for e, n in GOOD]
    lines.insert(1, f'{{"email":"{SECRET}","nom":{deep}}}')
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize(
    "name",
    [
        "jsonl_nested_100_levels.jsonl",
        "jsonl_nested_1000_levels.jsonl",
        "jsonl_nested_100000_levels.jsonl.gz",
    ],
)
def test_jsonl_nested_100_1000_100000_levels_is_one_malformed_row(name: str) -> None:
    result = read_in_subprocess(HOSTILE / name)
    assert result["first_column"] == good_emails()
    assert result["numbers"] == [1, 3, 4]
    assert result["malformed"] == [[2, TOO_DEEP_REASON]]
    assert str(MAX_JSON_DEPTH) in TOO_DEEP_REASON


@pytest.mark.parametrize(
    ("depth", "opener", "closer"),
    [(50_000, '{"a":', "}"), (100_000, "[", "]"), (100_000, '[{"a":', "}]")],
)
def test_jsonl_nested_50000_levels_is_one_malformed_row(
    tmp_path: Path, depth: int, opener: str, closer: str
) -> None:
    # 2,500 ordinary lines first: the deep line is past the opening sample and reaches the
    # pyarrow path, whose C parser overflowed its stack (a segmentation fault) at ~50,000 levels.
    head = "".join(
        json.dumps({"email": f"u{i}@example.fr", "nom": "N"}) + "\n" for i in range(2500)
    )
    path = tmp_path / "deep.jsonl"
    path.write_bytes(head.encode() + nested_jsonl(depth, opener, closer))
    result = read_in_subprocess(path)
    assert result["malformed"] == [[2502, TOO_DEEP_REASON]]
    assert len(result["numbers"]) == 2500 + 3
    assert result["first_column"][-3:] == good_emails()


def test_jsonl_at_the_depth_limit_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "limit.jsonl"
    # the object holding "nom" is level 1: MAX_JSON_DEPTH levels in all
    path.write_bytes(nested_jsonl(MAX_JSON_DEPTH - 1))
    rows, numbers, malformed = read(path)
    assert malformed == []
    assert numbers == [1, 2, 3, 4]
    assert rows[1]["email"] == SECRET
    path.write_bytes(nested_jsonl(MAX_JSON_DEPTH))
    _, numbers, malformed = read(path)
    assert malformed == [Malformed(2, TOO_DEEP_REASON)]
    assert numbers == [1, 3, 4]


def test_brackets_inside_json_strings_do_not_count_as_depth(tmp_path: Path) -> None:
    path = tmp_path / "brackets.jsonl"
    lines = [json.dumps({"email": e, "nom": "[{" * 500}) for e in good_emails()]
    path.write_text("\n".join(lines) + "\n")
    rows, _, malformed = read(path)
    assert malformed == []
    assert [r["nom"] for r in rows] == ["[{" * 500] * 3


def test_jsonl_object_with_100000_keys_is_one_malformed_row(tmp_path: Path) -> None:
    wide = "{" + ",".join(f'"{i:x}":1' for i in range(100_000)) + f',"email":"{SECRET}"}}'
    assert len(wide) < MAX_RECORD_BYTES
    lines = [json.dumps({"email": e, "nom": n}) for e, n in GOOD]
    # once in the sample, once past it (2,500 lines later): neither may add 100,000 columns
    body = [lines[0], wide, *[lines[1]] * 2500, wide, lines[2]]
    path = tmp_path / "wide.jsonl"
    path.write_text("\n".join(body) + "\n")
    with open_dump(path) as dump:
        assert dump.columns == ["email", "nom"]
    rows, numbers, malformed = read(path)
    assert malformed == [Malformed(2, TOO_MANY_KEYS_REASON), Malformed(2503, TOO_MANY_KEYS_REASON)]
    assert len(rows) == 2502 and numbers[:2] == [1, 3]
    assert str(MAX_COLUMNS) in TOO_MANY_KEYS_REASON.replace(",", "")


def test_jsonl_key_of_500kib_is_not_a_column_nor_kept(tmp_path: Path) -> None:
    odd = json.dumps({"email": GOOD[0][0], SECRET + "k" * (500 << 10): "x"})
    lines = [json.dumps({"email": e, "nom": n}) for e, n in GOOD]
    # the key in the sample, and once more 2,500 lines later
    body = [lines[0], odd, *[lines[1]] * 2500, odd, lines[2]]
    path = tmp_path / "key.jsonl"
    path.write_text("\n".join(body) + "\n")
    with open_dump(path) as dump:
        assert dump.columns == ["email", "nom"]
        rows = sum(b.batch.num_rows for b in dump.batches())
        assert dump.unseen_keys == set()
    assert rows == len(body)


def test_jsonl_line_of_100mib_without_newline_is_one_malformed_row_in_bounded_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.jsonl"
    good = [json.dumps({"email": e, "nom": n}).encode() + b"\n" for e, n in GOOD]

    def parts() -> Iterator[bytes]:
        yield good[0]
        yield b'{"email":"'
        yield from filler(100 * MIB)
        yield b'"}\n'
        yield from good[1:]

    write_chunks(path, parts())
    result = read_in_subprocess(path)
    assert result["malformed"] == [[2, f"line longer than the limit of {LIMIT_TEXT}"]]
    assert result["first_column"] == good_emails()
    assert result["numbers"] == [1, 3, 4]
    # the line is never held whole (100 MiB), let alone twice
    assert result["grown_kib"] < 48 * 1024


def test_jsonl_hostile_first_line_still_leaves_the_columns_readable(tmp_path: Path) -> None:
    path = tmp_path / "first.jsonl"
    good = "".join(json.dumps({"email": e, "nom": n}) + "\n" for e, n in GOOD)
    write_chunks(path, iter([b'{"email":"', *filler(3 * MIB), b'"}\n', good.encode()]))
    rows, numbers, malformed = read(path)
    assert [r["email"] for r in rows] == good_emails()
    assert numbers == [2, 3, 4]
    assert [m.row for m in malformed] == [1]


# --- CSV -----------------------------------------------------------------------------------------


def csv_with_big_field(size: int) -> Iterator[bytes]:
    yield b"email;nom\n"
    yield f"{GOOD[0][0]};{GOOD[0][1]}\n".encode()
    yield f"{SECRET};".encode()
    yield from filler(size)
    yield b"\n"
    yield "".join(f"{e};{n}\n" for e, n in GOOD[1:]).encode()


def test_csv_field_of_4mib_is_malformed_and_rest_ingested() -> None:
    rows, numbers, malformed = read(HOSTILE / "csv_field_of_4mib.csv.gz")
    assert [r["email"] for r in rows] == good_emails()
    assert numbers == [1, 3, 4]
    assert malformed == [Malformed(2, f"line longer than the limit of {LIMIT_TEXT}")]


@pytest.mark.parametrize("container", ["plain", "zip"])
def test_csv_field_of_4mib_in_plain_and_zip_files(tmp_path: Path, container: str) -> None:
    plain = write_chunks(tmp_path / "big.csv", csv_with_big_field(4 * MIB))
    path = plain
    if container == "zip":
        path = tmp_path / "big.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(plain, "export/comptes.csv")
    rows, numbers, malformed = read(path)
    assert [r["email"] for r in rows] == good_emails()
    assert numbers == [1, 3, 4]
    assert [m.row for m in malformed] == [2]


def test_tsv_and_cp1252_field_over_the_limit(tmp_path: Path) -> None:
    text = "email\tnom\n" + "".join(f"{e}\t{n}\n" for e, n in GOOD[:2])
    text += f"{SECRET}\t" + "é" * (MAX_RECORD_BYTES + 10) + "\n" + f"{GOOD[2][0]}\tŒUVRE\n"
    path = tmp_path / "export.tsv"
    path.write_bytes(text.encode("cp1252"))
    with open_dump(path) as dump:
        assert dump.encoding == "cp1252" and dump.delimiter == "\t"
    rows, numbers, malformed = read(path)
    assert [r["email"] for r in rows] == good_emails()
    assert rows[2]["nom"] == "ŒUVRE"
    assert numbers == [1, 2, 4] and [m.row for m in malformed] == [3]


def test_csv_line_at_the_limit_is_still_read(tmp_path: Path) -> None:
    value = "y" * (MAX_RECORD_BYTES - len(SECRET) - 1)
    path = tmp_path / "limit.csv"
    path.write_text(f"email;nom\n{GOOD[0][0]};A\n{SECRET};{value}\n")
    rows, numbers, malformed = read(path)
    assert malformed == [] and numbers == [1, 2] and rows[1]["nom"] == value


def test_csv_line_of_100mib_without_newline_is_one_malformed_row_in_bounded_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.csv.gz"
    with gzip.open(path, "wb", compresslevel=1) as handle:
        for part in csv_with_big_field(100 * MIB):
            handle.write(part)
    result = read_in_subprocess(path)
    assert result["malformed"] == [[2, f"line longer than the limit of {LIMIT_TEXT}"]]
    assert result["first_column"] == good_emails()
    assert result["grown_kib"] < 48 * 1024


def test_csv_last_line_of_4mib_without_newline(tmp_path: Path) -> None:
    parts = list(csv_with_big_field(4 * MIB))[:-2]  # the big field is the last record, no "\n"
    path = write_chunks(tmp_path / "tail.csv", iter(parts))
    rows, numbers, malformed = read(path)
    assert [r["email"] for r in rows] == [GOOD[0][0]]
    assert numbers == [1] and [m.row for m in malformed] == [2]


def test_csv_quoted_record_of_4mib_across_lines_is_malformed_and_rest_read(tmp_path: Path) -> None:
    # Each line is short, but the quoted value spans 40,000 of them: pyarrow's reader stopped
    # ("straddling object"). The read goes on from there with quoting off.
    # (60,000 ordinary rows first: the record starts past the first MiB, which looks clean)
    lines = "".join(f"u{i}@example.fr;N\n" for i in range(60_000))
    quoted = f'{SECRET};"' + "z" * 100 + ("\n" + "z" * 100) * 40_000 + '"\n'
    after = "".join(f"{e};{n}\n" for e, n in GOOD)
    path = tmp_path / "quoted.csv"
    path.write_text("email;nom\n" + lines + quoted + after)
    with open_dump(path) as dump:
        assert dump.quoting is True
        batches = list(dump.batches())
        assert any("quoting off" in note for note in dump.notes)
    emails = [row["email"] for b in batches for row in b.batch.to_pylist()]
    assert emails[:60_000] == [f"u{i}@example.fr" for i in range(60_000)]
    assert emails[-3:] == good_emails()
    # with quoting off, the quote is a character like any other (as for a stray quote): the
    # record's first line is a row, and each of its 40,000 other lines a malformed record
    assert len(emails) == 60_000 + 1 + 3
    malformed = [m for b in batches for m in b.malformed]
    assert len(malformed) == 40_000
    assert {m.reason for m in malformed} == {"row has 1 fields, expected 2"}


def test_csv_whose_quoted_column_holds_the_delimiter_is_read_as_its_columns(
    tmp_path: Path,
) -> None:
    # Regression: every data line had one more ";" than the header (inside a quoted address),
    # so no delimiter looked consistent and the dump was read as one column named
    # "email;nom;adresse": nothing mapped, the ingest was refused.
    rows = "".join(f'{e};{n};"{i} rue X; bat B"\n' for i, (e, n) in enumerate(GOOD * 20))
    path = tmp_path / "quoted_delimiters.csv"
    path.write_text("email;nom;adresse\n" + rows)
    with open_dump(path) as dump:
        assert dump.columns == ["email", "nom", "adresse"]
        assert dump.delimiter == ";" and dump.quoting is True
        read = [row for b in dump.batches() for row in b.batch.to_pylist()]
    assert len(read) == 60
    assert read[0]["adresse"] == "0 rue X; bat B"


def test_csv_whose_first_mib_ends_inside_a_long_quoted_value_keeps_quoting_on(
    tmp_path: Path,
) -> None:
    # Regression: the sample ended inside a quoted value of several lines that goes on past it;
    # its open quote was taken for a stray quote, quoting was turned off for the whole file,
    # and every quoted "12 rue X; bat B" before it was split into two fields (malformed).
    before = "".join(f'{e};{n};"{i} rue X; bat B"\n' for i, (e, n) in enumerate(GOOD * 100))
    long_value = f'{SECRET};N;"' + "z" * 99 + ("\n" + "z" * 99) * 15_000 + '"\n'
    path = tmp_path / "long_quoted_value.csv"
    path.write_text("email;nom;adresse\n" + before + long_value)
    with open_dump(path) as dump:
        assert dump.quoting is True
        read = [row for b in dump.batches() for row in b.batch.to_pylist()]
    first = read[: len(GOOD) * 100]
    assert all(row["adresse"].endswith("rue X; bat B") for row in first)


def test_csv_over_long_line_inside_a_quoted_value_is_not_swallowed(tmp_path: Path) -> None:
    lines = "".join(f"{e};{n}\n" for e, n in GOOD)
    quoted = f'{SECRET};"start\n' + "z" * (2 * MAX_RECORD_BYTES) + '\nend"\n'
    path = tmp_path / "quoted_long.csv"
    path.write_text(
        "email;nom\n" + lines.split("\n", 1)[0] + "\n" + quoted + lines.split("\n", 1)[1]
    )
    with open_dump(path) as dump:
        batches = list(dump.batches())
    rows = [row for b in batches for row in b.batch.to_pylist()]
    assert all("verrou-overlong" not in (v or "") for row in rows for v in row.values())
    assert [r["email"] for r in rows if r["email"] in good_emails()] == good_emails()
    malformed = [m for b in batches for m in b.malformed]
    assert any(LIMIT_TEXT in m.reason for m in malformed)


def test_csv_row_with_100000_fields_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    lines = [f"{e};{n}" for e, n in GOOD]
    lines.insert(1, SECRET + ";x" * 100_000)
    path.write_text("email;nom\n" + "\n".join(lines) + "\n")
    rows, numbers, malformed = read(path)
    assert [r["email"] for r in rows] == good_emails() and numbers == [1, 3, 4]
    assert malformed == [Malformed(2, "row has 100001 fields, expected 2")]


def test_csv_header_longer_than_the_sample_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("email;" + "n" * (2 * MIB) + "\n" + f"{GOOD[0][0]};A\n")
    with pytest.raises(DumpError, match="no header row could be read"):
        open_dump(path)


def test_csv_header_with_too_many_columns_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(
        ";".join(f"c{i}" for i in range(MAX_COLUMNS + 1)) + "\n" + "1;" * MAX_COLUMNS + "1\n"
    )
    with pytest.raises(DumpError, match="columns, more than the limit"):
        open_dump(path)


# --- SQL -----------------------------------------------------------------------------------------


def test_mysql_value_of_4mib_is_malformed_and_rest_of_statement_read() -> None:
    rows, numbers, malformed = read(HOSTILE / "mysql_value_of_4mib.sql.gz")
    assert [r["email"] for r in rows] == good_emails()
    assert numbers == [1, 3, 4]
    assert malformed == [Malformed(2, f"SQL tuple longer than the limit of {LIMIT_CHARS}")]


def test_mysql_value_of_100mib_is_malformed_and_next_tuples_read(tmp_path: Path) -> None:
    def parts() -> Iterator[bytes]:
        yield b"INSERT INTO `comptes` (`email`, `nom`) VALUES "
        yield f"('{GOOD[0][0]}','{GOOD[0][1]}'),('{SECRET}','".encode()
        yield from filler(100 * MIB)
        yield b"')," + ",".join(f"('{e}','{n}')" for e, n in GOOD[1:]).encode() + b";\n"
        yield b"INSERT INTO `comptes` VALUES ('d@example.fr','D');\n"

    path = write_chunks(tmp_path / "huge.sql", parts())
    result = read_in_subprocess(path)
    assert result["first_column"] == [*good_emails(), "d@example.fr"]
    assert result["numbers"] == [1, 3, 4, 5]
    assert [row for row, _ in result["malformed"]] == [2]
    assert LIMIT_CHARS in result["malformed"][0][1]
    assert result["grown_kib"] < 96 * 1024


def test_mysql_tuple_at_the_limit_is_still_read(tmp_path: Path) -> None:
    value = "y" * (MAX_RECORD_BYTES - 200)
    path = tmp_path / "limit.sql"
    path.write_text(
        f"INSERT INTO t (email, nom) VALUES ('{GOOD[0][0]}','{value}'),('{GOOD[1][0]}','B');\n"
    )
    rows, numbers, malformed = read(path)
    assert malformed == [] and numbers == [1, 2] and rows[0]["nom"] == value


def test_mysql_nested_parentheses_are_one_malformed_tuple(tmp_path: Path) -> None:
    rows, numbers, malformed = read(HOSTILE / "mysql_nested_parentheses_1000.sql")
    assert [r["email"] for r in rows] == good_emails()
    assert numbers == [1, 3, 4] and [m.row for m in malformed] == [2]
    deep = "(" * 100_000 + "1" + ")" * 100_000
    path = tmp_path / "deep.sql"
    path.write_text(
        f"INSERT INTO t (email, nom) VALUES ('{GOOD[0][0]}','A'),('{SECRET}',{deep}),"
        f"('{GOOD[1][0]}','B');\n"
    )
    result = read_in_subprocess(path)
    assert result["first_column"] == good_emails()[:2]
    assert [row for row, _ in result["malformed"]] == [2]


def test_mysql_tuple_of_100000_values_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "wide.sql"
    wide = "('" + SECRET + "'" + ",'x'" * 100_000 + ")"
    path.write_text(
        f"INSERT INTO t (email, nom) VALUES ('{GOOD[0][0]}','A'),{wide},('{GOOD[1][0]}','B');\n"
    )
    rows, numbers, malformed = read(path)
    assert [r["email"] for r in rows] == good_emails()[:2] and numbers == [1, 3]
    assert malformed == [Malformed(2, "row has 100001 fields, expected 2")]


def test_pg_copy_line_of_4mib_is_malformed_and_rest_read() -> None:
    rows, numbers, malformed = read(HOSTILE / "pg_copy_line_of_4mib.sql.gz")
    assert [r["email"] for r in rows] == good_emails()
    assert numbers == [1, 3, 4]
    assert malformed == [Malformed(2, f"COPY line longer than the limit of {LIMIT_CHARS}")]


def test_pg_copy_line_of_100mib_without_newline_in_bounded_memory(tmp_path: Path) -> None:
    def parts() -> Iterator[bytes]:
        yield b"COPY public.comptes (email, nom) FROM stdin;\n"
        yield f"{GOOD[0][0]}\t{GOOD[0][1]}\n{SECRET}\t".encode()
        yield from filler(100 * MIB)
        yield b"\n" + "".join(f"{e}\t{n}\n" for e, n in GOOD[1:]).encode() + b"\\.\n"

    path = write_chunks(tmp_path / "copy.sql", parts())
    result = read_in_subprocess(path)
    assert result["first_column"] == good_emails()
    assert result["malformed"] == [[2, f"COPY line longer than the limit of {LIMIT_CHARS}"]]
    assert result["grown_kib"] < 96 * 1024


# --- Parquet -------------------------------------------------------------------------------------


def test_parquet_corrupt_row_group_is_malformed_and_other_groups_read() -> None:
    rows, numbers, malformed = read(HOSTILE / "parquet_corrupt_row_group.parquet")
    assert [r["email"] for r in rows] == [f"user{i}@example.fr" for i in (0, 1, 4, 5)]
    assert numbers == [1, 2, 5, 6]
    assert [m.row for m in malformed] == [3, 4]
    assert all(m.reason.startswith("Parquet row group 2 cannot be decoded") for m in malformed)


def test_parquet_row_group_with_a_huge_string_is_one_malformed_row(tmp_path: Path) -> None:
    emails = [GOOD[0][0], SECRET, GOOD[1][0], GOOD[2][0]]
    notes = ["a", SECRET + "x" * (8 * MIB), "b", "c"]
    path = tmp_path / "huge.parquet"
    pq.write_table(pa.table({"email": emails, "note": notes}), path, row_group_size=2)
    rows, numbers, malformed = read(path)
    assert [r["email"] for r in rows] == good_emails()
    assert numbers == [1, 3, 4]
    assert malformed == [Malformed(2, f"value longer than the limit of {LIMIT_TEXT}")]


def test_parquet_resume_skips_a_corrupt_row_group() -> None:
    # resumed after record 3 (inside the corrupt row group): what an uninterrupted read gives
    _, numbers, malformed = read(HOSTILE / "parquet_corrupt_row_group.parquet", batch_rows=2)
    with open_dump(HOSTILE / "parquet_corrupt_row_group.parquet", batch_rows=2) as dump:
        resumed = list(dump.batches(skip_records=3))
    assert [m.row for b in resumed for m in b.malformed] == [m.row for m in malformed if m.row > 3]
    assert [b.first_row + i for b in resumed for i in range(b.batch.num_rows)] == [
        n for n in numbers if n > 3
    ]
    assert [n for n in numbers if n > 3] == [5, 6]


def test_parquet_schema_nested_1000_levels_is_one_clear_error(tmp_path: Path) -> None:
    deep = pa.array([SECRET])
    for _ in range(1000):
        deep = pa.StructArray.from_arrays([deep], names=["a"])
    path = tmp_path / "deep.parquet"
    pq.write_table(pa.table({"email": [GOOD[0][0]], "deep": deep}), path)
    with pytest.raises(DumpError, match="Parquet") as caught:
        open_dump(path)
    assert SECRET not in str(caught.value)


# --- end to end through the pipeline, with a real SQLite registry ----------------------------


def hostile_per_format(tmp_path: Path) -> dict[str, Path]:
    parquet = tmp_path / "corrupt.parquet"
    parquet.write_bytes((HOSTILE / "parquet_corrupt_row_group.parquet").read_bytes())
    return {
        "csv": HOSTILE / "csv_field_of_4mib.csv.gz",
        "jsonl": HOSTILE / "jsonl_nested_100000_levels.jsonl.gz",
        "sql-mysql": HOSTILE / "mysql_value_of_4mib.sql.gz",
        "sql-postgres": HOSTILE / "pg_copy_line_of_4mib.sql.gz",
        "parquet": parquet,
    }


def ingest(url: str, fingerprinter: Fingerprinter, path: Path, reports: Path) -> IngestReport:
    options = IngestOptions(
        breach="hostile", service="test", batch_rows=1000, workers=0, report_dir=reports
    )
    store = open_store(url)
    try:
        return ingest_dump(store, fingerprinter, path, options)
    finally:
        store.close()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "sql-mysql", "sql-postgres", "parquet"])
def test_hostile_dump_ingests_end_to_end_and_rerun_is_idempotent(
    fmt: str, tmp_path: Path, fingerprinter: Fingerprinter
) -> None:
    path = hostile_per_format(tmp_path)[fmt]
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    report = ingest(url, fingerprinter, path, tmp_path / "reports")
    assert report.status == "complete"
    assert report.format == fmt
    bad = 2 if fmt == "parquet" else 1
    assert report.rows_malformed == bad
    assert report.rows_read == (6 if fmt == "parquet" else 4)
    assert report.valid.get("email") == report.rows_read - bad
    assert report.report_file is not None
    text = Path(report.report_file).read_text(encoding="utf-8")
    assert SECRET not in text and "victim" not in text and "xxxx" not in text
    lines = text.splitlines()[1:]
    rejected_rows = sorted(int(line.split(",")[0]) for line in lines)
    assert rejected_rows == ([3, 4] if fmt == "parquet" else [2])
    limit_word = "cannot be decoded" if fmt == "parquet" else "limit"
    assert all(limit_word in line for line in lines)

    # the same file again: nothing added, no failure
    again = ingest(url, fingerprinter, path, tmp_path / "reports")
    assert again.status == "already_ingested" and again.run_id == report.run_id
    # and into a fresh registry: the same outcome (the bad row stops nothing, run after run)
    fresh = ingest(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", fingerprinter, path, tmp_path / "r2")
    assert (fresh.rows_read, fresh.rows_malformed, fresh.fingerprints) == (
        report.rows_read,
        report.rows_malformed,
        report.fingerprints,
    )


def test_rerun_after_oversized_field_succeeds(tmp_path: Path, fingerprinter: Fingerprinter) -> None:
    # A run interrupted after the oversized record resumes past it (records_done is past it) and
    # completes; before, every run stopped with "the file is truncated or corrupt".
    lines = "".join(f"u{i}@example.fr;N{i}\n" for i in range(3000))
    path = tmp_path / "resume.csv"
    with path.open("wb") as handle:
        handle.write(b"email;nom\n" + lines.encode())
        for part in csv_with_big_field(4 * MIB):
            if not part.startswith(b"email;nom"):
                handle.write(part)
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    first = ingest(url, fingerprinter, path, tmp_path / "reports")
    assert first.status == "complete"
    assert first.rows_malformed == 1 and first.rows_read == 3000 + 4
    with open_dump(path, batch_rows=1000) as dump:
        resumed = list(dump.batches(skip_records=3000))
    assert [m.row for b in resumed for m in b.malformed] == [3002]
    assert sum(b.batch.num_rows for b in resumed) == 3


# --- the byte-level guards, against plain reference implementations -------------------------


class _ShortReads(io.BytesIO):
    """A stream that returns fewer bytes than asked, as gzip and zip members may."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        super().__init__(data)
        self._sizes = sizes or [1]
        self._turn = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return super().read()
        self._turn += 1
        return super().read(max(1, min(size, self._sizes[self._turn % len(self._sizes)])))


def _capped_reference(data: bytes, limit: int, marker: bytes) -> bytes:
    lines = data.split(b"\n")
    out = []
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if last and not line:
            break
        if len(line) > limit:
            out.append(marker + b"\n")
        else:
            out.append(line + (b"" if last else b"\n"))
    return b"".join(out)


_LINES = st.lists(
    st.one_of(st.integers(0, 40), st.sampled_from([0, 7, 8, 9, 16, 17])).map(lambda n: b"a" * n),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_LINES, st.booleans(), st.integers(1, 12), st.lists(st.integers(1, 30), max_size=5))
def test_capped_lines_replaces_exactly_the_lines_over_the_limit(
    lines: list[bytes], final_newline: bool, limit: int, sizes: list[int]
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    stream = CappedLines(_ShortReads(data, sizes), b"M", limit)
    got = b"".join(iter(lambda: stream.read(sizes[0] if sizes else 5), b""))
    assert got == _capped_reference(data, limit, b"M")
    assert stream.replaced == sum(1 for line in data.split(b"\n") if len(line) > limit)


@settings(max_examples=300, deadline=None)
@given(_LINES, st.integers(1, 20))
def test_has_line_longer_than_agrees_with_splitting(lines: list[bytes], limit: int) -> None:
    data = b"\n".join(lines)
    expected = any(len(line) > limit for line in data.split(b"\n"))
    assert has_line_longer_than(data, limit) is expected


_JSON_LEAF = st.one_of(st.none(), st.integers(), st.text(alphabet='[]{}"\\ab', max_size=6))
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(_JSON, st.integers(0, 70))
def test_json_depth_check_matches_the_nesting_of_the_document(value: object, wrap: int) -> None:
    line = ("[" * wrap + json.dumps(value) + "]" * wrap).encode()
    too_deep = wrap + _depth(value) > MAX_JSON_DEPTH
    assert (json_line_problem(line) == TOO_DEEP_REASON) is too_deep
    if too_deep:
        assert json_chunk_needs_checks(b'{"a":1}\n' + line + b"\n")
