"""The API docs in a real browser, as a new user meets them: Swagger UI at /api/docs/ (expand
GET /api/sequences, "Try it out", "Execute": the request reaches the server that served the page,
at /api/sequences, not /api/api/sequences) and ReDoc at /api/redoc (its script served locally).

Debian's Chromium (tests/browser.py installs it if missing), driven by Playwright; no console
errors, no failed requests. A failing test leaves a screenshot in its tmp_path."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from tests import browser as browsers

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 30_000
# ReDoc 2.5's sidebar footer shows Redocly's logo from their CDN, hard-coded in redoc.standalone.js
# (no option turns it off): offline the image fails and ReDoc hides it (its onError); nothing else
# on the page depends on it.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One headless Chromium for the module (Debian's, never one Playwright downloads)."""
    browsers.chromium()  # installed (or skipped) before Playwright starts
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = browsers.launch(p, TIMEOUT_MS)
        yield launched
        launched.close()


class Watched:
    """A page and what went wrong on it: console errors, uncaught exceptions, failed requests."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.requests: list[str] = []  # the URL of every request the page made
        self.responses: list[tuple[str, str, int]] = []  # (method, url, status) of every response
        page.on("console", lambda msg: self.problems.append(f"console {msg.type}: {msg.text} ({msg.location})")
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.method} {req.url}: {req.failure}"))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: self.responses.append((r.request.method, r.url, r.status)))
        page.set_default_timeout(TIMEOUT_MS)
        page.set_default_navigation_timeout(TIMEOUT_MS)

    def elsewhere(self, base_url: str) -> list[str]:
        """Requests to anywhere but ``base_url`` (a blob: URL the page made itself counts as its own):
        the docs must work offline. ReDoc's logo is the one known exception (REDOC_LOGO)."""
        return [url for url in self.requests
                if not url.startswith((f"{base_url}/", f"blob:{base_url}/")) and url != REDOC_LOGO]


@pytest.fixture
def watched(chromium) -> Iterator[Watched]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    w = Watched(context.new_page())
    try:
        yield w
    finally:
        context.close()


@contextlib.contextmanager
def screenshot_on_failure(w: Watched, tmp_path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        shot = tmp_path / "failure.png"
        with contextlib.suppress(Exception):
            w.page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failing page: {shot}")
        raise


def test_swagger_ui_try_it_out_reaches_the_server_that_served_it(watched: Watched, live_server, tmp_path: Path):
    from playwright.sync_api import expect

    page = watched.page
    with screenshot_on_failure(watched, tmp_path):
        page.goto(f"{live_server.url}/api/docs/")
        # The operation's summary bar (its accessible name is "get /api/sequences") expands its
        # block, whose id is Swagger UI's deep link: tag and operationId.
        page.get_by_role("button", name="get /api/sequences", exact=True).click()
        operation = page.locator("#operations-sequences-listSequences")
        operation.get_by_role("button", name="Try it out").click()
        execute = operation.get_by_role("button", name="Execute")

        def listing(response) -> bool:
            return response.request.method == "GET" and urlsplit(response.url).path.endswith("/sequences")

        with page.expect_response(listing, timeout=TIMEOUT_MS) as answered:
            execute.click()
        response = answered.value
        assert response.url.split("?")[0] == f"{live_server.url}/api/sequences", response.url
        assert response.status == 200, (response.status, response.text()[:500])
        assert response.json()["success"] is True
        # The optional headers have no example in the spec, so Swagger UI sends none of its own:
        # no shared request id, no stale If-Match, no Idempotency-Key reused by every POST.
        assert "x-request-id" not in response.request.headers, response.request.headers

        # What the user reads: the request URL (with the defaults Swagger UI fills in for page and
        # page_size) and the live response's code.
        sent = re.compile(rf"^{re.escape(live_server.url)}/api/sequences(\?.*)?$")
        expect(operation.locator(".request-url pre")).to_have_text(sent, timeout=TIMEOUT_MS)
        expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text(
            "200", timeout=TIMEOUT_MS)
        expect(operation.locator(".curl-command")).to_contain_text(f"'{live_server.url}/api/sequences")

    requested = [(m, url.split("?")[0], status) for m, url, status in watched.responses if "/sequences" in url]
    assert requested == [("GET", f"{live_server.url}/api/sequences", 200)], requested
    assert not [r for r in watched.responses if "/api/api/" in r[1]], watched.responses
    assert watched.elsewhere(live_server.url) == []
    assert watched.problems == [], watched.problems


def test_redoc_renders_the_api(watched: Watched, live_server, tmp_path: Path):
    from playwright.sync_api import expect

    page = watched.page
    with screenshot_on_failure(watched, tmp_path):
        page.goto(f"{live_server.url}/api/redoc")
        # ReDoc renders the spec's info.title (and version) as the page's one h1.
        expect(page.get_by_role("heading", level=1)).to_contain_text("tka", timeout=TIMEOUT_MS)
        expect(page.get_by_role("heading", level=1)).to_contain_text("0.1.0")
        expect(page.get_by_text("List sequences").first).to_be_attached()

    statuses = {urlsplit(url).path: status for _, url, status in watched.responses}
    assert statuses.get("/api/static/redoc/redoc.standalone.js") == 200, statuses
    assert statuses.get("/api/openapi.json") == 200, statuses
    assert watched.elsewhere(live_server.url) == []  # its search worker is a blob: URL of the page's own
    # Tolerated: the logo above, which does not affect the page.
    assert [p for p in watched.problems if REDOC_LOGO not in p] == [], watched.problems
