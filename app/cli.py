"""``tka``: serve the API (gunicorn through its Python API, from any working directory)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from app import __version__
from app.core.greenlets import WORKER_CLASSES

if TYPE_CHECKING:
    from app.settings import Settings


def metrics_dir() -> str:
    """A fresh, empty PROMETHEUS_MULTIPROC_DIR, set before anything imports prometheus_client
    (it picks its multi-process value class at import)."""
    import atexit
    import shutil
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = tempfile.mkdtemp(prefix="tka-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(path, exist_ok=True)
    for stale in os.listdir(path):  # samples of an earlier run must not leak into this one
        os.remove(os.path.join(path, stale))
    return path


def _serve(args: argparse.Namespace) -> int:
    from app.core.greenlets import patch_for, worker_class

    patch_for(worker_class(args.worker_class))  # before the app's imports
    metrics_dir()
    from gunicorn.app.base import BaseApplication

    from app.settings import Settings
    from app.store import Store
    from app.store.sql import default_database_url
    from app.wsgi import build

    settings = Settings.from_env(host=args.host, port=args.port, workers=args.workers, threads=args.threads,
                                 worker_class=args.worker_class,
                                 database_url=args.database, token=args.token,
                                 cors_origins=tuple(args.cors_origin) if args.cors_origin else None)
    settings.check()
    url = settings.database_url or default_database_url()
    settings = Settings(**{**settings.__dict__, "database_url": url})
    store = Store(url)
    version = store.migrate()  # once, before the workers fork
    store.dispose()
    logging.getLogger("tka").info("schema at version %s on %s", version, store.kind)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(settings).items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return build(settings)

    print(f"tka {__version__} serving http://{settings.host}:{settings.port} "
          f"({settings.workers} {settings.worker_class} workers, {store.kind})", file=sys.stderr, flush=True)
    Server().run()
    return 0


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    from app.events.gunicorn import server_options

    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    options = {
        "bind": f"{host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": settings.worker_class,
        "threads": settings.threads,
        "graceful_timeout": settings.graceful_timeout,
        "timeout": 30,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        # One control socket per user by default: several servers (tests, a desktop app and a
        # script) would fight over it, and nothing here uses gunicornc.
        "control_socket_disable": True,
        "child_exit": _child_exit,
    }
    # WebSocket threads on top of settings.threads, and sockets closed with 1001 on shutdown
    options.update(server_options(settings.threads))
    return options


def _child_exit(_server: Any, worker: Any) -> None:
    """gunicorn hook: drop a dead worker's live gauges from the merged metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _sdk_generate(args: argparse.Namespace) -> int:
    """Run sdk/generate.py of the checkout this package was installed from (editable install):
    generation is a development step that writes into the repo, never something the server does."""
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "sdk" / "generate.py"
    if not script.is_file():
        print(f"tka sdk generate needs a tka source checkout (no {script})", file=sys.stderr)
        return 2
    generate = runpy.run_path(str(script))["main"]
    return int(generate([*(["--lang", *args.lang] if args.lang else []), *(["--check"] if args.check else [])]))


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.perf import report

    text, regressions = report(Path(args.compare), Path(args.current), args.tolerance)
    print(text)
    return 1 if regressions else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tka", description="TKA control API")
    parser.add_argument("--version", action="version", version=f"tka {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP + WebSocket API server")
    serve.add_argument("--host", help="bind address (default 127.0.0.1; others need --token)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    serve.add_argument("--workers", type=int, help="gunicorn worker processes (default 2)")
    serve.add_argument("--worker-class", choices=WORKER_CLASSES,
                       help="gevent (default: a greenlet per request and per WebSocket) or gthread "
                            "(an OS thread per request); TKA_WORKER_CLASS")
    serve.add_argument("--threads", type=int, help="gthread only: threads per worker for HTTP requests (default 32); "
                                                  "WebSocket connections get theirs on top (TKA_WS_MAX_CONNECTIONS)")
    serve.add_argument("--database", help="SQLAlchemy URL: sqlite:///path or postgresql://... "
                                          "(default: SQLite in the per-user data dir)")
    serve.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on /api (or TKA_API_TOKEN)")
    serve.add_argument("--cors-origin", action="append", help="allow this browser origin (repeatable)")
    serve.set_defaults(func=_serve)
    sdk = sub.add_parser("sdk", help="SDKs generated from openapi.yaml").add_subparsers(dest="sdk_command", required=True)
    sdk_generate = sdk.add_parser("generate", help="regenerate generated/<lang> (needs Java 17)")
    sdk_generate.add_argument("--lang", nargs="+", choices=("typescript", "rust", "cpp", "python", "postman"),
                              help="only these (default: all)")
    sdk_generate.add_argument("--check", action="store_true", help="only report drift from a fresh generation")
    sdk_generate.set_defaults(func=_sdk_generate)
    bench = sub.add_parser("bench", help="compare `make bench` results with a stored baseline")
    bench.add_argument("--compare", required=True, metavar="BASELINE", help="a stored bench result (JSON)")
    bench.add_argument("--current", default="bench/results/latest.json", help="default: the last `make bench`")
    bench.add_argument("--tolerance", type=float, default=0.10, help="allowed change for the worse (0.10 = 10%%)")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
