"""The Rust SDK: generated/rust builds with the committed Cargo.lock and `cargo test` (smoke test,
retry policy, events) passes against a live server; its README's events example
(examples/follow.rs) passes the events conformance scenario (tests/sdk/conformance.py). Crates come
from crates.io; the build cache is generated/rust/target (ignored)."""

from __future__ import annotations

from pathlib import Path

from tests.servers import LiveServer
from tests.sdk.conftest import GENERATED, conformance, require_tool, run

SDK = GENERATED / "rust"


def test_rust_sdk_builds_and_passes_its_tests(sdk_server: LiveServer, tmp_path: Path):
    require_tool("cargo")
    run("rust", "cargo build --tests --locked", ["cargo", "build", "--tests", "--locked"], SDK, timeout=1800)
    proc = run("rust", "cargo test --locked (smoke, retry, events)", ["cargo", "test", "--locked"], SDK,
               env={"TKA_BASE_URL": sdk_server.url})
    assert "test the_sdk_drives_a_live_server_end_to_end ... ok" in proc.stdout, proc.stdout[-3000:]
    assert "test only_safe_requests_are_retried_on_429_and_503 ... ok" in proc.stdout
    assert "test live_events_arrive_in_order_and_a_reconnect_resumes_without_gap_or_duplicate ... ok" in proc.stdout
    assert "test messages_decode_into_their_types ... ok" in proc.stdout
    run("rust", "cargo build --examples --locked", ["cargo", "build", "--examples", "--locked"], SDK)
    conformance("rust", [str(SDK / "target" / "debug" / "examples" / "follow")], SDK, tmp_path)
