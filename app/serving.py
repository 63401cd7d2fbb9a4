"""Serving with gunicorn: its settings and hooks, and the app each worker builds.

Both ways to serve go through here: ``tka serve`` (``serve``) and ``gunicorn -c gunicorn.conf.py
app.wsgi:application`` (``gunicorn_config`` in the config file, ``build_wsgi`` in each worker).
Call ``app.process.prepare`` before importing this module.

Hooks come from the parts that need them and are chained, never overwritten: the master migrates
the store once before it forks (``on_starting``) and drops a dead worker's live gauges from the
merged metrics (``child_exit``); each worker closes its sockets with 1001 on SIGTERM
(``post_worker_init``) and when it stops (``worker_int``, ``worker_exit``).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from typing import Any, Callable

import flask
from sqlalchemy.engine import make_url

from app import __version__
from app.api import create_app
from app.bootstrap import bootstrap, start
from app.core.container import Container
from app.core.greenlets import cooperative, take_turns
from app.events.hub import Hub
from app.events.registry import PeerRegistry
from app.process import METRICS_DIR_ENV, temporary_dir
from app.settings import RUN_DIR_ENV, Settings
from app.store import Store
from app.store.engine import kind_of

log = logging.getLogger(__name__)

Hook = Callable[..., None]


def server_settings(settings: Settings) -> Settings:
    """What the master settles before it forks: the database (the default one, if none was
    given) and the directory where its workers share connection lists and doorbells, exported
    for workers that read their settings from the environment (``app.wsgi``)."""
    settings.check()
    run_dir = settings.run_dir or temporary_dir("tka-events-")
    os.environ[RUN_DIR_ENV] = run_dir
    return settings.but(database_url=settings.database(), run_dir=run_dir)


# gunicorn's worker classes, answering what gunicorn refuses itself as problem+json (app/workers.py).
WORKER_CLASSES = {"gevent": "app.workers.Gevent", "gthread": "app.workers.Gthread"}


def gunicorn_config(settings: Settings, **hooks: Hook) -> dict[str, Any]:
    """gunicorn's settings for ``settings`` (already ``server_settings``), with tka's hooks and
    any given here chained after them."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    # gthread: WebSocket connections (counted, and those waiting to authenticate) get threads of
    # their own on top of the REST ones, so sockets never take REST's threads (gthread starts them
    # on demand: unused capacity costs nothing). gevent: worker_connections bounds a worker's
    # connections, REST and sockets; threads do not apply.
    threads = settings.threads + settings.stream.max_connections + settings.stream.max_pending
    config: dict[str, Any] = {
        "bind": f"{host}:{settings.port}",
        "workers": settings.workers,
        "worker_class": WORKER_CLASSES[settings.worker_class],
        "threads": threads,
        "worker_connections": threads + 1000,  # every thread busy plus the usual 1000 kept-alive
        "graceful_timeout": settings.graceful_timeout,
        "timeout": 30,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        # One control socket per user by default: several servers (tests, a desktop app and a
        # script) would fight over it, and nothing here uses gunicornc.
        "control_socket_disable": True,
    }
    parts: list[dict[str, Hook]] = [
        {"on_starting": lambda server: _migrate(settings)},
        {"child_exit": _forget_worker},
        {"post_worker_init": _close_sockets_on_sigterm, "worker_int": _close_sockets,
         "worker_exit": _close_sockets_at_exit},
        hooks,
    ]
    for part in parts:
        for name, hook in part.items():
            config[name] = chain(config[name], hook) if name in config else hook
    return config


def chain(*hooks: Hook) -> Hook:
    """One hook that calls ``hooks`` in order, with the same arguments."""
    def chained(*args: Any) -> None:
        for hook in hooks:
            hook(*args)
    return chained


def build_wsgi(settings: Settings) -> flask.Flask:
    """A worker's app: its own runtime, started (the store watchdog, the event tailer)."""
    container = bootstrap(settings, migrate=False)
    start(container)
    app = create_app(container)
    app.wsgi_app = take_turns(app.wsgi_app)  # type: ignore[method-assign]
    # What a worker has built by now (the app, the parsed spec and its validators, compiled
    # statements) lives as long as the worker: out of the garbage collector's full passes with it.
    # Measured: 2 % fewer instructions per POST /api/sequences (callgrind, in process).
    gc.freeze()
    return app


def serve(settings: Settings) -> int:
    """``tka serve``: gunicorn through its Python API, from any working directory."""
    from gunicorn.app.base import BaseApplication

    settings = server_settings(settings)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_config(settings).items():
                self.cfg.set(key, value)

        def load(self) -> flask.Flask:
            return build_wsgi(settings)

    kind = kind_of(make_url(settings.database()))
    print(f"tka {__version__} serving http://{settings.host}:{settings.port} "
          f"({settings.workers} {settings.worker_class} workers, {kind})", file=sys.stderr, flush=True)
    Server().run()
    return 0


# -- hooks ---------------------------------------------------------------------------------------
def _migrate(settings: Settings) -> None:
    """Master, before forking: bring the schema up to date once, for every worker."""
    store = Store(settings.database())
    try:
        version = store.migrate()
        log.info("schema at version %s on %s", version, store.kind)
    finally:
        store.dispose()


def _forget_worker(server: Any, worker: Any) -> None:
    """Master: a worker is gone; drop its live gauges from the merged metrics."""
    if os.environ.get(METRICS_DIR_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _hub(worker: Any) -> Hub | None:
    container: Container | None = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("tka")
    return None if container is None else container.resolve(Hub)


def _close_sockets_on_sigterm(worker: Any) -> None:
    """Worker: on SIGTERM close every socket with 1001 at once, then shut down as gunicorn would.
    (gthread waits the whole graceful timeout for open connections, and a socket never ends by
    itself.)"""
    hub = _hub(worker)
    if hub is None:
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        if cooperative():  # gevent runs a handler as a loop callback, where nothing may wait
            import gevent

            gevent.spawn(hub.shutdown, wait=False)
        else:
            hub.shutdown(wait=False)  # never blocks: a signal handler
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)


def _close_sockets(worker: Any) -> None:
    """Worker, SIGINT/SIGQUIT (quick shutdown): close the sockets so their sessions can end."""
    hub = _hub(worker)
    if hub is not None:
        hub.shutdown(wait=True)


def _close_sockets_at_exit(server: Any, worker: Any) -> None:
    """Worker exit: nothing is left to close after a normal stop; a backstop otherwise."""
    _close_sockets(worker)
    PeerRegistry(os.environ.get(RUN_DIR_ENV)).remove(worker.pid)
