"""The simulator's sustained produce rate into Kafka, beside a raw aiokafka producer.

The baseline sends pre-built messages (no simulation, no JSON building) with a plain
``AIOKafkaProducer`` and per-message ``send``, waiting for every acknowledgement: the rate any
aiokafka application gets for free. The feed is ``streams.ingest.feed.feed_city`` itself, asked for
far more than it can do, so it runs flat out: simulation, JSON, labels and acknowledged batches.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from bench.throughput import Throughput
from sensors.simulation.city import CitySimulator
from streams.city import load_city
from streams.ingest.feed import FeedStats, feed_city
from streams.kafka.clients import aiokafka_options
from streams.kafka.topics import ensure_topics
from streams.settings import Settings

_WINDOW = 20_000


async def raw_producer(settings: Settings, messages: list[tuple[bytes, bytes]]) -> Throughput:
    """Pre-built messages through a plain aiokafka producer, one ``send`` each, all acknowledged."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all", linger_ms=5)
    await producer.start()
    try:
        topic = settings.topic("readings.raw")
        started = time.perf_counter()
        # Acknowledgements are awaited window by window: queued without bound, batches would
        # wait in aiokafka's accumulator past the request timeout.
        for first in range(0, len(messages), _WINDOW):
            window = messages[first : first + _WINDOW]
            await asyncio.gather(*[await producer.send(topic, value=v, key=k) for k, v in window])
        return Throughput(len(messages), time.perf_counter() - started)
    finally:
        await producer.stop()


async def simulator_feed(settings: Settings, seconds: float) -> Throughput:
    """``feed_city`` asked for a million readings a second for ``seconds``: its sustained rate."""
    await ensure_topics(settings)
    stats = FeedStats()
    started = time.perf_counter()
    await feed_city(
        settings,
        CitySimulator(load_city(settings), seed=settings.seed),
        duration=seconds,
        rate=1_000_000.0,
        stats=stats,
    )
    return Throughput(stats.produced, time.perf_counter() - started)


def prebuilt_messages(settings: Settings, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` simulated readings, built before any clock starts."""
    simulator = CitySimulator(load_city(settings), seed=settings.seed)
    moment = datetime.now(UTC) - timedelta(days=2)
    messages: list[tuple[bytes, bytes]] = []
    while len(messages) < count:
        messages.extend(simulator.tick(moment))
        moment += timedelta(minutes=1)
    return messages[:count]
