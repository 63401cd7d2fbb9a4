"""``tka``: serve the API (gunicorn through its Python API, from any working directory)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from app import __version__
from app.core.greenlets import WORKER_CLASSES


def _serve(args: argparse.Namespace) -> int:
    from app.settings import Settings

    settings = Settings.from_env(host=args.host, port=args.port, workers=args.workers, threads=args.threads,
                                 worker_class=args.worker_class, database_url=args.database, token=args.token,
                                 cors_origins=tuple(args.cors_origin) if args.cors_origin else None)
    settings.check()
    from app.process import prepare

    prepare(settings.worker_class)  # before the rest of the app is imported (app/process.py)
    from app.serving import serve

    return serve(settings)


def _sdk_generate(args: argparse.Namespace) -> int:
    """Run sdk/generate.py of the checkout this package was installed from (editable install):
    generation is a development step that writes into the repo, never something the server does."""
    import runpy
    from pathlib import Path

    # The one place that looks outside the package, on purpose: the checkout it sits in, if any.
    root = Path(__file__).resolve().parents[1]
    script = root / "sdk" / "generate.py"
    if not (script.is_file() and (root / "pyproject.toml").is_file() and (root / "openapi.yaml").is_file()):
        print(f"tka sdk generate is a development step: it runs sdk/generate.py of a tka source checkout and "
              f"writes generated/ there, but this tka is installed from a package ({root} is no checkout). "
              f"In a clone of the repository, run `make sdks` (or `tka sdk generate` after `make install`).",
              file=sys.stderr)
        return 2
    generate = runpy.run_path(str(script))["main"]
    return int(generate([*(["--lang", *args.lang] if args.lang else []), *(["--check"] if args.check else [])]))


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.perf import report

    text, regressions = report(Path(args.compare), Path(args.current), args.tolerance)
    print(text)
    return 1 if regressions else 0


def _events(args: argparse.Namespace) -> int:
    from app.events.cli_client import main as follow

    return follow(args.url, token=args.token, since=args.since, event_types=args.filter or [],
                  sequence_ids=args.sequence or [], exit_on_resync=args.exit_on_resync)


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
    events = sub.add_parser("events", help="print a server's events as JSON lines, following and resuming",
                            description="Print each event of the server's /ws stream as one JSON line on stdout "
                                        "(notices on stderr); reconnects and resumes without gap or duplicate. "
                                        "Exit: 130 Ctrl-C, 143 SIGTERM, 1 refused (token), 3 --exit-on-resync.")
    events.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default %(default)s)")
    events.add_argument("--token", default=os.environ.get("TKA_TOKEN"),
                        help="the server's API token (or TKA_TOKEN), sent as 'Authorization: Bearer'")
    events.add_argument("--since", type=int, metavar="EVENT_ID",
                        help="start with the events after this id (replayed); default: from now")
    events.add_argument("--filter", action="append", metavar="PATTERN",
                        help="only these event types: exact, 'prefix.*' or '*' (repeatable)")
    events.add_argument("--sequence", action="append", metavar="ID", help="only events of this sequence (repeatable)")
    events.add_argument("--exit-on-resync", action="store_true",
                        help="exit with 3 when events were lost (resync_required) instead of going on live")
    events.set_defaults(func=_events)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
