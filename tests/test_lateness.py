"""Event time per sensor: in order, out of order within the allowance, too late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sensors.cleaning import Reason, Rejection
from sensors.lateness import OUT_OF_ORDER, SensorClocks

AT = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
TEN_MINUTES = timedelta(minutes=10)


def test_readings_in_order_pass_unmarked() -> None:
    clocks = SensorClocks(allowed=TEN_MINUTES)
    assert [clocks.judge("s1", AT + timedelta(seconds=n)) for n in (0, 60, 60, 120)] == [None] * 4


def test_a_reading_behind_its_sensor_within_the_allowance_passes_marked() -> None:
    clocks = SensorClocks(allowed=TEN_MINUTES)
    clocks.judge("s1", AT)
    assert clocks.judge("s1", AT - TEN_MINUTES) == OUT_OF_ORDER
    # It does not move the clock back: the next one in order is judged against AT.
    assert clocks.judge("s1", AT - timedelta(minutes=1)) == OUT_OF_ORDER
    assert clocks.judge("s1", AT) is None


def test_a_reading_further_behind_is_too_late_with_a_sentence() -> None:
    clocks = SensorClocks(allowed=TEN_MINUTES)
    clocks.judge("s1", AT)
    result = clocks.judge("s1", AT - TEN_MINUTES - timedelta(seconds=1))
    assert isinstance(result, Rejection)
    assert result.reason is Reason.TOO_LATE
    assert "601 s behind" in result.detail and "600 s is allowed" in result.detail


def test_sensors_have_clocks_of_their_own_and_old_data_in_order_is_fine() -> None:
    clocks = SensorClocks(allowed=TEN_MINUTES)
    clocks.judge("s1", AT)
    last_year = AT - timedelta(days=365)
    assert clocks.judge("s2", last_year) is None
    assert clocks.judge("s2", last_year + timedelta(minutes=1)) is None
    assert clocks.judge("s1", AT + timedelta(minutes=1)) is None


def test_a_zero_allowance_refuses_anything_behind() -> None:
    clocks = SensorClocks(allowed=timedelta(0))
    clocks.judge("s1", AT)
    assert clocks.judge("s1", AT) is None
    late = clocks.judge("s1", AT - timedelta(microseconds=1))
    assert isinstance(late, Rejection) and late.reason is Reason.TOO_LATE
