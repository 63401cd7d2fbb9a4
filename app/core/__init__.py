"""Small infrastructure the services use: event bus, command history model, DI container."""
