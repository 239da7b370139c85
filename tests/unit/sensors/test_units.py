"""Unit normalisation: every accepted alternative unit converts to the kind's canonical unit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sensors.catalog import ALTERNATIVE_UNITS, KINDS
from sensors.cleaning import Cleaner, Reason, Rejection
from sensors.reading import Reading
from sensors.site import Sensor, Site
from sensors.sites import SiteRegistry

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("canonical", "unit", "value", "expected"),
    [
        ("Cel", "degF", 212.0, 100.0),
        ("Cel", "degF", -40.0, -40.0),
        ("Cel", "K", 273.15, 0.0),
        ("km/h", "mph", 100.0, 160.9344),
        ("km/h", "m/s", 10.0, 36.0),
        ("kW", "W", 1500.0, 1.5),
        ("kW", "MW", 1.2, 1200.0),
        ("W", "kW", 0.15, 150.0),
        ("%", "1", 0.42, 42.0),
        ("ug/m3", "mg/m3", 0.035, 35.0),
        ("m", "cm", 120.0, 1.2),
        ("m", "ft", 10.0, 3.048),
        ("veh/h", "veh/min", 12.0, 720.0),
        ("count/min", "count/h", 120.0, 2.0),
    ],
)
def test_conversion(canonical: str, unit: str, value: float, expected: float) -> None:
    assert ALTERNATIVE_UNITS[canonical][unit].apply(value) == pytest.approx(expected)


def test_every_table_entry_serves_a_kind_and_is_tested() -> None:
    canonical_units = {kind.unit for kind in KINDS.values()}
    assert set(ALTERNATIVE_UNITS) <= canonical_units
    assert all(unit not in alternatives for unit, alternatives in ALTERNATIVE_UNITS.items())


def one_sensor_city(kind: str) -> tuple[Cleaner, Sensor]:
    sensor = Sensor(sensor_id=f"GJ-00001.{kind}", kind=kind)
    site = Site(
        site_id="GJ-00001",
        name="test site",
        facility="air_quality_station",
        programme=KINDS[kind].programme,
        district="Dong-gu",
        latitude=35.146,
        longitude=126.923,
        owner_id="owner-001",
        sensors=(sensor,),
    )
    return Cleaner(SiteRegistry([site])), sensor


def reading(sensor: Sensor, value: float, unit: str) -> bytes:
    return (
        Reading(
            sensor_id=sensor.sensor_id,
            site_id="GJ-00001",
            kind=sensor.kind,
            value=value,
            unit=unit,
            observed_at=NOW,
            seq=1,
        )
        .model_dump_json()
        .encode()
    )


def test_the_cleaner_converts_and_records_the_original_unit() -> None:
    cleaner, sensor = one_sensor_city("temperature")
    result = cleaner.clean(reading(sensor, 68.0, "degF"), NOW)
    assert isinstance(result, Reading)
    assert result.unit == "Cel"
    assert result.value == pytest.approx(20.0)
    assert result.quality == ("unit_converted:degF",)


def test_the_range_is_checked_after_conversion() -> None:
    cleaner, sensor = one_sensor_city("temperature")
    # 59 °C is possible, and so is 59 °F; 150 °F (65.6 °C) is not.
    assert isinstance(cleaner.clean(reading(sensor, 59.0, "degF"), NOW), Reading)
    result = cleaner.clean(reading(sensor, 150.0, "degF"), NOW)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.OUT_OF_RANGE


def test_an_unknown_unit_names_the_accepted_ones() -> None:
    cleaner, sensor = one_sensor_city("traffic_speed")
    result = cleaner.clean(reading(sensor, 50.0, "knots"), NOW)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.UNIT_UNKNOWN
    assert "'knots'" in result.detail
    assert all(f"'{unit}'" in result.detail for unit in ("km/h", "mph", "m/s"))
