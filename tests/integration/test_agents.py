"""Agents in a real worker process beside the pass: one that raises on every batch has each batch
dead-lettered under its name while the pass and the other agents go on. (The example agent on the
real stack: examples/congestion/tests.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp

from sensors.cleaning import DeadLetter, Reason
from sensors.measurements import CONGESTION
from sensors.simulation.city import CitySimulator
from streams.agents.testing import scored, sites_with
from streams.city import load_city
from streams.kafka.groups import committed_offsets
from streams.kafka.publisher import Publisher
from streams.kafka.topics import read_values
from streams.settings import Settings
from streams.sinks.influx import count_points, influxql
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for


async def test_an_agent_that_raises_does_not_stop_the_pass_nor_the_other_agents(
    stack_settings: Settings, worker: WorkerFactory
) -> None:
    from tests.conftest import isolated

    settings = await asyncio.to_thread(
        isolated,
        stack_settings,
        agents="tests.agent_plugins:broken,congestion",
        worker_web_port=stack_settings.worker_web_port,
    )
    simulator = CitySimulator(load_city(settings), seed=1)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    events = [
        event for second in range(0, 300, 10) for event in simulator.tick(start + timedelta(seconds=second))
    ]
    process = worker(settings)
    await produce(settings, events)
    deadletter = settings.topic("readings.deadletter")

    async def broken_letters() -> list[DeadLetter]:
        letters = [DeadLetter.model_validate_json(v) for v in await read_values(settings, deadletter)]
        return [letter for letter in letters if letter.stage == "broken"]

    async def everything_arrived() -> bool:
        congested = await influxql(settings, f'SELECT count("index") FROM "{CONGESTION}"')
        return (
            await count_points(settings) >= len(events)
            and len(await broken_letters()) >= len(events)
            and bool(congested)
        )

    await wait_for("the readings, their dead letters from broken, congestion points", everything_arrived)

    assert await count_points(settings) == len(events)
    letters = await broken_letters()
    assert {letter.source_topic for letter in letters} == {settings.topic("readings.scored")}
    assert len({(letter.source_partition, letter.source_offset) for letter in letters}) == len(events)
    assert {letter.reason for letter in letters} == {Reason.INTERNAL_ERROR}
    assert all(letter.detail.startswith("RuntimeError: broken cannot take") for letter in letters)
    url = f"http://127.0.0.1:{settings.worker_web_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        metrics = await answer.text()
    assert 'openlab_events_total{outcome="failed",reason="",stage="broken"}' in metrics
    assert 'openlab_events_total{outcome="taken",reason="",stage="congestion"}' in metrics
    assert process.poll() is None, "the worker must still be running"


async def test_a_worker_without_the_pass_runs_its_agents_alone(
    stack_settings: Settings, worker: WorkerFactory
) -> None:
    from tests.conftest import isolated

    settings = await asyncio.to_thread(isolated, stack_settings, agents="congestion", pipeline=False)
    site = sites_with(settings, "traffic_flow", "traffic_speed")[0]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    readings = [
        scored(site, kind, value, start + timedelta(minutes=minute, seconds=offset))
        for minute in range(3)
        for offset, kind, value in ((5, "traffic_flow", 900.0), (25, "traffic_speed", 40.0))
    ]
    raw = [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in readings]
    process = worker(settings)
    publisher = Publisher(settings)
    try:
        await publisher.publish(settings.topic("readings.raw"), raw)
        await publisher.publish(settings.topic("readings.scored"), raw)
    finally:
        await publisher.stop()

    async def judged() -> bool:
        rows = await influxql(settings, f'SELECT count("index") FROM "{CONGESTION}"')
        return bool(rows) and rows[0]["values"][0][1] == 3

    await wait_for("three judged minutes", judged, seconds=60)
    await asyncio.sleep(5)  # a pass would have taken readings.raw by now
    assert await count_points(settings) == 0, "the pass must not run"
    assert await committed_offsets(settings, settings.app_id) == {}
    assert process.poll() is None
