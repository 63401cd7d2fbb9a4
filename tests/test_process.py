"""app/process.py: what a serving process does first. A directory the master made is removed by the
master only: a forked worker that exits leaves it to the others still writing there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app.process import METRICS_DIR_ENV
from app.settings import RUN_DIR_ENV
from tests.servers import ROOT, LiveServer
from tests.waiting import wait_until


def test_a_forked_child_leaves_the_parents_directories_and_the_parent_removes_them():
    script = textwrap.dedent("""
        import os, sys
        from app.process import metrics_dir
        path = metrics_dir()
        open(os.path.join(path, "counter_1.db"), "w").close()
        child = os.fork()
        if child == 0:
            sys.exit(0)  # a worker exiting normally: the exit handlers run here too
        os.waitpid(child, 0)
        print(path, os.path.isdir(path), os.listdir(path))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=60, check=True)
    path, still_there, files = done.stdout.split(" ", 2)
    assert still_there == "True" and files.strip() == "['counter_1.db']"  # the child's exit removed nothing
    assert not os.path.exists(path)  # the parent's exit removed it


def _served_metrics(metrics_dir: Path, pid: int) -> float:
    """How many ``GET /metrics`` worker ``pid`` answered 200, from its own samples file."""
    from prometheus_client.multiprocess import MultiProcessCollector

    path = metrics_dir / f"counter_{pid}.db"
    if not path.exists():
        return 0
    return sum(sample.value for family in MultiProcessCollector.merge([str(path)], accumulate=False)
               for sample in family.samples
               if sample.name == "tka_http_requests_total" and sample.labels.get("route") == "/metrics"
               and sample.labels.get("status") == "200")


def _scrape(url: str) -> bool:
    response = requests.get(f"{url}/metrics", timeout=10)  # a new connection each: any worker may take it
    assert response.status_code == 200, response.text[:300]
    assert "\ntka_http_requests_total{" in response.text  # samples, not only the families' HELP and TYPE
    return True


def _end_one_worker_and_scrape(server: LiveServer, metrics_dir: Path, signum: signal.Signals) -> None:
    """End one worker with ``signum``; once gunicorn has replaced it, scrape ``/metrics`` until both
    the other worker and the replacement have answered it (each answer 200, with samples)."""
    victim, survivor = server.worker_pids()
    before = _served_metrics(metrics_dir, survivor)
    os.kill(victim, signum)
    pids = wait_until(lambda: len(p := server.worker_pids()) == 2 and victim not in p and p,
                      f"a replacement for the worker ended by {signum.name}")
    (replacement,) = set(pids) - {survivor}
    with ThreadPoolExecutor(8) as pool:
        def both_served() -> bool:
            assert all(pool.map(_scrape, [server.url] * 16))
            return _served_metrics(metrics_dir, survivor) > before and _served_metrics(metrics_dir, replacement) > 0

        wait_until(both_served, f"/metrics answered by the survivor and the replacement after {signum.name}",
                   every=0.05)


@pytest.mark.e2e
def test_a_worker_that_exits_leaves_the_masters_directories_to_the_others(tmp_path):
    """Under gunicorn: one worker of two exits (gracefully, running its exit handlers, or killed);
    the other and its replacement go on writing samples into the metrics directory the master made,
    and ``/metrics`` answers from both. The master removes its directories when it stops."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # TMPDIR: where the master makes its directories, to find them; none given, so it makes them.
    env = {"TMPDIR": str(tmp), METRICS_DIR_ENV: "", RUN_DIR_ENV: ""}
    server = LiveServer(f"sqlite:///{tmp_path / 'workers.db'}", workers=2, env=env)
    try:
        (metrics_dir,) = tmp.glob("tka-metrics-*")
        (run_dir,) = tmp.glob("tka-events-*")
        for signum in (signal.SIGTERM, signal.SIGQUIT, signal.SIGKILL):
            _end_one_worker_and_scrape(server, metrics_dir, signum)
            assert metrics_dir.is_dir() and run_dir.is_dir(), signum.name
        log = server.log_tail(10_000)
        assert "Traceback" not in log and "FileNotFoundError" not in log, log
    finally:
        server.stop()
    assert server.proc.returncode == 0
    assert not metrics_dir.exists() and not run_dir.exists()  # the master's exit removed them
