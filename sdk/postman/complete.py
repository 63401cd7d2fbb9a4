"""Turn openapi-to-postmanv2's collection into one that runs, in order, on a fresh server.

The converter gives one request per operation (URL, headers and their descriptions from
openapi.yaml) but placeholder bodies (`<string>`, faked values that change on every run) and no
tests. This keeps each converted request and, following scenario.yaml, sets the body, path
variables, headers, collection variables and `pm.test` assertions. Output is deterministic: ids
are derived from names, nothing random is kept.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
NAMESPACE = uuid.UUID("6f1d3c52-8a0e-4d57-9b0c-2a7f4e1b9c30")   # ids: uuid5(NAMESPACE, name)
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

# Runs after every request: the conventions every answer follows (DESIGN.md §3).
COLLECTION_TESTS = """\
pm.test('answers carry X-Request-ID and X-Process-Time', function () {
    pm.expect(pm.response.headers.has('X-Request-ID')).to.be.true;
    pm.expect(pm.response.headers.has('X-Process-Time')).to.be.true;
});
if (pm.response.code >= 400) {
    pm.test('errors are application/problem+json with an error_code', function () {
        pm.expect(pm.response.headers.get('Content-Type')).to.include('application/problem+json');
        pm.expect(pm.response.json().error_code).to.be.a('string');
    });
}"""


def _id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (METHOD, /path/{param}, operation)."""
    ops = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                ops[op["operationId"]] = (method.upper(), path, op)
    return ops


def _converted_requests(collection: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, /path/{param}) -> the converted item."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "item" in item:
                walk(item["item"])
            else:
                request = item["request"]
                path = "/" + "/".join("{" + p[1:] + "}" if p.startswith(":") else p for p in request["url"]["path"])
                found[(request["method"], path)] = item
    walk(collection["item"])
    return found


def _script(kind: str, lines: list[str]) -> dict[str, Any]:
    return {"listen": kind, "script": {"type": "text/javascript", "exec": lines}}


def _step_item(base: dict[str, Any], step: dict[str, Any], folder: str) -> dict[str, Any]:
    item = copy.deepcopy(base)
    item.pop("response", None)   # faked examples, different on every run; the spec documents them
    item.pop("id", None)
    request = item["request"]
    request.pop("name", None)
    item["name"] = step["name"]
    item["id"] = _id(folder, step["name"])

    # Path variables: the scenario's values; the converter's placeholders otherwise.
    values = {str(k): str(v) for k, v in (step.get("path") or {}).items()}
    for variable in request["url"].get("variable", []):
        if variable["key"] in values:
            variable["value"] = values.pop(variable["key"])
    if values:
        raise ValueError(f"{step['name']}: no path variable {sorted(values)}")

    # Query parameters: enable and set the ones the scenario gives.
    query = {str(k): str(v) for k, v in (step.get("query") or {}).items()}
    for param in request["url"].get("query", []):
        if param["key"] in query:
            param["value"] = query.pop(param["key"])
            param.pop("disabled", None)
    if query:
        raise ValueError(f"{step['name']}: no query parameter {sorted(query)}")

    # Headers: enable and set the scenario's; spec placeholders stay disabled.
    headers = {str(k): str(v) for k, v in (step.get("headers") or {}).items()}
    for header in request.get("header", []):
        if header["key"] in headers:
            header["value"] = headers.pop(header["key"])
            header.pop("disabled", None)
        elif header["key"] == "Accept":
            # JSON for success, problem+json for errors: accept both (DESIGN.md §3).
            header["value"] = "application/json, application/problem+json"
        elif header.get("value", "").startswith("<") or header["key"] in ("X-Request-ID", "Idempotency-Key", "If-Match"):
            header["disabled"] = True
    if headers:
        raise ValueError(f"{step['name']}: no header {sorted(headers)}")

    if "body" in step:
        request["body"] = {"mode": "raw", "raw": json.dumps(step["body"], indent=2, ensure_ascii=False),
                           "options": {"raw": {"language": "json"}}}
    else:
        request.pop("body", None)

    status = int(step["status"])
    tests = [f"pm.test('{status}', function () {{ pm.response.to.have.status({status}); }});",
             "const json = pm.response.json();"]
    for n, line in enumerate(step.get("tests") or [], 1):
        tests.append(f"pm.test({json.dumps(step['name'] + ' #' + str(n))}, function () {{ {line} }});")
    for variable, expression in (step.get("set") or {}).items():
        tests.append(f"pm.collectionVariables.set({json.dumps(variable)}, {expression});")
    item["event"] = [_script("test", tests)]
    if step.get("prerequest"):
        item["event"].insert(0, _script("prerequest", list(step["prerequest"])))
    return item


def _generic_item(base: dict[str, Any], op_id: str) -> dict[str, Any]:
    item = copy.deepcopy(base)
    item.pop("response", None)
    item["id"] = _id("unscenarioed", op_id)
    item["request"].pop("name", None)
    if "body" in item["request"]:   # the converter's faked body differs on every run
        item["request"]["body"] = {"mode": "raw", "raw": "{}", "options": {"raw": {"language": "json"}}}
    item["event"] = [_script("test", [
        "pm.test('answers without a server error', function () { pm.expect(pm.response.code).to.be.below(500); });"])]
    return item


def complete(raw: Path, spec_path: Path, out: Path) -> None:
    converted = json.loads(raw.read_text(encoding="utf-8"))
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    scenario = yaml.safe_load((HERE / "scenario.yaml").read_text(encoding="utf-8"))
    operations = _operations(spec)
    requests = _converted_requests(converted)
    missing = [op for op, (m, p, _) in operations.items() if (m, p) not in requests]
    if missing:
        raise ValueError(f"openapi-to-postmanv2 made no request for {missing}")

    folders, used = [], set()
    for folder in scenario["folders"]:
        items = []
        for step in folder["steps"]:
            if step["operation"] not in operations:
                raise ValueError(f"scenario.yaml: no operation {step['operation']} in openapi.yaml")
            method, path, _ = operations[step["operation"]]
            items.append(_step_item(requests[(method, path)], step, folder["name"]))
            used.add(step["operation"])
        folders.append({"id": _id(folder["name"]), "name": folder["name"], "item": items})
    rest = [op for op in operations if op not in used]
    if rest:
        folders.append({"id": _id("unscenarioed"), "name": "Not in the scenario yet (generic checks)",
                        "description": "Operations sdk/postman/scenario.yaml has no step for.",
                        "item": [_generic_item(requests[operations[op][:2]], op) for op in rest]})

    info = spec["info"]
    collection = {
        "info": {
            "_postman_id": _id("collection", info["title"]),
            "name": info["title"],
            "description": info.get("description", ""),
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "item": folders,
        "event": [_script("test", COLLECTION_TESTS.splitlines())],
        # Only a server started with --token checks it; others ignore the header.
        "auth": {"type": "bearer", "bearer": [{"key": "token", "value": "{{bearerToken}}", "type": "string"}]},
        "variable": [
            {"key": "baseUrl", "value": "http://127.0.0.1:8000", "type": "string",
             "description": "The server origin; requests are {{baseUrl}}/api/..."},
            {"key": "bearerToken", "value": "", "type": "string",
             "description": "Needed only when the server was started with --token"},
            {"key": "sequenceId", "value": "", "type": "string"},
            {"key": "generatedId", "value": "", "type": "string"},
            {"key": "etag", "value": "", "type": "string"},
            {"key": "createKey", "value": "", "type": "string"},
            {"key": "beatKey", "value": "", "type": "string"},
        ],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tka.postman_collection.json").write_text(
        json.dumps(collection, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    environment = {
        "id": _id("environment", "local"),
        "name": "tka local",
        "values": [
            {"key": "baseUrl", "value": "http://127.0.0.1:8000", "type": "default", "enabled": True},
            {"key": "bearerToken", "value": "", "type": "secret", "enabled": True},
        ],
        "_postman_variable_scope": "environment",
    }
    (out / "tka.postman_environment.json").write_text(
        json.dumps(environment, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
