"""The TypeScript SDK: a clean copy of generated/typescript installs, builds (strict) and passes
its own tests (`npm test`: smoke test, retry policy, TKAEventsClient) against a live server; its
README's events example (examples/follow.ts) passes the events conformance scenario."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.servers import LiveServer
from tests.sdk.conftest import GENERATED, conformance, require_tool, run

SDK = GENERATED / "typescript"
CACHES = shutil.ignore_patterns("node_modules", "dist", "build-test")


def test_typescript_sdk_builds_from_a_clean_copy_and_passes_its_tests(sdk_server: LiveServer, tmp_path: Path):
    require_tool("node", "npm")
    copy = tmp_path / "typescript"
    shutil.copytree(SDK, copy, ignore=CACHES)   # the folder alone, as a user would get it
    run("typescript", "npm ci", ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], copy)
    run("typescript", "npm run build", ["npm", "run", "build"], copy)
    proc = run("typescript", "npm test (smoke, retry, events)", ["npm", "test"], copy,
               env={"TKA_BASE_URL": sdk_server.url})
    assert "ℹ fail 0" in proc.stdout, proc.stdout[-3000:]
    assert "ℹ skipped 0" in proc.stdout, proc.stdout[-3000:]   # the live /ws test ran too
    assert (copy / "dist" / "index.d.ts").is_file()
    conformance("typescript", ["node", str(copy / "build-test" / "examples" / "follow.js")], copy, tmp_path)
