"""End-to-end throughput on the real local stack, against a raw aiokafka pass-through baseline.

Both read the same pre-produced events from Kafka. The baseline forwards each record, untouched,
to another topic in the same acknowledged batches the pipeline uses (one hop, no decoding): the
fastest a Python consumer-producer can be here. The
pipeline takes each event through its one pass (clean, health, score, alarm) into InfluxDB. Their
ratio is what the numbers mean; the absolute figures move with the machine's other load.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from sensors.simulation.city import CitySimulator
from streams.city import load_city
from streams.job import pipeline_lag, until_group_is_stable
from streams.kafka.clients import aiokafka_options
from streams.kafka.groups import consumer_lag
from streams.kafka.publisher import Publisher
from streams.kafka.topics import delete_topics, end_offsets, ensure_city_topics
from streams.settings import Settings
from streams.sinks.influx import count_points
from streams.stack import create_database, drop_database
from streams.worker import start_worker, stop_worker


@dataclass(frozen=True)
class Throughput:
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


@contextmanager
def isolated(settings: Settings) -> Iterator[Settings]:
    """Settings of a benchmark run of its own (topics, consumer group, database), whose topics and
    database are deleted afterwards: a broker left with every run's partitions slows down."""
    run = f"bench{uuid.uuid4().hex[:8]}"
    own = settings.model_copy(
        update={
            "topic_prefix": f"{run}.",
            "app_id": f"openlab-{run}",
            "influx_database": run,
            "worker_web_port": 0,
        }
    )
    try:
        yield own
    finally:
        asyncio.run(delete_topics(own))
        drop_database(own)


async def fill_raw(settings: Settings, ticks: int) -> int:
    """Put ``ticks`` whole-city ticks of readings on ``readings.raw``; return how many."""
    city = load_city(settings)
    await ensure_city_topics(settings, city)
    simulator = CitySimulator(city, seed=settings.seed)
    publisher = Publisher(settings)
    sent = 0
    try:
        start = time.time() - ticks * 60
        for tick in range(ticks):
            at = datetime.fromtimestamp(start + tick * 60, UTC)
            sent += await publisher.publish(settings.topic("readings.raw"), simulator.tick(at))
    finally:
        await publisher.stop()
    return sent


async def passthrough(settings: Settings, events: int) -> Throughput:
    """aiokafka alone: consume ``readings.raw`` and produce every record to ``readings.clean``."""
    source = settings.topic("readings.raw")
    target = settings.topic("readings.clean")
    partitions = list(await end_offsets(settings, (source,)))
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), enable_auto_commit=False)
    publisher = Publisher(settings)
    await consumer.start()
    await publisher.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        started = time.perf_counter()
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            records = [(r.key, r.value) for rs in batches.values() for r in rs if r.value is not None]
            seen += await publisher.publish(target, records)
        return Throughput(seen, time.perf_counter() - started)
    finally:
        await consumer.stop()
        await publisher.stop()


def worker_logs(settings: Settings, workers: int) -> list[Path]:
    """The log files of a bench's ``workers`` worker processes, named after its consumer group."""
    return [settings.run_dir / f"bench-worker-{settings.app_id}-{n}.log" for n in range(workers)]


async def until_ready(processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    """Return once every worker's log says it is ready; raise if one exits first."""
    for process, log in zip(processes, logs, strict=True):
        while "[^Worker]: Ready" not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited; see {log}")
            await asyncio.sleep(0.05)


async def pipeline(settings: Settings, events: int, workers: int = 1) -> Throughput:
    """``workers`` openlab workers, once they form a stable group, until every event's batch is
    committed and the sink has committed its points (written to InfluxDB): the events left when
    the group was stable, over the time they took. The group's forming (each join is a rebalance)
    is left out: it is paid once, not per reading.

    Progress is read from the consumer group's committed offsets (cheap), not from InfluxDB
    queries, which would compete with the worker for the machine's two cores. InfluxDB is
    counted once at the end, to check that every reading arrived.
    """
    create_database(settings)
    logs = worker_logs(settings, workers)
    processes = [start_worker(settings, log) for log in logs]
    try:
        await until_ready(processes, logs)
        await until_group_is_stable(settings, workers, processes)
        # The clock starts before the lag is read: the readings taken while it is read count
        # against the workers.
        started = time.perf_counter()
        left = await consumer_lag(settings, settings.app_id, (settings.topic("readings.raw"),))
        while await pipeline_lag(settings) != 0:
            await asyncio.sleep(1.0)  # each look opens Kafka clients: keep them rare
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            stop_worker(process)
    stored = await count_points(settings)
    if stored != events:
        raise RuntimeError(f"{stored} points in InfluxDB, expected {events}")
    if not left:
        raise RuntimeError("the workers took every reading before their group was stable: give more --ticks")
    return Throughput(left, seconds)
