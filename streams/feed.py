"""Feeding the simulated city into ``readings.raw`` at a chosen rate."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sensors.simulator import CitySimulator, Malformation, corrupt
from streams.publisher import Publisher
from streams.settings import Settings


@dataclass
class FeedStats:
    produced: int = 0
    malformed: int = 0


async def feed_city(
    settings: Settings,
    simulator: CitySimulator,
    *,
    duration: float,
    rate: float,
    malformed_rate: float = 0.0,
    stats: FeedStats | None = None,
    on_tick: Callable[[FeedStats], None] | None = None,
) -> FeedStats:
    """Send one reading per sensor per tick, ``rate`` readings a second, for ``duration`` seconds.

    Event time is wall-clock time at each tick. A share ``malformed_rate`` of the events is
    corrupted in one of the ways field gateways really fail, to exercise the dead letters.
    """
    stats = stats or FeedStats()
    rng = random.Random(settings.seed)
    malformations = list(Malformation)
    publisher = Publisher(settings)
    topic = settings.topic("readings.raw")
    try:
        started = time.monotonic()
        next_tick = started
        while time.monotonic() - started < duration:
            now = datetime.now(UTC)
            events = simulator.tick(now)
            if malformed_rate > 0:
                for index, (key, value) in enumerate(events):
                    if rng.random() < malformed_rate:
                        events[index] = (key, corrupt(value, rng.choice(malformations), now))
                        stats.malformed += 1
            stats.produced += await publisher.publish(topic, events)
            if on_tick is not None:
                on_tick(stats)
            next_tick += len(events) / rate
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    finally:
        await publisher.stop()
    return stats
