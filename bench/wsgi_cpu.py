"""CPU per request with no sockets: each WSGI app called in process.

Over HTTP a request's CPU also holds gunicorn, the kernel's loopback TCP and the load generator's
share of the two cores, and it moves with whatever else the machine runs. Called in process, the
same request is steadier, so these are the numbers to watch while changing the request path.
Each (app, request) runs in a subprocess of its own (``python -m bench.wsgi_cpu APP REQUEST ...``)
on a fresh SQLite file, is warmed up, then timed in rounds; the best round counts.
``bench/http.py`` reports them beside the HTTP figures.

* ``tka``: ``app.wsgi.application``, what a ``gunicorn -c gunicorn.conf.py`` worker runs;
* ``stock``: the same app on Connexion's own Flask binding instead of app/api/binding.py, whose
  gain this measures;
* ``floor``: the same app with a canned create handler (``bench/floor.py``): the HTTP stack alone;
* ``peer``: the plain-Flask peer (``bench/peer.py``), in memory.

Requests: ``post`` is ``POST /api/sequences {"name": "bench"}``; ``get`` is
``GET /api/sequences/{id}`` of a 16-beat sequence (generated with seed 1, as bench/http.py does).
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
POST_BODY = b'{"name": "bench"}'
CASES = (("tka", "post"), ("stock", "post"), ("floor", "post"), ("peer", "post"), ("tka", "get"), ("stock", "get"),
         ("peer", "get"))


def _app(which: str) -> Any:
    if which == "peer":
        from bench.peer import create_app

        return create_app()
    from app.store import Store

    store = Store(os.environ["TKA_DATABASE_URL"])  # a server's master migrates before its workers build
    store.migrate()
    store.dispose()
    if which == "floor":
        import bench.floor

        return bench.floor.application
    if which == "stock":
        import app.api
        from connexion.apis.flask_api import FlaskApi

        app.api.TkaFlaskApi = FlaskApi  # what create_app installs: Connexion's own
    import app.wsgi

    return app.wsgi.application


def _environ(method: str, path: str, body: bytes) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(path=path, method=method, data=body or None, content_type="application/json",
                          headers={"Host": "127.0.0.1:8000"}).get_environ()


def _call(app: Any, environ: dict[str, Any], body: bytes) -> tuple[str, bytes]:
    statuses: list[str] = []
    result = app(dict(environ, **{"wsgi.input": io.BytesIO(body)}), lambda status, *_: statuses.append(status))
    data = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    return statuses[0], data


def _caller(app: Any, which: str, request: str) -> Callable[[], None]:
    """One request, as a function; ``which`` app, ``request`` kind (post or get)."""
    if request == "post":
        method, path, body, expected = "POST", "/api/sequences", POST_BODY, "201"
    elif which == "peer":
        from bench.peer import _load_sequence

        method, path, body, expected = "GET", f"/api/sequences/{_load_sequence()['id']}", b"", "200"
    else:
        generate = b'{"length": 16, "seed": 1}'
        status, data = _call(app, _environ("POST", "/api/sequences/generate", generate), generate)
        if not status.startswith("201"):
            raise RuntimeError(f"could not generate the sequence to read: {status} {data[:300]!r}")
        method, path, body, expected = "GET", f"/api/sequences/{json.loads(data)['data']['id']}", b"", "200"
    environ = _environ(method, path, body)

    def call() -> None:
        status, _ = _call(app, environ, body)
        if not status.startswith(expected):
            raise RuntimeError(f"{method} {path} answered {status}")

    return call


def measure(which: str, request: str, requests: int = 3000, rounds: int = 3) -> float:
    """Milliseconds of this process's CPU per request, the best of ``rounds`` (run in a subprocess)."""
    call = _caller(_app(which), which, request)
    for _ in range(max(50, requests // 8)):
        call()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            call()
        best = min(best, (time.process_time() - started) * 1000 / requests)
    return best


def in_process_cpu(requests: int = 3000, rounds: int = 3, cases: tuple[tuple[str, str], ...] = CASES,
                   root: Path = ROOT) -> dict[str, Any]:
    """``root``: the checkout whose code is measured (another one's, to compare two versions)."""
    out: dict[str, Any] = {"what": "ms of CPU per request through the WSGI app in process, "
                                   f"best of {rounds} x {requests} (bench/wsgi_cpu.py)"}
    for which, request in cases:
        with tempfile.TemporaryDirectory(prefix="tka-bench-wsgi-") as tmp:
            env = {**os.environ, "TKA_DATABASE_URL": f"sqlite:///{tmp}/wsgi.db"}
            # This file's code, run on ``root``'s app (``-c`` puts the working directory first on the path).
            done = subprocess.run([sys.executable, "-c", _RUN_THIS_FILE, __file__, which, request, str(requests),
                                   str(rounds)], cwd=root, env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"bench.wsgi_cpu {which} {request} failed: {done.stderr[-2000:]}")
            out[f"{which}_{request}_ms"] = round(json.loads(done.stdout.strip().splitlines()[-1])["ms"], 3)
    if "peer_post_ms" in out and "tka_post_ms" in out:
        out["ratio_tka_vs_peer"] = round(out["peer_post_ms"] / out["tka_post_ms"], 3)
    return out


_RUN_THIS_FILE = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"

if __name__ == "__main__":
    which, request, requests, rounds = sys.argv[-4:]
    print(json.dumps({"ms": measure(which, request, int(requests), int(rounds))}))
