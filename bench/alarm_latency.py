"""Time from an anomalous reading entering ``readings.raw`` to its alarm on the owner's topic.

A worker runs on its own topics; sensors of one kind first get a warm-up of normal readings,
then, one sensor at a time, the anomalous readings that open an alarm (``open_after`` of them,
the last one timed from its send). The baseline, measured in the same run, is one Kafka hop: a
record produced to a topic until a consumer already waiting on it receives it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from models.alarms import Alarm, AlarmChange, AlarmRules
from sensors.reading import Reading
from streams.city import load_city
from streams.job import until_group_is_stable
from streams.kafka.clients import aiokafka_options
from streams.kafka.groups import consumer_lag
from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, ensure_city_topics
from streams.settings import Settings
from streams.stack import create_database
from streams.worker import start_worker, stop_worker

WARMUP = 80


@dataclass(frozen=True)
class Latencies:
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p99(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _reading(sensor_id: str, site_id: str, minute: int, value: float, start: datetime) -> Reading:
    return Reading(
        sensor_id=sensor_id,
        site_id=site_id,
        kind="air_pm25",
        value=value,
        unit="ug/m3",
        observed_at=start + timedelta(minutes=minute),
        seq=minute + 1,
    )


async def _listener(settings: Settings, topics: list[str]) -> AIOKafkaConsumer:
    """A consumer at the end of ``topics`` (created if missing), assigned before it returns."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t, settings.partitions, settings.replication_factor) for t in topics if t not in existing
        ]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        *topics,
        **aiokafka_options(settings),
        auto_offset_reset="latest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=200)
    await consumer.seek_to_end()
    return consumer


async def alarm_latency(settings: Settings, log: Path, trials: int) -> Latencies:
    """Median and p99 of reading-to-owner-alarm time over ``trials`` sensors."""
    names = TopicNames.of(settings)
    city = load_city(settings)
    await ensure_city_topics(settings, city)
    create_database(settings)
    chosen = [(s, site) for site, s in city.sensors() if s.kind == "air_pm25"][:trials]
    sensors = [(s.sensor_id, site.site_id) for s, site in chosen]
    owner_topics = sorted({names.owner(site.owner_id) for _, site in chosen})
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
    worker = start_worker(settings, log)
    publisher = Publisher(settings)
    listener = await _listener(settings, owner_topics)
    try:
        await until_group_is_stable(settings, 1, [worker])
        warmup = [
            _reading(sensor_id, site_id, minute, 20.0 + (minute * 7919 % 13) * 0.5, start)
            for minute in range(WARMUP)
            for sensor_id, site_id in sensors
        ]
        await publisher.publish(
            names.raw, [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in warmup]
        )
        while await consumer_lag(settings, settings.app_id, (names.raw, names.commands)) != 0:
            await asyncio.sleep(0.5)
        seconds = []
        for sensor_id, site_id in sensors:
            anomalous = [
                _reading(sensor_id, site_id, WARMUP + n, 500.0, start) for n in range(AlarmRules().open_after)
            ]
            await publisher.publish(
                names.raw, [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in anomalous[:-1]]
            )
            await asyncio.sleep(1.0)  # the readings before the one that opens the alarm are in
            sent = time.perf_counter()
            last = anomalous[-1]
            await publisher.publish(names.raw, [(last.sensor_id.encode(), last.model_dump_json().encode())])
            seconds.append(await _until_opened(listener, sensor_id) - sent)
        return Latencies(seconds)
    finally:
        await listener.stop()
        await publisher.stop()
        stop_worker(worker)


async def _until_opened(listener: AIOKafkaConsumer, sensor_id: str) -> float:
    while True:
        for records in (await listener.getmany(timeout_ms=100)).values():
            for record in records:
                alarm = Alarm.model_validate_json(record.value or b"")
                if alarm.sensor_id == sensor_id and alarm.change is AlarmChange.OPENED:
                    return time.perf_counter()


async def one_hop(settings: Settings, trials: int) -> Latencies:
    """Baseline: a record produced to a topic until a waiting consumer has it."""
    topic = settings.topic("bench.hop")
    publisher = Publisher(settings)
    listener = await _listener(settings, [topic])
    seconds = []
    try:
        for n in range(trials):
            sent = time.perf_counter()
            await publisher.publish(topic, [(b"k", str(n).encode())])
            got = False
            while not got:
                for records in (await listener.getmany(timeout_ms=100)).values():
                    got = got or any(r.value == str(n).encode() for r in records)
            seconds.append(time.perf_counter() - sent)
        return Latencies(seconds)
    finally:
        await listener.stop()
        await publisher.stop()
