"""The sink step: a batch's points into InfluxDB in one write. Should InfluxDB refuse some, each
event's points are written alone to find those refused, and their events are dead-lettered by the
step that made the points, with InfluxDB's answer; the other points are written all the same."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from sensors.cleaning import Reason, Rejection
from sensors.measurements import REJECTED
from streams.kafka.publisher import Publisher
from streams.metrics import PipelineCounters
from streams.pipeline.batch import Outputs, Points
from streams.sinks.influx import Refused


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


async def send_outputs(
    publisher: Publisher,
    writer: PointWriter,
    counters: PipelineCounters,
    out: Outputs,
    deadletter: str,
    changelog: str | None,
) -> None:
    """Send a batch's records and points together, then its dead letters (which include the
    events whose points InfluxDB refused), and only then the changelog of the state they came
    from (``None``: a consumer that keeps no state). Returns once Kafka and InfluxDB accepted all
    of it: the batch's offsets may then be committed.

    The order is what makes a worker's death harmless: before the changelog is stored, the
    state a successor restores is the one the batch started from, so the batch taken again
    makes every output again (an alarm event, a dead letter); once it is stored, every output
    already was. The other way round, a successor would find the batch's readings already seen,
    make nothing of them, and the outputs not stored yet would be lost.
    """
    publish = publisher.publish
    written, _ = await asyncio.gather(
        write_points(writer, out.points, out),
        asyncio.gather(*(publish(topic, records) for topic, records in out.records.items() if records)),
    )
    for stage, n in written.items():
        counters.count(stage, "written", n=n)
    for _, rejection, stage, _ in out.rejected:
        counters.count(stage, REJECTED, rejection.reason.value)
    await publish(deadletter, out.dead_letters(datetime.now(UTC)))
    if changelog is not None:
        await publisher.publish_to_partitions(changelog, out.changelog)
