"""Liveness, readiness and component health (application/health+json).

``/health/live`` depends on nothing. ``/health/ready`` fails while the store is unreachable or
its breaker is open. ``/health`` reports every component with its latency; its status is the
worst of them (pass < warn < fail) and also in the brief's healthy/degraded/unhealthy words.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import flask

from app import __version__
from app.api.http import service
from app.core.events import utc_now
from app.store.monitor import StoreMonitor

HEALTH_JSON = "application/health+json"
_LEGACY = {"pass": "healthy", "warn": "degraded", "fail": "unhealthy"}
_RANK = {"pass": 0, "warn": 1, "fail": 2}
DISK_WARN_BYTES = 200 * 2**20
DISK_FAIL_BYTES = 20 * 2**20

# Components contributed by other parts of the app (e.g. the event stream): name -> check().
EXTRA_CHECKS: dict[str, Callable[[], dict[str, Any]]] = {}


def check(status: str, *, value: Any = None, unit: str | None = None, output: str | None = None,
          latency_ms: float = 0.0, component_id: str | None = None) -> dict[str, Any]:
    result = {"status": status, "observed_value": value, "observed_unit": unit, "time": utc_now(),
              "output": output, "latency_ms": round(latency_ms, 3)}
    if component_id is not None:
        result["component_id"] = component_id
    return result


def _monitor() -> StoreMonitor:
    return flask.current_app.extensions["tka.container"].resolve(StoreMonitor)


def _store_checks() -> dict[str, dict[str, Any]]:
    store = service().store
    ping = _monitor().current()
    checks = {
        "store:ping": check("pass" if ping.ok else "fail", value=round(ping.latency_ms, 3), unit="ms",
                            output=None if ping.ok else "store unreachable", latency_ms=ping.latency_ms,
                            component_id=store.kind),
    }
    state = store.breaker.state
    checks["store:breaker"] = check({"closed": "pass", "half-open": "warn"}.get(state, "fail"),
                                    value={"closed": 0, "half-open": 1}.get(state, 2), unit="state",
                                    output=state if state != "open" else
                                    f"open; retry in {store.breaker.retry_after():.1f} s", component_id="store")
    if store.kind == "sqlite" and store.url.database:
        started = time.perf_counter()
        free = shutil.disk_usage(Path(store.url.database).parent).free
        status = "fail" if free < DISK_FAIL_BYTES else "warn" if free < DISK_WARN_BYTES else "pass"
        checks["disk:free"] = check(status, value=free, unit="bytes", latency_ms=(time.perf_counter() - started) * 1000)
    return checks


def _report() -> tuple[dict[str, Any], str]:
    started = flask.current_app.extensions["tka.started"]
    checks = _store_checks()
    for name, extra in EXTRA_CHECKS.items():
        checks[name] = extra()
    checks["uptime"] = check("pass", value=round(time.time() - started, 3), unit="s")
    status = max((c["status"] for c in checks.values()), key=_RANK.__getitem__)
    return {"status": status, "legacy_status": _LEGACY[status], "version": __version__,
            "uptime_seconds": round(time.time() - started, 3),
            "checks": {name: [c] for name, c in checks.items()}}, status


def _respond(body: dict[str, Any], status: int) -> flask.Response:
    return flask.Response(json.dumps(body), status=status, mimetype=HEALTH_JSON,
                          headers={"Cache-Control": "no-store"})


def get_health() -> flask.Response:
    body, status = _report()
    return _respond(body, 503 if status == "fail" else 200)


def get_liveness() -> flask.Response:
    return flask.Response(json.dumps({"status": "alive"}), mimetype="application/json")


def get_readiness() -> flask.Response:
    body, _ = _report()
    store_ok = all(body["checks"][k][0]["status"] != "fail" for k in ("store:ping", "store:breaker"))
    return _respond(body, 200 if store_ok else 503)
