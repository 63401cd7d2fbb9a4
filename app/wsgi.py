"""WSGI entry point for ``gunicorn -c gunicorn.conf.py app.wsgi:application``: each worker builds
its app from the TKA_* environment, as the master left it (app/serving.py)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy, so importing this module builds nothing
    if name == "application":
        from app.serving import build_wsgi
        from app.settings import Settings

        return build_wsgi(Settings.from_env())
    raise AttributeError(name)
