#!/opt/tka/bin/python
"""The tka image's entrypoint: checks what a container needs, then becomes its command (exec).

For ``tka serve`` only (any other command runs as given):

- a token is required, whatever the address: ``tka serve`` itself insists on one beyond loopback,
  and a container's loopback is shared with the host under ``--network host``;
- with a PostgreSQL database, wait until it accepts connections (up to ``TKA_DATABASE_WAIT``
  seconds, default 60): compose files start the database and the servers together, and the
  server migrates the schema before it forks its workers, so it would exit at once otherwise.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _wait_for_postgres(url: str, seconds: float) -> None:
    import psycopg

    conninfo = "postgresql" + url[url.index("://"):]  # SQLAlchemy's postgresql+psycopg:// too
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(conninfo, connect_timeout=3).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                sys.exit(f"tka-entrypoint: PostgreSQL not reachable after {seconds:g} s: {exc}".strip())
            print(f"tka-entrypoint: waiting for PostgreSQL: {str(exc).strip() or type(exc).__name__}",
                  file=sys.stderr, flush=True)
            time.sleep(1)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("tka-entrypoint: no command")
    # PID 1 ignores signals it has no handler for: let `podman stop` end the waiting too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.path.basename(argv[0]) == "tka" and argv[1:2] == ["serve"]:
        if not (_flag(argv, "--token") or os.environ.get("TKA_API_TOKEN")):
            sys.exit("tka-entrypoint: refusing to serve without a token: set TKA_API_TOKEN (at least 16 "
                     "characters, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'); "
                     "every /api request must then carry 'Authorization: Bearer <token>'")
        url = _flag(argv, "--database") or os.environ.get("TKA_DATABASE_URL") or ""
        if url.startswith("postgresql"):
            _wait_for_postgres(url, float(os.environ.get("TKA_DATABASE_WAIT") or 60))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
