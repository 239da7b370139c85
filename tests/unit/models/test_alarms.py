"""Alarm lifecycle without Kafka: opening rules, one alarm while active, hysteresis, flapping,
replays, operators, the state's record and the alarm's payload."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from models.alarms import (
    SAFETY_KINDS,
    Alarm,
    AlarmChange,
    AlarmRules,
    AlarmState,
    SensorAlarms,
    Severity,
    alarm_id,
    severity_of,
)
from models.alarms.neighbours import SpeedFell, told_by
from models.scoring import ScoredReading, detector_for, score_reading
from sensors.catalog import KINDS
from sensors.reading import Reading
from sensors.site import Sensor, Site

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
RULES = AlarmRules(
    open_after=3,
    clear_after=3,
    flap_window_seconds=3600,
    flap_limit=2,
    recent_values=5,
    open_rarity=None,
    open_blip=None,
    fell_with_speed=None,
    gap_readings=None,
    flatline=False,
)
"""The rules most tests follow: alarms open on three anomalous readings in a row alone (the single rare
reading, the reading that stands out alone and the sensor's faults have tests of their own)."""

# Probabilities against the threshold 0.999: a normal reading, and anomalies 1, 10, 100, 1000 times rarer.
NORMAL, WARN, MINOR, MAJOR, CRITICAL = 0.5, 0.999, 0.9999, 0.99999, 0.999999


def scored(
    minute: float,
    probability: float,
    value: float | None = None,
    *,
    kind: str = "air_pm25",
    quality: tuple[str, ...] = (),
    warming_up: bool = False,
    sensor_id: str = SENSOR,
) -> ScoredReading:
    anomalous = not warming_up and probability >= 0.999
    return ScoredReading.model_construct(
        sensor_id=sensor_id,
        site_id=SITE.site_id,
        kind=kind,
        value=(300.0 if anomalous else 20.0) if value is None else value,
        unit=KINDS[kind].unit,
        observed_at=AT + timedelta(minutes=minute),
        seq=int(minute),
        quality=quality,
        score=10.0 if anomalous else 0.5,
        probability=probability,
        threshold=0.999,
        anomalous=anomalous,
        warming_up=warming_up,
        expected_low=10.0,
        expected_high=35.0,
        detector="seasonal_likelihood@2",
    )


def feed(state: SensorAlarms, readings: Iterable[ScoredReading]) -> list[Alarm]:
    return [alarm for reading in readings for alarm in state.observe(reading, SITE)]


def series(probabilities: Sequence[float], start: float = 0.0) -> list[ScoredReading]:
    """One reading a minute from ``start`` with these probabilities."""
    return [scored(start + i, probability) for i, probability in enumerate(probabilities)]


def changes(alarms: Iterable[Alarm]) -> list[tuple[str, str, int]]:
    return [(alarm.change.value, alarm.state.value, alarm.sequence) for alarm in alarms]


# -- opening ---------------------------------------------------------------------------------------------


def test_an_alarm_opens_once_the_rule_holds_and_not_before() -> None:
    state = SensorAlarms(SENSOR, RULES)
    assert feed(state, series([MINOR, MINOR])) == []
    assert state.active is None
    [opened] = state.observe(scored(2, MINOR), SITE)
    assert opened.change is AlarmChange.OPENED
    assert opened.state is AlarmState.ACTIVE_UNACK
    assert opened.sequence == 0
    assert opened.first_anomalous_at == AT
    assert opened.opened_at == opened.last_anomalous_at == AT + timedelta(minutes=2)
    assert opened.anomalous_readings == 3
    assert opened.alarm_id == alarm_id(SENSOR, "anomaly", AT)
    assert state.active == opened


def test_a_broken_run_of_anomalies_opens_nothing() -> None:
    state = SensorAlarms(SENSOR, RULES)
    assert feed(state, series([MINOR, MINOR, NORMAL, MINOR, MINOR, NORMAL, MAJOR])) == []
    assert state.current is None


def test_an_alarm_opens_after_a_minimum_anomalous_duration() -> None:
    rules = AlarmRules(
        open_after=100, open_after_seconds=1800, clear_after=2, open_rarity=None, gap_readings=None
    )
    state = SensorAlarms(SENSOR, rules)
    # A slow sensor: one reading every 15 minutes; the run spans 30 minutes at its third reading.
    assert feed(state, [scored(0, MINOR), scored(15, MINOR)]) == []
    [opened] = state.observe(scored(30, MINOR), SITE)
    assert opened.first_anomalous_at == AT
    assert opened.opened_at == AT + timedelta(minutes=30)


def test_warm_up_readings_neither_open_nor_break_a_run() -> None:
    state = SensorAlarms(SENSOR, RULES)
    readings = [scored(0, MINOR), scored(1, NORMAL, warming_up=True), scored(2, MINOR), scored(3, MINOR)]
    assert changes(feed(state, readings)) == [("opened", "active_unack", 0)]


# -- one reading far rarer than the threshold, and the sensor's own faults ---------------------------------

RARE = replace(RULES, open_rarity=100.0, gap_readings=2, gap_seconds=300.0, flatline=True)
"""Three in a row, or one reading 100 times rarer than the threshold; gaps and flatlines are faults."""


def test_one_reading_far_rarer_than_the_threshold_opens_an_alarm_at_once() -> None:
    state = SensorAlarms(SENSOR, RARE)
    # 10 times rarer than the threshold is not enough under this rule; 100 times is.
    assert feed(state, series([MINOR, NORMAL])) == []
    [opened] = state.observe(scored(2, MAJOR), SITE)
    assert opened.alarm_type == "anomaly"
    assert opened.anomalous_readings == 1
    assert opened.first_anomalous_at == opened.opened_at == AT + timedelta(minutes=2)
    assert opened.reason == "one reading 100 times rarer than the threshold"
    assert opened.reason in opened.summary and "above the expected 10..35" in opened.summary
    # It clears like any other alarm.
    assert changes(feed(state, series([NORMAL] * 3, start=3))) == [("cleared", "cleared_unack", 1)]


def test_the_rule_of_a_run_says_so() -> None:
    [opened] = feed(SensorAlarms(SENSOR, RARE), series([MINOR, MINOR, MINOR]))
    assert opened.reason == "3 anomalous readings in a row"


BLIP = replace(RULES, open_blip=8.0)
"""Three in a row, or one reading off both its neighbours by 8 times its kind's noise."""
CHARGER = "GJ-00042.ev_charging_power"


def charger(minute: float, value: float, probability: float = NORMAL) -> ScoredReading:
    """A reading of an EV charger (measurement noise 5 kW), normal to its detector."""
    return scored(minute, probability, value, kind="ev_charging_power", sensor_id=CHARGER)


def test_one_reading_standing_out_alone_opens_an_alarm_with_the_next() -> None:
    state = SensorAlarms(CHARGER, BLIP)
    # An idle charger jumps to 80 kW for one minute: usual for its detector (a session starts so).
    assert feed(state, [charger(0, 0.0), charger(1, 0.0), charger(2, 80.0)]) == []
    [opened] = state.observe(charger(3, 0.0), SITE)
    assert opened.alarm_type == "anomaly" and opened.anomalous_readings == 1
    assert opened.first_anomalous_at == AT + timedelta(minutes=2)
    assert opened.opened_at == AT + timedelta(minutes=3)
    assert opened.value == 80.0
    assert opened.reason == "one reading off both its neighbours by 16 times the noise of its kind"
    # The reading that showed it counts towards clearing it.
    assert changes(feed(state, [charger(minute, 0.0) for minute in (4, 5)])) == [
        ("cleared", "cleared_unack", 1)
    ]


def test_a_session_noise_and_a_restart_open_nothing_alone() -> None:
    # A session starts and lasts; noise stays within 8 times the kind's noise; a smaller blip.
    values = [0.0, 0.0, 80.0, 79.0, 81.0, 80.0, 110.0, 80.0, 0.0, 0.0, 39.0, 0.0]
    assert feed(SensorAlarms(CHARGER, BLIP), [charger(i, v) for i, v in enumerate(values)]) == []
    # A state restored from its record has not seen the blip's own reading scored: it waits.
    state = SensorAlarms(CHARGER, BLIP)
    feed(state, [charger(0, 0.0), charger(1, 80.0)])
    restored = SensorAlarms.from_dict(json.loads(json.dumps(state.to_dict())), BLIP)
    assert restored is not None and feed(restored, [charger(2, 0.0)]) == []
    assert [alarm.change for alarm in feed(state, [charger(2, 0.0)])] == [AlarmChange.OPENED]
    # No such rule, no such alarm.
    assert feed(SensorAlarms(CHARGER, RULES), [charger(i, v) for i, v in enumerate([0.0, 80.0, 0.0])]) == []


FELL = replace(RULES, fell_with_speed=2.5, recent_values=10)
"""Three in a row, or a flow or noise level that fell with the speed at its intersection."""
RARE_FELL = replace(FELL, open_rarity=10.0)
"""As :data:`FELL`, and one reading 10 times rarer than the threshold opens an alarm at once."""
CROSSING = SITE.model_copy(
    update={
        "site_id": "GJ-00077",
        "sensors": [
            Sensor(sensor_id=f"GJ-00077.{kind}", kind=kind)
            for kind in ("traffic_speed", "traffic_flow", "noise_level")
        ],
    }
)


def at_crossing(minute: float, kind: str, value: float, probability: float = NORMAL) -> ScoredReading:
    reading = scored(minute, probability, value, kind=kind, sensor_id=f"GJ-00077.{kind}")
    return reading.model_copy(update={"site_id": CROSSING.site_id})


def told_by_speed(values: Sequence[float], rules: AlarmRules = RARE_FELL) -> list[list[SpeedFell]]:
    """What each of the speed sensor's anomalous readings of ``values`` (from minute 5, one a
    minute, then normal ones at 45 km/h) tells the other sensors of its site."""
    state = SensorAlarms("GJ-00077.traffic_speed", rules)
    readings = [at_crossing(5 + i, "traffic_speed", v, MAJOR) for i, v in enumerate(values)]
    readings += [at_crossing(5 + len(values) + i, "traffic_speed", 45.0) for i in range(3)]
    told = []
    for reading in readings:
        opened = any(alarm.change is AlarmChange.OPENED for alarm in state.observe(reading, CROSSING))
        told.append(told_by(reading, state.active, state.streak, opened, CROSSING))
    return told


def test_a_flow_that_fell_with_the_speed_at_its_intersection_opens_an_alarm() -> None:
    # The speed fell to 5 km/h (below its expected 10..35) and stayed there: its second reading
    # tells the flow and the noise level that it fell at minute 5; no other reading tells.
    told = told_by_speed([5.0, 5.0, 6.0])
    assert [(n.sensor_id, n.at) for n in told[1]] == [
        ("GJ-00077.traffic_flow", AT + timedelta(minutes=5)),
        ("GJ-00077.noise_level", AT + timedelta(minutes=5)),
    ]
    assert [len(notices) for notices in told] == [0, 2, 0, 0, 0, 0]
    assert told_by_speed([5.0]) == [[]] * 4  # a dip, one reading: no accident
    assert told_by_speed([50.0, 50.0]) == [[]] * 5  # it rose: no accident
    # An alarm that opens on the third reading in a row tells with it.
    assert [len(notices) for notices in told_by_speed([5.0, 5.0, 5.0], FELL)] == [0, 0, 2, 0, 0, 0]
    # The flow (normal reading by reading, for its detector) drops from about 126 to about 40.
    flow = SensorAlarms("GJ-00077.traffic_flow", FELL)
    before = [at_crossing(m, "traffic_flow", 120.0 + (-1) ** m * 30.0) for m in range(5)]
    assert feed(flow, before) == []
    flow.speed_fell(told[1][0].at)
    restored = SensorAlarms.from_dict(json.loads(json.dumps(flow.to_dict())), FELL)
    assert restored is not None and restored.speed_fell_at == AT + timedelta(minutes=5)
    after = [at_crossing(m, "traffic_flow", 40.0 + (-1) ** m * 10.0) for m in range(5, 9)]
    assert feed(flow, after[:3]) == []  # too soon to say
    [opened] = flow.observe(after[3], CROSSING)
    assert opened.alarm_type == "anomaly" and opened.anomalous_readings == 4
    assert opened.first_anomalous_at == AT + timedelta(minutes=5)
    assert opened.reason == "fell from 126 to 40 on average as the speed at its intersection did"
    assert flow.speed_fell_at is None
    assert [alarm.change for alarm in feed(restored, after)] == [AlarmChange.OPENED]


def test_a_flow_that_held_up_or_a_sensor_of_another_kind_opens_nothing() -> None:
    flow = SensorAlarms("GJ-00077.traffic_flow", FELL)
    feed(flow, [at_crossing(m, "traffic_flow", 120.0 + (-1) ** m * 30.0) for m in range(5)])
    flow.speed_fell(AT + timedelta(minutes=5))
    assert feed(flow, [at_crossing(m, "traffic_flow", 110.0 + (-1) ** m * 30.0) for m in range(5, 12)]) == []
    assert flow.speed_fell_at is None  # judged once, and let go
    air = SensorAlarms(SENSOR, FELL)
    air.speed_fell(AT)
    assert feed(air, [scored(m, NORMAL, 20.0 if m < 3 else 2.0) for m in range(8)]) == []
    # No such rule: the notice is not even kept.
    off = SensorAlarms("GJ-00077.traffic_flow", RULES)
    off.speed_fell(AT)
    assert off.speed_fell_at is None


def test_readings_resuming_after_a_dropout_open_a_sensor_fault_alarm() -> None:
    state = SensorAlarms(SENSOR, RARE)
    assert feed(state, series([NORMAL] * 3)) == []
    # Readings at minutes 0, 1, 2, then 10: seven went missing over 480 s.
    [opened] = state.observe(scored(10, NORMAL), SITE)
    assert opened.alarm_type == "sensor_fault"
    assert opened.alarm_id == alarm_id(SENSOR, "sensor_fault", AT + timedelta(minutes=10))
    assert opened.severity is Severity.WARNING
    assert opened.reason == "no reading for 480 s (7 missing at one every 60 s)"
    assert opened.summary.startswith(
        "warning air_pm25 sensor_fault at Bus stop 42 (Seo-gu): no reading for 480 s"
    )
    # The fault is over with the next reading that shows none: it clears at once, no hysteresis.
    assert changes(feed(state, series([NORMAL] * 3, start=11))) == [("cleared", "cleared_unack", 1)]
    assert state.current is not None and state.current.cleared_at == AT + timedelta(minutes=11)


def test_a_short_gap_is_no_fault() -> None:
    state = SensorAlarms(SENSOR, RARE)
    # One reading missing (minute 1), then two missing but only 180 s of silence (minutes 3 and 4).
    readings = [scored(0, NORMAL), scored(2, NORMAL), scored(5, NORMAL)]
    assert feed(state, readings) == []
    # Two missing over 15 minutes at a slower kind is one.
    slow = SensorAlarms("GJ-00042.temperature", RARE)
    readings = [
        scored(minute, NORMAL, kind="temperature", sensor_id="GJ-00042.temperature") for minute in (0, 15)
    ]
    assert [alarm.reason for alarm in feed(slow, readings)] == [
        "no reading for 900 s (2 missing at one every 300 s)"
    ]


def test_a_flatlined_reading_opens_a_sensor_fault_alarm_that_lasts_while_it_is_stuck() -> None:
    state = SensorAlarms(SENSOR, RARE)
    stuck = [scored(minute, NORMAL, value=21.5) for minute in range(4)]
    flagged = [scored(minute, NORMAL, value=21.5, quality=("flatline",)) for minute in range(4, 8)]
    assert feed(state, stuck) == []
    [opened] = feed(state, flagged)
    assert opened.alarm_type == "sensor_fault"
    assert opened.reason == "flatlined: the value 21.5 unchanged in its last 5 readings"
    assert state.active is not None and state.active.anomalous_readings == 4
    # Once the value moves again, it clears; an anomaly then opens an alarm of its own.
    assert changes(feed(state, series([NORMAL], start=8))) == [("cleared", "cleared_unack", 1)]
    [anomaly] = feed(state, series([MINOR] * 3, start=9))
    assert anomaly.alarm_type == "anomaly" and anomaly.first_anomalous_at == AT + timedelta(minutes=9)


def test_a_fault_during_an_anomaly_alarm_clears_it_for_a_fault_alarm() -> None:
    state = SensorAlarms(SENSOR, RARE)
    [opened] = feed(state, series([MINOR] * 3))
    cleared, fault = feed(state, [scored(10, NORMAL)])
    assert (cleared.alarm_id, cleared.change, cleared.cleared_by) == (
        opened.alarm_id,
        AlarmChange.CLEARED,
        "rule",
    )
    assert (fault.alarm_type, fault.change) == ("sensor_fault", AlarmChange.OPENED)
    assert state.active == fault


def test_an_agents_alarms_judge_no_sensor_faults() -> None:
    state = SensorAlarms(SENSOR, RARE, alarm_type="agent")
    assert feed(state, [scored(0, NORMAL), scored(30, NORMAL, quality=("flatline",))]) == []


# -- one alarm while active ------------------------------------------------------------------------------


def test_no_duplicate_while_active_and_updates_keep_the_id() -> None:
    state = SensorAlarms(SENSOR, RULES)
    events = feed(state, series([MINOR] * 3 + [MINOR] * 20 + [NORMAL, MINOR] * 5))
    assert changes(events) == [("opened", "active_unack", 0)]
    current = state.current
    assert current is not None
    assert current.alarm_id == events[0].alarm_id
    assert current.anomalous_readings == 28
    assert current.last_anomalous_at == AT + timedelta(minutes=32)


def test_a_graver_reading_escalates_the_same_alarm_and_a_milder_one_does_not_lower_it() -> None:
    state = SensorAlarms(SENSOR, RULES)
    events = feed(state, series([WARN, WARN, WARN, MAJOR, MINOR, CRITICAL, WARN]))
    assert [(alarm.change.value, alarm.severity.value, alarm.sequence) for alarm in events] == [
        ("opened", "warning", 0),
        ("escalated", "major", 1),
        ("escalated", "critical", 2),
    ]
    assert len({alarm.alarm_id for alarm in events}) == 1
    assert state.current is not None and state.current.severity is Severity.CRITICAL
    assert state.current.probability == CRITICAL  # the evidence of the gravest reading, not the latest
    assert state.current.last_anomalous_at == AT + timedelta(minutes=6)


def test_the_opening_severity_is_the_gravest_of_the_run() -> None:
    [opened] = feed(SensorAlarms(SENSOR, RULES), series([WARN, MAJOR, WARN]))
    assert opened.severity is Severity.MAJOR
    assert opened.probability == MAJOR
    assert opened.first_anomalous_at == AT


# -- clearing with hysteresis -----------------------------------------------------------------------------


def test_an_alarm_clears_after_enough_normal_readings_in_a_row() -> None:
    state = SensorAlarms(SENSOR, RULES)
    opening = feed(state, series([MINOR] * 3))
    # Two normal readings, then an anomaly: the count of normal ones starts over.
    assert feed(state, series([NORMAL, NORMAL, MINOR, NORMAL, NORMAL], start=3)) == []
    assert state.active is not None
    [cleared] = state.observe(scored(8, NORMAL), SITE)
    assert cleared.alarm_id == opening[0].alarm_id
    assert (cleared.change, cleared.state, cleared.sequence) == (
        AlarmChange.CLEARED,
        AlarmState.CLEARED_UNACK,
        1,
    )
    assert cleared.cleared_at == AT + timedelta(minutes=8)
    assert cleared.cleared_by == "rule"
    assert cleared.last_anomalous_at == AT + timedelta(minutes=5)
    assert state.active is None
    assert feed(state, series([NORMAL] * 10, start=9)) == []


def test_a_new_anomaly_after_clearing_is_a_new_alarm() -> None:
    state = SensorAlarms(SENSOR, RULES)
    events = feed(state, series([MINOR] * 3 + [NORMAL] * 3 + [MINOR] * 3))
    assert changes(events) == [
        ("opened", "active_unack", 0),
        ("cleared", "cleared_unack", 1),
        ("opened", "active_unack", 0),
    ]
    assert events[0].alarm_id == events[1].alarm_id != events[2].alarm_id
    assert events[2].first_anomalous_at == AT + timedelta(minutes=6)
    assert not events[2].flapping


# -- flapping ---------------------------------------------------------------------------------------------


def cycles(count: int, start: float = 0.0) -> list[ScoredReading]:
    """``count`` open/clear cycles under RULES: 3 anomalous readings, then 3 normal ones."""
    return series(([MINOR] * 3 + [NORMAL] * 3) * count, start=start)


def test_flapping_is_detected_and_suppressed() -> None:
    state = SensorAlarms(SENSOR, RULES)
    events = feed(state, cycles(10))  # an hour of open/clear cycling, every six minutes
    # Two alarms may open within the window (flap_limit); the third is held open as flapping.
    assert [(alarm.change.value, alarm.flapping) for alarm in events] == [
        ("opened", False),
        ("cleared", False),
        ("opened", False),
        ("cleared", False),
        ("opened", True),
    ]
    flapping = state.active
    assert flapping is not None and flapping.flapping
    assert "flapping" in flapping.summary
    assert flapping.alarm_id == events[-1].alarm_id
    assert flapping.anomalous_readings == 3 * 8
    # It clears only once the sensor has been quiet for a whole flap window.
    last_anomalous = flapping.last_anomalous_at
    quiet = [scored(60 + minute, NORMAL) for minute in range(0, 61, 5)]
    cleared = feed(state, quiet)
    assert changes(cleared) == [("cleared", "cleared_unack", 1)]
    assert cleared[0].cleared_at is not None
    assert cleared[0].cleared_at - last_anomalous >= timedelta(hours=1)
    # After the quiet window the sensor starts over: its next alarm is not flapping.
    [reopened] = feed(state, series([MINOR] * 3, start=200))
    assert not reopened.flapping


def test_alarms_far_enough_apart_are_not_flapping() -> None:
    state = SensorAlarms(SENSOR, RULES)
    events = feed(state, [*cycles(1), *cycles(1, start=61), *cycles(1, start=122), *cycles(1, start=183)])
    assert [alarm.change for alarm in events].count(AlarmChange.OPENED) == 4
    assert not any(alarm.flapping for alarm in events)


# -- replays ----------------------------------------------------------------------------------------------


def stream() -> list[ScoredReading]:
    return [
        *series([WARN, MINOR, MAJOR, MAJOR, NORMAL, CRITICAL] + [NORMAL] * 3),
        *cycles(6, start=9),
        *[scored(minute, NORMAL) for minute in range(100, 180, 10)],
        *series([MINOR] * 4, start=200),
    ]


def test_a_replayed_stream_gives_the_same_alarms() -> None:
    first = feed(SensorAlarms(SENSOR, RULES), stream())
    second = feed(SensorAlarms(SENSOR, RULES), stream())
    assert [(alarm.change.value, alarm.severity.value, alarm.flapping) for alarm in first] == [
        ("opened", "major", False),
        ("escalated", "critical", False),
        ("cleared", "critical", False),
        ("opened", "minor", False),
        ("cleared", "minor", False),
        ("opened", "minor", True),
        ("cleared", "minor", True),
        ("opened", "minor", False),
    ]
    assert [alarm.model_dump() for alarm in first] == [alarm.model_dump() for alarm in second]


def test_a_redelivered_batch_changes_nothing() -> None:
    state = SensorAlarms(SENSOR, RULES)
    readings = stream()
    events = feed(state, readings[:20])
    before = state.to_dict()
    assert feed(state, readings[:20]) == []  # at-least-once: the same readings again
    assert state.to_dict() == before
    events += feed(state, readings[:30])  # a batch partly seen
    events += feed(state, readings[25:])
    assert events == feed(SensorAlarms(SENSOR, RULES), readings)


def test_a_restored_state_carries_on_as_if_never_stopped() -> None:
    readings = stream()
    uninterrupted = feed(SensorAlarms(SENSOR, RULES), readings)
    for cut in (2, 5, 12, 25, 40):
        state = SensorAlarms(SENSOR, RULES)
        before = feed(state, readings[:cut])
        record = json.loads(json.dumps(state.to_dict()))
        restored = SensorAlarms.from_dict(record, RULES)
        assert restored == state
        assert before + feed(restored, readings[cut:]) == uninterrupted


# -- operators --------------------------------------------------------------------------------------------


def test_an_operator_acknowledges_then_the_rule_clears() -> None:
    state = SensorAlarms(SENSOR, RULES)
    [opened] = feed(state, series([MINOR] * 3))
    at = AT + timedelta(minutes=4)
    assert state.acknowledge("no-such-alarm", at) is None
    acked = state.acknowledge(opened.alarm_id, at)
    assert acked is not None
    assert (acked.change, acked.state, acked.sequence) == (AlarmChange.ACKNOWLEDGED, AlarmState.ACTIVE_ACK, 1)
    assert acked.acknowledged_at == acked.updated_at == at
    assert state.acknowledge(opened.alarm_id, at) is None  # already acknowledged
    [cleared] = feed(state, series([NORMAL] * 3, start=5))
    assert (cleared.state, cleared.sequence, cleared.acknowledged_at) == (AlarmState.CLEARED_ACK, 2, at)


def test_an_operator_acknowledges_a_cleared_alarm() -> None:
    state = SensorAlarms(SENSOR, RULES)
    events = feed(state, cycles(1))
    acked = state.acknowledge(events[0].alarm_id, AT + timedelta(hours=2))
    assert acked is not None and acked.state is AlarmState.CLEARED_ACK
    assert acked.cleared_by == "rule"
    # An older alarm, no longer the sensor's current one, is acknowledged on its own payload.
    later = feed(state, series([MINOR] * 3, start=100))
    assert state.acknowledge(events[0].alarm_id, AT + timedelta(hours=3)) is None
    old = events[1].acknowledged(AT + timedelta(hours=3))
    assert old is not None and old.state is AlarmState.CLEARED_ACK and old.sequence == 2
    assert later[0].acknowledged(AT) is not None


def test_an_operator_clears_an_active_alarm() -> None:
    state = SensorAlarms(SENSOR, RULES)
    [opened] = feed(state, series([MINOR] * 3))
    at = AT + timedelta(minutes=3, seconds=30)
    assert state.clear("no-such-alarm", at) is None
    cleared = state.clear(opened.alarm_id, at)
    assert cleared is not None
    assert (cleared.change, cleared.state, cleared.sequence) == (
        AlarmChange.CLEARED,
        AlarmState.CLEARED_UNACK,
        1,
    )
    assert (cleared.cleared_at, cleared.cleared_by) == (at, "operator")
    assert state.clear(opened.alarm_id, at) is None  # not active any more
    # The anomaly goes on: a new alarm needs the rule to hold again, on readings after the clear.
    assert feed(state, series([MINOR] * 2, start=4)) == []
    [reopened] = state.observe(scored(6, MINOR), SITE)
    assert reopened.alarm_id != opened.alarm_id
    assert reopened.first_anomalous_at == AT + timedelta(minutes=4)


def test_an_operator_acts_at_an_aware_time() -> None:
    state = SensorAlarms(SENSOR, RULES)
    [opened] = feed(state, series([MINOR] * 3))
    naive = datetime(2026, 11, 30, 9, 0)
    with pytest.raises(ValueError, match="aware"):
        state.acknowledge(opened.alarm_id, naive)
    with pytest.raises(ValueError, match="aware"):
        state.clear(opened.alarm_id, naive)
    assert state.current == opened
    seoul = timezone(timedelta(hours=9))
    acked = state.acknowledge(opened.alarm_id, datetime(2026, 11, 30, 18, 0, tzinfo=seoul))
    assert acked is not None and acked.acknowledged_at == AT + timedelta(hours=1)
    assert acked.acknowledged_at.utcoffset() == timedelta(0)


def test_an_acknowledged_alarm_cleared_by_an_operator_is_cleared_and_acknowledged() -> None:
    state = SensorAlarms(SENSOR, RULES)
    [opened] = feed(state, series([MINOR] * 3))
    state.acknowledge(opened.alarm_id, AT + timedelta(minutes=3))
    cleared = state.clear(opened.alarm_id, AT + timedelta(minutes=4))
    assert cleared is not None and cleared.state is AlarmState.CLEARED_ACK and cleared.sequence == 2


# -- the state's record -----------------------------------------------------------------------------------


def test_the_state_round_trips_through_json() -> None:
    state = SensorAlarms(SENSOR, RULES)
    feed(state, [*cycles(3), scored(30, MAJOR, quality=("unit_converted:mg/m3",))])
    record = state.to_dict()
    assert SensorAlarms.from_dict(json.loads(json.dumps(record)), RULES) == state
    assert SensorAlarms.from_dict(SensorAlarms(SENSOR).to_dict()) == SensorAlarms(SENSOR)


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: {**r, "v": 99},
        lambda r: {k: v for k, v in r.items() if k != "streak"},
        lambda r: {**r, "latest": "yesterday"},
        lambda r: {**r, "peak": [1, 2]},
        lambda r: {**r, "current": {**r["current"], "severity": "apocalyptic"}},
        lambda r: {**r, "current": {**r["current"], "opened_at": "not a time"}},
        lambda r: {**r, "recent": [[1, 2]]},
        lambda r: {**r, "openings": [10**30]},
        lambda r: None,
        lambda r: [],
        lambda r: "garbage",
    ],
)
def test_an_unreadable_state_is_none(damage: Any) -> None:
    state = SensorAlarms(SENSOR, RULES)
    feed(state, series([MINOR] * 4))
    assert SensorAlarms.from_dict(damage(state.to_dict()), RULES) is None


# -- the payload ------------------------------------------------------------------------------------------


def test_the_payload_explains_the_alarm() -> None:
    state = SensorAlarms(SENSOR, RULES)
    readings = [
        scored(0, NORMAL, 21.0),
        scored(1, NORMAL, 22.0, quality=("unit_converted:mg/m3",)),
        scored(2, MINOR, 180.0),
        scored(3, MINOR, 250.0),
        scored(4, MAJOR, 420.0),
        scored(5, MINOR, 260.0),
    ]
    [opened] = feed(state, readings)
    assert opened.opened_at == AT + timedelta(minutes=4)
    assert (opened.sensor_id, opened.site_id, opened.site_name) == (SENSOR, "GJ-00042", "Bus stop 42")
    assert (opened.owner_id, opened.district, opened.programme) == ("owner-07", "Seo-gu", "urban_life")
    assert (opened.latitude, opened.longitude) == (35.152, 126.89)
    assert (opened.kind, opened.unit, opened.alarm_type) == ("air_pm25", "ug/m3", "anomaly")
    assert (opened.severity, opened.state) == (Severity.MAJOR, AlarmState.ACTIVE_UNACK)
    assert not opened.flapping
    assert opened.first_anomalous_at == opened.last_anomalous_at - timedelta(minutes=2)
    assert (opened.value, opened.score, opened.probability, opened.threshold) == (420.0, 10.0, MAJOR, 0.999)
    assert (opened.expected_low, opened.expected_high) == (10.0, 35.0)
    assert opened.detector == "seasonal_likelihood@2"
    # The recent window: the last five readings at the time, normal ones included, with their flags.
    assert [value for _, value in opened.recent_values] == [21.0, 22.0, 180.0, 250.0, 420.0]
    assert opened.recent_values[-1][0] == AT + timedelta(minutes=4)
    assert opened.quality == ("unit_converted:mg/m3",)
    assert opened.cleared_at is None and opened.acknowledged_at is None and opened.cleared_by is None
    assert "420 ug/m3" in opened.summary and "above the expected 10..35" in opened.summary
    assert "Bus stop 42" in opened.summary
    # The payload is the event: JSON there and back.
    assert Alarm.model_validate_json(opened.model_dump_json()) == opened


def test_the_payload_as_a_fiware_anomaly_entity() -> None:
    state = SensorAlarms(SENSOR, RULES)
    [opened] = feed(state, [scored(0, MINOR, 5.0), scored(1, MINOR, 4.0), scored(2, MINOR, 3.0)])
    entity = opened.fiware()
    assert entity["id"] == f"urn:ngsi-ld:Anomaly:{opened.alarm_id}"
    assert entity["type"] == "Anomaly"
    assert entity["detectedBy"] == f"urn:ngsi-ld:Device:{SENSOR}"
    assert entity["anomalousProperty"] == "pm25"  # the FIWARE attribute of the kind
    assert entity["dateDetected"] == "2026-11-30T08:00:00Z"
    assert entity["dateCreated"] == entity["dateModified"] == "2026-11-30T08:02:00Z"
    assert entity["thresholdBreach"] == [
        {
            "dateObserved": "2026-11-30T08:02:00Z",
            "measuredValue": 3.0,
            "thresholdType": "LOWER",
            "thresholdValue": 10.0,
        }
    ]
    assert entity["owner"] == ["urn:ngsi-ld:Organization:owner-07"]
    assert entity["areaServed"] == "Seo-gu"
    assert entity["location"] == {"type": "Point", "coordinates": [126.89, 35.152]}
    assert entity["source"] == "seasonal_likelihood@2"
    json.dumps(entity)
    # A value inside the expected range breaches no threshold; the entity then has none.
    inside = opened.model_copy(update={"value": 20.0})
    assert "thresholdBreach" not in inside.fiware()
    # A kind without a FIWARE attribute names its own.
    track = opened.model_copy(update={"kind": "av_track_speed"})
    assert track.fiware()["anomalousProperty"] == "av_track_speed"


# -- severity ---------------------------------------------------------------------------------------------


def test_severity_bands_of_probability() -> None:
    assert [severity_of(scored(0, p)) for p in (WARN, MINOR, MAJOR, CRITICAL, 1.0)] == [
        Severity.WARNING,
        Severity.MINOR,
        Severity.MAJOR,
        Severity.CRITICAL,
        Severity.CRITICAL,
    ]


def test_safety_kinds_are_one_level_graver() -> None:
    assert set(KINDS) >= SAFETY_KINDS
    assert severity_of(scored(0, WARN, kind="grid_load")) is Severity.MINOR
    assert severity_of(scored(0, MAJOR, kind="av_track_speed")) is Severity.CRITICAL
    assert severity_of(scored(0, CRITICAL, kind="water_level")) is Severity.CRITICAL


def test_suspect_data_makes_the_severity_indeterminate() -> None:
    assert severity_of(scored(0, CRITICAL, quality=("flatline",))) is Severity.INDETERMINATE
    assert severity_of(scored(0, CRITICAL, quality=("seq_reset",))) is Severity.INDETERMINATE
    assert severity_of(scored(0, CRITICAL, quality=("unit_converted:mg/m3",))) is Severity.CRITICAL
    state = SensorAlarms(SENSOR, RULES)
    flat = [scored(minute, CRITICAL, 300.0, quality=("flatline",)) for minute in range(3)]
    [opened] = feed(state, flat)
    assert opened.severity is Severity.INDETERMINATE and opened.quality == ("flatline",)
    [escalated] = state.observe(scored(3, WARN), SITE)
    assert escalated.change is AlarmChange.ESCALATED and escalated.severity is Severity.WARNING


def test_rules_are_checked() -> None:
    for bad in (
        {"open_after": 0},
        {"clear_after": 0},
        {"flap_limit": 0},
        {"recent_values": 0},
        {"open_after_seconds": -1.0},
        {"flap_window_seconds": -1.0},
        {"open_rarity": 0.5},
        {"open_blip": 0.0},
        {"fell_with_speed": 0.0},
        {"gap_readings": 1},
        {"gap_seconds": -1.0},
    ):
        with pytest.raises(ValueError):
            AlarmRules(**bad)


# -- with a real detector ---------------------------------------------------------------------------------


def test_a_sustained_fault_seen_by_the_real_detector_opens_and_clears_one_alarm() -> None:
    detector = detector_for("temperature")

    def reading(minutes: int, value: float) -> Reading:
        return Reading(
            sensor_id="GJ-00042.temperature",
            site_id="GJ-00042",
            kind="temperature",
            value=value,
            unit="Cel",
            observed_at=AT + timedelta(minutes=minutes),
            seq=minutes,
        )

    values = [14.0 + 0.1 * (i % 5) for i in range(400)] + [45.0] * 4 + [14.2] * 20
    state = SensorAlarms("GJ-00042.temperature", AlarmRules(open_after=3, clear_after=5))
    events = [
        alarm
        for i, value in enumerate(values)
        for alarm in state.observe(score_reading(detector, reading(5 * i, value)), SITE)
    ]
    assert [alarm.change for alarm in events] == [AlarmChange.OPENED, AlarmChange.CLEARED]
    assert events[0].first_anomalous_at == AT + timedelta(minutes=5 * 400)
    assert events[0].value == 45.0 and events[0].expected_high < 45.0


def test_the_status_follows_anomalies_then_the_alarm_then_the_clearing() -> None:
    state = SensorAlarms(SENSOR, RULES)
    statuses = []
    for reading in series([NORMAL, MINOR, MINOR, MAJOR, NORMAL, NORMAL, NORMAL]):
        state.observe(reading, SITE)
        statuses.append(state.status)
    # The alarm opens at the gravest severity of its run.
    assert statuses == ["normal", "anomalous", "anomalous", "major", "major", "major", "normal"]
