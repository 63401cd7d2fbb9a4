"""app/api/validation.py: Connexion's validators, with every error naming its field and rule.

``ParamsValidator.validate_parameter`` does Connexion's parameter check with each parameter's
JSON-schema validator built once instead of per request; it must answer exactly as Connexion's
own does, for every parameter of openapi.yaml.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from connexion.decorators.validation import ParameterValidator
from connexion.spec import Specification

from app.api.validation import ParamsValidator

SPEC = Specification.load(Path(__file__).resolve().parents[2] / "openapi.yaml")
PARAMETERS = {(p["in"], p["name"]): p for item in SPEC["paths"].values() for op in item.values()
              if isinstance(op, dict) for p in [*item.get("parameters", []), *op.get("parameters", [])]}
VALUES = [None, "", "1", "0", "-3", "101", "20", "2.5", "abc", "x" * 200, "00000000-0000-4000-8000-000000000000",
          "not-a-uuid", '"7"', "true", "null"]


@pytest.mark.parametrize("where, name", sorted(PARAMETERS))
def test_every_parameter_is_checked_as_connexion_checks_it(where, name):
    param = PARAMETERS[(where, name)]
    for value in VALUES:
        ours = ParamsValidator.validate_parameter(where, value, param, name)
        theirs = ParameterValidator.validate_parameter(where, value, param, name)
        assert (None if ours is None else str(ours)) == theirs, (name, value)
        assert ours is None or ours.rule, (name, value)  # and says which rule


def test_parameter_errors_name_the_field_and_the_rule(client):
    body = client.get("/api/sequences?page_size=101&colour=red").json
    assert sorted((e["field"], e["rule"]) for e in body["errors"]) == [("colour", "additionalProperties"),
                                                                       ("page_size", "maximum")]
    body = client.get("/api/sequences/not-a-uuid").json
    assert [(e["field"], e["rule"]) for e in body["errors"]] == [("sequence_id", "pattern")]
    body = client.post("/api/sequences", json={"name": 5, "colour": "red"}).json
    assert sorted((e["field"], e["rule"]) for e in body["errors"]) == [("colour", "additionalProperties"),
                                                                       ("name", "type")]
