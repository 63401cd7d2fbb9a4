"""Use cases over the domain and the store: what the API (and a host app) can ask TKA to do.

``sequences`` (commands: one transaction each, evented and undoable), ``views`` (reads),
``idempotency`` (safe retries), ``calls`` (what goes into a command besides its arguments, and
the outcome that comes out), ``errors`` (outcomes that are not domain-rule violations).
"""
