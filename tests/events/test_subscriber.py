"""One client's delivery state (app/events/subscriber.py), without a hub or a socket: who writes
next, what is queued, and where the client should resume from."""

from __future__ import annotations

from app.events import protocol as p
from app.events.subscriber import NOT_AN_EVENT, Offer, Subscriber, Writer, Written


def idle(queue_size: int = 10) -> Subscriber:
    """A client whose session has sent its hello and found nothing queued: the tailer writes."""
    sub = Subscriber("c", queue_size)
    assert sub.take() == [] and sub.writer is Writer.TAILER
    return sub


def test_the_session_writes_first_so_its_hello_goes_before_any_event():
    sub = Subscriber("c", 10)
    assert sub.writer is Writer.SESSION
    assert sub.offer(1, b"one") is Offer.WAKE and [i for i, _ in sub.take()] == [1]


def test_an_idle_client_is_written_to_directly():
    sub = idle()
    assert sub.offer(1, b"one") is Offer.WRITE
    assert sub.wrote(1, b"one", Written.ALL) is Offer.DONE
    assert (sub.last_written, sub.events_sent, sub.resume_point, list(sub.queue)) == (1, 1, 1, [])


def test_a_busy_socket_queues_and_everything_after_waits_its_turn():
    sub = idle()
    assert sub.offer(1, b"one") is Offer.WRITE
    assert sub.wrote(1, b"one", Written.NOTHING) is Offer.WAKE  # queued for the session
    assert sub.offer(2, b"two") is Offer.WAKE  # never overtakes a queued event
    assert [i for i, _ in sub.take()] == [1, 2] and sub.writer is Writer.SESSION
    assert sub.offer(3, b"three") is Offer.WAKE  # the session writes until it finds the queue empty
    assert [i for i, _ in sub.take()] == [3] and sub.take() == []
    assert sub.offer(4, b"four") is Offer.WRITE


def test_a_partly_written_frame_wakes_the_session_to_finish_it():
    sub = idle()
    sub.offer(1, b"long frame")
    assert sub.wrote(1, b"long frame", Written.PART) is Offer.WAKE
    assert sub.last_written == 1 and not sub.queue  # committed: the socket owes only the rest


def test_no_direct_writes_while_the_session_replays_or_closes():
    sub = idle()
    sub.hold()
    assert sub.offer(1, b"one") is Offer.WAKE
    assert [i for i, _ in sub.take()] == [1] and sub.take() == []
    assert sub.request_close(p.CloseCode.GOING_AWAY, "bye", 1) and not sub.request_close(p.CloseCode.NORMAL, "", 1)
    assert sub.offer(2, b"two") is Offer.WAKE and sub.closing == (p.CloseCode.GOING_AWAY, "bye")


def test_a_full_queue_is_reported_and_cutting_off_drops_it():
    sub = Subscriber("c", 2)
    assert [sub.offer(i, b"x") for i in (1, 2, 3)] == [Offer.WAKE, Offer.WAKE, Offer.FULL]
    sub.cut_off()
    assert sub.take() == [] and sub.resume_point == 0  # dropped, not delivered


def test_filtered_events_move_the_cursor_and_the_resume_point():
    sub = idle()
    assert sub.offer(1, None) is Offer.DONE
    assert (sub.cursor, sub.resume_point) == (1, 1)
    busy = Subscriber("b", 10)
    busy.offer(2, b"two")
    busy.offer(3, None)  # behind a queued event: delivered only once that one is
    assert busy.resume_point == 0
    busy.written(busy.take())
    assert busy.take() == [] and busy.resume_point == 3


def test_store_notices_are_said_once_per_change_in_order_and_are_no_events():
    sub = idle()
    assert sub.offer_store_status("unavailable") is Offer.WRITE
    assert sub.wrote(NOT_AN_EVENT, b"notice", Written.ALL) is Offer.DONE
    assert sub.offer_store_status("unavailable") is Offer.DONE and sub.events_sent == 0
    sub.hold()
    assert sub.offer_store_status("available") is Offer.WAKE
    sub.queue_store_status(b"available")
    assert sub.offer(5, b"five") is Offer.WAKE
    items = sub.take()
    assert [i for i, _ in items] == [NOT_AN_EVENT, 5] and sub.written(items) == 1 and sub.last_written == 5


def test_a_notice_dropped_by_a_resume_is_told_again_by_the_session():
    sub = idle()
    sub.hold()
    sub.offer_store_status("unavailable")
    sub.queue_store_status(b"unavailable")
    sub.drop_queue()  # the client asked to resume: its queue is dropped, the notice with it
    assert sub.tell_store_status("unavailable") is True  # so the replay tells it itself
    assert sub.tell_store_status("unavailable") is False
