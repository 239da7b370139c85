"""Cleaning: every rejection reason, its boundaries, dead letters, and that ``clean`` never raises."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors.catalog import KINDS
from sensors.cleaning import (
    MAX_EVENT_BYTES,
    MAX_KEY_BYTES,
    MAX_ORIGINAL_BYTES,
    Cleaner,
    DeadLetter,
    Reason,
    Rejection,
    parse,
)
from sensors.reading import Reading
from sensors.site import Sensor, Site
from sensors.sites import SiteRegistry

NOW = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
CITY = SiteRegistry.generate(count=30, seed=11)
CLEANER = Cleaner(CITY)
SITE, SENSOR = next(CITY.sensors())


def other_site() -> Site:
    return next(site for site in CITY.sites if site.site_id != SITE.site_id)


def other_kind() -> str:
    return next(kind for kind in KINDS if kind != SENSOR.kind)


def fields(**changes: Any) -> dict[str, Any]:
    """A valid event of ``SENSOR`` as JSON-ready fields, with ``changes`` applied."""
    base: dict[str, Any] = {
        "sensor_id": SENSOR.sensor_id,
        "site_id": SITE.site_id,
        "kind": SENSOR.kind,
        "value": KINDS[SENSOR.kind].low + 1.0,
        "unit": SENSOR.unit,
        "observed_at": NOW.isoformat(),
        "seq": 1,
    }
    base.update(changes)
    return base


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def reading_for(site: Site, sensor: Sensor, value: float, at: datetime = NOW) -> Reading:
    return Reading(
        sensor_id=sensor.sensor_id,
        site_id=site.site_id,
        kind=sensor.kind,
        value=value,
        unit=sensor.unit,
        observed_at=at,
        seq=1,
    )


def rejected(result: Reading | Rejection, reason: Reason, *names: str) -> Rejection:
    """Assert ``result`` is a rejection for ``reason`` whose detail is a sentence naming ``names``."""
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result
    assert isinstance(result.detail, str)
    assert result.detail.strip()
    assert " " in result.detail.strip(), f"not a sentence: {result.detail!r}"
    for name in names:
        assert name in result.detail, f"{name!r} not in {result.detail!r}"
    return result


def test_a_valid_event_passes_and_equals_the_reading() -> None:
    expected = reading_for(SITE, SENSOR, KINDS[SENSOR.kind].low + 1.0)
    result = CLEANER.clean(expected.model_dump_json().encode(), NOW)
    assert isinstance(result, Reading)
    assert result == expected


def test_every_sensor_of_the_city_has_a_passing_event() -> None:
    for site, sensor in CITY.sensors():
        kind = KINDS[sensor.kind]
        reading = reading_for(site, sensor, (kind.low + kind.high) / 2)
        assert CLEANER.clean(reading.model_dump_json().encode(), NOW) == reading


@pytest.mark.parametrize("raw", [b"{oops", b"", b"\xff\xfe\x00{", b"{'single': 'quotes'}", b'{"a": 1'])
def test_not_json(raw: bytes) -> None:
    rejected(CLEANER.clean(raw, NOW), Reason.NOT_JSON, "JSON")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (fields(value="12"), "value"),
        (fields(seq=1.5), "seq"),
        (fields(seq=-1), "seq"),
        (fields(observed_at="2026-11-29T01:00:00"), "observed_at"),
        (fields(sensor_id="has space"), "sensor_id"),
        (fields(extra=1), "extra"),
        (fields(seq=None) | {"sensor_id": None}, "sensor_id"),
    ],
)
def test_schema(event: dict[str, Any], field: str) -> None:
    rejected(CLEANER.clean(encode(event), NOW), Reason.SCHEMA, field)


@pytest.mark.parametrize("raw", [b"[]", b'"a string"', b"42", b"null"])
def test_json_that_is_not_an_object_is_a_schema_error(raw: bytes) -> None:
    rejected(CLEANER.clean(raw, NOW), Reason.SCHEMA, "object")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite(value: float) -> None:
    raw = json.dumps(fields(value=value), allow_nan=True).encode()
    rejected(CLEANER.clean(raw, NOW), Reason.NON_FINITE, "value")


def test_a_number_too_large_for_a_float_is_non_finite() -> None:
    raw = encode(fields(value=0.5)).replace(b"0.5", b"1e400")
    rejected(CLEANER.clean(raw, NOW), Reason.NON_FINITE, "value")


def test_unknown_sensor() -> None:
    raw = encode(fields(sensor_id="XX-99999.ghost"))
    rejected(CLEANER.clean(raw, NOW), Reason.UNKNOWN_SENSOR, "XX-99999.ghost")


def test_sensor_mismatch_wrong_site() -> None:
    wrong = other_site().site_id
    result = CLEANER.clean(encode(fields(site_id=wrong)), NOW)
    rejected(result, Reason.SENSOR_MISMATCH, SENSOR.sensor_id, wrong, SITE.site_id)


def test_sensor_mismatch_wrong_kind() -> None:
    wrong = other_kind()
    result = CLEANER.clean(encode(fields(kind=wrong, unit=KINDS[wrong].unit)), NOW)
    rejected(result, Reason.SENSOR_MISMATCH, SENSOR.sensor_id, wrong, SENSOR.kind)


def test_unit_unknown() -> None:
    result = CLEANER.clean(encode(fields(unit="furlong")), NOW)
    rejected(result, Reason.UNIT_UNKNOWN, "furlong", SENSOR.unit)


def test_the_unit_of_another_kind_is_unit_unknown() -> None:
    unit = next(k.unit for k in KINDS.values() if k.unit != SENSOR.unit)
    rejected(CLEANER.clean(encode(fields(unit=unit)), NOW), Reason.UNIT_UNKNOWN, unit)


def test_out_of_range_just_below_low() -> None:
    low = KINDS[SENSOR.kind].low
    below = math.nextafter(low, -math.inf)
    reading = reading_for(SITE, SENSOR, below)
    result = CLEANER.clean(reading.model_dump_json().encode(), NOW)
    rejected(result, Reason.OUT_OF_RANGE, str(below), SENSOR.kind)


def test_out_of_range_just_above_high() -> None:
    high = KINDS[SENSOR.kind].high
    above = math.nextafter(high, math.inf)
    reading = reading_for(SITE, SENSOR, above)
    result = CLEANER.clean(reading.model_dump_json().encode(), NOW)
    rejected(result, Reason.OUT_OF_RANGE, str(above), SENSOR.kind)


@pytest.mark.parametrize("name", sorted({sensor.kind for _, sensor in CITY.sensors()}))
def test_exactly_low_and_exactly_high_pass_for_every_kind(name: str) -> None:
    site, sensor = next((site, sensor) for site, sensor in CITY.sensors() if sensor.kind == name)
    kind = KINDS[name]
    for value in (kind.low, kind.high):
        reading = reading_for(site, sensor, value)
        assert CLEANER.clean(reading.model_dump_json().encode(), NOW) == reading
    for value in (math.nextafter(kind.low, -math.inf), math.nextafter(kind.high, math.inf)):
        result = CLEANER.clean(reading_for(site, sensor, value).model_dump_json().encode(), NOW)
        rejected(result, Reason.OUT_OF_RANGE, name)


def test_future_timestamp_just_beyond_max_future() -> None:
    at = NOW + CLEANER.max_future + timedelta(microseconds=1)
    result = CLEANER.clean(encode(fields(observed_at=at.isoformat())), NOW)
    rejected(result, Reason.FUTURE_TIMESTAMP, "observed_at", at.isoformat())


@pytest.mark.parametrize("ahead", [timedelta(0), timedelta(minutes=4, seconds=59), timedelta(minutes=5)])
def test_future_timestamp_within_max_future_passes(ahead: timedelta) -> None:
    assert CLEANER.max_future == timedelta(minutes=5)
    at = NOW + ahead
    result = CLEANER.clean(encode(fields(observed_at=at.isoformat())), NOW)
    assert isinstance(result, Reading), result
    assert result.observed_at == at


def test_max_future_is_configurable() -> None:
    strict = Cleaner(CITY, max_future=timedelta(0))
    at = NOW + timedelta(microseconds=1)
    rejected(strict.clean(encode(fields(observed_at=at.isoformat())), NOW), Reason.FUTURE_TIMESTAMP, "0 s")
    assert isinstance(strict.clean(encode(fields()), NOW), Reading)


def test_a_future_timestamp_in_another_offset_is_compared_in_utc() -> None:
    # 10:04 in Seoul is 01:04 UTC: four minutes ahead, allowed.
    assert isinstance(CLEANER.clean(encode(fields(observed_at="2026-11-29T10:04:00+09:00")), NOW), Reading)
    result = CLEANER.clean(encode(fields(observed_at="2026-11-29T10:06:00+09:00")), NOW)
    rejected(result, Reason.FUTURE_TIMESTAMP, "observed_at")


def test_an_old_timestamp_passes() -> None:
    at = NOW - timedelta(days=30)
    assert isinstance(CLEANER.clean(encode(fields(observed_at=at.isoformat())), NOW), Reading)


def test_an_oversized_event_is_refused_before_parsing() -> None:
    valid = encode(fields())
    padded = valid[:-1] + b" " * (MAX_EVENT_BYTES - len(valid)) + b"}"
    assert len(padded) == MAX_EVENT_BYTES
    assert isinstance(CLEANER.clean(padded, NOW), Reading)
    oversized = valid[:-1] + b" " * (MAX_EVENT_BYTES + 1 - len(valid)) + b"}"
    assert len(oversized) == MAX_EVENT_BYTES + 1
    rejected(parse(Reading, oversized), Reason.SCHEMA, str(MAX_EVENT_BYTES + 1), str(MAX_EVENT_BYTES))
    rejected(CLEANER.clean(oversized, NOW), Reason.SCHEMA, str(MAX_EVENT_BYTES + 1))


def test_a_none_value_is_a_schema_rejection() -> None:
    rejected(parse(Reading, None), Reason.SCHEMA, "value")


def test_check_applies_the_rules_to_a_reading_already_parsed() -> None:
    reading = reading_for(SITE, SENSOR, KINDS[SENSOR.kind].high * 2 + 1)
    rejected(CLEANER.check(reading, NOW), Reason.OUT_OF_RANGE, SENSOR.kind)
    good = reading_for(SITE, SENSOR, KINDS[SENSOR.kind].low)
    assert CLEANER.check(good, NOW) is good


@pytest.mark.parametrize(
    "original",
    [
        b'{"sensor_id": "x"}',
        b"\xff\xfe\x00\x80binary\x00",
        bytes(range(256)),
        b"",
        "caf\u00e9 \U0001f600".encode(),
    ],
)
def test_a_dead_letter_round_trips_the_original_bytes_through_json(original: bytes) -> None:
    rejection = Rejection(Reason.NOT_JSON, "not JSON: broken")
    letter = DeadLetter.of(
        rejection,
        stage="clean",
        original=original,
        key=b"GJ-00001.air_pm25",
        source=("readings.raw", 3, 1234),
        at=NOW,
    )
    again = DeadLetter.model_validate_json(letter.model_dump_json())
    assert again.original == original
    assert again == letter
    assert (again.reason, again.detail, again.stage) == (Reason.NOT_JSON, "not JSON: broken", "clean")
    assert (again.source_topic, again.source_partition, again.source_offset) == ("readings.raw", 3, 1234)
    assert again.key == "GJ-00001.air_pm25"
    assert again.rejected_at == NOW


def test_a_dead_letter_without_a_key_or_with_a_binary_key() -> None:
    rejection = Rejection(Reason.SCHEMA, "the event has no value")
    source = ("readings.raw", 0, 0)
    keyless = DeadLetter.of(rejection, stage="clean", original=b"", key=None, source=source, at=NOW)
    assert DeadLetter.model_validate_json(keyless.model_dump_json()).key is None
    binary = DeadLetter.of(rejection, stage="clean", original=b"", key=b"\xffk", source=source, at=NOW)
    assert DeadLetter.model_validate_json(binary.model_dump_json()).key == "\\xffk"


def test_the_dead_letter_of_a_megabyte_keeps_a_part_small_enough_for_kafka() -> None:
    """A worker that sent whole megabyte events to the dead letters crashed (Kafka refuses
    records over 1 MB: MessageSizeTooLargeError), again at each restart, on the same event; an
    HTTP batch holding one got a 503 "send it again" that could never succeed."""
    rejection = Rejection(Reason.SCHEMA, "1000000 bytes is above the 16384 allowed")
    original, key = b"\xff" * 1_000_000, b"\xfe" * 500_000
    letter = DeadLetter.of(rejection, stage="clean", original=original, key=key, source=("r", 0, 9), at=NOW)
    record_key, value = letter.record()
    assert len(value) + len(record_key or b"") < 100_000
    again = DeadLetter.model_validate_json(value)
    assert again.original == original[:MAX_ORIGINAL_BYTES]
    assert again.detail == (
        "1000000 bytes is above the 16384 allowed (only its first 65,536 of 1,000,000 bytes are kept)"
    )
    assert again.key == "\\xfe" * MAX_KEY_BYTES and record_key == again.key.encode()
    whole = DeadLetter.of(
        rejection, stage="clean", original=b"x" * MAX_ORIGINAL_BYTES, key=b"k", source=("r", 0, 9), at=NOW
    )
    assert (whole.detail, whole.original, whole.record()[0]) == (
        rejection.detail,
        b"x" * MAX_ORIGINAL_BYTES,
        b"k",
    )


# Property-based: whatever arrives, ``clean`` answers with a Reading or a Rejection.

FAST = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
small_json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=3,
)
json_objects = st.dictionaries(
    st.sampled_from([*fields()]) | st.text(max_size=8), small_json_values, max_size=8
)


def assert_answer(result: Reading | Rejection) -> None:
    if isinstance(result, Rejection):
        assert isinstance(result.reason, Reason)
        assert result.reason in set(Reason)
        assert isinstance(result.detail, str)
        assert result.detail.strip()
    else:
        assert isinstance(result, Reading)
        assert CITY.sensor(result.sensor_id) is not None


@settings(FAST, max_examples=3000)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert_answer(CLEANER.clean(raw, NOW))


@settings(FAST, max_examples=500)
@given(json_objects)
def test_arbitrary_json_objects_never_raise(event: dict[str, Any]) -> None:
    assert_answer(CLEANER.clean(json.dumps(event, allow_nan=True).encode(), NOW))
    # The same keys and values laid over a valid event: close to valid, so past the schema more often.
    assert_answer(CLEANER.clean(json.dumps({**fields(), **event}, allow_nan=True).encode(), NOW))


@settings(FAST, max_examples=300)
@given(json_values)
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    assert_answer(CLEANER.clean(json.dumps(value, allow_nan=True).encode(), NOW))


sensors = st.sampled_from(list(CITY.sensors()))


@settings(FAST, max_examples=700)
@given(sensors, st.sampled_from([*fields()]), json_values)
def test_a_valid_reading_with_one_field_replaced_never_raises(
    site_sensor: tuple[Site, Sensor], field: str, replacement: Any
) -> None:
    site, sensor = site_sensor
    valid = reading_for(site, sensor, KINDS[sensor.kind].low)
    event = json.loads(valid.model_dump_json())
    event[field] = replacement
    result = CLEANER.clean(json.dumps(event, allow_nan=True).encode(), NOW)
    assert_answer(result)
    if isinstance(result, Reading):
        # Only the replaced field can differ from the valid event it came from.
        others = set(Reading.model_fields) - {field}
        assert {name: getattr(result, name) for name in others} == {
            name: getattr(valid, name) for name in others
        }


@settings(FAST, max_examples=500)
@given(sensors, st.floats(allow_nan=True, allow_infinity=True))
def test_any_float_value_is_passed_exactly_when_in_range(
    site_sensor: tuple[Site, Sensor], value: float
) -> None:
    site, sensor = site_sensor
    event = json.loads(reading_for(site, sensor, KINDS[sensor.kind].low).model_dump_json())
    event["value"] = value
    result = CLEANER.clean(json.dumps(event, allow_nan=True).encode(), NOW)
    kind = KINDS[sensor.kind]
    if not math.isfinite(value):
        rejected(result, Reason.NON_FINITE, "value")
    elif kind.low <= value <= kind.high:
        assert isinstance(result, Reading)
        assert result.value == value
    else:
        rejected(result, Reason.OUT_OF_RANGE, kind.name)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_event_time_that_overflows_in_utc_is_rejected_not_raised(stamp: str) -> None:
    rejected(CLEANER.clean(encode(fields(observed_at=stamp)), NOW), Reason.SCHEMA, "observed_at")
