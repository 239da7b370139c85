"""Alarms on the real Kafka and InfluxDB: an anomaly episode at a site is one alarm on its
owner's topic (opened, then cleared), nothing for a quiet sensor, and an operator's
acknowledgement reaches the owner too."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from models.alarms import Alarm, AlarmChange, AlarmState
from sensors.reading import Reading
from streams.city import load_city
from streams.influx import influxql
from streams.operators import command
from streams.settings import Settings
from streams.topics import TopicNames, read_values
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)


def value(sensor: int, minute: int, spikes: range) -> float:
    if minute in spikes:
        return 500.0
    return 20.0 + ((minute * 7919 + sensor * 31) % 13) * 0.5


async def test_an_anomaly_episode_is_one_alarm_on_its_owners_topic(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings
    names = TopicNames.of(settings)
    city = load_city(settings)
    site = next(s for s in city.sites if len(s.sensors) >= 2 and s.sensors[0].kind == "air_pm25")
    troubled, quiet = site.sensors[0], site.sensors[1]  # the quiet one's values stay near 20
    episode = range(90, 95)
    readings = [
        Reading(
            sensor_id=sensor.sensor_id,
            site_id=site.site_id,
            kind=sensor.kind,
            value=value(n, minute, episode if sensor is troubled else range(0)),
            unit=sensor.unit,
            observed_at=START + timedelta(minutes=minute),
            seq=minute + 1,
        )
        for minute in range(120)
        for n, sensor in enumerate((troubled, quiet))
    ]
    worker(settings)
    await produce(settings, [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in readings])

    async def owner_alarms() -> list[Alarm]:
        return [Alarm.model_validate_json(v) for v in await read_values(settings, names.owner(site.owner_id))]

    async def opened_and_cleared() -> bool:
        return {a.change for a in await owner_alarms()} >= {AlarmChange.OPENED, AlarmChange.CLEARED}

    await wait_for("the episode's alarm to open and clear", opened_and_cleared)
    await asyncio.sleep(3)
    alarms = await owner_alarms()
    assert {(a.sensor_id, a.alarm_type) for a in alarms} == {(troubled.sensor_id, "anomaly")}
    assert len({a.alarm_id for a in alarms}) == 1, "one episode, one alarm"
    changes = Counter(a.change for a in alarms)
    assert changes[AlarmChange.OPENED] == 1 and changes[AlarmChange.CLEARED] == 1
    opened = next(a for a in alarms if a.change is AlarmChange.OPENED)
    assert opened.first_anomalous_at == START + timedelta(minutes=90)
    assert opened.owner_id == site.owner_id and opened.district == site.district.value
    assert opened.value == 500.0 and opened.probability >= opened.threshold
    # The same events on alerts, keyed by site.
    everything = [Alarm.model_validate_json(v) for v in await read_values(settings, names.alerts)]
    assert sorted(a.model_dump_json() for a in everything) == sorted(a.model_dump_json() for a in alarms)

    await command(settings, "acknowledge", opened.alarm_id, "test")

    async def acknowledged() -> bool:
        return any(a.change is AlarmChange.ACKNOWLEDGED for a in await owner_alarms())

    await wait_for("the acknowledgement on the owner's topic", acknowledged, seconds=60)
    last = (await owner_alarms())[-1]
    assert (last.alarm_id, last.state) == (opened.alarm_id, AlarmState.CLEARED_ACK)

    points = await influxql(settings, 'SELECT count("sequence") FROM "alarm" GROUP BY "sensor_id"')
    assert {s["tags"]["sensor_id"]: s["values"][0][1] for s in points} == {
        troubled.sensor_id: len(alarms) + 1
    }
