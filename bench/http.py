"""Issue 3: tka's HTTP throughput and tail latency against a plain-Flask peer, same run, same load.

Servers: ``tka serve --workers 2`` on a fresh SQLite file and ``gunicorn -w 2 -k gthread
--threads 16 bench.peer:app``, both on free loopback ports. Load: 2 threads, 16 keep-alive
connections (wrk, or the Python fallback) on

* ``GET /api/sequences/{id}`` of a 16-beat sequence (``POST /api/sequences/generate
  {"length": 16, "seed": 1}``; the peer serves the very same document), and
* ``POST /api/sequences`` with ``{"name": "bench"}``.

Each (endpoint, server) pair is warmed up, then measured ``rounds`` times, alternating which
server goes first; the ratios use the medians. The load generator shares the 2 cores with the
server under test, as it does for both servers. Besides req/s, each run records the servers' own
CPU time per request (from /proc): on a machine shared with other work it is the steadier number,
and ``ratio_cpu`` = peer CPU per request / tka CPU per request is the throughput ratio a CPU-bound
server would reach on an idle machine. It does not see time spent waiting on locks (POST).
Before the servers start, ``bench/wsgi_cpu.py`` times the same POST through each WSGI app in
process, with no sockets: the steadiest figure of the three.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Callable, TypeVar

from bench.load import LoadGenerator, Request
from bench.wsgi_cpu import in_process_cpu
from tests.servers import ROOT, LiveServer, Server

C = TypeVar("C")

TARGETS = {"get": 0.6, "post": 0.4}  # tka / peer req/s, from the issue
POST_BODY = b'{"name": "bench"}'


def http_json(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], int]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return response.status, json.loads(raw), len(raw)


def start_tka(tmp: Path, workers: int = 2, extra: list[str] | None = None) -> Server:
    return LiveServer(f"sqlite:///{tmp / 'tka.db'}", workers=workers, extra_args=extra, log=tmp / "tka.log")


def start_peer(tmp: Path, sequence: dict[str, Any], workers: int = 2, threads: int = 16) -> Server:
    from bench.peer import _Durable

    path = tmp / "peer-sequence.json"
    path.write_text(json.dumps(sequence))
    _Durable.prepare(str(tmp / "peer.db"))
    return Server(lambda port: [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread",
                                "--threads", str(threads), "-b", f"127.0.0.1:{port}", "--no-control-socket",
                                "--log-level", "warning", "bench.peer:app"],
                  name="peer", log=tmp / "peer.log",
                  env={"TKA_BENCH_PEER_SEQUENCE": str(path), "TKA_BENCH_PEER_DB": str(tmp / "peer.db")})


def start_floor(tmp: Path, workers: int = 2) -> Server:
    """bench/floor.py: tka's app with a canned create handler (the HTTP stack without the command)."""
    return Server(lambda port: [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                                "-b", f"127.0.0.1:{port}", "-w", str(workers), "bench.floor:application"],
                  name="floor", log=tmp / "floor.log", env={"TKA_DATABASE_URL": f"sqlite:///{tmp / 'floor.db'}"})


def sixteen_beat_sequence(tka: Server) -> dict[str, Any]:
    status, body, _ = http_json("POST", f"{tka.url}/api/sequences/generate", {"length": 16, "seed": 1})
    if status != 201 or len(body["data"]["beats"]) != 16:
        raise RuntimeError(f"could not create the 16-beat sequence: {status} {body}")
    return body["data"]


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else float("nan")


def bench_http(quick: bool = False, log: Callable[[str], None] = print, prefer_python: bool = False,
               timing: tuple[float, int, float] | None = None) -> dict[str, Any]:
    """``timing`` = (seconds per run, rounds, warm-up seconds) overrides the quick/full defaults."""
    duration, rounds, warmup = timing or ((2.0, 1, 1.0) if quick else (8.0, 3, 2.0))
    load = LoadGenerator(prefer_python=prefer_python, log=log)
    in_process = in_process_cpu(requests=300 if quick or timing else 3000, rounds=1 if quick or timing else 3)
    log(f"  in process: POST tka {in_process['tka_post_ms']} ms (on Connexion's own binding "
        f"{in_process['stock_post_ms']}), canned handler {in_process['floor_post_ms']} ms, peer "
        f"{in_process['peer_post_ms']} ms; GET tka {in_process['tka_get_ms']} ms ({in_process['stock_get_ms']}), "
        f"peer {in_process['peer_get_ms']} ms of CPU")
    with tempfile.TemporaryDirectory(prefix="tka-bench-http-") as tmp_name:
        tmp = Path(tmp_name)
        tka = start_tka(tmp)
        peer = floor = gthread = None
        try:
            seq = sixteen_beat_sequence(tka)
            peer = start_peer(tmp, seq)
            floor = start_floor(tmp)
            (tmp / "gthread").mkdir()
            gthread = start_tka(tmp / "gthread", extra=["--worker-class", "gthread"])
            gthread_seq = sixteen_beat_sequence(gthread)
            _, tka_body, tka_bytes = http_json("GET", f"{tka.url}/api/sequences/{seq['id']}")
            _, peer_body, peer_bytes = http_json("GET", f"{peer.url}/api/sequences/{seq['id']}")
            if peer_body["data"] != tka_body["data"]:
                raise RuntimeError("the peer does not serve the same sequence as tka")
            servers = {"tka": tka, "peer": peer}
            cases = {
                "get": (f"/api/sequences/{seq['id']}", Request("GET")),
                "post": ("/api/sequences", Request("POST", POST_BODY)),
            }
            samples: dict[str, dict[str, list[dict[str, Any]]]] = {c: {s: [] for s in servers} for c in cases}
            for case, (path, request) in cases.items():
                for name, server in servers.items():
                    if warmup:
                        load.run(server.url + path, request, duration=warmup)
            if warmup:
                load.run(peer.url + "/api/durable/sequences", cases["post"][1], duration=warmup)
                load.run(floor.url + "/api/sequences", cases["post"][1], duration=warmup)
                load.run(gthread.url + "/api/sequences", cases["post"][1], duration=warmup)
            durable: list[dict[str, Any]] = []  # the peer's durable create: a second POST baseline
            floors: list[dict[str, Any]] = []  # tka's HTTP stack with a canned create
            threaded: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}  # tka on gthread workers
            for r in range(rounds):
                durable.append(_measured(load, peer, "/api/durable/sequences", cases["post"][1], duration))
                log(f"  round {r + 1}/{rounds} POST peer (durable, SQLite) {durable[-1]['rps']:8.1f} req/s "
                    f"p99 {durable[-1]['p99_ms']} ms  cpu {durable[-1]['server_cpu_ms_per_req']} ms/req")
                floors.append(_measured(load, floor, "/api/sequences", cases["post"][1], duration))
                log(f"  round {r + 1}/{rounds} POST tka, canned handler  {floors[-1]['rps']:8.1f} req/s "
                    f"p99 {floors[-1]['p99_ms']} ms  cpu {floors[-1]['server_cpu_ms_per_req']} ms/req")
                for case, (path, request) in cases.items():
                    path = path.replace(seq["id"], gthread_seq["id"])
                    threaded[case].append(_measured(load, gthread, path, request, duration))
                    log(f"  round {r + 1}/{rounds} {case.upper():4} tka, gthread workers {threaded[case][-1]['rps']:8.1f} "
                        f"req/s p99 {threaded[case][-1]['p99_ms']} ms  cpu {threaded[case][-1]['server_cpu_ms_per_req']} ms/req")
                for case, (path, request) in cases.items():
                    order = list(servers.items()) if r % 2 == 0 else list(servers.items())[::-1]
                    for name, server in order:
                        result = _measured(load, server, path, request, duration)
                        samples[case][name].append(result)
                        log(f"  round {r + 1}/{rounds} {case.upper():4} {name:4} {result['rps']:8.1f} req/s "
                            f"p50 {result['p50_ms']} ms p99 {result['p99_ms']} ms  cpu {result['server_cpu_ms_per_req']} ms/req"
                            + (f"  non-2xx {result['non_2xx']}" if result["non_2xx"] else "")
                            + (f"  socket errors {result['socket_errors']}" if result["socket_errors"] else ""))
            for server in servers.values():
                if server.proc.poll() is not None:
                    raise RuntimeError(f"{server.name} died during the run: {server.log_tail()}")
        finally:
            for server in (gthread, floor, peer, tka):
                if server is not None:
                    server.stop()

    out: dict[str, Any] = {
        "load_generator": load.name,
        "threads": 2, "connections": 16, "duration_s": duration, "rounds": rounds, "warmup_s": warmup,
        "servers": {"tka": "tka serve --workers 2 (default worker class: gevent), SQLite file, WAL",
                    "peer": "gunicorn -w 2 -k gthread --threads 16 bench.peer:app (Flask 3, in memory)"},
        "get_body_bytes": {"tka": tka_bytes, "peer": peer_bytes},
    }
    for case, by_server in samples.items():
        entry: dict[str, Any] = {}
        for name, runs in by_server.items():
            entry[name] = {
                "rps": _median([x["rps"] for x in runs]),
                "p50_ms": _median([x["p50_ms"] for x in runs if x["p50_ms"] is not None]),
                "p99_ms": _median([x["p99_ms"] for x in runs if x["p99_ms"] is not None]),
                "server_cpu_ms_per_req": _median([x["server_cpu_ms_per_req"] for x in runs
                                                  if x.get("server_cpu_ms_per_req") is not None]),
                "non_2xx": sum(x["non_2xx"] for x in runs),
                "socket_errors": sum(x["socket_errors"] for x in runs),
                "runs": runs,
            }
        tka_rps, peer_rps = entry["tka"]["rps"], entry["peer"]["rps"]
        entry["ratio_rps"] = round(tka_rps / peer_rps, 3) if peer_rps else None
        entry["ratio_p99"] = round(entry["tka"]["p99_ms"] / entry["peer"]["p99_ms"], 3) \
            if entry["peer"]["p99_ms"] else None
        # Capacity on an otherwise idle machine: how many of the peer's requests one tka request costs.
        tka_cpu, peer_cpu = entry["tka"]["server_cpu_ms_per_req"], entry["peer"]["server_cpu_ms_per_req"]
        entry["ratio_cpu"] = round(peer_cpu / tka_cpu, 3) if tka_cpu and peer_cpu else None
        entry["target_ratio_rps"] = TARGETS[case]
        entry["meets_target"] = entry["ratio_rps"] is not None and entry["ratio_rps"] >= TARGETS[case]
        out[case] = entry
    durable_peer = _summary(durable, "the peer's POST /api/durable/sequences: sequence + history entry + 2 events "
                                     "in one SQLite transaction (WAL, synchronous=NORMAL), plain Flask, same gunicorn")
    out["post"]["durable_peer"] = durable_peer
    out["post"]["ratio_rps_vs_durable_peer"] = \
        round(out["post"]["tka"]["rps"] / durable_peer["rps"], 3) if durable_peer["rps"] else None
    floor = _summary(floors, "bench/floor.py: tka's app (gunicorn, Flask, Connexion validation, edge, metrics) "
                             "with a canned create handler, no service or store")
    peer_rps = out["post"]["peer"]["rps"]
    floor["ratio_rps_vs_peer"] = round(floor["rps"] / peer_rps, 3) if peer_rps else None
    out["post"]["http_stack_only"] = floor
    for case in ("post", "get"):
        out[case]["in_process"] = {"what": in_process["what"], "tka_ms": in_process[f"tka_{case}_ms"],
                                   "stock_binding_ms": in_process[f"stock_{case}_ms"],
                                   "peer_ms": in_process[f"peer_{case}_ms"],
                                   **({"floor_ms": in_process["floor_post_ms"]} if case == "post" else {})}
    for case, runs in threaded.items():
        other = _summary(runs, "tka serve --workers 2 --worker-class gthread (an OS thread per request)")
        other["ratio_rps_vs_peer"] = round(other["rps"] / out[case]["peer"]["rps"], 3) if out[case]["peer"]["rps"] else None
        out[case]["tka_gthread"] = other
    return out


def _summary(runs: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """Medians of a side server's rounds (the durable peer, the canned-handler floor)."""
    return {
        "what": what,
        "rps": _median([x["rps"] for x in runs]),
        "p99_ms": _median([x["p99_ms"] for x in runs if x["p99_ms"] is not None]),
        "server_cpu_ms_per_req": _median([x["server_cpu_ms_per_req"] for x in runs
                                          if x.get("server_cpu_ms_per_req") is not None]),
        "non_2xx": sum(x["non_2xx"] for x in runs),
    }


def _measured(load: LoadGenerator, server: Server, path: str, request: Request, duration: float) -> dict[str, Any]:
    """One load run, with the server's own CPU time per request."""
    cpu_before = server.cpu_seconds()
    result = load.run(server.url + path, request, duration=duration)
    cpu_after = server.cpu_seconds()
    result["server_cpu_ms_per_req"] = round((cpu_after - cpu_before) * 1000 / result["requests"], 3) \
        if cpu_before is not None and cpu_after is not None and result["requests"] else None
    return result
