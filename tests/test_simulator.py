"""The simulated city: deterministic, always valid, daily rhythms, and every malformation caught."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sensors.catalog import KINDS
from sensors.cleaning import Cleaner, Reason, Rejection
from sensors.reading import Reading
from sensors.simulator import CitySimulator, Malformation, corrupt, daily_shape
from sensors.sites import SiteRegistry

KST = timezone(timedelta(hours=9))
AT = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
SMALL = SiteRegistry.generate(count=60, seed=5)

EXPECTED_REASON: dict[Malformation, Reason] = {
    Malformation.NOT_JSON: Reason.NOT_JSON,
    Malformation.BINARY: Reason.NOT_JSON,
    Malformation.WRONG_TYPE: Reason.SCHEMA,
    Malformation.MISSING_FIELD: Reason.SCHEMA,
    Malformation.NOT_A_NUMBER: Reason.NON_FINITE,
    Malformation.INFINITE: Reason.NON_FINITE,
    Malformation.OUT_OF_RANGE: Reason.OUT_OF_RANGE,
    Malformation.UNKNOWN_SENSOR: Reason.UNKNOWN_SENSOR,
    Malformation.FUTURE: Reason.FUTURE_TIMESTAMP,
    Malformation.WRONG_UNIT: Reason.UNIT_UNKNOWN,
}


@pytest.fixture(scope="module")
def city() -> SiteRegistry:
    return SiteRegistry.generate()


def values_by_sensor(events: list[tuple[bytes, bytes]]) -> dict[str, Reading]:
    readings = [Reading.model_validate_json(value) for _, value in events]
    return {reading.sensor_id: reading for reading in readings}


def test_the_expected_reason_mapping_covers_every_malformation() -> None:
    assert set(EXPECTED_REASON) == set(Malformation)


@pytest.mark.parametrize("how", list(Malformation))
def test_every_malformation_is_rejected_with_its_reason(how: Malformation) -> None:
    cleaner = Cleaner(SMALL)
    events = CitySimulator(SMALL, seed=5).tick(AT)
    kinds_seen = set()
    for _, event in events:
        assert isinstance(cleaner.clean(event, AT), Reading)
        broken = corrupt(event, how, AT)
        assert broken != event
        result = cleaner.clean(broken, AT)
        assert isinstance(result, Rejection), (how, broken)
        assert result.reason is EXPECTED_REASON[how], (how, broken, result)
        assert result.detail.strip()
        kinds_seen.add(json.loads(event)["kind"])
    assert len(kinds_seen) >= 5


def test_the_simulator_is_deterministic_for_a_seed() -> None:
    first, second = CitySimulator(SMALL, seed=42), CitySimulator(SMALL, seed=42)
    for minutes in range(0, 120, 15):
        at = AT + timedelta(minutes=minutes)
        assert first.tick(at) == second.tick(at)


def test_a_different_seed_gives_different_values_for_the_same_sensors() -> None:
    one = CitySimulator(SMALL, seed=1).tick(AT)
    two = CitySimulator(SMALL, seed=2).tick(AT)
    assert [key for key, _ in one] == [key for key, _ in two]
    values_one = [r.value for r in values_by_sensor(one).values()]
    values_two = [r.value for r in values_by_sensor(two).values()]
    # A solar plant at night or a street light by day reports a true zero whatever the seed.
    live = [(a, b) for a, b in zip(values_one, values_two, strict=True) if a or b]
    assert len(live) > len(values_one) * 0.5
    assert sum(a != b for a, b in live) > len(live) * 0.9


def test_one_event_per_sensor_per_tick_keyed_by_sensor_id() -> None:
    events = CitySimulator(SMALL, seed=5).tick(AT)
    keys = [key.decode() for key, _ in events]
    assert Counter(keys) == Counter(sensor.sensor_id for _, sensor in SMALL.sensors())
    for key, value in events:
        reading = Reading.model_validate_json(value)
        known = SMALL.sensor(reading.sensor_id)
        assert known is not None
        site, sensor = known
        assert reading.sensor_id == key.decode()
        assert (reading.site_id, reading.kind, reading.unit) == (site.site_id, sensor.kind, sensor.unit)
        assert reading.observed_at == AT


def test_every_value_of_a_whole_city_over_a_day_passes_the_cleaner(city: SiteRegistry) -> None:
    cleaner = Cleaner(city)
    # A high spike rate, so the spike path (clamped to the physical range) is exercised too.
    simulator = CitySimulator(city, seed=9, spike_rate=0.05)
    sensors = sum(len(site.sensors) for site in city.sites)
    start = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # local midnight in Gwangju
    checked = 0
    for hours in range(0, 24, 2):
        at = start + timedelta(hours=hours)
        events = simulator.tick(at)
        assert len(events) == sensors
        for _, event in events:
            result = cleaner.clean(event, at)
            assert isinstance(result, Reading), (event, result)
            checked += 1
    assert checked == 12 * sensors


def test_seq_increases_by_one_per_sensor_per_tick() -> None:
    simulator = CitySimulator(SMALL, seed=5)
    previous: dict[str, int] = {}
    for tick in range(1, 6):
        readings = values_by_sensor(simulator.tick(AT + timedelta(minutes=tick)))
        assert len(readings) == sum(len(site.sensors) for site in SMALL.sites)
        for sensor_id, reading in readings.items():
            assert reading.seq == tick
            if sensor_id in previous:
                assert reading.seq == previous[sensor_id] + 1
            previous[sensor_id] = reading.seq


def test_daily_shape_stays_within_minus_one_and_one() -> None:
    # The two rush-hour bumps overlap by ~1e-11 at 08:00, hence the tolerance.
    for kind in KINDS:
        shape = [daily_shape(kind, quarter / 4) for quarter in range(96)]
        assert all(-1.0 - 1e-9 <= value <= 1.0 + 1e-9 for value in shape), kind
        assert max(shape) > min(shape), kind


def test_solar_shape_is_zero_at_night_and_one_at_noon() -> None:
    assert daily_shape("solar_power", 0.0) == 0.0
    assert daily_shape("solar_power", 3.0) == 0.0
    assert daily_shape("solar_power", 12.0) == pytest.approx(1.0)


def solar_values(city: SiteRegistry, at: datetime) -> list[float]:
    readings = values_by_sensor(CitySimulator(city, seed=0, spike_rate=0.0).tick(at))
    values = [reading.value for reading in readings.values() if reading.kind == "solar_power"]
    assert len(values) > 50
    return values


def test_solar_power_is_positive_at_local_noon(city: SiteRegistry) -> None:
    noon_kst = datetime(2026, 11, 29, 12, 0, tzinfo=KST).astimezone(UTC)
    assert noon_kst.hour == 3
    values = solar_values(city, noon_kst)
    assert all(value > 100.0 for value in values), min(values)


def test_solar_power_at_local_midnight_is_at_most_noise(city: SiteRegistry) -> None:
    midnight_kst = datetime(2026, 11, 29, 0, 0, tzinfo=KST).astimezone(UTC)
    assert midnight_kst.hour == 15
    values = solar_values(city, midnight_kst)
    noise = KINDS["solar_power"].noise
    assert all(0.0 <= value < 6 * noise for value in values), max(values)
    assert values.count(0.0) > len(values) / 3


def test_solar_power_is_exactly_zero_at_local_midnight(city: SiteRegistry) -> None:
    midnight_kst = datetime(2026, 11, 29, 0, 0, tzinfo=KST).astimezone(UTC)
    assert solar_values(city, midnight_kst) == [0.0] * len(solar_values(city, midnight_kst))


def test_an_event_time_given_in_another_offset_keeps_its_instant() -> None:
    at = datetime(2026, 11, 29, 10, 0, tzinfo=KST)
    readings = values_by_sensor(CitySimulator(SMALL, seed=5).tick(at))
    assert {reading.observed_at for reading in readings.values()} == {at}
