"""SDK tests: each SDK in generated/ is built with its own toolchain and its own test suite runs
against a live server (tests/servers.py's LiveServer) whose URL is in TKA_BASE_URL.

Toolchains: missing ones are installed by these tests from the registries where that is
possible (npm packages, crates, pip packages, Debian's libcpprest-dev); a toolchain that is still
missing fails the test under CI=true and skips it elsewhere, with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.servers import ROOT, LiveServer

GENERATED = ROOT / "generated"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TIMINGS: list[tuple[str, str, float]] = []   # (sdk, step, seconds), printed in the summary


def require(condition: bool, reason: str) -> None:
    """Skip (fail under CI=true) when a toolchain is not there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def require_tool(*names: str) -> None:
    missing = [n for n in names if not shutil.which(n)]
    require(not missing, f"toolchain missing: {', '.join(missing)}")


def run(sdk: str, step: str, cmd: list[str], cwd: Path, *, env: dict[str, str] | None = None,
        timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run one build/test step; fail with the tail of its output when it fails."""
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)
    TIMINGS.append((sdk, step, time.monotonic() - started))
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-6000:]
        pytest.fail(f"{sdk}: `{' '.join(cmd)}` exited {proc.returncode}:\n{output}", pytrace=False)
    return proc


def conformance(sdk: str, command: list[str], cwd: Path, workdir: Path) -> None:
    """Run the live-events conformance scenario (tests/sdk/conformance.py) against this SDK's
    follow program; fail with the program's output when a step fails."""
    from tests.sdk.conformance import ScenarioFailed, run_scenario

    started = time.monotonic()
    try:
        run_scenario(command, cwd=cwd, workdir=workdir)
    except ScenarioFailed as e:
        pytest.fail(f"{sdk}: the events conformance scenario failed: {e}", pytrace=False)
    finally:
        TIMINGS.append((sdk, "events conformance scenario", time.monotonic() - started))


def apt_install(package: str, probe: Path) -> None:
    """Install a Debian package when `probe` (a file it ships) is missing: root and apt only."""
    if probe.exists():
        return
    require(bool(shutil.which("apt-get")) and os.geteuid() == 0,
            f"{package} is not installed and apt-get as root is not available to install it")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run("apt", "update", ["apt-get", "update", "-qq"], ROOT, env=env, timeout=600)
    run("apt", f"install {package}", ["apt-get", "install", "-y", "-qq", package], ROOT, env=env, timeout=900)


@pytest.fixture(scope="package")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One fresh server for all SDK tests (each test makes its own sequences)."""
    server = LiveServer(f"sqlite:///{tmp_path_factory.mktemp('sdk') / 'tka.db'}", workers=2)
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TIMINGS:
        return
    terminalreporter.section("SDK build and test times")
    for sdk, step, seconds in TIMINGS:
        terminalreporter.write_line(f"{sdk:<11} {step:<40} {seconds:7.1f} s")
