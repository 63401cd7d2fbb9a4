"""The C++ SDK (cpp-restsdk): generated/cpp builds with CMake against Debian's libcpprest-dev
(installed here with apt-get when missing) and its tests, run by ctest, pass against a live
server: smoke (REST) and events (the WebSocket client, include/TkaSdk/Events.h). The build cache
is generated/cpp/build (ignored)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.servers import LiveServer
from tests.sdk.conftest import GENERATED, apt_install, conformance, require, require_tool, run

SDK = GENERATED / "cpp"
BUILD = SDK / "build"


def test_cpp_sdk_builds_and_its_smoke_test_passes_under_ctest(sdk_server: LiveServer, tmp_path: Path):
    require_tool("cmake", "make")
    require(bool(shutil.which("c++") or shutil.which("g++")), "toolchain missing: a C++ compiler")
    apt_install("libcpprest-dev", Path("/usr/include/cpprest/http_client.h"))
    run("cpp", "cmake configure", ["cmake", "-S", str(SDK), "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Debug"], SDK)
    run("cpp", "cmake --build (library, tests, tka_follow)", ["cmake", "--build", str(BUILD), "-j2"], SDK, timeout=2400)
    proc = run("cpp", "ctest (smoke, events)", ["ctest", "--test-dir", str(BUILD), "--output-on-failure"], SDK,
               env={"TKA_BASE_URL": sdk_server.url})
    assert "100% tests passed" in proc.stdout and "Not Run" not in proc.stdout, proc.stdout[-3000:]
    assert "skipped" not in proc.stdout.lower(), proc.stdout[-3000:]
    for test in ("smoke", "events"):
        assert re.search(rf"Test +#\d+: {test} \.+ +Passed", proc.stdout), proc.stdout[-3000:]
    conformance("cpp", [str(BUILD / "tka_follow")], SDK, tmp_path)
