"""Issue 2: the domain's hot path and one command's cost, each next to a same-run baseline.

* ``letters``: ``app.domain.letters.identify`` over the motion pairs of generated sequences (all
  three levels, so turns and floats occur as they do in real use), against a loop that calls a
  do-nothing function with the same arguments and a loop of plain dict lookups.
* ``add_beat``: ``SequenceManagementService.add_beat`` by letter through the real wiring
  (``app.bootstrap.bootstrap`` on a fresh SQLite file: WAL, synchronous=NORMAL), each call one
  committed transaction, against a bare ``sqlite3`` INSERT + commit of a beat-sized row with the
  same journal and synchronous settings, the two interleaved in blocks so drift hits both.
"""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import best_rate, latency_summary_ms, ratio


# ---------------------------------------------------------------------------- letters

def motion_pair_mix(sequences: int = 48, length: int = 64, seed: int = 1) -> list[tuple[Any, Any]]:
    """(blue, red) motion pairs of generated sequences, levels 1-3 and every start family, shuffled."""
    from app.domain.generator import generate_beats

    rng = random.Random(seed)
    starts = [f"alpha{k}" for k in range(1, 9)] + [f"beta{k}" for k in range(1, 9)] + \
             [f"gamma{k}" for k in range(1, 17)]
    pairs = []
    for i in range(sequences):
        beats = generate_beats(rng.choice(starts), length, level=1 + i % 3, max_turns=3, rng=rng)
        pairs.extend((b.blue_motion, b.red_motion) for b in beats)
    rng.shuffle(pairs)
    return pairs


def _noop(blue: Any, red: Any) -> Any:
    return blue


def bench_letters(quick: bool = False) -> dict[str, Any]:
    from app.domain.letters import identify

    pairs = motion_pair_mix(sequences=12 if quick else 48)
    n = len(pairs)
    # The dict baseline: one prebuilt-tuple lookup per pair, i.e. identify without building its key.
    keys = [(b.motion_type, b.prefloat_motion_type, b.start_loc, b.end_loc,
             r.motion_type, r.prefloat_motion_type, r.start_loc, r.end_loc) for b, r in pairs]
    table = {k: identify(b, r) for k, (b, r) in zip(keys, pairs)}
    letters = {identify(b, r).letter for b, r in pairs}

    def run_identify() -> int:
        for b, r in pairs:
            identify(b, r)
        return n

    def run_call() -> int:
        for b, r in pairs:
            _noop(b, r)
        return n

    def run_dict() -> int:
        get = table.get
        for k in keys:
            get(k)
        return n

    repeats, min_time = (3, 0.05) if quick else (7, 0.3)
    rates = {}
    for name, loop in (("identify", run_identify), ("call", run_call), ("dict", run_dict)):
        rates[name] = best_rate(loop, repeats=repeats, min_time=min_time)
    return {
        "what": "app.domain.letters.identify(blue, red) over generated motion pairs",
        "pairs": n,
        "distinct_letters": len(letters),
        "identify_per_s": round(rates["identify"]),
        "baseline_call_per_s": round(rates["call"]),
        "baseline_dict_per_s": round(rates["dict"]),
        "ratio_vs_call": ratio(rates["identify"], rates["call"]),
        "ratio_vs_dict": ratio(rates["identify"], rates["dict"]),
        "ns_per_identify": round(1e9 / rates["identify"], 1),
    }


# ---------------------------------------------------------------------------- add beat

def _bare_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the store's settings (WAL, synchronous=NORMAL)."""
    from app.store.engine import BUSY_TIMEOUT_MS

    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE beats (id INTEGER PRIMARY KEY, sequence_id TEXT, data TEXT)")
    return conn


def bench_add_beat(quick: bool = False) -> dict[str, Any]:
    from app.bootstrap import bootstrap, close
    from app.domain.input import BeatSpec
    from app.domain.letters import motion_pairs_from
    from app.services.sequences import SequenceManagementService
    from app.settings import Settings

    total = 120 if quick else 2000
    beats_per_sequence = 16
    block = 40
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="tka-bench-") as tmp:
        container = bootstrap(Settings(database_url=f"sqlite:///{Path(tmp) / 'tka.db'}"))
        service = container.resolve(SequenceManagementService)
        bare = _bare_sqlite(Path(tmp) / "bare.db")
        service_s: list[float] = []
        bare_s: list[float] = []
        seq = None
        payload = ""
        try:
            while len(service_s) < total:
                for _ in range(block):  # the service: one add-beat command per call
                    if seq is None or len(seq.beats) >= beats_per_sequence:
                        seq = service.create_sequence("bench", start_position="alpha1").sequence
                    blue_ori, red_ori = seq.end_orientations
                    letter = rng.choice(motion_pairs_from(seq.end_position, blue_ori, red_ori))[2].letter
                    spec = BeatSpec(letter=letter)
                    start = time.perf_counter()
                    seq = service.add_beat(seq.id, spec).sequence
                    service_s.append(time.perf_counter() - start)
                    payload = json.dumps(seq.beats[-1].to_dict())
                for _ in range(block):  # the baseline: one beat-sized row per transaction
                    start = time.perf_counter()
                    bare.execute("BEGIN IMMEDIATE")  # as the store's writes do
                    bare.execute("INSERT INTO beats (sequence_id, data) VALUES (?, ?)", (seq.id, payload))
                    bare.execute("COMMIT")
                    bare_s.append(time.perf_counter() - start)
        finally:
            bare.close()
            close(container)
    svc, base = latency_summary_ms(service_s), latency_summary_ms(bare_s)
    return {
        "what": "SequenceManagementService.add_beat(letter) with its SQLite commit vs bare INSERT+commit",
        "beats_per_sequence": beats_per_sequence,
        "payload_bytes": len(payload),
        "service": svc,
        "baseline_sqlite_insert": base,
        "service_per_s": round(1000 / svc["mean_ms"], 1),
        "baseline_per_s": round(1000 / base["mean_ms"], 1),
        "slowdown_p50": ratio(svc["p50_ms"], base["p50_ms"]),
        "slowdown_p99": ratio(svc["p99_ms"], base["p99_ms"]),
    }
