"""Feeding test events into the real Kafka and waiting for their effects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sensors.simulation.city import CitySimulator
from streams.city import load_city
from streams.kafka.publisher import Publisher, Record
from streams.settings import Settings


def city_events(settings: Settings, count: int, start: datetime) -> list[tuple[bytes, bytes]]:
    """``count`` valid events of the settings' city, one tick every ten seconds from ``start``."""
    simulator = CitySimulator(load_city(settings), seed=1)
    events: list[tuple[bytes, bytes]] = []
    moment = start
    while len(events) < count:
        events.extend(simulator.tick(moment))
        moment += timedelta(seconds=10)
    return events[:count]


async def produce(settings: Settings, events: Sequence[Record]) -> None:
    publisher = Publisher(settings)
    try:
        await publisher.publish(settings.topic("readings.raw"), events)
    finally:
        await publisher.stop()


async def wait_for(condition_name: str, check: Callable[[], Awaitable[bool]], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {condition_name}")
