"""The check recorder in its own process (VERROU_RECORDER=process, the default of `verrou
serve`): same answers as in process, all-or-nothing batches, and a recorder that dies fails
its checks closed, then is replaced."""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import LEAKED_PEOPLE, ingest_leak
from verrou.api import api_state, create_app, runtime
from verrou.api.runtime import ProcessRecorder
from verrou.errors import StoreError
from verrou.fingerprints import Fingerprinter
from verrou.keys import FingerprintKey
from verrou.registry.policy import InvalidApplicant
from verrou.settings import Settings
from verrou.signing import SigningKey, public_jwks, sign_compact, verify_compact
from verrou.store import open_store


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
