"""The portal in a real browser (Debian's Chromium under Playwright) against the live demo:
the private check running in the page, the language switch, the citizen's story from the
private check to the report's download, the operator's from a breach page to a canary
incident, and a freeze without JavaScript. Every page is checked by axe-core (no serious or
critical violation), reports no console error or CSP violation, and is saved as a screenshot
under artifacts/screenshots/."""

from __future__ import annotations

import re
import shlex

import pytest

from browser import Demo, NewPage, assert_accessible, assert_quiet, shot

pytest_plugins = ["browser"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _lookup_emails(demo: Demo) -> list[str]:
    """The emails of the demo's `verrou lookup` lines: a leaked one, then an unknown one."""
    emails = []
    for line in demo.output.splitlines():
        if line.startswith("verrou lookup"):
            words = shlex.split(line)
            if "--email" in words:
                emails.append(words[words.index("--email") + 1])
    assert len(emails) >= 2, demo.output[-3000:]
    return emails


def _private_check(page: object, value: str) -> str:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.get_by_label(re.compile("^(Adresse électronique|Email address)$")).fill(value)
    page.locator("#private-check button[type=submit]").click()
    result = page.locator("#private-check-result")
    expect(result).not_to_have_text(re.compile(r"^$|…"), timeout=15_000)
    return result.inner_text()


def test_the_private_check_runs_in_the_page_and_finds_a_leaked_email(
    new_page: NewPage, portal_demo: Demo
) -> None:
    leaked, unknown = _lookup_emails(portal_demo)[:2]
    page = new_page(locale="fr-FR")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(f"{request.url} {request.post_data or ''}"))
    page.goto(portal_demo.base_url + "/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Trouvé" in _private_check(page, leaked) and "ants-2026" in page.content()
    assert "Introuvable" in _private_check(page, unknown)
    # The value never left the page unblinded: no request carries it, in any form.
    for value in (leaked, unknown):
        assert not [line for line in sent if value in line or value.split("@")[0] in line]
    shot(page, "home-private-check-fr")
    assert_accessible(page)
    assert_quiet(page)


def test_the_language_switch_and_the_browser_s_language(
    new_page: NewPage, portal_demo: Demo
) -> None:
    page = new_page(locale="fr-FR")
    page.goto(portal_demo.base_url + "/")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Votre identité a fuité. Verrouillez-la."
    )
    page.get_by_role("link", name="English").click()
    page.wait_for_url(portal_demo.base_url + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Your identity leaked. Lock it."
    shot(page, "home-en")
    assert_accessible(page)
    page.get_by_role("link", name="Français").click()
    assert page.locator("html").get_attribute("lang") == "fr"

    english = new_page(locale="en-GB")
    english.goto(portal_demo.base_url + "/operator/signin")
    assert english.get_by_role("heading", level=1).inner_text() == "Operator sign-in"
    assert_quiet(page)
    assert_quiet(english)


def test_the_home_page_without_javascript_says_the_check_needs_it(
    new_page: NewPage, portal_demo: Demo
) -> None:
    page = new_page(javascript_enabled=False)
    page.goto(portal_demo.base_url + "/")
    assert page.locator("#private-check").is_hidden()
    assert "nécessite JavaScript" in page.content()
    shot(page, "home-no-js")
    assert_accessible(page)
