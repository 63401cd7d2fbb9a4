import pytest

from app.core.container import Container, ResolutionError


class Clock:
    pass


class Service:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock


def test_instance_singleton_and_factory():
    c = Container()
    clock = Clock()
    c.register_instance(Clock, clock)
    c.register_singleton(Service, lambda c: Service(c.resolve(Clock)))
    c.register_factory("fresh", lambda c: object())
    assert c.resolve(Clock) is clock
    assert c.resolve(Service) is c.resolve(Service)
    assert c.resolve(Service).clock is clock
    assert c.resolve("fresh") is not c.resolve("fresh")


def test_unknown_key_error_names_what_is_registered():
    c = Container()
    c.register_instance(Clock, Clock())
    with pytest.raises(ResolutionError) as err:
        c.resolve(Service)
    assert "Service" in str(err.value) and "Clock" in str(err.value)


def test_circular_dependencies_are_reported():
    c = Container()
    c.register_singleton("a", lambda c: c.resolve("b"))
    c.register_singleton("b", lambda c: c.resolve("a"))
    with pytest.raises(ResolutionError, match="circular dependency: 'a' -> 'b' -> 'a'"):
        c.resolve("a")
