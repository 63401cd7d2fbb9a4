"""Print the events a tka server sends, one JSON line each, until Ctrl-C:

    TKA_TOKEN=... python examples/follow.py http://127.0.0.1:8000

A hello line on every (re)connect; the stream reconnects and resumes by itself, so a server
restart loses no event. (The live-events conformance scenario of every SDK runs this.)
"""

import json
import os
import signal
import sys

from tka_sdk.events import EventStream


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def on_message(message: dict) -> None:
        if message.get("type") == "connection_established":
            print(json.dumps({"type": "connection_established", "last_event_id": message["last_event_id"]}),
                  flush=True)
        else:
            print(f"notice: {message}", file=sys.stderr, flush=True)

    stream = EventStream(url, token=os.environ.get("TKA_TOKEN"), on_message=on_message,
                         backoff_initial=0.1, backoff_max=2.0)
    try:
        for event in stream:  # connects on the first read
            print(json.dumps({"type": "event", "event_id": event.event_id, "event_type": event.event_type,
                              "sequence_id": event.sequence_id}), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stream.close()


if __name__ == "__main__":
    main()
