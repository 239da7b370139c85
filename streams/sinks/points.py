"""The InfluxDB sink: the points of committed batches, from the ``points`` topic into InfluxDB.

The pass and the agents put their points on ``points`` in the same transaction as their other
outputs and their offsets (:mod:`streams.runtime.transactions`), and every worker runs this
runner in the consumer group ``<app_id>-sink``, reading committed records only. So InfluxDB holds
the points of committed batches and of nothing else: a fenced worker's points, made from stale
state, are aborted with the rest of its transaction and never written. It is Kafka Connect's
pattern; the price is one more hop (``python -m bench`` measures it).

A batch's points go in one write, waiting out an InfluxDB outage (which holds the sink, not the
pass). Should InfluxDB refuse some, each event's points are written alone to find those refused,
and their events are dead-lettered by the step that made the points, with InfluxDB's answer; the
other points are written all the same. Delivery is at least once: a batch written again (a worker
killed between the write and its commit) writes the same points at the same identities, which
InfluxDB keeps once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from sensors.cleaning import Reason, Rejection
from streams.kafka.topics import TopicNames
from streams.metrics import PipelineCounters
from streams.runtime.batch import Event, Fetched, Outputs, Points
from streams.runtime.runner import StatelessRunner
from streams.settings import Settings
from streams.sinks.influx import Refused

log = logging.getLogger(__name__)

_STAGE, _PRODUCED, _LINES = 0, 5, 7
"""Where a points item holds its step, its event's production time and its lines."""

SINK_STAGE = "sink"
"""The stage of a reading's point (the score step's), and of the dead letters of a ``points``
record the sink cannot read (a bug)."""


class PointWriter(Protocol):
    """Writes line protocol (:class:`streams.sinks.influx.InfluxWriter`): returns once it was accepted,
    raises :class:`~streams.sinks.influx.Refused` if InfluxDB will not take it."""

    async def write(self, lines: Sequence[str]) -> None: ...


async def write_points(writer: PointWriter, points: Sequence[Points], out: Outputs) -> Counter[str]:
    """Write ``points``, waiting out an outage; reject into ``out`` the events whose points
    InfluxDB refused. Returns how many events each step had written."""
    written = Counter(item.stage for item in points)
    try:
        await writer.write([line for item in points for line in item.lines])
    except Refused:
        for item in points:
            try:
                await writer.write(item.lines)
            except Refused as refusal:
                refused = Rejection(Reason.SINK_REJECTED, str(refusal))
                out.reject(item.event, refused, item.stage, item.original)
                written[item.stage] -= 1
    return written


def points_of(item: list[Any]) -> Points:
    """One item of a ``points`` record (see :func:`streams.runtime.transactions.points_records`)
    as the :class:`Points` of its event, which the sink dead-letters if InfluxDB refuses them.

    >>> points = points_of(["clean", "x.raw", 3, 17, "S1", 1000, "{}", ["m v=1 0"]])
    >>> points.stage, points.event.offset, points.event.key, points.original, points.lines
    ('clean', 17, b'S1', b'{}', ['m v=1 0'])
    """
    stage, topic, partition, offset, key, produced, original, lines = item
    event = Fetched(
        topic, partition, offset, None if key is None else key.encode(), original.encode(), produced
    )
    return Points(event, stage, original.encode(), lines)


class PointSink(StatelessRunner):
    """Writes the points of each batch of ``points`` to InfluxDB (a consumer's runner:
    :class:`streams.runtime.consumer.BatchConsumer` consumes and commits)."""

    stage = SINK_STAGE

    def __init__(self, settings: Settings, writer: PointWriter, counters: PipelineCounters) -> None:
        self.writer = writer
        self.counters = counters
        self.group = f"{settings.app_id}-sink"
        self.inputs: tuple[str, ...] = (TopicNames.of(settings).points,)

    async def take(self, partition: int, events: Sequence[Event]) -> Outputs:
        out = Outputs()
        items: list[list[Any]] = []
        summaries: list[str] = []
        for event in events:
            try:
                data = orjson.loads(event.value or b"")
                items += data["items"]
                summaries += data["summaries"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                out.reject(event, Rejection(Reason.SCHEMA, f"not a points record: {error!r}"), SINK_STAGE)
        try:
            # The items are made into Points (an event each, to dead-letter) only if InfluxDB refuses.
            await self.writer.write([line for item in items for line in item[_LINES]])
            written = Counter(item[_STAGE] for item in items)
        except Refused:
            written = await write_points(self.writer, [points_of(item) for item in items], out)
        for stage, n in written.items():
            self.counters.count(stage, "written", n=n)
        if summaries:
            try:
                await self.writer.write(summaries)
            except Refused as refusal:
                log.warning("InfluxDB refused %d summary points: %s", len(summaries), refusal)
        readings = [item[_PRODUCED] for item in items if item[_STAGE] == SINK_STAGE]
        self.counters.observe_latency(time.time(), readings)
        return out
