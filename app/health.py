"""What ``/health`` reports: one check per component, in application/health+json's shape.

Each check is a function returning one check object: ``status`` (pass, warn or fail), the value it
observed and its unit, a line of ``output`` when not passing, and its own latency. The report's
status is the worst of them, also in the brief's healthy/degraded/unhealthy words. ``bootstrap``
assembles the checks of the components it built; nothing here touches HTTP.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from app import __version__
from app.core.events import utc_now
from app.events.hub import Hub
from app.store import Store, StoreUnavailable
from app.store.engine import sqlite_file
from app.store.monitor import StoreMonitor

Check = Callable[[], dict[str, Any]]

_LEGACY = {"pass": "healthy", "warn": "degraded", "fail": "unhealthy"}
_RANK = {"pass": 0, "warn": 1, "fail": 2}
_BREAKER_VALUE = {"closed": 0, "half-open": 1}  # open: 2
DISK_WARN_BYTES = 200 * 2**20
DISK_FAIL_BYTES = 20 * 2**20
LAG_WARN_EVENTS = 1000  # events:lag warns beyond this many events not yet dispatched,
LAG_WARN_MS = 5000.0  # or when the oldest of them is older than this
READINESS = ("store:ping", "store:breaker")  # a worker is ready when these do not fail


def check(status: str, *, value: Any = None, unit: str | None = None, output: str | None = None,
          latency_ms: float = 0.0, component_id: str | None = None) -> dict[str, Any]:
    result = {"status": status, "observed_value": value, "observed_unit": unit, "time": utc_now(),
              "output": output, "latency_ms": round(latency_ms, 3)}
    if component_id is not None:
        result["component_id"] = component_id
    return result


class Health:
    def __init__(self, checks: dict[str, Check], store_kind: str) -> None:
        self.checks = checks
        self.store_kind = store_kind  # sqlite or postgresql, for /api/status
        self.started = time.time()

    def uptime(self) -> float:
        return round(time.time() - self.started, 3)

    def report(self) -> dict[str, Any]:
        checks = {name: run() for name, run in self.checks.items()}
        checks["uptime"] = check("pass", value=self.uptime(), unit="s")
        status = max((c["status"] for c in checks.values()), key=_RANK.__getitem__)
        return {"status": status, "legacy_status": _LEGACY[status], "version": __version__,
                "uptime_seconds": self.uptime(), "checks": {name: [c] for name, c in checks.items()}}

    @staticmethod
    def ready(report: dict[str, Any]) -> bool:
        return all(report["checks"][name][0]["status"] != "fail" for name in READINESS if name in report["checks"])


# -- the store ----------------------------------------------------------------------------------
def store_checks(store: Store, monitor: StoreMonitor) -> dict[str, Check]:
    checks: dict[str, Check] = {"store:ping": lambda: _ping(store, monitor), "store:breaker": lambda: _breaker(store)}
    database = sqlite_file(store.url)
    if database is not None:
        checks["disk:free"] = lambda: _disk(Path(database).parent)
    return checks


def _ping(store: Store, monitor: StoreMonitor) -> dict[str, Any]:
    """Read from the watchdog's last ping when it is fresh: probes never hit the database."""
    ping = monitor.current()
    return check("pass" if ping.ok else "fail", value=round(ping.latency_ms, 3), unit="ms",
                 output=None if ping.ok else "store unreachable", latency_ms=ping.latency_ms, component_id=store.kind)


def _breaker(store: Store) -> dict[str, Any]:
    state = store.breaker.state
    output = f"open; retry in {store.breaker.retry_after():.1f} s" if state == "open" else state
    return check({"closed": "pass", "half-open": "warn"}.get(state, "fail"), value=_BREAKER_VALUE.get(state, 2),
                 unit="state", output=output, component_id="store")


def _disk(folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    free = shutil.disk_usage(folder).free
    status = "fail" if free < DISK_FAIL_BYTES else "warn" if free < DISK_WARN_BYTES else "pass"
    return check(status, value=free, unit="bytes", latency_ms=(time.perf_counter() - started) * 1000)


# -- the event stream ---------------------------------------------------------------------------
def event_checks(hub: Hub) -> dict[str, Check]:
    return {"events:lag": lambda: _lag(hub), "events:breaker": lambda: _notify_breaker(hub),
            "websocket:connections": lambda: _connections(hub)}


def _lag(hub: Hub) -> dict[str, Any]:
    """How far this worker's tailer is behind the durable event log. Fails only when the tailer is
    not running; warns when it is far behind, or when the lag cannot be measured because the store
    is down (the store checks say so). Like the store ping, it reads the watchdog's last
    measurement when that is fresh, so probes do not query the database."""
    started = time.perf_counter()
    try:
        behind, age_ms = hub.tailer.lag(fresh=True)
    except StoreUnavailable:
        return check("warn", unit="events", output="unknown while the store is unavailable",
                     latency_ms=(time.perf_counter() - started) * 1000, component_id="events")
    if not hub.tailer.alive():
        status, output = "fail", f"the event tailer is not running ({behind} events behind)"
    elif behind > LAG_WARN_EVENTS or age_ms > LAG_WARN_MS:
        status, output = "warn", f"{behind} events behind; the oldest is {age_ms:.0f} ms old"
    else:
        status, output = "pass", None
    return check(status, value=behind, unit="events", output=output,
                 latency_ms=(time.perf_counter() - started) * 1000, component_id="events")


def _notify_breaker(hub: Hub) -> dict[str, Any]:
    """The event-notification breaker (PostgreSQL's LISTEN connection). Open is a warning, not a
    failure: the tailer polls the log meanwhile, so events still arrive, only later."""
    breaker = hub.tailer.notify_breaker
    state = breaker.state
    output = None if state == "closed" else \
        f"open; polling the log, next LISTEN attempt in {breaker.retry_after():.1f} s" if state == "open" else state
    return check("pass" if state == "closed" else "warn", value=_BREAKER_VALUE.get(state, 2), unit="state",
                 output=output, component_id="events")


def _connections(hub: Hub) -> dict[str, Any]:
    """This worker's open sockets (the server's total in the output); warn from 90 % of the
    per-worker limit, beyond which new clients get 1013."""
    started = time.perf_counter()
    count, limit = hub.connection_count(), hub.config.max_connections
    total = hub.stats()["total_connections"]
    return check("warn" if count >= 0.9 * limit else "pass", value=count, unit="connections",
                 output=f"{count} of {limit} on this worker; {total} on the server",
                 latency_ms=(time.perf_counter() - started) * 1000, component_id="websocket")
