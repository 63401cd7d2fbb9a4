"""A real browser for tests: Debian's Chromium, installed if missing, driven by Playwright.

Like tests/pg.py: as root with apt-get, a missing ``chromium`` is installed from Debian's packages
(Playwright's own browser downloads cannot be fetched here, so ``playwright install`` is never run).
Mandatory when CI is set; elsewhere tests that need it are skipped with the reason.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest

CI = bool(os.environ.get("CI"))
CHROMIUM = Path("/usr/bin/chromium")
# As root (no sandbox), on a machine with a closed network: without the background-networking
# flags Chromium keeps trying to reach Google's hosts and logs the refusals.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_LOCK = Path(tempfile.gettempdir()) / "tka-chromium-install.lock"


def _install() -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"Chromium is not installed ({CHROMIUM} is missing) and this user cannot install it "
                           "(needs root and apt-get): apt-get install chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    wait_for_dpkg = ["-o", "DPkg::Lock::Timeout=600"]  # another apt-get (tests/pg.py's) may be running
    for argv, timeout in ((["apt-get", *wait_for_dpkg, "update", "-q"], 600),
                          (["apt-get", *wait_for_dpkg, "install", "-y", "-q", "chromium"], 900)):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {done.stderr[-2000:]}")


def _ensure_installed() -> Path:
    """CHROMIUM, installed first if missing; one process installs while the others (parallel
    workers) wait on the lock and then find it there."""
    if CHROMIUM.exists():
        return CHROMIUM
    with open(_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not CHROMIUM.exists():
                _install()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} not found after installing Debian's chromium package")
    return CHROMIUM


_failure: str | None = None


def chromium() -> Path:
    """Chromium's executable, installed on first use; skips (or fails when CI is set) when impossible."""
    global _failure
    if _failure is None:
        try:
            return _ensure_installed()
        except Exception as exc:  # report why, once
            _failure = f"Chromium unavailable: {exc}"
    if CI:
        pytest.fail(_failure)
    pytest.skip(_failure)


def launch(playwright, timeout_ms: float):  # type: ignore[no-untyped-def]
    """Start headless Chromium (installed first if missing). A launch that hangs is tried once more:
    seen once in a CI run, where Chromium printed nothing for 30 s after its start-up messages
    and the next launch, minutes later, took under a second."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    executable = str(chromium())
    try:
        return playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True, timeout=timeout_ms)
    except PlaywrightTimeout as first:
        warnings.warn(f"Chromium did not start within {timeout_ms / 1000:.0f} s; trying again: {first}", stacklevel=2)
        return playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True, timeout=timeout_ms)
