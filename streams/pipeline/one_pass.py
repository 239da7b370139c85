"""The worker's one pass: each batch of ``readings.raw`` through clean -> health -> score -> alarm,
in process, with every sensor's state in the worker that owns its partition.

Every reading topic is keyed by ``sensor_id`` with the same partition count, and so are
``alerts.commands`` and ``alerts.neighbours``: the worker given partition *p* of ``readings.raw``
is given partition *p* of both too (a range assignment), and holds the health state, the detector
and the alarm state of every sensor on it. So a reading needs no Kafka hop between its steps. What
others consume is still published: ``readings.clean``, ``readings.scored``, ``quality``,
``alerts``, the dead letters, and the points the sink writes to InfluxDB.

The pass is a :class:`~streams.runtime.consumer.Runner`: the batch consumer stores each partition's
outputs, the changelog of the sensors' state and the offsets in one transaction, checkpoints the
detectors between batches and before a rebalance, and restores a partition's state when it is
given one (:mod:`streams.runtime.consumer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sensors.cleaning import Cleaner
from sensors.sites import SiteRegistry
from streams.kafka.topics import TopicNames
from streams.metrics import PipelineCounters
from streams.pipeline.alarm import AlarmStep
from streams.pipeline.checkpoints import DetectorCheckpoints
from streams.pipeline.clean import CleanStep
from streams.pipeline.score import ScoreStep
from streams.pipeline.state import SensorStates
from streams.runtime.batch import Event, Outputs
from streams.runtime.consumer import BatchConsumer
from streams.settings import Settings

CHECKPOINTS_PER_BATCH = 300
"""Most detectors checkpointed between two batches (a few milliseconds of pickling)."""

MAX_BATCH_SECONDS = 60.0
"""A worker that holds a batch longer leaves the group (its consumer's poll interval), and its
partitions go to the others: a batch waits for Kafka only (InfluxDB is the sink's), so one that
takes a minute is stuck."""

PASS_STAGE = "pass"
"""The stage of the dead letters of a batch the pass itself failed on (a bug: ``internal_error``)."""


class OnePass:
    """The steps of the pass over one worker's partitions, and the batches through them."""

    stage = PASS_STAGE

    def __init__(self, settings: Settings, registry: SiteRegistry, counters: PipelineCounters) -> None:
        self.settings = settings
        self.names = names = TopicNames.of(settings)
        self.group = settings.app_id
        self.inputs: tuple[str, ...] = (names.raw, names.commands, names.neighbours)
        self.counters = counters
        self.states = SensorStates(settings.alarm_rules())
        self.detectors = DetectorCheckpoints(settings, names.checkpoints)
        cleaner = Cleaner(registry, max_future=timedelta(seconds=settings.max_future_seconds))
        self.clean = CleanStep(
            cleaner, settings.health_rules(), self.states, counters, (names.clean, names.quality)
        )
        self.score = ScoreStep(self.detectors, registry, counters, names.scored)
        self.alarm = AlarmStep(self.states, registry, counters, names)

    async def take(self, partition: int, events: Sequence[Event]) -> Outputs:
        """One partition's events through every step."""
        out = Outputs()
        self.steps(events, out)
        return out

    def steps(self, events: Sequence[Event], out: Outputs) -> None:
        """The pure part of the pass: every step, in process, into ``out``."""
        readings = [e for e in events if e.topic == self.names.raw]
        commands = [e for e in events if e.topic == self.names.commands]
        neighbours = [e for e in events if e.topic == self.names.neighbours]
        timer = self.counters.step_timer()
        cleaned = self.clean(readings, datetime.now(UTC), out)
        timer.lap("clean")
        scored = self.score(cleaned, out)
        timer.lap("score")
        self.alarm.neighbours(neighbours, out)
        self.alarm(scored, out)
        self.alarm.command(commands, out)
        timer.lap("alarm")
        for records in self.states.changelog().values():
            out.tables[self.names.state].extend(records)
        timer.lap("changelog")
        self.counters.readings += len(readings)

    def due(self) -> dict[int, Outputs]:
        return self.detectors.due(self.settings.checkpoint_seconds, CHECKPOINTS_PER_BATCH)

    def handover(self, partitions: set[int]) -> dict[int, Outputs]:
        return self.detectors.of_partitions(partitions)

    def forget(self, partitions: set[int]) -> None:
        self.states.forget(partitions)
        self.detectors.forget(partitions)

    async def restore(self, partitions: set[int]) -> int:
        sensors = await self.states.restore(self.settings, self.names.state, partitions)
        return sensors + await self.detectors.restore(partitions)


def pass_consumer(settings: Settings, one_pass: OnePass, counters: PipelineCounters) -> BatchConsumer:
    """The pass's consumer: fetches large enough to fill a batch at once; out of the group when a
    batch takes over ``MAX_BATCH_SECONDS``."""
    return BatchConsumer(
        settings,
        one_pass,
        counters,
        {"max_partition_fetch_bytes": 4 * 1024 * 1024, "max_poll_interval_ms": int(MAX_BATCH_SECONDS * 1000)},
    )
