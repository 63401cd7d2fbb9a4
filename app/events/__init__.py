"""Real-time events: every committed change, to every WebSocket client, in order, exactly once.

``hub`` (one per worker: tails the durable log, fans out to bounded per-client queues),
``protocol`` (message shapes and close codes, documented in asyncapi.yaml), ``watcher`` (noticing
new commits), ``retention`` (pruning the log), ``registry`` (stats across workers) and
``gunicorn`` (thread sizing and shutdown hooks). The socket edge is app.api.stream.
"""
