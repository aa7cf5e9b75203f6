"""Ingest benchmark: verrou ingest against the parse floor and a DBA's COPY + pgcrypto baseline.

Measured in one run, on the same generated ANTS-shaped CSV:

  (a) parse floor: pyarrow streaming the same file, every column as a string;
  (b) `verrou ingest` into SQLite (a fresh file);
  (c) `verrou ingest` into PostgreSQL (with --postgres-url);
  (d) baseline (with --postgres-url): COPY into a staging table, then pgcrypto hmac() over each
      identifier column into a fingerprint table, then an index on it (lookup-ready, like (b)).

Prints rows/s, peak RSS of the process tree, and the ratios (b)/(a), (b)/(d), (c)/(d); with
--large-rows, peak RSS of (b) at both sizes. Each measurement is repeated --repeat times and the
median is reported. Not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
VERROU = [sys.executable, "-m", "verrou.cli"]


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory_bytes(root: int) -> tuple[int, int]:
    """Resident memory (RSS) and proportional set size (PSS) of a process and all its
    descendants. Summed RSS counts pages shared by forked workers once per process; PSS shares
    them out, so it is the tree's real footprint."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, pss, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        pss += _pss_bytes(pid)
        stack.extend(children.get(pid, []))
    return total, pss


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, tuple[int, int], str]:
    """Wall time, peak (RSS, PSS) of the process tree (sampled every 20 ms) and stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0, 0]

    def sample() -> None:
        while proc.poll() is None:
            rss, pss = tree_memory_bytes(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - started
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{stderr}")
    return elapsed, (peak[0], peak[1]), stdout


def parse_floor(path: Path) -> float:
    """(a) Seconds for pyarrow to stream the file with every column as a string."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8").rstrip("\r\n").split(";")
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        parse_options=pacsv.ParseOptions(delimiter=";", invalid_row_handler=lambda row: "skip"),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header}),
    )
    rows = sum(batch.num_rows for batch in reader)
    assert rows > 0
    return time.perf_counter() - started


def verrou_ingest(
    path: Path, database_url: str, workdir: Path, workers: int
) -> tuple[float, tuple[int, int]]:
    """(b)/(c) Wall time and peak (RSS, PSS) of `verrou ingest` as an operator runs it."""
    env = dict(
        os.environ,
        VERROU_DATABASE_URL=database_url,
        VERROU_KEY=("ab" * 32),
        VERROU_WORKERS=str(workers),
        VERROU_REPORT_DIR=str(workdir / "reports"),
    )
    elapsed, peak, _ = run_measured(
        [*VERROU, "ingest", str(path), "--breach", "bench", "--json"], env
    )
    return elapsed, peak


def pgcrypto_baseline(path: Path, url: str) -> tuple[float, dict[str, float]]:
    """(d) COPY to staging, hmac() per identifier column into a fingerprint table, index it.

    Dumps hold malformed lines, which make PostgreSQL 15's COPY abort; so, as a DBA would with a
    dirty file, whole lines are loaded into one column and split in SQL.
    """
    import psycopg

    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8").rstrip("\r\n").split(";")
    identifiers = [
        "email",
        "telephone",
        "login",
        "id_compte",
        "numero_cni",
        "passeport",
        "permis",
        "nir",
        "iban",
        "adresse",
    ]
    position = {c: i + 1 for i, c in enumerate(header)}
    phases: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        conn.execute("DROP TABLE IF EXISTS bench_lines, bench_fingerprints")
        conn.execute("CREATE UNLOGGED TABLE bench_lines (row_no bigserial, line text)")
        conn.execute("CREATE TABLE bench_fingerprints (fp bytea, kind text, row_no bigint)")
        started = time.perf_counter()
        # Control characters as delimiter and quote: every line is one field.
        copy_sql = (
            "COPY bench_lines (line) FROM STDIN "
            "(FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02', HEADER true)"
        )
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy, open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        phases["copy"] = time.perf_counter() - started
        mark = time.perf_counter()

        def field(column: str) -> str:
            return f"nullif(trim(split_part(line, ';', {position[column]})), '')"

        selects = [
            f"SELECT hmac(lower({field(c)}), 'k', 'sha256'), '{c}', row_no FROM bench_lines "
            f"WHERE {field(c)} IS NOT NULL"
            for c in identifiers
            if c in position
        ]
        if {"nom", "prenoms", "date_naissance"} <= position.keys():
            person = " || '|' || ".join(field(c) for c in ("nom", "prenoms", "date_naissance"))
            selects.append(
                f"SELECT hmac(lower({person}), 'k', 'sha256'), 'person', row_no "
                f"FROM bench_lines WHERE {field('nom')} IS NOT NULL"
            )
        conn.execute("INSERT INTO bench_fingerprints " + " UNION ALL ".join(selects))
        phases["hmac"] = time.perf_counter() - mark
        mark = time.perf_counter()
        conn.execute("CREATE INDEX ON bench_fingerprints (fp)")
        phases["index"] = time.perf_counter() - mark
        total = time.perf_counter() - started
        conn.execute("DROP TABLE bench_lines, bench_fingerprints")
    return total, phases


def fresh_pg_schema(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={name}')}"


def make_dump(rows: int, folder: Path) -> Path:
    path = folder / f"ants-{rows}.csv"
    if not path.exists():
        print(f"generating {rows:,} rows ...", flush=True)
        subprocess.run(
            [*VERROU, "synth", "--rows", str(rows), "--format", "csv", "--out", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--large-rows",
        type=int,
        default=0,
        help="also measure (b) at this size for the RSS comparison (e.g. 5000000)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--postgres-url", help="e.g. postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--workdir", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    dump = make_dump(args.rows, args.workdir)
    rows = args.rows
    print(
        f"dump: {dump} ({dump.stat().st_size / 1e6:.0f} MB, {rows:,} rows), "
        f"{os.cpu_count()} CPUs, workers={args.workers}, median of {args.repeat}"
    )

    floor = statistics.median(parse_floor(dump) for _ in range(args.repeat))
    sqlite_runs = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            sqlite_runs.append(
                verrou_ingest(dump, f"sqlite:///{tmp}/r{i}.sqlite3", Path(tmp), args.workers)
            )
    sqlite_s = statistics.median(t for t, _ in sqlite_runs)
    sqlite_rss = max((r for _, r in sqlite_runs), key=lambda m: m[1])

    def line(label: str, seconds: float, memory: tuple[int, int] | None = None) -> None:
        extra = (
            f", peak PSS {memory[1] / 2**20:,.0f} MiB, RSS {memory[0] / 2**20:,.0f} MiB"
            if memory
            else ""
        )
        print(f"{label:<46} {rows / seconds:>12,.0f} rows/s  ({seconds:6.2f} s{extra})")

    print()
    line("(a) parse floor, pyarrow CSV", floor)
    line("(b) verrou ingest -> SQLite", sqlite_s, sqlite_rss)
    pg_s = baseline_s = None
    if args.postgres_url:
        pg_runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
                url = fresh_pg_schema(args.postgres_url, "verrou_bench")
                pg_runs.append(verrou_ingest(dump, url, Path(tmp), args.workers))
        pg_s = statistics.median(t for t, _ in pg_runs)
        line(
            "(c) verrou ingest -> PostgreSQL",
            pg_s,
            max((r for _, r in pg_runs), key=lambda m: m[1]),
        )
        base_runs = [pgcrypto_baseline(dump, args.postgres_url) for _ in range(args.repeat)]
        baseline_s = statistics.median(t for t, _ in base_runs)
        phases = base_runs[len(base_runs) // 2][1]
        line("(d) baseline COPY + pgcrypto hmac + index", baseline_s)
        print(" " * 4 + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    print()
    print(f"(b)/(a) ingest vs parse floor:        {floor / sqlite_s:6.3f}x the floor's rate")
    if baseline_s is not None and pg_s is not None:
        print(f"(b)/(d) SQLite ingest vs baseline:    {baseline_s / sqlite_s:6.2f}x faster")
        print(f"(c)/(d) PostgreSQL ingest vs baseline: {baseline_s / pg_s:6.2f}x faster")
    if args.large_rows:
        big = make_dump(args.large_rows, args.workdir)
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            big_s, big_rss = verrou_ingest(
                big, f"sqlite:///{tmp}/big.sqlite3", Path(tmp), args.workers
            )
        print(
            f"(b) at {args.large_rows:,} rows: {args.large_rows / big_s:,.0f} rows/s, "
            f"peak PSS {big_rss[1] / 2**20:,.0f} MiB (RSS {big_rss[0] / 2**20:,.0f} MiB); "
            f"{args.large_rows:,} vs {rows:,} rows: PSS {big_rss[1] / sqlite_rss[1]:.2f}x, "
            f"RSS {big_rss[0] / sqlite_rss[0]:.2f}x"
        )


if __name__ == "__main__":
    main()
