"""The SDKs in generated/ are exactly what sdk/generate.py makes from openapi.yaml (no drift), and
generation is a development step, never an HTTP endpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
import yaml

from tests.servers import ROOT, LiveServer
from tests.sdk.conftest import GENERATED, require, require_tool, run

LANGS = ["typescript", "rust", "cpp", "python", "postman"]


@pytest.mark.parametrize("lang", LANGS)
def test_committed_sdk_matches_a_fresh_generation(lang: str):
    require_tool("java")
    if lang == "postman":
        require_tool("node", "npm")
    require((GENERATED / lang).is_dir(), f"generated/{lang} is not there: run `make sdks`")
    run(lang, "generate --check (drift)", [sys.executable, "sdk/generate.py", "--lang", lang, "--check"], ROOT)


def test_make_sdks_and_the_cli_share_one_entry_point():
    proc = subprocess.run([sys.executable, "-m", "app.cli", "sdk", "generate", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert "--lang" in proc.stdout
    makefile = (ROOT / "Makefile").read_text()
    assert "tka sdk generate" in makefile


def test_generation_is_not_exposed_over_http_but_the_spec_is(sdk_server: LiveServer):
    for path in ("/api/generate-clients", "/api/sdk/generate"):
        assert requests.post(f"{sdk_server.url}{path}", json={}, timeout=10).status_code in (404, 405)
    served = requests.get(f"{sdk_server.url}/api/openapi.json", timeout=10)
    assert served.status_code == 200
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert served.json()["paths"].keys() == spec["paths"].keys()
