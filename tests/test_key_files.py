"""Key files are refused as ssh refuses a private key: open to others, not a file, too big.

Regressions: fingerprint, signing and contact key files readable by group or others were
accepted silently; a key file that was a device (/dev/zero) or a huge file gave a MemoryError
traceback or hung.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from verrou.cli import main
from verrou.errors import KeyMaterialError
from verrou.keys import MAX_KEY_FILE_BYTES, create_key_file, load_key_file
from verrou.registry.contacts import create_contact_key_file, load_contact_key_file
from verrou.registry.sessions import create_session_key_file, load_session_key_file
from verrou.signing import create_signing_key_file, load_signing_key_file

KINDS: list[tuple[str, Callable[[Path], Any], Callable[[Path], Any]]] = [
    ("fingerprint key", create_key_file, load_key_file),
    ("signing key", create_signing_key_file, load_signing_key_file),
    ("contact key", create_contact_key_file, load_contact_key_file),
    ("session key", create_session_key_file, load_session_key_file),
]
IDS = [kind[0] for kind in KINDS]


@pytest.mark.parametrize(("what", "create", "load"), KINDS, ids=IDS)
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602])
def test_key_file_open_to_group_or_others_is_refused_with_the_chmod_to_run(
    tmp_path: Path,
    what: str,
    create: Callable[[Path], Any],
    load: Callable[[Path], Any],
    mode: int,
) -> None:
    path = tmp_path / "key"
    create(path)
    os.chmod(path, mode)
    with pytest.raises(KeyMaterialError) as refused:
        load(path)
    message = refused.value.message
    assert f"chmod 600 {path}" in message and what in message and f"{mode:04o}" in message
    assert "\n" not in message
    os.chmod(path, 0o600)
    load(path)  # once fixed, the same file loads
    os.chmod(path, 0o400)
    load(path)


@pytest.mark.parametrize(("what", "create", "load"), KINDS, ids=IDS)
def test_key_file_that_is_a_device_is_refused_without_reading_it(
    what: str, create: Callable[[Path], Any], load: Callable[[Path], Any]
) -> None:
    with pytest.raises(KeyMaterialError, match="not a regular file"):
        load(Path("/dev/zero"))


@pytest.mark.parametrize(("what", "create", "load"), KINDS, ids=IDS)
def test_huge_key_file_is_refused_after_a_few_kilobytes(
    tmp_path: Path, what: str, create: Callable[[Path], Any], load: Callable[[Path], Any]
) -> None:
    path = tmp_path / "huge.key"
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of zeros without writing them
    with pytest.raises(KeyMaterialError, match=f"larger than {MAX_KEY_FILE_BYTES:,} bytes"):
        load(path)


def test_key_file_that_is_a_pipe_or_a_folder_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.key"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(KeyMaterialError, match="not a regular file"):
        load_key_file(fifo)  # would block for a writer if opened blocking
    folder = tmp_path / "folder.key"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyMaterialError):
        load_key_file(folder)


def test_cli_refuses_a_world_readable_key_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fingerprint.key"
    create_key_file(path)
    os.chmod(path, 0o644)
    env = {"VERROU_KEY_FILE": str(path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = CliRunner().invoke(main, ["keys", "show"], env=env, catch_exceptions=False)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"chmod 600 {path}" in lines[0]
    result = CliRunner().invoke(
        main, ["keys", "show"], env={**env, "VERROU_KEY_FILE": "/dev/zero"}, catch_exceptions=False
    )
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert "not a regular file" in result.output
