"""Server settings: command-line flags over TKA_* environment variables over defaults."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from app.api.security import LOOPBACK_HOSTS, EdgeConfig
from app.core.greenlets import DEFAULT_WORKER_CLASS, WORKER_CLASSES
from app.core.greenlets import worker_class as configured_worker_class


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 32
    worker_class: str = DEFAULT_WORKER_CLASS  # app/core/greenlets.py
    database_url: str | None = None  # None: SQLite in the per-user data dir
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20
    validate_responses: bool = False
    graceful_timeout: int = 10
    extra: dict[str, str] = field(default_factory=dict)

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
            # seconds gunicorn lets in-flight requests finish after SIGTERM
            "graceful_timeout": int(env.get("TKA_GRACEFUL_TIMEOUT", cls.graceful_timeout)),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

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
        if not self.is_loopback and not self.token:
            raise SystemExit(f"refusing to bind {self.host}: binding beyond loopback needs a token "
                             "(--token or TKA_API_TOKEN); every /api request must then carry it")

    def edge(self) -> EdgeConfig:
        # The Host check defends loopback servers against DNS rebinding; a server bound beyond
        # loopback is reached by names we cannot know, and its token is the defence there.
        hosts = EdgeConfig().allowed_hosts if self.is_loopback else frozenset({"*"})
        return EdgeConfig(token=self.token, cors_origins=self.cors_origins, allowed_hosts=hosts,
                          max_body_bytes=self.max_body_bytes)
