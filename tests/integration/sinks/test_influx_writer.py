"""One InfluxDB writer shared by several tasks (the pass and the alert router share theirs),
through an outage of the real InfluxDB: every write waits it out and lands once it is back.

A chaos run once crashed a worker here: the first write that failed closed the writer's HTTP
session, and a write another task had in flight raised "Session is closed".
"""

from __future__ import annotations

import asyncio
import random

from streams import stack
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter, influxql

WRITERS = 50
OUTAGE_SECONDS = 5.0


async def test_writes_from_many_tasks_wait_out_an_influxdb_outage(pipeline_settings: Settings) -> None:
    settings = pipeline_settings.model_copy(
        update={"sink_retry_backoff_seconds": 0.005, "sink_max_backoff_seconds": 0.05}
    )
    writer = InfluxWriter(settings)
    rng = random.Random(7)

    async def write(number: int) -> None:
        await asyncio.sleep(rng.random() * 0.1)
        await writer.write([f"outage_probe,writer={number} value={number}i {number + 1}"])

    assert stack.stop_service(settings, "influxd")
    try:
        writes = [asyncio.create_task(write(number)) for number in range(WRITERS)]
        await asyncio.sleep(OUTAGE_SECONDS)
        failed = [task.exception() for task in writes if task.done()]
        assert failed == [], "a write must wait out the outage, not fail"
    finally:
        stack.start_service(settings, "influxd")
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*writes)
    finally:
        await writer.close()
    series = await influxql(settings, 'SELECT count("value") FROM "outage_probe"')
    assert series[0]["values"][0][1] == WRITERS
    assert writer.stats.retries > WRITERS
