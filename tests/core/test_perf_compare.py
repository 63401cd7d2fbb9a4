import json

from app.perf import compare, report


def test_compare_knows_which_way_is_better(tmp_path):
    base = {"http": {"get": {"tka": {"rps": 1000.0, "p99_ms": 20.0}, "ratio_rps": 0.7}},
            "meta": {"elapsed_s": 3}}
    now = {"http": {"get": {"tka": {"rps": 800.0, "p99_ms": 15.0}, "ratio_rps": 0.71}},
           "meta": {"elapsed_s": 9}}
    changes = {c.path: c for c in compare(base, now)}
    assert set(changes) == {"http.get.tka.rps", "http.get.tka.p99_ms", "http.get.ratio_rps"}
    assert changes["http.get.tka.rps"].relative < -0.19  # fewer requests per second: worse
    assert changes["http.get.tka.p99_ms"].relative > 0.24  # lower latency: better
    (tmp_path / "b.json").write_text(json.dumps(base))
    (tmp_path / "c.json").write_text(json.dumps(now))
    text, regressions = report(tmp_path / "b.json", tmp_path / "c.json")
    assert regressions == 1 and "REGRESSION" in text and "http.get.tka.rps" in text
