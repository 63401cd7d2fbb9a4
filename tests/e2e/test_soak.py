"""The short soak that runs in ``make test`` (``make soak`` is the long one)."""

import pytest

from tests.e2e.soak import run_soak

pytestmark = pytest.mark.e2e


def test_short_soak_has_no_5xx_and_no_lost_or_duplicated_events(tmp_path):
    result = run_soak(clients=12, seconds=6, subscribers=5, db_path=tmp_path / "soak.db")
    assert result["requests"] > 0
    assert result["server_errors"] == 0, result
    assert result["client_errors"] == 0, result
    assert result["events_in_log"] > 0
    assert result["lost_events"] == 0 and result["duplicated_events"] == 0, result
    assert result["out_of_order_subscribers"] == 0, result
