"""The C++ SDK (cpp-restsdk): generated/cpp builds with CMake against Debian's libcpprest-dev
(installed here with apt-get when missing) and its smoke-test executable, run by ctest, passes
against a live server. The build cache is generated/cpp/build (ignored)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.servers import LiveServer
from tests.sdk.conftest import GENERATED, apt_install, require, require_tool, run

SDK = GENERATED / "cpp"
BUILD = SDK / "build"


def test_cpp_sdk_builds_and_its_smoke_test_passes_under_ctest(sdk_server: LiveServer):
    require_tool("cmake", "make")
    require(bool(shutil.which("c++") or shutil.which("g++")), "toolchain missing: a C++ compiler")
    apt_install("libcpprest-dev", Path("/usr/include/cpprest/http_client.h"))
    run("cpp", "cmake configure", ["cmake", "-S", str(SDK), "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Debug"], SDK)
    run("cpp", "cmake --build (library + smoke test)", ["cmake", "--build", str(BUILD), "-j2"], SDK, timeout=2400)
    proc = run("cpp", "ctest (smoke)", ["ctest", "--test-dir", str(BUILD), "--output-on-failure"], SDK,
               env={"TKA_BASE_URL": sdk_server.url})
    assert "100% tests passed" in proc.stdout and "Not Run" not in proc.stdout, proc.stdout[-3000:]
    assert "skipped" not in proc.stdout.lower(), proc.stdout[-3000:]
