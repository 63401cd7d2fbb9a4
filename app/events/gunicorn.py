"""gunicorn settings for the event stream: thread sizing and closing sockets on shutdown.

Sizing. flask-sock runs each socket on the worker's thread (gthread) or greenlet (gevent) that
accepted it, for the socket's whole life, and a worker refuses sockets beyond ``max_connections``
(close code 1013). Under gthread each worker's pool is the REST threads plus ``max_connections``
socket threads, so however many clients connect, REST keeps its own threads; gthread starts pool
threads on demand, so unused socket capacity costs nothing. Under gevent ``worker_connections``
bounds a worker's connections (REST and sockets) and the thread count does not apply.

Shutdown. gunicorn's gthread worker waits up to the graceful timeout for open connections, and an
open socket never ends by itself; so on SIGTERM (and SIGINT/SIGQUIT) every socket is closed with
1001 "going away" at once, and the worker exits as soon as its REST requests are done.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from typing import Any

from app.core.greenlets import cooperative
from app.events.config import RUN_DIR_ENV, StreamConfig
from app.events.hub import shutdown_all
from app.events.registry import PeerRegistry

log = logging.getLogger(__name__)

_created_run_dirs: list[str] = []


def server_options(rest_threads: int, config: StreamConfig | None = None) -> dict[str, Any]:
    config = config or StreamConfig.from_env()
    threads = rest_threads + config.max_connections
    return {
        "threads": threads,
        # connections a worker accepts: every thread busy plus the usual 1000 kept-alive ones
        "worker_connections": threads + 1000,
        "on_starting": on_starting,
        "on_exit": on_exit,
        "post_worker_init": post_worker_init,
        "worker_int": worker_int,
        "worker_exit": worker_exit,
    }


def on_starting(server: Any) -> None:
    """Master, before forking: a directory where workers share their connection lists."""
    if not os.environ.get(RUN_DIR_ENV):
        path = tempfile.mkdtemp(prefix="tka-events-")
        _created_run_dirs.append(path)
        os.environ[RUN_DIR_ENV] = path


def on_exit(server: Any) -> None:
    for path in _created_run_dirs:
        shutil.rmtree(path, ignore_errors=True)


def post_worker_init(worker: Any) -> None:
    """Worker: start the event tailer, and on SIGTERM close every socket with 1001 at once, then
    shut down as gunicorn would."""
    hub = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("tka.events")
    if hub is not None:
        # Now rather than on the first request: a worker that served nothing before a store
        # outage still knows where the log stands, so its clients get store notices, not 1013.
        try:
            hub.ensure_started()
        except Exception as exc:  # the store is down at boot: the first request retries
            log.warning("event tailer not started yet (%s); will retry on the first request", exc)
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        if cooperative():  # gevent runs a handler as a loop callback, where nothing may wait
            import gevent

            gevent.spawn(shutdown_all, wait=False)
        else:
            shutdown_all(wait=False)  # never blocks: a signal handler
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)


def worker_int(worker: Any) -> None:
    """Worker, SIGINT/SIGQUIT (quick shutdown): close the sockets so the threads can end."""
    shutdown_all(wait=True)


def worker_exit(server: Any, worker: Any) -> None:
    shutdown_all(wait=True)  # nothing left to close after a normal stop; a backstop otherwise
    PeerRegistry(os.environ.get(RUN_DIR_ENV)).remove(worker.pid)
