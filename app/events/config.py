"""How the event stream is sized and tuned: ``TKA_WS_*`` and ``TKA_EVENT_*`` environment variables.

Read from the environment (not ``app.settings``) because two processes need the same values: the
gunicorn master sizes each worker's thread pool from ``max_connections`` and every worker builds
its hub from the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class StreamConfig:
    # WebSocket connections one worker holds. Each holds one gunicorn thread, which is added on top
    # of the REST threads (app.events.gunicorn), so sockets can never take REST's threads.
    max_connections: int = 1000
    # Messages waiting for one client before it counts as a slow consumer and is cut off.
    queue_size: int = 1000
    # Seconds of silence after which the server sends a heartbeat message.
    heartbeat_interval: float = 25.0
    # Largest client message accepted (bytes); bigger ones close the socket with 1009.
    max_message_bytes: int = 64 * 1024
    # Seconds a single write to a client may block before the connection is cut.
    send_timeout: float = 10.0
    # SO_SNDBUF of each socket in bytes (0: the kernel's autotuning, up to tcp_wmem's maximum).
    # Bounds the kernel memory a client that stopped reading can hold before its queue fills.
    send_buffer_bytes: int = 0
    # Seconds a client has to send {type: auth} when the server has a token and no header came.
    auth_timeout: float = 10.0
    # How often each worker checks the event log for commits it was not told about (seconds). The
    # workers of one server ring each other's doorbells (SQLite) or LISTEN (PostgreSQL) at once;
    # the poll is the safety net (another server on the same file, a lost ring), and each wake of
    # every worker costs CPU that REST requests would otherwise get.
    poll_interval: float = 0.05
    # Retention of the event log: keep the newest N events and events younger than T hours
    # (0 disables that limit). The newest event is never pruned.
    retention_events: int = 100_000
    retention_hours: float = 7 * 24.0
    prune_interval: float = 60.0
    # Replays (resume/?since=) reading the log at once per worker, so reconnect storms leave
    # database connections for REST.
    replay_concurrency: int = 4

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> "StreamConfig":
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(_ENV[f.name])
            if raw is not None and raw.strip():
                values[f.name] = int(raw) if f.type in (int, "int") else float(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


_ENV = {
    "max_connections": "TKA_WS_MAX_CONNECTIONS",
    "queue_size": "TKA_WS_QUEUE_SIZE",
    "heartbeat_interval": "TKA_WS_HEARTBEAT_INTERVAL",
    "max_message_bytes": "TKA_WS_MAX_MESSAGE_BYTES",
    "send_timeout": "TKA_WS_SEND_TIMEOUT",
    "send_buffer_bytes": "TKA_WS_SEND_BUFFER",
    "auth_timeout": "TKA_WS_AUTH_TIMEOUT",
    "poll_interval": "TKA_EVENT_POLL_INTERVAL",
    "retention_events": "TKA_EVENT_RETENTION_EVENTS",
    "retention_hours": "TKA_EVENT_RETENTION_HOURS",
    "prune_interval": "TKA_EVENT_PRUNE_INTERVAL",
    "replay_concurrency": "TKA_WS_REPLAY_CONCURRENCY",
}

# Where each worker publishes its connection list so any worker can answer for all of them.
# Set by the gunicorn master (app.events.gunicorn); unset, stats cover the answering worker only.
RUN_DIR_ENV = "TKA_EVENTS_RUN_DIR"
