"""Hostile input (issue 14, item 10), over every operation of the served spec and the event stream,
against a real ``tka serve`` (gunicorn, 2 workers, SQLite file):

a) schemathesis' coverage and fuzzing phases in negative mode (invalid values for every parameter
   and body) with every conformance check that holds;
b) hypothesis: hostile JSON texts (NaN, Infinity, 1e309, integers beyond 64 bits, lone surrogates in
   keys and values, nesting 33-5000 deep, huge strings, wrong types, unknown fields, null and empty
   bodies, invalid UTF-8 and garbage bytes, wrong media types) in the body of every operation, and
   hostile values in its query, header and path parameters;
c) a WebSocket frame fuzzer on /ws: each bad frame gets an ``error`` and the socket stays open;
   frames over the size limit close with 1009 and broken framing with 1002/1007 (RFC 6455), never 1011;
d) afterwards the SQLite file passes ``PRAGMA integrity_check``, ``/health`` answers 200 and the
   server logged no traceback.

No answer may be a 5xx; every refusal is problem+json with a bounded ``detail`` that quotes at most
64 characters of a value and names no file. The operations come from the served
``/api/openapi.json``, so a new operation is covered without touching this file. It also holds
what it found: /api/sequences/generate's other methods are 405, and what gunicorn refuses before
the app (414, 431, bytes that are not HTTP) is problem+json like every other refusal.
Runs are deterministic (hypothesis derandomized, schemathesis seeded). ``TKA_HOSTILE_EXAMPLES``
scales the hypothesis examples (default 80 per body operation) and
``TKA_HOSTILE_SCHEMATHESIS_EXAMPLES`` sets schemathesis' ``--max-examples`` (40).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import sqlite3
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, quote_from_bytes

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import jsontext
from app.events.config import StreamConfig
from tests.servers import ROOT, LiveServer
from tests.ws import Client, create_sequence, start

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("TKA_HOSTILE_EXAMPLES", "80"))
SCHEMATHESIS_EXAMPLES = os.environ.get("TKA_HOSTILE_SCHEMATHESIS_EXAMPLES", "40")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
TIMEOUT = 30
# Gunicorn refuses a request line over 4094 bytes itself (414, before the app): the fuzzers keep
# their URLs under it; test_refusals_gunicorn_makes_itself covers what is past it.
MAX_URL = 3800
MAX_FRAME = StreamConfig.from_env().max_message_bytes  # the server inherits this environment


def hypothesis_settings(examples: int) -> settings:
    return settings(max_examples=max(1, examples), deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


# -- the hostile material ------------------------------------------------------------------------
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1E+400", "2e308", "-123.456e789"]
BIG_INTEGERS = ["9223372036854775808", "-9223372036854775809", "18446744073709551616", "99999999999999999999",
                "1" + "0" * 40, "9" * 4301, "-" + "9" * 5000]
LONE_SURROGATES = ['"\\ud800"', '"\\udfff"', '"x\\udbff"', '"\\udc00\\ud800"', '"\\uDFFFabc"', '"a\\ud83d"']
WRONG_TYPES = ["null", "true", "false", "0", "-1", "1.5", "-0", "1e-400", '""', '" "', '"x"', "[]", "{}", "[null]",
               '{"": null}', '"\\u0000"', "[[[]]]", '"0"', '"true"', '"null"']
# What the strict reader refuses wherever it stands in a document.
REFUSED_ATOMS = NON_FINITE + BIG_INTEGERS + LONE_SURROGATES


def huge_string(n: int, char: str = "x") -> str:
    return '"' + char * n + '"'


def nested(depth: int, opener: str, leaf: str = "0") -> str:
    closer = "]" if opener == "[" else "}"
    return opener * depth + leaf + closer * depth


refused_atom = st.sampled_from(REFUSED_ATOMS)
deep = st.tuples(st.integers(33, 5_000), st.sampled_from(["[", '{"a":']), st.sampled_from(["0", "NaN", '"\\ud800"']))


def leaf_values(limit: int) -> st.SearchStrategy[str]:
    """Any JSON value text a client could send in a field, at most about ``limit`` characters:
    refused atoms, wrong types, huge strings and arrays, deep nesting, valid random strings and
    numbers."""
    huge = st.one_of(st.sampled_from([n for n in (300, 5_000, 70_000, 300_000) if 2 * n < limit]),
                     st.integers(256, min(20_000, limit // 2)))
    return st.one_of(
        refused_atom,
        st.sampled_from(WRONG_TYPES),
        huge.map(huge_string),
        huge.map(lambda n: huge_string(n, "\u00e9")),
        huge.map(lambda n: "[" + ",".join(["0"] * (n // 2)) + "]"),
        deep.map(lambda d: nested(*d)),
        st.text(max_size=40).map(json.dumps),
        st.integers(-(2**70), 2**70).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
    )


def hostile_values(limit: int) -> st.SearchStrategy[str]:
    """``leaf_values`` and small arrays and objects of them (at most 4 leaves)."""
    return st.recursive(
        leaf_values(limit // 4),
        lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
                                st.lists(st.tuples(st.text(max_size=8), inner), max_size=3).map(
                                    lambda kvs: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in kvs) + "}")),
        max_leaves=4)


BODY_LIMIT = 1_200_000  # a little past the server's 1 MiB: 413 is one of the answers
hostile_value = hostile_values(BODY_LIMIT)
hostile_key = st.one_of(st.sampled_from(LONE_SURROGATES),
                        st.sampled_from(['"unknown"', '""', '"__proto__"', '"\\u0000"', '"$ref"', "1", "null", "NaN"]),
                        st.integers(256, 70_000).map(huge_string), st.text(max_size=20).map(json.dumps))
garbage_bytes = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b" ", b"\xff\xfe", b"\xef\xbb\xbf{}", b'{"a":"\xc3\x28"}', b'{"a":"\xed\xa0\x80"}',
                     b"\x00" * 16, b"{" * 100_000, b'{"a":1}{"b":2}', b'{"a":1,}', b"{'a': 1}", b"[1,2", b'"\\x41"',
                     b"\x80abc", b"%7B%7D", b"a=1&b=2"]))
# JSON bodies mostly: what a hostile document meets first is the strict reader.
BODY_MEDIA_TYPES = ["application/json"] * 6 + [
    "application/json; charset=utf-8", "application/json; charset=utf-16", "application/json; charset=latin-1",
    "APPLICATION/JSON", "application/problem+json", "application/merge-patch+json", "text/json", "text/plain",
    "text/html", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz",
    "multipart/form-data", "application/octet-stream", "*/*", "application/*", "application", "json", ";", "",
    "application/json; charset=\u00ff", None]
QUERY_VALUES = ["99999999999999999999", "-99999999999999999999", "9223372036854775808", "1" + "0" * 400, "1e309",
                "NaN", "Infinity", "-Infinity", "-1", "0", "1.5", "0x10", "1_000", " 1", "+1", "", "true", "null", "[]",
                "{}", "%ED%A0%80", "%ED%B0%80abc", "%FF%FE", "%C3%28", "%00", "%0D%0A", "%", "%G1", "a" * 1000,
                "%E9" * 300]
HOSTILE_NAMES = ["unknown", "%FF", "%ED%A0%80", "", "page[]", "a" * 300, "%00", "__proto__", "q%3D1"]
HEADER_VALUES = ["99999999999999999999", "*", '"1"', 'W/"1"', '"1", W/"2", *', '"' * 64, '"\\ud800"', "NaN",
                 "\u00ff\u00fe", "a" * 256, "a" * 7000, "-", "null", "{}"]
PATH_VALUES = ["99999999999999999999", "9" * 19, "-1", "0", "+1", "1.5", "1e309", "NaN", "%ED%A0%80", "%FF%FE", "%00",
               "%2F", "a" * 3000, "%20", "\u00e9", "..", "00000000-0000-0000-0000-000000000000",
               "ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ"]


# -- the operations, from the served spec ------------------------------------------------------------
@dataclass
class Operation:
    method: str
    path: str
    params: dict[str, list[dict[str, Any]]]  # by location: path, query, header
    body_schema: dict[str, Any] | None
    body_required: bool
    body_types: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def names(self, where: str) -> list[str]:
        return [p["name"] for p in self.params.get(where, [])]


def resolve(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with its local ``$ref``s replaced by what they name."""
    assert depth < 64, "a $ref cycle in the served spec"
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return resolve(spec, target, depth + 1)
        return {k: resolve(spec, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(spec, v, depth + 1) for v in node]
    return node


def operations_of(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in spec["paths"].items():
        shared = resolve(spec, item.get("parameters", []))
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = resolve(spec, item[method])
            params: dict[str, list[dict[str, Any]]] = {}
            for param in [*shared, *op.get("parameters", [])]:
                params.setdefault(param["in"], []).append(param)
            body = op.get("requestBody")
            content = (body or {}).get("content", {})
            schema = content.get("application/json", {}).get("schema") if body else None
            found.append(Operation(method.upper(), path, params, schema, bool((body or {}).get("required")),
                                   list(content)))
    return found


def sample(schema: dict[str, Any]) -> Any:
    """A plausible value for ``schema`` (its example where it gives one): a valid-looking body for
    the hostile parts to stand in, so they reach the fields a handler reads."""
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("oneOf", "anyOf", "allOf"):
        if schema.get(key):
            return sample(schema[key][0])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {name: sample(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [sample(schema.get("items", {}))]
    return {"string": "x", "integer": 1, "number": 1.5, "boolean": True}.get(kind)


def places(doc: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in ``doc``: the root, each object member and each array item."""
    found = [at]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += places(value, (*at, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += places(value, (*at, i))
    return found


VALUE_MARK, KEY_MARK = "@@hostile-value@@", "@@hostile-key@@"


def with_hostile(doc: Any, at: tuple[Any, ...], *, value: str | None = None, key: str | None = None) -> str:
    """``doc`` as JSON text with the raw text ``value`` at ``at``, or the raw key ``key`` added to
    the object at ``at`` (or ``at``'s parent when it is no object)."""
    doc = json.loads(json.dumps(doc))
    if key is not None:
        target: Any = doc
        for part in at:
            if not isinstance(target[part], (dict, list)):
                break
            target = target[part]
        if not isinstance(target, dict):
            doc, target = {"wrapped": doc}, {}
            doc[KEY_MARK] = 0
        else:
            target[KEY_MARK] = 0
        return json.dumps(doc).replace(json.dumps(KEY_MARK), key, 1)
    if not at:
        return value  # type: ignore[return-value]
    target = doc
    for part in at[:-1]:
        target = target[part]
    target[at[-1]] = VALUE_MARK
    return json.dumps(doc).replace(json.dumps(VALUE_MARK), value, 1)  # type: ignore[arg-type]


def body_texts(base: Any) -> st.SearchStrategy[bytes]:
    spots = places(base)
    text = json.dumps(base)
    return st.one_of(
        st.tuples(st.sampled_from(spots), hostile_value).map(lambda s: with_hostile(base, s[0], value=s[1]).encode()),
        st.tuples(st.sampled_from(spots), hostile_key).map(lambda s: with_hostile(base, s[0], key=s[1]).encode()),
        hostile_value.map(str.encode),
        garbage_bytes,
        st.integers(0, len(text)).map(lambda i: text.encode()[:i] + b"\xff" + text.encode()[i:]),
        st.integers(0, len(text) - 1).map(lambda i: text[:i].encode()),  # cut short
        st.sampled_from([text.encode("utf-16"), text.encode("utf-32"), b"\xef\xbb\xbf" + text.encode(),
                         text.encode() + b" x", b"null", b"  null  "]),
    )


# -- what every answer must be ---------------------------------------------------------------------
_INTERNALS = re.compile(r'Traceback \(most recent call last\)|File "[^"]*", line \d+|site-packages|/app/(api|core|'
                        r'services|store|events)/|' + re.escape(str(ROOT)))
# 65 of one character: more than the 64 of a value a problem may quote (app/api/problems.py)
_LONG_RUN = re.compile(r"(.)\1{64}", re.DOTALL)


def describe(method: str, url: str, body: bytes | None, headers: dict[str, Any], response: requests.Response) -> str:
    shown = (body or b"")[:200]
    return (f"{method} {url[:300]} headers={ {k: str(v)[:80] for k, v in headers.items()} } body[{len(body or b'')}]="
            f"{shown!r} -> {response.status_code} {response.headers.get('Content-Type')} {response.text[:600]!r}")


def check_answer(method: str, url: str, response: requests.Response, body: bytes | None = None,
                 headers: dict[str, Any] | None = None) -> None:
    what = describe(method, url, body, headers or {}, response)
    assert response.status_code < 500, what
    text = response.text
    assert not _INTERNALS.search(text), what
    if response.status_code < 400:
        return
    assert response.headers.get("Content-Type", "").split(";")[0] == "application/problem+json", what
    problem = response.json()
    assert isinstance(problem, dict), what
    assert isinstance(problem.get("title"), str) and problem["title"], what
    assert problem.get("status") == response.status_code, what
    assert isinstance(problem.get("detail"), str) and len(problem["detail"]) <= 301, what
    for error in problem.get("errors") or []:
        assert len(error["field"]) <= 65 and len(error["message"]) <= 301, what
    # What the client sent is quoted, 64 characters at most; ``instance`` is the path as sent
    # (gunicorn caps the request line at 4094 bytes).
    quoted = [problem["detail"], *(e[k] for e in problem.get("errors") or [] for k in ("field", "message"))]
    assert not any(_LONG_RUN.search(part) for part in quoted), what
    assert len(text) <= 16_384, what


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec(live_server: LiveServer) -> dict[str, Any]:
    r = requests.get(f"{live_server.url}/api/openapi.json", timeout=TIMEOUT)
    assert r.status_code == 200, r.text[:300]
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def operations(spec: dict[str, Any]) -> list[Operation]:
    ops = operations_of(spec)
    # The served document is openapi.yaml: every operation of the file is fuzzed.
    declared = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert {str(op) for op in ops} == {str(op) for op in operations_of(declared)}
    return ops


class Target:
    """A sequence with beats for the path parameters to name, made again when a fuzzed request
    deleted it (DELETE, an undo that an accepted body asked for)."""

    def __init__(self, server: LiveServer) -> None:
        self.server, self.sequence_id = server, ""
        self.ensure()

    def ensure(self) -> None:
        base = self.server.url
        if self.sequence_id:
            r = requests.get(f"{base}/api/sequences/{self.sequence_id}", timeout=TIMEOUT)
            if r.status_code == 200 and r.json()["data"]["length"] >= 2:
                return
        r = requests.post(f"{base}/api/sequences", json={"name": "Hostile target", "start_position": "alpha1"},
                          timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        self.sequence_id = r.json()["data"]["id"]
        for letter in "AB":
            r = requests.post(f"{base}/api/sequences/{self.sequence_id}/beats", json={"beat": {"letter": letter}},
                              timeout=TIMEOUT)
            assert r.status_code == 201, r.text

    def path_of(self, op: Operation, override: dict[str, str] | None = None) -> str:
        """``op``'s path with its parameters filled: the target's id, else the spec's example."""
        path = op.path
        for param in op.params.get("path", []):
            name = param["name"]
            if override and name in override:
                value = override[name]
            elif name == "sequence_id":
                value = self.sequence_id
            else:
                value = str(param.get("example", param.get("schema", {}).get("example", 1)))
            path = path.replace("{" + name + "}", value)
        return path


@pytest.fixture(scope="module")
def target(live_server: LiveServer) -> Target:
    return Target(live_server)


def send(server: LiveServer, method: str, path: str, *, query: str = "", body: bytes | None = None,
         headers: dict[str, Any] | None = None) -> tuple[str, requests.Response]:
    url = f"{server.url}{path}" + (f"?{query}" if query else "")
    prepared = requests.Request(method, url, data=body, headers=headers or {}).prepare()
    prepared.url = url  # as built: requests would re-quote a stray '%'
    with requests.Session() as session:
        return url, session.send(prepared, timeout=TIMEOUT, allow_redirects=False)


# -- a) schemathesis ---------------------------------------------------------------------------------
# Loaded into `st run` (SCHEMATHESIS_HOOKS). Each adjustment has a reason stated here:
# - before_call: an Idempotency-Key names one request (openapi.yaml, IdempotencyKey): sent again with
#   another body, or to another operation, it is 422 `idempotency_key_reused`, as documented.
#   schemathesis sends one key value (the spec's example, or the same generated one) on many POSTs,
#   so a schema-valid undo after a create with that key is 422 and `positive_data_acceptance` flags it.
#   A key that is valid (1-255 characters) is replaced by a fresh one per call, which is how the
#   spec says clients use it; keys schemathesis made invalid on purpose are sent as made.
# - filter_failure: a request line over 4094 bytes (or a header over 8190) is refused by gunicorn
#   itself, before any operation is known, with 414/431 (problem+json, app/workers.py), which no
#   operation of openapi.yaml lists (ST103) and negative_data_rejection does not expect (ST201):
#   only those two statuses are dropped; test_refusals_gunicorn_makes_itself_are_problem_json
#   checks them. (Seed 1 makes no such URL; other seeds do.)
HOOKS = '''
import uuid

import schemathesis


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and 1 <= len(key) <= 255:
        headers["Idempotency-Key"] = str(uuid.uuid4())


@schemathesis.hook
def filter_failure(context, failure, case, response):
    return response.status_code not in (414, 431)
'''
# Every check schemathesis has, but:
# - use_after_free, ensure_resource_availability: need the stateful phase's links between
#   operations, which a negative run does not generate (they would pass without testing anything);
# - ignored_auth: the server runs without a token on loopback (openapi.yaml: no credentials needed),
#   so there is no auth to ignore; test_security.py covers the token;
# - object_level_authorization: a single-user desktop API, no objects of another user exist.
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,negative_data_rejection,positive_data_acceptance,missing_required_header,"
          "unsupported_method,allow_header_conformance")


def schemathesis_argv(server: LiveServer, report_dir: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("st")), "run", f"{server.url}/api/openapi.json",
            # coverage: boundary and type-violating values for every parameter, body, header and
            # method; fuzzing: random invalid data. negative: invalid inputs are generated (a case
            # whose mutation came out valid is sent too, and positive_data_acceptance checks it).
            "--phases", "coverage,fuzzing", "--mode", "negative", "--checks", CHECKS,
            "--max-examples", SCHEMATHESIS_EXAMPLES, "--seed", "1", "--generation-database", "none",
            "--no-color", "--report-dir", str(report_dir)]


def test_schemathesis_negative_and_coverage_phases_over_every_operation(live_server, operations, tmp_path):
    hooks = tmp_path / "hostile_hooks.py"
    hooks.write_text(HOOKS)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(hooks)}
    done = subprocess.run(schemathesis_argv(live_server, tmp_path), cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env=env)
    summary = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, summary
    n = len(operations)
    assert f"Selected: {n}/{n}" in summary and f"Tested: {n}" in summary, summary
    assert "failed" not in done.stdout.split("SUMMARY")[-1].lower(), summary


# -- b) hypothesis over HTTP -------------------------------------------------------------------------
def run_per_operation(ops: list[Operation], check: Callable[[Operation], None]) -> None:
    """``check`` for each operation; every operation's failure reported, not only the first."""
    failures = []
    for op in ops:
        try:
            check(op)
        except AssertionError as exc:
            failures.append(f"{op}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)


def test_hostile_bodies_on_every_operation(live_server, operations, target):
    """Every operation that takes a body gets hostile documents and bytes in many media types;
    one that takes none gets them too (fewer), and must ignore or refuse them."""

    def check(op: Operation) -> None:
        base = sample(op.body_schema) if op.body_schema else {"unexpected": "body"}

        @hypothesis_settings(EXAMPLES if op.body_schema else EXAMPLES // 5)
        @given(body=body_texts(base), media_type=st.sampled_from(BODY_MEDIA_TYPES))
        def hostile_body(body: bytes, media_type: str | None) -> None:
            target.ensure()
            headers = {} if media_type is None else {"Content-Type": media_type}
            url, response = send(live_server, op.method, target.path_of(op), body=body, headers=headers)
            check_answer(op.method, url, response, body, headers)
            if op.body_schema and response.status_code < 400 and body:
                # What was accepted was a document the operation takes: JSON, and nothing the
                # strict reader refuses (an empty body is no body: undo and redo take none).
                what = describe(op.method, url, body, headers, response)
                assert media_type and media_type.split(";")[0].strip().lower() in op.body_types, what
                try:
                    jsontext.loads(body)
                except jsontext.JSONRefused as exc:
                    raise AssertionError(f"accepted what the strict reader refuses ({exc.rule}): {what}") from None

        hostile_body()

    run_per_operation(operations, check)


def test_hostile_query_parameters_on_every_operation(live_server, operations, target):
    def check(op: Operation) -> None:
        names = op.names("query")
        base = json.dumps(sample(op.body_schema)).encode() if op.body_schema else None
        name = st.one_of(st.sampled_from(names), st.sampled_from(HOSTILE_NAMES)) if names else \
            st.sampled_from(HOSTILE_NAMES)
        value = st.one_of(st.sampled_from(QUERY_VALUES), st.text(max_size=30).map(lambda t: quote(t, safe="")),
                          st.binary(max_size=30).map(lambda b: quote_from_bytes(b, safe="")),
                          st.integers(20, 1_200).map(lambda n: "9" * n))

        @hypothesis_settings(EXAMPLES // 2 if names else EXAMPLES // 8)
        @given(pairs=st.lists(st.tuples(name, value), min_size=1, max_size=3))
        def hostile_query(pairs: list[tuple[str, str]]) -> None:
            target.ensure()
            query = "&".join(f"{k}={v}" for k, v in pairs)[:MAX_URL - len(op.path) - 100]
            headers = {"Content-Type": "application/json"} if base is not None else {}
            url, response = send(live_server, op.method, target.path_of(op), query=query, body=base, headers=headers)
            check_answer(op.method, url, response, base, headers)

        hostile_query()

    run_per_operation(operations, check)


def test_hostile_header_parameters_on_every_operation(live_server, operations, target):
    def check(op: Operation) -> None:
        names = op.names("header")
        if not names:
            return
        base = json.dumps(sample(op.body_schema)).encode() if op.body_schema else None
        printable = st.binary(min_size=1, max_size=300).map(lambda b: bytes(c for c in b if c > 0x20 and c != 0x7F))
        value = st.one_of(st.sampled_from(HEADER_VALUES).map(lambda v: v.encode("latin-1", "replace")),
                          printable.filter(bool), st.integers(100, 7_000).map(lambda n: b"9" * n))

        @hypothesis_settings(EXAMPLES // 4)
        @given(headers=st.dictionaries(st.sampled_from(names), value, min_size=1))
        def hostile_headers(headers: dict[str, bytes]) -> None:
            target.ensure()
            sent: dict[str, Any] = {**headers, **({"Content-Type": "application/json"} if base is not None else {})}
            url, response = send(live_server, op.method, target.path_of(op), body=base, headers=sent)
            check_answer(op.method, url, response, base, sent)

        hostile_headers()

    run_per_operation(operations, check)


def test_hostile_path_parameters_on_every_operation(live_server, operations, target):
    def check(op: Operation) -> None:
        base = json.dumps(sample(op.body_schema)).encode() if op.body_schema else None
        headers = {"Content-Type": "application/json"} if base is not None else {}
        for name, value in itertools.product(op.names("path"), PATH_VALUES):
            target.ensure()
            url, response = send(live_server, op.method, target.path_of(op, {name: value}), body=base,
                                 headers=headers)
            check_answer(op.method, url, response, base, headers)

    run_per_operation(operations, check)


def test_the_listed_classes_each_once_on_every_body(live_server, operations, target):
    """The classes issue 14 names, each sent as it is written there, in each field of each body:
    all refused with 400 naming the strict reader's rule (or the body's type, for null)."""
    rules = {**dict.fromkeys(NON_FINITE, "number"), **dict.fromkeys(BIG_INTEGERS, "integer"),
             **dict.fromkeys(LONE_SURROGATES, "surrogate"), nested(1000, "["): "depth",
             nested(1000, '{"a":'): "depth"}
    failures = []
    for op in (op for op in operations if op.body_schema):
        base = sample(op.body_schema)
        cases = [(raw, rule, with_hostile(base, spot, value=raw))
                 for spot in places(base) for raw, rule in rules.items()]
        cases += [(raw, "surrogate", with_hostile(base, (), key=raw)) for raw in LONE_SURROGATES]
        cases += [("null", "type", "null")]
        for raw, rule, text in cases:
            target.ensure()
            url, response = send(live_server, op.method, target.path_of(op), body=text.encode(),
                                 headers={"Content-Type": "application/json"})
            check_answer(op.method, url, response, text.encode())
            errors = (response.json().get("errors") or [{}]) if response.status_code == 400 else [{}]
            if response.status_code != 400 or errors[0].get("rule") != rule:
                failures.append(f"{op} {raw[:40]!r}: {response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures[:40])


# -- c) the WebSocket frame fuzzer ------------------------------------------------------------------
VALID_REPLIES = {"pong", "stats", "filters_updated", "resumed"}
MESSAGE_TYPES = ["ping", "get_stats", "set_filters", "resume", "auth"]
_counter = itertools.count()


def exchange(client: Client, send_frame: Callable[[], None]) -> list[dict[str, Any]]:
    """What the server answered to one frame: every message (but events and store notices) before
    the pong to a ping sent right after it."""
    send_frame()
    mark = f"mark-{next(_counter)}"
    client.send({"type": "ping", "id": mark})
    replies = []
    while True:
        message = client.recv(15)
        if message["type"] in ("event", "store_status"):
            continue
        if message["type"] == "pong" and message.get("id") == mark:
            return replies
        replies.append(message)


def acceptable(text: str) -> bool:
    """Whether ``text`` is a message the server may act on (not answer with ``error``)."""
    try:
        body = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, RecursionError):
        return False
    return isinstance(body, dict) and body.get("type") in MESSAGE_TYPES


def check_refused(replies: list[dict[str, Any]], frame: Any) -> None:
    shown = repr(frame)[:300]
    assert len(replies) == 1 and replies[0]["type"] == "error", f"{shown} -> {replies}"
    error = replies[0]
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), f"{shown} -> {error}"
    # app/events/protocol.py quotes up to 70 characters of a filter item, 40 of a type
    assert len(error["message"]) <= 300 and not re.search(r"(.)\1{70}", json.dumps(error)), f"{shown} -> {error}"


def check_answered(replies: list[dict[str, Any]], text: str) -> None:
    if not acceptable(text):
        check_refused(replies, text)
    else:
        assert len(replies) == 1 and replies[0]["type"] in VALID_REPLIES | {"error"}, f"{text[:300]!r} -> {replies}"


def frame_with(kind: str, field_name: str, raw: str) -> str:
    return '{"type":' + json.dumps(kind) + "," + json.dumps(field_name) + ":" + raw + "}"


# Frames the issue names, each refused with an error and the socket kept.
FIXED_FRAMES: list[str | bytes] = [
    '{"type":"resume","since":9223372036854775808}', '{"type":"resume","since":-9223372036854775809}',
    '{"type":"resume","since":9007199254740992}', '{"type":"resume","since":-1}', '{"type":"resume","since":1.0}',
    '{"type":"resume","since":"1"}', '{"type":"resume","since":null}', '{"type":"resume","since":true}',
    '{"type":"resume","since":NaN}', '{"type":"resume","since":1e309}', '{"type":"resume"}',
    '{"type":"set_filters","event_types":"sequence.*"}', '{"type":"set_filters","event_types":[1]}',
    '{"type":"set_filters","sequence_ids":[18446744073709551616]}', '{"type":"set_filters","event_types":[[["a"]]]}',
    '{"type":"set_filters","event_types":["A"]}', '{"type":"set_filters","sequence_ids":["' + "a" * 65 + '"]}',
    '{"type":"set_filters","sequence_ids":[' + ",".join(['"x"'] * 101) + "]}",
    '{"type":"set_filters","event_types":{"a":1}}', '{"type":"auth","token":123}', '{"type":"auth"}',
    '{"type":"auth","token":"x"}', '{"type":1}', '{"type":null}', '{"type":"PING"}', '{"type":"ping\\u0000"}',
    '{"type":"unknown"}', '{"type":"' + "x" * 60_000 + '"}', '{"type":"\\ud800"}', '{"\\udc00":1,"type":"ping"}',
    '{"type":"ping","id":1.5}', '{"type":"ping","id":true}', '{"type":"ping","id":{"a":1}}', '{"type":"ping","id":[]}',
    '{"type":"ping","id":"' + "i" * 65 + '"}', '{"type":"ping","id":99999999999999999999}', '{"id":1}', "{}",
    "null", "[]", '"ping"', "1", "", " ", "ping", "{", '{"type":"ping"} x', "\ufeff{\"type\":\"ping\"}",
    "{'type': 'ping'}", nested(1000, "["), nested(1000, '{"type":"ping","a":'), nested(33, "["),
    "[" + ",".join(["0"] * 20_000) + "]", b"\xff\xfe", b'{"type":"ping"}', b"", b"\x00" * 1000,
]


def test_the_socket_refuses_each_hostile_frame_and_stays_open(live_server):
    client = Client(live_server)
    try:
        for frame in FIXED_FRAMES:
            if isinstance(frame, bytes):
                replies = exchange(client, lambda f=frame: client.ws.send_binary(f))
                check_refused(replies, frame)
                assert replies[0]["code"] == "unsupported_data", replies
            else:
                check_refused(exchange(client, lambda f=frame: client.send(f)), frame)

        refused_frame = st.tuples(st.sampled_from(MESSAGE_TYPES + ["x"]),
                                  st.sampled_from(["since", "id", "event_types", "sequence_ids", "token", "type",
                                                   "extra", "\u00e9"]),
                                  st.one_of(refused_atom, deep.map(lambda d: nested(min(d[0], 3_000), d[1], d[2])))
                                  ).map(lambda t: frame_with(*t))
        any_frame = st.one_of(
            st.tuples(st.sampled_from(MESSAGE_TYPES), st.sampled_from(["since", "id", "event_types", "sequence_ids",
                                                                         "token", "extra"]),
                      leaf_values(MAX_FRAME - 100)).map(lambda t: frame_with(*t)),
            st.text(max_size=200),
            hostile_values(MAX_FRAME - 100),
        )

        @hypothesis_settings(EXAMPLES * 2)
        @given(frame=refused_frame)
        def refused(frame: str) -> None:
            check_refused(exchange(client, lambda: client.send(frame)), frame)

        @hypothesis_settings(EXAMPLES * 3)
        @given(frame=any_frame)
        def answered(frame: str) -> None:
            check_answered(exchange(client, lambda: client.send(frame)), frame)

        @hypothesis_settings(EXAMPLES // 2)
        @given(frame=st.binary(max_size=2_000))
        def binary(frame: bytes) -> None:
            check_refused(exchange(client, lambda: client.ws.send_binary(frame)), frame)

        refused()
        answered()
        binary()
        # Still the same socket, and it still works.
        assert exchange(client, lambda: client.send({"type": "ping", "id": "after"}))[0]["type"] == "pong"
    finally:
        client.close()


def masked(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True,
           length: int | None = None) -> bytes:
    """One client frame as RFC 6455 5.2 lays it out, rules broken on request."""
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    bit = 0x80 if mask else 0
    if n < 126:
        head = bytes((first, bit | n))
    elif n < 1 << 16:
        head = bytes((first, bit | 126)) + struct.pack(">H", n)
    else:
        head = bytes((first, bit | 127)) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = b"\x5a\x17\xc3\x01"
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


PING = b'{"type":"ping","id":"raw"}'
ACUTE = '{"type":"ping","id":"\u00e9"}'.encode()  # the \u00e9 is bytes -4 and -3
# (what, bytes written after the handshake, the close codes RFC 6455 allows for it)
RAW_FRAMES = [
    ("text over the size limit", masked(1, b'"' + b"x" * MAX_FRAME + b'"'), {1009}),
    ("binary over the size limit", masked(2, b"\x00" * (MAX_FRAME + 1)), {1009}),
    ("fragments adding up past the limit",
     b"".join(masked(1 if i == 0 else 0, b"x" * (MAX_FRAME // 4), fin=False) for i in range(6)), {1009}),
    ("a 2**63-1 byte frame, then data", masked(1, b"x" * (MAX_FRAME + 10), length=2**63 - 1), {1009}),
    ("invalid UTF-8 in a text frame", masked(1, b'{"type":"\xff"}'), {1007}),
    ("a lone surrogate encoded in UTF-8", masked(1, b'{"type":"\xed\xa0\x80"}'), {1007}),
    ("invalid UTF-8 across fragments", masked(1, b'{"type":"\xc3', fin=False) + masked(0, b'("}'), {1007}),
    ("reserved opcode 3", masked(3, b"abc"), {1002}),
    ("reserved opcode 0xB", masked(0xB, b"abc"), {1002}),
    ("RSV1 set without an extension", masked(1, PING, rsv=4), {1002}),
    ("an unmasked client frame", masked(1, PING, mask=False), {1002}),
    ("a control frame over 125 bytes", masked(9, b"x" * 200), {1002}),
    ("a fragmented control frame", masked(9, b"x", fin=False), {1002}),
    ("a continuation with nothing to continue", masked(0, PING), {1002}),
    ("a new text frame amid a fragmented one", masked(1, b"{", fin=False) + masked(1, PING), {1002}),
    ("a close with code 999", masked(8, struct.pack(">H", 999)), {1002}),
    ("a close with a 1-byte body", masked(8, b"\x03"), {1002}),
    ("a close with an invalid UTF-8 reason", masked(8, struct.pack(">H", 1000) + b"\xff"), {1007}),
]


@pytest.mark.parametrize("what,raw,codes", RAW_FRAMES, ids=[r[0] for r in RAW_FRAMES])
def test_broken_framing_closes_with_the_rfc_6455_code_never_1011(live_server, what, raw, codes):
    client = Client(live_server)
    try:
        client.ws.sock.sendall(raw)
        closed = client.closed()
        assert closed.code in codes and closed.code != 1011, f"{what}: {closed.code} {closed.reason!r}"
        assert len(closed.reason) <= 123
    finally:
        client.close()


def test_fragmented_and_interleaved_frames_are_read_whole(live_server):
    client = Client(live_server)
    try:
        for raw in [masked(1, PING[:5], fin=False) + masked(9, b"p") + masked(0, PING[5:]),
                    masked(1, ACUTE[:-3], fin=False) + masked(0, ACUTE[-3:])]:  # splits the \u00e9
            client.ws.sock.sendall(raw)
            assert client.recv()["type"] == "pong"
    finally:
        client.close()


UPGRADES = ["/ws?since=99999999999999999999", "/ws?since=-1", "/ws?since=1e309", "/ws?since=NaN",
            "/ws?since=9007199254740992", "/ws?since=%ED%A0%80", "/ws?since=" + "9" * 3000, "/ws?event_type=%FF",
            "/ws?event_type=A", "/ws?event_type=" + "A" * 3000, "/ws?sequence_id=%00", "/ws?sequence_id=" + "a" * 65,
            "/ws/" + "c" * 65, "/ws/%ED%A0%80", "/ws/a%20b", "/ws/a%2Fb", "/ws/%FF"]


@pytest.mark.parametrize("path", UPGRADES, ids=lambda p: p[:40])
def test_a_hostile_upgrade_is_a_problem_not_a_socket(live_server, path):
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Version": "13"}
    url, response = send(live_server, "GET", path, headers=headers)
    check_answer("GET", url, response, None, headers)
    assert response.status_code in (400, 404), describe("GET", url, None, headers, response)


def test_after_the_barrage_the_stream_still_works(live_server):
    client = Client(live_server)
    try:
        client.send({"type": "set_filters", "event_types": ["sequence.created"], "id": "f"})
        assert client.recv()["type"] == "filters_updated"
        client.send({"type": "ping", "id": "p"})
        assert client.recv()["type"] == "pong"
        created = create_sequence(live_server, "After the barrage")
        [event] = client.events(1)
        assert event["event_type"] == "sequence.created" and event["sequence_id"] == created["id"], event
    finally:
        client.close()


# -- routing, and what gunicorn refuses before the app (both found by this file) ----------------------
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_a_method_a_concrete_path_lacks_is_405(live_server, method):
    """OpenAPI 3: concrete paths match before templated ones, so /api/sequences/generate (POST only)
    answers other methods 405 with ``Allow: POST`` (OPTIONS: 200 with it); 'generate' is no sequence id."""
    url, response = send(live_server, method, "/api/sequences/generate", body=b"{}",
                         headers={"Content-Type": "application/json"})
    check_answer(method, url, response)
    allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
    assert response.status_code == (200 if method == "OPTIONS" else 405), response.text
    assert "POST" in allowed and not allowed & {"GET", "PUT", "DELETE"}, allowed


def raw_http(server: LiveServer, data: bytes) -> tuple[int, str, bytes]:
    """Status, Content-Type and body of the answer to ``data``, written as is, then the end of input."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # a body that promised more ends here
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    return int(lines[0].split()[1]), headers.get("content-type", ""), body


HOST = b"Host: 127.0.0.1\r\n"
# Requests gunicorn refuses before the app sees them: its own error page, text/html.
GUNICORN_REFUSALS = [
    ("a request line over 4094 bytes", b"GET /api/status?" + b"a" * 5000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
    ("a header over 8190 bytes", b"GET /api/status HTTP/1.1\r\n" + HOST + b"X-Request-ID: " + b"a" * 9000 + b"\r\n\r\n",
     431),
    ("more than 100 headers", b"GET /api/status HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: 1\r\n" % i for i in range(120))
     + b"\r\n", 431),
    ("a NUL in a header", b"GET /api/status HTTP/1.1\r\n" + HOST + b"X-A: a\x00b\r\n\r\n", 400),
    ("a header line without a colon", b"GET /api/status HTTP/1.1\r\n" + HOST + b"Foo\r\n\r\n", 400),
    ("an invalid method", b"G\x01T /api/status HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    ("invalid UTF-8 in the raw path", b"GET /api/sequences/\xff\xfe HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    ("a Content-Length that is no number", b"POST /api/sequences HTTP/1.1\r\n" + HOST +
     b"Content-Type: application/json\r\nContent-Length: abc\r\n\r\n", 400),
    ("a transfer coding gunicorn does not know", b"POST /api/sequences HTTP/1.1\r\n" + HOST +
     b"Content-Type: application/json\r\nTransfer-Encoding: br\r\n\r\n", 501),
    ("Content-Length beside Transfer-Encoding", b"POST /api/sequences HTTP/1.1\r\n" + HOST +
     b"Content-Type: application/json\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
]


@pytest.mark.parametrize("what,raw,status", GUNICORN_REFUSALS, ids=[r[0] for r in GUNICORN_REFUSALS])
def test_refusals_gunicorn_makes_itself_are_problem_json(live_server, what, raw, status):
    """gunicorn decides these before the app (app/workers.py): problem+json all the same."""
    code, ctype, body = raw_http(live_server, raw)
    assert code == status and len(body) < 2_000 and not _LONG_RUN.search(body.decode("latin-1")), (what, code, body)
    problem = json.loads(body)
    assert ctype == "application/problem+json" and problem["status"] == code == status, (what, ctype, body)
    assert problem["error_code"] and problem["request_id"] and problem["detail"], problem


def test_the_gthread_worker_refuses_as_problem_json_too(tmp_path_factory):
    server = start(tmp_path_factory, "gthread-refusals", workers=1, extra_args=["--worker-class", "gthread"])
    try:
        what, raw, status = GUNICORN_REFUSALS[0]
        code, ctype, body = raw_http(server, raw)
        assert (code, ctype, json.loads(body)["status"]) == (status, "application/problem+json", status), body
    finally:
        server.stop()


def test_a_malformed_chunked_body_is_400_not_500(live_server):
    for chunks in [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"2;\r\r\n{}\r\n0\r\n\r\n",
                   b"-2\r\n{}\r\n0\r\n\r\n", b"fffffffffffffffffff\r\n{}\r\n0\r\n\r\n", b"5\r\n{}"]:
        raw = (b"POST /api/sequences HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
        code, ctype, body = raw_http(live_server, raw)
        assert code == 400 and ctype == "application/problem+json", (chunks, code, ctype, body[:300])


# -- d) afterwards -----------------------------------------------------------------------------------
def test_the_database_and_the_server_are_intact_afterwards(live_server):
    db = live_server.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    health = requests.get(f"{live_server.url}/health", timeout=TIMEOUT)
    assert health.status_code == 200 and health.json()["status"] in ("pass", "warn"), health.text
    assert requests.get(f"{live_server.url}/api/sequences", timeout=TIMEOUT).status_code == 200
    log = live_server.log_path.read_text(errors="replace") if live_server.log_path else ""
    assert "Traceback" not in log and "unhandled error" not in log, log[-4000:]
