"""Connection lists shared between the workers of one server, for ``/api/websocket/stats``.

Each worker holds only its own sockets, but a stats request lands on any one of them. So every
worker writes its list to ``<run dir>/<pid>.json`` (at most twice a second, atomically) and the
answering worker merges the others' files with its own live list. Files of workers that are gone
are ignored and removed. Without a run dir (one process, such as an app embedding the API) the
answer covers the answering worker only, and says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class PeerRegistry:
    def __init__(self, run_dir: str | None) -> None:
        self.run_dir = run_dir
        self.dir = Path(run_dir) if run_dir else None

    @property
    def shared(self) -> bool:
        return self.dir is not None and self.dir.is_dir()

    def publish(self, snapshot: dict[str, Any]) -> None:
        if not self.shared:
            return
        assert self.dir is not None
        target = self.dir / f"{os.getpid()}.json"
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot, separators=(",", ":")))
        os.replace(tmp, target)

    def peers(self) -> list[dict[str, Any]]:
        """The other live workers' latest snapshots."""
        if not self.shared:
            return []
        assert self.dir is not None
        found = []
        for path in self.dir.glob("*.json"):
            try:
                pid = int(path.stem)
            except ValueError:
                continue
            if pid == os.getpid():
                continue
            if not _alive(pid):
                path.unlink(missing_ok=True)
                continue
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # being replaced right now; its next write will do
                continue
        return found

    def remove(self, pid: int | None = None) -> None:
        if self.dir is not None:
            (self.dir / f"{pid or os.getpid()}.json").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
