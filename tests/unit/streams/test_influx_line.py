"""Line protocol of a scored reading: measurement, tags from the registry, typed fields, ns time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.scoring import ScoredReading, detector_for, score_reading
from sensors import measurements
from sensors.catalog import Programme
from sensors.health import HealthEvent, Problem
from sensors.reading import Reading
from sensors.site import District, Sensor, Site
from sensors.sites import SiteRegistry
from streams.sinks.influx import _tag, health_lines, reading_line, status_line

AT = datetime(2026, 11, 29, 1, 2, 3, 456_789, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CITY = SiteRegistry.generate(count=10, seed=4)
SITE = CITY.sites[0]
SENSOR = SITE.sensors[0]


def split_unescaped(text: str, separator: str) -> list[str]:
    """Split line-protocol ``text`` on ``separator`` where it is not escaped by a backslash."""
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == separator:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def unescape(text: str) -> str:
    out, escaped = "", False
    for char in text:
        if escaped or char != "\\":
            out += char
            escaped = False
        else:
            escaped = True
    return out


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, str], int]:
    """Measurement, tags, raw field values and timestamp of one point (no string fields)."""
    assert "\n" not in line
    sections = split_unescaped(line, " ")
    assert len(sections) == 3, sections
    head, field_set, stamp = sections
    measurement, *tag_pairs = split_unescaped(head, ",")
    tags = {}
    for pair in tag_pairs:
        key, value = split_unescaped(pair, "=")
        assert key and value, pair
        tags[unescape(key)] = unescape(value)
    fields = {}
    for pair in split_unescaped(field_set, ","):
        key, value = pair.split("=")
        fields[key] = value
    return unescape(measurement), tags, fields, int(stamp)


def scored(value: float = 12.5, observed_at: datetime = AT, **changes: Any) -> ScoredReading:
    reading = Reading(
        sensor_id=SENSOR.sensor_id,
        site_id=SITE.site_id,
        kind=SENSOR.kind,
        value=value,
        unit=SENSOR.unit,
        observed_at=observed_at,
        seq=123_456,
    )
    result = score_reading(detector_for(SENSOR.kind), reading)
    return result.model_copy(update=changes) if changes else result


def nanos(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def test_a_point_has_the_reading_measurement_tags_and_fields() -> None:
    point = scored()
    measurement, tags, fields, stamp = parse_line(reading_line(point, CITY))
    assert measurement == measurements.READING == "reading"
    assert tags == {
        "sensor_id": SENSOR.sensor_id,
        "site_id": SITE.site_id,
        "kind": SENSOR.kind,
        "district": SITE.district.value,
        "programme": SITE.programme.value,
    }
    assert tuple(tags) == measurements.READING_TAGS
    assert tuple(fields) == measurements.READING_FIELDS
    assert float(fields["value"]) == 12.5
    assert float(fields["score"]) == point.score
    assert float(fields["threshold"]) == point.threshold
    assert float(fields["expected_low"]) == point.expected_low
    assert float(fields["expected_high"]) == point.expected_high
    assert stamp == nanos(AT)


def test_seq_is_an_integer_field() -> None:
    _, _, fields, _ = parse_line(reading_line(scored(), CITY))
    assert fields["seq"] == "123456i"


def test_float_fields_are_written_exactly() -> None:
    for value in (0.1, 1e-05, 123456789.123, 1.0 / 3.0, 5e-324):
        _, _, fields, _ = parse_line(reading_line(scored(value), CITY))
        assert "i" not in fields["value"]
        assert float(fields["value"]) == value


@pytest.mark.parametrize(("anomalous", "text"), [(True, "true"), (False, "false")])
def test_booleans_are_true_or_false(anomalous: bool, text: str) -> None:
    _, _, fields, _ = parse_line(reading_line(scored(anomalous=anomalous), CITY))
    assert fields["anomalous"] == text


def test_the_timestamp_is_observed_at_in_nanoseconds() -> None:
    _, _, _, stamp = parse_line(reading_line(scored(), CITY))
    assert stamp == 1_795_914_123_456_789_000
    assert stamp == nanos(AT)
    assert stamp % 1000 == 0
    assert datetime.fromtimestamp(stamp // 1_000_000_000, UTC) == AT.replace(microsecond=0)
    assert stamp % 1_000_000_000 == 456_789_000


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))]),
    )
)
def test_any_event_time_since_1970_is_exact_to_the_microsecond(moment: datetime) -> None:
    point = ScoredReading.model_construct(**{**scored().model_dump(), "observed_at": moment})
    _, _, _, stamp = parse_line(reading_line(point, CITY))
    assert stamp == nanos(moment)


def test_an_event_time_before_1970_is_exact() -> None:
    moment = datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    _, _, _, stamp = parse_line(reading_line(scored(observed_at=moment), CITY))
    assert stamp == -500_000_000


def test_tag_escaping() -> None:
    assert _tag("plain") == "plain"
    assert _tag("a b") == r"a\ b"
    assert _tag("a,b") == r"a\,b"
    assert _tag("a=b") == r"a\=b"
    assert _tag(" ,=") == r"\ \,\="
    assert _tag("Dong-gu") == "Dong-gu"


def test_tag_values_with_spaces_commas_and_equals_are_escaped() -> None:
    odd_site = Site(
        site_id="GJ 1,x=y",
        name="an odd site",
        facility="road_intersection",
        programme=Programme.MOBILITY,
        district=District.NAM_GU,
        latitude=35.13,
        longitude=126.9,
        owner_id="owner-001",
        sensors=(Sensor(sensor_id="GJ 1,x=y.traffic flow", kind="traffic_flow"),),
    )
    registry = SiteRegistry([odd_site])
    point = ScoredReading.model_construct(
        **{
            **scored().model_dump(),
            "sensor_id": "GJ 1,x=y.traffic flow",
            "site_id": "GJ 1,x=y",
            "kind": "traffic=flow, odd",
        }
    )
    line = reading_line(point, registry)
    assert r"sensor_id=GJ\ 1\,x\=y.traffic\ flow," in line
    assert r"site_id=GJ\ 1\,x\=y," in line
    assert r"kind=traffic\=flow\,\ odd," in line
    measurement, tags, fields, stamp = parse_line(line)
    assert measurement == "reading"
    assert tags == {
        "sensor_id": "GJ 1,x=y.traffic flow",
        "site_id": "GJ 1,x=y",
        "kind": "traffic=flow, odd",
        "district": "Nam-gu",
        "programme": "mobility",
    }
    assert set(fields) == set(measurements.READING_FIELDS)
    assert stamp == nanos(AT)


def test_a_reading_from_an_unknown_site_gets_district_unknown() -> None:
    point = scored(site_id="GJ-99999")
    assert CITY.site("GJ-99999") is None
    _, tags, _, _ = parse_line(reading_line(point, CITY))
    assert tags["district"] == "unknown"
    assert tags["programme"] == "unknown"
    assert tags["site_id"] == "GJ-99999"


def test_every_site_of_a_city_gets_its_own_district_and_programme() -> None:
    for site, sensor in CITY.sensors():
        point = scored().model_copy(
            update={"sensor_id": sensor.sensor_id, "site_id": site.site_id, "kind": sensor.kind}
        )
        _, tags, _, _ = parse_line(reading_line(point, CITY))
        assert (tags["district"], tags["programme"]) == (site.district.value, site.programme.value)
        assert tags["sensor_id"] == sensor.sensor_id


def test_a_status_point_carries_the_site_owner_and_position() -> None:
    line = status_line(SENSOR.sensor_id, SENSOR.kind, SITE, AT, {"code": 6, "status": "major"})
    measurement, tags, fields, stamp = parse_line(line)
    assert measurement == measurements.SENSOR_STATUS
    assert tags == {
        "sensor_id": SENSOR.sensor_id,
        "site_id": SITE.site_id,
        "kind": SENSOR.kind,
        "district": SITE.district.value,
        "programme": SITE.programme.value,
        "owner_id": SITE.owner_id,
    }
    assert set(tags) == set(measurements.SENSOR_STATUS_TAGS)
    assert fields == {
        "code": "6i",
        "status": '"major"',
        "latitude": repr(SITE.latitude),
        "longitude": repr(SITE.longitude),
    }
    assert set(fields) <= set(measurements.SENSOR_STATUS_FIELDS)
    assert stamp == nanos(AT)


@pytest.mark.parametrize(
    ("problem", "status", "end", "expected"),
    [
        (Problem.STALE, "open", None, [("stale", "1i", AT)]),
        (Problem.FLATLINE, "closed", AT + timedelta(hours=1), [("flatline", "0i", AT + timedelta(hours=1))]),
        (Problem.GAP, "closed", AT + timedelta(hours=1), []),
    ],
)
def test_a_stale_or_flatline_episode_also_changes_the_sensors_status(
    problem: Problem, status: str, end: datetime | None, expected: list[tuple[str, str, datetime]]
) -> None:
    event = HealthEvent(
        sensor_id=SENSOR.sensor_id,
        site_id=SITE.site_id,
        kind=SENSOR.kind,
        problem=problem,
        status=status,
        start=AT,
        end=end,
        detail="test",
    )
    episode, *changes = health_lines(event, CITY)
    assert episode.startswith(measurements.SENSOR_HEALTH + ",")
    found = []
    for line in changes:
        measurement, _, fields, stamp = parse_line(line)
        assert measurement == measurements.SENSOR_STATUS
        [(name, value)] = [(k, v) for k, v in fields.items() if k not in ("latitude", "longitude")]
        found.append((name, value, EPOCH + timedelta(microseconds=stamp // 1000)))
    assert found == expected
