"""An accident at an intersection on the real Kafka: the speed sensor's alarm tells the flow
sensor of the same site (on ``alerts.neighbours``, to whichever worker holds it), and the flow,
which fell within its usual noise reading by reading, opens an alarm of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.alarms import Alarm, AlarmChange
from models.alarms.neighbours import SpeedFell
from sensors.reading import Reading
from sensors.site import Sensor, Site
from streams.city import load_city
from streams.kafka.topics import TopicNames, read_values
from streams.settings import Settings
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
CRASH = 80
"""The minute the accident happens."""


def speed(minute: int) -> float:
    return 8.0 if minute >= CRASH else 47.0 + (minute * 7919 % 13) * 0.5


def flow(minute: int) -> float:
    if minute >= CRASH:
        return 40.0 + ((minute * 7919 % 5) - 2) * 4.0
    return 120.0 + ((minute * 7919 + 31) % 13 - 6) * 8.0


def readings(site: Site, sensor: Sensor, minutes: range) -> list[tuple[bytes, bytes]]:
    value = speed if sensor.kind == "traffic_speed" else flow
    return [
        (
            sensor.sensor_id.encode(),
            Reading(
                sensor_id=sensor.sensor_id,
                site_id=site.site_id,
                kind=sensor.kind,
                value=value(minute),
                unit=sensor.unit,
                observed_at=START + timedelta(minutes=minute),
                seq=minute + 1,
            )
            .model_dump_json()
            .encode(),
        )
        for minute in minutes
    ]


async def test_the_flow_at_a_crash_alarms_once_the_speed_there_did(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings
    names = TopicNames.of(settings)
    wanted = {"traffic_speed", "traffic_flow"}
    site = next(s for s in load_city(settings).sites if wanted <= {sensor.kind for sensor in s.sensors})
    speed_sensor = next(s for s in site.sensors if s.kind == "traffic_speed")
    flow_sensor = next(s for s in site.sensors if s.kind == "traffic_flow")
    worker(settings)
    await produce(
        settings, readings(site, speed_sensor, range(CRASH + 5)) + readings(site, flow_sensor, range(CRASH))
    )

    async def told() -> list[SpeedFell]:
        return [SpeedFell.model_validate_json(v) for v in await read_values(settings, names.neighbours)]

    async def flow_told() -> bool:
        return any(notice.sensor_id == flow_sensor.sensor_id for notice in await told())

    await wait_for("the speed's alarm to tell the flow sensor", flow_told)
    [notice] = [n for n in await told() if n.sensor_id == flow_sensor.sensor_id]
    assert notice.at == START + timedelta(minutes=CRASH) and notice.site_id == site.site_id
    await produce(settings, readings(site, flow_sensor, range(CRASH, CRASH + 10)))

    async def opened() -> list[Alarm]:
        alarms = [Alarm.model_validate_json(v) for v in await read_values(settings, names.alerts)]
        return [a for a in alarms if a.change is AlarmChange.OPENED and a.sensor_id == flow_sensor.sensor_id]

    async def flow_alarmed() -> bool:
        return bool(await opened())

    await wait_for("the flow sensor's alarm", flow_alarmed)
    [alarm] = await opened()
    assert alarm.reason.endswith("on average as the speed at its intersection did")
    assert alarm.first_anomalous_at == START + timedelta(minutes=CRASH)
    assert alarm.opened_at == START + timedelta(minutes=CRASH + 3)
