"""The brief's in-process mode: a host program (the desktop app) embeds the API.

``TKAAPIIntegration`` serves the same app on a background thread of the host process, with a
threaded WSGI server, and stops it cleanly. It runs on the host's runtime when given one
(``bootstrap``'s container), so the host and its API clients act on one store, one event bus and
one undo history.
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from app.api import create_app
from app.bootstrap import bootstrap, close, start
from app.core.container import Container
from app.settings import Settings


class TKAAPIIntegration:
    def __init__(self, container: Container | None = None, *, settings: Settings | None = None) -> None:
        if container is None:
            container = bootstrap(settings or Settings())
        self.container = container
        self.settings = container.resolve(Settings)
        self.settings.check()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the API server is not running")
        return f"http://{self.settings.host}:{self._server.server_port}"

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Start serving on the settings' host and port (port 0 picks a free one); the base URL."""
        if self.is_running:
            return self.url
        start(self.container)
        self._server = make_server(self.settings.host, self.settings.port, create_app(self.container), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tka-api", daemon=True)
        self._thread.start()
        return self.url

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._thread = None

    def close(self) -> None:
        """Stop serving and release the runtime (the store, its background threads)."""
        self.stop()
        close(self.container)

    def __enter__(self) -> "TKAAPIIntegration":
        self.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.stop()
