"""app.api.binding: Connexion's request, built with less work, still carries what Connexion reads."""

from __future__ import annotations

import flask

from app.api.binding import TkaFlaskApi
from app.core import metrics


def test_a_json_request_carries_its_body_url_and_cookies(app):
    with app.test_request_context("/api/sequences?page=2", method="POST", json={"name": "x"},
                                  headers={"Cookie": "a=1"}, base_url="http://127.0.0.1:8000"):
        request = TkaFlaskApi.get_request(sequence_id="s1")
        assert request.json == {"name": "x"} and request.body == b'{"name": "x"}'
        assert request.url == "http://127.0.0.1:8000/api/sequences?page=2"
        assert dict(request.cookies) == {"a": "1"}
        assert request.query.to_dict() == {"page": "2"} and request.path_params == {"sequence_id": "s1"}
        assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
        assert not request.form and not request.files
        assert request.context is flask.globals.request_ctx.connexion_context


def test_a_form_body_is_still_parsed_as_a_form(app):
    with app.test_request_context("/api/sequences", method="POST", data={"name": "x"}):
        request = TkaFlaskApi.get_request()
        assert request.form.to_dict() == {"name": "x"}
        assert request.json is None


def test_a_handlers_flask_response_passes_through_and_other_results_are_converted(app):
    with app.test_request_context("/api/status"):
        response = flask.Response("{}", mimetype="application/json")
        assert TkaFlaskApi.get_response(response) is response
        converted = TkaFlaskApi.get_response(({"a": 1}, 201), mimetype="application/json")
        assert converted.status_code == 201 and converted.json == {"a": 1}


def test_a_metric_child_is_the_one_prometheus_gives():
    child = metrics.child(metrics.HTTP_REQUESTS, "GET", "/x", "200")
    assert child is metrics.HTTP_REQUESTS.labels("GET", "/x", "200")
    assert metrics.child(metrics.HTTP_REQUESTS, "GET", "/x", "200") is child
    assert metrics.child(metrics.HTTP_REQUESTS, "GET", "/x", "404") is not child
