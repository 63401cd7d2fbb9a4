"""TKA's own files through the real app (responses validated against the spec): export, import of
every shape (JSON and the PNG the API draws), round trips, refusals that change nothing; and the
circular generator with the CAP facts on the sequence resource."""

from __future__ import annotations

import copy
import json

import pytest

from app.domain.cap import CapType
from tests.api.test_handlers import store_state

IMPORT = "/api/sequences/import"


def _generated(client, **fields) -> dict:
    r = client.post("/api/sequences/generate", json={"name": "Source", "length": 6, "level": 3, **fields})
    assert r.status_code == 201, r.json
    return r.json["data"]


def _motions(seq: dict) -> list:
    """What a round trip must keep: every beat's letter, positions and both motions."""
    keep = ("letter", "start_position", "end_position", "blue_motion", "red_motion")
    return [{k: b[k] for k in keep} for b in [seq["start_position_beat"], *seq["beats"]]]


def test_export_is_the_desktop_file_named_after_the_word(client):
    seq = _generated(client, seed=5)
    r = client.get(f"/api/sequences/{seq['id']}/export")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["ETag"] == f'"{seq["version"]}"'
    assert "attachment" in r.headers["Content-Disposition"] and ".json" in r.headers["Content-Disposition"]
    header, start, *beats = r.json
    assert header["word"] == seq["word"] and header["level"] == seq["level"] and header["grid_mode"] == "diamond"
    assert header["is_circular"] == seq["is_circular"] and header["can_be_CAP"] == seq["can_be_cap"]
    for flag in ("is_strict_rotated_CAP", "is_strict_mirrored_CAP", "is_strict_swapped_CAP",
                 "is_mirrored_swapped_CAP", "is_rotated_swapped_CAP"):
        assert isinstance(header[flag], bool)
    assert start["beat"] == 0 and [b["beat"] for b in beats] == list(range(1, 7))
    assert client.get("/api/sequences/00000000-0000-4000-8000-000000000000/export").status_code == 404


def test_import_of_an_export_reproduces_the_sequence(client):
    seq = _generated(client, seed=9)
    exported = client.get(f"/api/sequences/{seq['id']}/export").json
    r = client.post(IMPORT, json=exported)
    assert r.status_code == 201, r.json
    assert r.headers["Location"] == f"/api/sequences/{r.json['data']['id']}"
    copy_ = r.json["data"]
    assert copy_["id"] != seq["id"] and copy_["name"] == seq["word"][:100]
    assert _motions(copy_) == _motions(seq) and copy_["word"] == seq["word"]
    assert r.json["warnings"] == [] and r.json["can_undo"] is True
    named = client.post(f"{IMPORT}?name=Mine", json={"sequence": exported, "date_added": "2024-01-01"})
    assert named.status_code == 201 and named.json["data"]["name"] == "Mine"
    assert _motions(named.json["data"]) == _motions(seq)


def test_import_of_the_png_the_api_draws_reproduces_the_sequence(client):
    seq = _generated(client, seed=3)
    got = client.get(f"/api/sequences/{seq['id']}/image.png?size=48")
    assert got.status_code == 200, got.data[:300]
    png = got.data
    r = client.post(IMPORT, data=png, headers={"Content-Type": "image/png"})
    assert r.status_code == 201, r.json
    assert _motions(r.json["data"]) == _motions(seq)


def test_a_wrong_letter_is_corrected_and_reported(client):
    seq = _generated(client, seed=4)
    exported = client.get(f"/api/sequences/{seq['id']}/export").json
    file = copy.deepcopy(exported)
    right = file[3]["letter"]
    file[3]["letter"] = "B" if right != "B" else "A"
    r = client.post(IMPORT, json=file)
    assert r.status_code == 201, r.json
    assert r.json["data"]["beats"][1]["letter"] == right
    (warning,) = r.json["warnings"]
    assert warning["beat"] == 2 and warning["field"] == "sequence[3].letter"
    # a keyed retry replays the answer, warnings and all
    key = {"Idempotency-Key": "import-once"}
    first = client.post(IMPORT, json=file, headers=key)
    again = client.post(IMPORT, json=file, headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json


def test_a_broken_file_is_refused_pointing_into_it_and_nothing_changes(client, store):
    seq = _generated(client, seed=8)
    exported = client.get(f"/api/sequences/{seq['id']}/export").json
    before = store_state(store)
    broken = copy.deepcopy(exported)
    hand = broken[5]["blue_attributes"]
    hand["start_ori"] = "clock" if hand["start_ori"] != "clock" else "in"
    unknown = copy.deepcopy(exported)
    unknown[3]["red_attributes"]["end_loc"] = "up"
    too_long = copy.deepcopy(exported) + [copy.deepcopy(exported[2]) for _ in range(64)]
    for body, field in ((broken, "sequence[5].blue_attributes.start_ori"),
                        (unknown, "sequence[3].red_attributes.end_loc"),
                        (too_long, "sequence")):
        r = client.post(IMPORT, json=body)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (field, r.json)
        assert r.json["errors"][0]["field"].startswith(field), (field, r.json["errors"])
    for data, kind in ((b"\x89PNG\r\n\x1a\nnot really", "image/png"), (b"GIF89a", "image/png"),
                       (b"[1, 2", "application/json"), (json.dumps({"no": "sequence"}).encode(), "application/json"),
                       (b"42", "application/json")):
        r = client.post(IMPORT, data=data, headers={"Content-Type": kind})
        assert r.status_code in (400, 422) and r.mimetype == "application/problem+json", (data, r.json)
    assert client.post(IMPORT, data=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    empty = client.post(IMPORT, data=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 400 and empty.json["errors"][0]["field"] == "body"
    assert store_state(store) == before


@pytest.mark.parametrize("cap_type", list(CapType))
def test_circular_generation_for_every_cap_type(client, cap_type):
    for slice_size in ("halved", "quartered") if "rotated" in cap_type else ("halved",):
        body = {"length": 8, "level": 2, "mode": "circular", "cap_type": str(cap_type), "slice_size": slice_size,
                "seed": 21}
        r = client.post("/api/sequences/generate", json=body)
        assert r.status_code == 201, (body, r.json)
        seq = r.json["data"]
        assert seq["is_circular"] and seq["can_be_cap"] and len(seq["beats"]) == 8
        assert {"cap_type": str(cap_type), "slice_size": slice_size} in seq["cap_kinds"], seq["cap_kinds"]
        header = client.get(f"/api/sequences/{seq['id']}/export").json[0]
        assert header["is_circular"] and header["can_be_CAP"]


def test_circular_generation_refuses_what_cannot_be(client, store):
    before = store_state(store)
    for body, field in (({"length": 7, "mode": "circular", "cap_type": "strict_mirrored"}, "length"),
                        ({"length": 8, "mode": "circular", "cap_type": "strict_swapped", "slice_size": "quartered"},
                         "slice_size"),
                        ({"length": 8, "cap_type": "strict_swapped"}, "cap_type")):
        r = client.post("/api/sequences/generate", json=body)
        assert r.status_code == 422, (body, r.json)
        assert r.json["errors"][0]["field"] == field
    assert client.post("/api/sequences/generate", json={"length": 8, "mode": "round"}).status_code == 400
    assert store_state(store) == before


def test_a_large_dictionary_image_is_accepted_up_to_its_own_limit(client):
    """A desktop dictionary image is often over the 1 MiB every other body is held to."""
    import io
    import os

    from PIL import Image, PngImagePlugin

    seq = _generated(client, seed=12)
    exported = client.get(f"/api/sequences/{seq['id']}/export").json
    info = PngImagePlugin.PngInfo()
    info.add_itxt("metadata", json.dumps({"sequence": exported, "date_added": "2024-05-01T10:00:00"}))
    noise = Image.frombytes("RGB", (900, 900), os.urandom(900 * 900 * 3))  # incompressible: ~2.4 MB
    out = io.BytesIO()
    noise.save(out, format="PNG", pnginfo=info, compress_level=1)
    big = out.getvalue()
    assert len(big) > 2 << 20
    r = client.post(IMPORT, data=big, headers={"Content-Type": "image/png"})
    assert r.status_code == 201, r.json
    assert _motions(r.json["data"]) == _motions(seq)
    elsewhere = client.post("/api/sequences", data=big, headers={"Content-Type": "application/json"})
    assert elsewhere.status_code == 413
    too_big = client.post(IMPORT, data=b"\x89PNG\r\n\x1a\n" + bytes(17 << 20), headers={"Content-Type": "image/png"})
    assert too_big.status_code == 413
