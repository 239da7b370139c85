"""The sink step: a batch's points into InfluxDB in one write. Should InfluxDB refuse some, each
event's points are written alone to find those refused, and their events are dead-lettered by the
step that made the points, with InfluxDB's answer; the other points are written all the same."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from sensors.cleaning import Reason, Rejection
from streams.influx import Refused
from streams.pipeline.batch import Outputs, Points


class PointWriter(Protocol):
    """Writes line protocol (:class:`streams.influx.InfluxWriter`): returns once it was accepted,
    raises :class:`~streams.influx.Refused` if InfluxDB will not take it."""

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
