"""HTTP load: wrk when it is there (installed from Debian when missing and we may), else Python.

Both generators hold ``connections`` keep-alive connections busy for ``duration`` seconds and
report requests per second, latency percentiles and the count of non-2xx answers and errors.
The Python fallback is itself CPU-bound on a 2-core machine shared with the servers, so its
absolute numbers are lower than wrk's; ratios between two servers measured with it stay usable.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.stats import latency_summary_ms

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class Request:
    method: str = "GET"
    body: bytes | None = None
    content_type: str = "application/json"


def ensure_wrk(log: Any = print) -> str | None:
    """The wrk binary, installing Debian's package when missing and we are root; None otherwise."""
    found = shutil.which("wrk")
    if found or os.environ.get("TKA_BENCH_NO_INSTALL"):
        return found
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        log("  wrk missing and not installable here (needs root + apt-get): using the Python load generator")
        return None
    log("  wrk missing: apt-get install wrk ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300)
        if done.returncode != 0:
            log(f"  {' '.join(cmd)} failed ({done.stderr.strip()[-200:]}): using the Python load generator")
            return None
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0].split(" Copyright")[0].strip() if text else "wrk"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """The numbers of ``wrk --latency`` output."""
    result: dict[str, Any] = {}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    result["rps"] = float(rps.group(1)) if rps else 0.0
    total = re.search(r"(\d+) requests in ([\d.]+\w+),", output)
    result["requests"] = int(total.group(1)) if total else 0
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)", output, re.M)
        result[f"p{pct}_ms"] = round(_ms(match.group(1)), 3) if match else None
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = sum(int(g) for g in errors.groups()) if errors else 0
    return result


def _lua(request: Request) -> str:
    lines = [f'wrk.method = "{request.method}"']
    if request.body is not None:
        body = request.body.decode().replace("\\", "\\\\").replace('"', '\\"')
        lines += [f'wrk.body = "{body}"', f'wrk.headers["Content-Type"] = "{request.content_type}"']
    return "\n".join(lines) + "\n"


def run_wrk(wrk: str, url: str, request: Request, *, duration: float, threads: int = 2,
            connections: int = 16) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(request))
    try:
        cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
               "--timeout", "10s", "-s", script.name, url]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    finally:
        Path(script.name).unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------------------- Python fallback

def _worker(url: str, request: Request, connections: int, duration: float, queue: Any) -> None:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    bad = [0, 0]  # non-2xx, errors
    deadline = time.perf_counter() + duration
    headers = {"Content-Type": request.content_type} if request.body is not None else {}

    def connection_loop() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                conn.request(request.method, path, body=request.body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                bad[1] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            latencies.append(time.perf_counter() - start)
            if not 200 <= response.status < 400:
                bad[0] += 1
        conn.close()

    threads = [threading.Thread(target=connection_loop) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((latencies, bad))


def run_python(url: str, request: Request, *, duration: float, threads: int = 2,
               connections: int = 16) -> dict[str, Any]:
    """``threads`` processes sharing ``connections`` keep-alive connections, like wrk -t/-c."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    per = [connections // threads + (1 if i < connections % threads else 0) for i in range(threads)]
    procs = [ctx.Process(target=_worker, args=(url, request, n, duration, queue)) for n in per if n]
    start = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get(timeout=duration + 60) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    latencies = [s for lat, _ in results for s in lat]
    summary = latency_summary_ms(latencies)
    return {
        "rps": round(len(latencies) / min(elapsed, duration + 0.5), 2) if latencies else 0.0,
        "requests": len(latencies),
        "p50_ms": summary["p50_ms"], "p75_ms": None, "p90_ms": summary["p90_ms"], "p99_ms": summary["p99_ms"],
        "non_2xx": sum(bad[0] for _, bad in results),
        "socket_errors": sum(bad[1] for _, bad in results),
    }


class LoadGenerator:
    """wrk if available (installing it if allowed), else the Python fallback; ``.name`` says which."""

    def __init__(self, *, prefer_python: bool = False, log: Any = print) -> None:
        self.wrk = None if prefer_python else ensure_wrk(log)
        self.name = wrk_version(self.wrk) if self.wrk else "python http.client (fallback; slower than wrk)"

    def run(self, url: str, request: Request, *, duration: float, threads: int = 2,
            connections: int = 16) -> dict[str, Any]:
        if self.wrk:
            return run_wrk(self.wrk, url, request, duration=duration, threads=threads, connections=connections)
        return run_python(url, request, duration=duration, threads=threads, connections=connections)
