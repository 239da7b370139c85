"""Feeding the simulated city into ``readings.raw``, on an event clock that may run faster than the wall's.

The simulator is driven by event time, and each sensor reports at its kind's cadence
(``SensorKind.interval_seconds``), so the city produces a fixed number of readings per second of
event time (``CitySimulator.readings_per_second``: about 82 for the generated 3,300 sites). The
feed runs an event clock at ``speed`` event seconds per wall second, so it produces ``speed``
times that many readings per wall second. Give either:

- ``speed`` (event seconds per wall second; 1 = real time), and the rate follows; or
- ``rate`` (readings per wall second), and the speed follows: ``rate / readings_per_second``.
  ``openlab run`` and ``openlab simulate`` do this: the default 2,000 readings a second runs the
  whole city about 24 times faster than real time, with every reading stamped at its sensor's
  own report time.

The worker rejects readings stamped in the future, so an accelerated clock starts in the past and
ends at the wall-clock time the feed ends: ``start = now - duration * (speed - 1)``; an endless
feed (``duration`` infinite) plans as if for one day, and the event clock never passes the wall
clock (once it has caught up, it runs in real time).

The simulator's labels (ground truth of the injected anomalies, :mod:`sensors.simulation.anomalies`) go to
the ``labels`` topic (key = sensor id, value = ``Label`` JSON), are counted by type in
``FeedStats.labels``, and are written as JSON lines to ``labels_path`` when one is given.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sensors.cleaning import Reason
from sensors.simulation.city import CitySimulator
from sensors.simulation.malformations import Malformation, corrupt
from streams.kafka.publisher import Publisher
from streams.kafka.topics import ensure_topics
from streams.settings import Settings

ENDLESS_HORIZON = 86400.0
"""Wall seconds an endless accelerated feed plans for before its event clock reaches the wall's."""

READINGS_PER_BATCH = 1000.0
"""About how many readings each tick publishes at once (ticks are 0.05 to 1 wall second apart)."""


Event = tuple[bytes, bytes]
"""A reading as the feed sends it: Kafka key (the sensor id) and value (the Reading's JSON)."""


class Devices(Protocol):
    """Sensors that report through another door than Kafka, e.g. MQTT devices; the feed hands
    them their own readings (never corrupted) and sends the rest to Kafka itself."""

    def reports(self, key: bytes) -> bool:
        """Whether the sensor with Kafka key ``key`` is one of these devices."""
        ...

    async def send(self, events: list[Event]) -> None:
        """Send ``events`` through the devices' door; return once the door accepted them."""
        ...


@dataclass
class FeedLedger:
    """What a feed sent, kept so that where it landed can be counted independently of the
    pipeline (``openlab chaos``)."""

    valid: Counter[bytes] = field(default_factory=Counter)
    """Well-formed readings sent, by sensor id (Kafka key), through any door."""
    malformed: Counter[tuple[bytes, Reason]] = field(default_factory=Counter)
    """Malformed events sent (their exact bytes) with the reason the cleaner must give."""
    through_devices: int = 0
    """How many of the valid readings went through the devices' door."""


@dataclass
class FeedStats:
    produced: int = 0
    """Readings sent to ``readings.raw`` (malformed ones included)."""
    malformed: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    """Labels sent, by anomaly type."""
    event_start: datetime | None = None
    """Event time of the first tick (its readings reach back one cadence before it)."""
    event_end: datetime | None = None
    """Event time of the last tick so far."""
    ledger: FeedLedger | None = None
    """Every event sent, if one is given (not kept otherwise: it costs memory)."""

    @property
    def labelled(self) -> int:
        return sum(self.labels.values())


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """The event clock of one feed: how fast it runs, where it starts, what rate that gives."""

    speed: float
    """Event seconds per wall second."""
    rate: float
    """Readings per wall second that speed gives (malformed ones included)."""
    start: datetime
    """Event time of the first tick."""
    earliest: datetime
    """The earliest event time a reading of the feed can have: ``start`` less the longest cadence."""


def plan_feed(
    simulator: CitySimulator,
    *,
    duration: float,
    rate: float | None = None,
    speed: float | None = None,
    now: datetime | None = None,
) -> FeedPlan:
    """The event clock for feeding ``simulator`` for ``duration`` wall seconds from ``now``.

    Give ``rate`` (readings per wall second) or ``speed`` (event seconds per wall second), not
    both; neither means real time (speed 1).

    >>> from sensors.sites import SiteRegistry
    >>> simulator = CitySimulator(SiteRegistry.generate(count=100, seed=1))
    >>> now = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    >>> plan = plan_feed(simulator, duration=60, speed=10, now=now)
    >>> plan.start, round(plan.rate / simulator.readings_per_second, 6)
    (datetime.datetime(2026, 11, 29, 0, 51, tzinfo=datetime.timezone.utc), 10.0)
    >>> plan_feed(simulator, duration=60, rate=plan.rate, now=now).speed
    10.0
    """
    if rate is not None and speed is not None:
        raise ValueError("give the feed a rate or a speed, not both: each follows from the other")
    per_event_second = simulator.readings_per_second
    if per_event_second <= 0:
        raise ValueError("the registry has no sensors: there is nothing to feed")
    if rate is not None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 readings per second, not {rate}")
        speed = rate / per_event_second
    elif speed is None:
        speed = 1.0
    if not 0 < speed < math.inf:
        raise ValueError(f"speed must be > 0 event seconds per wall second, not {speed}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    horizon = duration if math.isfinite(duration) else ENDLESS_HORIZON
    start = now - timedelta(seconds=horizon * max(0.0, speed - 1.0))
    return FeedPlan(
        speed=speed,
        rate=speed * per_event_second,
        start=start,
        earliest=start - timedelta(seconds=simulator.longest_interval),
    )


async def feed_city(
    settings: Settings,
    simulator: CitySimulator,
    *,
    duration: float,
    rate: float | None = None,
    speed: float | None = None,
    start: datetime | None = None,
    malformed_rate: float = 0.0,
    labels_path: Path | None = None,
    stats: FeedStats | None = None,
    on_tick: Callable[[FeedStats], None] | None = None,
    devices: Devices | None = None,
) -> FeedStats:
    """Feed the city for ``duration`` wall seconds on an event clock (see the module's text).

    ``rate`` or ``speed`` set the pace (:func:`plan_feed`); ``start`` overrides the planned
    event time of the first tick. A share ``malformed_rate`` of the readings is corrupted in one
    of the ways field gateways really fail, to exercise the dead letters. Labels go to the
    ``labels`` topic and, if ``labels_path`` is given, to that file (JSON lines, overwritten).
    The readings of ``devices`` go through them instead of to Kafka, none corrupted. The
    pipeline's topics are created first if missing (the broker creates none on first use).
    """
    await ensure_topics(settings)
    stats = stats or FeedStats()
    plan = plan_feed(simulator, duration=duration, rate=rate, speed=speed)
    first = plan.start if start is None else start.astimezone(UTC)
    period = min(1.0, max(0.05, READINGS_PER_BATCH / plan.rate))
    rng = random.Random(settings.seed)
    malformations = list(Malformation)
    publisher = Publisher(settings)
    topic = settings.topic("readings.raw")
    labels_topic = settings.topic("labels")
    labels_file = labels_path.open("w", encoding="utf-8") if labels_path is not None else None
    try:
        started = time.monotonic()
        # A feed that cannot keep the pace falls behind in event time rather than catching up
        # with one giant tick: no tick covers more than two periods of event time.
        longest_step = timedelta(seconds=2 * period * plan.speed)
        while True:
            began = time.monotonic()
            elapsed = min(began - started, duration)
            now = datetime.now(UTC)
            at = min(first + timedelta(seconds=elapsed * plan.speed), now)
            if stats.event_end is not None:
                at = min(at, stats.event_end + longest_step)
            if stats.event_start is None:
                stats.event_start = at
            stats.event_end = at
            events = simulator.tick(at)
            labels = simulator.take_labels()
            if devices is not None:
                theirs = [event for event in events if devices.reports(event[0])]
                events = [event for event in events if not devices.reports(event[0])]
                await devices.send(theirs)
                stats.produced += len(theirs)
                _keep(stats.ledger, theirs, through_devices=True)
            malformed: list[tuple[Event, Reason]] = []
            if malformed_rate > 0:
                for index, (key, value) in enumerate(events):
                    if rng.random() < malformed_rate:
                        how = rng.choice(malformations)
                        events[index] = (key, corrupt(value, how, now))
                        malformed.append((events[index], how.reason))
                stats.malformed += len(malformed)
            stats.produced += await publisher.publish(topic, events)
            _keep(stats.ledger, events, malformed=malformed)
            if labels:
                records = [(label.sensor_id.encode(), label.model_dump_json().encode()) for label in labels]
                await publisher.publish(labels_topic, records)
                stats.labels.update(label.anomaly.value for label in labels)
                if labels_file is not None:
                    labels_file.writelines(f"{label.model_dump_json()}\n" for label in labels)
                    labels_file.flush()
            if on_tick is not None:
                on_tick(stats)
            if elapsed >= duration:
                break
            await asyncio.sleep(max(0.0, period - (time.monotonic() - began)))
    finally:
        await publisher.stop()
        if labels_file is not None:
            labels_file.close()
    return stats


def _keep(
    ledger: FeedLedger | None,
    events: list[Event],
    *,
    malformed: Sequence[tuple[Event, Reason]] = (),
    through_devices: bool = False,
) -> None:
    """Note ``events`` (``malformed`` among them) in ``ledger``, if there is one."""
    if ledger is None:
        return
    ledger.valid.update(key for key, _ in events)
    for (key, value), reason in malformed:
        ledger.valid[key] -= 1
        ledger.malformed[value, reason] += 1
    if through_devices:
        ledger.through_devices += len(events)
