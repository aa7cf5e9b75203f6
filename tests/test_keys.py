from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from verrou.errors import KeyMaterialError
from verrou.fingerprints import Fingerprinter
from verrou.identifiers.kinds import Kind
from verrou.keys import create_key_file, load_key_file, parse_key_value
from verrou.settings import Settings


def test_key_file_is_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "fingerprint.key"
    key = create_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_key_file(path)
    assert loaded == key
    assert len(key.secret) >= 32
    assert key.key_id.startswith("fk-")
    assert key.secret.hex() not in repr(key)


def test_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "fingerprint.key"
    first = create_key_file(path)
    with pytest.raises(KeyMaterialError, match="refusing to overwrite"):
        create_key_file(path)
    assert load_key_file(path) == first


def test_missing_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="verrou keys init"):
        load_key_file(tmp_path / "absent.key")


def test_short_key_is_refused() -> None:
    with pytest.raises(KeyMaterialError, match="at least 32"):
        parse_key_value("00" * 16)


def test_inline_key_hex_and_base64_give_the_same_key() -> None:
    import base64

    secret = os.urandom(32)
    assert parse_key_value(secret.hex()) == parse_key_value(base64.b64encode(secret).decode())


def test_altered_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fingerprint.key"
    create_key_file(path)
    text = path.read_text().replace('"key_id": "fk-', '"key_id": "fk-0')
    path.write_text(text)
    with pytest.raises(KeyMaterialError, match="does not match"):
        load_key_file(path)


def test_fingerprints_are_keyed_and_domain_separated(tmp_path: Path) -> None:
    a = Fingerprinter(create_key_file(tmp_path / "a.key"))
    b = Fingerprinter(create_key_file(tmp_path / "b.key"))
    value = "jean.dupont@example.fr"
    assert a.fingerprint(Kind.EMAIL, value) == a.fingerprint(Kind.EMAIL, value)
    assert a.fingerprint(Kind.EMAIL, value) != b.fingerprint(Kind.EMAIL, value)
    assert a.fingerprint(Kind.EMAIL, value) != a.fingerprint(Kind.ACCOUNT_ID, value)
    assert a.fingerprint_many(Kind.EMAIL, [value]) == [a.fingerprint(Kind.EMAIL, value)]
    assert len(a.fingerprint(Kind.EMAIL, value)) == 16


def test_settings_validate_and_name_the_variable() -> None:
    from verrou.errors import ConfigError

    with pytest.raises(ConfigError, match="VERROU_BATCH_ROWS"):
        Settings.from_env({"VERROU_BATCH_ROWS": "lots"})
    with pytest.raises(ConfigError, match="VERROU_DATABASE_URL"):
        Settings.from_env({"VERROU_DATABASE_URL": "mysql://x"})
    settings = Settings.from_env({"VERROU_WORKERS": "0", "VERROU_BATCH_ROWS": "10_000"})
    assert (settings.workers, settings.batch_rows) == (0, 10_000)


def test_an_override_is_held_to_the_declared_rule_of_its_variable() -> None:
    from verrou.errors import ConfigError

    with pytest.raises(ConfigError, match="VERROU_WORKERS must be between 0 and 64, got 65"):
        Settings.from_env({}, workers=65)
    with pytest.raises(ConfigError, match="VERROU_RECORDER must be process or thread"):
        Settings.from_env({"VERROU_RECORDER": "thread"}, recorder="fork")
    assert Settings.from_env({"VERROU_WORKERS": "3"}, workers=64, recorder=None).workers == 64


def _readme_configuration_rows() -> list[tuple[str, str]]:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(VERROU_[A-Z_]+)` \| (.+) \|$", section, flags=re.MULTILINE)


def test_every_setting_is_documented_in_the_readme() -> None:
    from verrou.settings import SETTINGS

    rows = _readme_configuration_rows()
    assert [env for env, _ in rows] == [s.env for s in SETTINGS], "README table != settings"
    for (env, text), setting in zip(rows, SETTINGS, strict=True):
        assert text == setting.help, f"{env}: the README row is not the declared help line"


def test_every_help_line_states_its_default() -> None:
    from dataclasses import MISSING

    from verrou.settings import SETTINGS

    literal = [s for s in SETTINGS if s.default is not MISSING and s.default is not None]
    assert len(literal) >= 9, "the check must be able to fail"
    for setting in literal:
        shown = f"{setting.default:,}" if isinstance(setting.default, int) else str(setting.default)
        assert "default" in setting.help.lower(), setting.env
        assert re.search(rf"(?<![\w,.]){re.escape(shown)}(?!\w|,\d)", setting.help), (
            f"{setting.env}: help does not state the default {shown}"
        )


def test_secret_settings_never_show_in_a_repr_or_an_error() -> None:
    from verrou.errors import ConfigError
    from verrou.settings import SETTINGS

    secrets = [s for s in SETTINGS if s.secret]
    assert {s.env for s in secrets} == {
        "VERROU_KEY",
        "VERROU_WEBHOOK_SECRET",
        "VERROU_METRICS_TOKEN",
        "VERROU_OIDC_CLIENT_SECRET",
    }
    value = "s3cr3t-" + "ab" * 20
    settings = Settings.from_env({s.env: value for s in secrets})
    assert all(getattr(settings, s.name) == value for s in secrets)
    assert value not in repr(settings)
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"VERROU_METRICS_TOKEN": "s3cr3t"})
    assert "s3cr3t" not in refused.value.message


def test_the_settings_repr_masks_the_database_password() -> None:
    # Regression: the repr showed VERROU_DATABASE_URL whole, password included.
    settings = Settings.from_env(
        {"VERROU_DATABASE_URL": "postgresql://verrou:s3cret-pw@db.internal/registry"}
    )
    shown = repr(settings)
    assert "s3cret-pw" not in shown
    assert "db.internal" in shown and "database_url=" in shown
