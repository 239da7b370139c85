"""Alarms end to end on the real Kafka (authorizer on) and InfluxDB: anomaly episodes at a site
become one alarm each on its owner's topic (opened, then cleared), nothing for a quiet sensor;
the owner's subscriber, logged in as the owner and killed midway, still forwards every alarm
event to a webhook; an operator's acknowledgement reaches the owner too."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from models.alarms import Alarm, AlarmChange, AlarmState
from sensors.reading import Reading
from streams.city import load_city
from streams.kafka.topics import TopicNames, read_values
from streams.owners.acls import grant, revoke
from streams.owners.operators import command
from streams.settings import Settings
from streams.sinks.influx import influxql
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for
from tests.webhook import Receiver, subscriber

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
# Minutes of anomalous values. The second is graver than the first, which the detector has
# learnt from: checked offline to open and clear exactly two alarms whatever the time of day the
# test starts at (every 7 minutes over two days).
EPISODES = {range(90, 95): 500.0, range(200, 205): 900.0}


def value(sensor: int, minute: int, troubled: bool) -> float:
    for episode, anomalous in EPISODES.items():
        if troubled and minute in episode:
            return anomalous
    return 20.0 + ((minute * 7919 + sensor * 31) % 13) * 0.5


async def test_anomaly_episodes_reach_the_owners_webhook_once_each_across_a_subscriber_restart(
    pipeline_settings: Settings, worker: WorkerFactory, tmp_path: Path
) -> None:
    settings = pipeline_settings
    names = TopicNames.of(settings)
    city = load_city(settings)
    site = next(s for s in city.sites if len(s.sensors) >= 2 and s.sensors[0].kind == "air_pm25")
    troubled, quiet = site.sensors[0], site.sensors[1]  # the quiet one's values stay near 20
    readings = [
        Reading(
            sensor_id=sensor.sensor_id,
            site_id=site.site_id,
            kind=sensor.kind,
            value=value(n, minute, sensor is troubled),
            unit=sensor.unit,
            observed_at=START + timedelta(minutes=minute),
            seq=minute + 1,
        )
        for minute in range(260)
        for n, sensor in enumerate((troubled, quiet))
    ]

    async def owner_alarms() -> list[Alarm]:
        return [Alarm.model_validate_json(v) for v in await read_values(settings, names.owner(site.owner_id))]

    # The webhook takes the first alarm event, then holds its answer to the second.
    receiver = Receiver(hold_at=2)
    grant(settings, site.owner_id, "owner-pw")
    try:
        async with receiver.serving():
            log = tmp_path / "subscriber.log"
            first = subscriber(settings, site.owner_id, "owner-pw", receiver.url, log)
            worker(settings)
            await produce(settings, [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in readings])

            async def holding() -> bool:
                return receiver.holding.is_set()

            await wait_for("the webhook to hold the second alarm event", holding, seconds=120)
            first.send_signal(signal.SIGKILL)  # killed before it hears the webhook's answer
            first.wait(10)
            receiver.release.set()
            second = subscriber(settings, site.owner_id, "owner-pw", receiver.url, log)

            async def both_cleared() -> bool:
                return Counter(a.change for a in await owner_alarms())[AlarmChange.CLEARED] >= len(EPISODES)

            await wait_for("both episodes' alarms to open and clear", both_cleared)
            await asyncio.sleep(3)
            alarms = await owner_alarms()
            # An operator acknowledges the sensor's latest alarm (the one its state holds).
            opened = [a for a in alarms if a.change is AlarmChange.OPENED][-1]
            await command(settings, "acknowledge", opened.alarm_id, "test")

            async def acknowledged() -> bool:
                return any(a.change is AlarmChange.ACKNOWLEDGED for a in await owner_alarms())

            await wait_for("the acknowledgement on the owner's topic", acknowledged, seconds=60)
            on_topic = await owner_alarms()

            async def all_delivered() -> bool:
                return set(receiver.received) == {(a.alarm_id, a.sequence) for a in on_topic}

            await wait_for("every alarm event at the webhook", all_delivered, seconds=60)
            await asyncio.sleep(2)
            second.send_signal(signal.SIGTERM)
            second.wait(10)
    finally:
        revoke(settings, site.owner_id)

    # One alarm per episode, of the troubled sensor only, each opened once and cleared once.
    assert {(a.sensor_id, a.alarm_type) for a in alarms} == {(troubled.sensor_id, "anomaly")}
    by_alarm: dict[str, list[Alarm]] = {}
    for alarm in alarms:
        by_alarm.setdefault(alarm.alarm_id, []).append(alarm)
    assert len(by_alarm) == len(EPISODES), "one episode, one alarm"
    for events, (episode, anomalous) in zip(by_alarm.values(), EPISODES.items(), strict=True):
        changes = Counter(a.change for a in events)
        assert changes[AlarmChange.OPENED] == 1 and changes[AlarmChange.CLEARED] == 1
        assert events[0].first_anomalous_at == START + timedelta(minutes=episode.start)
        assert events[0].value == anomalous and events[0].probability >= events[0].threshold
    assert opened.owner_id == site.owner_id and opened.district == site.district.value
    last = on_topic[-1]
    assert (last.alarm_id, last.change) == (opened.alarm_id, AlarmChange.ACKNOWLEDGED)
    assert last.state is AlarmState.CLEARED_ACK
    # The same events on alerts, keyed by site.
    everything = [Alarm.model_validate_json(v) for v in await read_values(settings, names.alerts)]
    assert sorted(a.model_dump_json() for a in everything) == sorted(a.model_dump_json() for a in on_topic)

    # The webhook got every event, signed; the one whose answer the killed subscriber never
    # heard came once more, with the same alarm id and update number; nothing else did.
    assert receiver.bad_signatures == 0
    assert set(receiver.received) == {(a.alarm_id, a.sequence) for a in on_topic}
    second_event = (on_topic[1].alarm_id, on_topic[1].sequence)
    assert receiver.duplicates() == {second_event: 2}

    points = await influxql(settings, 'SELECT count("sequence") FROM "alarm" GROUP BY "sensor_id"')
    assert {s["tags"]["sensor_id"]: s["values"][0][1] for s in points} == {troubled.sensor_id: len(on_topic)}
