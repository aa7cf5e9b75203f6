"""Database URLs and PostgreSQL connection strings never show their password.

Regression: a keyword-form connection string (``user=... password=... host=...``) was printed
whole, password included, in an error; a URL whose password the driver could not parse gave a
traceback quoting it. Every message naming a registry goes through one redaction.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import write_leak
from verrou.cli import main
from verrou.errors import ConfigError, StoreError
from verrou.settings import Settings
from verrou.store import open_store
from verrou.store.postgres import PostgresStore
from verrou.store.urls import redacted_text, redacted_url

SECRET = "s3cr3t-Pw"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://verrou:{SECRET}@db:5432/reg", "postgresql://verrou:***@db:5432/reg"),
        (f"postgres://verrou:{SECRET}@db/reg", "postgres://verrou:***@db/reg"),
        (f"postgresql://verrou:p@ss{SECRET}@db/reg", "postgresql://verrou:***@db/reg"),
        (f"postgresql://verrou:s3cr%zz{SECRET}@db/reg", "postgresql://verrou:***@db/reg"),
        (
            f"postgresql://verrou@db/reg?sslmode=require&password={SECRET}&x=1",
            "postgresql://verrou@db/reg?sslmode=require&password=***&x=1",
        ),
        (f"user=verrou password={SECRET} host=db", "user=verrou password=*** host=db"),
        (f"user=verrou password = {SECRET} host=db", "user=verrou password = *** host=db"),
        (
            f"user=verrou password='{SECRET} with spaces' host=db",
            "user=verrou password=*** host=db",
        ),
        (f"host=db password='it\\'s {SECRET}' dbname=reg", "host=db password=*** dbname=reg"),
        (f"host=db password='{SECRET} unterminated", "host=db password=***"),
        (f"host=db PASSWORD={SECRET}", "host=db PASSWORD=***"),
        ("postgresql://verrou@db:5432/reg", "postgresql://verrou@db:5432/reg"),
        (
            "sqlite:////var/lib/verrou/registry.sqlite3",
            "sqlite:////var/lib/verrou/registry.sqlite3",
        ),
        ("user=verrou host=db", "user=verrou host=db"),
    ],
)
def test_redacted_url_hides_the_password_in_either_form(url: str, shown: str) -> None:
    assert redacted_url(url) == shown
    assert SECRET not in redacted_url(url)


def test_redacted_text_scrubs_a_driver_message_quoting_the_password() -> None:
    url = f"postgresql://verrou:s3cr%zz{SECRET}@db/reg"
    message = f'invalid percent-encoded token: "s3cr%zz{SECRET}"'
    assert SECRET not in redacted_text(message, url)
    keyword = f"host=db password='{SECRET} x'"
    assert SECRET not in redacted_text(f'missing "=" after "{SECRET}" in string', keyword)


def test_keyword_connection_string_in_settings_error_hides_the_password(tmp_path: Path) -> None:
    url = f"user=verrou password='{SECRET} x' host=db dbname=reg"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"VERROU_DATABASE_URL": url})
    assert SECRET not in refused.value.message and "password=***" in refused.value.message
    result = CliRunner().invoke(
        main,
        ["--database-url", url, "breaches"],
        env={"XDG_CONFIG_HOME": str(tmp_path)},
        catch_exceptions=False,
    )
    assert result.exit_code != 0 and SECRET not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_open_store_refuses_an_unknown_url_without_quoting_it() -> None:
    with pytest.raises(ConfigError) as refused:
        open_store(f"user=verrou password={SECRET}")
    assert SECRET not in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://verrou:s3cr%zz{SECRET}@127.0.0.1:5432/test",  # the driver quotes it
        f"postgresql://verrou:{SECRET}@127.0.0.1:1/test",  # nobody listens on port 1
        f"postgresql://verrou@127.0.0.1:1/test?password={SECRET}",
    ],
)
def test_unreachable_postgres_error_hides_the_password(url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as refused:
        PostgresStore(url, connect_timeout=2)
    assert SECRET not in refused.value.message and "***" in refused.value.message
    result = CliRunner().invoke(
        main,
        ["--database-url", url, "breaches"],
        env={"XDG_CONFIG_HOME": str(tmp_path)},
        catch_exceptions=False,
    )
    assert result.exit_code != 0 and SECRET not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.postgres
def test_ingest_report_names_the_registry_without_its_password(
    postgres_url: str, tmp_path: Path
) -> None:
    # Trust auth: the server ignores the password, the report must not print it.
    url = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")
    assert SECRET in url
    env = {
        "VERROU_KEY": bytes(range(32)).hex(),
        "VERROU_WORKERS": "0",
        "VERROU_REPORT_DIR": str(tmp_path / "reports"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    dump = write_leak(tmp_path / "leak.csv")
    result = CliRunner().invoke(
        main,
        ["--database-url", url, "ingest", str(dump), "--breach", "ants-2026"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "postgres:***@" in result.output and SECRET not in result.output
