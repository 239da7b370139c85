"""The whole path on the real Kafka and InfluxDB: events in, scores in InfluxDB, rejects in dead letters."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from sensors.cleaning import DeadLetter, Reason
from sensors.reading import Reading
from sensors.simulation.malformations import Malformation, corrupt
from streams.kafka.topics import read_values
from streams.settings import Settings
from streams.sinks.influx import count_points, influxql
from tests.conftest import WorkerFactory
from tests.feeding import city_events, produce, wait_for


async def test_valid_readings_reach_influxdb_and_malformed_ones_the_dead_letters(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings
    now = datetime.now(UTC)
    good = city_events(settings, 950, now - timedelta(hours=3))
    ways = list(Malformation)
    bad = [(key, corrupt(value, ways[i % len(ways)], now)) for i, (key, value) in enumerate(good[:50])]
    mixed = good + bad
    random.Random(5).shuffle(mixed)
    process = worker(settings)
    await produce(settings, mixed)

    async def all_arrived() -> bool:
        letters = await read_values(settings, settings.topic("readings.deadletter"))
        return await count_points(settings) >= 950 and len(letters) >= 50

    await wait_for("950 points and 50 dead letters", all_arrived)
    await asyncio.sleep(3)  # anything extra would arrive by now

    assert await count_points(settings) == 950
    scored = await influxql(settings, 'SELECT count("score"), count("value") FROM "reading"')
    assert scored[0]["values"][0][1:] == [950, 950]
    letters = [
        DeadLetter.model_validate_json(v)
        for v in await read_values(settings, settings.topic("readings.deadletter"))
    ]
    assert len(letters) == 50
    assert all(letter.stage == "clean" and letter.detail for letter in letters)
    expected = Counter(ways[i % len(ways)].reason for i in range(50))
    assert Counter(letter.reason for letter in letters) == expected
    assert sorted(letter.original for letter in letters) == sorted(value for _, value in bad)
    assert process.poll() is None, "the worker must still be running"


async def test_late_readings_are_marked_or_refused_by_their_sensors_clock(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings.model_copy(update={"max_lateness_seconds": 600.0})
    now = datetime.now(UTC)
    events = city_events(settings, 3, now - timedelta(hours=1))
    key, value = events[0]
    reading = Reading.model_validate_json(value)

    def at(minutes_ago: float, seq: int) -> tuple[bytes, bytes]:
        moment = now - timedelta(minutes=minutes_ago)
        return key, reading.model_copy(update={"observed_at": moment, "seq": seq}).model_dump_json().encode()

    # In order, then 5 minutes behind (passes, marked), then 20 minutes behind (refused).
    sequence = [at(30, 1), at(20, 2), at(25, 3), at(40, 4)]
    process = worker(settings)
    await produce(settings, sequence)

    async def all_arrived() -> bool:
        letters = await read_values(settings, settings.topic("readings.deadletter"))
        return await count_points(settings) >= 3 and len(letters) >= 1

    await wait_for("3 points and 1 dead letter", all_arrived)
    await asyncio.sleep(2)
    assert await count_points(settings) == 3
    (letter,) = [
        DeadLetter.model_validate_json(v)
        for v in await read_values(settings, settings.topic("readings.deadletter"))
    ]
    assert letter.reason is Reason.TOO_LATE and letter.original == sequence[3][1]
    cleaned = [
        Reading.model_validate_json(v) for v in await read_values(settings, settings.topic("readings.clean"))
    ]
    assert [(r.seq, r.quality) for r in cleaned] == [(1, ()), (2, ()), (3, ("out_of_order",))]
    assert process.poll() is None
