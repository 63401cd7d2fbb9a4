"""Serving on gevent: the worker classes ``tka serve`` offers, early monkey-patching, and a way to
keep long C calls off a gevent worker's event loop.

gevent (the default worker class): every request and every WebSocket is a greenlet; a request runs
until it waits on I/O, so request threads never queue for the GIL behind each other. gthread: one
OS thread per request, for hosts where gevent's monkey-patching is unwelcome. Measured in
``make bench`` (http section) and bench/README.md.

This module imports nothing of the app: ``tka serve`` patches through it before anything else is
imported.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, TypeVar

T = TypeVar("T")

WORKER_CLASSES = ("gevent", "gthread")
DEFAULT_WORKER_CLASS = WORKER_CLASSES[0]


def worker_class(flag: str | None = None) -> str:
    """The worker class asked for: the flag, else ``TKA_WORKER_CLASS``, else gevent."""
    return flag or os.environ.get("TKA_WORKER_CLASS") or DEFAULT_WORKER_CLASS


def patch_for(kind: str) -> None:
    """Make the standard library cooperative when gevent serves, before the app is imported:
    every lock created afterwards (in gunicorn's master too, before it forks) is then gevent's, so
    no greenlet can stall its worker on a real lock that another greenlet holds across a switch."""
    if kind == "gevent":
        from gevent import monkey

        if not monkey.is_module_patched("threading"):
            monkey.patch_all()


def cooperative() -> bool:
    """Is this process monkey-patched by gevent (threads are greenlets)?"""
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))


def os_thread_local() -> Any:
    """A ``threading.local`` per OS thread even under gevent, where ``threading.local`` is per
    greenlet (a greenlet per request: what it holds would be rebuilt for every connection). For
    things a greenlet uses only within one C call, such as a SQLite connection: greenlets switch
    between such calls, never inside one."""
    if cooperative():
        from gevent import monkey

        return monkey.get_original("threading", "local")()
    import threading

    return threading.local()


def offload(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``; under gevent on a real thread of gevent's pool, so that a long C call that
    releases the GIL (a WAL checkpoint and its fsync) does not stop every other greenlet of the
    worker meanwhile. Only the calling greenlet waits."""
    if cooperative():
        import gevent

        return gevent.get_hub().threadpool.apply(fn, args)
    return fn(*args)


def take_turns(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Under gevent, a WSGI app whose every request first lets the worker's other ready greenlets
    run. A greenlet switches only when it would block, and a kept-alive connection whose next
    request is already in its socket never does: without this, a few connections were served
    while the rest waited (wrk, 16 connections, GET of a sequence: p99 357 ms, 48 ms with this, at
    the same rate).
    Unchanged when not under gevent."""
    if not cooperative():
        return wsgi_app
    import gevent

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        gevent.sleep(0)
        return wsgi_app(environ, start_response)

    return app
