"""Faults on the real stack: a killed worker, an InfluxDB outage, a Kafka restart, a worker
joining mid-stream (a rebalance), workers joining and leaving while readings flow.

The guarantee under test (README, "Guarantees"): every valid reading ends up in InfluxDB
exactly once, as one point, whatever of these happens mid-stream, and no event is dead-lettered
for a fault that was not its own.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta

from streams import stack
from streams.kafka.groups import group_state
from streams.kafka.topics import read_values
from streams.settings import Settings
from streams.sinks.influx import count_points
from streams.worker import stop_worker
from tests.conftest import WorkerFactory
from tests.feeding import city_events, produce, wait_for


async def points_at_least(settings: Settings, count: int) -> bool:
    return await count_points(settings) >= count


async def first_worker_at_work(
    settings: Settings, worker: WorkerFactory, events: list[tuple[bytes, bytes]]
) -> None:
    """A worker that has written the first points of the first 1,000 of ``events``."""
    worker(settings)
    await produce(settings, events[:1000])
    await wait_for("the first worker's first points", lambda: points_at_least(settings, 500))


async def trickle(settings: Settings, events: list[tuple[bytes, bytes]]) -> None:
    """The rest of ``events`` after the first 1,000, 250 every 0.3 s (12,000 events: about 15 s)."""
    for start in range(1000, len(events), 250):
        await produce(settings, events[start : start + 250])
        await asyncio.sleep(0.3)


async def stable_group(settings: Settings, workers: int) -> None:
    async def formed() -> bool:
        return await group_state(settings, settings.app_id) == ("Stable", workers)

    await wait_for(f"a stable group of {workers} workers", formed, seconds=120)


async def assert_exactly_in_influx(settings: Settings, count: int) -> None:
    await wait_for(f"{count} points", lambda: points_at_least(settings, count), seconds=180)
    await asyncio.sleep(3)
    assert await count_points(settings) == count
    assert await read_values(settings, settings.topic("readings.deadletter")) == []


async def test_a_worker_killed_mid_stream_loses_nothing_and_writes_nothing_twice(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings
    events = city_events(settings, 60_000, datetime.now(UTC) - timedelta(days=1))
    await produce(settings, events)
    first = worker(settings)
    await wait_for("the first points", lambda: points_at_least(settings, 300))
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert await count_points(settings) < len(events), "the kill must land mid-stream"
    worker(settings)
    await assert_exactly_in_influx(settings, len(events))


async def test_an_influxdb_outage_is_waited_out(pipeline_settings: Settings, worker: WorkerFactory) -> None:
    settings = pipeline_settings
    events = city_events(settings, 4000, datetime.now(UTC) - timedelta(hours=6))
    process = worker(settings)
    await produce(settings, events[:2000])
    await wait_for("the first half", lambda: points_at_least(settings, 2000))
    assert stack.stop_service(settings, "influxd")
    try:
        await produce(settings, events[2000:])
        await asyncio.sleep(8)  # the sink retries against a dead InfluxDB meanwhile
        assert process.poll() is None, "the worker must wait, not crash"
    finally:
        stack.start_service(settings, "influxd")
    await assert_exactly_in_influx(settings, len(events))


async def test_a_kafka_restart_mid_stream_loses_nothing(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings
    events = city_events(settings, 4000, datetime.now(UTC) - timedelta(hours=6))
    process = worker(settings)
    await produce(settings, events[:2000])
    await wait_for("the first half", lambda: points_at_least(settings, 2000))
    assert stack.stop_service(settings, "kafka")
    await asyncio.sleep(3)
    stack.start_service(settings, "kafka")
    await produce(settings, events[2000:])
    await assert_exactly_in_influx(settings, len(events))
    assert process.poll() is None, "the worker must ride out the restart"


async def test_a_worker_joining_mid_stream_loses_nothing(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    """The group rebalances while readings flow: the partitions the first worker gives up, with
    events it had fetched but not yet processed, are taken over without losing or doubling any."""
    settings = pipeline_settings
    events = city_events(settings, 12000, datetime.now(UTC) - timedelta(hours=6))
    await first_worker_at_work(settings, worker, events)
    feeding = asyncio.create_task(trickle(settings, events))  # the group forms again meanwhile
    await asyncio.sleep(1.0)
    worker(settings)

    await stable_group(settings, 2)
    assert not feeding.done(), "the group must form again while readings flow"
    await feeding
    await assert_exactly_in_influx(settings, len(events))


async def test_workers_coming_and_going_mid_stream_lose_nothing(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    """Four rebalances while readings flow: a second and a third worker join, then the second
    is stopped and the third killed (its partitions wait out its session). Every batch fetched
    across a rebalance is fetched again, every partition taken over is restored: every reading
    once in InfluxDB, none dead-lettered."""
    settings = pipeline_settings
    events = city_events(settings, 24_000, datetime.now(UTC) - timedelta(days=1))
    await first_worker_at_work(settings, worker, events)

    feeding = asyncio.create_task(trickle(settings, events))
    second = worker(settings)
    await stable_group(settings, 2)
    third = worker(settings)
    await stable_group(settings, 3)
    assert not feeding.done(), "the group must change while readings flow"
    stop_worker(second)
    await stable_group(settings, 2)
    third.send_signal(signal.SIGKILL)
    third.wait()
    await stable_group(settings, 1)
    await feeding
    await assert_exactly_in_influx(settings, len(events))
