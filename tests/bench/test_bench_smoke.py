"""The bench code runs (seconds-long quick mode) and writes its JSON. No timing is asserted here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.load import _lua, Request, parse_wrk
from bench.peer import create_app

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:1234/api/sequences
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.02ms    1.21ms  21.49ms   87.11%
    Req/Sec     2.69k   214.11     3.03k    72.50%
  Latency Distribution
     50%  812.00us
     75%    3.24ms
     90%    4.11ms
     99%    1.02s
  10734 requests in 2.00s, 9.02MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 5
Requests/sec:   5362.08
Transfer/sec:      4.51MB
"""


def test_parse_wrk_reads_rate_percentiles_and_failures() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert result["rps"] == 5362.08
    assert result["requests"] == 10734
    assert result["p50_ms"] == 0.812 and result["p99_ms"] == 1020.0
    assert result["non_2xx"] == 5 and result["socket_errors"] == 3


def test_wrk_script_posts_the_json_body() -> None:
    script = _lua(Request("POST", b'{"name": "bench"}'))
    assert 'wrk.method = "POST"' in script
    assert 'wrk.body = "{\\"name\\": \\"bench\\"}"' in script


def test_peer_serves_a_16_beat_sequence_and_creates_in_memory() -> None:
    client = create_app().test_client()
    created = client.post("/api/sequences", json={"name": "bench"})
    assert created.status_code == 201 and created.json["data"]["name"] == "bench"
    fetched = client.get(created.headers["Location"])
    assert fetched.status_code == 200 and fetched.json["data"]["id"] == created.json["data"]["id"]
    fixed = create_app().test_client().get("/api/sequences/00000000-0000-0000-0000-000000000001")
    assert len(fixed.json["data"]["beats"]) == 16


def test_peer_durable_create_commits_sequence_history_and_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    monkeypatch.setenv("TKA_BENCH_PEER_DB", str(tmp_path / "peer.db"))
    client = create_app().test_client()
    created = client.post("/api/durable/sequences", json={"name": "kept"})
    assert created.status_code == 201 and created.json["data"]["name"] == "kept"
    assert client.post("/api/durable/sequences", json={"name": ""}).status_code == 400
    db = sqlite3.connect(tmp_path / "peer.db")
    sid = created.json["data"]["id"]
    assert db.execute("SELECT name FROM sequences WHERE id = ?", (sid,)).fetchall() == [("kept",)]
    assert db.execute("SELECT count(*) FROM history WHERE sequence_id = ?", (sid,)).fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM events WHERE sequence_id = ?", (sid,)).fetchone() == (2,)


def test_quick_micro_benchmarks_write_results(tmp_path: Path) -> None:
    assert main(["--quick", "--only", "letters,add_beat,store", "--results-dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["meta"]["quick"] is True
    assert {"identify_per_s", "baseline_call_per_s", "ratio_vs_call"} <= results["letters"].keys()
    assert {"service", "baseline_sqlite_insert", "slowdown_p50"} <= results["add_beat"].keys()
    assert {"current", "inline_autocheckpoint", "p99_ratio"} <= results["store"]["latency"].keys()
    assert results["store"]["concurrent"]["commands_per_commit"] >= 1
    assert len(list(tmp_path.glob("*.json"))) == 2  # latest + the timestamped copy


def test_quick_pictures_and_files_benchmarks_write_results(tmp_path: Path) -> None:
    assert main(["--quick", "--only", "pictures,files", "--results-dir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "latest.json").read_text())
    pictures, files = results["pictures"], results["files"]
    assert "error" not in pictures and "error" not in files, (pictures, files)
    assert {"ms", "baseline_json_ms", "meets_goal"} <= pictures["beat_svg"].keys()
    assert set(pictures["sheet_png"]) == {"160", "200"}
    png = pictures["sheet_png"]["160"]
    assert {"rasterise_ms", "baseline_resvg_png_ms", "baseline_rasterise_text_ms"} <= png.keys()
    assert {"export_ms", "import_ms", "request_import_ms", "request_export_ms", "meets_goal"} <= files.keys()


def test_events_section_calls_bench_events_main_or_notes_its_absence(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import sys
    import types

    from bench.__main__ import _events

    fake = types.ModuleType("bench.events")
    fake.main = lambda quick=False: {"quick": quick}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench.events", fake)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert _events(quick=True) == {"quick": True}

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert "skipped" in _events(quick=True)


@pytest.mark.e2e
def test_http_bench_runs_against_both_servers() -> None:
    from bench.http import bench_http

    result = bench_http(log=lambda _msg: None, prefer_python=True, timing=(1.0, 1, 0.0))
    for case in ("get", "post"):
        assert {"tka", "peer", "ratio_rps", "target_ratio_rps"} <= result[case].keys()
        assert result[case]["tka"]["runs"] and result[case]["peer"]["runs"]
    assert result["get_body_bytes"]["tka"] > 0
    assert result["post"]["durable_peer"]["rps"] > 0 and result["post"]["durable_peer"]["non_2xx"] == 0
    assert result["post"]["http_stack_only"]["rps"] > 0 and result["post"]["http_stack_only"]["non_2xx"] == 0
    for case, apps in (("post", ("tka", "floor", "peer")), ("get", ("tka", "peer"))):
        in_process = result[case]["in_process"]
        assert all(isinstance(in_process[f"{app}_ms"], float) for app in (*apps, "stock_binding"))  # each ran


def test_resilience_measures_both_workloads_three_ways(tmp_path: Path) -> None:
    from bench.resilience import _measure

    result = _measure(f"sqlite:///{tmp_path / 'b.db'}", seconds=0.05, rounds=1, threads=2)
    for workload in ("ping", "io"):
        entry = result[workload]
        assert {"breaker", "no_breaker", "pybreaker_call_wrapping"} <= entry.keys()
        assert all(entry[k] > 0 for k in ("breaker", "no_breaker", "pybreaker_call_wrapping"))
        low, high = entry["ratio_breaker_vs_none_range"]
        assert 0 < low <= entry["ratio_breaker_vs_none"] <= high
