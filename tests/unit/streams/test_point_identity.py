"""Point identities in InfluxDB (measurement + tags + time) unique per event, the same for a replay.

InfluxDB 1.8 keeps one point per identity: a second write merges its fields into the first. So
two events that share an identity lose one of them (an alarm cleared and another opened by one
reading left the sensor's alarm active), while a replayed event must give the very same line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.alarms import Alarm, AlarmChange, AlarmRules, SensorAlarms, Severity
from models.scoring import ScoredReading, detector_for, score_reading
from sensors import measurements
from sensors.catalog import KINDS
from sensors.cleaning import Reason, Rejection
from sensors.health import HealthRules, SensorState
from sensors.reading import Reading
from sensors.site import Site
from sensors.sites import SiteRegistry
from streams.sinks.influx import alarm_line, reading_line

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SENSOR = "GJ-00042.air_pm25"
SITE = Site.model_validate(
    {
        "site_id": "GJ-00042",
        "name": "Bus stop 42",
        "facility": "bus_stop",
        "programme": "urban_life",
        "district": "Seo-gu",
        "latitude": 35.152,
        "longitude": 126.89,
        "owner_id": "owner-07",
        "sensors": [{"sensor_id": SENSOR, "kind": "air_pm25"}],
    }
)
RULES = AlarmRules(open_after=3, open_rarity=None, open_blip=None, fell_with_speed=None)
"""Three anomalous readings in a row open an alarm; gaps and flatlines are the sensor's faults."""
NORMAL, WARN = 0.5, 0.999


def scored(minute: float, probability: float) -> ScoredReading:
    anomalous = probability >= 0.999
    return ScoredReading.model_construct(
        sensor_id=SENSOR,
        site_id=SITE.site_id,
        kind="air_pm25",
        value=300.0 if anomalous else 20.0,
        unit=KINDS["air_pm25"].unit,
        observed_at=AT + timedelta(minutes=minute),
        seq=int(minute),
        quality=(),
        score=10.0 if anomalous else 0.5,
        probability=probability,
        threshold=0.999,
        anomalous=anomalous,
        warming_up=False,
        expected_low=10.0,
        expected_high=35.0,
        detector="seasonal_likelihood@6",
    )


def split_line(line: str) -> tuple[str, dict[str, str], dict[str, str], int]:
    """Measurement, tags, raw field values and time of one point (string fields may hold spaces,
    commas and escaped quotes; tag values here hold none)."""
    assert "\n" not in line
    head, rest = line.split(" ", 1)
    field_set, stamp = rest.rsplit(" ", 1)
    measurement, *pairs = head.split(",")
    tags = dict(pair.split("=", 1) for pair in pairs)
    fields: dict[str, str] = {}
    current, quoted, escaped = "", False, False
    for char in field_set + ",":
        if char == "," and not quoted:
            key, value = current.split("=", 1)
            fields[key] = value
            current = ""
            continue
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        current += char
    return measurement, tags, fields, int(stamp)


def identity(line: str) -> tuple[str, frozenset[tuple[str, str]], int]:
    """What InfluxDB keys a point by: its measurement, its tag set and its time."""
    measurement, tags, _, stamp = split_line(line)
    return measurement, frozenset(tags.items()), stamp


def cleared_and_opened() -> tuple[Alarm, Alarm]:
    """A warning anomaly alarm, then a reading after a dropout: it clears that alarm and opens a
    sensor-fault alarm (a warning too), both at the reading's event time."""
    state = SensorAlarms(SENSOR, RULES)
    opened = [alarm for minute in range(3) for alarm in state.observe(scored(minute, WARN), SITE)]
    assert [(alarm.change, alarm.severity) for alarm in opened] == [(AlarmChange.OPENED, Severity.WARNING)]
    cleared, fault = state.observe(scored(10, NORMAL), SITE)
    return cleared, fault


def test_an_alarm_cleared_and_another_opened_by_one_reading_are_two_points() -> None:
    cleared, fault = cleared_and_opened()
    assert (cleared.change, cleared.alarm_type, cleared.severity) == (
        AlarmChange.CLEARED,
        "anomaly",
        Severity.WARNING,
    )
    assert (fault.change, fault.alarm_type, fault.severity) == (
        AlarmChange.OPENED,
        "sensor_fault",
        Severity.WARNING,
    )
    assert cleared.updated_at == fault.updated_at == AT + timedelta(minutes=10)
    first, second = identity(alarm_line(cleared)), identity(alarm_line(fault))
    assert first != second
    # Keyed as before (no alarm type, no change), the opening overwrote the clearing.
    before = {"alarm_type", "change"}
    assert {t for t in first[1] if t[0] not in before} == {t for t in second[1] if t[0] not in before}
    assert first[2] == second[2]
    assert split_line(alarm_line(cleared))[2]["active"] == "false"
    assert split_line(alarm_line(fault))[2]["active"] == "true"


def test_an_operators_command_at_the_instant_of_an_alarms_event_is_a_point_of_its_own() -> None:
    state = SensorAlarms(SENSOR, RULES)
    [opened] = [alarm for minute in range(3) for alarm in state.observe(scored(minute, WARN), SITE)]
    acknowledged = state.acknowledge(opened.alarm_id, opened.updated_at)
    assert acknowledged is not None and acknowledged.updated_at == opened.updated_at
    assert acknowledged.severity == opened.severity and acknowledged.alarm_type == opened.alarm_type
    assert identity(alarm_line(opened)) != identity(alarm_line(acknowledged))


def test_an_alarm_point_has_the_alarms_tags_and_fields() -> None:
    _, fault = cleared_and_opened()
    line = alarm_line(fault)
    measurement, tags, fields, stamp = split_line(line)
    assert measurement == measurements.ALARM
    assert tags == {
        "sensor_id": SENSOR,
        "site_id": SITE.site_id,
        "kind": "air_pm25",
        "district": "Seo-gu",
        "owner_id": "owner-07",
        "severity": "warning",
        "alarm_type": "sensor_fault",
        "change": "opened",
    }
    assert tuple(tags) == measurements.ALARM_TAGS
    assert tuple(fields) == measurements.ALARM_FIELDS
    assert fields["alarm_id"] == f'"{fault.alarm_id}"'
    assert stamp == 1_796_026_200_000_000_000  # 2026-11-30T08:10:00Z, the reading's event time


def test_a_replayed_alarm_event_is_the_identical_line() -> None:
    cleared, fault = cleared_and_opened()
    again = cleared_and_opened()
    assert [alarm_line(a) for a in again] == [alarm_line(cleared), alarm_line(fault)]
    # As read back from its Kafka record, too.
    for alarm in (cleared, fault):
        assert alarm_line(Alarm.model_validate_json(alarm.model_dump_json())) == alarm_line(alarm)


# -- readings ----------------------------------------------------------------------------------------------

CITY = SiteRegistry.generate(count=5, seed=1)
CITY_SITE, CITY_SENSOR = next(iter(CITY.sensors()))


def reading(seq: int, at: datetime, value: float = 1.0) -> Reading:
    return Reading(
        sensor_id=CITY_SENSOR.sensor_id,
        site_id=CITY_SITE.site_id,
        kind=CITY_SENSOR.kind,
        value=value,
        unit=CITY_SENSOR.unit,
        observed_at=at,
        seq=seq,
    )


def test_two_readings_of_a_sensor_at_one_instant_would_be_one_point_so_the_second_is_refused() -> None:
    first, second = reading(7, AT, 1.0), reading(8, AT, 2.0)
    detector = detector_for(CITY_SENSOR.kind)
    lines = [reading_line(score_reading(detector, item), CITY) for item in (first, second)]
    # seq is a field, not a tag (a tag would make a series of every reading): one identity.
    assert identity(lines[0]) == identity(lines[1])
    state = SensorState.of(first, partition=0)
    assert state.admit(first, offset=1, rules=HealthRules()).outcome == "accepted"
    refused = state.admit(second, offset=2, rules=HealthRules())
    assert refused.outcome == "duplicate"
    assert isinstance(refused.reading, Rejection) and refused.reading.reason is Reason.DUPLICATE
    assert "already taken from this sensor under another number" in refused.reading.detail


def test_a_replayed_reading_is_the_identical_line() -> None:
    item = reading(7, AT)
    lines = [
        reading_line(score_reading(detector_for(CITY_SENSOR.kind), item), CITY),
        reading_line(
            score_reading(
                detector_for(CITY_SENSOR.kind), Reading.model_validate_json(item.model_dump_json())
            ),
            CITY,
        ),
    ]
    assert lines[0] == lines[1]
    # The readings of one sensor at distinct instants are distinct points.
    later = reading_line(
        score_reading(detector_for(CITY_SENSOR.kind), reading(8, AT + timedelta(microseconds=1))), CITY
    )
    assert identity(later) != identity(lines[0])
