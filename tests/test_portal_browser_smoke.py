"""The browser tests' own ground: Chromium drives the live demo's /docs, and the helpers catch
what they are for (an inaccessible page, a CSP violation, a page error)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser import (
    AXE_TAGS,
    Demo,
    NewPage,
    assert_accessible,
    assert_quiet,
    axe_violations,
    page_log,
    parse_demo_output,
    shot,
)

pytest_plugins = ["browser", "pytester"]

#: An image without text, a field without label, no language, no title: serious or critical.
BAD_PAGE = """<!doctype html><html><head></head><body><main>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<input type="text" name="nir"></main></body></html>"""

GOOD_PAGE = """<!doctype html><html lang="fr"><head><title>Geler mon identité</title></head>
<body><main><h1>Geler mon identité</h1>
<form><label for="nir">Numéro de sécurité sociale</label><input id="nir" name="nir" type="text">
<button type="submit">Geler</button></form></main></body></html>"""


@pytest.mark.browser
@pytest.mark.slow
def test_docs_of_the_live_demo_render_in_chromium(new_page: NewPage, demo: Demo) -> None:
    page = new_page(locale="en-GB")
    answer = page.goto(f"{demo.base_url}/docs")
    assert answer is not None and answer.status == 200
    # Swagger UI renders the API's own document: its title and the check operation.
    page.locator(".swagger-ui .info .title").wait_for()
    page.locator(".opblock-summary-path", has_text="/v1/checks").first.wait_for()
    assert "verrou" in page.locator(".swagger-ui .info .title").inner_text().lower()
    path = shot(page, "docs")
    assert path.stat().st_size > 10_000
    assert_quiet(page)


@pytest.mark.browser
@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_assert_accessible_finds_the_serious_violations_of_a_bad_page(
    new_page: NewPage, javascript_enabled: bool
) -> None:
    page = new_page(javascript_enabled=javascript_enabled)
    page.set_content(BAD_PAGE)
    found = {v.id: v for v in axe_violations(page)}
    assert {"image-alt", "label", "html-has-lang", "document-title"} <= set(found)
    assert found["label"].impact == "critical" and found["label"].targets == ("input",)
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    message = str(failure.value)
    for rule in ("image-alt", "label", "html-has-lang", "document-title"):
        assert rule in message
    assert "-- at input" in message


@pytest.mark.browser
@pytest.mark.parametrize("javascript_enabled", [True, False], ids=["js", "no-js"])
def test_assert_accessible_passes_a_good_page(new_page: NewPage, javascript_enabled: bool) -> None:
    page = new_page(javascript_enabled=javascript_enabled)
    page.set_content(GOOD_PAGE)
    assert_accessible(page)
    assert not axe_violations(page)
    assert "wcag2aa" in AXE_TAGS


@pytest.mark.browser
def test_the_page_log_collects_console_errors_csp_violations_and_page_errors(
    new_page: NewPage,
) -> None:
    page = new_page()
    page.set_content(
        "<!doctype html><html><head><meta http-equiv='Content-Security-Policy'"
        " content=\"script-src 'none'\"></head><body><script>alert(1)</script></body></html>"
    )
    page.evaluate("console.error('shown on the console')")
    log = page_log(page)
    assert log.csp_violations and "script-src 'none'" in log.csp_violations[0]
    assert any("shown on the console" in text for text in log.console_errors)
    with pytest.raises(AssertionError, match="CSP violation"):
        assert_quiet(page)


@pytest.mark.browser
def test_a_page_error_fails_the_test_that_met_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    tests = Path(__file__).resolve().parent
    path = [str(tests), str(tests.parent / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    pytester.makepyfile(
        test_inner="""
        pytest_plugins = ["browser"]

        def test_meets_a_page_error(new_page):
            new_page().set_content("<script>throw new Error('boom in the page')</script>")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*page errors:*", "*boom in the page*"])


@pytest.mark.parametrize(("required", "outcome"), [("", "skipped"), ("1", "errors")])
def test_without_chromium_a_browser_test_skips_unless_a_browser_is_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, required: str, outcome: str
) -> None:
    tests = Path(__file__).resolve().parent
    path = [str(tests), str(tests.parent / "src"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    monkeypatch.setenv("VERROU_REQUIRE_BROWSER", required)
    pytester.makepyfile(
        test_inner="""
        from pathlib import Path

        import browser

        pytest_plugins = ["browser"]
        browser.CHROMIUM = Path("/nonexistent/chromium")

        def test_needs_chromium(new_page):
            new_page()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rsf", timeout=120)
    result.assert_outcomes(**{outcome: 1})
    result.stdout.fnmatch_lines(["*no Chromium at /nonexistent/chromium*"])


@pytest.mark.browser
def test_a_request_off_loopback_is_blocked_and_logged(new_page: NewPage) -> None:
    page = new_page(javascript_enabled=False)
    page.set_content('<img src="https://cdn.example.com/logo.png" alt="logo">')
    page.wait_for_load_state("load")
    assert page_log(page).external_requests == ["https://cdn.example.com/logo.png"]


@pytest.mark.browser
def test_the_locale_is_the_accept_language_the_server_sees(new_page: NewPage) -> None:
    seen: list[str] = []
    page = new_page(locale="en-GB")

    def echo(route: object) -> None:
        from playwright.sync_api import Route

        assert isinstance(route, Route)
        seen.append(route.request.all_headers().get("accept-language", ""))
        route.fulfill(body="<!doctype html><title>x</title>", content_type="text/html")

    page.route("http://127.0.0.1:9/lang", echo)
    page.goto("http://127.0.0.1:9/lang")
    assert seen and seen[0].startswith("en-GB")
    assert page.evaluate("navigator.language") == "en-GB"


@pytest.mark.browser
def test_shot_refuses_a_name_that_is_a_path(new_page: NewPage) -> None:
    with pytest.raises(ValueError):
        shot(new_page(), "../outside")


def test_the_demo_output_is_parsed_with_and_without_the_portal_lines() -> None:
    curl = (
        "curl -s http://127.0.0.1:8123/v1/checks -H 'Authorization: Bearer vk_demo.SECRET'"
        " -H 'Content-Type: application/json' -d '{\"family_name\": \"Dupont\"}'"
    )
    today = f"# a leaked applicant\n{curl}\n\nDocs: http://127.0.0.1:8123/docs   Keys: x\n"
    demo = parse_demo_output(today)
    assert (demo.base_url, demo.api_key) == ("http://127.0.0.1:8123", "vk_demo.SECRET")
    assert demo.operator_password is None and len(demo.missing()) == 4

    portal = (
        today
        + "# the demo citizen, as the bank checks them\n"
        + curl.replace("Dupont", "L\\u00e9a")
        + "\nPortal: http://127.0.0.1:8123/\n"
        + '  citizen: "Se connecter avec FranceConnect", then user `demo-citizen` at the'
        " development provider\n"
        + "  operator: http://127.0.0.1:8123/operator/signin as `demo-operator`,"
        " password `p4ss-W0rd`\n"
    )
    demo = parse_demo_output(portal)
    assert demo.missing() == []
    assert (demo.citizen_user, demo.operator_name, demo.operator_password) == (
        "demo-citizen",
        "demo-operator",
        "p4ss-W0rd",
    )
    assert demo.citizen_check_body == {"family_name": "Léa"}

    with pytest.raises(ValueError, match="Bearer"):
        parse_demo_output("Docs: http://127.0.0.1:8123/docs\n")
