"""What landed, read as every consumer of the project must read it, and checked for consistency.

Kafka's topics are read with ``isolation_level="read_committed"``: a record of a transaction
that aborted (a fenced worker's) is never returned, and neither is a transaction marker, whose
offset a partition's last offset may be. So a partition is read to its end when the consumer's
position has reached its last stable offset, not when a record at the offset before it arrived.
InfluxDB's reading points are read a few hundred sensors at a time. The tallies themselves are
:mod:`~streams.chaos.consistency`'s.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from sensors import measurements
from sensors.cleaning import DeadLetter
from streams.chaos.consistency import (
    Consistency,
    ScoredLog,
    alarm_repeats,
    anomalies_left_open,
    health_on_whole_sensors,
    opened_over_open,
    points_unlike_records,
    states_behind,
    valid_dead_lettered,
)
from streams.kafka.clients import aiokafka_options
from streams.kafka.topics import TopicNames, end_offsets
from streams.settings import Settings
from streams.sinks.influx import influxql

READ_SECONDS = 300.0
"""Longest a topic may take to be read to its end (a transaction left open holds its end back
until Kafka aborts it)."""
SENSORS_PER_QUERY = 500
"""Sensors whose reading points one InfluxQL query returns."""

Landed = tuple[int, bytes | None, bytes | None]
"""A committed record: partition, key and value."""


async def committed_records(settings: Settings, topic: str) -> list[Landed]:
    """Every committed ``(partition, key, value)`` on ``topic``, partition by partition in offset
    order, up to the last stable offsets it has now."""
    partitions = sorted(await end_offsets(settings, (topic,)), key=lambda tp: tp.partition)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings), enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)  # last stable
        records: dict[TopicPartition, list[Landed]] = {tp: [] for tp in partitions}
        pending = set(partitions)
        deadline = time.monotonic() + READ_SECONDS
        while pending:
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its last stable offsets in {READ_SECONDS:.0f} s")
            batches = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, batch in batches.items():
                records[tp].extend((tp.partition, r.key, r.value) for r in batch if r.offset < ends[tp])
    finally:
        await consumer.stop()
    return [record for tp in partitions for record in records[tp]]


async def committed_values(settings: Settings, topic: str) -> list[bytes]:
    """The values of :func:`committed_records`, without tombstones."""
    return [value for _, _, value in await committed_records(settings, topic) if value is not None]


async def reading_points(settings: Settings) -> list[dict[str, Any]]:
    """Every reading point in InfluxDB: its time (ns), sensor id, other tags and fields."""
    points: list[dict[str, Any]] = []
    offset = 0
    while True:
        series = await influxql(
            settings,
            f'SELECT * FROM "{measurements.READING}" GROUP BY "sensor_id"'
            f" SLIMIT {SENSORS_PER_QUERY} SOFFSET {offset}",
        )
        if not series:
            return points
        for one in series:
            sensor = {"sensor_id": one["tags"]["sensor_id"]}
            points.extend({**dict(zip(one["columns"], row, strict=True)), **sensor} for row in one["values"])
        offset += SENSORS_PER_QUERY


async def audit(settings: Settings, malformed: Collection[bytes] = ()) -> Consistency:
    """Read the run's committed records and InfluxDB's points and tally them (``malformed``: the
    bytes of every event sent malformed on purpose, whose dead letters are due)."""
    names = TopicNames.of(settings)
    log = ScoredLog.of(await committed_values(settings, names.scored))
    readings = log.readings()
    alarm_values = await committed_values(settings, names.alerts)
    alarm_events = [orjson.loads(value) for value in alarm_values]
    state_records = await committed_records(settings, names.state)
    states = [(key, value) for _, key, value in state_records if key is not None]
    letters = [
        DeadLetter.model_validate_json(value) for value in await committed_values(settings, names.deadletter)
    ]
    health = [orjson.loads(value) for value in await committed_values(settings, names.quality)]
    points = await reading_points(settings)
    return Consistency(
        scored=log.repeats,
        alarm_events=alarm_repeats(alarm_values),
        opened_over_open=opened_over_open(alarm_events),
        anomalies_left_open=anomalies_left_open(alarm_events, readings),
        states_behind=states_behind(states, readings),
        points_unlike_records=points_unlike_records(points, log),
        valid_dead_lettered=valid_dead_lettered(letters, set(malformed), set(log.contents)),
        health=health_on_whole_sensors(health, alarm_events, log.whole()),
        points=len(points),
        alarms=len(alarm_events),
    )
