"""End to end: Ctrl-C on ``verrou serve`` stops it quietly.

A terminal's Ctrl-C signals the whole foreground process group: the recorder child too. It
used to die of a KeyboardInterrupt (traceback on stderr) and the web process then started a
new recorder while shutting down. The server here runs in a process group of its own, and the
signal is sent to the group, as a terminal does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import verrou
from verrou.keys import FingerprintKey
from verrou.signing import create_signing_key_file
from verrou.store import open_store

pytestmark = pytest.mark.slow

WAIT_SECONDS = 15.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("recorder", ["process", "thread"])
def test_ctrl_c_stops_the_server_without_traceback_or_new_recorder(
    tmp_path: Path, fingerprint_key: FingerprintKey, recorder: str
) -> None:
    database_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    store = open_store(database_url)
    try:
        _, api_key = store.create_relying_party("Banque Exemple", "bank")
    finally:
        store.close()
    signing_key_file = tmp_path / "signing.key"
    create_signing_key_file(signing_key_file)
    port = _free_port()
    env = {
        **os.environ,
        "VERROU_DATABASE_URL": database_url,
        "VERROU_KEY": fingerprint_key.secret.hex(),
        "VERROU_SIGNING_KEY_FILE": str(signing_key_file),
        "VERROU_RECORDER": recorder,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        # The server runs the code under test, wherever the working directory is.
        "PYTHONPATH": os.pathsep.join(
            [str(Path(verrou.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "verrou.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=tmp_path,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WAIT_SECONDS
        ready = False
        while not ready and time.monotonic() < deadline:
            assert server.poll() is None, stderr_path.read_text()
            try:
                ready = httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
        assert ready, stderr_path.read_text()
        check = httpx.post(
            f"{base}/v1/checks",
            json={"email": "nobody@example.net"},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=5.0,
        )
        assert check.status_code == 200, check.text

        os.killpg(server.pid, signal.SIGINT)
        returncode = server.wait(WAIT_SECONDS)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
    log = stderr_path.read_text(errors="replace")
    assert returncode == 0, log
    assert "Traceback" not in log, log
    assert "KeyboardInterrupt" not in log, log
    assert "starting a new one" not in log, log
    assert "Application shutdown complete" in log, log
