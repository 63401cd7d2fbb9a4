"""PackedJSON (app/store/schema.py): large documents stored zlib-packed, small ones and rows from
before v7 as plain JSON, all read back exactly, through the hot path and through Core."""

from __future__ import annotations

import zlib

import sqlalchemy as sa

from app.core.events import Event
from app.store import Store
from app.store import schema as t


def test_large_event_data_is_packed_small_stays_plain_and_both_read_back(any_db_url):
    store = Store(any_db_url)
    store.migrate()
    small, large = {"n": 1, "text": "é"}, {"beats": [{"letter": "A", "turns": i} for i in range(200)], "big": 2**62}
    with store.write() as uow:
        uow.events.append([Event("sequence.updated", small), Event("sequence.updated", large)])
    with store.read() as uow:
        raw = [bytes(r[0]) for r in uow.conn.execute(sa.select(sa.cast(t.events.c.data, sa.LargeBinary))
                                                      .order_by(t.events.c.event_id))]
        assert raw[0].startswith(b"{") and len(raw[0]) < t.PACK_FROM
        assert zlib.decompress(raw[1]) and len(raw[1]) < len(str(large)) // 5
        assert [e.data for e in uow.events.since(0)] == [small, large]
    store.dispose()
