"""The operator's view: `verrou ...` commands, their output, their errors and exit codes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from verrou.cli import main
from verrou.store.migrations import migrations_for


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "VERROU_DATABASE_URL": f"sqlite:///{tmp_path / 'registry.sqlite3'}",
        "VERROU_KEY_FILE": str(tmp_path / "keys" / "fingerprint.key"),
        "VERROU_WORKERS": "0",
        "VERROU_REPORT_DIR": str(tmp_path / "reports"),
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def small_dump(tmp_path: Path, env: dict[str, str]) -> Path:
    path = tmp_path / "ants.csv"
    result = run(env, "synth", "--rows", "1500", "--with-documents", "--out", str(path))
    assert result.exit_code == 0, result.output
    assert "wrote 1,500 rows" in result.output
    assert path.with_name("ants.csv.truth.json").exists()
    return path


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["demo"],
        ["synth"],
        ["keys"],
        ["keys", "init"],
        ["migrate"],
        ["ingest"],
        ["breaches"],
        ["breach"],
        ["breach", "set"],
        ["breach", "show"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_keys_init_refuses_to_overwrite(env: dict[str, str]) -> None:
    first = run(env, "keys", "init")
    assert first.exit_code == 0 and "mode 0600" in first.output
    second = run(env, "keys", "init")
    assert second.exit_code == 2
    assert second.output.count("\n") == 1
    assert "refusing to overwrite" in second.output
    shown = run(env, "keys", "show")
    assert shown.output.strip().startswith("fk-")


def test_ingest_without_a_key_refuses_in_one_line(env: dict[str, str], small_dump: Path) -> None:
    result = run(env, "ingest", str(small_dump), "--breach", "ants-2026")
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: no fingerprint key")
    assert "Traceback" not in result.output


def test_ingest_json_then_breaches(env: dict[str, str], small_dump: Path) -> None:
    run(env, "keys", "init")
    result = run(env, "ingest", str(small_dump), "--breach", "ants-2026", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["status"] == "complete"
    assert report["rows_read"] == 1500
    assert report["valid"]["email"] > 1400
    assert report["report_file"] and Path(report["report_file"]).exists()

    again = run(env, "ingest", str(small_dump), "--breach", "ants-2026")
    assert "already ingested" in again.output

    timeline = run(
        env,
        "breach",
        "ants-2026",
        "--intrusion-started",
        "2026-03-02",
        "--detected",
        "2026-04-08",
        "--title",
        "ANTS",
    )
    assert "dwell time 37 days" in timeline.output
    listed = json.loads(run(env, "breaches", "--json").output)
    assert listed[0]["name"] == "ants-2026"
    assert listed[0]["fingerprints_by_kind"] == report["fingerprints"]
    assert listed[0]["figures"]["dwell_days"] == 37.0
    table = run(env, "breaches").output
    assert "ants-2026" in table and "37 d" in table


def test_dry_run_and_saved_mapping(env: dict[str, str], small_dump: Path, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    result = run(
        env, "ingest", str(small_dump), "--breach", "x", "--dry-run", "--save-mapping", str(mapping)
    )
    assert result.exit_code == 0, result.output
    assert "nothing written" in result.output
    assert "email" in result.output
    assert not (tmp_path / "registry.sqlite3").exists()
    assert mapping.exists()
    run(env, "keys", "init")
    detected = json.loads(run(env, "ingest", str(small_dump), "--breach", "a", "--json").output)
    from_file = json.loads(
        run(
            env, "ingest", str(small_dump), "--breach", "b", "--json", "--mapping", str(mapping)
        ).output
    )
    assert detected["mapping"] == from_file["mapping"]
    assert detected["valid"] == from_file["valid"]


def test_unreadable_dump_is_one_line_and_verbose_shows_the_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(env, "keys", "init")
    bad = tmp_path / "leak.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    result = run(env, "ingest", str(bad), "--breach", "x")
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    verbose = run(env, "-v", "ingest", str(bad), "--breach", "x")
    assert "Traceback" in verbose.output


def test_demo_runs_and_reruns(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {"VERROU_WORKERS": "0"}
    first = run(env, "demo", "--rows", "2000", "--dir", str(folder), "--no-serve")
    assert first.exit_code == 0, first.output
    # 2,000 synthetic rows and the 3 canaries planted in them before the leak.
    assert "rows read" in first.output and "2,003" in first.output
    assert "canaries of source mutuelle-partenaire found: 3" in first.output
    assert (folder / "registry.sqlite3").exists()
    assert (folder / "keys" / "fingerprint.key").exists()
    again = run(env, "demo", "--rows", "2000", "--dir", str(folder), "--no-serve")
    assert "already ingested" in again.output


def test_migrate_is_idempotent(env: dict[str, str]) -> None:
    assert "schema" in run(env, "migrate").output
    latest = max(m.version for m in migrations_for("sqlite"))
    assert f"up to date at {latest}" in run(env, "migrate").output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_demo_serves_and_its_curls_give_step_up_deny_deny_clear_and_deny_on_a_canary(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {**os.environ, "VERROU_WORKERS": "0", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "verrou.cli",
            "demo",
            "--rows",
            "2000",
            "--dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
            "--serve-for",
            "60",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert demo.stdout is not None
        curls: list[str] = []
        for line in demo.stdout:
            if line.startswith("curl "):
                curls.append(line.strip())
            if line.startswith("Docs:"):
                break
        assert len(curls) == 5, curls
        # The third is the frozen applicant spoofed: a Cyrillic letter and a Hangul filler.
        assert "\\u3164" in curls[2] and "\\u04" in curls[2]
        _wait_for(f"http://127.0.0.1:{port}/healthz")
        verdicts = []
        for command in curls:
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30)
            verdicts.append(json.loads(done.stdout)["verdict"])
        assert verdicts == ["step_up", "deny", "deny", "clear", "deny"]
    finally:
        demo.terminate()
        demo.wait(30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.mark.slow
def test_demo_without_a_terminal_asks_its_questions_and_stops(tmp_path: Path) -> None:
    env = {**os.environ, "VERROU_WORKERS": "0", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with socket.socket() as busy:  # the port it is told to use is taken: it must pick another
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "verrou.cli",
                "demo",
                "--rows",
                "2000",
                "--dir",
                str(tmp_path / "demo"),
                "--port",
                str(taken),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    asked = [line.split("got:")[1].strip() for line in done.stdout.splitlines() if "got:" in line]
    assert asked == ["step_up", "deny", "deny", "clear", "deny"]  # the last: a canary
    assert f"port {taken} is taken" in done.stderr
    private = [line for line in done.stdout.splitlines() if line.startswith("private check:")]
    assert [line.split("found in: ")[1].split(" (")[0] for line in private] == [
        "ants-2026",
        "ants-2026",
        "no indexed breach",
    ]
    assert "outcome curve: " in done.stdout and "outcomes-ants-2026.png" in done.stdout
    assert (tmp_path / "demo" / "reports" / "outcomes-ants-2026.png").stat().st_size > 1000
    assert "audit log: " in done.stdout and "entries verified" in done.stdout
    # The portal: its address, how to sign in as the demo citizen and operator, then its tour.
    assert "Portal: http://127.0.0.1:" in done.stdout and "`demo-citizen`" in done.stdout
    assert "as `demo-operator`, password `" in done.stdout
    assert "answered in fr" in done.stdout and "read ants-2026's page: severity" in done.stdout


@pytest.mark.slow
def test_demo_on_a_terminal_stops_quietly_on_ctrl_c(tmp_path: Path) -> None:
    # Regression: Ctrl-C on a serving demo went through uvicorn's plain server, which printed
    # the recorder's KeyboardInterrupt traceback and could start a new recorder while stopping.
    import pty
    import select

    port = _free_port()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo, on a terminal of its own
        os.environ.update(VERROU_WORKERS="0", XDG_CONFIG_HOME=str(tmp_path / "config"))
        folder = str(tmp_path / "demo")
        argv = [sys.executable, "-m", "verrou.cli", "demo", "--rows", "2000", "--dir", folder]
        os.execv(sys.executable, [*argv, "--port", str(port)])
    output = b""
    interrupted_at: float | None = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break  # the demo ended and closed its terminal
                if not chunk:
                    break
                output += chunk
            if interrupted_at is None and b"Stop with Ctrl-C" in output:
                _wait_for(f"http://127.0.0.1:{port}/healthz")
                os.write(fd, b"\x03")
                interrupted_at = time.monotonic()
            if interrupted_at is not None and time.monotonic() - interrupted_at > 20:
                break
        for _ in range(100):  # up to 10 s more for it to exit, then it is stopped for good
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the demo did not stop after Ctrl-C: {output[-2000:]!r}")
    finally:
        os.close(fd)
    text = output.decode("utf-8", "replace")
    assert interrupted_at is not None, text[-2000:]
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-2000:]
