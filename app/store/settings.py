"""The settings table: a few named values the whole server shares (the current sequence, the
event log's retention marks)."""

from __future__ import annotations

import sqlalchemy as sa

from app.store import schema as t
from app.store.fastpath import HotStatement, Runner

_GET = HotStatement(sa.select(t.settings.c.value).where(t.settings.c.key == sa.bindparam("k")))
_UPDATE = HotStatement(t.settings.update().where(t.settings.c.key == sa.bindparam("k")), ["value"])


class SettingRows:
    def __init__(self, run: Runner) -> None:
        self._run = run

    def get(self, key: str) -> str | None:
        return self._run.scalar(_GET, {"k": key})  # type: ignore[no-any-return]

    def set(self, key: str, value: str | None) -> None:
        if self._run.rowcount(_UPDATE, {"k": key, "value": value}) == 0:
            self._run.conn.execute(t.settings.insert().values(key=key, value=value))
