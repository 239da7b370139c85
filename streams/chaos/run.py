"""The chaos run on the local stack: the city streams, the schedule's faults strike one after
another, and everything sent is counted where it landed.

Recovery from a fault is measured from the moment it struck until the pipeline has caught up
with everything sent before it was healed: the consumer group has committed every offset that
``readings.raw`` had at that moment (for the MQTT gateway: until InfluxDB holds a point for every
reading the devices had published by then).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import aiohttp
import orjson
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from models.scoring import detector_for
from sensors import measurements
from sensors.cleaning import DeadLetter
from sensors.simulator import CitySimulator
from sensors.sites import SiteRegistry
from streams import stack
from streams.chaos.cast import Cast, MqttDevices
from streams.chaos.schedule import ChaosRules, Fault, Step, schedule
from streams.chaos.tally import (
    AlarmTally,
    DetectorTally,
    LetterTally,
    PointTally,
    count_alarm_events,
    count_dead_letters,
    count_points_per_sensor,
)
from streams.city import load_city
from streams.devices import DeviceStore
from streams.feed import FeedLedger, FeedStats, feed_city, plan_feed
from streams.influx import count_points, influxql
from streams.job import until_group_is_stable
from streams.kafka_clients import aiokafka_options
from streams.settings import Settings
from streams.stack.logins import apply_logins
from streams.topics import (
    TopicNames,
    committed_offsets,
    consumer_lag,
    delete_topics,
    end_offsets,
    ensure_topics,
    group_state,
    read_records,
    read_values,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
GROUP_SECONDS = 120.0
"""Longest wait for the consumer group to form again after a worker fault."""
DEVICE_SITES_EVERY = 100
"""One site in this many publishes over MQTT (the generated city: 33 sites, about 2% of readings)."""


@dataclass
class Recovery:
    """One fault as it happened."""

    step: Step
    struck_at: float
    """Seconds after the feed started."""
    recovered_after: float | None = None
    """Seconds from the strike until the pipeline had caught up (None: it had not in time)."""


@dataclass
class ChaosReport:
    """What one chaos run did and what landed where."""

    rate: float
    sensors: int
    feed_seconds: float = 0.0
    produced: int = 0
    over_mqtt: int = 0
    """Valid readings the MQTT devices published (through the gateway)."""
    recoveries: list[Recovery] = field(default_factory=list)
    points: PointTally | None = None
    letters: LetterTally | None = None
    alarms: AlarmTally | None = None
    detectors: DetectorTally | None = None
    crashed: list[str] = field(default_factory=list)
    drained: bool = False

    def failures(self) -> list[str]:
        """Why the run failed; empty when nothing was lost, doubled or left without a dead letter."""
        found = [f"not recovered from: {r.step.fault}" for r in self.recoveries if r.recovered_after is None]
        found += self.crashed
        if not self.drained:
            found.append("the pipeline had not caught up when the drain timed out")
        if self.points is not None:
            found += [f"{n:,} readings {what}" for n, what in self._point_faults(self.points) if n]
        if self.letters is not None and self.letters.missing:
            found.append(f"{self.letters.missing:,} malformed events without a dead letter")
        if self.letters is not None and self.letters.malformed != self.letters.right_reason:
            found.append("malformed events dead-lettered with another reason than theirs")
        if self.alarms is not None and (self.alarms.missing or self.alarms.gaps):
            found.append(
                f"alarm events missing on the owners' topics: {self.alarms.missing} (gaps {self.alarms.gaps})"
            )
        return found

    @staticmethod
    def _point_faults(points: PointTally) -> list[tuple[int, str]]:
        return [(points.lost, "lost"), (points.doubled, "written twice"), (points.unexpected, "never sent")]

    def table(self) -> Table:
        table = Table(title="openlab chaos", show_header=True)
        for column in ("", "figure"):
            table.add_column(column)
        table.add_row(
            "city", f"{self.sensors:,} sensors, {self.rate:,.0f} readings/s for {self.feed_seconds:.0f} s"
        )
        for recovery in self.recoveries:
            took = recovery.recovered_after
            table.add_row(
                f"{recovery.step.fault} at {recovery.struck_at:.0f} s",
                "NOT recovered" if took is None else f"caught up after {took:.1f} s",
            )
        if self.points is not None:
            p = self.points
            table.add_row("valid readings sent", f"{p.sent:,} ({self.over_mqtt:,} over MQTT)")
            table.add_row("points in InfluxDB", f"{p.points:,} ({p.distinct:,} distinct readings)")
            table.add_row("lost / written twice", f"{p.lost:,} / {p.doubled:,}")
        if self.letters is not None:
            d = self.letters
            others = ", ".join(f"{reason} {n}" for reason, n in d.others.most_common()) or "none"
            table.add_row("malformed sent", f"{d.malformed:,}")
            table.add_row(
                "dead-lettered",
                f"{d.dead_lettered:,} ({d.right_reason:,} with their reason, {d.repeated:,} repeated)",
            )
            table.add_row("other dead letters", others)
        if self.alarms is not None:
            a = self.alarms
            table.add_row(
                "alarm events",
                f"{a.events:,} on alerts, {a.on_owners_topics:,} on owners' topics"
                f" ({a.repeated:,} repeated, {a.missing:,} missing, {a.gaps:,} gaps)",
            )
        if self.detectors is not None:
            again = self.detectors
            table.add_row(
                "detectors warming up again",
                f"{again.warming_again:,} sensors, {again.readings:,} readings;"
                f" {again.from_scratch:,} from scratch",
            )
        table.add_row("verdict", "; ".join(self.failures()) or "PASS: nothing lost, nothing twice")
        return table


def for_chaos(settings: Settings, started: datetime) -> Settings:
    """The settings of one chaos run: topics, consumer group, InfluxDB database, MQTT topics and
    gateway session of its own, so that it counts only what it sent.

    >>> one = for_chaos(Settings(), datetime(2026, 12, 6, 9, 30, tzinfo=UTC))
    >>> one.topic("readings.raw"), one.app_id
    ('chaos-20261206T093000.readings.raw', 'openlab-chaos-20261206T093000')
    >>> one.influx_database, one.mqtt_topic_prefix
    ('chaos_20261206T093000', 'chaos-20261206T093000/')
    """
    name = f"chaos-{started.astimezone(UTC):%Y%m%dT%H%M%S}"
    return settings.model_copy(
        update={
            "topic_prefix": f"{settings.topic_prefix}{name}.",
            "app_id": f"{settings.app_id}-{name}",
            "influx_database": name.replace("-", "_"),
            "worker_web_port": 0,
            "mqtt_topic_prefix": f"{settings.mqtt_topic_prefix}{name}/",
            "mqtt_client_id": f"{settings.mqtt_client_id}-{name}",
        }
    )


async def run_chaos(
    settings: Settings,
    *,
    duration: float,
    rate: float | None,
    malformed_rate: float,
    rules: ChaosRules,
    seed: int,
    workers: int,
    warmup: float,
    recovery_timeout: float,
    drain_timeout: float,
    console: Console,
    keep_data: bool = False,
) -> ChaosReport:
    """Run the chaos schedule drawn from ``seed`` while the city streams for ``duration`` seconds.

    The run's topics and database are deleted once counted, unless ``keep_data``: a broker left
    with every run's partitions takes longer and longer to recover from the next run's kill."""
    settings = for_chaos(settings, datetime.now(UTC))
    folder = settings.run_dir / settings.app_id
    folder.mkdir(parents=True, exist_ok=True)
    # The clients' complaints while a service is down go to the run's log, not over the table.
    handler = logging.FileHandler(folder / "chaos.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    await ensure_topics(settings)
    stack.create_database(settings)
    registry = load_city(settings)
    simulator = CitySimulator(registry, seed=seed)
    sensors = sum(len(site.sensors) for site in registry.sites)
    plan = plan_feed(simulator, duration=duration, rate=rate or sensors)
    report = ChaosReport(rate=plan.rate, sensors=sensors)
    steps = schedule(rules, random.Random(seed))
    console.print(
        f"chaos {settings.app_id}: topics {settings.topic_prefix}*, database {settings.influx_database},"
        f" logs in {folder}\nschedule (after {warmup:g} s of warm-up):"
    )
    for step in steps:
        console.print(f"  {step.describe()}")

    cast = Cast(settings, folder)
    device_sites = [site.site_id for site in registry.sites[::DEVICE_SITES_EVERY]]
    logins = DeviceStore(settings)
    logins.add_gateway()
    device = f"{settings.app_id}-devices"
    secret = logins.add_device(device, device_sites, registry)
    devices = MqttDevices(settings, registry, device_sites, device, secret)
    apply_logins(settings)
    ledger = FeedLedger()
    stats = FeedStats(ledger=ledger)
    rng = random.Random(seed)
    try:
        for _ in range(workers):
            cast.add_worker()
        cast.start_gateway()
        devices.connect()
        await until_group_is_stable(settings, workers, cast.workers)
        clock = time.monotonic()
        feeding = asyncio.create_task(
            feed_city(
                settings,
                simulator,
                duration=duration,
                speed=plan.speed,
                start=plan.start,
                malformed_rate=malformed_rate,
                stats=stats,
                devices=devices,
            )
        )
        await asyncio.sleep(warmup)
        for step in steps:
            await asyncio.sleep(step.gap)
            struck = time.monotonic()
            recovery = Recovery(step, struck_at=struck - clock)
            report.recoveries.append(recovery)
            console.print(f"{recovery.struck_at:6.0f} s  {step.fault}")
            caught_up = await _strike(step, settings, cast, devices, rng)
            recovery.recovered_after = await _wait_until(caught_up, recovery_timeout, struck)
            took = recovery.recovered_after
            console.print(f"{'':9}{'NOT recovered' if took is None else f'caught up after {took:.1f} s'}")
            report.crashed += cast.crashed()
            if feeding.done():
                console.print(
                    "[yellow]the feed ended before the schedule: the faults left strike an idle city"
                )
        await feeding
        report.feed_seconds = time.monotonic() - clock
        report.produced = stats.produced
        report.over_mqtt = ledger.through_devices
        report.drained = (
            await _wait_until(_all_in(settings, devices), drain_timeout, time.monotonic()) is not None
        )
        report.crashed += cast.crashed()
    finally:
        await cast.stop()
        devices.close()
        logins.remove(device)
        logins.remove(settings.mqtt_client_id)
        apply_logins(settings)
    await _tally(settings, registry, ledger, report)
    if not keep_data:
        await delete_topics(settings)
        stack.drop_database(settings)
    return report


async def _strike(
    step: Step, settings: Settings, cast: Cast, devices: MqttDevices, rng: random.Random
) -> Callable[[], Awaitable[bool]]:
    """Do the fault of ``step``, heal it after ``step.down`` seconds; return the check that the
    pipeline has caught up since."""
    match step.fault:
        case Fault.KILL_WORKER:
            cast.kill_worker(rng.randrange(len(cast.workers)))
            await asyncio.sleep(step.down)
            cast.add_worker()
            await _group_formed(settings, len(cast.workers))
        case Fault.ADD_WORKER:
            cast.add_worker()
            await _group_formed(settings, len(cast.workers))
        case Fault.REMOVE_WORKER:
            await cast.remove_worker(rng.randrange(len(cast.workers)))
            await _group_formed(settings, len(cast.workers))
        case Fault.KILL_KAFKA:
            await asyncio.to_thread(stack.kill_service, settings, "kafka")
            await asyncio.sleep(step.down)
            await asyncio.to_thread(stack.start_service, settings, "kafka")
        case Fault.STOP_INFLUXDB:
            await asyncio.to_thread(stack.stop_service, settings, "influxd")
            await asyncio.sleep(step.down)
            await asyncio.to_thread(stack.start_service, settings, "influxd")
        case Fault.KILL_GATEWAY:
            cast.kill_gateway()
            await asyncio.sleep(step.down)
            cast.start_gateway()
            return _devices_in(settings, devices, devices.sent)
    return await _offsets_committed(settings)


async def _group_formed(settings: Settings, members: int) -> None:
    """Wait until the consumer group is stable with ``members`` workers: the rebalance a worker
    fault causes is part of the fault (bounded: a group that does not form shows as not caught up)."""

    async def formed() -> bool:
        return await group_state(settings, settings.app_id) == ("Stable", members)

    await _wait_until(formed, GROUP_SECONDS, time.monotonic())


async def _offsets_committed(settings: Settings) -> Callable[[], Awaitable[bool]]:
    """The check that the consumer group has committed all of ``readings.raw`` as it is now."""
    ends = await _retrying(lambda: end_offsets(settings, (settings.topic("readings.raw"),)))

    async def caught_up() -> bool:
        committed = await committed_offsets(settings, settings.app_id)
        return committed is not None and all(committed.get(tp, 0) >= end for tp, end in ends.items())

    return caught_up


def _devices_in(settings: Settings, devices: MqttDevices, sent: int) -> Callable[[], Awaitable[bool]]:
    """The check that InfluxDB holds at least ``sent`` points of the MQTT devices' sites."""
    where = f"site_id =~ /^({'|'.join(devices.site_ids)})$/"

    async def arrived() -> bool:
        return await count_points(settings, where) >= sent

    return arrived


def _all_in(settings: Settings, devices: MqttDevices) -> Callable[[], Awaitable[bool]]:
    """The check that the pipeline has drained: nothing left to commit, every device reading in."""
    names = TopicNames.of(settings)
    arrived = _devices_in(settings, devices, devices.sent)

    async def drained() -> bool:
        return (
            await consumer_lag(settings, settings.app_id, (names.raw, names.commands)) == 0
            and await arrived()
        )

    return drained


_UNANSWERED = (KafkaError, aiohttp.ClientError, OSError, RuntimeError, TimeoutError)
"""What a check may meet while a service is down or starting: it is asked again."""


T = TypeVar("T")


async def _retrying(ask: Callable[[], Awaitable[T]], seconds: float = 120.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await ask()
        except _UNANSWERED:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(POLL_SECONDS)


async def _wait_until(check: Callable[[], Awaitable[bool]], seconds: float, since: float) -> float | None:
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


async def _tally(settings: Settings, registry: SiteRegistry, ledger: FeedLedger, report: ChaosReport) -> None:
    """Count what landed: points per sensor, dead letters, alarm events, detectors restarted."""
    names = TopicNames.of(settings)
    points = await _per_sensor(settings, 'count("seq")')
    distinct = await _per_sensor(settings, 'count(distinct("seq"))')
    report.points = count_points_per_sensor(ledger.valid, points, distinct)
    letters = [
        DeadLetter.model_validate_json(value) for value in await read_values(settings, names.deadletter)
    ]
    report.letters = count_dead_letters(ledger.malformed, letters)
    report.alarms = count_alarm_events(
        await _alarm_events(settings, [names.alerts]),
        await _alarm_events(settings, await _owner_topics(settings, names)),
    )
    report.detectors = await _detectors_warming_again(settings, registry)


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
        for _, _, value in await read_records(settings, topic):
            if value is not None:
                alarm = orjson.loads(value)
                events.append((str(alarm["alarm_id"]), int(alarm["sequence"])))
    return events
