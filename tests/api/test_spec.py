"""openapi.yaml is the single source of truth: the server routes by it and the SDKs are generated
from it. These checks keep it in the shape both need (DESIGN.md §3)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from jsonschema.validators import extend
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        assert node["$ref"].startswith("#/"), node["$ref"]
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def parameters(spec: dict[str, Any], path: str, op: dict[str, Any]) -> list[dict[str, Any]]:
    shared = spec["paths"][path].get("parameters", [])
    return [resolve(spec, p) for p in [*shared, *op.get("parameters", [])]]


def test_spec_is_valid_openapi_303(spec):
    assert spec["openapi"] == "3.0.3"
    validate(spec)


def test_every_operation_has_camel_case_operation_id_one_tag_and_a_controller(spec):
    declared_tags = {t["name"] for t in spec.get("tags", [])}
    seen_ids: set[str] = set()
    controller_of_tag: dict[str, str] = {}
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        op_id = op.get("operationId")
        assert op_id and re.fullmatch(r"[a-z][a-zA-Z0-9]*", op_id), f"{where}: operationId {op_id!r}"
        assert op_id not in seen_ids, f"{where}: duplicate operationId {op_id}"
        seen_ids.add(op_id)
        tags = op.get("tags", [])
        assert len(tags) == 1 and tags[0] in declared_tags, f"{where}: tags {tags}"
        controller = op.get("x-openapi-router-controller")
        assert controller and controller.startswith("app.api.handlers."), f"{where}: controller {controller!r}"
        # one handler module per tag
        assert controller_of_tag.setdefault(tags[0], controller) == controller, f"{where}: {controller}"


def test_every_enum_is_a_named_component_schema(spec):
    offenders: list[str] = []

    def walk(node: Any, trail: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            if "enum" in node and not (len(trail) == 3 and trail[:2] == ("components", "schemas")):
                offenders.append("/".join(trail))
            for key, value in node.items():
                walk(value, (*trail, str(key)))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*trail, str(i)))

    walk(spec, ())
    assert not offenders, f"inline enums (make them named component schemas): {offenders}"


def test_every_operation_documents_400_and_500_and_problem_json_errors(spec):
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        responses = op["responses"]
        assert {"400", "500"} <= responses.keys(), f"{where}: {sorted(responses)}"
        for status, response in responses.items():
            if status[0] not in "45":
                continue
            content = resolve(spec, response).get("content", {})
            problem = content.get("application/problem+json")
            assert problem, f"{where} {status}: no application/problem+json"
            assert problem["schema"] == {"$ref": PROBLEM_REF}, f"{where} {status}: {problem['schema']}"


def test_every_post_accepts_an_idempotency_key(spec):
    for path, method, op in operations(spec):
        if method != "post":
            continue
        names = {(p["in"], p["name"]) for p in parameters(spec, path, op)}
        assert ("header", "Idempotency-Key") in names, f"POST {path}: no Idempotency-Key"


def test_every_operation_accepts_and_every_response_echoes_a_request_id(spec):
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        names = {(p["in"], p["name"]) for p in parameters(spec, path, op)}
        assert ("header", "X-Request-ID") in names, f"{where}: no X-Request-ID parameter"
        for status, response in op["responses"].items():
            headers = resolve(spec, response).get("headers", {})
            assert {"X-Request-ID", "X-Process-Time"} <= headers.keys(), f"{where} {status}: {sorted(headers)}"


def test_created_answers_carry_location(spec):
    for path, method, op in operations(spec):
        for status, response in op["responses"].items():
            if status == "201":
                assert "Location" in resolve(spec, response).get("headers", {}), f"{method.upper()} {path}"


def test_authenticated_operations_document_401(spec):
    for path, method, op in operations(spec):
        requirements = op.get("security", spec.get("security", []))
        if any("bearerAuth" in r for r in requirements):
            assert "401" in op["responses"], f"{method.upper()} {path}"


def _null_skips_all_of(all_of):
    """A nullable `$ref` is written `{allOf: [$ref], nullable: true}` (what openapi-generator
    reads). Strict 3.0.3 validators ignore `nullable` without a sibling `type`, so teach this one
    the convention; Connexion's body/response validators need the same extension."""

    def check(validator, subschemas, instance, schema):
        if instance is None and schema.get("nullable") is True:
            return
        yield from all_of(validator, subschemas, instance, schema)

    return check


ExampleValidator = extend(OAS30Validator, {"allOf": _null_skips_all_of(OAS30Validator.VALIDATORS["allOf"])})


def test_every_example_matches_its_schema(spec):
    """Schema, property, parameter, header and media-type examples all end up in docs and SDKs."""
    components = spec["components"]
    failures: list[str] = []
    checked = 0

    def check(schema: dict[str, Any], example: Any, where: str) -> None:
        nonlocal checked
        checked += 1
        errors = list(ExampleValidator({**schema, "components": components}).iter_errors(example))
        failures.extend(f"{where}: {e.message}" for e in errors)

    def walk(node: Any, trail: str) -> None:
        if isinstance(node, dict):
            if "example" in node:
                if "schema" in node:  # parameter, header or media type
                    check(node["schema"], node["example"], trail)
                else:
                    check({k: v for k, v in node.items() if k != "example"}, node["example"], trail)
            for key, value in node.items():
                if key != "example":
                    walk(value, f"{trail}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{trail}/{i}")

    walk(spec["paths"], "#/paths")
    walk(components, "#/components")
    assert checked > 100
    assert not failures, failures


@pytest.mark.parametrize("header", ["IfMatch", "IfNoneMatch"])
def test_the_entity_tag_patterns_are_the_one_the_server_parses_with(spec, header):
    """The spec states RFC 9110's entity-tag list (so SDKs and tools know it); the server parses
    with the same expression (app/api/http.py), plus ``*``."""
    from app.api.http import _ENTITY_TAGS

    pattern = spec["components"]["parameters"][header]["schema"]["pattern"]
    assert pattern == r"^([ \t]*\*[ \t]*|" + _ENTITY_TAGS.pattern + ")$"
