"""app/process.py: what a serving process does first. A directory the master made is removed by the
master only: a forked worker that exits leaves it to the others still writing there."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.servers import ROOT


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
