"""Testing an agent on the real local stack (Kafka, InfluxDB): what a plugin's tests import,
beside the fixtures of :mod:`streams.testing` (``openlab_stack``, ``openlab_settings``).

- :func:`sites_with`: the city's sites that have sensors of some kinds.
- :func:`scored`: a scored reading of one of a site's sensors, made by hand.
- :func:`run_agent`: readings onto ``readings.scored``, the agent's consumers (and then the
  alert router, which copies its alarm events to the owners' topics) run until they committed
  them all, and what came out (:class:`AgentRun`).

A plugin's test (``openlab agents new`` writes one)::

    def test_it(openlab_settings: Settings) -> None:
        site = sites_with(openlab_settings, "traffic_flow")[0]
        run = asyncio.run(run_agent(my_agent, openlab_settings, [scored(site, "traffic_flow", 800.0, at)]))
        assert run.points
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from models.alarms import Alarm
from models.scoring import ScoredReading
from sensors.catalog import KINDS
from sensors.cleaning import DeadLetter
from sensors.site import Site
from streams.agents.api import SCORED, Agent
from streams.agents.runtime import AgentRunner, ensure_agent_topics, runners
from streams.city import load_city
from streams.kafka.groups import consumer_lag
from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, read_records, read_values
from streams.metrics import PipelineCounters
from streams.pipeline.router import AlertRouter
from streams.runtime.consumer import BatchConsumer
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter, influxql
from streams.sinks.points import PointSink


def sites_with(settings: Settings, *kinds: str) -> list[Site]:
    """The sites of the settings' city that have sensors of all of ``kinds``."""
    return [
        site for site in load_city(settings).sites if set(kinds) <= {sensor.kind for sensor in site.sensors}
    ]


def scored(
    site: Site,
    kind: str,
    value: float,
    at: datetime,
    *,
    anomalous: bool = False,
    probability: float = 0.5,
) -> ScoredReading:
    """A scored reading of ``site``'s sensor of ``kind`` at ``at``, as the pass would make it."""
    sensor = next(sensor for sensor in site.sensors if sensor.kind == kind)
    return ScoredReading(
        sensor_id=sensor.sensor_id,
        site_id=site.site_id,
        kind=kind,
        value=value,
        unit=KINDS[kind].unit,
        observed_at=at,
        score=1.0 if anomalous else 0.0,
        probability=0.9999 if anomalous else probability,
        threshold=0.999,
        anomalous=anomalous,
        warming_up=False,
        expected_low=value,
        expected_high=value,
        detector="by-hand",
    )


@dataclass(frozen=True)
class AgentRun:
    """What one :func:`run_agent` left: events by output, the agent's points (InfluxQL rows as
    dicts of column to value), its alarm events, and the dead letters it made."""

    events: dict[str, list[tuple[str | None, Any]]]
    points: list[dict[str, Any]]
    alarms: list[Alarm]
    dead_letters: list[DeadLetter]


async def run_agent(
    agent: Agent[Any], settings: Settings, readings: Sequence[ScoredReading], seconds: float = 60.0
) -> AgentRun:
    """Put ``readings`` on ``readings.scored`` (keyed by sensor), run ``agent`` on the real stack
    until it committed them all (``seconds`` at most), and read back what it made. Run it again
    with more readings: the agent's state is restored from its changelog as after a restart."""
    await ensure_agent_topics(settings, agent)
    publisher = Publisher(settings)
    writer = InfluxWriter(settings)
    try:
        await publisher.publish(
            settings.topic(SCORED), [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in readings]
        )
        counters = PipelineCounters()
        runner = AgentRunner(agent, settings, load_city(settings), counters)
        deadline = time.monotonic() + seconds
        for consumer in [
            *runners(agent, runner),
            AlertRouter(settings),
            PointSink(settings, writer, counters),
        ]:
            worker = BatchConsumer(settings, consumer, counters)
            task = asyncio.create_task(worker.run())
            while await consumer_lag(settings, consumer.group, consumer.inputs) != 0:
                if task.done() or time.monotonic() > deadline:
                    task.result()
                    raise TimeoutError(f"{consumer.group} did not take every reading within {seconds:g} s")
                await asyncio.sleep(0.5)
            await worker.finish()
            await task
    finally:
        await publisher.stop()
        await writer.close()
    return await _what_came_out(agent, settings)


async def _what_came_out(agent: Agent[Any], settings: Settings) -> AgentRun:
    names = TopicNames.of(settings)
    events: dict[str, list[tuple[str | None, Any]]] = {}
    for output in agent.outputs:
        records = await read_records(settings, settings.topic(agent.output_topic(output)))
        events[output] = [
            (None if key is None else key.decode(), orjson.loads(value))
            for _, key, value in records
            if value is not None
        ]
    series = await influxql(settings, f'SELECT * FROM "{agent.measurement}"')
    points = [dict(zip(s["columns"], row, strict=True)) for s in series for row in s["values"]]
    alarms = [Alarm.model_validate_json(value) for value in await read_values(settings, names.alerts)]
    letters = [
        DeadLetter.model_validate_json(value) for value in await read_values(settings, names.deadletter)
    ]
    return AgentRun(
        events,
        points,
        [alarm for alarm in alarms if alarm.alarm_type == agent.name],
        [letter for letter in letters if letter.stage == agent.name],
    )
