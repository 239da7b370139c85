"""A shortened chaos run on the real stack (``openlab chaos`` with one fault of each kind).

The full run (README, "Guarantees") streams the whole city for minutes; this one streams a city
of 40 sites at 600 readings a second for 100 s, long enough for each fault to strike while
readings flow through Kafka and MQTT, and counts everything where it landed.
"""

from __future__ import annotations

import random

from rich.console import Console

from streams.chaos.run import run_chaos
from streams.chaos.schedule import ChaosRules, Fault
from streams.settings import Settings


async def test_a_short_chaos_run_loses_nothing_and_writes_nothing_twice(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"sites": 40, "partitions": 4})
    rules = ChaosRules(
        worker_kills=1, influx_down_seconds=8.0, shortest_gap_seconds=1.0, longest_gap_seconds=3.0
    )
    seed = random.randrange(2**32)
    report = await run_chaos(
        settings,
        duration=100.0,
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
    assert {recovery.step.fault for recovery in report.recoveries} == set(Fault)
    assert report.points is not None and report.letters is not None
    assert report.points.sent > 30_000 and report.over_mqtt > 0
    assert report.points.lost == report.points.doubled == 0
    assert report.letters.malformed > 100
    assert report.letters.dead_lettered == report.letters.right_reason == report.letters.malformed
