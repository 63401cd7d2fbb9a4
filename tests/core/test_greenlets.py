"""Under gevent (``tka serve``'s default worker class): what must not wait, does not.

Each check runs in a fresh interpreter monkey-patched the way ``tka serve`` patches it; pytest's own
process stays unpatched. A check that blocked would hang its interpreter, which the subprocess
timeout turns into a failure.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from app.core.greenlets import WORKER_CLASSES, offload, patch_for, take_turns
from app.settings import Settings
from tests.servers import ROOT


def run_patched(body: str) -> str:
    script = "from app.core.greenlets import patch_for\npatch_for('gevent')\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_direct_write_to_a_full_socket_returns_busy_instead_of_waiting_for_room():
    # gevent's socket waits for room on EAGAIN whatever the flags: the hub's tailer would then stall
    # every client of its worker behind one that stopped reading.
    out = run_patched("""
        import socket
        from app.api.stream import _GuardedSocket
        from app.core.greenlets import cooperative
        a, b = socket.socketpair()
        raw = getattr(a, "_sock", a)
        try:
            while True:
                raw.send(b"x" * 4096, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
        print(cooperative(), _GuardedSocket(a, lambda: None).try_send(b"event frame").value)
    """)
    assert out == "True nothing"


def test_offload_runs_a_blocking_call_on_another_os_thread_under_gevent_and_inline_otherwise():
    out = run_patched("""
        from gevent import monkey
        from app.core.greenlets import offload
        native = monkey.get_original("threading", "get_native_id")
        print(offload(native) != native())
    """)
    assert out == "True"
    import threading
    assert offload(threading.get_native_id) == threading.get_native_id()  # unpatched: a plain call


def test_the_worker_class_is_checked_and_gevent_is_the_default(monkeypatch):
    monkeypatch.delenv("TKA_WORKER_CLASS", raising=False)
    assert Settings.from_env().worker_class == "gevent" == WORKER_CLASSES[0]
    monkeypatch.setenv("TKA_WORKER_CLASS", "gthread")
    assert Settings.from_env().worker_class == "gthread"
    assert Settings.from_env(worker_class="gevent").worker_class == "gevent"  # the flag wins
    with pytest.raises(SystemExit, match="unknown worker class 'eventlet'"):
        Settings(worker_class="eventlet").check()
    patch_for("gthread")  # patches nothing: this process stays as it was
    assert "gevent.monkey" not in sys.modules or not sys.modules["gevent.monkey"].is_module_patched("threading")


def test_requests_take_turns_between_greenlets_under_gevent():
    # Two kept-alive connections whose next requests are always ready: without a switch per
    # request the first would be served to the end before the second got a turn.
    out = run_patched("""
        import gevent
        from app.core.greenlets import take_turns
        served = []
        app = take_turns(lambda environ, start_response: served.append(environ["conn"]) or [b""])
        def connection(name):
            for _ in range(3):
                app({"conn": name}, None)
        gevent.joinall([gevent.spawn(connection, "a"), gevent.spawn(connection, "b")])
        print("".join(served))
    """)
    assert out == "ababab"
    inner = lambda environ, start_response: [b""]  # noqa: E731
    assert take_turns(inner) is inner  # not under gevent: nothing added


def test_a_write_waits_out_another_programs_lock_while_the_other_greenlets_run(tmp_path):
    # SQLite's own wait for a lock happens inside one C call, which would stop the whole worker;
    # under gevent SQLite waits briefly and the store retries between turns of the others. The
    # other greenlet here releases the outside lock only after 60 turns of its own: the write must
    # see them all, and then succeed.
    out = run_patched(f"""
        import sqlite3, gevent
        from app.store import Store
        path = {str(tmp_path / "x.db")!r}
        store = Store("sqlite:///" + path)
        store.migrate()
        with store.read() as uow:
            busy_ms = uow.conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        outside = sqlite3.connect(path, isolation_level=None)
        outside.execute("BEGIN IMMEDIATE")
        turns = []
        def write():
            with store.write() as uow:
                uow.settings.set("k", "v")
            return len(turns)
        def other():
            for i in range(60):
                turns.append(i)
                gevent.sleep(0)
            outside.rollback()
        writer = gevent.spawn(write)
        gevent.joinall([writer, gevent.spawn(other)])
        with store.read() as uow:
            print(busy_ms, writer.value, uow.settings.get("k"))
    """)
    assert out == "10 60 v"


def test_peek_connections_are_one_per_os_thread_under_gevent_not_one_per_greenlet(tmp_path):
    out = run_patched(f"""
        import gevent
        from app.store import Store
        store = Store("sqlite:///" + {str(tmp_path / "p.db")!r})
        store.migrate()
        ids = set()
        def peek():
            store.peek_last_event_id()
            ids.add(id(store._peek._local.conn))
        gevent.joinall([gevent.spawn(peek) for _ in range(5)])
        print(len(ids))
    """)
    assert out == "1"


def test_writers_ready_together_share_one_commit_under_gevent():
    out = run_patched("""
        import gevent
        from app.store.group import GroupCommit
        batches = []
        def run_batch(jobs):
            batches.append(len(jobs))
            for job in jobs:
                job.result = job.run(None)
        group = GroupCommit(run_batch)
        writers = [gevent.spawn(group.run, lambda _uow, i=i: i, 60.0) for i in range(5)]
        gevent.joinall(writers)
        print(batches, [w.value for w in writers])
    """)
    assert out == "[5] [0, 1, 2, 3, 4]"
