"""Sensor health, without Kafka: duplicates, lateness, gaps, flatlines, silence, and the state's record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sensors.cleaning import Reason, Rejection
from sensors.health import (
    FLATLINE,
    OUT_OF_ORDER,
    SEQUENCE_RESET,
    Admission,
    HealthRules,
    Problem,
    SensorState,
)
from sensors.reading import Reading

AT = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
RULES = HealthRules(lateness=timedelta(minutes=10), dedup_window=64, flatline_readings=5, stale_intervals=5)


def reading(seq: int | None, minutes: float, value: float = 20.0, kind: str = "temperature") -> Reading:
    return Reading(
        sensor_id=f"S1-{kind}",
        site_id="S1",
        kind=kind,
        value=value,
        unit={"temperature": "Cel", "solar_power": "kW", "waste_fill": "%"}[kind],
        observed_at=AT + timedelta(minutes=minutes),
        seq=seq,
    )


class Sensor:
    """A sensor's state fed at consecutive offsets, as its partition would."""

    def __init__(self, rules: HealthRules = RULES) -> None:
        self.state: SensorState | None = None
        self.offset = 0
        self.rules = rules

    def send(self, item: Reading) -> Admission:
        if self.state is None:
            self.state = SensorState.of(item, partition=0)
        self.offset += 1
        return self.state.admit(item, self.offset, self.rules)


def outcomes(sensor: Sensor, items: list[Reading]) -> list[str]:
    return [sensor.send(item).outcome for item in items]


def test_readings_in_order_pass_unmarked() -> None:
    sensor = Sensor()
    results = [sensor.send(reading(n, n)) for n in range(1, 5)]
    assert [r.outcome for r in results] == ["accepted"] * 4
    assert all(isinstance(r.reading, Reading) and r.reading.quality == () for r in results)
    assert all(r.events == [] for r in results)


def test_a_reading_behind_its_sensor_within_the_allowance_passes_marked() -> None:
    sensor = Sensor()
    sensor.send(reading(10, 10))
    late = sensor.send(reading(9, 0))
    assert late.outcome == "out_of_order"
    assert isinstance(late.reading, Reading) and late.reading.quality == (OUT_OF_ORDER,)
    # It does not move the clock back: the next ones are judged against minute 10.
    assert sensor.send(reading(11, 5)).outcome == "out_of_order"
    assert sensor.send(reading(12, 11)).outcome == "accepted"


def test_a_reading_further_behind_is_too_late_with_a_sentence() -> None:
    sensor = Sensor()
    sensor.send(reading(20, 20))
    result = sensor.send(reading(5, 20 - 10 - 1 / 60))
    assert isinstance(result.reading, Rejection) and result.reading.reason is Reason.TOO_LATE
    assert "601 s behind" in result.reading.detail and "600 s is allowed" in result.reading.detail


def test_old_data_in_order_is_fine() -> None:
    sensor = Sensor()
    last_year = -365 * 24 * 60
    assert outcomes(sensor, [reading(1, last_year), reading(2, last_year + 1)]) == ["accepted"] * 2


def test_a_zero_allowance_refuses_anything_behind() -> None:
    sensor = Sensor(HealthRules(lateness=timedelta(0)))
    sensor.send(reading(2, 1))
    late = sensor.send(reading(1, 1 - 1e-6 / 60))
    assert isinstance(late.reading, Rejection) and late.reading.reason is Reason.TOO_LATE


def test_a_sequence_number_taken_twice_is_a_duplicate() -> None:
    sensor = Sensor()
    assert outcomes(sensor, [reading(1, 0), reading(2, 1), reading(2, 1), reading(1, 0)]) == [
        "accepted",
        "accepted",
        "duplicate",
        "duplicate",
    ]
    again = sensor.send(reading(1, 0))
    assert isinstance(again.reading, Rejection) and again.reading.reason is Reason.DUPLICATE
    assert again.reading.detail == "sequence number 1 was already taken from this sensor"


def test_another_number_at_the_instant_of_the_sensors_latest_reading_is_a_duplicate() -> None:
    # One sensor, one value per instant: the instant is its reading's point in InfluxDB, where
    # the second would overwrite the first (a stuck or coarse clock, a copy sent under a new number).
    sensor = Sensor()
    assert outcomes(sensor, [reading(1, 0), reading(2, 1)]) == ["accepted"] * 2
    for seq in (3, 1_000, 0):  # the next number, one far ahead, one behind that was never taken
        refused = sensor.send(reading(seq, 1, value=21.0))
        assert refused.outcome == "duplicate" and refused.events == []
        assert isinstance(refused.reading, Rejection) and refused.reading.reason is Reason.DUPLICATE
        assert refused.reading.detail == (
            f"sequence number {seq} is observed_at 2026-11-29T01:01:00+00:00, the event time of a reading"
            " already taken from this sensor under another number: a sensor measures one value per"
            " instant (the instant is its reading's identity in InfluxDB); check the device's clock"
        )
    # A refused number never arrived clean: the next reading finds it missing.
    following = sensor.send(reading(4, 2))
    assert following.outcome == "accepted"
    assert [(gap.problem, gap.readings) for gap in following.events] == [(Problem.GAP, 1)]
    # Sent again within its batch after a crash, it is refused again.
    state = SensorState.of(reading(1, 0), partition=0)
    assert [state.admit(reading(n, 0), 100 + n, RULES).outcome for n in (1, 2)] == ["accepted", "duplicate"]
    assert [state.admit(reading(n, 0), 100 + n, RULES).outcome for n in (1, 2)] == ["replayed", "duplicate"]


def test_duplicates_are_caught_within_the_window_and_not_beyond() -> None:
    sensor = Sensor()
    outcomes(sensor, [reading(n, n / 60) for n in range(1, 101)])
    assert sensor.send(reading(100 - 64, (100 - 64) / 60)).outcome == "duplicate"
    # 35 is below the 64-number window: it cannot be told from a late reading any more.
    assert sensor.send(reading(100 - 65, (100 - 65) / 60)).outcome == "out_of_order"


def test_a_sensor_without_sequence_numbers_is_deduplicated_by_event_time() -> None:
    sensor = Sensor()
    assert outcomes(sensor, [reading(None, 0), reading(None, 1), reading(None, 0), reading(None, 2)]) == [
        "accepted",
        "accepted",
        "duplicate",
        "accepted",
    ]
    result = sensor.send(reading(None, 1))
    assert isinstance(result.reading, Rejection) and "already taken" in result.reading.detail


def test_a_restarted_counter_is_not_a_duplicate() -> None:
    sensor = Sensor()
    outcomes(sensor, [reading(n, n, value=n) for n in range(100, 105)])
    restart = sensor.send(reading(1, 110))
    assert restart.outcome == "accepted" and restart.events == []
    assert isinstance(restart.reading, Reading) and restart.reading.quality == (SEQUENCE_RESET,)
    assert outcomes(sensor, [reading(2, 111), reading(1, 110), reading(3, 112)]) == [
        "accepted",
        "duplicate",
        "accepted",
    ]


def test_missing_sequence_numbers_are_one_closed_gap_event() -> None:
    sensor = Sensor()
    sensor.send(reading(1, 0))
    jump = sensor.send(reading(5, 4))
    assert jump.outcome == "accepted"
    (gap,) = jump.events
    assert (gap.problem, gap.status, gap.readings) == (Problem.GAP, "closed", 3)
    assert (gap.start, gap.end) == (AT, AT + timedelta(minutes=4))
    assert gap.detail == "sequence numbers 2..4 never arrived clean (3 missing)"
    # A missing one that turns up late fills the hole quietly, and is then known.
    fill = sensor.send(reading(3, 2))
    assert (fill.outcome, fill.events) == ("out_of_order", [])
    assert sensor.send(reading(3, 2)).outcome == "duplicate"


def test_a_replayed_batch_after_a_crash_passes_again_instead_of_becoming_duplicates() -> None:
    state = SensorState.of(reading(1, 0), partition=0)
    assert [state.admit(reading(n, n), 100 + n, RULES).outcome for n in (1, 2)] == ["accepted"] * 2
    # The worker died before committing offsets 101 and 102: they come again.
    assert [state.admit(reading(n, n), 100 + n, RULES).outcome for n in (1, 2)] == ["replayed"] * 2
    # A copy sent later, at a new offset, is a duplicate.
    assert state.admit(reading(2, 2), 103, RULES).outcome == "duplicate"


def test_a_flatline_opens_after_n_equal_readings_and_closes_when_the_value_moves() -> None:
    sensor = Sensor()
    sensor.send(reading(1, 0, value=19.0))
    held = [sensor.send(reading(n, n, value=21.5)) for n in range(2, 8)]
    assert [len(result.events) for result in held] == [0, 0, 0, 0, 1, 0]
    opened = held[4].events[0]
    assert (opened.problem, opened.status, opened.start, opened.end, opened.readings) == (
        Problem.FLATLINE,
        "open",
        AT + timedelta(minutes=2),
        None,
        5,
    )
    qualities = [r.reading.quality for r in held if isinstance(r.reading, Reading)]
    assert qualities == [(), (), (), (), (FLATLINE,), (FLATLINE,)]
    moved = sensor.send(reading(8, 8, value=21.6))
    (closed,) = moved.events
    assert (closed.status, closed.start, closed.end, closed.readings) == (
        "closed",
        opened.start,
        AT + timedelta(minutes=8),
        6,
    )
    assert isinstance(moved.reading, Reading) and moved.reading.quality == ()


@pytest.mark.parametrize(
    ("kind", "value"),
    [("solar_power", 0.0), ("waste_fill", 45.0), ("waste_fill", 100.0)],
)
def test_values_a_working_sensor_may_hold_are_no_flatline(kind: str, value: float) -> None:
    sensor = Sensor()
    results = [sensor.send(reading(n, n, value=value, kind=kind)) for n in range(1, 30)]
    assert all(result.events == [] for result in results)


def test_a_silent_sensor_goes_stale_once_and_recovers_with_a_closed_episode() -> None:
    state = SensorState.of(reading(1, 0), partition=0)
    state.admit(reading(1, 0), 1, RULES)
    # Temperature reports every 300 s: stale after 5 * 300 s of silence.
    assert state.check_stale(AT + timedelta(seconds=1500), RULES) is None
    opened = state.check_stale(AT + timedelta(seconds=1501), RULES)
    assert opened is not None
    assert (opened.problem, opened.status, opened.start, opened.end) == (Problem.STALE, "open", AT, None)
    assert "no reading for 1501 s" in opened.detail
    assert state.check_stale(AT + timedelta(hours=2), RULES) is None
    back = state.admit(reading(2, 120), 2, RULES)
    (closed,) = back.events
    assert (closed.problem, closed.status, closed.start, closed.end) == (
        Problem.STALE,
        "closed",
        AT,
        AT + timedelta(minutes=120),
    )


def test_a_sensor_never_heard_is_not_judged_stale() -> None:
    assert SensorState("S1-t", "S1", "temperature", 0).check_stale(AT + timedelta(days=1), RULES) is None


def test_the_state_survives_its_record() -> None:
    sensor = Sensor()
    outcomes(sensor, [reading(n, n, value=20.0) for n in range(1, 40, 3)])
    sensor.send(reading(None, 50))
    state = sensor.state
    assert state is not None and state.seen != 0 and state.flat
    assert SensorState.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(
    "record",
    [None, [], "x", {}, {"v": 2}, {"v": 1, "kind": "teleporter"}, {"v": 1, "kind": "temperature"}],
)
def test_an_unreadable_record_is_none_not_an_error(record: Any) -> None:
    assert SensorState.from_dict(record) is None
