"""app/api/security.py and app/api/monitoring.py: the edge's rules for a server with a token, the
headers on every answer, and metrics no client can inflate."""

from __future__ import annotations

import pytest

from app.api import create_app
from app.bootstrap import bootstrap, close
from app.settings import Settings

TOKEN = "a-token-of-twenty-chars"


@pytest.fixture
def exposed(db_url):
    """An app configured as for ``tka serve --host 0.0.0.0 --token ...``."""
    container = bootstrap(Settings(database_url=db_url, host="0.0.0.0", token=TOKEN))
    yield create_app(container).test_client()
    close(container)


def test_the_documentation_is_public_and_everything_else_needs_the_token(exposed):
    for path in ("/api/docs/", "/api/docs/swagger-ui-bundle.js", "/api/redoc", "/api/static/redoc/redoc.standalone.js",
                 "/api/openapi.json", "/health/live"):
        assert exposed.get(path).status_code == 200, path
    for path in ("/api/status", "/api/sequences", "/metrics"):  # beyond loopback the metrics are private too
        assert exposed.get(path).status_code == 401, path
        assert exposed.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, path


def test_a_presented_token_is_compared_exactly(exposed):
    for presented in (f" {TOKEN}", f"{TOKEN} ", TOKEN.upper(), TOKEN[:-1], f"{TOKEN}x"):
        assert exposed.get("/api/status", headers={"Authorization": f"Bearer {presented}"}).status_code == 401


def test_metrics_stay_open_on_loopback(client):
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("token", ["", " " * 20, "short", "x" * 15])
def test_a_short_or_blank_token_is_refused_at_start(token):
    with pytest.raises(SystemExit, match="refusing a token"):
        Settings(token=token).check()
    Settings(token="x" * 16).check()


def test_every_answer_says_nosniff_and_pages_refuse_framing(client):
    for path, page in (("/api/docs/", True), ("/api/redoc", True), ("/api/status", False), ("/nowhere", False),
                       ("/metrics", False)):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert ("frame-ancestors 'none'" in response.headers.get("Content-Security-Policy", "")) is page, path


def test_made_up_methods_and_paths_make_no_new_metric_series(client):
    def series() -> int:
        return sum(1 for line in client.get("/metrics").get_data(as_text=True).splitlines()
                   if line.startswith("tka_http_requests_total{"))

    client.open("/api/status", method="BREW")  # ("other", "/api/status", "405")
    client.open("/made/up", method="BREW")  # ("other", "unmatched", "404")
    before = series()
    for i in range(20):
        client.open(f"/made/up/{i}", method=f"M{i}")
        client.open("/api/status", method=f"X{i}")
    assert series() == before
