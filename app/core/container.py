"""A small dependency-injection container.

The app factory (``app.bootstrap``) is the one composition root that fills it; tests build their
own. Registrations are by key (usually a class); resolution of an unknown key raises an error that
lists what is registered, so a wiring mistake is obvious.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class ResolutionError(LookupError):
    """Nothing is registered under the requested key, or a factory depends on itself."""


class Container:
    def __init__(self) -> None:
        self._instances: dict[Any, Any] = {}
        self._factories: dict[Any, tuple[Callable[["Container"], Any], bool]] = {}
        self._lock = threading.RLock()
        self._resolving: list[Any] = []

    def register_instance(self, key: Any, instance: Any) -> None:
        with self._lock:
            self._factories.pop(key, None)
            self._instances[key] = instance

    def register_singleton(self, key: Any, factory: Callable[["Container"], Any]) -> None:
        """``factory(container)`` runs once, on first resolve."""
        with self._lock:
            self._instances.pop(key, None)
            self._factories[key] = (factory, True)

    def register_factory(self, key: Any, factory: Callable[["Container"], Any]) -> None:
        """``factory(container)`` runs on every resolve."""
        with self._lock:
            self._instances.pop(key, None)
            self._factories[key] = (factory, False)

    def resolve(self, key: type[T] | Any) -> T:
        with self._lock:
            if key in self._instances:
                return self._instances[key]
            if key not in self._factories:
                raise ResolutionError(
                    f"nothing registered for {_name(key)}; registered: "
                    + (", ".join(sorted(_name(k) for k in self.registered())) or "nothing")
                )
            if key in self._resolving:
                chain = " -> ".join(_name(k) for k in [*self._resolving, key])
                raise ResolutionError(f"circular dependency: {chain}")
            factory, singleton = self._factories[key]
            self._resolving.append(key)
            try:
                instance = factory(self)
            finally:
                self._resolving.pop()
            if singleton:
                self._instances[key] = instance
                del self._factories[key]
            return instance

    def registered(self) -> list[Any]:
        return [*self._instances, *self._factories]


def _name(key: Any) -> str:
    return getattr(key, "__qualname__", None) or repr(key)
