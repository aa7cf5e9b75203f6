"""Dump readers: formats, encodings, malformed rows, resumption, bounded batches, bad files."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verrou.errors import DumpError
from verrou.ingest.readers import DumpBatch, Malformed, open_dump

DUMPS = Path(__file__).parent / "data" / "dumps"


def read_all(path: Path, **kwargs: object) -> tuple[list[DumpBatch], list[dict[str, str | None]]]:
    with open_dump(path, **kwargs) as dump:  # type: ignore[arg-type]
        batches = list(dump.batches())
    rows = [row for b in batches for row in b.batch.to_pylist()]
    return batches, rows


def record_numbers(batches: list[DumpBatch]) -> list[int]:
    return [b.first_row + i for b in batches for i in range(b.batch.num_rows)]


def malformed_of(batches: list[DumpBatch]) -> list[Malformed]:
    return [m for b in batches for m in b.malformed]


# --- CSV ------------------------------------------------------------------------------------------


def test_cp1252_export_is_detected_and_decoded() -> None:
    with open_dump(DUMPS / "cp1252_oe_euro.csv") as dump:
        assert dump.encoding == "cp1252"
        assert dump.delimiter == ";"
        assert dump.columns == ["nom", "prénom", "mail", "ville"]
        rows = [r for b in dump.batches() for r in b.batch.to_pylist()]
    assert [r["nom"] for r in rows] == ["DUPONT", "ŒUVRE", "MARTIN", "L’HÔTE"]
    assert rows[1]["prénom"] == "Noël"
    assert rows[2]["ville"] == "Prix 5 €"


def test_utf8_bom_is_not_part_of_the_first_column_name() -> None:
    with open_dump(DUMPS / "bom_utf8.csv") as dump:
        assert dump.encoding == "utf-8-sig"
        assert dump.columns == ["nom", "prenom", "email"]
        rows = [r for b in dump.batches() for r in b.batch.to_pylist()]
    assert rows[0] == {"nom": "DUPONT", "prenom": "Zoé", "email": "zoe@example.fr"}


def test_stray_quotes_turn_quoting_off_and_keep_every_row() -> None:
    with open_dump(DUMPS / "stray_quotes.csv") as dump:
        assert dump.quoting is False
        batches = list(dump.batches())
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert [r["nom"] for r in rows] == ["Dupont", "Martin", "Durand", "Petit"]
    assert rows[1]["prenom"] == '"Bob'
    assert rows[2]["note"] == 'he said 5" tall'
    assert malformed_of(batches) == []


def test_stray_quote_after_the_sample_restarts_without_quoting(tmp_path: Path) -> None:
    lines = ["nom;prenom;ville"] + [f"NOM{i};Jean;Paris" for i in range(150_000)]
    lines.insert(100_001, 'BAD;"Bob;Lyon')  # record 100001 (past the first MiB) opens a quote
    path = tmp_path / "late_stray.csv"
    path.write_text("\n".join(lines) + "\n")
    with open_dump(path, batch_rows=10_000) as dump:
        assert dump.quoting is True  # the first MiB looked clean
        batches = list(dump.batches())
        assert dump.quoting is False
        assert any("stray quote" in note for note in dump.notes)
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert len(rows) == 150_001
    assert record_numbers(batches) == list(range(1, 150_002))
    assert rows[100_000] == {"nom": "BAD", "prenom": '"Bob', "ville": "Lyon"}
    assert rows[-1]["nom"] == "NOM149999"


def test_ragged_rows_are_reported_with_their_record_numbers() -> None:
    batches, rows = read_all(DUMPS / "ragged_rows.csv")
    assert [r["id"] for r in rows] == ["1", "3", "5", "6", "8"]
    assert rows[3]["nom"] == "K\nL"
    numbers = dict(zip([r["id"] for r in rows], record_numbers(batches), strict=True))
    # blank lines are not records; the quoted line break is inside record 6
    assert numbers == {"1": 1, "3": 3, "5": 5, "6": 6, "8": 8}
    assert malformed_of(batches) == [
        Malformed(2, "row has 2 fields, expected 3"),
        Malformed(4, "row has 4 fields, expected 3"),
        Malformed(7, "row has 1 fields, expected 3"),
    ]


def test_malformed_reasons_never_carry_row_text() -> None:
    batches, _ = read_all(DUMPS / "ragged_rows.csv")
    for item in malformed_of(batches):
        assert "C" not in item.reason.split() and "H" not in item.reason.split()


def test_empty_and_null_cells_become_null(tmp_path: Path) -> None:
    path = tmp_path / "nulls.csv"
    path.write_text('a,b,c\n,NULL,""\nx,\\N,y\n')
    _, rows = read_all(path)
    assert rows == [{"a": None, "b": None, "c": None}, {"a": "x", "b": None, "c": "y"}]


def test_every_column_is_text_even_when_it_looks_numeric(tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("cp,tel\n01000,0612345678\n75001,+33612345678\n")
    batches, rows = read_all(path)
    assert all(t == pa.string() for t in batches[0].batch.schema.types)
    assert rows[0] == {"cp": "01000", "tel": "0612345678"}


def test_delimiters_are_sniffed(tmp_path: Path) -> None:
    for delimiter in [";", ",", "\t", "|"]:
        path = tmp_path / "d.txt"
        path.write_text(delimiter.join(["a", "b"]) + "\n" + delimiter.join(["1", "x, y"]) + "\n")
        with open_dump(path) as dump:
            assert dump.delimiter == delimiter, delimiter


def test_late_non_utf8_bytes_fall_back_to_cp1252_for_those_bytes(tmp_path: Path) -> None:
    head = "".join(f"NOM{i};Zoé\n" for i in range(120_000)).encode("utf-8")
    tail = "LATE;Noël €\n".encode("cp1252")
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"nom;prenom\n" + head + tail)
    with open_dump(path, batch_rows=50_000) as dump:
        assert dump.encoding == "utf-8"
        batches = list(dump.batches())
        assert dump.encoding == "utf-8+cp1252"
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert len(rows) == 120_001
    assert rows[0]["prenom"] == "Zoé"
    assert rows[-1] == {"nom": "LATE", "prenom": "Noël €"}
    assert record_numbers(batches) == list(range(1, 120_002))


# --- bounded batches and resumption ---------------------------------------------------------------


def big_csv(tmp_path: Path, n: int, bad_every: int = 0) -> Path:
    lines = ["id;email"]
    for i in range(1, n + 1):
        lines.append(f"{i}" if bad_every and i % bad_every == 0 else f"{i};u{i}@example.fr")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_large_file_small_batches_are_bounded_and_complete(tmp_path: Path) -> None:
    path = big_csv(tmp_path, 25_000, bad_every=997)
    batches, rows = read_all(path, batch_rows=1000)
    assert len(batches) >= 25
    assert max(b.batch.num_rows for b in batches) <= 1000
    bad = [m.row for m in malformed_of(batches)]
    assert bad == list(range(997, 25_001, 997))
    assert len(rows) + len(bad) == 25_000
    # row i of a batch is record first_row + i
    assert all(int(r["id"]) == n for r, n in zip(rows, record_numbers(batches), strict=True))


@pytest.mark.parametrize("skip", [0, 1, 999, 1000, 4321, 24_999, 25_000])
def test_skip_records_resumes_exactly(tmp_path: Path, skip: int) -> None:
    path = big_csv(tmp_path, 25_000, bad_every=997)
    with open_dump(path, batch_rows=1000) as dump:
        full = list(dump.batches())
        resumed = list(dump.batches(skip_records=skip))
    want_rows = [n for n in record_numbers(full) if n > skip]
    assert record_numbers(resumed) == want_rows
    assert [m.row for m in malformed_of(resumed)] == [
        m.row for m in malformed_of(full) if m.row > skip
    ]
    # from the next batch boundary on, the batches are the same batches
    boundary = (skip // 1000 + 1) * 1000
    tail_full = [(b.first_row, b.batch.to_pylist()) for b in full if b.first_row > boundary]
    tail_resumed = [(b.first_row, b.batch.to_pylist()) for b in resumed if b.first_row > boundary]
    assert tail_full == tail_resumed


# --- compression ----------------------------------------------------------------------------------


def test_gzip_and_zip_are_read_transparently(tmp_path: Path) -> None:
    raw = (DUMPS / "cp1252_oe_euro.csv").read_bytes()
    gz = tmp_path / "dump.csv.gz"
    gz.write_bytes(gzip.compress(raw))
    zipped = tmp_path / "dump.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("LISEZMOI.md", "not the dump")
        archive.writestr("export/clients.csv", raw)
    disguised = tmp_path / "dump.csv"  # gzip data behind a .csv name: found by magic bytes
    disguised.write_bytes(gzip.compress(raw))
    for path, compression in [(gz, "gzip"), (zipped, "zip"), (disguised, "gzip")]:
        with open_dump(path) as dump:
            assert dump.compression == compression
            assert dump.format == "csv"
            assert dump.encoding == "cp1252"
            rows = [r for b in dump.batches() for r in b.batch.to_pylist()]
        assert rows[1]["nom"] == "ŒUVRE"


def test_gzipped_jsonl_and_sql(tmp_path: Path) -> None:
    for name in ["nested.jsonl", "pg_copy.sql"]:
        path = tmp_path / f"{name}.gz"
        path.write_bytes(gzip.compress((DUMPS / name).read_bytes()))
        _, plain = read_all(DUMPS / name)
        _, packed = read_all(path)
        assert plain == packed and plain


# --- JSON Lines -----------------------------------------------------------------------------------


def test_nested_jsonl_is_flattened_by_dotted_path_and_kept_as_text() -> None:
    with open_dump(DUMPS / "nested.jsonl") as dump:
        assert dump.format == "jsonl"
        assert dump.columns == [
            "id",
            "identite.nom",
            "identite.prenom",
            "contact.email",
            "contact.tel",
            "ddn",
            "actif",
        ]
        rows = [r for b in dump.batches() for r in b.batch.to_pylist()]
    assert rows[0]["contact.email"] == "zoe@example.fr"
    assert rows[0]["ddn"] == "1980-01-02"  # not a timestamp
    assert rows[0]["id"] == "1"
    assert rows[1]["contact.tel"] is None
    assert rows[1]["actif"] == "true"


def test_bad_jsonl_lines_are_reported_not_dropped() -> None:
    batches, rows = read_all(DUMPS / "bad_lines.jsonl")
    assert [r["id"] for r in rows] == ["1", "5"]
    assert record_numbers(batches) == [1, 5]
    assert malformed_of(batches) == [
        Malformed(2, "invalid JSON"),
        Malformed(3, "not an object"),
        Malformed(4, "not an object"),
    ]


def test_large_jsonl_in_small_batches(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for i in range(1, 30_001):
            out.write(
                "{oops\n" if i % 1000 == 0 else json.dumps({"id": i, "m": f"u{i}@x.fr"}) + "\n"
            )
    batches, rows = read_all(path, batch_rows=777)
    assert max(b.batch.num_rows for b in batches) <= 777
    assert len(rows) == 29_970
    assert [m.row for m in malformed_of(batches)] == list(range(1000, 30_001, 1000))
    assert all(int(r["id"]) == n for r, n in zip(rows, record_numbers(batches), strict=True))


# --- Parquet --------------------------------------------------------------------------------------


def test_parquet_row_groups_nested_and_typed_columns(tmp_path: Path) -> None:
    n = 10_000
    table = pa.table(
        {
            "id": pa.array(range(1, n + 1), pa.int64()),
            "contact": pa.array(
                [{"email": f"u{i}@x.fr", "tel": None} for i in range(n)],
                pa.struct([("email", pa.string()), ("tel", pa.string())]),
            ),
            "nom": pa.array(["" if i % 2 else "DUPONT" for i in range(n)]).dictionary_encode(),
        }
    )
    path = tmp_path / "dump.parquet"
    pq.write_table(table, path, row_group_size=3000)
    with open_dump(path, batch_rows=1024) as dump:
        assert dump.format == "parquet"
        assert dump.columns == ["id", "contact.email", "contact.tel", "nom"]
        batches = list(dump.batches())
        resumed = list(dump.batches(skip_records=6500))
    assert max(b.batch.num_rows for b in batches) <= 1024
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert len(rows) == n
    assert rows[0] == {"id": "1", "contact.email": "u0@x.fr", "contact.tel": None, "nom": "DUPONT"}
    assert rows[1]["nom"] is None
    assert record_numbers(resumed) == list(range(6501, n + 1))


# --- SQL ------------------------------------------------------------------------------------------


def test_mysql_escapes_columns_from_create_table_and_other_tables_skipped() -> None:
    with open_dump(DUMPS / "mysql_escapes.sql") as dump:
        assert dump.format == "sql-mysql"
        assert dump.table == "comptes"
        assert dump.columns == ["id", "email", "nom", "prenom"]
        batches = list(dump.batches())
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert rows[0] == {"id": "1", "email": "anne@example.fr", "nom": "O'BRIEN", "prenom": "Anne"}
    assert rows[1]["email"] is None and rows[1]["nom"] == "D'ARC"
    assert rows[2]["nom"] == "LIGNE\nDEUX" and rows[2]["prenom"] == "Back\\slash"
    assert rows[3]["prenom"] is None
    assert rows[4] == {"id": "6", "email": "w@example.fr", "nom": "PAREN (X)", "prenom": "a,b"}
    assert record_numbers(batches) == [1, 2, 3, 4, 6]
    assert malformed_of(batches) == [Malformed(5, "row has 3 fields, expected 4")]


def test_sql_table_can_be_chosen_and_unknown_table_is_a_clear_error() -> None:
    with open_dump(DUMPS / "mysql_escapes.sql", table="journal") as dump:
        assert dump.columns == ["id", "texte"]
        rows = [r for b in dump.batches() for r in b.batch.to_pylist()]
    assert rows == [{"id": "1", "texte": "(not a row), of comptes"}]
    with pytest.raises(DumpError, match="no data for table 'absente'"):
        open_dump(DUMPS / "mysql_escapes.sql", table="absente")


def test_postgres_copy_block() -> None:
    with open_dump(DUMPS / "pg_copy.sql") as dump:
        assert dump.format == "sql-postgres"
        assert dump.table == "personnes"
        assert dump.columns == ["id", "nom", "prenom", "email"]
        batches = list(dump.batches())
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert rows[0] == {"id": "1", "nom": "DUPONT", "prenom": "Zoé", "email": "zoe@example.fr"}
    assert rows[1]["nom"] == "MAR\tTIN" and rows[1]["prenom"] is None
    assert rows[2]["nom"] == "BACK\\SLASH" and rows[2]["prenom"] is None
    assert malformed_of(batches) == [Malformed(3, "row has 2 fields, expected 4")]


def test_unterminated_sql_tuple_is_malformed_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "broken.sql"
    path.write_text(
        "INSERT INTO t (a, b) VALUES (1,'x'),(2,'never closed),(3,'y');\n"
        "INSERT INTO t (a, b) VALUES (4,'z');\n"
    )
    batches, rows = read_all(path)
    assert rows[-1] == {"a": "4", "b": "z"}
    assert rows[0] == {"a": "1", "b": "x"}
    assert any("unterminated" in m.reason for m in malformed_of(batches))


def test_large_mysql_dump_spanning_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.sql"
    with path.open("w") as out:
        out.write("CREATE TABLE u (id int, email text, nom text);\n")
        for start in range(0, 60_000, 5000):
            tuples = ",".join(
                f"({i},'u{i}@x.fr','N\\'{i}')" for i in range(start + 1, start + 5001)
            )
            out.write(f"INSERT INTO u VALUES {tuples};\n")
    with open_dump(path, batch_rows=4096) as dump:
        batches = list(dump.batches())
        resumed = list(dump.batches(skip_records=59_000))
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert max(b.batch.num_rows for b in batches) <= 4096
    assert len(rows) == 60_000
    assert rows[-1] == {"id": "60000", "email": "u60000@x.fr", "nom": "N'60000"}
    assert record_numbers(resumed) == list(range(59_001, 60_001))


def test_headerless_sql_columns_are_numbered(tmp_path: Path) -> None:
    path = tmp_path / "bare.sql"
    path.write_text("INSERT INTO x VALUES ('a@example.fr','1980-01-02'),('b@example.fr',NULL);\n")
    with open_dump(path) as dump:
        assert dump.columns == ["col1", "col2"]


# --- unreadable files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.csv", "empty"),
        ("binary_garbage.csv", "binary"),
        ("corrupt.gz", "corrupt"),
        ("no_header.csv", "first row holds data"),
    ],
)
def test_unreadable_files_raise_one_clear_dump_error(name: str, message: str) -> None:
    with pytest.raises(DumpError, match=message) as caught:
        open_dump(DUMPS / name)
    assert name in str(caught.value)
    assert "zoe@example.fr" not in str(caught.value)


def test_other_unreadable_files(tmp_path: Path) -> None:
    cases: dict[str, bytes] = {
        "not.zip": b"PK\x03\x04 this is no archive",
        "fake.gz": b"plain text",
        "blob.bin": bytes(range(256)) * 4,
        "only.json": b"[1, 2, 3]\n",
        "no_data.sql": b"CREATE TABLE t (a int);\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(DumpError) as caught:
            open_dump(path)
        assert name in str(caught.value), name
    with pytest.raises(DumpError, match="no such file"):
        open_dump(tmp_path / "missing.csv")


def test_truncated_gzip_fails_as_dump_error_while_reading(tmp_path: Path) -> None:
    raw = "".join(f"{i};u{i}@x.fr\n" for i in range(200_000)).encode()
    packed = gzip.compress(b"id;email\n" + raw)
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with open_dump(path) as dump, pytest.raises(DumpError, match="truncated or corrupt"):
        for _ in dump.batches():
            pass


def test_zip_with_several_dumps_asks_which(tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "x\n1\n")
        archive.writestr("b.csv", "x\n2\n")
    with pytest.raises(DumpError, match="several files"):
        open_dump(path)


# --- vectorised SQL paths (must read exactly like the per-tuple / per-line parsers) ---------------


def _read_sql_slowly(path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> object:
    """The dump read with the vectorised INSERT and COPY paths turned off."""
    from verrou.ingest import readers

    with monkeypatch.context() as patch:
        patch.setattr(
            readers._SqlScanner, "_fast_tuples", lambda self, pos, window: (None, pos, False)
        )
        patch.setattr(
            readers._SqlScanner, "_fast_copy", lambda self, pos: (None, pos, False, 1 << 30)
        )
        batches, _ = read_all(path, **kwargs)
    return [(b.first_row, b.batch.to_pydict(), b.malformed) for b in batches]


def _read_sql(path: Path, **kwargs: object) -> object:
    batches, _ = read_all(path, **kwargs)
    return [(b.first_row, b.batch.to_pydict(), b.malformed) for b in batches]


def test_mysql_insert_values_escapes_and_structure(tmp_path: Path) -> None:
    path = tmp_path / "esc.sql"
    path.write_text(
        "CREATE TABLE t (a text, b text);\n"
        "INSERT INTO t VALUES ('O\\'B','D''ARC'),('a\\\\b','n\\0z\\Z'),('x),(y','a;b'),"
        "(NULL,'NULL'),(null,''),(-3.5,0x1F),('p\\%q\\_r','\\\\');\n"
        "INSERT INTO t VALUES\n( 'sp' ,\u00a0'nbsp' ) ,\n('w','x') ;\n"
        "INSERT INTO t VALUES (1,2,3),(_binary 'bin','ok'),('back\\\\','slash');\n"
    )
    rows = [r for b in read_all(path, batch_rows=3)[0] for r in b.batch.to_pylist()]
    assert [(r["a"], r["b"]) for r in rows] == [
        ("O'B", "D'ARC"),
        ("a\\b", "n\0z\x1a"),
        ("x),(y", "a;b"),
        (None, "NULL"),
        (None, None),
        ("-3.5", "0x1F"),
        ("p\\%q\\_r", "\\"),
        ("sp", "nbsp"),
        ("w", "x"),
        ("bin", "ok"),
        ("back\\", "slash"),
    ]
    batches, _ = read_all(path)
    assert malformed_of(batches) == [Malformed(10, "row has 3 fields, expected 2")]


def test_mysql_tuples_spanning_chunks_read_like_the_per_tuple_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = ["'a'", "'O\\'B'", "'x''y'", "'),('", "'a;b'", "NULL", "12", "'\\\\'", "'é€'"]
    values.append("'" + "long text, with (parentheses), quotes '' and \\\\ " * 2 + "'")
    path = tmp_path / "big.sql"
    with path.open("w", encoding="utf-8") as out:
        out.write("CREATE TABLE t (a text, b text, c text);\n")
        n = 0
        while out.tell() < 4_600_000:  # > one 4 MiB chunk: a statement and a tuple cross it
            tuples = []
            for _ in range(500):
                n += 1
                width = 2 if n % 997 == 0 else 3
                row = [values[(n * 7 + k * 3) % len(values)] for k in range(width)]
                sep = ", " if n % 13 == 0 else ","
                tuples.append("(" + sep.join(row) + ")")
            out.write("INSERT INTO t VALUES " + ",".join(tuples) + ";\n")
    fast = _read_sql(path, batch_rows=5000)
    assert fast == _read_sql_slowly(path, monkeypatch, batch_rows=5000)
    batches, rows = read_all(path, batch_rows=5000)
    assert [m.row for m in malformed_of(batches)] == list(range(997, n + 1, 997))
    assert len(rows) + len(malformed_of(batches)) == n


def test_postgres_inserts_keep_backslashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pg.sql"
    path.write_text(
        "-- PostgreSQL database dump\n"
        "CREATE TABLE public.t (a text, b text);\n"
        + "".join(f"INSERT INTO public.t VALUES ({i}, 'D''ARC\\n');\n" for i in range(3000))
        + "INSERT INTO public.t VALUES ('two\nlines', NULL);\n"
    )
    rows = [r for b in read_all(path)[0] for r in b.batch.to_pylist()]
    assert rows[0] == {"a": "0", "b": "D'ARC\\n"}
    assert rows[-1] == {"a": "two\nlines", "b": None}
    assert _read_sql(path) == _read_sql_slowly(path, monkeypatch)


def test_postgres_copy_escapes_and_odd_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "copy.sql"
    lines = [
        "a\\tb\t\\N\t\\\\N",  # 1: tab escape, NULL, an escaped backslash before N is not NULL
        "l1\\nl2\t\\\\\t\\x41\\101",  # 2: newline escape, a backslash, hex and octal
        "\t\t",  # 3: empty fields are NULL
        "only\ttwo",  # 4: malformed
        "",  # 5: a blank line is a record (malformed: 1 field)
        "\\r\\b\\f\\v\tx\\y\t\\.",  # 6
    ]
    path.write_text(
        "-- PostgreSQL database dump\n"
        "COPY public.p (a, b, c) FROM stdin;\n" + "\n".join(lines) + "\n\\.\n"
        "COPY public.p (a, b, c) FROM stdin;\r\n1\t2\t3\r\nx\ty\tz\r\n\\.\r\n"
        "COPY public.p (a, b, c) FROM stdin;\nlone\rcr\t2\t3\n4\t5\t6\n\\.\n"
    )
    batches, rows = read_all(path, batch_rows=2)
    assert rows[:4] == [
        {"a": "a\tb", "b": None, "c": "\\N"},
        {"a": "l1\nl2", "b": "\\", "c": "AA"},
        {"a": None, "b": None, "c": None},
        {"a": "\r\b\f\v", "b": "xy", "c": "."},
    ]
    assert rows[4:6] == [{"a": "1", "b": "2", "c": "3"}, {"a": "x", "b": "y", "c": "z"}]
    assert rows[6:] == [{"a": "lone\rcr", "b": "2", "c": "3"}, {"a": "4", "b": "5", "c": "6"}]
    assert record_numbers(batches) == [1, 2, 3, 6, 7, 8, 9, 10]
    assert malformed_of(batches) == [
        Malformed(4, "row has 2 fields, expected 3"),
        Malformed(5, "row has 1 fields, expected 3"),
    ]
    assert _read_sql(path, batch_rows=2) == _read_sql_slowly(path, monkeypatch, batch_rows=2)


def test_large_copy_block_cut_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cut.sql"
    filler = "x" * 50
    body = "".join(f"{i}\t{filler}\\t{i}\n" if i % 1000 else f"{i}\n" for i in range(1, 80_001))
    path.write_text(
        "-- PostgreSQL database dump\nCOPY public.p (a, b) FROM stdin;\n" + body + "7\tz"
    )
    with open_dump(path, batch_rows=10_000) as dump:
        batches = list(dump.batches())
        assert any("COPY block was not ended" in note for note in dump.notes)
    rows = [r for b in batches for r in b.batch.to_pylist()]
    assert rows[0] == {"a": "1", "b": "x" * 50 + "\t1"} and rows[-1] == {"a": "7", "b": "z"}
    assert [m.row for m in malformed_of(batches)] == list(range(1000, 80_001, 1000))
    assert _read_sql(path, batch_rows=10_000) == _read_sql_slowly(
        path, monkeypatch, batch_rows=10_000
    )


# --- JSON Lines blank lines ---------------------------------------------------------------------


def test_jsonl_blank_and_whitespace_lines_are_not_records(tmp_path: Path) -> None:
    lines = ['{"id": 1}', "", "  \t", '  {"id": 2}', "\x0c", '{"id": 3}\r', "\r", '{"id": 4}']
    for end in ["", "\n", "\r\n\r\n"]:
        path = tmp_path / "blank.jsonl"
        path.write_bytes(("\n".join(lines) + end).encode())
        batches, rows = read_all(path)
        assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
        assert record_numbers(batches) == [1, 2, 3, 4]


def test_one_column_copy_blank_lines_are_null_values(tmp_path: Path) -> None:
    path = tmp_path / "one.sql"
    path.write_text(
        "-- PostgreSQL database dump\nCOPY public.o (a) FROM stdin;\n"
        + "".join(["x\n", "\n", "\\N\n", "\r\n", "a\\tb\n", "\\\\N\n"] * 3)
        + "\\.\n"
    )
    batches, rows = read_all(path)
    assert [r["a"] for r in rows[:6]] == ["x", None, None, None, "a\tb", "\\N"]
    assert record_numbers(batches) == list(range(1, 19)) and not malformed_of(batches)
