"""app/api/contract.py: the spec as served, and the media types every operation takes and answers with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.api.test_handlers import store_state

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
OPERATIONS = [(path, method.upper(), op) for path, item in SPEC["paths"].items() for method, op in item.items()
              if method in ("get", "put", "post", "patch", "delete")]


def _url(path: str) -> str:
    return re.sub(r"{\w+}", "1", path)


def test_the_served_spec_names_the_server_it_came_from_and_its_paths_fit(client):
    for path, loader in (("/api/openapi.json", lambda r: r.json), ("/api/openapi.yaml", lambda r: yaml.safe_load(r.data))):
        served = loader(client.get(path, base_url="http://127.0.0.1:8123"))
        assert served["servers"] == [{"url": "http://127.0.0.1:8123", "description": "the server this document came from"}]
        assert served["paths"] == SPEC["paths"] and served["components"] == SPEC["components"]
    # a path joined to the server's URL is the operation's URL: no "/api" prefix twice
    assert client.get("/api/api/sequences").status_code == 404 and client.get("/api/sequences").status_code == 200


@pytest.mark.parametrize(("path", "method", "op"), [(p, m, op) for p, m, op in OPERATIONS if "requestBody" in op],
                         ids=[f"{m} {p}" for p, m, op in OPERATIONS if "requestBody" in op])
def test_a_body_of_another_media_type_is_415_and_changes_nothing(client, store, make_sequence, path, method, op):
    make_sequence("Kept")
    before = store_state(store)
    body = op["requestBody"]
    if "$ref" in body:
        body = SPEC["components"]["requestBodies"][body["$ref"].rsplit("/", 1)[1]]
    takes = ", ".join(body["content"])  # application/json (and image/png for an import)
    for content_type, body in (("text/plain", "{}"), ("application/x-www-form-urlencoded", "name=x"),
                               ("application/xml", "<a/>"), ("", "{}")):
        headers = {"Content-Type": content_type} if content_type else {}
        refused = client.open(_url(path), method=method, data=body, headers=headers)
        assert refused.status_code == 415, (content_type, refused.json)
        assert refused.json["error_code"] == "unsupported_media_type"
        if method in ("POST", "PATCH"):
            assert refused.headers[f"Accept-{method.title()}"] == takes
    assert store_state(store) == before


def test_an_optional_body_may_be_left_out_but_not_mislabelled(client, make_sequence):
    make_sequence("Undoable")
    assert client.post("/api/undo", data="", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post("/api/undo").status_code == 200  # no body, no type: the undo runs
    assert client.post("/api/redo", data="{}", headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 200


def _answers(op: dict) -> list[str]:
    """The media types of an operation's successful answers."""
    kinds = []
    for code, response in op["responses"].items():
        if str(code).startswith("2"):
            if "$ref" in response:
                response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            kinds += list(response.get("content", {}))
    return kinds


@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_an_accept_the_operation_cannot_meet_is_406_and_changes_nothing(client, store, make_sequence, path, method,
                                                                         op):
    make_sequence("Kept")
    before = store_state(store)
    main = _answers(op)[0]  # application/json, or an image type for the pictures
    top = main.split("/")[0]
    other = "image/gif, text/*" if top != "image" else "application/json, text/*"
    for accept in ("text/html", other, f"{main};q=0"):
        refused = client.open(_url(path), method=method, json={} if method != "GET" else None, headers={"Accept": accept})
        assert refused.status_code == 406, (accept, refused.json)
        assert refused.json["error_code"] == "not_acceptable"
    assert store_state(store) == before
    allowed = client.open(_url(path), method=method, json={} if method != "GET" else None,
                          headers={"Accept": f"text/html, {top}/*;q=0.2"})
    assert allowed.status_code != 406


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready"])
def test_health_answers_in_the_type_the_client_asks_for(client, path):
    for accept in ("application/json", "application/health+json"):
        assert client.get(path, headers={"Accept": accept}).mimetype == accept
    default = "application/json" if path == "/health/live" else "application/health+json"
    assert client.get(path).mimetype == default
