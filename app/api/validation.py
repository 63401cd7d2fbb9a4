"""Connexion validators that say which field broke which rule.

Connexion 2's own validators report one error as a free-text ``detail``. These report every
schema error with its field path, in the problem body's ``errors`` list.
"""

from __future__ import annotations

import functools
from typing import Any

from connexion.decorators.response import ResponseValidator
from connexion.decorators.validation import ParameterValidator, RequestBodyValidator, TypeValidationError, coerce_type
from connexion.exceptions import ProblemException
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator, allow_nullable
from connexion.utils import is_null, is_nullable
from jsonschema import Draft4Validator, ValidationError, draft4_format_checker
from jsonschema.validators import extend

from app.api.problems import FIELD_CHARS, bounded

# OpenAPI 3.0 spells a nullable reference ``{allOf: [{$ref}], nullable: true}``; Connexion honours
# ``nullable`` only beside ``type``/``enum``, so let it short-circuit ``allOf`` too.
_NULLABLE_ALL_OF = {"allOf": allow_nullable(Draft4Validator.VALIDATORS["allOf"])}
RequestSchemaValidator = extend(Draft4RequestValidator, _NULLABLE_ALL_OF)
ResponseSchemaValidator = extend(Draft4ResponseValidator, _NULLABLE_ALL_OF)


def _field(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if error.validator == "required":  # the missing property is named in the message only
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path = f"{path}.{missing}" if path else missing
    if error.validator == "additionalProperties" and "'" in error.message:
        extra = error.message.split("'")[1]
        path = f"{path}.{extra}" if path else extra
    return path or "body"


def bad_request(errors: list[dict[str, str]]) -> ProblemException:
    detail = "; ".join(f"{bounded(e['field'], FIELD_CHARS)}: {e['message']}" for e in errors)
    return ProblemException(status=400, title="Bad Request", detail=detail,
                            ext={"error_code": "validation_error", "errors": errors})


class BodyValidator(RequestBodyValidator):
    def __init__(self, *args: Any, validator: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, validator=RequestSchemaValidator, **kwargs)

    def validate_schema(self, data: Any, url: str) -> None:
        if self.is_null_value_valid and data is None:
            return None
        errors = sorted(self.validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            raise bad_request([{"field": _field(e), "message": e.message, "rule": str(e.validator)}
                               for e in errors[:20]])
        return None


_PARAM_VALIDATORS: dict[int, tuple[Any, Any]] = {}  # id(spec parameter) -> (parameter, its validator)


def _param_validator(param: dict[str, Any]) -> Any:
    """A parameter's JSON-schema validator, built once: Connexion 2 deep-copies the parameter and
    builds a validator on every request. Measured on connexion 2.15.1 (callgrind, in process):
    116 k of 1.18 M instructions per ``GET /api/sequences/{id}`` (10 %); tests/api/test_validation.py
    checks every parameter of openapi.yaml against Connexion's own answer."""
    cached = _PARAM_VALIDATORS.get(id(param))
    if cached is None or cached[0] is not param:
        schema = {k: v for k, v in param.get("schema", param).items() if k != "required"}
        cached = _PARAM_VALIDATORS[id(param)] = (param, Draft4Validator(schema, format_checker=draft4_format_checker))
    return cached[1]


class _Broken(str):
    """A parameter's error message, as Connexion's checks return it, and the rule it broke."""

    rule: str

    @classmethod
    def of(cls, message: str, rule: str) -> "_Broken":
        broken = cls(message)
        broken.rule = rule
        return broken


class ParamsValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(parameter_type: str, value: Any, param: dict[str, Any], param_name: Any = None) -> Any:
        """Connexion's check (same coercion, same messages: tests/api/test_validation.py) with the
        validator built once, and the rule each error broke."""
        if value is None or parameter_type == "formdata":
            error = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
            return None if error is None else _Broken.of(error, "required")
        if is_nullable(param) and is_null(value):
            return None
        try:
            converted = coerce_type(param, value, parameter_type, param_name)
        except TypeValidationError as exc:
            return _Broken.of(str(exc), "type")
        try:
            _param_validator(param).validate(converted)
        except ValidationError as exc:
            return _Broken.of(str(exc), str(exc.validator))
        return None

    def __call__(self, function: Any) -> Any:
        @functools.wraps(function)
        def wrapper(request: Any) -> Any:
            errors: list[dict[str, str]] = []
            if self.strict_validation:
                for name in self.validate_query_parameter_list(request):
                    errors.append({"field": name, "message": "unknown query parameter", "rule": "additionalProperties"})
            checks = (("query", self.validate_query_parameter), ("path", self.validate_path_parameter),
                      ("header", self.validate_header_parameter))
            for kind, check in checks:
                for param in self.parameters.get(kind, []):
                    error = check(param, request)
                    if error:
                        errors.append({"field": param["name"], "message": str(error).splitlines()[0],
                                       "rule": getattr(error, "rule", "type")})
            if errors:
                raise bad_request(errors)
            return function(request)
        return wrapper


class SpecResponseValidator(ResponseValidator):
    def __init__(self, operation: Any, mimetype: str, validator: Any = None) -> None:
        super().__init__(operation, mimetype, ResponseSchemaValidator)

    def is_json_schema_compatible(self, response_schema: dict) -> bool:
        """A picture (``format: binary``) is bytes, never JSON. Connexion decides by the type the
        operation answers with first, which for an image operation may be problem+json, and
        would read the PNG as JSON."""
        return response_schema.get("format") != "binary" and super().is_json_schema_compatible(response_schema)

    def validate_response(self, data: Any, status_code: Any, headers: Any, url: str) -> Any:
        # app.api.security adds these in after_request, which runs after this check.
        headers = {**dict(headers), "X-Request-ID": "-", "X-Process-Time": "0"}
        return super().validate_response(data, status_code, headers, url)


VALIDATOR_MAP = {"body": BodyValidator, "parameter": ParamsValidator, "response": SpecResponseValidator}
