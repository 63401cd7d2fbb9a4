"""The Python SDK: generated/python pip-installs into its own virtualenv and its pytest suite
(smoke test, retry policy, events helper) passes against a live server, and its README's events
example (examples/follow.py) passes the events conformance scenario (tests/sdk/conformance.py)."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

from tests.servers import LiveServer
from tests.sdk.conftest import GENERATED, conformance, run

SDK = GENERATED / "python"
VENV = SDK / ".venv"   # ignored; holds the runtime dependencies between runs


def _venv() -> Path:
    """A virtualenv with the SDK's dependencies, rebuilt when pyproject.toml changes."""
    stamp = VENV / f".deps-{hashlib.sha256((SDK / 'pyproject.toml').read_bytes()).hexdigest()[:16]}"
    python = VENV / "bin" / "python"
    if not stamp.exists():
        shutil.rmtree(VENV, ignore_errors=True)
        run("python", "venv", [sys.executable, "-m", "venv", str(VENV)], SDK)
        run("python", "pip install deps", [str(python), "-m", "pip", "install", "-q", f"{SDK}[test]"], SDK)
        stamp.touch()
    return python


def test_python_sdk_installs_and_passes_its_tests(sdk_server: LiveServer, tmp_path: Path):
    python = _venv()
    copy = tmp_path / "python"
    shutil.copytree(SDK, copy, ignore=shutil.ignore_patterns(".venv", "build", "*.egg-info", "__pycache__"))
    run("python", "pip install (the SDK)", [str(python), "-m", "pip", "install", "-q", "--no-deps",
                                            "--force-reinstall", str(copy)], tmp_path)
    # Run the tests from outside the source tree, so they import the installed package.
    tests = tmp_path / "tests"
    shutil.copytree(copy / "tests", tests)
    proc = run("python", "pytest (smoke, retry, events)",
               [str(VENV / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", "-rs", str(tests)], tmp_path,
               env={"TKA_BASE_URL": sdk_server.url})
    assert " passed" in proc.stdout and " failed" not in proc.stdout, proc.stdout[-3000:]
    assert "skipped" not in proc.stdout, proc.stdout[-3000:]   # the live /ws test ran too
    conformance("python", [str(python), str(copy / "examples" / "follow.py")], tmp_path, tmp_path)
