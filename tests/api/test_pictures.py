"""The ``pictures`` operations through the real app (responses validated against the spec), and
the PNG from a real gunicorn server opened by Pillow as any image viewer would."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
import requests
from PIL import Image

from app.pictures import RENDERER_REVISION

SVG_NS = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _beats(root: ET.Element) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG_NS}g") if el.get("class") == "beat"]


@pytest.fixture
def seq(client):
    created = client.post("/api/sequences/generate", json={"name": "Pictured", "length": 5, "level": 3, "seed": 7})
    assert created.status_code == 201
    seq = created.json["data"]
    updated = client.put(f"/api/sequences/{seq['id']}", json={"metadata": {"author": "Ana"}})
    assert updated.status_code == 200
    return updated.json["data"]


def test_the_sheet_as_svg_with_an_etag_and_304(client, seq):
    url = f"/api/sequences/{seq['id']}/image.svg"
    r = client.get(url)
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert r.headers["ETag"] == f'"{seq["version"]}-p{RENDERER_REVISION}"' and r.headers["Cache-Control"] == "no-cache"
    root = ET.fromstring(r.data)
    assert [b.get("data-letter") for b in _beats(root)] == [b["letter"] for b in seq["beats"]]
    assert root.get("width") == str(5 * 160)  # start column + 4 beat columns, 160 px each by default
    assert [el.text for el in root.iter() if el.get("class") == "word"] == [seq["word"]]
    assert "by Ana" in "".join(el.text or "" for el in root.iter() if el.get("class") == "info")

    again = client.get(url, headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == r.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": f'"0", W/{r.headers["ETag"]}'}).status_code == 304  # weak compare
    assert client.get(url, headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"1-p0"'}).status_code == 200

    removed = client.delete(f"/api/sequences/{seq['id']}/beats/5")  # any change: a new version, a new tag
    assert removed.status_code == 200
    changed = client.get(url, headers={"If-None-Match": r.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != r.headers["ETag"]
    assert len(_beats(ET.fromstring(changed.data))) == 4


def test_size_is_bounded_and_scales_the_picture(client, seq):
    url = f"/api/sequences/{seq['id']}/image.svg"
    assert ET.fromstring(client.get(url + "?size=64").data).get("width") == str(5 * 64)
    for bad in ("10", "321", "big", "1e3"):
        r = client.get(f"{url}?size={bad}")
        assert r.status_code == 400 and r.mimetype == "application/problem+json", bad
        assert r.json["errors"][0]["field"] == "size"
    beat = f"/api/sequences/{seq['id']}/beats/1/image.svg"
    assert ET.fromstring(client.get(beat + "?size=1024").data).get("width") == "1024"
    assert client.get(beat + "?size=1025").status_code == 400


def test_one_beat_and_the_start_tile(client, seq):
    base = f"/api/sequences/{seq['id']}/beats"
    one = client.get(f"{base}/2/image.svg")
    assert one.status_code == 200 and one.mimetype == "image/svg+xml"
    root = ET.fromstring(one.data)
    (tile,) = _beats(root)
    assert tile.find(f"{SVG_NS}title").text == f"Beat 2: {seq['beats'][1]['letter']}"
    start = ET.fromstring(client.get(f"{base}/0/image.svg").data)
    assert [el.get("class") for el in start.iter(f"{SVG_NS}g") if el.get("data-beat") == "0"] == ["start"]
    missing = client.get(f"{base}/6/image.svg")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert client.get(f"{base}/65/image.svg").status_code == 400
    assert client.get("/api/sequences/00000000-0000-4000-8000-000000000000/image.svg").status_code == 404


def test_accept_and_bad_if_none_match(client, seq):
    url = f"/api/sequences/{seq['id']}/image.svg"
    assert client.get(url, headers={"Accept": "image/*"}).status_code == 200
    refused = client.get(url, headers={"Accept": "application/json"})
    assert refused.status_code == 406 and refused.mimetype == "application/problem+json"
    bad = client.get(url, headers={"If-None-Match": "3-p1"})  # not quoted
    assert bad.status_code == 400 and bad.json["errors"][0]["field"] == "If-None-Match"


def test_the_png_carries_the_sequence_in_its_metadata_chunk(live_server):
    base = live_server.url
    created = requests.post(f"{base}/api/sequences/generate", json={"name": "Png", "length": 6, "level": 3}, timeout=10)
    seq = created.json()["data"]
    r = requests.get(f"{base}/api/sequences/{seq['id']}/image.png?size=100", timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.content.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.size[0] == 5 * 100 and image.size[1] > 2 * 100
    metadata = json.loads(image.text["metadata"])
    assert metadata["date_added"] == seq["updated_at"]
    header, start, *beats = metadata["sequence"]
    assert header["word"] == seq["word"] and header["grid_mode"] == "diamond" and header["level"] == seq["level"]
    assert start["beat"] == 0 and start["end_pos"] == seq["start_position"]
    assert [b["letter"] for b in beats] == [b["letter"] for b in seq["beats"]]
    for entry, beat in zip(beats, seq["beats"], strict=True):
        for colour in ("blue", "red"):
            motion, attributes = dict(beat[f"{colour}_motion"]), entry[f"{colour}_attributes"]
            if motion["turns"] is None:  # the API's float (turns null) is the files' "fl"
                motion["turns"] = "fl"
            assert {k: attributes[k] for k in ("motion_type", "start_loc", "end_loc", "start_ori", "end_ori",
                                                "prop_rot_dir", "turns")} == \
                   {k: motion[k] for k in ("motion_type", "start_loc", "end_loc", "start_ori", "end_ori",
                                           "prop_rot_dir", "turns")}
    # drawn, not blank: the blue and red of the hands are both in the picture
    colours = {colour for _count, colour in image.convert("RGB").getcolors(maxcolors=1 << 20)}
    assert (0x2E, 0x31, 0x92) in colours and (0xED, 0x1C, 0x24) in colours
    cached = requests.get(r.url, headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
    assert cached.status_code == 304 and cached.content == b"" and "X-Process-Time" in cached.headers
