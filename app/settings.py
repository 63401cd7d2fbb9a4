"""Server settings: command-line flags over TKA_* environment variables over defaults.

Imports nothing heavy (no Flask, no prometheus_client): a serving process reads its settings
before it patches the standard library for gevent and sets up its metrics directory
(app/process.py), and only then imports the rest of the app.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from app.core.greenlets import DEFAULT_WORKER_CLASS, WORKER_CLASSES
from app.core.greenlets import worker_class as configured_worker_class
from app.events.config import StreamConfig

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
MIN_TOKEN_LENGTH = 16
RUN_DIR_ENV = "TKA_EVENTS_RUN_DIR"  # set by the gunicorn master for its workers (app/serving.py)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 32
    worker_class: str = DEFAULT_WORKER_CLASS  # app/core/greenlets.py
    database_url: str | None = None  # None: SQLite in the per-user data dir (see ``database``)
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    max_import_bytes: int = 16 << 20  # POST /api/sequences/import: a dictionary PNG can be large
    validate_responses: bool = False
    graceful_timeout: int = 10  # seconds gunicorn lets in-flight requests finish after SIGTERM
    stream: StreamConfig = field(default_factory=StreamConfig)  # the event stream (TKA_WS_*, TKA_EVENT_*)
    # Where the workers of one server share their connection lists and ring each other's
    # doorbells (app/events); made by the gunicorn master (app/serving.py). None: one process.
    run_dir: str | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        env = os.environ
        values: dict[str, object] = {
            "host": env.get("TKA_HOST", cls.host),
            "port": int(env.get("TKA_PORT", cls.port)),
            "workers": int(env.get("TKA_WORKERS", cls.workers)),
            "threads": int(env.get("TKA_THREADS", cls.threads)),
            "worker_class": configured_worker_class(),
            "database_url": env.get("TKA_DATABASE_URL") or None,
            "token": env.get("TKA_API_TOKEN") or None,
            "cors_origins": tuple(o for o in env.get("TKA_CORS_ORIGINS", "").split(",") if o),
            "validate_responses": env.get("TKA_VALIDATE_RESPONSES") == "1",
            "graceful_timeout": int(env.get("TKA_GRACEFUL_TIMEOUT", cls.graceful_timeout)),
            "stream": StreamConfig.from_env(),
            "run_dir": env.get(RUN_DIR_ENV) or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def but(self, **changes: object) -> "Settings":
        """A copy with ``changes``."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def database(self) -> str:
        """The database URL: the one given, or SQLite in the per-user data dir
        (e.g. ~/.local/share/tka/tka.db)."""
        if self.database_url:
            return self.database_url
        path = Path(platformdirs.user_data_dir("tka", appauthor=False)) / "tka.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    @property
    def is_loopback(self) -> bool:
        if self.host in LOOPBACK_HOSTS:
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def check(self) -> None:
        if self.worker_class not in WORKER_CLASSES:
            raise SystemExit(f"unknown worker class {self.worker_class!r}: choose one of {', '.join(WORKER_CLASSES)}")
        if self.token is not None and (len(self.token) < MIN_TOKEN_LENGTH or not self.token.strip()):
            raise SystemExit(f"refusing a token of {len(self.token)} characters: a token is at least "
                             f"{MIN_TOKEN_LENGTH} characters and not blank (e.g. python -c 'import secrets; "
                             "print(secrets.token_urlsafe(32))')")
        if not self.is_loopback and not self.token:
            raise SystemExit(f"refusing to bind {self.host}: binding beyond loopback needs a token "
                             "(--token or TKA_API_TOKEN); every /api request must then carry it")
