"""Contract tests of the registry store: the same tests run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from verrou.errors import StoreError
from verrou.fingerprints import (
    SEGMENT_BITS,
    Fingerprinter,
    make_entries,
    sort_entries,
    split_by_prefix,
    unpack_entries,
)
from verrou.identifiers.kinds import Kind
from verrou.registry.records import BatchCommit, BreachInfo, NewRun, Reject
from verrou.store import RegistryStore
from verrou.store.base import find_in_block


def _new_run(store: RegistryStore, breach_id: int, sha: str = "ab" * 32) -> int:
    run = store.start_run(
        NewRun(breach_id, "dump.csv", sha, 123, "csv", {"fields": {"email": "mail"}}, "fk-test")
    )
    assert run.status == "running" and run.batches_done == 0
    return run.id


def _segments(
    fingerprinter: Fingerprinter, values: list[str], first_record: int
) -> list[tuple[int, bytes]]:
    fps = fingerprinter.fingerprint_many(Kind.EMAIL, values)
    records = np.arange(first_record, first_record + len(values), dtype=np.uint32)
    return split_by_prefix(sort_entries(make_entries(fps, Kind.EMAIL, records)), SEGMENT_BITS)


def test_migrations_are_idempotent(store: RegistryStore) -> None:
    from verrou.store.migrations import migrations_for

    latest = migrations_for("sqlite")[-1].version
    assert latest == migrations_for("postgres")[-1].version, "dialects must stay in step"
    assert store.schema_version() == latest
    assert store.migrate() == []
    assert store.schema_version() == latest


def test_breach_timeline_is_kept_and_partially_updated(store: RegistryStore) -> None:
    intrusion = datetime(2026, 3, 2, tzinfo=UTC)
    detected = datetime(2026, 4, 8, tzinfo=UTC)
    created = store.ensure_breach(
        BreachInfo(
            "ants-2026",
            title="ANTS",
            intrusion_started_at=intrusion,
            data_classes=("email", "birth_date"),
        )
    )
    updated = store.ensure_breach(BreachInfo("ants-2026", detected_at=detected))
    assert updated.id == created.id
    assert updated.title == "ANTS"
    assert updated.intrusion_started_at == intrusion
    assert updated.detected_at == detected
    assert updated.data_classes == ("email", "birth_date")
    assert updated.dwell_days == pytest.approx(37.0)
    assert store.get_breach("unknown") is None


def test_run_lifecycle_makes_fingerprints_findable(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    breach = store.ensure_breach(BreachInfo("b1"))
    run_id = _new_run(store, breach.id)
    emails = [f"user{i}@example.fr" for i in range(500)]
    store.commit_batch(
        BatchCommit(
            run_id,
            0,
            _segments(fingerprinter, emails[:300], 1),
            300,
            {"rows_read": 300},
            [Reject(7, "mail", "email", "no @", "u•••r (5)")],
        )
    )
    # Second batch repeats one email: a duplicate value within the run.
    second = [*emails[300:], emails[0]]
    store.commit_batch(
        BatchCommit(run_id, 1, _segments(fingerprinter, second, 301), 501, {"rows_read": 501})
    )
    wanted = fingerprinter.fingerprint(Kind.EMAIL, emails[0])
    assert store.lookup([wanted]) == [], "a run is invisible until it completes"

    run = store.finish_run(
        run_id, {"rows_read": 501, "rows_with_identifier": 501, "fingerprints": {"email": 501}}
    )
    assert run.status == "complete"
    assert run.counts["duplicates"] == {"email": 1}
    hits = store.lookup([wanted, fingerprinter.fingerprint(Kind.EMAIL, "nobody@example.fr")])
    assert sorted(h.record for h in hits) == [1, 501]
    assert {h.breach_name for h in hits} == {"b1"}
    assert {h.kind for h in hits} == {Kind.EMAIL}
    assert len({h.record_id for h in hits}) == 2
    assert [r.row for r in store.rejects(run_id)] == [7]
    summary = store.list_breaches()[0]
    assert summary.runs == 1 and summary.fingerprints_by_kind == {"email": 501}
    assert store.get_breach("b1").record_count == 501  # type: ignore[union-attr]
    found = store.find_run(breach.id, "ab" * 32)
    assert found is not None and found.id == run_id


def test_batches_must_come_in_order(store: RegistryStore, fingerprinter: Fingerprinter) -> None:
    breach = store.ensure_breach(BreachInfo("b2"))
    run_id = _new_run(store, breach.id)
    with pytest.raises(StoreError, match="not expecting batch 1"):
        store.commit_batch(BatchCommit(run_id, 1, _segments(fingerprinter, ["a@b.fr"], 1), 1, {}))
    # The failed batch left nothing behind.
    store.commit_batch(BatchCommit(run_id, 0, _segments(fingerprinter, ["a@b.fr"], 1), 1, {}))
    assert store.get_run(run_id).batches_done == 1


def test_failed_run_can_restart(store: RegistryStore) -> None:
    breach = store.ensure_breach(BreachInfo("b3"))
    run_id = _new_run(store, breach.id)
    store.fail_run(run_id, "KeyboardInterrupt")
    assert store.get_run(run_id).status == "failed"
    assert store.restart_run(run_id).status == "running"


def test_same_file_twice_for_a_breach_is_refused(store: RegistryStore) -> None:
    breach = store.ensure_breach(BreachInfo("b4"))
    _new_run(store, breach.id)
    with pytest.raises(StoreError):
        _new_run(store, breach.id)


def test_blocks_do_not_depend_on_batching(
    store: RegistryStore, fingerprinter: Fingerprinter
) -> None:
    """The merge gives the same registry whatever the batch boundaries were (crash resume)."""
    emails = [f"p{i}@example.fr" for i in range(2000)]
    breach = store.ensure_breach(BreachInfo("b5"))
    one = _new_run(store, breach.id, "01" * 32)
    store.commit_batch(BatchCommit(one, 0, _segments(fingerprinter, emails, 1), 2000, {}))
    store.finish_run(one, {})
    other = store.ensure_breach(BreachInfo("b6"))
    two = _new_run(store, other.id, "01" * 32)
    for seq, start in enumerate(range(0, 2000, 700)):
        chunk = emails[start : start + 700]
        store.commit_batch(
            BatchCommit(
                two, seq, _segments(fingerprinter, chunk, start + 1), start + len(chunk), {}
            )
        )
    store.finish_run(two, {})
    fps = fingerprinter.fingerprint_many(Kind.EMAIL, emails)
    hits = store.lookup(fps)
    by_run: dict[int, set[tuple[bytes, int]]] = {}
    for hit in hits:
        by_run.setdefault(hit.run_id, set()).add((hit.fingerprint, hit.record))
    assert by_run[one] == by_run[two]
    assert len(by_run[one]) == 2000


def test_staging_files_of_merged_runs_are_swept(tmp_path: Path) -> None:
    from verrou.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "registry.sqlite3")
    store.migrate()
    leftover = tmp_path / "registry.sqlite3.run-7"
    leftover.write_bytes(b"")
    store.migrate()
    assert not leftover.exists()
    store.close()


def test_a_run_whose_staged_batches_vanished_starts_over(
    database_url: str, fingerprinter: Fingerprinter
) -> None:
    """PostgreSQL stages in an unlogged table, which a server crash empties: the checkpoint then
    points past data that is gone, and resuming must start from the first record instead."""
    from verrou.store import open_store

    store = open_store(database_url)
    try:
        breach = store.ensure_breach(BreachInfo("b7"))
        run_id = _new_run(store, breach.id)
        store.commit_batch(
            BatchCommit(
                run_id,
                0,
                _segments(fingerprinter, ["a@b.fr"], 1),
                1,
                {"rows_read": 1},
                [Reject(1, "mail", "email", "x", "")],
            )
        )
        if not database_url.startswith("postgresql"):
            pytest.skip("SQLite stages in a journaled file that a crash does not empty")
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM ingest_segments")  # what crash recovery does to it
        run = store.restart_run(run_id)
        assert (run.batches_done, run.records_done, run.counts) == (0, 0, {})
        assert list(store.rejects(run_id)) == []
    finally:
        store.close()


@pytest.mark.parametrize("seed", range(20))
def test_find_in_block_finds_every_entry_of_a_fingerprint_and_nothing_else(seed: int) -> None:
    rng = np.random.default_rng(seed)
    distinct = [rng.bytes(16) for _ in range(int(rng.integers(1, 300)))]
    chosen = [distinct[int(i)] for i in rng.integers(0, len(distinct), int(rng.integers(1, 600)))]
    kind_of = [list(Kind)[int(k)] for k in rng.integers(0, len(Kind), len(chosen))]
    parts = [
        make_entries([fp], kind, np.array([i], dtype=np.uint32))
        for i, (fp, kind) in enumerate(zip(chosen, kind_of, strict=True))
    ]
    # Joined as bytes: np.concatenate would turn the big-endian fields into native ones.
    blob = sort_entries(unpack_entries(b"".join(part.tobytes() for part in parts))).tobytes()
    for fp in [*distinct, rng.bytes(16), b"\x00" * 16, b"\xff" * 16]:
        expected = sorted(
            ((kind_of[i], i) for i, chosen_fp in enumerate(chosen) if chosen_fp == fp),
            key=lambda pair: pair[1],
        )
        assert sorted(find_in_block(blob, fp), key=lambda pair: pair[1]) == expected
