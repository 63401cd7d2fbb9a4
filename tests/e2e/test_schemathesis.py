"""schemathesis 4 (default mode: valid and invalid inputs) over every operation of the live server,
pointed at the served spec alone: its ``servers`` must lead schemathesis to the right URLs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = pytest.mark.e2e

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_every_operation_conforms_to_the_spec(live_server, tmp_path):
    st = Path(sys.executable).with_name("st")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    done = subprocess.run(
        [str(st), "run", f"{live_server.url}/api/openapi.json",
         "--checks", CHECKS, "--max-examples", os.environ.get("TKA_SCHEMATHESIS_EXAMPLES", "25"),
         "--seed", "1", "--no-color", "--report-dir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    summary = done.stdout[-4000:]
    assert done.returncode == 0, summary
    assert " passed" in summary and "failed" not in summary.split("SUMMARY")[-1].lower(), summary
