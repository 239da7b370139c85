"""What the chaos run asks the stack: whether the group formed, whether everything sent has
arrived, and, at the end, everything counted where it landed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import orjson
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from models.scoring import detector_for
from sensors import measurements
from sensors.cleaning import DeadLetter
from sensors.sites import SiteRegistry
from streams.chaos.audit import audit, committed_records, committed_values
from streams.chaos.cast import MqttDevices
from streams.chaos.report import ChaosReport
from streams.chaos.tally import DetectorTally, count_alarm_events, count_dead_letters, count_points_per_sensor
from streams.ingest.feed import FeedLedger
from streams.job import pipeline_lag
from streams.kafka.clients import aiokafka_options
from streams.kafka.groups import committed_offsets, group_state
from streams.kafka.topics import TopicNames, end_offsets
from streams.settings import Settings
from streams.sinks.influx import count_points, influxql

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
GROUP_SECONDS = 120.0
"""Longest wait for the consumer group to form again after a worker fault."""


async def group_formed(settings: Settings, members: int) -> None:
    """Wait until the consumer group is stable with ``members`` workers: the rebalance a worker
    fault causes is part of the fault (bounded: a group that does not form shows as not caught up)."""

    async def formed() -> bool:
        return await group_state(settings, settings.app_id) == ("Stable", members)

    await wait_until(formed, GROUP_SECONDS, time.monotonic())


async def offsets_committed(settings: Settings) -> Callable[[], Awaitable[bool]]:
    """The check that the consumer group has committed all of ``readings.raw`` as it is now."""
    ends = await retrying(lambda: end_offsets(settings, (settings.topic("readings.raw"),)))

    async def caught_up() -> bool:
        committed = await committed_offsets(settings, settings.app_id)
        return committed is not None and all(committed.get(tp, 0) >= end for tp, end in ends.items())

    return caught_up


async def publishing(settings: Settings, seconds: float = 30.0) -> None:
    """Return as soon as the workers are seen publishing (``readings.scored`` grew within a
    moment), or after ``seconds``."""
    topic = (settings.topic("readings.scored"),)
    deadline = time.monotonic() + seconds
    before = sum((await retrying(lambda: end_offsets(settings, topic))).values())
    while time.monotonic() < deadline:
        now = sum((await retrying(lambda: end_offsets(settings, topic))).values())
        if now > before:
            return
        before = now
        await asyncio.sleep(0.1)


def devices_in(settings: Settings, devices: MqttDevices, sent: int) -> Callable[[], Awaitable[bool]]:
    """The check that InfluxDB holds at least ``sent`` points of the MQTT devices' sites."""
    where = f"site_id =~ /^({'|'.join(devices.site_ids)})$/"

    async def arrived() -> bool:
        return await count_points(settings, where) >= sent

    return arrived


def all_in(settings: Settings, devices: MqttDevices) -> Callable[[], Awaitable[bool]]:
    """The check that the pipeline has drained: nothing left to commit, every device reading in."""
    arrived = devices_in(settings, devices, devices.sent)

    async def drained() -> bool:
        return await pipeline_lag(settings) == 0 and await arrived()

    return drained


_UNANSWERED = (KafkaError, aiohttp.ClientError, OSError, RuntimeError, TimeoutError)
"""What a check may meet while a service is down or starting: it is asked again."""


T = TypeVar("T")


async def retrying(ask: Callable[[], Awaitable[T]], seconds: float = 120.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await ask()
        except _UNANSWERED:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL_SECONDS)


async def wait_until(check: Callable[[], Awaitable[bool]], seconds: float, since: float) -> float | None:
    """Seconds from ``since`` until ``check`` holds, or None if it did not within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if await check():
                return time.monotonic() - since
        except _UNANSWERED as error:
            log.debug("check not answered yet: %r", error)
        await asyncio.sleep(POLL_SECONDS)
    return None


async def count_landed(
    settings: Settings, registry: SiteRegistry, ledger: FeedLedger, report: ChaosReport
) -> None:
    """Count what landed: points per sensor, dead letters, alarm events, detectors restarted, and
    whether the committed records agree with one another and with InfluxDB."""
    names = TopicNames.of(settings)
    points = await _per_sensor(settings, 'count("seq")')
    distinct = await _per_sensor(settings, 'count(distinct("seq"))')
    report.points = count_points_per_sensor(ledger.valid, points, distinct)
    letters = [
        DeadLetter.model_validate_json(value) for value in await committed_values(settings, names.deadletter)
    ]
    report.letters = count_dead_letters(ledger.malformed, letters)
    report.alarms = count_alarm_events(
        await _alarm_events(settings, [names.alerts]),
        await _alarm_events(settings, await _owner_topics(settings, names)),
    )
    report.detectors = await _detectors_warming_again(settings, registry)
    report.consistency = await audit(settings, {original for original, _ in ledger.malformed})


async def _per_sensor(settings: Settings, select: str, where: str = "") -> dict[str, int]:
    """``select`` (an aggregate) per sensor over the run's reading points."""
    clause = f" WHERE {where}" if where else ""
    series = await influxql(
        settings, f'SELECT {select} FROM "{measurements.READING}"{clause} GROUP BY "sensor_id"'
    )
    return {s["tags"]["sensor_id"]: int(s["values"][0][1]) for s in series}


async def _per_sensor_time(settings: Settings, select: str, where: str) -> dict[str, int]:
    """The time (ns) of the point a selector such as ``first("seq")`` picks, per sensor."""
    series = await influxql(
        settings, f'SELECT {select} FROM "{measurements.READING}" WHERE {where} GROUP BY "sensor_id"'
    )
    return {s["tags"]["sensor_id"]: int(s["values"][0][0]) for s in series}


async def _detectors_warming_again(settings: Settings, registry: SiteRegistry) -> DetectorTally:
    """Sensors that scored a reading while warming up after one scored warm, and how many such
    readings. A detector restored from a checkpoint taken while it still warmed up warms up for
    the rest; one that started from scratch warms up for all of its warm-up again."""
    warm = await _per_sensor_time(settings, 'first("seq")', "warming_up = false")
    warming = await _per_sensor_time(settings, 'last("seq")', "warming_up = true")
    again = [sensor for sensor, at in warming.items() if sensor in warm and at > warm[sensor]]
    counts: dict[str, int] = {}
    for start in range(0, len(again), 100):
        statements = [
            f'SELECT count("seq") FROM "{measurements.READING}" WHERE warming_up = true'
            f" AND time > {warm[sensor]} AND sensor_id = '{sensor}' GROUP BY \"sensor_id\""
            for sensor in again[start : start + 100]
        ]
        for series in await influxql(settings, "; ".join(statements)):
            counts[series["tags"]["sensor_id"]] = int(series["values"][0][1])
    from_scratch = 0
    for sensor_id, count in counts.items():
        found = registry.sensor(sensor_id)
        if found is not None and count >= detector_for(found[1].kind).warmup:
            from_scratch += 1
    return DetectorTally(warming_again=len(counts), readings=sum(counts.values()), from_scratch=from_scratch)


async def _owner_topics(settings: Settings, names: TopicNames) -> list[str]:
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        topics: list[str] = await admin.list_topics()
    finally:
        await admin.close()
    prefix = names.owner("")
    return sorted(topic for topic in topics if topic.startswith(prefix))


async def _alarm_events(settings: Settings, topics: list[str]) -> list[tuple[str, int]]:
    """(alarm id, update number) of every alarm event on ``topics``."""
    events = []
    for topic in topics:
        for _, _, value in await committed_records(settings, topic):
            if value is not None:
                alarm = orjson.loads(value)
                events.append((str(alarm["alarm_id"]), int(alarm["sequence"])))
    return events
