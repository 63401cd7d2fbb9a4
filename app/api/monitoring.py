"""Request metrics and the ``/metrics`` endpoint (Prometheus text format)."""

from __future__ import annotations

import time

import flask

from app.core import metrics

# Label values come from bounded sets only, so no client can make up new series: a method
# outside these is "other", a path no route matches is "unmatched".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def install(app: flask.Flask) -> None:
    @app.after_request
    def _observe(response: flask.Response) -> flask.Response:
        request = flask.request._get_current_object()  # type: ignore[attr-defined]
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        metrics.child(metrics.HTTP_REQUESTS, method, route, str(response.status_code)).inc()
        started = flask.g.get("started")
        if started is not None:
            metrics.child(metrics.HTTP_DURATION, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def prometheus_metrics() -> flask.Response:
        body, content_type = metrics.render()
        return flask.Response(body, content_type=content_type)
