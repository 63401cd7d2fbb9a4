"""CPU per ``POST /api/sequences`` with no sockets: the WSGI app called in process.

Over HTTP a request's CPU also holds gunicorn, the kernel's loopback TCP and the load generator's
share of the two cores, and it moves with whatever else the machine runs. Called in process, the
same request is steadier, so this is the number to watch while changing the request path. Each app
runs in a subprocess of its own (``python -m bench.wsgi_cpu tka|floor|peer``) on a fresh SQLite
file, is warmed up, then timed in rounds; the best round counts. ``bench/http.py`` reports it
beside the HTTP figures.

* ``tka``: ``app.wsgi.build()``, what a ``tka serve`` worker runs.
* ``floor``: the same app with a canned create handler (``bench/floor.py``): the HTTP stack alone.
* ``peer``: the plain-Flask peer's in-memory create (``bench/peer.py``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
BODY = b'{"name": "bench"}'
APPS = ("tka", "floor", "peer")


def _app(which: str) -> Any:
    if which == "peer":
        from bench.peer import create_app

        return create_app()
    from app.store import Store

    store = Store(os.environ["TKA_DATABASE_URL"])
    store.migrate()
    store.dispose()
    if which == "floor":
        import bench.floor

        return bench.floor.application
    from app.wsgi import build

    return build()


def _caller(app: Any) -> Callable[[], None]:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path="/api/sequences", method="POST", data=BODY, content_type="application/json",
                             headers={"Host": "127.0.0.1:8000"}).get_environ()

    def call() -> None:
        statuses: list[str] = []
        result = app(dict(environ, **{"wsgi.input": io.BytesIO(BODY)}), lambda status, *_: statuses.append(status))
        b"".join(result)
        if hasattr(result, "close"):
            result.close()
        if not statuses[0].startswith("201"):
            raise RuntimeError(f"POST /api/sequences answered {statuses[0]}")

    return call


def measure(which: str, requests: int = 3000, rounds: int = 3) -> float:
    """Milliseconds of this process's CPU per request, the best of ``rounds`` (run in a subprocess)."""
    call = _caller(_app(which))
    for _ in range(max(50, requests // 8)):
        call()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            call()
        best = min(best, (time.process_time() - started) * 1000 / requests)
    return best


def in_process_cpu(requests: int = 3000, rounds: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {"what": "ms of CPU per POST /api/sequences through the WSGI app in process, "
                                   f"best of {rounds} x {requests} (bench/wsgi_cpu.py)"}
    for which in APPS:
        with tempfile.TemporaryDirectory(prefix="tka-bench-wsgi-") as tmp:
            env = {**os.environ, "TKA_DATABASE_URL": f"sqlite:///{tmp}/wsgi.db"}
            done = subprocess.run([sys.executable, "-m", "bench.wsgi_cpu", which, str(requests), str(rounds)],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"bench.wsgi_cpu {which} failed: {done.stderr[-2000:]}")
            out[f"{which}_ms"] = round(json.loads(done.stdout.strip().splitlines()[-1])["ms"], 3)
    out["ratio_tka_vs_peer"] = round(out["peer_ms"] / out["tka_ms"], 3)
    return out


if __name__ == "__main__":
    print(json.dumps({"ms": measure(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))}))
