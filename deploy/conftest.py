"""pytest's hooks for `make image-test` (deploy/test_image.py): its measurements, printed at the end."""

from __future__ import annotations

from typing import Any

import pytest

_KEY = pytest.StashKey[dict[str, Any]]()


@pytest.fixture(scope="session")
def measured(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Figures a test measured (name -> value), shown in the run's summary."""
    return request.config.stash.setdefault(_KEY, {})


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    figures = config.stash.get(_KEY, {})
    if figures:
        terminalreporter.section("image measurements")
        for name, value in figures.items():
            terminalreporter.write_line(f"{name}: {value}")
