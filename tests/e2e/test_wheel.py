"""The wheel serves anywhere: built from this checkout, installed with its dependencies into a fresh
virtualenv, ``tka serve`` started in an unrelated directory, with no checkout to fall back on. The
specs and static assets are package data, found through the package (app/resources.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests
import websocket
import yaml

from app import resources
from tests.servers import ROOT, Server

SPECS = ("openapi.yaml", "asyncapi.yaml")
# What the build backend reads: pyproject.toml, the readme it names, the package.
BUILD_INPUTS = ("pyproject.toml", "README.md", "app")


def test_one_copy_of_each_spec_in_the_package_and_the_top_level_paths_lead_to_it():
    for name in SPECS:
        top = ROOT / name
        assert top.is_symlink() and os.readlink(top) == f"app/spec/{name}", \
            f"{name} must stay a relative symlink to app/spec/{name} (one copy; an editor or `sed -i` may replace it)"
        assert top.resolve() == ROOT / "app" / "spec" / name
    assert resources.OPENAPI == ROOT / "app" / "spec" / "openapi.yaml"  # the editable install: the checkout's


def test_no_module_finds_files_by_its_own_path():
    """Files are found through the package (app.resources), never from a module's ``__file__``,
    which leads outside the package once one walks up. The one exception is ``tka sdk generate``,
    a development step that runs the checkout's sdk/generate.py (and says so without one)."""
    users = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "app").rglob("*.py") if "__file__" in p.read_text())
    assert users == ["app/cli.py"]


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300, **kwargs)  # type: ignore


@pytest.mark.e2e
def test_the_wheel_installed_in_a_fresh_virtualenv_serves_from_any_directory(tmp_path):
    # Build from a copy of what the backend reads: a build in the checkout writes build/ and
    # tka.egg-info there, which another build (make image) may be using at the same moment.
    src = tmp_path / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(src)])
    (wheel,) = (tmp_path / "dist").glob("tka-*.whl")

    # A fresh virtualenv, filled by this environment's pip (--python), which saves bootstrapping one.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", str(wheel)])

    elsewhere = tmp_path / "elsewhere"  # no checkout here or above: nothing to fall back on
    elsewhere.mkdir()
    env = {"PYTHONPATH": "", "VIRTUAL_ENV": str(venv)}

    # The installed package holds its files and finds them inside itself.
    probe = textwrap.dedent("""
        import json, importlib.resources as ir
        import app, app.resources as r
        root = ir.files("app")
        print(json.dumps({"package": str(root), "module": app.__file__,
                          "found": [str(p) for p in (r.OPENAPI, r.ASYNCAPI, r.STATIC, r.FONTS)],
                          "specs": {n: root.joinpath("spec", n).read_text() for n in ("openapi.yaml", "asyncapi.yaml")},
                          "sources": {str(p.relative_to(root)): p.read_text() for p in root.rglob("*.py")}}))
    """)
    env = {**os.environ, **env}
    found = json.loads(_run([str(venv / "bin" / "python"), "-c", probe], cwd=elsewhere, env=env).stdout)
    package = Path(found["package"])
    assert package.is_relative_to(venv) and Path(found["module"]).is_relative_to(package)
    assert all(Path(p).is_relative_to(package) and Path(p).exists() for p in found["found"])
    for name in SPECS:
        assert found["specs"][name] == (ROOT / name).read_text()  # the checkout's spec, shipped whole
    assert sorted(n for n, text in found["sources"].items() if "__file__" in text) == ["cli.py"]

    # The development step says what it needs instead of failing with a traceback.
    sdk = subprocess.run([str(venv / "bin" / "tka"), "sdk", "generate"], cwd=elsewhere, capture_output=True,
                         text=True, timeout=60, env=env)
    assert sdk.returncode == 2 and "source checkout" in sdk.stderr and "Traceback" not in sdk.stderr, sdk.stderr

    db_url = f"sqlite:///{tmp_path / 'wheel.db'}"
    server = Server(lambda port: [str(venv / "bin" / "tka"), "serve", "--port", str(port), "--workers", "2",
                                  "--database", db_url],
                    log=tmp_path / "serve.log", env=env, name="tka serve from the wheel", db_url=db_url, cwd=elsewhere)
    try:
        base = server.url
        status = requests.get(f"{base}/api/status", timeout=10)
        assert status.status_code == 200 and status.json()["status"] == "running"
        spec = requests.get(f"{base}/api/openapi.json", timeout=10)
        assert spec.status_code == 200
        assert spec.json()["paths"] == yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"]
        docs = requests.get(f"{base}/api/docs/", timeout=10)
        assert docs.status_code == 200 and docs.headers["Content-Type"].startswith("text/html")
        assert "swagger-ui" in docs.text
        for path, kind in (("/viewer/", "text/html"), ("/viewer/viewer.js", "javascript"),
                           ("/api/redoc", "text/html"), ("/api/static/redoc/redoc.standalone.js", "javascript")):
            page = requests.get(base + path, timeout=10)
            assert page.status_code == 200 and kind in page.headers["Content-Type"], (path, page.status_code)

        ws = websocket.create_connection(base.replace("http", "ws", 1) + "/ws", timeout=15)
        try:
            assert json.loads(ws.recv())["type"] == "connection_established"  # the hello (asyncapi.yaml)
            created = requests.post(f"{base}/api/sequences", json={"name": "From a wheel", "start_position": "alpha1"},
                                    timeout=10)
            assert created.status_code == 201, created.text
            sid = created.json()["data"]["id"]
            read = requests.get(f"{base}/api/sequences/{sid}", timeout=10)
            assert read.status_code == 200 and read.json()["data"]["name"] == "From a wheel"
            # The stream carries the creation (heartbeats aside; recv gives up after the socket's 15 s).
            messages = (json.loads(ws.recv()) for _ in range(20))
            event = next((m for m in messages if m.get("event_type") == "sequence.created"), None)
            assert event is not None and event["sequence_id"] == sid, event
        finally:
            ws.close()
        png = requests.get(f"{base}/api/sequences/{sid}/image.png", timeout=30)  # text drawn with the shipped fonts
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG"), png.text[:200]
        assert "Traceback" not in (tmp_path / "serve.log").read_text()
    finally:
        server.stop()
