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
from datetime import UTC, datetime

from rich.console import Console

from sensors.simulation.city import CitySimulator
from streams import stack
from streams.chaos.cast import Cast, MqttDevices
from streams.chaos.probes import (
    all_in,
    count_landed,
    devices_in,
    group_formed,
    offsets_committed,
    publishing,
    wait_until,
)
from streams.chaos.report import ChaosReport, Recovery
from streams.chaos.schedule import ChaosRules, Fault, Step, schedule
from streams.city import load_city
from streams.ingest.devices import DeviceStore
from streams.ingest.feed import FeedLedger, FeedStats, feed_city, plan_feed
from streams.job import until_group_is_stable
from streams.kafka.topics import delete_topics, ensure_city_topics
from streams.settings import Settings
from streams.stack.logins import apply_logins

DEVICE_SITES_EVERY = 100
"""One site in this many publishes over MQTT (the generated city: 33 sites, about 2% of readings)."""


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
    registry = load_city(settings)
    await ensure_city_topics(settings, registry)
    stack.create_database(settings)
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
            recovery.recovered_after = await wait_until(caught_up, recovery_timeout, struck)
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
            await wait_until(all_in(settings, devices), drain_timeout, time.monotonic()) is not None
        )
        report.crashed += cast.crashed()
    finally:
        await cast.stop()
        devices.close()
        logins.remove(device)
        logins.remove(settings.mqtt_client_id)
        apply_logins(settings)
    await count_landed(settings, registry, ledger, report)
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
            await group_formed(settings, len(cast.workers))
        case Fault.ADD_WORKER:
            cast.add_worker()
            await group_formed(settings, len(cast.workers))
        case Fault.REMOVE_WORKER:
            await cast.remove_worker(rng.randrange(len(cast.workers)))
            await group_formed(settings, len(cast.workers))
        case Fault.FREEZE_WORKER:
            frozen = cast.freeze_worker(rng.randrange(len(cast.workers)))
            await asyncio.sleep(step.down)
            cast.thaw(frozen)
            await group_formed(settings, len(cast.workers))
        case Fault.KILL_KAFKA | Fault.KILL_KAFKA_MID_SEND:
            if step.fault is Fault.KILL_KAFKA_MID_SEND:
                await publishing(settings)
            await asyncio.to_thread(stack.kill_service, settings, "kafka")
            await asyncio.sleep(step.down)
            await asyncio.to_thread(stack.start_service, settings, "kafka")
        case Fault.STOP_INFLUXDB | Fault.LONG_INFLUXDB_OUTAGE:
            await asyncio.to_thread(stack.stop_service, settings, "influxd")
            await asyncio.sleep(step.down)
            await asyncio.to_thread(stack.start_service, settings, "influxd")
        case Fault.STOP_INFLUXDB_IN_REBALANCE:
            # No batch can be committed while InfluxDB is down, so the group can form again
            # only once it is back.
            await asyncio.to_thread(stack.stop_service, settings, "influxd")
            cast.kill_worker(rng.randrange(len(cast.workers)))
            cast.add_worker()
            await asyncio.sleep(step.down)
            await asyncio.to_thread(stack.start_service, settings, "influxd")
            await group_formed(settings, len(cast.workers))
        case Fault.KILL_GATEWAY:
            cast.kill_gateway()
            await asyncio.sleep(step.down)
            cast.start_gateway()
            return devices_in(settings, devices, devices.sent)
    return await offsets_committed(settings)
