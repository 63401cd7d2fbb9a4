"""Every endpoint through the real app (Flask test client), responses validated against the spec."""

from __future__ import annotations

import json
import pytest
import sqlalchemy as sa

from tests.waiting import wait_until

PRO_S_W = {"motion_type": "pro", "start_loc": "s", "end_loc": "w"}
PRO_N_E = {"motion_type": "pro", "start_loc": "n", "end_loc": "e"}


def store_state(store) -> tuple:
    """Everything a refused request must leave as it was."""
    with store.read() as uow:
        return (uow.conn.execute(sa.text("SELECT id, version, deleted, data FROM sequences ORDER BY id")).all(),
                uow.conn.execute(sa.text("SELECT command_id, state FROM command_history ORDER BY seq")).all(),
                uow.conn.execute(sa.text("SELECT key, state FROM idempotency_keys ORDER BY key")).all(),
                uow.events.last_id())


def test_status_has_the_briefs_shape(client):
    body = client.get("/api/status").json
    assert body["status"] == "running" and body["api_enabled"] is True
    assert body["store"] == "sqlite" and body["version"] and body["uptime_seconds"] >= 0


def test_the_briefs_scenario(client):
    created = client.post("/api/sequences", json={"name": "API Test Sequence", "length": 4})
    assert created.status_code == 201
    seq = created.json["data"]
    assert seq["length"] == 4 and len(seq["beats"]) == 4
    assert created.headers["Location"] == f"/api/sequences/{seq['id']}"
    current = client.get("/api/current-sequence").json
    assert current["data"]["id"] == seq["id"]
    undone = client.post("/api/undo")
    assert undone.status_code == 200 and undone.json["data"] is None
    assert undone.json["can_redo"] is True
    assert client.get("/api/current-sequence").json["data"] is None
    redone = client.post("/api/redo")
    assert redone.json["data"]["id"] == seq["id"]


def test_crud_with_etags(client, make_sequence):
    seq = make_sequence("Crud")
    got = client.get(f"/api/sequences/{seq['id']}")
    assert got.headers["ETag"] == '"1"'
    renamed = client.put(f"/api/sequences/{seq['id']}", json={"name": "Renamed"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200 and renamed.json["data"]["name"] == "Renamed"
    assert renamed.headers["ETag"] == '"2"'
    stale = client.put(f"/api/sequences/{seq['id']}", json={"name": "Lost"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.content_type == "application/problem+json"
    assert stale.json["error_code"] == "precondition_failed"
    assert client.get(f"/api/sequences/{seq['id']}").json["data"]["name"] == "Renamed"
    deleted = client.delete(f"/api/sequences/{seq['id']}", headers={"If-Match": '"2"'})
    assert deleted.status_code == 200 and deleted.json["data"]["name"] == "Renamed"
    gone = client.get(f"/api/sequences/{seq['id']}")
    assert gone.status_code == 404 and gone.json["error_code"] == "not_found"


def test_beats_by_letter_and_by_motions_then_patch_and_delete(client, make_sequence):
    seq = make_sequence("Beats")
    by_motions = client.post(f"/api/sequences/{seq['id']}/beats",
                             json={"beat": {"blue_motion": PRO_S_W, "red_motion": PRO_N_E}})
    assert by_motions.status_code == 201
    beat = by_motions.json["data"]["beats"][0]
    assert beat["letter"] == "A" and beat["timing"] == "split" and beat["direction"] == "same"
    by_letter = client.post(f"/api/sequences/{seq['id']}/beats", json={"beat": {"letter": "B"}})
    assert by_letter.json["data"]["word"] == "AB"
    patched = client.patch(f"/api/sequences/{seq['id']}/beats/2", json={"red_turns": None})
    assert patched.status_code == 200
    red = patched.json["data"]["beats"][1]["red_motion"]
    assert red["motion_type"] == "float" and red["turns"] is None and red["prefloat_motion_type"] == "anti"
    removed = client.delete(f"/api/sequences/{seq['id']}/beats/2")
    assert removed.json["data"]["word"] == "A"


def test_blank_beats_keep_a_null_letter(client, make_sequence):
    seq = make_sequence("Blank", length=2)
    beats = client.get(f"/api/sequences/{seq['id']}").json["data"]["beats"]
    assert [b["letter"] for b in beats] == [None, None]
    assert all(b["blue_motion"] is None for b in beats)


def test_start_position_and_generate(client, make_sequence):
    seq = client.post("/api/sequences", json={"name": "NoStart"}).json["data"]
    assert seq["start_position"] is None and seq["start_position_beat"] is None
    r = client.put(f"/api/sequences/{seq['id']}/start-position", json={"position": "gamma11"})
    assert r.json["data"]["start_position"] == "gamma11"
    assert r.json["data"]["start_position_beat"]["letter"] == "Γ"
    gen = client.post("/api/sequences/generate", json={"length": 8, "level": 2, "max_turns": 2, "seed": 7})
    assert gen.status_code == 201 and gen.json["data"]["length"] == 8
    again = client.post("/api/sequences/generate", json={"length": 8, "level": 2, "max_turns": 2, "seed": 7})
    assert again.json["data"]["word"] == gen.json["data"]["word"]


def test_alphabet(client):
    letters = client.get("/api/letters").json["data"]
    assert len(letters) == 47 and letters[0] == {"letter": "A", "letter_type": "Type1"}
    assert {"letter": "Λ-", "letter_type": "Type5"} in letters
    positions = client.get("/api/positions").json["data"]
    assert len(positions) == 32
    assert {"name": "alpha1", "family": "alpha", "grid_mode": "diamond", "blue_loc": "s", "red_loc": "n"} in positions
    ident = client.post("/api/pictographs/identify", json={"blue_motion": PRO_S_W, "red_motion": PRO_N_E})
    assert ident.json["data"] == {"letter": "A", "letter_type": "Type1", "start_position": "alpha1",
                                  "end_position": "alpha3", "timing": "split", "direction": "same"}
    mixed = client.post("/api/pictographs/identify", json={
        "blue_motion": PRO_S_W, "red_motion": {"motion_type": "pro", "start_loc": "ne", "end_loc": "se"}})
    assert mixed.status_code == 422 and mixed.content_type == "application/problem+json"


def test_undo_redo_scopes_and_history(client, make_sequence):
    a, b = make_sequence("A"), make_sequence("B")
    client.post(f"/api/sequences/{a['id']}/beats", json={"beat": {"letter": "A"}})
    client.post(f"/api/sequences/{b['id']}/beats", json={"beat": {"letter": "B"}})
    scoped = client.post("/api/commands/undo", json={"sequence_id": a["id"]})
    assert scoped.json["data"]["id"] == a["id"] and scoped.json["data"]["word"] == ""
    history = client.get(f"/api/commands/history?sequence_id={a['id']}").json
    assert [e["state"] for e in history["data"]] == ["undone", "done"]
    assert history["can_undo"] and history["can_redo"]
    assert client.post("/api/commands/redo", json={"sequence_id": a["id"]}).json["data"]["word"] == "A"
    for _ in range(4):
        client.post("/api/undo")
    nothing = client.post("/api/undo")
    assert nothing.status_code == 409 and nothing.json["error_code"] == "nothing_to_undo"


def test_idempotency_key_replays_and_guards(client):
    headers = {"Idempotency-Key": "create-1"}
    first = client.post("/api/sequences", json={"name": "Once"}, headers=headers)
    again = client.post("/api/sequences", json={"name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data and again.headers["Location"] == first.headers["Location"]
    assert client.get("/api/sequences").json["total_items"] == 1
    other = client.post("/api/sequences", json={"name": "Other"}, headers=headers)
    assert other.status_code == 422 and other.json["error_code"] == "idempotency_key_reused"
    # an undo sent twice with one key undoes once
    client.post("/api/sequences", json={"name": "Two"})
    u1 = client.post("/api/undo", headers={"Idempotency-Key": "undo-1"})
    u2 = client.post("/api/undo", headers={"Idempotency-Key": "undo-1"})
    assert u1.json == u2.json and u2.headers["Idempotent-Replayed"] == "true"
    assert client.get("/api/sequences").json["total_items"] == 1


def test_a_failed_command_leaves_no_idempotency_record(client, store):
    bad = {"name": "x", "start_position": "alpha1", "length": 2, "beats": [{"letter": "A"}]}
    refused = client.post("/api/sequences", json=bad, headers={"Idempotency-Key": "k2"})
    assert refused.status_code == 422 and refused.json["error_code"] == "invalid_value"
    with store.read() as uow:
        assert uow.idempotency.get("POST /api/sequences k2") is None
    # The key is free: the corrected request (another body) runs, where a remembered key would
    # have answered idempotency_key_reused, and a remembered failure would have been replayed.
    fixed = client.post("/api/sequences", json={**bad, "length": 0}, headers={"Idempotency-Key": "k2"})
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers
    assert fixed.json["data"]["word"] == "A"


def test_request_ids_are_echoed_or_generated(client):
    given = client.get("/api/status", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/api/status")
    assert len(generated.headers["X-Request-ID"]) == 36
    assert float(generated.headers["X-Process-Time"]) >= 0
    problem = client.get("/api/sequences/00000000-0000-4000-8000-000000000000", headers={"X-Request-ID": "r-9"})
    assert problem.json["request_id"] == "r-9"


def test_request_id_reaches_the_events(client, events):
    client.post("/api/sequences", json={"name": "Traced"}, headers={"X-Request-ID": "trace-1"})
    assert {e.request_id for e in events} == {"trace-1"}


@pytest.mark.parametrize("method, path, kwargs, status, field", [
    ("post", "/api/sequences", {"data": "{not json", "content_type": "application/json"}, 400, None),
    ("post", "/api/sequences", {"json": {"name": 5}}, 400, "name"),
    ("post", "/api/sequences", {"json": {"name": "ok", "colour": "red"}}, 400, "colour"),
    ("post", "/api/sequences", {"json": {"name": "ok", "length": 65}}, 400, "length"),
    ("post", "/api/sequences", {"json": {}}, 400, "name"),
    ("post", "/api/sequences", {"json": {"name": "ok", "start_position": "alpha9"}}, 400, "start_position"),
    ("post", "/api/sequences", {"data": "name=x", "content_type": "application/x-www-form-urlencoded"}, 415, None),
    ("post", "/api/sequences", {"data": "x" * (2 << 20), "content_type": "application/json"}, 413, None),
    ("get", "/api/sequences?page_size=101", {}, 400, "page_size"),
    ("get", "/api/sequences?colour=red", {}, 400, "colour"),
    ("get", "/api/sequences/not-a-uuid", {}, 400, "sequence_id"),
    ("get", "/api/sequences/00000000-0000-4000-8000-000000000000", {}, 404, None),
    ("patch", "/api/sequences", {"json": {}}, 405, None),
    ("post", "/api/pictographs/identify", {"json": {"blue_motion": PRO_S_W,
                                                     "red_motion": {**PRO_N_E, "turns": 0.7}}}, 400, "red_motion.turns"),
    ("post", "/api/pictographs/identify", {"json": {"blue_motion": PRO_S_W,
                                                     "red_motion": {**PRO_N_E, "end_loc": "n"}}}, 422, "red_motion"),
])
def test_bad_input_gets_a_clear_problem_and_changes_nothing(client, store, make_sequence, method, path, kwargs,
                                                            status, field):
    make_sequence("Existing")
    before = store_state(store)
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status, r.data
    assert r.content_type == "application/problem+json"
    body = r.json
    assert body["status"] == status and body["error_code"] and body["request_id"] and body["detail"]
    assert "Traceback" not in r.get_data(as_text=True)
    if field:
        assert any(e["field"].startswith(field) for e in body["errors"]), body
    assert store_state(store) == before


def test_bad_beats_are_422_naming_the_field_and_change_nothing(client, store, make_sequence):
    seq = make_sequence("Rules")
    before = store_state(store)
    cases = [
        ({"blue_motion": {**PRO_S_W, "end_loc": "s"}, "red_motion": PRO_N_E}, "beat.blue_motion"),
        ({"blue_motion": {"motion_type": "dash", "start_loc": "s", "end_loc": "n", "turns": None},
          "red_motion": PRO_N_E}, "beat.blue_motion"),
        ({"letter": "B", "blue_motion": PRO_S_W, "red_motion": PRO_N_E}, "beat.letter"),
        ({"blue_motion": {"motion_type": "pro", "start_loc": "n", "end_loc": "e"},
          "red_motion": {"motion_type": "pro", "start_loc": "s", "end_loc": "w"}}, "beat"),
        ({"letter": "ZZ"}, "beat.letter"),
    ]
    for beat, field in cases:
        r = client.post(f"/api/sequences/{seq['id']}/beats", json={"beat": beat})
        assert r.status_code == 422, (beat, r.json)
        assert r.json["errors"][0]["field"].startswith(field), r.json
    assert client.patch(f"/api/sequences/{seq['id']}/beats/1", json={"blue_turns": 1}).status_code == 422
    assert store_state(store) == before


def test_docs_are_served_offline(client):
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/docs/swagger-ui-bundle.js").status_code == 200
    page = client.get("/api/redoc")
    assert b"redoc.standalone.js" in page.data
    assert client.get("/api/static/redoc/redoc.standalone.js").status_code == 200
    spec = client.get("/api/openapi.json").json
    assert spec["info"]["title"] and "/api/sequences" in spec["paths"]


def test_health(client):
    assert client.get("/health/live").json == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    health = json.loads(client.get("/health").data)
    assert health["status"] == "pass" and health["checks"]["store:ping"][0]["status"] == "pass"


def test_an_orphaned_idempotency_claim_is_taken_over_once_and_only_once(client, store):
    import time as _time

    import app.store.schema as schema
    from app.api.http import fingerprint

    scope = "orphan-1"
    with store.write() as uow:  # a request that died with its worker left this claim
        uow.idempotency.claim(scope, fingerprint("POST", "/api/sequences", b'{"name": "Orphan"}'), 3600, "dead-claim")
    busy = client.post("/api/sequences", json={"name": "Orphan"}, headers={"Idempotency-Key": "orphan-1"})
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"  # within its lease
    with store.write() as uow:
        uow.conn.execute(schema.idempotency.update().where(schema.idempotency.c.key == scope)
                         .values(created_at=_time.time() - 60))  # the lease has run out
    ok = client.post("/api/sequences", json={"name": "Orphan"}, headers={"Idempotency-Key": "orphan-1"})
    assert ok.status_code == 201
    with store.write() as uow:  # the dead request can no longer complete it
        assert not uow.idempotency.complete(scope, "dead-claim", {})
    again = client.post("/api/sequences", json={"name": "Orphan"}, headers={"Idempotency-Key": "orphan-1"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == ok.json
    assert client.get("/api/sequences").json["total_items"] == 1


def test_health_reports_how_far_the_event_stream_is_behind_the_log(app, client, settings):
    from app.bootstrap import bootstrap, close
    from app.events.hub import Hub
    from app.services.sequences import SequenceManagementService
    from app.store import Store

    def lag() -> dict:
        return json.loads(client.get("/health").data)["checks"]["events:lag"][0]

    def commit_elsewhere(name: str) -> None:  # another worker's commit: this hub hears of it by polling
        other = bootstrap(settings, migrate=False)
        try:
            other.resolve(SequenceManagementService).create_sequence(name, start_position="alpha1")
        finally:
            close(other)

    first = lag()
    assert (first["status"], first["observed_value"], first["observed_unit"]) == ("pass", 0, "events")
    assert first["component_id"] == "events" and first["output"] is None
    hub, store = app.extensions["tka"].resolve(Hub), app.extensions["tka"].resolve(Store)
    commit_elsewhere("caught up")
    with store.read() as uow:
        newest = uow.events.last_id()
    # The hub itself, not /health: /health may answer from a measurement taken before the commit.
    wait_until(lambda: hub.position >= newest, "the tailer catching up by itself")
    wait_until(lambda: lag()["observed_value"] == 0, "/health seeing it caught up")
    assert lag()["status"] == "pass"

    hub.shutdown(wait=True)  # the tailer is gone
    commit_elsewhere("left behind")  # sequence.created + command.executed
    # /health reads the store watchdog's last measurement while it is fresh (2 s at most)
    wait_until(lambda: lag()["observed_value"] == 2, "/health counting the 2 events nobody dispatched")
    response = client.get("/health")
    stuck = json.loads(response.data)["checks"]["events:lag"][0]
    assert response.status_code == 503 and stuck["status"] == "fail" and "not running" in stuck["output"]
    assert "tka_event_log_lag_events 2.0" in client.get("/metrics").get_data(as_text=True)


STATIC_WITH_TURNS = {"motion_type": "static", "start_loc": "s", "end_loc": "s", "turns": 1}  # no prop_rot_dir
STATIC = {"motion_type": "static", "start_loc": "s", "end_loc": "s"}
RED_STATIC = {"motion_type": "static", "start_loc": "n", "end_loc": "n"}


def test_one_bad_value_breaks_one_rule_whichever_endpoint_it_came_through(client, store, make_sequence):
    """A static hand given a turn with no direction to spin in, sent four ways: as a beat of a new
    sequence, as a beat added, as a change to a beat, and to identify. Each answer names the same
    error_code and rule, on the field below its own request, and changes nothing."""
    seq = make_sequence("Rules")
    added = client.post(f"/api/sequences/{seq['id']}/beats", json={"beat": {"blue_motion": STATIC,
                                                                            "red_motion": RED_STATIC}})
    assert added.status_code == 201
    before = store_state(store)
    answers = {
        "beats[0].blue_motion": client.post("/api/sequences", json={
            "name": "x", "start_position": "alpha1",
            "beats": [{"blue_motion": STATIC_WITH_TURNS, "red_motion": RED_STATIC}]}),
        "beat.blue_motion": client.post(f"/api/sequences/{seq['id']}/beats", json={"beat": {
            "blue_motion": STATIC_WITH_TURNS, "red_motion": RED_STATIC}}),
        "blue_motion": client.patch(f"/api/sequences/{seq['id']}/beats/1", json={"blue_turns": 1}),
        "blue_motion ": client.post("/api/pictographs/identify", json={"blue_motion": STATIC_WITH_TURNS,
                                                                      "red_motion": RED_STATIC}),
    }
    for prefix, r in answers.items():
        assert r.status_code == 422, r.json
        [error] = r.json["errors"]
        assert (r.json["error_code"], error["rule"], error["field"]) == \
            ("invalid_motion", "prop_rot_dir.required", f"{prefix.strip()}.prop_rot_dir"), r.json
    assert store_state(store) == before


def test_if_match_is_compared_strongly_as_rfc_9110_says(client, store, make_sequence):
    url = f"/api/sequences/{make_sequence('Tags')['id']}"
    assert client.put(url, json={"name": "a"}, headers={"If-Match": 'W/"1"'}).status_code == 412  # weak: never
    assert client.put(url, json={"name": "a"}, headers={"If-Match": '"abc"'}).status_code == 412  # none of ours
    assert client.put(url, json={"name": "a"}, headers={"If-Match": '"7", W/"1", "1"'}).status_code == 200  # any
    before = store_state(store)
    for bad in ("2", '"2",', "W/2", '"2" "3"', '"2', "\"2\"\x00"):
        refused = client.put(url, json={"name": "b"}, headers={"If-Match": bad})
        assert refused.status_code == 400, bad
        assert [(e["field"], e["rule"]) for e in refused.json["errors"]] == [("If-Match", "pattern")]  # the spec's
    assert store_state(store) == before
    assert client.put(url, json={"name": "c"}, headers={"If-Match": "*"}).status_code == 200


def test_an_idempotency_key_names_one_request_wherever_it_is_sent(client):
    first = client.post("/api/sequences", json={"name": "Once"}, headers={"Idempotency-Key": "k-op"})
    assert first.status_code == 201
    for path, body in (("/api/sequences/generate", {"length": 2}), ("/api/undo", {})):
        elsewhere = client.post(path, json=body, headers={"Idempotency-Key": "k-op"})
        assert elsewhere.status_code == 422 and elsewhere.json["error_code"] == "idempotency_key_reused", path
    assert client.get("/api/sequences").json["total_items"] == 1  # neither ran


def test_an_answer_quotes_a_little_of_a_long_value_never_all_of_it(client):
    long = "z" * 5000
    for body in ({"name": long}, {"name": "ok", long: 1}, {"name": "ok", "start_position": long}):
        refused = client.post("/api/sequences", json=body)
        assert refused.status_code == 400
        assert len(refused.get_data()) < 2000 and "z" * 65 not in refused.get_data(as_text=True), refused.json


def test_an_answer_quotes_a_little_of_a_long_number_or_path_too(client):
    """Unquoted values (jsonschema writes numbers bare, a 404 names the path) are cut at 64 as well."""
    for url in ("/api/sequences?page=" + "9" * 400, "/api/commands/history?limit=-" + "9" * 400,
                "/api/sequences/0196f0c0-0000-7000-8000-000000000000/beats/" + "7" * 400):
        refused = client.get(url)
        assert refused.status_code in (400, 404), url
        quoted = [refused.json["detail"], *(e["message"] for e in refused.json.get("errors", []))]
        assert not [text for text in quoted if "9" * 65 in text or "7" * 65 in text], refused.json
