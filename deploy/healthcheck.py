"""The tka image's HEALTHCHECK: exit 0 when the server's ``/health/live`` answers 200.

Python's urllib, since the image has no curl. Asks the address the server binds (loopback when it
binds every interface), on TKA_PORT, never through a proxy set in the environment.
"""

import os
import sys
import urllib.request

host = os.environ.get("TKA_HOST") or "127.0.0.1"
if host in ("0.0.0.0", "::", "[::]"):
    host = "127.0.0.1"
elif ":" in host and not host.startswith("["):
    host = f"[{host}]"
url = f"http://{host}:{os.environ.get('TKA_PORT') or '8000'}/health/live"
try:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=4) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception as exc:  # noqa: BLE001 -- any failure is "unhealthy"; say why in `podman inspect`'s health log
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
