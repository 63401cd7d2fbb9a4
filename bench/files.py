"""Issue 16: importing and exporting a 64-beat TKA file, CPU per file, next to a same-run baseline.

* ``export``: ``dump_sequence`` (marshmallow, CAP flags computed) and the JSON text of it;
* ``import``: the JSON text read, then ``load_sequence_file`` (marshmallow, every beat checked,
  letters recomputed, continuity);
* ``request``: both through the real app in process (Flask test client, a real SQLite file):
  ``GET /api/sequences/{id}/export`` and ``POST /api/sequences/import`` (which also stores the
  sequence, its history entry and its events);
* baseline: the same file's JSON text parsed and written by the JSON library alone.

Goal (issue 16): import and export ≤ 20 ms each of server CPU. CPU time (``time.process_time``),
medians of repeated runs, a level-3 sequence generated with a fixed seed.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.stats import ratio

GOAL_MS = 20.0


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        samples.append((time.process_time() - start) * 1000)
    return round(statistics.median(samples), 3)


def main(quick: bool = False) -> dict[str, Any]:
    from app.api import create_app
    from app.bootstrap import bootstrap, close, start
    from app.core import jsontext
    from app.domain import SequenceData, generate_beats, start_position_beat
    from app.formats import dump_sequence, load_sequence_file
    from app.settings import Settings

    runs = 7 if quick else 25
    beats = generate_beats("alpha1", 64, level=3, max_turns=3, rng=random.Random(16))
    seq = SequenceData(id="bench", name="Bench", beats=beats, start_position=start_position_beat("alpha1"))
    text = jsontext.dumps(dump_sequence(seq))

    export_ms = _median_ms(lambda: jsontext.dumps(dump_sequence(seq)), runs)
    import_ms = _median_ms(lambda: load_sequence_file(jsontext.loads(text)), runs)
    json_ms = _median_ms(lambda: jsontext.dumps(jsontext.loads(text)), runs)

    with tempfile.TemporaryDirectory() as tmp:
        container = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}"))
        start(container)
        client = create_app(container).test_client()
        created = client.post("/api/sequences/import", data=text, headers={"Content-Type": "application/json"})
        assert created.status_code == 201, created.json
        seq_id = created.json["data"]["id"]
        request_export_ms = _median_ms(lambda: client.get(f"/api/sequences/{seq_id}/export"), runs)
        request_import_ms = _median_ms(
            lambda: client.post("/api/sequences/import", data=text, headers={"Content-Type": "application/json"}), runs)
        request_get_ms = _median_ms(lambda: client.get(f"/api/sequences/{seq_id}"), runs)
        close(container)

    return {
        "beats": len(beats), "file_bytes": len(text),
        "export_ms": export_ms, "import_ms": import_ms, "baseline_json_ms": json_ms,
        "ratio_export_vs_json": ratio(export_ms, json_ms), "ratio_import_vs_json": ratio(import_ms, json_ms),
        "request_export_ms": request_export_ms, "request_import_ms": request_import_ms,
        "baseline_request_get_ms": request_get_ms,
        "goal_ms": GOAL_MS,
        "meets_goal": request_export_ms <= GOAL_MS and request_import_ms <= GOAL_MS,
    }


def table(r: dict[str, Any]) -> str:
    verdict = "meets" if r["meets_goal"] else "BELOW"
    return "\n".join([
        f"  export {r['beats']} beats (dump + JSON)   {r['export_ms']:7.3f} ms"
        f"   import (JSON + load) {r['import_ms']:7.3f} ms"
        f"   baseline: JSON read + write alone {r['baseline_json_ms']:.3f} ms"
        f" (ratios {r['ratio_export_vs_json']}, {r['ratio_import_vs_json']}); file {r['file_bytes']:,} B",
        f"  through the app: GET export {r['request_export_ms']:7.3f} ms   POST import {r['request_import_ms']:7.3f} ms"
        f" (stores it)   baseline: GET the sequence {r['baseline_request_get_ms']:.3f} ms"
        f"   goal <= {r['goal_ms']:g} ms each: {verdict}",
    ])
