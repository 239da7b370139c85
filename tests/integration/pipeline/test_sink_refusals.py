"""Points InfluxDB refuses, on the real InfluxDB: only the events whose points were refused go to
the dead letters (with InfluxDB's answer); the others are written; alarms are still published; the
worker keeps going.

InfluxDB refuses a point whose field has another type than the same field already has in the same
shard ("field type conflict"): the test plants such fields before the worker starts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from models.alarms import Alarm, AlarmChange
from models.scoring import ScoredReading
from sensors import measurements
from sensors.cleaning import DeadLetter, Reason
from sensors.event_time import to_micros
from sensors.reading import Reading
from streams.city import load_city
from streams.kafka.topics import TopicNames, read_values
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter, influxql
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
EPISODE = range(90, 95)
MINUTES = 200


async def plant_conflicts(settings: Settings) -> None:
    """A ``seq`` that is a string on ``reading`` and a ``probability`` that is a string on
    ``alarm``, in the shard of the test's readings."""
    nanos = to_micros(START) * 1000
    writer = InfluxWriter(settings)
    try:
        await writer.write(
            [
                f'{measurements.READING},sensor_id=planted seq="text" {nanos}',
                f'{measurements.ALARM},sensor_id=planted probability="text" {nanos}',
            ]
        )
    finally:
        await writer.close()


async def test_refused_points_dead_letter_their_own_events_only(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings
    names = TopicNames.of(settings)
    city = load_city(settings)
    site = next(s for s in city.sites if len(s.sensors) >= 2 and s.sensors[0].kind == "air_pm25")
    # The troubled sensor numbers its readings (seq: refused by the sink) and has an anomaly
    # episode (its alarm points: refused); the other one does not number them (written).
    troubled, plain = site.sensors[0], site.sensors[1]
    readings = [
        Reading(
            sensor_id=sensor.sensor_id,
            site_id=site.site_id,
            kind=sensor.kind,
            value=500.0 if sensor is troubled and minute in EPISODE else 20.0 + (minute * 7919 % 13) * 0.5,
            unit=sensor.unit,
            observed_at=START + timedelta(minutes=minute),
            seq=minute + 1 if sensor is troubled else None,
        )
        for minute in range(MINUTES)
        for sensor in (troubled, plain)
    ]
    await plant_conflicts(settings)
    process = worker(settings)
    await produce(settings, [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in readings])

    async def dead_letters() -> list[DeadLetter]:
        return [DeadLetter.model_validate_json(v) for v in await read_values(settings, names.deadletter)]

    async def alarms() -> list[Alarm]:
        return [Alarm.model_validate_json(v) for v in await read_values(settings, names.alerts)]

    async def settled() -> bool:
        letters = Counter(letter.stage for letter in await dead_letters())
        cleared = any(a.change is AlarmChange.CLEARED for a in await alarms())
        return letters["sink"] == MINUTES and cleared

    await wait_for("the sink's refusals and the alarm to clear", settled)
    await asyncio.sleep(3)
    letters = await dead_letters()
    raised = await alarms()

    # Every dead letter is a refusal by InfluxDB, with its answer; nothing is an internal error.
    assert {letter.reason for letter in letters} == {Reason.SINK_REJECTED}
    assert all("field type conflict" in letter.detail for letter in letters)
    sink = [ScoredReading.model_validate_json(x.original) for x in letters if x.stage == "sink"]
    assert sorted(s.seq or 0 for s in sink) == list(range(1, MINUTES + 1))
    assert {s.sensor_id for s in sink} == {troubled.sensor_id}

    # The alarm was published all the same (opened, cleared); each reading that raised an alarm
    # event is dead-lettered once by the alarm stage, because its alarm point was refused.
    assert {a.change for a in raised} >= {AlarmChange.OPENED, AlarmChange.CLEARED}
    by_alarm_stage = [
        ScoredReading.model_validate_json(letter.original) for letter in letters if letter.stage == "alarm"
    ]
    assert sorted(s.observed_at for s in by_alarm_stage) == sorted({a.updated_at for a in raised})

    # The rest is in InfluxDB: every reading of the plain sensor, and every change of status of
    # the troubled one (InfluxDB keeps the points of a write that it can take, so those that came
    # with a refused alarm point too).
    written = await influxql(
        settings, f'SELECT count("value") FROM "{measurements.READING}" GROUP BY "sensor_id"'
    )
    assert {s["tags"]["sensor_id"]: s["values"][0][1] for s in written} == {plain.sensor_id: MINUTES}
    statuses = await influxql(
        settings,
        f'SELECT "status" FROM "{measurements.SENSOR_STATUS}" WHERE "sensor_id" = \'{troubled.sensor_id}\'',
    )
    opened = next(a for a in raised if a.change is AlarmChange.OPENED)
    # "anomalous" only if the alarm waited for more than the episode's first reading (one far
    # rarer than the threshold opens it at once).
    waited = ["anomalous"] if opened.anomalous_readings > 1 else []
    assert [row[1] for series in statuses for row in series["values"]] == [
        "normal",
        *waited,
        opened.severity.value,
        "normal",
    ]
    assert process.poll() is None, "the worker must still be running"
