"""The Postman collection runs, in order, with newman against a fresh server: every request
passes its pm.test assertions. newman and openapi-to-postmanv2 come from npm (sdk/postman)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import ROOT, LiveServer
from tests.sdk.conftest import GENERATED, require_tool, run

TOOLS = ROOT / "sdk" / "postman"
COLLECTION = GENERATED / "postman" / "tka.postman_collection.json"
ENVIRONMENT = GENERATED / "postman" / "tka.postman_environment.json"


@pytest.fixture
def fresh_server(tmp_path: Path):
    server = LiveServer(f"sqlite:///{tmp_path / 'tka.db'}", workers=2)
    yield server
    server.stop()


def test_the_postman_collection_runs_in_order_on_a_fresh_server(fresh_server: LiveServer):
    require_tool("node", "npm")
    if not (TOOLS / "node_modules" / ".bin" / "newman").exists():
        run("postman", "npm ci (newman, openapi-to-postmanv2)",
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], TOOLS)
    proc = run("postman", "newman run", [str(TOOLS / "node_modules" / ".bin" / "newman"), "run", str(COLLECTION),
                                         "-e", str(ENVIRONMENT), "--env-var", f"baseUrl={fresh_server.url}",
                                         "--reporters", "cli", "--color", "off"], ROOT)
    summary = proc.stdout[proc.stdout.find("┌"):]
    assert "assertions" in summary and "failures" not in proc.stdout.lower(), proc.stdout[-4000:]
