"""The event schema: what a ``Reading`` accepts, and everything it must refuse."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from sensors.reading import Reading

KST = timezone(timedelta(hours=9))


def good_fields() -> dict[str, Any]:
    return {
        "sensor_id": "GJ-00001.air_pm25",
        "site_id": "GJ-00001",
        "kind": "air_pm25",
        "value": 12.5,
        "unit": "ug/m3",
        "observed_at": datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
        "seq": 7,
    }


def good_json() -> dict[str, Any]:
    fields = good_fields()
    fields["observed_at"] = "2026-11-29T01:00:00Z"
    return fields


def test_a_good_reading_is_accepted_as_given() -> None:
    reading = Reading(**good_fields())
    assert reading.sensor_id == "GJ-00001.air_pm25"
    assert reading.site_id == "GJ-00001"
    assert reading.kind == "air_pm25"
    assert reading.value == 12.5
    assert reading.unit == "ug/m3"
    assert reading.observed_at == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    assert reading.seq == 7
    assert reading.quality == ()


def test_a_good_reading_from_json_round_trips() -> None:
    reading = Reading.model_validate_json(json.dumps(good_json()))
    assert reading == Reading(**good_fields())
    assert Reading.model_validate_json(reading.model_dump_json()) == reading


def test_an_integer_value_is_a_float() -> None:
    fields = good_json()
    fields["value"] = 12
    reading = Reading.model_validate_json(json.dumps(fields))
    assert reading.value == 12.0
    assert isinstance(reading.value, float)


@pytest.mark.parametrize(
    "stamp",
    ["2026-11-29T10:00:00+09:00", "2026-11-28T20:00:00-05:00", "2026-11-29T01:00:00+00:00"],
)
def test_a_json_timestamp_with_an_offset_is_normalised_to_utc(stamp: str) -> None:
    fields = good_json()
    fields["observed_at"] = stamp
    reading = Reading.model_validate_json(json.dumps(fields))
    assert reading.observed_at.utcoffset() == timedelta(0)
    assert reading.observed_at.tzinfo == UTC
    assert reading.observed_at == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    assert reading.observed_at.hour == 1


def test_a_python_datetime_with_an_offset_is_normalised_to_utc() -> None:
    fields = good_fields()
    fields["observed_at"] = datetime(2026, 11, 29, 10, 0, 0, 250_000, tzinfo=KST)
    reading = Reading(**fields)
    assert reading.observed_at.tzinfo == UTC
    assert (reading.observed_at.hour, reading.observed_at.microsecond) == (1, 250_000)


def test_the_reading_is_frozen() -> None:
    reading = Reading(**good_fields())
    with pytest.raises(ValidationError):
        reading.value = 1.0  # type: ignore[misc]


def _rejects_json(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Reading.model_validate_json(json.dumps(fields))
    locations = {".".join(str(part) for part in error["loc"]) for error in caught.value.errors()}
    assert where in locations, locations


def _rejects_python(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Reading(**fields)
    locations = {".".join(str(part) for part in error["loc"]) for error in caught.value.errors()}
    assert where in locations, locations


def test_a_naive_timestamp_is_rejected() -> None:
    fields = good_json()
    fields["observed_at"] = "2026-11-29T01:00:00"
    _rejects_json(fields, "observed_at")
    python = good_fields()
    python["observed_at"] = datetime(2026, 11, 29, 1, 0)
    _rejects_python(python, "observed_at")


def test_a_string_value_is_rejected() -> None:
    fields = good_json()
    fields["value"] = "12"
    _rejects_json(fields, "value")
    _rejects_python({**good_fields(), "value": "12"}, "value")


@pytest.mark.parametrize("flag", [True, False])
def test_a_bool_value_is_rejected(flag: bool) -> None:
    _rejects_json({**good_json(), "value": flag}, "value")
    _rejects_python({**good_fields(), "value": flag}, "value")


def test_a_float_seq_is_rejected() -> None:
    _rejects_json({**good_json(), "seq": 7.0}, "seq")
    _rejects_python({**good_fields(), "seq": 7.0}, "seq")


@pytest.mark.parametrize("seq", [-1, -(2**40)])
def test_a_negative_seq_is_rejected(seq: int) -> None:
    _rejects_json({**good_json(), "seq": seq}, "seq")
    _rejects_python({**good_fields(), "seq": seq}, "seq")


def test_seq_bounds() -> None:
    assert Reading(**{**good_fields(), "seq": 0}).seq == 0
    assert Reading(**{**good_fields(), "seq": 2**63 - 1}).seq == 2**63 - 1
    _rejects_json({**good_json(), "seq": 2**63}, "seq")


def test_an_extra_field_is_rejected() -> None:
    _rejects_json({**good_json(), "colour": "red"}, "colour")
    _rejects_python({**good_fields(), "colour": "red"}, "colour")


@pytest.mark.parametrize("missing", ["sensor_id", "site_id", "kind", "value", "unit", "observed_at"])
def test_a_missing_field_is_rejected(missing: str) -> None:
    fields = good_json()
    del fields[missing]
    _rejects_json(fields, missing)


def test_a_sensor_may_send_no_sequence_number() -> None:
    fields = good_json()
    del fields["seq"]
    assert Reading.model_validate_json(json.dumps(fields)).seq is None
    assert Reading.model_validate_json(json.dumps({**fields, "seq": None})).seq is None


@pytest.mark.parametrize("sensor_id", ["", "x" * 65, "GJ 00001", "GJ-00001 ", "GJ-00001/air", "ümlaut"])
def test_a_bad_sensor_id_is_rejected(sensor_id: str) -> None:
    _rejects_json({**good_json(), "sensor_id": sensor_id}, "sensor_id")
    _rejects_python({**good_fields(), "sensor_id": sensor_id}, "sensor_id")


def test_a_sensor_id_of_exactly_64_allowed_characters_is_accepted() -> None:
    sensor_id = ("Az09_.:-" * 8)[:64]
    assert Reading(**{**good_fields(), "sensor_id": sensor_id}).sensor_id == sensor_id


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_rejected(value: float) -> None:
    _rejects_python({**good_fields(), "value": value}, "value")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_literals_are_rejected(literal: str) -> None:
    text = json.dumps({**good_json(), "value": 0.0}).replace("0.0", literal)
    assert literal in text
    with pytest.raises(ValidationError) as caught:
        Reading.model_validate_json(text)
    assert [error["loc"] for error in caught.value.errors()] == [("value",)]
    assert caught.value.errors()[0]["type"] == "finite_number"
