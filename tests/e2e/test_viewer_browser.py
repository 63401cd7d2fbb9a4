"""The live viewer (/viewer/) in a real browser, as an audience or a streamer meets it: it shows the
current sequence as its rendered sheet, redraws within moments when any other client changes it
(no reload), undoes and redoes, survives a server restart by resuming its event stream, pins a
sequence with ?sequence=, paints nothing behind the drawing with ?transparent=1, and works with a
server's token given in the URL fragment.

Debian's Chromium (tests/browser.py), driven by Playwright, as tests/e2e/test_docs_browser.py; no
console errors, no failed requests, no request to another host. A failing test leaves a
screenshot in its tmp_path. One plain test (no browser) checks that the pages and every file they
reference are served."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests import ws as stream
from tests.e2e.test_docs_browser import TIMEOUT_MS, Watched, chromium, screenshot_on_failure  # noqa: F401
from tests.servers import LiveServer

pytestmark = pytest.mark.e2e

BEAT = '[data-testid="beat"]'
LIVE_MS = 2_000  # a change made by another client is on screen within this
TOKEN = "viewer-test-token-0123456789"
TRANSPARENT = "rgba(0, 0, 0, 0)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    s = stream.start(tmp_path_factory, "viewer", workers=2)  # 1 s heartbeats
    yield s
    s.stop()


@pytest.fixture
def watched(chromium) -> Iterator[Watched]:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    w = Watched(context.new_page())
    w.navigations = []  # type: ignore[attr-defined]
    w.page.on("framenavigated", lambda frame: w.navigations.append(frame.url)  # type: ignore[attr-defined]
              if frame.parent_frame is None else None)
    w.sockets = []  # type: ignore[attr-defined]
    w.page.on("websocket", lambda socket: w.sockets.append(socket.url))  # type: ignore[attr-defined]
    try:
        yield w
    finally:
        context.close()


# ---- REST, as another client ------------------------------------------------------------------


def call(server: LiveServer, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{server.url}{path}", headers=headers, timeout=10, **kwargs)


def new_sequence(server: LiveServer, name: str, letters: str, *, token: str | None = None) -> dict[str, Any]:
    """A sequence from alpha1 with one beat per letter, each added by its own command. Creating a
    sequence makes it the current one."""
    r = call(server, "POST", "/api/sequences", token=token, json={"name": name, "start_position": "alpha1"})
    assert r.status_code == 201, r.text
    seq_id = r.json()["data"]["id"]
    for letter in letters:
        add_beat(server, seq_id, letter, token=token)
    return sequence(server, seq_id, token=token)


def make_current(server: LiveServer, seq_id: str) -> None:
    r = call(server, "PUT", "/api/current-sequence", json={"sequence_id": seq_id})
    assert r.status_code == 200, r.text


def add_beat(server: LiveServer, seq_id: str, letter: str, *, token: str | None = None) -> None:
    r = call(server, "POST", f"/api/sequences/{seq_id}/beats", token=token, json={"beat": {"letter": letter}})
    assert r.status_code == 201, r.text


def sequence(server: LiveServer, seq_id: str, *, token: str | None = None) -> dict[str, Any]:
    r = call(server, "GET", f"/api/sequences/{seq_id}", token=token)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


# ---- the page ---------------------------------------------------------------------------------


def open_viewer(w: Watched, server: LiveServer, query: str = "", fragment: str = "") -> None:
    from playwright.sync_api import expect

    w.page.goto(f"{server.url}/viewer/{query}{fragment}")
    expect(w.page.get_by_test_id("connection")).to_have_text("connected")
    # A marker that only survives if the page is never reloaded.
    w.page.evaluate("window.__sameDocument = 'yes'")


def shows(w: Watched, seq: dict[str, Any], timeout: float = TIMEOUT_MS) -> None:
    """The page shows ``seq`` as the API has it: its word, its beat count, one drawn beat per beat
    with its letter, in order, and the start tile apart from them."""
    from playwright.sync_api import expect

    page = w.page
    expect(page.locator(BEAT)).to_have_count(seq["length"], timeout=timeout)
    expect(page.get_by_test_id("word")).to_have_text(seq["word"])
    expect(page.get_by_test_id("beat-count")).to_have_text(f"{seq['length']} beat{'' if seq['length'] == 1 else 's'}")
    assert page.locator(BEAT).evaluate_all("gs => gs.map(g => [g.dataset.beat, g.dataset.letter])") == [
        [str(b["beat_number"]), b["letter"]] for b in seq["beats"]]
    assert page.locator("#sheet svg g.start").evaluate_all("gs => gs.map(g => [g.dataset.beat, g.dataset.testid])") \
        == ([["0", None]] if seq["start_position"] else [])


def still_the_same_document(w: Watched) -> None:
    assert w.page.evaluate("window.__sameDocument") == "yes", "the page was reloaded"
    assert len(w.navigations) == 1, w.navigations  # type: ignore[attr-defined]


def clean(w: Watched, server: LiveServer, *, tolerated: re.Pattern[str] | None = None) -> None:
    """No console error, uncaught exception or failed request (but ``tolerated`` ones), no answer
    of 400 or more, no request to another host."""
    problems = [p for p in w.problems if not (tolerated and tolerated.search(p))]
    assert problems == [], problems
    assert [r for r in w.responses if r[2] >= 400] == [], w.responses
    assert [url for url in w.requests if not url.startswith(f"{server.url}/")] == []


def leave(w: Watched) -> None:
    """Close the browser's connections: a server stops at once instead of waiting out their keep-alive."""
    w.page.context.close()


# ---- the tests ----------------------------------------------------------------------------------


def test_the_viewer_shows_the_current_sequence(watched: Watched, server: LiveServer, tmp_path: Path):
    from playwright.sync_api import expect

    seq = new_sequence(server, "Morning flow", "ABC")
    with screenshot_on_failure(watched, tmp_path):
        open_viewer(watched, server)
        shows(watched, seq)
        expect(watched.page.get_by_test_id("connection")).to_have_text("connected")
        expect(watched.page.get_by_role("button", name="Undo")).to_be_enabled()
        expect(watched.page.get_by_role("button", name="Redo")).to_be_disabled()
    clean(watched, server)


def test_a_beat_another_client_adds_appears_without_a_reload(watched: Watched, server: LiveServer, tmp_path: Path):
    seq = new_sequence(server, "Live", "AB")
    with screenshot_on_failure(watched, tmp_path):
        open_viewer(watched, server)
        shows(watched, seq)
        started = time.monotonic()
        add_beat(server, seq["id"], "C")
        after = sequence(server, seq["id"])
        shows(watched, after, timeout=LIVE_MS)
        print(f"the new beat was on screen {time.monotonic() - started:.2f} s after the POST")
        still_the_same_document(watched)
    clean(watched, server)


def test_the_undo_and_redo_buttons(watched: Watched, server: LiveServer, tmp_path: Path):
    from playwright.sync_api import expect

    seq = new_sequence(server, "Undoable", "ABC")
    page = watched.page
    undo, redo = page.get_by_role("button", name="Undo"), page.get_by_role("button", name="Redo")
    with screenshot_on_failure(watched, tmp_path):
        open_viewer(watched, server)
        shows(watched, seq)
        expect(undo).to_have_attribute("title", "Undo: Add beat 'C' at position 3")
        undo.click()
        expect(page.locator(BEAT)).to_have_count(2, timeout=LIVE_MS)
        assert sequence(server, seq["id"])["length"] == 2  # the API agrees
        shows(watched, sequence(server, seq["id"]))
        expect(redo).to_be_enabled()
        expect(redo).to_have_attribute("title", "Redo: Add beat 'C' at position 3")
        redo.click()
        expect(page.locator(BEAT)).to_have_count(3, timeout=LIVE_MS)
        assert sequence(server, seq["id"])["length"] == 3
        expect(redo).to_be_disabled()
        still_the_same_document(watched)
    posted = [(m, urlsplit(url).path) for m, url, _ in watched.responses if m == "POST"]
    assert posted == [("POST", "/api/commands/undo"), ("POST", "/api/commands/redo")], posted
    clean(watched, server)


def test_a_deleted_sequence_is_a_message_and_undo_brings_it_back(watched: Watched, server: LiveServer,
                                                                 tmp_path: Path):
    from playwright.sync_api import expect

    seq = new_sequence(server, "Doomed", "AB")
    page = watched.page
    with screenshot_on_failure(watched, tmp_path):
        open_viewer(watched, server)
        shows(watched, seq)
        r = call(server, "DELETE", f"/api/sequences/{seq['id']}")
        assert r.status_code == 200, r.text
        expect(page.get_by_test_id("message")).to_have_text("“Doomed” was deleted. Undo brings it back.",
                                                            timeout=LIVE_MS)
        expect(page.locator(BEAT)).to_have_count(0)
        expect(page.get_by_test_id("word")).to_have_text("")
        page.get_by_role("button", name="Undo").click()
        shows(watched, seq, timeout=LIVE_MS)
        expect(page.get_by_test_id("message")).to_be_hidden()
        still_the_same_document(watched)
    clean(watched, server)  # no request for the deleted sequence's picture, so no 404


def test_a_pinned_sequence_on_a_transparent_page(watched: Watched, server: LiveServer, tmp_path: Path):
    from playwright.sync_api import expect

    pinned = new_sequence(server, "Pinned", "CA")
    make_current(server, new_sequence(server, "Current", "AB")["id"])
    page = watched.page
    with screenshot_on_failure(watched, tmp_path):
        open_viewer(watched, server, f"?sequence={pinned['id']}&transparent=1&controls=0")
        shows(watched, pinned)
        backgrounds = page.evaluate("""() => [document.documentElement, document.body, document.querySelector('main')]
            .map(e => getComputedStyle(e).backgroundColor)""")
        assert backgrounds == [TRANSPARENT] * 3, backgrounds
        # The sheet paints its own background with rect.background (app/pictures/svg.py): not here.
        fills = page.locator("#sheet svg .background").evaluate_all("rs => rs.map(r => getComputedStyle(r).fill)")
        assert fills == ["none"], fills
        expect(page.get_by_role("button", name="Undo")).to_be_hidden()  # controls=0
        expect(page.get_by_test_id("connection")).to_be_hidden()
        # Another sequence made current: a pinned page stays where it is. Events arrive in order,
        # so once the pinned sequence's next beat is on screen the page has had the switch too.
        other = new_sequence(server, "Another", "B")
        add_beat(server, pinned["id"], "B")
        shows(watched, sequence(server, pinned["id"]), timeout=LIVE_MS)
        assert other["word"] != pinned["word"]
        still_the_same_document(watched)
    clean(watched, server)


def test_the_viewer_follows_the_current_sequence(watched: Watched, server: LiveServer, tmp_path: Path):
    first = new_sequence(server, "First", "A")
    second = new_sequence(server, "Second", "BCA")
    with screenshot_on_failure(watched, tmp_path):
        open_viewer(watched, server)
        shows(watched, second)
        make_current(server, first["id"])  # another client switches
        shows(watched, first, timeout=LIVE_MS)
        third = new_sequence(server, "Third", "CB")  # a new sequence is the current one
        shows(watched, third, timeout=LIVE_MS)
        still_the_same_document(watched)
    clean(watched, server)


def test_the_store_status_and_a_resync(watched: Watched, server: LiveServer, tmp_path: Path):
    """What the server sends during a database outage, and after a resume it cannot serve, put into
    the real stream (Playwright's WebSocket routing passes everything else through)."""
    from playwright.sync_api import expect

    routes = []

    def through(route) -> None:
        route.connect_to_server()
        routes.append(route)

    page = watched.page
    page.route_web_socket(re.compile(r"/ws\?"), through)
    seq = new_sequence(server, "Weathered", "AB")
    store = page.get_by_test_id("store")
    with screenshot_on_failure(watched, tmp_path):
        open_viewer(watched, server)
        shows(watched, seq)
        expect(store).to_be_hidden()
        last = stream.last_event_id(server)
        now = "2025-01-15T09:32:10.123Z"
        routes[-1].send(json.dumps({"type": "store_status", "status": "unavailable", "retry_after": 5,
                                    "last_event_id": last, "timestamp": now}))
        expect(store).to_have_text("database unavailable, retry in 5 s")
        expect(page.get_by_test_id("connection")).to_have_text("connected")  # the stream itself is fine
        routes[-1].send(json.dumps({"type": "store_status", "status": "available", "last_event_id": last,
                                    "timestamp": now}))
        expect(store).to_be_hidden()
        with page.expect_request(f"{server.url}/api/current-sequence"):  # reload everything over REST
            routes[-1].send(json.dumps({"type": "resync_required", "since": last, "reason": "expired",
                                        "oldest_event_id": last, "last_event_id": last, "message": "reload",
                                        "timestamp": now}))
        add_beat(server, seq["id"], "C")  # the stream goes on after the resync's last_event_id
        shows(watched, sequence(server, seq["id"]), timeout=LIVE_MS)
        still_the_same_document(watched)
    clean(watched, server)


def test_after_a_server_restart_the_page_resumes_and_catches_up(watched: Watched, tmp_path: Path,
                                                                 tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import expect

    first = stream.start(tmp_path_factory, "restart")
    db_url, port = first.db_url, first.port
    assert db_url is not None
    connection = watched.page.get_by_test_id("connection")
    try:
        seq = new_sequence(first, "Sturdy", "AB")
        with screenshot_on_failure(watched, tmp_path):
            open_viewer(watched, first)
            shows(watched, seq)
            first.stop()
            expect(connection).to_have_text("reconnecting…")
            # While the page's server is down, another server on the same database file adds a beat.
            elsewhere = LiveServer(db_url, workers=1, env=stream.FAST, log=tmp_path / "elsewhere.log")
            try:
                add_beat(elsewhere, seq["id"], "C")
                missed = sequence(elsewhere, seq["id"])
            finally:
                elsewhere.stop()
            # The page's server again: the same port, the same file.
            down = time.monotonic()
            again = LiveServer(db_url, workers=2, env=stream.FAST, log=tmp_path / "again.log", port=port)
            try:
                expect(connection).to_have_text("connected", timeout=TIMEOUT_MS)
                shows(watched, missed)  # from the resumed stream's replay
                print(f"connected again {time.monotonic() - down:.2f} s after the restart began")
                add_beat(again, seq["id"], "A")  # and live again
                shows(watched, sequence(again, seq["id"]), timeout=LIVE_MS)
                still_the_same_document(watched)
                leave(watched)
            finally:
                again.stop()
    finally:
        first.stop()
    sockets = watched.sockets  # type: ignore[attr-defined]
    assert "since=" not in sockets[0] and all("since=" in url for url in sockets[1:]), sockets
    # While the server was down the browser itself reports each refused WebSocket connection.
    clean(watched, again, tolerated=re.compile(r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/ws\?since=\d+"))


def test_a_token_in_the_fragment(watched: Watched, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import expect

    guarded = stream.start(tmp_path_factory, "token", workers=1, extra_args=["--token", TOKEN])
    try:
        seq = new_sequence(guarded, "Secret", "AB", token=TOKEN)
        page = watched.page
        with screenshot_on_failure(watched, tmp_path):
            # The page itself is public, like the docs; everything it asks /api for needs the token.
            assert call(guarded, "GET", "/viewer/").status_code == 200
            assert call(guarded, "GET", "/api/current-sequence").status_code == 401
            open_viewer(watched, guarded, fragment=f"#token={TOKEN}")  # "connected": the auth frame was accepted
            shows(watched, seq)
            add_beat(guarded, seq["id"], "C", token=TOKEN)
            shows(watched, sequence(guarded, seq["id"], token=TOKEN), timeout=LIVE_MS)
            page.get_by_role("button", name="Undo").click()
            expect(page.locator(BEAT)).to_have_count(2, timeout=LIVE_MS)
        clean(watched, guarded)
        # Without it: a message that says what to do.
        watched.page.goto(f"{guarded.url}/viewer/")
        expect(page.get_by_test_id("message")).to_contain_text("#token=")
        leave(watched)
    finally:
        guarded.stop()


# ---- no browser -------------------------------------------------------------------------------


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(found[name])  # type: ignore[arg-type]
        if tag == "script" and not found.get("src"):
            self.inline_scripts += 1


def test_the_index_and_the_viewer_are_served_with_every_file_they_reference(server: LiveServer):
    index = requests.get(f"{server.url}/", timeout=10)
    assert index.status_code == 200 and index.headers["Content-Type"].startswith("text/html")
    for link in ("/api/docs/", "/api/redoc", "/viewer/"):
        assert f'href="{link}"' in index.text, index.text
        assert requests.get(f"{server.url}{link}", timeout=10).status_code == 200, link

    moved = requests.get(f"{server.url}/viewer?sequence=x&transparent=1", timeout=10, allow_redirects=False)
    assert moved.is_redirect and moved.headers["Location"].endswith("/viewer/?sequence=x&transparent=1"), moved.headers

    page = requests.get(f"{server.url}/viewer/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    refs = _References()
    refs.feed(page.text)
    assert refs.inline_scripts == 0  # a Content-Security-Policy without 'unsafe-inline' would allow it
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    assert {Path(urlsplit(u).path).suffix for u in refs.urls} >= {".js", ".css"}, refs.urls
    for ref in refs.urls:
        url = urljoin(f"{server.url}/viewer/", ref)
        assert url.startswith(f"{server.url}/"), f"{ref} is on another host"
        asset = requests.get(url, timeout=10)
        assert asset.status_code == 200, (ref, asset.status_code)
        assert asset.headers["Content-Type"].startswith(kinds[Path(urlsplit(url).path).suffix]), (ref, asset.headers)
