"""Small infrastructure the services use: event bus, command history model, breaker, metrics,
ids, JSON text, gevent helpers, DI container."""
