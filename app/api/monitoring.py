"""Request metrics and the ``/metrics`` endpoint (Prometheus text format)."""

from __future__ import annotations

import time

import flask

from app.core import metrics


def install(app: flask.Flask) -> None:
    @app.after_request
    def _observe(response: flask.Response) -> flask.Response:
        request = flask.request._get_current_object()  # type: ignore[attr-defined]
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        metrics.child(metrics.HTTP_REQUESTS, request.method, route, str(response.status_code)).inc()
        started = flask.g.get("started")
        if started is not None:
            metrics.child(metrics.HTTP_DURATION, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def prometheus_metrics() -> flask.Response:
        body, content_type = metrics.render()
        return flask.Response(body, content_type=content_type)
