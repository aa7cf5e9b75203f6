"""The check recorder in its own process (VERROU_RECORDER=process, the default of `verrou
serve`): same answers as in process, all-or-nothing batches, and a recorder that dies fails
its checks closed, then is replaced."""

from __future__ import annotations

import asyncio
import collections
import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import LEAKED_PEOPLE, ingest_leak
from verrou.api import api_state, create_app, runtime
from verrou.api.recording import RecorderKeys, RecorderStore
from verrou.api.runtime import ProcessRecorder, ThreadRecorder
from verrou.api.schemas import ApplicantIn
from verrou.errors import StoreError
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.registry.checks import CheckJob
from verrou.registry.policy import Applicant, InvalidApplicant
from verrou.settings import Settings
from verrou.signing import SigningKey, public_jwks, sign_compact, verify_compact
from verrou.store import open_store
from verrou.store.base import RelyingParty


@pytest.fixture
def served(
    database_url: str, fingerprint_key: FingerprintKey, tmp_path: Path
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    store = open_store(database_url)
    ingest_leak(store, Fingerprinter(fingerprint_key), tmp_path)
    _, api_key = store.create_relying_party("Banque Exemple", "bank")
    store.close()
    app = create_app(
        Settings(database_url=database_url, recorder="process"),
        fingerprint_key=fingerprint_key,
        signing_key=SigningKey.generate(),
    )
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {api_key}"}, database_url


def _person(n: int) -> dict[str, str]:
    family, given, birth, _, _ = LEAKED_PEOPLE[n]
    return {"family_name": family, "given_names": given, "birth_date": birth}


def _audit_size(database_url: str) -> int:
    store = open_store(database_url, migrate=False)
    try:
        return sum(1 for _ in store.audit_entries())
    finally:
        store.close()


def test_the_recorder_process_gives_the_same_signed_answers(
    served: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, _ = served
    answer = client.post("/v1/checks", json=_person(0), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "step_up"
    jwks = client.get("/.well-known/jwks.json").json()
    payload = verify_compact(answer.json()["jws"], jwks)
    assert payload == {k: v for k, v in answer.json().items() if k != "jws"}
    invalid = client.post("/v1/checks", json={"nir": "1 80 05 75 123 456 00"}, headers=headers)
    assert invalid.status_code == 422
    assert set(invalid.json()["error"]["fields"]) == {"nir"}


def test_a_batch_with_one_invalid_applicant_records_nothing(
    served: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, database_url = served
    before = _audit_size(database_url)
    body = {"applicants": [_person(0), {"email": "not an address"}, _person(1)]}
    answer = client.post("/v1/checks/batch", json=body, headers=headers)
    assert answer.status_code == 422
    assert list(answer.json()["error"]["fields"]) == ["applicants.1.email"]
    assert _audit_size(database_url) == before
    good = client.post(
        "/v1/checks/batch", json={"applicants": [_person(0), _person(1)]}, headers=headers
    )
    assert [r["verdict"] for r in good.json()["results"]] == ["step_up", "step_up"]
    assert _audit_size(database_url) == before + 2


def test_a_dead_recorder_is_replaced_and_checks_fail_closed_until_it_is(
    served: tuple[TestClient, dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, headers, _ = served
    runner: Any = api_state(client.app).live().runner  # type: ignore[arg-type]
    assert isinstance(runner, ProcessRecorder)
    first = runner.pid
    assert first is not None and first != os.getpid()

    # Killed while idle: a new recorder takes over, and checks are answered again.
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while runner.pid in (None, first) and time.monotonic() < deadline:
        client.get("/healthz")  # lets the event loop notice and respawn
        time.sleep(0.05)
    answer = client.post("/v1/checks", json=_person(0), headers=headers)
    assert answer.status_code == 200, answer.text
    second = runner.pid
    assert second not in (None, first)

    # Killed while no new one can start: checks get 503, never a verdict.
    def cannot_start(keys: object) -> object:
        raise StoreError("the check recorder could not start")

    monkeypatch.setattr(runtime, "_spawn_recorder", cannot_start)
    os.kill(second, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while runner.pid is not None and time.monotonic() < deadline:
        client.get("/healthz")
        time.sleep(0.05)
    failed = client.post("/v1/checks", json=_person(0), headers=headers)
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "store_unavailable"
    assert '"verdict"' not in failed.text

    # Once a recorder can start again, checks are answered again.
    monkeypatch.undo()
    recovered = client.post("/v1/checks", json=_person(0), headers=headers)
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["verdict"] == "step_up"


def _signal_mask(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_ctrl_c_reaching_the_recorder_child_does_not_kill_it(
    served: tuple[TestClient, dict[str, str], str],
) -> None:
    """A terminal's Ctrl-C signals the recorder child too: it used to die of it mid-read
    (KeyboardInterrupt traceback) and be replaced while the server was stopping."""
    client, headers, _ = served
    runner: Any = api_state(client.app).live().runner  # type: ignore[arg-type]
    pid = runner.pid
    stopping = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    assert _signal_mask(pid, "SigIgn") & stopping == stopping
    assert _signal_mask(pid, "SigBlk") & stopping == 0  # unblocked once ignored
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    answer = client.post("/v1/checks", json=_person(0), headers=headers)
    assert answer.status_code == 200, answer.text
    assert runner.pid == pid


def test_a_recorder_that_dies_while_the_server_stops_is_not_replaced(
    served: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, _ = served
    runner: Any = api_state(client.app).live().runner  # type: ignore[arg-type]
    first = runner.pid
    assert first is not None
    runner.begin_shutdown()  # what a SIGINT or SIGTERM to `verrou serve` does first
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while runner.pid is not None and time.monotonic() < deadline:
        client.get("/healthz")
        time.sleep(0.05)
    assert runner.pid is None
    failed = client.post("/v1/checks", json=_person(0), headers=headers)
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "store_unavailable"
    time.sleep(0.3)
    client.get("/healthz")
    assert runner.pid is None, "no recorder is started while the server stops"


def test_what_crosses_the_pipe_survives_pickling() -> None:
    key = SigningKey.generate()
    copy = pickle.loads(pickle.dumps(key))
    token = sign_compact({"a": 1}, copy)
    assert verify_compact(token, public_jwks([key])) == {"a": 1}
    error = pickle.loads(pickle.dumps(InvalidApplicant({"email": "no @ in the address"})))
    assert isinstance(error, InvalidApplicant)
    assert error.fields == {"email": "no @ in the address"}


def test_take_group_drops_cancelled_jobs_and_stops_at_max_group() -> None:
    loop = asyncio.new_event_loop()
    try:
        party = RelyingParty("rp_1", "Banque Exemple", "bank", "vrp_1", datetime.now(UTC))

        def waiting(size: int) -> runtime._Pending:
            job = CheckJob(party, tuple(Applicant(email=f"{n}@example.fr") for n in range(size)))
            return runtime._Pending(job, loop.create_future(), loop)

        jobs = collections.deque([waiting(1), waiting(2), waiting(runtime.MAX_GROUP - 1)])
        jobs[1].future.cancel()
        first, first_size = runtime.take_group(jobs)
        assert [len(p.job.applicants) for p in first] == [1, runtime.MAX_GROUP - 1]
        assert first_size == runtime.MAX_GROUP and not jobs
        jobs.extend([waiting(runtime.MAX_GROUP + 5), waiting(1)])
        alone, alone_size = runtime.take_group(jobs)
        assert alone_size == runtime.MAX_GROUP + 5 and len(alone) == 1 and len(jobs) == 1
    finally:
        loop.close()


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_check_cancelled_while_waiting_is_not_recorded(
    mode: str,
    database_url: str,
    fingerprint_key: FingerprintKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both recorders drop a request cancelled before its group is taken (take_group)."""
    store = open_store(database_url)
    ingest_leak(store, Fingerprinter(fingerprint_key), tmp_path)
    _, api_key = store.create_relying_party("Banque Exemple", "bank")
    party = store.relying_party_by_key(api_key)
    store.close()
    assert party is not None
    keys = RecorderKeys(database_url, fingerprint_key, SigningKey.generate(), timedelta(hours=1))
    first_started, release = threading.Event(), threading.Event()
    if mode == "thread":  # hold the first group until the second request is cancelled
        record = RecorderStore.run

        def held(self: RecorderStore, jobs: Any, *, probe: bool = False) -> Any:
            if jobs and not first_started.is_set():
                first_started.set()
                release.wait(10)
            return record(self, jobs, probe=probe)

        monkeypatch.setattr(RecorderStore, "run", held)
    before = _audit_size(database_url)
    people = tuple(
        ApplicantIn.model_validate(_person(n % len(LEAKED_PEOPLE))).to_applicant()
        for n in range(40)
    )

    async def scenario() -> None:
        runner: Any = ThreadRecorder(keys) if mode == "thread" else ProcessRecorder(keys)
        await runner.start()
        try:
            first = asyncio.create_task(runner.run(CheckJob(party, people)))
            await asyncio.sleep(0)
            if mode == "thread":
                assert await asyncio.to_thread(first_started.wait, 10)
            else:
                assert runner._in_flight is not None
            second = asyncio.create_task(runner.run(CheckJob(party, people[:1])))
            await asyncio.sleep(0)
            if mode == "process":  # the first group is still with the child
                assert len(runner._pending) == 1 and runner._in_flight is not None
            second.cancel()
            release.set()
            assert len(await first) == len(people)
            with pytest.raises(asyncio.CancelledError):
                await second
            await runner.probe()  # a turn of the recorder after the cancelled job's
        finally:
            await runner.stop()

    asyncio.run(scenario())
    assert _audit_size(database_url) == before + len(people)


def test_the_pipe_framing_is_multiprocessing_s_for_large_messages() -> None:
    """_frame / _read_frame speak Connection's frames both ways, beyond a pipe's buffer (the
    size at which a Connection on the loop's non-blocking socket failed)."""
    large = {"payload": "x" * (1 << 20)}
    ours, theirs = socket.socketpair()
    child = Connection(theirs.detach())

    async def exchange() -> Any:
        reader, writer = await asyncio.open_connection(sock=ours)
        echo = threading.Thread(target=lambda: child.send(child.recv()))
        echo.start()
        writer.write(runtime._frame(large))
        await writer.drain()
        answer = await runtime._read_frame(reader)
        await asyncio.to_thread(echo.join, 10)
        writer.close()
        return answer

    try:
        assert asyncio.run(exchange()) == large
    finally:
        child.close()
