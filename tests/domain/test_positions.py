"""Positions: the §2.1/§2.2 maps, families, grid modes, rotations and handpaths."""

import pytest

from app.domain import (
    ALL_POSITIONS, Family, GridMode, HandPath, InvalidMotion, InvalidPosition, Location, family_of,
    grid_mode_of, grid_mode_of_location, handpath, locations_of, position_of, rotate_location,
    rotate_position,
)

DIAMOND_MAP = {  # §2.1
    "alpha1": ("s", "n"), "alpha3": ("w", "e"), "alpha5": ("n", "s"), "alpha7": ("e", "w"),
    "beta1": ("n", "n"), "beta3": ("e", "e"), "beta5": ("s", "s"), "beta7": ("w", "w"),
    "gamma1": ("w", "n"), "gamma3": ("n", "e"), "gamma5": ("e", "s"), "gamma7": ("s", "w"),
    "gamma9": ("e", "n"), "gamma11": ("s", "e"), "gamma13": ("w", "s"), "gamma15": ("n", "w"),
}
BOX_MAP = {  # §2.2
    "alpha2": ("sw", "ne"), "alpha4": ("nw", "se"), "alpha6": ("ne", "sw"), "alpha8": ("se", "nw"),
    "beta2": ("ne", "ne"), "beta4": ("se", "se"), "beta6": ("sw", "sw"), "beta8": ("nw", "nw"),
    "gamma2": ("nw", "ne"), "gamma4": ("ne", "se"), "gamma6": ("se", "sw"), "gamma8": ("sw", "nw"),
    "gamma10": ("se", "ne"), "gamma12": ("sw", "se"), "gamma14": ("nw", "sw"), "gamma16": ("ne", "nw"),
}


@pytest.mark.parametrize(("position", "pair"), [*DIAMOND_MAP.items(), *BOX_MAP.items()])
def test_position_maps_match_reference_tables(position, pair):
    assert locations_of(position) == (Location(pair[0]), Location(pair[1]))
    assert position_of(Location(pair[0]), Location(pair[1])) == position


def test_all_positions_are_the_32_names_in_order():
    expected = [f"alpha{k}" for k in range(1, 9)] + [f"beta{k}" for k in range(1, 9)] + [f"gamma{k}" for k in range(1, 17)]
    assert list(ALL_POSITIONS) == expected
    assert set(ALL_POSITIONS) == set(DIAMOND_MAP) | set(BOX_MAP)


@pytest.mark.parametrize("position", ALL_POSITIONS)
def test_family_and_grid_mode_follow_the_name(position):
    index = int(position.lstrip("abcdefghijklmnopqrstuvwxyz"))
    assert family_of(position) == Family(position.rstrip("0123456789"))
    assert grid_mode_of(position) == (GridMode.DIAMOND if index % 2 else GridMode.BOX)
    blue, red = locations_of(position)
    assert grid_mode_of_location(blue) == grid_mode_of_location(red) == grid_mode_of(position)


def test_rotation_maps_of_section_2_4():
    assert [rotate_position(f"alpha{k}", 2) for k in (1, 3, 5, 7)] == ["alpha3", "alpha5", "alpha7", "alpha1"]
    assert [rotate_position(f"beta{k}", 2) for k in (1, 3, 5, 7)] == ["beta3", "beta5", "beta7", "beta1"]
    assert [rotate_position(f"gamma{k}", 2) for k in (1, 3, 5, 7)] == ["gamma3", "gamma5", "gamma7", "gamma1"]
    assert [rotate_position(f"gamma{k}", 2) for k in (9, 11, 13, 15)] == ["gamma11", "gamma13", "gamma15", "gamma9"]
    assert rotate_position("gamma3", 4) == "gamma7"
    assert rotate_position("alpha1", 1) == "alpha2"  # 45° turns diamond into box
    assert rotate_position("gamma16", 1) == "gamma9"
    for position in ALL_POSITIONS:
        assert rotate_position(position, 8) == position
        assert rotate_position(rotate_position(position, 3), -3) == position


def test_rotate_location_clockwise_order():
    order = ["n", "ne", "e", "se", "s", "sw", "w", "nw"]
    for i, name in enumerate(order):
        assert rotate_location(Location(name), 1) == order[(i + 1) % 8]
        assert rotate_location(Location(name), -2) == order[(i - 2) % 8]


@pytest.mark.parametrize(("start", "end", "path"), [
    ("n", "e", HandPath.CW), ("e", "n", HandPath.CCW), ("w", "n", HandPath.CW), ("n", "w", HandPath.CCW),
    ("ne", "se", HandPath.CW), ("nw", "ne", HandPath.CW), ("ne", "nw", HandPath.CCW),
    ("n", "s", HandPath.DASH), ("se", "nw", HandPath.DASH), ("s", "s", HandPath.STATIC), ("sw", "sw", HandPath.STATIC),
])
def test_handpath(start, end, path):
    assert handpath(Location(start), Location(end)) == path


@pytest.mark.parametrize(("start", "end"), [("n", "ne"), ("e", "nw"), ("se", "s")])
def test_handpath_rejects_45_degree_and_cross_mode_moves(start, end):
    with pytest.raises(InvalidMotion) as info:
        handpath(Location(start), Location(end))
    assert info.value.field == "end_loc"


def test_position_errors():
    with pytest.raises(InvalidPosition) as info:
        position_of(Location.N, Location.NE)
    assert info.value.field == "position" and info.value.code == "invalid_position"
    for bad in ("alpha9", "gamma17", "delta1", "", None):
        with pytest.raises(InvalidPosition) as info:
            locations_of(bad)
        assert info.value.field == "position"
        with pytest.raises(InvalidPosition):
            family_of(bad)
        with pytest.raises(InvalidPosition):
            grid_mode_of(bad)
