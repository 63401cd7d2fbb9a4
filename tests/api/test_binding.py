"""app/api/binding.py builds each request as Connexion's own binding would, field by field, and it
fails loudly when Connexion is not the version it was measured and checked on."""

from __future__ import annotations

import io
import json
from importlib.metadata import version
from pathlib import Path

import flask
import pytest
import yaml
from connexion.apis.flask_api import FlaskApi
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize, NoMoreData
from werkzeug.test import EnvironBuilder

from app.api.binding import MEASURED_ON, TkaFlaskApi

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
FIELDS = ("url", "method", "path_params", "query", "headers", "form", "body", "json", "files", "context")


def test_it_is_the_connexion_it_was_measured_on():
    assert version("connexion") == MEASURED_ON, (
        "app/api/binding.py re-does part of Connexion's FlaskApi.get_request: measure it again on this "
        "version (bench/wsgi_cpu.py) and check it against the new Connexion before moving MEASURED_ON")


def test_no_operation_reads_a_cookie():
    """The binding leaves cookies out: valid only while openapi.yaml declares no cookie parameter."""
    params = [p for item in SPEC["paths"].values() for op in item.values() if isinstance(op, dict)
              for p in [*item.get("parameters", []), *op.get("parameters", [])]]
    params = [SPEC["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in params]
    assert params and not [p for p in params if p["in"] == "cookie"]


@pytest.mark.parametrize("request_of", [
    lambda: {"path": "/api/sequences/0196f0c0-0000-7000-8000-000000000000?x=1&x=2", "method": "GET",
             "headers": {"If-Match": '"3"'}},
    lambda: {"path": "/api/sequences", "method": "POST", "json": {"name": "caf\u00e9"}},
    lambda: {"path": "/api/s\u00e9quences/%20?q=\u00fc", "method": "POST", "data": b"not json",
             "content_type": "text/plain"},
    lambda: {"path": "/api/sequences", "method": "POST", "data": {"name": "form"},
             "content_type": "application/x-www-form-urlencoded"},
    lambda: {"path": "/api/sequences", "method": "POST", "data": {"f": (io.BytesIO(b"x"), "f.txt")},
             "content_type": "multipart/form-data"},
], ids=["get", "json", "text", "form", "multipart"])
def test_requests_are_what_connexions_own_binding_makes(request_of):
    app = flask.Flask(__name__)
    environ = EnvironBuilder(**request_of()).get_environ()
    body = environ["wsgi.input"].read()
    seen = []
    for api in (FlaskApi, TkaFlaskApi):
        with app.request_context({**environ, "wsgi.input": io.BytesIO(body)}):
            request = api.get_request(sequence_id="s1")
            seen.append({field: comparable(getattr(request, field)) for field in FIELDS})
    theirs, ours = seen
    for field in FIELDS:
        assert ours[field] == theirs[field], field


def comparable(value: object) -> object:
    """Werkzeug's multi-dicts and headers as plain lists, files by name and content."""
    if hasattr(value, "to_dict"):
        return {k: [comparable(v) for v in vs] for k, vs in value.to_dict(flat=False).items()}  # type: ignore[union-attr]
    if hasattr(value, "items"):
        return list(value.items())  # type: ignore[union-attr]
    if hasattr(value, "filename"):
        return (value.filename, value.stream.read(), value.stream.seek(0))  # type: ignore[union-attr]
    return value if isinstance(value, (str, bytes, dict, list, type(None))) else str(value)  # a URL made late


def test_a_handlers_response_passes_through_and_anything_else_goes_to_connexion():
    app = flask.Flask(__name__)
    with app.test_request_context("/api/status"):
        response = flask.Response("{}", mimetype="application/json")
        assert TkaFlaskApi.get_response(response) is response
        built = TkaFlaskApi.get_response(({"a": 1}, 201))
        assert built.status_code == 201 and json.loads(built.get_data()) == {"a": 1}


def test_a_request_does_not_build_its_url_unless_something_logs_it(client, monkeypatch):
    """The gain measured above: Connexion's request handling reads the URL for debug lines only."""
    built: list[str] = []
    monkeypatch.setattr(flask.Request, "url", property(lambda request: built.append(request.path) or "u"))
    assert client.post("/api/sequences", json={"name": "Quiet"}).status_code == 201
    assert client.get("/api/sequences?page_size=5").status_code == 200
    assert client.post("/api/sequences", json={"name": 5}).status_code == 400
    assert built == []


class _Unreadable(io.RawIOBase):
    """A request body whose transfer coding breaks while it is read."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        raise self.error


@pytest.mark.parametrize("error", [InvalidChunkSize(b"zz"), ChunkMissingTerminator(b"XX"), NoMoreData(b"")],
                         ids=["chunk-size", "chunk-terminator", "cut-short"])
def test_a_body_that_cannot_be_read_is_400_not_500(client, error):
    """What gunicorn's parser raises while a malformed chunked body is read (werkzeug itself turns
    the OSError of a body cut short into a 400)."""
    refused = client.post("/api/sequences", content_type="application/json",
                          environ_overrides={"wsgi.input": _Unreadable(error), "wsgi.input_terminated": True})
    assert refused.status_code == 400 and refused.content_type == "application/problem+json", refused.data
