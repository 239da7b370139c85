"""The chaos run's consistency tallies on hand-made records: each counts what a zombie worker
leaves behind, and nothing in a run without one."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from sensors.cleaning import DeadLetter, Reason
from sensors.event_time import to_micros
from streams.chaos.consistency import (
    Consistency,
    HealthTally,
    Repeats,
    ScoredLog,
    alarm_repeats,
    anomalies_left_open,
    health_on_whole_sensors,
    opened_over_open,
    points_unlike_records,
    states_behind,
    valid_dead_lettered,
)

START = datetime(2026, 11, 30, tzinfo=UTC)


def at(minute: int) -> str:
    return (START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def scored(seq: int, sensor: str = "S1.t", anomalous: bool = False, **changes: Any) -> dict[str, Any]:
    """The record of ``readings.scored`` of a reading taken at minute ``seq``."""
    return {
        "sensor_id": sensor,
        "site_id": sensor.split(".")[0],
        "kind": "temperature",
        "value": 14.0 + seq,
        "unit": "Cel",
        "observed_at": at(seq),
        "seq": seq,
        "quality": [],
        "score": 0.5,
        "probability": 0.9999 if anomalous else 0.4,
        "threshold": 0.999,
        "anomalous": anomalous,
        "warming_up": False,
        "expected_low": 10.0,
        "expected_high": 20.0,
        "detector": "seasonal_likelihood@6",
        **changes,
    }


def log_of(*records: dict[str, Any]) -> ScoredLog:
    return ScoredLog.of(orjson.dumps(record) for record in records)


def point_of(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The reading point InfluxDB returns for ``record`` (``SELECT *``, grouped by sensor)."""
    fields = ("value", "seq", "score", "threshold", "anomalous", "expected_low", "expected_high")
    point = {name: record[name] for name in (*fields, "probability", "warming_up", "detector")}
    point |= {"sensor_id": record["sensor_id"], "site_id": record["site_id"], "kind": record["kind"]}
    point["time"] = to_micros(datetime.fromisoformat(record["observed_at"])) * 1000
    point["district"], point["programme"] = "Dong-gu", "urban_life"
    return point | changes


def event(
    alarm_id: str,
    sequence: int,
    change: str,
    opened: int,
    updated: int,
    cleared: int | None = None,
    sensor: str = "S1.t",
    alarm_type: str = "anomaly",
    **changes: Any,
) -> dict[str, Any]:
    """An alarm event of ``alerts`` (the fields the tallies read, and a summary)."""
    return {
        "alarm_id": alarm_id,
        "alarm_type": alarm_type,
        "change": change,
        "sequence": sequence,
        "sensor_id": sensor,
        "opened_at": at(opened),
        "first_anomalous_at": at(opened),
        "last_anomalous_at": at(opened),
        "updated_at": at(updated),
        "cleared_at": None if cleared is None else at(cleared),
        "flapping": False,
        "reason": "3 anomalous readings in a row",
        "summary": f"{change} at {updated}",
        **changes,
    }


def test_a_reading_scored_twice_differently_is_counted_apart_from_identical_copies() -> None:
    first = scored(1)
    log = log_of(first, first, first, scored(1, score=0.9), scored(2), scored(3), scored(3))
    assert log.repeats == Repeats(differing=1, identical=3)
    assert log_of(scored(1), scored(2)).repeats == Repeats(0, 0)


def test_alarm_events_repeated_by_alarm_update_and_change() -> None:
    opened = event("a", 0, "opened", 0, 0)
    values = [orjson.dumps(e) for e in (opened, opened, event("a", 0, "opened", 0, 0, summary="stale"))]
    values.append(orjson.dumps(event("a", 1, "cleared", 0, 5, cleared=5)))
    values.append(orjson.dumps(event("a", 1, "acknowledged", 0, 5)))  # another change: no repeat
    assert alarm_repeats(values) == Repeats(differing=1, identical=1)


def test_a_point_must_be_the_one_committed_record_of_its_reading() -> None:
    one, two, three = scored(1), scored(2), scored(3)
    log = log_of(one, two, three, scored(3, score=0.7))
    assert points_unlike_records([point_of(one), point_of(two)], log) == 0
    assert points_unlike_records([point_of(one, score=0.6)], log) == 1  # a zombie's score won
    assert points_unlike_records([point_of(one, time=0)], log) == 1
    assert points_unlike_records([point_of(three)], log) == 1  # two records: which one is committed?
    assert points_unlike_records([point_of(scored(4))], log) == 1  # never committed at all


def test_an_alarm_opened_while_its_sensor_had_one_open() -> None:
    cleared_first = [event("a", 0, "opened", 0, 0), event("a", 1, "cleared", 0, 5, cleared=5)]
    assert opened_over_open([*cleared_first, event("b", 0, "opened", 6, 6)]) == 0
    assert opened_over_open([event("a", 0, "opened", 0, 0), event("b", 0, "opened", 6, 6)]) == 1
    other_sensor = event("b", 0, "opened", 6, 6, sensor="S2.t")
    other_type = event("c", 0, "opened", 7, 7, alarm_type="sensor_fault")
    assert opened_over_open([event("a", 0, "opened", 0, 0), other_sensor, other_type]) == 0


def test_an_anomaly_alarm_left_open_after_five_normal_readings() -> None:
    readings = log_of(*(scored(m, anomalous=m < 3) for m in range(10))).readings()
    opened = event("a", 0, "opened", 0, 2, last_anomalous_at=at(2))
    assert anomalies_left_open([opened], readings) == 1
    assert anomalies_left_open([opened, event("a", 1, "cleared", 0, 7, cleared=7)], readings) == 0
    assert anomalies_left_open([{**opened, "flapping": True}], readings) == 0
    four_normal = log_of(*(scored(m, anomalous=m in (0, 1, 2, 7)) for m in range(12))).readings()
    assert anomalies_left_open([opened], four_normal) == 0  # 3..6 normal, 7 anomalous, 8..11: four
    assert anomalies_left_open([event("f", 0, "opened", 0, 2, alarm_type="sensor_fault")], readings) == 0


def test_a_final_state_record_behind_its_sensors_last_reading() -> None:
    readings = log_of(scored(1), scored(2), scored(1, sensor="S2.t")).readings()

    def state(top: int) -> bytes:
        return orjson.dumps({"health": {"top_seq": top}, "alarms": None})

    assert states_behind([(b"S1.t", state(2)), (b"S2.t", state(1))], readings) == 0
    assert states_behind([(b"S1.t", state(2)), (b"S1.t", state(1)), (b"S2.t", state(1))], readings) == 1
    assert states_behind([(b"S1.t", state(2))], readings) == 1  # S2.t has none
    assert states_behind([(b"S1.t", state(2)), (b"S2.t", None)], readings) == 1  # a tombstone last


def letter(offset: int, original: bytes, reason: Reason = Reason.DUPLICATE) -> DeadLetter:
    return DeadLetter(
        stage="clean",
        reason=reason,
        detail="",
        rejected_at=START,
        source_topic="readings.raw",
        source_partition=0,
        source_offset=offset,
        key=None,
        original_b64=base64.b64encode(original).decode(),
    )


def test_a_valid_reading_dead_lettered() -> None:
    valid = orjson.dumps(scored(1))
    letters = [letter(1, b"{oops", Reason.NOT_JSON), letter(2, valid), letter(2, valid)]
    assert valid_dead_lettered(letters, {b"{oops"}, ()) == 1, "a valid reading never scored"
    assert valid_dead_lettered(letters[:1], {b"{oops"}, ()) == 0
    reading = orjson.loads(valid)
    assert valid_dead_lettered(letters, {b"{oops"}, {(reading["sensor_id"], reading["seq"])}) == 0, (
        "a copy of a reading that was scored"
    )


def test_health_is_counted_on_the_sensors_whose_readings_all_arrived() -> None:
    log = log_of(scored(1), scored(2), scored(3), scored(1, sensor="S2.t"), scored(3, sensor="S2.t"))
    assert log.whole() == {"S1.t"}  # S2.t's reading 2 never arrived: its gap is real
    episodes = [
        {"sensor_id": "S1.t", "problem": "gap", "start": at(1), "status": "closed"},
        {"sensor_id": "S2.t", "problem": "gap", "start": at(1), "status": "closed"},
        {"sensor_id": "S1.t", "problem": "stale", "start": at(2), "status": "open"},
        {"sensor_id": "S1.t", "problem": "stale", "start": at(2), "status": "closed"},
        {"sensor_id": "S1.t", "problem": "flatline", "start": at(2), "status": "open"},
    ]
    stuck = event("f", 0, "opened", 2, 2, alarm_type="sensor_fault", reason="flatlined: the value 1")
    silent = event("g", 0, "opened", 3, 3, alarm_type="sensor_fault", reason="no reading for 900 s")
    alarms = [stuck, stuck, silent, event("g", 1, "cleared", 3, 4, alarm_type="sensor_fault", cleared=4)]
    tally = health_on_whole_sensors(episodes, alarms, log.whole())
    assert tally == HealthTally(sensors=1, gaps=1, stale=1, sensor_faults=2, silences=1)


def test_the_run_fails_on_any_tally_but_health() -> None:
    health = HealthTally(sensors=10, gaps=3, stale=3, sensor_faults=3, silences=3)
    clean = Consistency(Repeats(0, 5), Repeats(0, 2), 0, 0, 0, 0, 0, health)
    assert clean.failures() == []
    zombie = Consistency(Repeats(7, 0), Repeats(1, 0), 2, 3, 1, 4, 5, health)
    assert len(zombie.failures()) == 7
    assert zombie.failures()[0] == "7 readings scored twice with different content"
