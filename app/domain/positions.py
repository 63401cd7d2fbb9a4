"""Grid geometry: locations, positions and handpaths (tka-domain.md §1–2).

The 32 position names are not typed in as a table: they are generated at import from the
§2.3 rule (rotate a seed pair clockwise by (k−1)×45°), and every lookup below reads the dicts
built from that rule.
"""

from __future__ import annotations

from .enums import Family, GridMode, HandPath, Location
from .errors import InvalidMotion, InvalidPosition

#: Locations in clockwise 45° order; a location's index is its angle in 45° steps from north.
_CLOCKWISE: tuple[Location, ...] = tuple(Location)
_INDEX: dict[Location, int] = {loc: i for i, loc in enumerate(_CLOCKWISE)}

_DIAMOND, _BOX = GridMode.DIAMOND, GridMode.BOX
_HP_STATIC, _HP_CW, _HP_DASH, _HP_CCW = HandPath.STATIC, HandPath.CW, HandPath.DASH, HandPath.CCW


def _is_location(value: object) -> bool:
    return isinstance(value, str) and value in _INDEX


def rotate_location(loc: Location, steps45: int) -> Location:
    """``loc`` turned clockwise by ``steps45`` × 45° (negative turns counter-clockwise)."""
    if not _is_location(loc):
        raise InvalidPosition("location", "location.unknown", f"location {loc!r} is not a location")
    return _CLOCKWISE[(_INDEX[loc] + steps45) % 8]


def opposite(loc: Location) -> Location:
    """The location across the centre, where a dash ends."""
    return _CLOCKWISE[(_INDEX[loc] + 4) % 8]


def grid_mode_of_location(loc: Location) -> GridMode:
    """Cardinal points belong to diamond mode, diagonal ones to box mode (§1)."""
    if not _is_location(loc):
        raise InvalidPosition("location", "location.unknown", f"location {loc!r} is not a location")
    return _DIAMOND if _INDEX[loc] % 2 == 0 else _BOX


def _generate() -> dict[str, tuple[Location, Location]]:
    """Apply the §2.3 generating rule for k = 1..8 (alpha, beta, gamma1–8) and j = 1..8 (gamma9–16)."""
    s, n, w, e = Location.S, Location.N, Location.W, Location.E
    out: dict[str, tuple[Location, Location]] = {}
    for k in range(1, 9):
        blue = rotate_location(s, k - 1)
        out[f"alpha{k}"] = (blue, opposite(blue))
    for k in range(1, 9):
        both = rotate_location(n, k - 1)
        out[f"beta{k}"] = (both, both)
    for k in range(1, 9):
        blue = rotate_location(w, k - 1)
        out[f"gamma{k}"] = (blue, rotate_location(blue, 2))  # red 90° clockwise of blue
    for j in range(1, 9):
        blue = rotate_location(e, j - 1)
        out[f"gamma{j + 8}"] = (blue, rotate_location(blue, -2))  # red 90° counter-clockwise
    return out


_LOCATIONS: dict[str, tuple[Location, Location]] = _generate()
_POSITION_BY_PAIR: dict[tuple[Location, Location], str] = {pair: name for name, pair in _LOCATIONS.items()}
_FAMILY: dict[str, Family] = {name: Family(name.rstrip("0123456789")) for name in _LOCATIONS}
_GRID_MODE: dict[str, GridMode] = {
    name: (_DIAMOND if int(name.lstrip("abcdefghijklmnopqrstuvwxyz")) % 2 else _BOX) for name in _LOCATIONS
}

#: alpha1..8, beta1..8, gamma1..16.
ALL_POSITIONS: tuple[str, ...] = tuple(_LOCATIONS)
DIAMOND_POSITIONS: tuple[str, ...] = tuple(p for p in ALL_POSITIONS if _GRID_MODE[p] is _DIAMOND)
BOX_POSITIONS: tuple[str, ...] = tuple(p for p in ALL_POSITIONS if _GRID_MODE[p] is _BOX)


def _unknown_position(position: object, field: str = "position") -> InvalidPosition:
    return InvalidPosition(field, "position.unknown", f"{field} {position!r} is not one of alpha1–8, beta1–8, gamma1–16")


def is_position(position: object) -> bool:
    return isinstance(position, str) and position in _LOCATIONS


def position_of(blue: Location, red: Location) -> str:
    """The position name for a (blue, red) location pair."""
    try:
        return _POSITION_BY_PAIR[(blue, red)]
    except (KeyError, TypeError):
        pass
    for loc in (blue, red):
        if not _is_location(loc):
            raise InvalidPosition("position", "location.unknown", f"position: {loc!r} is not a location")
    raise InvalidPosition(
        "position",
        "position.mixed_grid_modes",
        f"position: blue at {blue} and red at {red} are in different grid modes, so they form no position",
    )


def locations_of(position: str) -> tuple[Location, Location]:
    """(blue, red) locations of a position name."""
    try:
        return _LOCATIONS[position]
    except (KeyError, TypeError):
        raise _unknown_position(position) from None


def family_of(position: str) -> Family:
    try:
        return _FAMILY[position]
    except (KeyError, TypeError):
        raise _unknown_position(position) from None


def grid_mode_of(position: str) -> GridMode:
    """Odd indices are diamond positions, even indices box positions (§2)."""
    try:
        return _GRID_MODE[position]
    except (KeyError, TypeError):
        raise _unknown_position(position) from None


def rotate_position(position: str, steps45: int) -> str:
    """The position after turning the whole picture clockwise by ``steps45`` × 45° (§2.4)."""
    blue, red = locations_of(position)
    return _POSITION_BY_PAIR[(rotate_location(blue, steps45), rotate_location(red, steps45))]


_HANDPATH_BY_STEPS: dict[int, HandPath] = {0: _HP_STATIC, 2: _HP_CW, 4: _HP_DASH, 6: _HP_CCW}
_HANDPATH: dict[tuple[Location, Location], HandPath] = {
    (a, b): _HANDPATH_BY_STEPS[(_INDEX[b] - _INDEX[a]) % 8]
    for a in _CLOCKWISE
    for b in _CLOCKWISE
    if (_INDEX[b] - _INDEX[a]) % 2 == 0
}


def handpath(start: Location, end: Location) -> HandPath:
    """How a hand travels from ``start`` to ``end``: a quarter cw/ccw, a dash across, or static (§1)."""
    try:
        return _HANDPATH[(start, end)]
    except (KeyError, TypeError):
        pass
    for field, loc in (("start_loc", start), ("end_loc", end)):
        if not _is_location(loc):
            raise InvalidMotion(field, "location.unknown", f"{field} {loc!r} is not a location")
    raise InvalidMotion(
        "end_loc",
        "end_loc.not_on_grid_path",
        f"end_loc {end} is 45° from start_loc {start}: a hand moves a quarter, across, or stays, within one grid mode",
    )
