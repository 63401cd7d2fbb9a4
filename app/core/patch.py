"""Two-way patches between JSON values: what the command history keeps instead of whole copies.

``diff(a, b)`` records only what differs between ``a`` and ``b``, with both sides of each
difference, so one patch leads either way: ``forward(a, patch) == b`` and ``backward(b, patch) == a``.
Undo applies an entry's patch backward to the sequence as it now is (the command's result, which
the version check guarantees), redo forward. Editing one beat of a 64-beat sequence records that
beat's changed fields, not two copies of 40 KB.

A patch is JSON itself (None when the values are equal):

* ``{"v": [a, b]}`` — replace ``a`` by ``b``; ``"m"``: ``"a"`` or ``"b"`` when that side is a
  key missing from its object;
* ``{"o": {key: patch}}`` — two objects, key by key;
* ``{"l": [at, removed, inserted, {index: patch}]}`` — two lists: ``a[at:at + len(removed)]``
  becomes ``inserted`` (the one run of added or removed items, found from the common prefix), then
  the items at ``index`` of the result change by their patches (beats renumbered after an
  inserted one, say).
"""

from __future__ import annotations

from typing import Any

import orjson

_MISSING: Any = object()


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values (Python's ``==`` holds ``1 == 1.0 == True``; JSON does not, and
    ignores the order of an object's keys)."""
    if type(a) is not type(b) or a != b:
        return False
    return not isinstance(a, (dict, list)) or _canonical(a) == _canonical(b)


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value)


def diff(a: Any, b: Any) -> dict[str, Any] | None:
    """The patch from ``a`` to ``b``; None when they are equal."""
    if a is not _MISSING and b is not _MISSING and same(a, b):
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(a) + [k for k in b if k not in a]
        return {"o": {k: d for k in keys if (d := diff(a.get(k, _MISSING), b.get(k, _MISSING))) is not None}}
    if isinstance(a, list) and isinstance(b, list):
        return {"l": _list_diff(a, b)}
    patch: dict[str, Any] = {"v": [None if a is _MISSING else a, None if b is _MISSING else b]}
    if a is _MISSING or b is _MISSING:
        patch["m"] = "a" if a is _MISSING else "b"
    return patch


def forward(a: Any, patch: dict[str, Any] | None) -> Any:
    """``a`` changed by ``patch`` (made by ``diff(a, b)``): ``b``."""
    return _apply(a, patch, True)


def backward(b: Any, patch: dict[str, Any] | None) -> Any:
    """``b`` changed back by ``patch`` (made by ``diff(a, b)``): ``a``."""
    return _apply(b, patch, False)


def _list_diff(a: list[Any], b: list[Any]) -> list[Any]:
    grown = len(b) - len(a)
    at = 0
    while at < min(len(a), len(b)) and same(a[at], b[at]):
        at += 1
    removed, inserted = a[at:at - grown] if grown < 0 else [], b[at:at + grown] if grown > 0 else []
    rest = a[at + len(removed):]
    changed = {str(at + len(inserted) + i): d for i, item in enumerate(rest)
               if (d := diff(item, b[at + len(inserted) + i])) is not None}
    return [at, removed, inserted, changed]


def _apply(value: Any, patch: dict[str, Any] | None, ahead: bool) -> Any:
    if patch is None:
        return value
    if "v" in patch:
        return patch["v"][1 if ahead else 0]
    if "o" in patch:
        result = dict(value)
        for key, change in patch["o"].items():
            if change.get("m") == ("b" if ahead else "a"):  # the key is missing on the side wanted
                result.pop(key, None)
            else:
                result[key] = _apply(value.get(key), change, ahead)
        return result
    at, removed, inserted, changed = patch["l"]
    result = list(value)
    if ahead:
        result[at:at + len(removed)] = inserted
        for index, change in changed.items():
            result[int(index)] = _apply(result[int(index)], change, True)
    else:
        for index, change in changed.items():
            result[int(index)] = _apply(result[int(index)], change, False)
        result[at:at + len(inserted)] = removed
    return result
