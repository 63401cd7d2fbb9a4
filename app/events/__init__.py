"""Real-time events: every committed change, to every WebSocket client, in order, exactly once.

``tailer`` (one thread per worker reads the durable log), ``hub`` (fans it out to this worker's
clients), ``subscriber`` (one client's delivery state, I/O-free), ``session`` (one client's
WebSocket protocol as an I/O-free state machine), ``protocol`` (message shapes and close codes,
documented in asyncapi.yaml), ``watcher`` (noticing new commits), ``retention`` (pruning the log),
``registry`` (stats across workers), ``config`` (TKA_WS_* and TKA_EVENT_*). The socket edge that
drives a session is app/api/stream.py.
"""
