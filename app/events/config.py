"""How the event stream is sized and tuned: ``TKA_WS_*`` and ``TKA_EVENT_*`` environment variables,
read into ``Settings.stream`` (app/settings.py). Each setting names its variable beside its default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


def _env(name: str, default: Any) -> Any:
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True)
class StreamConfig:
    # WebSocket connections one worker holds. Under gthread each holds one gunicorn thread, added
    # on top of the REST threads (app/serving.py), so sockets can never take REST's threads.
    max_connections: int = _env("TKA_WS_MAX_CONNECTIONS", 1000)
    # Messages waiting for one client before it counts as a slow consumer and is cut off.
    queue_size: int = _env("TKA_WS_QUEUE_SIZE", 1000)
    # Seconds of silence after which the server sends a heartbeat message.
    heartbeat_interval: float = _env("TKA_WS_HEARTBEAT_INTERVAL", 25.0)
    # Largest client message accepted (bytes); bigger ones close the socket with 1009.
    max_message_bytes: int = _env("TKA_WS_MAX_MESSAGE_BYTES", 64 * 1024)
    # Seconds a single write to a client may block before the connection is cut.
    send_timeout: float = _env("TKA_WS_SEND_TIMEOUT", 10.0)
    # SO_SNDBUF of each socket in bytes (0: the kernel's autotuning, up to tcp_wmem's maximum).
    # Bounds the kernel memory a client that stopped reading can hold before its queue fills.
    send_buffer_bytes: int = _env("TKA_WS_SEND_BUFFER", 0)
    # Seconds a client has to send {type: auth} when the server has a token and no header came.
    # Until then its socket does not count against max_connections but waits in a pool of
    # max_pending sockets per worker, at most max_pending_per_peer of them from one address.
    auth_timeout: float = _env("TKA_WS_AUTH_TIMEOUT", 5.0)
    max_pending: int = _env("TKA_WS_MAX_PENDING", 64)
    max_pending_per_peer: int = _env("TKA_WS_MAX_PENDING_PER_PEER", 8)
    # How often each worker checks the event log for commits it was not told about (seconds). The
    # workers of one server ring each other's doorbells (SQLite) or LISTEN (PostgreSQL) at once;
    # the poll is the safety net (another server on the same file, a lost ring), and each wake of
    # every worker costs CPU that REST requests would otherwise get.
    poll_interval: float = _env("TKA_EVENT_POLL_INTERVAL", 0.05)
    # Retention of the event log: keep the newest N events and events younger than T hours
    # (0 disables that limit). The newest event is never pruned.
    retention_events: int = _env("TKA_EVENT_RETENTION_EVENTS", 100_000)
    retention_hours: float = _env("TKA_EVENT_RETENTION_HOURS", 7 * 24.0)
    prune_interval: float = _env("TKA_EVENT_PRUNE_INTERVAL", 60.0)
    # Replays (resume/?since=) reading the log at once per worker, so reconnect storms leave
    # database connections for REST.
    replay_concurrency: int = _env("TKA_WS_REPLAY_CONCURRENCY", 4)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> "StreamConfig":
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is not None and raw.strip():
                values[f.name] = int(raw) if f.type in (int, "int") else float(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


LOG_PAGE = 500  # events per read of the log, by the tailer and by a replay
