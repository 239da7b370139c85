"""Injected episodes joined with the alarms raised (models/evaluation/episodes.py), on hand-made episodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.alarms import Alarm, AlarmChange
from models.evaluation.episodes import EpisodeTable, Raised, Watch, judge_episodes, raised_alarms, table_rows
from sensors.labels import REAL_WORLD, AnomalyType, Label

T0 = datetime(2026, 11, 29, tzinfo=UTC)
PM25 = "GJ-00001.air_pm25"  # a reading a minute: the grace is 5 minutes
SPEED = "GJ-00002.traffic_speed"
TEMPERATURE = "GJ-00003.temperature"  # a reading every 5 minutes: the grace is 25 minutes


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def label(sensor_id: str, anomaly: AnomalyType, start: float, end: float) -> Label:
    site_id, kind = sensor_id.split(".")
    return Label(
        sensor_id=sensor_id,
        site_id=site_id,
        kind=kind,
        anomaly=anomaly,
        start=minutes(start),
        end=minutes(end),
        real_world=anomaly in REAL_WORLD,
    )


def raised(sensor_id: str, at: float) -> Raised:
    return Raised(sensor_id, minutes(at))


# Each sensor warmed up at minute 60 and was watched until minute 660: 10 hours each, 30 in all.
WATCHED = {sensor_id: Watch(minutes(60), minutes(660)) for sensor_id in (PM25, SPEED, TEMPERATURE)}


def test_each_figure_per_type() -> None:
    labels = [
        label(PM25, AnomalyType.LEVEL_SHIFT, 100, 130),  # caught 2 minutes in
        label(PM25, AnomalyType.LEVEL_SHIFT, 200, 260),  # caught 10 minutes in (two alarms: the first counts)
        label(PM25, AnomalyType.LEVEL_SHIFT, 300, 320),  # missed
        label(SPEED, AnomalyType.ACCIDENT, 150, 190),  # caught within the grace after its end
        label(TEMPERATURE, AnomalyType.DRIFT, 400, 500),  # caught only after the grace: missed
    ]
    alarms = [
        raised(PM25, 102),
        raised(PM25, 210),
        raised(PM25, 240),
        raised(SPEED, 194),
        raised(TEMPERATURE, 526),  # 26 minutes after the drift's end: a false alarm
        raised(PM25, 500),  # outside every episode: a false alarm
    ]
    table = judge_episodes(labels, alarms, WATCHED)

    shifts = table.row(AnomalyType.LEVEL_SHIFT)
    assert (shifts.episodes, shifts.caught, shifts.median_delay_seconds) == (3, 2, 360.0)
    assert shifts.catch_rate == pytest.approx(2 / 3)
    accidents = table.row(AnomalyType.ACCIDENT)
    assert (accidents.episodes, accidents.caught, accidents.median_delay_seconds) == (1, 1, 44 * 60.0)
    drifts = table.row(AnomalyType.DRIFT)
    assert (drifts.episodes, drifts.caught, drifts.median_delay_seconds) == (1, 0, None)
    assert table.row(AnomalyType.SPIKE).episodes == 0
    assert (table.episodes, table.caught) == (5, 3)
    assert table.median_delay_seconds == 600.0  # of 120, 600 and 2,640 seconds
    assert (table.false_alarms, table.sensor_hours) == (2, 30.0)
    assert table.false_alarms_per_1000_hours == pytest.approx(2000 / 30)
    assert not table.meets_goals


def test_warm_up_and_the_end_of_the_watch() -> None:
    labels = [
        label(PM25, AnomalyType.SPIKE, 30, 30),  # during the warm-up: not judged
        label(PM25, AnomalyType.SPIKE, 60, 60),  # at the warm-up's end: judged
        label(PM25, AnomalyType.SPIKE, 657, 657),  # less than the grace before the watch ends
        label("GJ-00009.air_pm25", AnomalyType.SPIKE, 100, 100),  # a sensor that never warmed up
    ]
    # The alarm of the warm-up's episode is not false: the episode was real.
    alarms = [raised(PM25, 32), raised(PM25, 63), raised("GJ-00009.air_pm25", 101)]
    table = judge_episodes(labels, alarms, WATCHED)
    spikes = table.row(AnomalyType.SPIKE)
    assert (spikes.episodes, spikes.caught, spikes.median_delay_seconds) == (1, 1, 180.0)
    assert table.false_alarms == 0
    assert table.meets_goals


def test_the_grace_is_declared_in_readings() -> None:
    labels = [label(PM25, AnomalyType.DROPOUT, 100, 110)]
    alarms = [raised(PM25, 113)]
    assert judge_episodes(labels, alarms, WATCHED).caught == 1
    tight = judge_episodes(labels, alarms, WATCHED, grace_readings=2)
    assert (tight.caught, tight.false_alarms, tight.grace_readings) == (0, 1, 2)


def test_goals_need_80_percent_caught_and_at_most_one_false_alarm_per_1000_sensor_hours() -> None:
    labels = [label(PM25, AnomalyType.NOISE_BURST, 100 + 20 * n, 105 + 20 * n) for n in range(5)]
    four = [raised(PM25, 101 + 20 * n) for n in range(4)]
    watched = {PM25: Watch(minutes(60), minutes(60 + 60 * 1000))}  # 1,000 sensor-hours
    assert judge_episodes(labels, four, watched).meets_goals
    assert not judge_episodes(labels, four[:3], watched).meets_goals  # 60% caught
    two_false = [*four, raised(PM25, 5000), raised(PM25, 6000)]
    assert judge_episodes(labels, two_false, watched).false_alarms_per_1000_hours == 2.0
    assert not judge_episodes(labels, two_false, watched).meets_goals
    assert not judge_episodes([], [], watched).meets_goals  # nothing judged proves nothing


def test_an_alarm_is_raised_once_by_its_opened_event() -> None:
    first = Alarm(
        alarm_id="a", alarm_type="anomaly", change="opened", sequence=0, sensor_id=PM25,
        site_id="GJ-00001", site_name="Park", owner_id="o1", district="Dong-gu",
        programme="urban_life", latitude=35.1, longitude=126.9, kind="air_pm25", unit="ug/m3",
        severity="major", state="active_unack", flapping=False, opened_at=minutes(102),
        first_anomalous_at=minutes(100), last_anomalous_at=minutes(102), updated_at=minutes(102),
        anomalous_readings=3, value=300.0, score=9.0, probability=0.99999, threshold=0.999,
        expected_low=10.0, expected_high=35.0, detector="x@1", recent_values=[], quality=(),
        summary="dusty",
    )  # fmt: skip

    def event(alarm_id: str, change: AlarmChange, sequence: int, opened: float, updated: float) -> Alarm:
        return first.model_copy(
            update={
                "alarm_id": alarm_id,
                "change": change,
                "sequence": sequence,
                "opened_at": minutes(opened),
                "updated_at": minutes(updated),
            }
        )

    events = [
        event("a", AlarmChange.OPENED, 0, 102, 102),
        event("a", AlarmChange.ESCALATED, 1, 102, 104),
        event("a", AlarmChange.OPENED, 0, 102, 102),  # published again by a replayed batch
        event("a", AlarmChange.CLEARED, 2, 102, 120),
        event("b", AlarmChange.OPENED, 0, 300, 300),
    ]
    assert sorted(raised_alarms(events), key=lambda r: r.at) == [raised(PM25, 102), raised(PM25, 300)]


def test_the_rows_show_each_type_judged_all_types_and_the_false_alarms() -> None:
    table = judge_episodes(
        [label(PM25, AnomalyType.SPIKE, 100, 100), label(SPEED, AnomalyType.ACCIDENT, 100, 140)],
        [raised(PM25, 103), raised(TEMPERATURE, 300)],
        WATCHED,
    )
    header, rows = table_rows(table)
    assert header == ("anomaly type", "episodes", "caught", "caught %", "median delay (s)")
    assert rows == [
        ("spike", "1", "1", "100", "180"),
        ("accident", "1", "0", "0", "-"),
        ("all types", "2", "1", "50", "180"),
        ("false alarms", "1", "", "", "33.33 per 1,000 sensor-hours (30 h)"),
    ]
    assert isinstance(table, EpisodeTable) and "misses the goals" in table.title
