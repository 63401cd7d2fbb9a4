"""gunicorn's two worker classes, answering what gunicorn refuses itself as problem+json.

gunicorn reads the request line and headers before the app sees anything, and refuses what it
cannot take (a request line over 4094 bytes: 414; a header over 8190 bytes or more than 100: 431;
bytes that are not HTTP: 400) with an HTML page of its own. Every other refusal of the API is
problem+json (openapi.yaml, Problem), so these are too: gunicorn still decides the status, from
its own ``handle_error``; only the page it writes is replaced.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from gunicorn.workers.ggevent import GeventWorker
from gunicorn.workers.gthread import ThreadWorker

from app.api.problems import bounded
from app.core.ids import random_uuid


class _ProblemWriter:
    """Stands for the client's socket while gunicorn writes its error page, and writes the same
    status as problem+json instead (gunicorn's page is one ``sendall`` of a whole response)."""

    def __init__(self, sock: Any, req: Any, exc: BaseException) -> None:
        self._sock = sock
        self._path = getattr(req, "path", None) or ""
        self._exc = exc

    def sendall(self, data: bytes) -> None:
        status = HTTPStatus(int(data.split(b" ", 2)[1]))  # "HTTP/1.1 414 URI Too Long\r\n..."
        refused = status != HTTPStatus.INTERNAL_SERVER_ERROR  # the client's bytes (501: a coding it cannot read)
        code = status.phrase.lower().replace(" ", "_") if refused else "internal_error"
        request_id = random_uuid()
        body = json.dumps({
            "type": f"urn:tka:problem:{code}", "title": status.phrase, "status": int(status),
            "detail": bounded(f"the request could not be read: {self._exc}") if refused else
            "the server failed to answer this request", "instance": self._path, "error_code": code,
            "request_id": request_id}, ensure_ascii=False).encode()
        head = (f"HTTP/1.1 {int(status)} {status.phrase}\r\nConnection: close\r\n"
                f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n"
                f"X-Request-ID: {request_id}\r\nX-Content-Type-Options: nosniff\r\n\r\n")
        self._sock.sendall(head.encode("latin-1") + body)

    def __getattr__(self, name: str) -> Any:  # gettimeout, setblocking...
        return getattr(self._sock, name)


class _ProblemErrors:
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        super().handle_error(req, _ProblemWriter(client, req, exc), addr, exc)  # type: ignore[misc]


class Gevent(_ProblemErrors, GeventWorker):
    pass


class Gthread(_ProblemErrors, ThreadWorker):
    pass
