"""Request metrics and the ``/metrics`` endpoint (Prometheus text format)."""

from __future__ import annotations

import time

import flask

from app.core import metrics


def install(app: flask.Flask) -> None:
    @app.after_request
    def _observe(response: flask.Response) -> flask.Response:
        rule = flask.request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        metrics.HTTP_REQUESTS.labels(flask.request.method, route, str(response.status_code)).inc()
        started = flask.g.get("started")
        if started is not None:
            metrics.HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def prometheus_metrics() -> flask.Response:
        body, content_type = metrics.render()
        return flask.Response(body, content_type=content_type)
