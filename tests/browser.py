"""Browser tests: Playwright driving Debian's Chromium, axe-core, screenshots, a live demo.

A test module uses these fixtures by naming this module a plugin, as the smoke test does::

    pytest_plugins = ["browser"]

and imports the helpers and types with ``from browser import ...`` (as others do from conftest).

Chromium is Debian's own (``/usr/bin/chromium``, installed by ``.ci/run``); Playwright never
downloads a browser. Without Playwright, Chromium or axe-core a test skips with the reason shown;
with VERROU_REQUIRE_BROWSER=1 (set by ``.ci/run``) that is a failure instead.

Playwright's sync API marks the main thread's asyncio loop as running for as long as it is
started, so ``asyncio.run`` fails in any test that runs meanwhile: the browser therefore lives
for one module (a launch costs under a second), not the whole session. The demo, a subprocess,
lives for the session.

PYTEST_DONT_REWRITE: a test module imports this before pytest loads it as a plugin, too late for
assertion rewriting; its assertions carry their own messages.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import pytest

from conftest import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Route

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE_SCRIPT = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
#: The folder CI keeps (git-ignored).
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"

#: The machine has no network beyond loopback: nothing Chromium would fetch for itself.
#: Debian's launcher decides on --disable-dev-shm-usage from the free space of /dev/shm and
#: gets it wrong when /dev/shm is mounted twice (as here); a small /dev/shm crashes tabs.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

#: Bounds on every wait, in milliseconds (Playwright) and seconds (the demo).
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 20_000
LAUNCH_TIMEOUT_MS = 30_000
AXE_TIMEOUT_S = 30.0
DEMO_START_TIMEOUT_S = 90.0
DEMO_STOP_TIMEOUT_S = 20.0

#: What axe checks: WCAG 2.0, 2.1 and 2.2 at levels A and AA (RGAA 4 follows WCAG 2.1 AA).
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
#: The impacts that fail a test.
AXE_FAILING = ("serious", "critical")


def browser_unavailable(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it under VERROU_REQUIRE_BROWSER=1 (CI)."""
    if os.environ.get("VERROU_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required here (VERROU_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


# -- Chromium ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, under Playwright, for the module's tests."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        browser_unavailable("Playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        browser_unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=list(CHROMIUM_ARGS),
                timeout=LAUNCH_TIMEOUT_MS,
            )
        except Error as exc:
            browser_unavailable(f"{CHROMIUM} does not start under Playwright: {exc}")
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageLog:
    """What a page reported while a test drove it."""

    locale: str
    javascript_enabled: bool
    #: Console messages of type error, CSP violations aside (a failed load is one).
    console_errors: list[str] = field(default_factory=list)
    #: Content-Security-Policy violations, as Chromium words them on the console (it does so
    #: with JavaScript disabled too, which a ``securitypolicyviolation`` listener cannot).
    csp_violations: list[str] = field(default_factory=list)
    #: Uncaught exceptions of the page's scripts: any fails the test.
    page_errors: list[str] = field(default_factory=list)
    #: Requests to anywhere but loopback, aborted before they leave.
    external_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"CSP violation: {text}" for text in self.csp_violations),
            *(f"page error: {text}" for text in self.page_errors),
            *(f"request off loopback (blocked): {url}" for url in self.external_requests),
        ]


_LOGS: dict[int, tuple[Page, PageLog]] = {}


def page_log(page: Page) -> PageLog:
    """The :class:`PageLog` of a page made by ``new_page``."""
    try:
        return _LOGS[id(page)][1]
    except KeyError:
        raise AssertionError("this page was not made by the new_page fixture") from None


def assert_quiet(page: Page) -> None:
    """Fail listing every console error, CSP violation, page error and off-loopback request."""
    problems = page_log(page).problems()
    assert not problems, f"{page.url} reported:\n  " + "\n  ".join(problems)


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname in (
        "127.0.0.1",
        "localhost",
        "::1",
    )


NewPage = Callable[..., "Page"]


@pytest.fixture
def new_page(chromium: Browser) -> Iterator[NewPage]:
    """``new_page(locale="fr-FR", javascript_enabled=True)``: a page in a fresh context (no
    cookies; ``locale`` is its Accept-Language and navigator.language), its reports collected
    (:func:`page_log`, :func:`assert_quiet`). A page error fails the test when it ends."""
    contexts: list[BrowserContext] = []
    made: list[int] = []

    def make(*, locale: str = "fr-FR", javascript_enabled: bool = True) -> Page:
        context = chromium.new_context(locale=locale, java_script_enabled=javascript_enabled)
        contexts.append(context)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        log = PageLog(locale=locale, javascript_enabled=javascript_enabled)

        def block(route: Route) -> None:
            log.external_requests.append(route.request.url)
            route.abort("blockedbyclient")

        context.route(lambda url: not _loopback(url), block)
        page = context.new_page()

        def console(message: ConsoleMessage) -> None:
            if message.type != "error":
                return
            where = message.location.get("url") or page.url
            text = f"{message.text} ({where})"
            if "Content Security Policy" in message.text:
                log.csp_violations.append(text)
            else:
                log.console_errors.append(text)

        page.on("console", console)
        page.on("pageerror", lambda error: log.page_errors.append(f"{error} ({page.url})"))
        _LOGS[id(page)] = (page, log)
        made.append(id(page))
        return page

    try:
        yield make
        errors = [
            f"{_LOGS[key][0].url}: {text}" for key in made for text in _LOGS[key][1].page_errors
        ]
        if errors:
            pytest.fail("page errors:\n  " + "\n  ".join(errors))
    finally:
        for key in made:
            _LOGS.pop(key, None)
        for context in contexts:
            context.close()


# -- Accessibility --------------------------------------------------------------------------

#: axe runs in an isolated world of the page (Page.createIsolatedWorld over CDP): it sees the
#: DOM and computed styles but not the page's scripts, which cannot see it either, and the
#: page's Content-Security-Policy does not govern it. So no context needs bypass_csp (which
#: would also silence the very CSP violations the tests assert on) and the page is checked as
#: served. axe.run is started, then polled: no wait depends on the page's event loop alone.
_AXE_START = """(() => {
  window.__verrouAxe = { done: false };
  axe.run(document, {
    runOnly: { type: "tag", values: %s },
    resultTypes: ["violations"],
  }).then(
    (results) => { window.__verrouAxe = { done: true, violations: results.violations.map(
      (v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                targets: v.nodes.map((n) => n.target.join(" ")) })) }; },
    (error) => { window.__verrouAxe = { done: true, error: String(error) }; },
  );
})()"""


@dataclass(frozen=True)
class AxeViolation:
    id: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.id} ({self.impact}): {self.help} -- at {', '.join(self.targets)}"


def axe_violations(page: Page) -> list[AxeViolation]:
    """Every WCAG 2 A/AA violation axe-core finds in the page's main frame, any impact."""
    if not AXE_SCRIPT.is_file():
        browser_unavailable(f"axe-core is not installed ({AXE_SCRIPT}; npm ci --prefix web)")
    if page_log(page).javascript_enabled:
        return _run_axe(page)
    return _axe_without_javascript(page)


def assert_accessible(page: Page) -> None:
    """Fail listing every ``serious`` or ``critical`` violation (id, help, target selectors)."""
    failing = [v for v in axe_violations(page) if v.impact in AXE_FAILING]
    assert not failing, f"{page.url} is not accessible:\n  " + "\n  ".join(map(str, failing))


def _run_axe(page: Page) -> list[AxeViolation]:
    session = page.context.new_cdp_session(page)
    try:
        frame_id = session.send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        world = session.send(
            "Page.createIsolatedWorld", {"frameId": frame_id, "worldName": "verrou-axe"}
        )

        def evaluate(expression: str) -> Any:
            answer = session.send(
                "Runtime.evaluate",
                {
                    "expression": expression,
                    "contextId": world["executionContextId"],
                    "returnByValue": True,
                    "timeout": AXE_TIMEOUT_S * 1000,  # of this synchronous part
                },
            )
            if "exceptionDetails" in answer:
                details = answer["exceptionDetails"]
                raise AssertionError(
                    f"axe failed: {details.get('exception', {}).get('description') or details}"
                )
            return answer["result"].get("value")

        evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
        evaluate(_AXE_START % json.dumps(list(AXE_TAGS)))
        deadline = time.monotonic() + AXE_TIMEOUT_S
        while not (state := evaluate("window.__verrouAxe"))["done"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"axe did not finish on {page.url} in {AXE_TIMEOUT_S:.0f} s")
            page.wait_for_timeout(50)
    finally:
        session.detach()
    if "error" in state:
        raise AssertionError(f"axe failed on {page.url}: {state['error']}")
    return [
        AxeViolation(v["id"], v["impact"], v["help"], v["helpUrl"], tuple(v["targets"]))
        for v in state["violations"]
    ]


_STAND_IN_URL = "http://127.0.0.1:9/verrou-axe-copy"


def _axe_without_javascript(page: Page) -> list[AxeViolation]:
    """A page without JavaScript runs no script at all, axe's isolated world included: check
    its DOM, as it stands, at its own URL in a sibling context with JavaScript on, served
    under ``script-src 'none'`` so that none of the page's own scripts run there."""
    html = page.content()
    # A page given by set_content is about:blank, which cannot be routed: a loopback stand-in.
    url = page.url if urlsplit(page.url).scheme in ("http", "https") else _STAND_IN_URL
    browser = page.context.browser
    assert browser is not None
    sibling = browser.new_context(
        locale=page_log(page).locale, storage_state=page.context.storage_state()
    )
    try:
        sibling.set_default_timeout(ACTION_TIMEOUT_MS)
        sibling.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        sibling.route(lambda other: not _loopback(other), lambda route: route.abort())
        sibling.route(
            lambda other: other == url,
            lambda route: route.fulfill(
                body=html,
                content_type="text/html; charset=utf-8",
                headers={"Content-Security-Policy": "script-src 'none'"},
            ),
        )
        copy = sibling.new_page()
        copy.goto(url, wait_until="load")
        _LOGS[id(copy)] = (copy, PageLog(page_log(page).locale, javascript_enabled=True))
        try:
            return _run_axe(copy)
        finally:
            _LOGS.pop(id(copy), None)
    finally:
        sibling.close()


# -- Screenshots ----------------------------------------------------------------------------


def shot(page: Page, name: str) -> Path:
    """A full-page PNG of ``page`` as ``artifacts/screenshots/<name>.png``: its path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"not a plain file name: {name!r}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True, animations="disabled", timeout=ACTION_TIMEOUT_MS)
    return path


# -- The live demo --------------------------------------------------------------------------


@dataclass(frozen=True)
class Demo:
    """A running ``verrou demo``, as its output describes it. The portal's lines (citizen,
    operator) are None while the demo does not print them: :meth:`missing` says which."""

    base_url: str  # without the trailing slash
    api_key: str
    citizen_user: str | None = None
    operator_name: str | None = None
    operator_password: str | None = None
    #: The body of the demo bank's check on the demo citizen, as its curl line sends it.
    citizen_check_body: dict[str, Any] | None = None
    output: str = field(default="", repr=False)

    def missing(self) -> list[str]:
        """The fields the demo's output gave no value for, with the line expected."""
        return [
            f"{f.name}: {_EXPECTED[f.name]}"
            for f in fields(self)
            if f.name in _EXPECTED and getattr(self, f.name) is None
        ]


_EXPECTED = {
    "citizen_user": '`  citizen: "...", then user `demo-citizen` at the development provider`',
    "operator_name": "`  operator: http://127.0.0.1:PORT/operator/signin as `NAME`, password `PW``",
    "operator_password": "the same operator line",
    "citizen_check_body": "a `# ... citizen ...` comment followed by a `curl ... -d '{...}'` line",
}

_PORTAL = re.compile(r"^\s*Portal:\s*(?P<url>https?://\S+?)/?\s*$", re.MULTILINE | re.IGNORECASE)
_DOCS = re.compile(r"^\s*Docs:\s*(?P<url>https?://\S+?)/docs\b", re.MULTILINE | re.IGNORECASE)
_CITIZEN = re.compile(r"^\s*citizen:.*?\buser\s+`(?P<user>[^`]+)`", re.MULTILINE | re.IGNORECASE)
_OPERATOR = re.compile(
    r"^\s*operator:.*?\bas\s+`(?P<name>[^`]+)`.*?\bpassword\s+`(?P<password>[^`]+)`",
    re.MULTILINE | re.IGNORECASE,
)


def parse_demo_output(output: str) -> Demo:
    """The :class:`Demo` that ``output`` describes. Raises :class:`ValueError` naming the line
    missing when it has no base URL or no API key."""
    base = _PORTAL.search(output) or _DOCS.search(output)
    if base is None:
        raise ValueError("no `Portal: http://...` (nor `Docs: http://.../docs`) line")
    api_key: str | None = None
    citizen_body: dict[str, Any] | None = None
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("curl "):
            continue
        words = shlex.split(line)
        headers = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "-H"]
        bearer = [h.split("Bearer", 1)[1].strip() for h in headers if "Bearer" in h]
        api_key = api_key or (bearer[0] if bearer else None)
        comment = lines[index - 1] if index else ""
        if citizen_body is None and comment.startswith("#") and "citizen" in comment.lower():
            body = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "-d"]
            citizen_body = json.loads(body[0]) if body else None
    if api_key is None:
        raise ValueError("no `curl ... -H 'Authorization: Bearer KEY'` line")
    citizen = _CITIZEN.search(output)
    operator = _OPERATOR.search(output)
    return Demo(
        base_url=base["url"].rstrip("/"),
        api_key=api_key,
        citizen_user=citizen["user"] if citizen else None,
        operator_name=operator["name"] if operator else None,
        operator_password=operator["password"] if operator else None,
        citizen_check_body=citizen_body,
        output=output,
    )


class _DemoProcess:
    """``verrou demo`` as a subprocess, its output read on a thread."""

    def __init__(self, folder: Path) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("VERROU_")}
        env |= {
            "VERROU_WORKERS": "0",
            "XDG_CONFIG_HOME": str(folder / "config-home"),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "400",  # rich wraps at 80 columns off a terminal: no line split in two
        }
        command = [
            *(sys.executable, "-m", "verrou.cli", "demo", "--rows", "2000"),
            *("--dir", str(folder / "demo"), "--port", str(free_port())),
            *("--serve-for", "1200"),
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            env=env,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, name="verrou-demo-output", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def fail(self, problem: str) -> NoReturn:
        pytest.fail(f"verrou demo: {problem}\n--- its output ---\n{self.output[-6000:]}")

    def wait_for_line(self, pattern: re.Pattern[str], deadline: float) -> None:
        while not pattern.search(self.output):
            if self.process.poll() is not None:
                self.reader.join(5)
                if pattern.search(self.output):
                    return
                self.fail(f"exited with {self.process.returncode} before serving")
            if time.monotonic() > deadline:
                self.fail(f"printed no line like {pattern.pattern!r} in time")
            time.sleep(0.05)

    def wait_healthy(self, base_url: str, deadline: float) -> None:
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                self.fail(f"exited with {self.process.returncode} before answering /healthz")
            if time.monotonic() > deadline:
                self.fail(f"{base_url}/healthz did not answer in time")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(DEMO_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.reader.join(5)


#: How long, once the demo serves, its last lines may take to come through the pipe.
_OUTPUT_GRACE_S = 2.0


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``verrou demo`` with 2,000 synthetic rows, serving on loopback for the session."""
    started = _DemoProcess(tmp_path_factory.mktemp("verrou-demo"))
    try:
        deadline = time.monotonic() + DEMO_START_TIMEOUT_S
        started.wait_for_line(_DOCS, deadline)
        try:
            base_url = parse_demo_output(started.output).base_url
        except ValueError as exc:
            started.fail(str(exc))
        started.wait_healthy(base_url, deadline)
        # It prints everything before it listens: what is missing now is at most in the pipe.
        grace = time.monotonic() + _OUTPUT_GRACE_S
        while (running := parse_demo_output(started.output)).missing():
            if time.monotonic() > grace:
                break
            time.sleep(0.05)
        yield running
    finally:
        started.stop()


@pytest.fixture(scope="session")
def portal_demo(demo: Demo) -> Demo:
    """:func:`demo`, failing clearly unless its output has every portal line."""
    missing = demo.missing()
    if missing:
        pytest.fail(
            "the demo's output lacks what the portal tests need:\n  "
            + "\n  ".join(missing)
            + f"\n--- its output ---\n{demo.output[-6000:]}"
        )
    return demo
