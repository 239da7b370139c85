"""Chaos on the real stack: a shortened ``openlab chaos`` run, and a zombie worker.

A shortened chaos run (``openlab chaos`` with one fault of each kind but the overlapping ones):
the full run (README, "Guarantees") streams the whole city for minutes; this one streams a city
of 40 sites at 600 readings a second for 150 s, long enough for each fault to strike while
readings flow through Kafka and MQTT (a worker frozen for 40 s among them, past its session
timeout), and counts everything where it landed, the committed records' consistency included.

A zombie: a worker frozen (SIGSTOP) past its consumer session timeout, then resumed (SIGCONT).
Its group gives its partitions to the other worker meanwhile, and it wakes with a batch in hand
and its sensors' state from before the freeze. Nothing it then does may show: everything is
counted where it landed (:mod:`streams.chaos.consistency`, read as ``read_committed``), never by
the pipeline's own counters.

Two workers; a city of 200 sites on 12 partitions fed at 600 readings a second for 125 s; worker
0 frozen for 40 s (the default session timeout is 10 s with aiokafka, 30 s with the workers' own
setting) twice, at 20 s and at 75 s, each time just after a tick of the feed was published, so
that it freezes with a batch in hand. The same run without freezes scores each reading once, opens
no alarm over an open one, leaves none open after its sensor's normal readings, no state record
behind, no point unlike its record, no valid reading dead-lettered: all of those must be 0. On
sensors whose readings all arrived, in order, a gap episode, or a sensor-fault alarm for readings
missing, cannot happen without a fault (what they say went missing did arrive): 0 too. A stale
episode can (a sensor whose last readings the simulated city dropped at the end of the run): at
most one sensor in 100 of them, where the zombie of issue 21 made one in ten stale.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time

import pytest
from rich.console import Console

from sensors.simulation.city import CitySimulator
from streams.chaos.audit import audit
from streams.chaos.run import run_chaos
from streams.chaos.schedule import OVERLAPPING, ChaosRules, Fault
from streams.city import load_city
from streams.ingest.feed import FeedStats, feed_city, plan_feed
from streams.job import pipeline_lag, until_group_is_stable
from streams.settings import Settings
from streams.sinks.influx import count_points
from streams.testing import isolated
from streams.worker import stop_worker
from tests.conftest import WorkerFactory
from tests.feeding import wait_for

FEED_SECONDS = 125.0
RATE = 600.0
FREEZE_SECONDS = 40.0
FROZEN_AT = (20.0, 75.0)
"""Seconds after the feed started."""
IN_HAND_SECONDS = 0.03
"""How long after a tick was published the worker is frozen: while it handles the tick's batch."""


@pytest.fixture
def city_settings(stack_settings: Settings) -> Settings:
    return isolated(stack_settings, sites=200, partitions=12)


async def freeze_twice(process: subprocess.Popen[bytes], started: float, ticked: asyncio.Event) -> None:
    """SIGSTOP ``process`` for :data:`FREEZE_SECONDS` at each of :data:`FROZEN_AT`, just after the
    feed's next tick (``ticked``)."""
    try:
        for at in FROZEN_AT:
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            ticked.clear()
            await ticked.wait()
            await asyncio.sleep(IN_HAND_SECONDS)
            process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(FREEZE_SECONDS)
            process.send_signal(signal.SIGCONT)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)


async def test_a_worker_frozen_past_its_session_timeout_leaves_no_trace(
    city_settings: Settings, worker: WorkerFactory
) -> None:
    settings = city_settings
    simulator = CitySimulator(load_city(settings), seed=21)
    plan = plan_feed(simulator, duration=FEED_SECONDS, rate=RATE)
    workers = [worker(settings), worker(settings)]
    await until_group_is_stable(settings, len(workers), workers)
    stats = FeedStats()
    ticked = asyncio.Event()
    feeding = feed_city(
        settings,
        simulator,
        duration=FEED_SECONDS,
        speed=plan.speed,
        start=plan.start,
        stats=stats,
        on_tick=lambda _: ticked.set(),
    )
    await asyncio.gather(feeding, freeze_twice(workers[0], time.monotonic(), ticked))

    async def drained() -> bool:
        return await pipeline_lag(settings) == 0

    await wait_for("the workers to commit every reading and the sink every point", drained, seconds=120)
    for process in workers:
        stop_worker(process)
    landed = await audit(settings)
    points = await count_points(settings)
    h = landed.health
    summary = (
        f"{stats.produced:,} readings sent, {points:,} points in InfluxDB;"
        f" scored twice {landed.scored}; alarm events repeated {landed.alarm_events}"
        f" ({landed.alarms:,} events); opened over an open one {landed.opened_over_open};"
        f" anomalies left open {landed.anomalies_left_open}; states behind {landed.states_behind};"
        f" points unlike their record {landed.points_unlike_records} of {landed.points:,};"
        f" valid readings dead-lettered {landed.valid_dead_lettered}; {h}"
    )
    print(summary)
    assert points == stats.produced, summary
    assert landed.failures() == [], summary
    assert h.gaps == h.silences == 0, summary
    assert h.sensors > 0 and h.stale <= h.sensors // 100, summary


async def test_a_short_chaos_run_loses_nothing_and_writes_nothing_twice(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"sites": 40, "partitions": 4})
    rules = ChaosRules(
        worker_kills=1,
        worker_freezes=1,
        overlapping=False,
        influx_down_seconds=8.0,
        shortest_gap_seconds=1.0,
        longest_gap_seconds=3.0,
    )
    seed = random.randrange(2**32)
    report = await run_chaos(
        settings,
        duration=150.0,
        rate=600.0,
        malformed_rate=0.01,
        rules=rules,
        seed=seed,
        workers=2,
        warmup=10.0,
        recovery_timeout=120.0,
        drain_timeout=120.0,
        console=Console(width=120),
    )
    assert report.failures() == [], f"seed {seed}: {report.failures()}"
    assert {recovery.step.fault for recovery in report.recoveries} == set(Fault) - OVERLAPPING
    assert report.consistency is not None and report.consistency.failures() == []
    assert report.points is not None and report.letters is not None
    assert report.points.sent > 30_000 and report.over_mqtt > 0
    assert report.points.lost == report.points.doubled == 0
    assert report.letters.malformed > 100
    assert report.letters.dead_lettered == report.letters.right_reason == report.letters.malformed
