"""``python -m bench [--quick] [--only letters,add_beat,store,http,events,resilience,faults,pictures,files]``: run, print, save JSON."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("letters", "add_beat", "store", "http", "events", "resilience", "faults", "pictures", "files")


def _log(message: str) -> None:
    print(message, flush=True)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1], timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parents[1], timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _events(quick: bool) -> dict[str, Any]:
    """bench/events.py (written by the events team) if it exists: ``main()`` returns a dict."""
    return _optional("bench.events", quick)


def _optional(name: str, quick: bool) -> dict[str, Any]:
    """A section in a module of its own, if it exists: its ``main([quick])`` returns a dict."""
    if importlib.util.find_spec(name) is None:
        return {"skipped": f"{name.replace('.', '/')}.py is not there yet"}
    module = importlib.import_module(name)
    main = module.main
    params = inspect.signature(main).parameters
    result = main(quick=quick) if "quick" in params else main()
    return result if isinstance(result, dict) else {"result": result}


def _run_section(name: str, quick: bool) -> dict[str, Any]:
    from bench import http, micro

    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "letters": lambda: micro.bench_letters(quick),
        "add_beat": lambda: micro.bench_add_beat(quick),
        "store": lambda: _optional("bench.store", quick),
        "http": lambda: http.bench_http(quick, log=_log),
        "events": lambda: _events(quick),
        "resilience": lambda: _optional("bench.resilience", quick),
        "faults": lambda: _optional("bench.faults", quick),
        "pictures": lambda: _optional("bench.pictures", quick),
        "files": lambda: _optional("bench.files", quick),
    }
    start = time.perf_counter()
    try:
        result = runners[name]()
    except Exception as exc:  # one broken section must not lose the others' numbers
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["elapsed_s"] = round(time.perf_counter() - start, 1)
    return result


def _fmt(x: Any, spec: str = ",.0f") -> str:
    return "n/a" if x is None else format(x, spec)


def report(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [f"tka bench  {meta['timestamp']}  commit {meta['commit']}  ({'quick' if meta['quick'] else 'full'})"
             f"  load average before {meta['loadavg_before']}, after {meta.get('loadavg_after')}"]
    letters = results.get("letters")
    if letters and "error" not in letters:
        lines += [
            "",
            f"Issue 2  letter determinations ({letters['pairs']} generated motion pairs, {letters['distinct_letters']} letters)",
            f"  identify            {_fmt(letters['identify_per_s']):>14} /s   ({letters['ns_per_identify']} ns each)",
            f"  baseline: no-op call{_fmt(letters['baseline_call_per_s']):>14} /s   ratio {letters['ratio_vs_call']}",
            f"  baseline: dict get  {_fmt(letters['baseline_dict_per_s']):>14} /s   ratio {letters['ratio_vs_dict']}",
        ]
    add = results.get("add_beat")
    if add and "error" not in add:
        s, b = add["service"], add["baseline_sqlite_insert"]
        lines += [
            "",
            f"Issue 2  add beat by letter, one commit each ({s['n']} calls, sequences of up to {add['beats_per_sequence']} beats)",
            f"  SequenceManagementService.add_beat  p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms  ({add['service_per_s']:,.0f}/s)",
            f"  baseline: sqlite3 INSERT+commit     p50 {b['p50_ms']:.3f} ms  p99 {b['p99_ms']:.3f} ms  ({add['baseline_per_s']:,.0f}/s)",
            f"  slowdown                            p50 x{add['slowdown_p50']}  p99 x{add['slowdown_p99']}",
        ]
    store = results.get("store")
    if store and "error" not in store:
        lat, con = store["latency"], store["concurrent"]
        lines += [
            "",
            "Issue 3  the store's write path in process: create_sequence, one command per call (bench/store.py)",
            f"  1 thread, background checkpoints   p50 {lat['current']['p50_ms']:.3f} ms  p99 {lat['current']['p99_ms']:.3f} ms"
            f"  mean {lat['current']['mean_ms']:.3f} ms",
            f"  baseline: checkpoint in the COMMIT p50 {lat['inline_autocheckpoint']['p50_ms']:.3f} ms"
            f"  p99 {lat['inline_autocheckpoint']['p99_ms']:.3f} ms  mean {lat['inline_autocheckpoint']['mean_ms']:.3f} ms",
            f"  {'':35}p99 ratio {lat['p99_ratio']}  mean ratio {lat['mean_ratio']}",
            f"  {con['threads']} threads, group commit           {con['current']['per_s']:,}/s"
            f"  cpu {con['current']['cpu_ms_per_create']} ms/create  ({con['commands_per_commit']} commands per commit)",
            f"  baseline: a transaction per command {con['one_transaction_per_command']['per_s']:,}/s"
            f"  cpu {con['one_transaction_per_command']['cpu_ms_per_create']} ms/create",
            f"  {'':35}ratio {con['ratio_per_s']}  cpu ratio {con['ratio_cpu']}",
        ]
        wal = store.get("wal")
        if wal:
            lines += [
                f"  {wal['threads']} threads, time-ordered ids       {wal['current']['wal_kib_per_create']} KiB of WAL"
                f"  cpu {wal['current']['cpu_ms_per_create']} ms/create  (after {wal['existing_sequences']:,} sequences)",
                f"  baseline: random UUID ids           {wal['random_uuid_ids']['wal_kib_per_create']} KiB of WAL"
                f"  cpu {wal['random_uuid_ids']['cpu_ms_per_create']} ms/create",
                f"  {'':35}WAL ratio {wal['ratio_kib']}  cpu ratio {wal['ratio_cpu']}",
            ]
    http = results.get("http")
    if http and "error" not in http:
        lines += ["", f"Issue 3  HTTP, {http['threads']} threads x {http['connections']} connections, "
                      f"{http['rounds']} x {http['duration_s']:g} s per server (medians), {http['load_generator']}"]
        for case, label in (("get", "GET  /api/sequences/{id} (16 beats)"), ("post", "POST /api/sequences")):
            e = http[case]
            for name in ("tka", "peer"):
                lines.append(f"  {label:36} {name:4} {e[name]['rps']:8.1f} req/s  p50 {e[name]['p50_ms']:7.2f} ms"
                             f"  p99 {e[name]['p99_ms']:7.2f} ms  cpu {e[name]['server_cpu_ms_per_req']} ms/req"
                             + (f"  non-2xx {e[name]['non_2xx']}" if e[name]["non_2xx"] else ""))
            verdict = "meets" if e["meets_target"] else "BELOW"
            lines.append(f"  {'':36} ratio {e['ratio_rps']} (target >= {e['target_ratio_rps']}: {verdict})"
                         f"  p99 ratio {e['ratio_p99']}  cpu-per-request ratio {e['ratio_cpu']}")
            if "durable_peer" in e:
                d = e["durable_peer"]
                lines.append(f"  {'POST, peer writing SQLite':36} peer {d['rps']:8.1f} req/s  p99 {d['p99_ms']:7.2f} ms"
                             f"  cpu {d['server_cpu_ms_per_req']} ms/req  ->  tka / durable peer "
                             f"{e['ratio_rps_vs_durable_peer']}")
            if "http_stack_only" in e:
                f = e["http_stack_only"]
                lines.append(f"  {'POST, tka with a canned handler':36} tka  {f['rps']:8.1f} req/s  p99 {f['p99_ms']:7.2f} ms"
                             f"  cpu {f['server_cpu_ms_per_req']} ms/req  ->  / peer {f['ratio_rps_vs_peer']}"
                             "  (the HTTP stack's share)")
            if "in_process" in e:
                w = e["in_process"]
                floor = f"  canned handler {w['floor_ms']} ms" if "floor_ms" in w else ""
                lines.append(f"  {'in process, no sockets':36} tka {w['tka_ms']} ms (on Connexion's own binding "
                             f"{w['stock_binding_ms']} ms){floor}  peer {w['peer_ms']} ms of CPU  (bench/wsgi_cpu.py)")
            if "tka_gthread" in e:
                g = e["tka_gthread"]
                lines.append(f"  {'tka on gthread workers':36} tka  {g['rps']:8.1f} req/s  p99 {g['p99_ms']:7.2f} ms"
                             f"  cpu {g['server_cpu_ms_per_req']} ms/req  ->  / peer {g['ratio_rps_vs_peer']}")
    events = results.get("events")
    if events is not None:
        lines += ["", "Events (bench/events.py)"]
        lines += [f"  {k}: {json.dumps(v)}" for k, v in events.items() if k != "elapsed_s"]
    resilience = results.get("resilience")
    if resilience and "error" not in resilience:
        lines += ["", "Issue 5  breaker cost: read transactions/s, 12 threads (bench/resilience.py)"]
        lines += [f"  {k}: {json.dumps(v)}" for k, v in resilience.items() if k != "elapsed_s"]
    faults = results.get("faults")
    if faults and "error" not in faults:
        from bench.faults import table

        lines += ["", "Issue 5  store outage: time to open, 503 latency, time to recover (bench/faults.py)",
                  table(faults)]
    pictures = results.get("pictures")
    if pictures and "error" not in pictures:
        from bench.pictures import table as pictures_table

        lines += ["", "Issue 15  pictures: CPU per image, medians (bench/pictures.py)", pictures_table(pictures)]
    files = results.get("files")
    if files and "error" not in files:
        from bench.files import table as files_table

        lines += ["", "Issue 16  TKA files: CPU per 64-beat file, medians (bench/files.py)", files_table(files)]
    for name in SECTIONS:
        if name in results and "error" in results[name]:
            lines.append(f"\n{name}: FAILED: {results[name]['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run (numbers are noisy)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where latest.json goes")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    now = datetime.now(timezone.utc)
    results: dict[str, Any] = {"meta": {
        "timestamp": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "commit": _git_commit(), "quick": args.quick, "sections": sections,
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
        "loadavg_before": _loadavg(),
    }}
    if (results["meta"]["loadavg_before"] or [0])[0] > 0.5:
        _log(f"[bench] note: load average {results['meta']['loadavg_before']} before starting: "
             "other processes share these cores, so expect noisy numbers")
    started = time.perf_counter()
    for name in sections:
        _log(f"[bench] {name} ...")
        results[name] = _run_section(name, args.quick)
    results["meta"]["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["meta"]["loadavg_after"] = _loadavg()

    args.results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    (args.results_dir / "latest.json").write_text(text)
    (args.results_dir / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json").write_text(text)
    print()
    print(report(results))
    print(f"\nwrote {args.results_dir / 'latest.json'} ({results['meta']['elapsed_s']} s)")
    return 1 if any("error" in results[s] for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
