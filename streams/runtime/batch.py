"""One batch of one partition: the events fetched together, and everything they produce.

A runner's steps add their results to :class:`Outputs`; the consumer sends them all in one Kafka
transaction with the batch's offsets (:mod:`streams.runtime.transactions`), so they are stored
together or not at all. Points reach InfluxDB through the ``points`` topic, written by the sink
once their transaction committed (:mod:`streams.sinks.points`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sensors.cleaning import DeadLetter, Rejection
from streams.kafka.publisher import Record


class Event(Protocol):
    """A record fetched from Kafka (an aiokafka ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int:
        """When it was produced: milliseconds since the epoch."""
        ...


@dataclass(frozen=True, slots=True)
class Fetched:
    """An :class:`Event` made by hand, to run the steps without Kafka (tests, benchmarks)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0


@dataclass(slots=True)
class Points:
    """The InfluxDB points one event gave one step. Should InfluxDB refuse them, the event is
    dead-lettered by that step with ``original`` (what the step took) as its content."""

    event: Event
    stage: str
    original: bytes
    lines: list[str]


@dataclass(slots=True)
class Outputs:
    """What one batch of one partition produces: records by topic, the records of its state's
    changelogs (by topic; they go to the batch's own partition), points, and the events rejected
    (with the step that rejected them)."""

    records: defaultdict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    tables: defaultdict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    points: list[Points] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    """Points no event stands behind (a detector's summary): written as they are, never
    dead-lettered."""
    rejected: list[tuple[Event, Rejection, str, bytes]] = field(default_factory=list)

    def reject(self, event: Event, rejection: Rejection, stage: str, original: bytes | None = None) -> None:
        """Send ``event`` to the dead letters; ``original`` is what ``stage`` took (default: the
        event's own bytes)."""
        taken = (event.value or b"") if original is None else original
        self.rejected.append((event, rejection, stage, taken))

    def dead_letters(self, at: datetime) -> list[Record]:
        """The records of ``readings.deadletter`` for the rejected events (key = the event's)."""
        return [
            DeadLetter.of(
                rejection,
                stage=stage,
                original=original,
                key=event.key,
                source=(event.topic, event.partition, event.offset),
                at=at,
            ).record()
            for event, rejection, stage, original in self.rejected
        ]
