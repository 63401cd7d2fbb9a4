"""JSON text as tka writes it and as it reads what clients send.

Writing: compact, UTF-8 characters as they are, by orjson, which writes a request's few JSON
documents (the stored sequence, its history entry, its events, the response) in about a fifth of
the standard library's time. What orjson refuses (integers beyond 64 bits, in rows stored before
the reader refused them) the standard library writes, in the same compact form.

Reading (``loads``): one strict reader for HTTP bodies and WebSocket frames alike. Python's own
reader is lenient where a client's bytes must not be: it takes NaN and Infinity, numbers that
overflow a double, lone UTF-16 surrogates, integers of any size, and nesting until it runs out of
stack; given bytes, it also reads UTF-16 and UTF-32 (guessed from where the NULs fall) and skips a
UTF-8 byte order mark. Each of those is refused here, naming the rule it broke: JSON between
systems is UTF-8 (RFC 8259 8.1), as a WebSocket text frame is.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

import orjson

MAX_DEPTH = 32  # levels of arrays and objects a client's document may nest (openapi.yaml, asyncapi.yaml)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # integers a client may send: what the store and comparisons hold
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRefused(ValueError):
    """A document the strict reader refuses; ``rule`` names why (``syntax``, ``number``,
    ``integer``, ``surrogate``, ``depth``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


def dumps(value: Any) -> str:
    return dump_bytes(value).decode()


def dump_bytes(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def loads(text: str | bytes) -> Any:
    """A client's JSON document, or JSONRefused."""
    try:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8")  # strictly: no other encoding, no encoded surrogate
        value = json.loads(text, parse_constant=_constant, parse_int=_integer, parse_float=_number)
    except JSONRefused:
        raise
    except RecursionError:
        raise JSONRefused("depth", f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise JSONRefused("syntax", "the JSON is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JSONRefused("syntax", f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    _check(value)
    return value


def _constant(name: str) -> NoReturn:
    raise JSONRefused("number", f"{name} is not a JSON number")


def _integer(text: str) -> int:
    if len(text) > 20 or not INT64_MIN <= (value := int(text)) <= INT64_MAX:
        raise JSONRefused("integer", f"the integer {text[:24]}{'…' if len(text) > 24 else ''} is beyond 64 bits")
    return value


def _number(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JSONRefused("number", f"the number {text[:24]} overflows a double")
    return value


def _check(value: Any) -> None:
    """No nesting beyond MAX_DEPTH, no lone surrogate in a key or a string (iteratively: no
    recursion for a client to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise JSONRefused("surrogate", "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
        elif isinstance(node, (list, dict)):
            if depth > MAX_DEPTH:
                raise JSONRefused("depth", f"the JSON is nested deeper than {MAX_DEPTH} levels")
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)
                stack.extend((item, depth + 1) for item in node.values())
            else:
                stack.extend((item, depth + 1) for item in node)
