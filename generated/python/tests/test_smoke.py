"""Smoke test against a live server: TKA_BASE_URL=http://127.0.0.1:8000 pytest"""

from __future__ import annotations

import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tka_sdk import (AddBeatRequest, BeatInput, CreateSequenceRequest, MotionInput, UndoRedoRequest,
                     UpdateSequenceRequest)
from tka_sdk.client import RetryPolicy, TKAClient, etag_of, problem_of
from tka_sdk.exceptions import ApiException, NotFoundException

BASE_URL = os.environ.get("TKA_BASE_URL")
live = pytest.mark.skipif(not BASE_URL, reason="set TKA_BASE_URL to a running tka server")


@pytest.fixture
def tka():
    with TKAClient(BASE_URL) as client:
        yield client


@live
def test_the_sdk_drives_a_live_server_end_to_end(tka: TKAClient):
    assert tka.status.get_status().status == "running"

    # Create with an Idempotency-Key, twice: the second answer replays the first.
    key = str(uuid.uuid4())
    request = CreateSequenceRequest(name="Python smoke", start_position="alpha1")
    first = tka.sequences.create_sequence_with_http_info(request, idempotency_key=key)
    second = tka.sequences.create_sequence_with_http_info(request, idempotency_key=key)
    assert first.status_code == 201
    assert second.data.data.id == first.data.data.id
    assert second.headers["Idempotent-Replayed"] == "true"
    seq_id = first.data.data.id

    # Read it with its ETag; a stale If-Match is a structured 412.
    read = tka.sequences.get_sequence_with_http_info(seq_id)
    etag = etag_of(read.headers)
    assert etag == f'"{read.data.data.version}"'
    tka.sequences.update_sequence(seq_id, UpdateSequenceRequest(name="Python smoke 2"), if_match=etag)
    with pytest.raises(ApiException) as stale:
        tka.sequences.update_sequence(seq_id, UpdateSequenceRequest(name="lost update"), if_match=etag)
    assert stale.value.status == 412
    problem = problem_of(stale.value)
    assert problem is not None and problem.error_code == "precondition_failed"
    assert problem.status == 412 and problem.instance == f"/api/sequences/{seq_id}"

    # A beat by letter, one by explicit motions, and a blank one.
    by_letter = tka.beats.add_beat(seq_id, AddBeatRequest(beat=BeatInput(letter="A")))
    assert by_letter.data.end_position == "alpha3"
    by_motions = tka.beats.add_beat(seq_id, AddBeatRequest(beat=BeatInput(
        blue_motion=MotionInput(motion_type="pro", start_loc="w", end_loc="n"),
        red_motion=MotionInput(motion_type="pro", start_loc="e", end_loc="s"))),
        idempotency_key=str(uuid.uuid4()))
    assert [b.letter for b in by_motions.data.beats] == ["A", "A"]
    assert by_motions.data.beats[1].blue_motion.prop_rot_dir == "cw"
    blank = tka.beats.add_beat(seq_id, AddBeatRequest(beat=BeatInput(is_blank=True))).data.beats[2]
    assert blank.letter is None and blank.blue_motion is None and blank.start_position is None

    # Undo the blank beat, redo it.
    undone = tka.commands.undo(undo_redo_request=UndoRedoRequest(sequence_id=seq_id))
    assert len(undone.data.beats) == 2 and undone.can_redo
    redone = tka.commands.redo(undo_redo_request=UndoRedoRequest(sequence_id=seq_id))
    assert len(redone.data.beats) == 3 and redone.data.beats[2].letter is None

    # Pictures: the sheet as SVG (with an ETag; If-None-Match with it is a 304, which the
    # generated client raises as an ApiException), the sheet as PNG, one beat as SVG.
    sheet = tka.pictures.get_sequence_image_svg_with_http_info(seq_id)
    assert sheet.status_code == 200
    assert sheet.data.startswith(b"<svg") and b'class="beat"' in sheet.data
    picture_etag = etag_of(sheet.headers)
    assert picture_etag and picture_etag.endswith('-p1"')
    with pytest.raises(ApiException) as not_modified:
        tka.pictures.get_sequence_image_svg(seq_id, if_none_match=picture_etag)
    assert not_modified.value.status == 304
    assert tka.pictures.get_sequence_image_png(seq_id, size=64).startswith(b"\x89PNG\r\n\x1a\n")
    assert tka.pictures.get_beat_image_svg(seq_id, 1).startswith(b"<svg")

    # Sending null: clear the start position of a sequence without beats.
    bare = tka.sequences.create_sequence(CreateSequenceRequest(name="bare", start_position="beta5")).data
    cleared = tka.sequences.update_sequence(bare.id, UpdateSequenceRequest(start_position=None)).data
    assert cleared.start_position is None and cleared.start_position_beat is None

    # A 404 with its problem body.
    with pytest.raises(NotFoundException) as missing:
        tka.sequences.get_sequence(str(uuid.uuid4()))
    assert problem_of(missing.value).error_code == "not_found"

    # Pagination.
    page1 = tka.sequences.list_sequences(page=1, page_size=1)
    assert len(page1.data) == 1 and page1.total_items >= 2 and page1.has_next
    page2 = tka.sequences.list_sequences(page=2, page_size=1)
    assert page2.has_previous and page2.data[0].id != page1.data[0].id

    # Delete; then it is gone.
    assert tka.sequences.delete_sequence(seq_id).data.id == seq_id
    with pytest.raises(NotFoundException):
        tka.sequences.get_sequence(seq_id)
    tka.sequences.delete_sequence(bare.id)


class _Busy(BaseHTTPRequestHandler):
    """Answers 503 with Retry-After: 0 until told otherwise, and counts the calls."""
    answers: list = []
    calls: list = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).calls.append((self.command, self.headers.get("Idempotency-Key")))
        status = type(self).answers.pop(0) if type(self).answers else 200
        if status == 200:
            body = (b'{"status":"running","version":"0","api_enabled":true,"uptime_seconds":1,'
                    b'"store":"sqlite","timestamp":"2025-01-15T09:32:10Z"}')
            ctype = "application/json"
        else:
            body = (b'{"type":"urn:tka:problem:unavailable","title":"Unavailable","status":%d,"detail":"busy",'
                    b'"instance":"/api","error_code":"unavailable","request_id":"r"}' % status)
            ctype = "application/problem+json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def test_only_safe_requests_are_retried_on_429_and_503():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tka = TKAClient(f"http://127.0.0.1:{server.server_address[1]}",
                        retry_policy=RetryPolicy(max_retries=2, max_delay=0.1))
        _Busy.answers, _Busy.calls = [503, 429], []
        started = time.monotonic()
        assert tka.status.get_status().status == "running"
        assert len(_Busy.calls) == 3 and time.monotonic() - started < 5   # GET: retried

        _Busy.answers, _Busy.calls = [503], []
        with pytest.raises(ApiException) as unkeyed:
            tka.commands.undo()
        assert unkeyed.value.status == 503 and len(_Busy.calls) == 1          # POST, no key: never repeated
        assert problem_of(unkeyed.value).error_code == "unavailable"

        _Busy.answers, _Busy.calls = [429, 503, 503, 503], []
        with pytest.raises(ApiException):
            tka.commands.undo(idempotency_key="k")
        assert len(_Busy.calls) == 3                                          # keyed POST: up to max_retries
    finally:
        server.shutdown()
