"""The worker's one pass: each batch of ``readings.raw`` through clean -> health -> score -> alarm
-> InfluxDB, in process, with every sensor's state in the worker that owns its partition.

Every reading topic is keyed by ``sensor_id`` with the same partition count, and so are
``alerts.commands`` and ``alerts.neighbours``: the worker given partition *p* of ``readings.raw``
is given partition *p* of both too (a range assignment), and holds the health state, the detector and the
alarm state of every sensor on it. So a reading needs no Kafka hop between its steps. What others
consume is still published: ``readings.clean``, ``readings.scored``, ``quality``, ``alerts``,
the owners' topics and the dead letters.

A batch's outputs (records, InfluxDB points, dead letters) are sent first, the changelog of the
sensors it changed only once they were all accepted, and its offsets are committed last; an
InfluxDB outage is waited out meanwhile. A rebalance waits for the batch in hand, checkpoints the
detectors of the partitions given up, and restores the state of those taken over before the next
batch. A batch fetched before a rebalance is not processed: its partitions go back to their
committed offsets.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sensors.cleaning import Cleaner, Reason, Rejection
from sensors.sites import SiteRegistry
from streams.kafka.batch_consumer import BatchConsumer
from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, ensure_topics
from streams.metrics import PipelineCounters, consumer_lag
from streams.pipeline.alarm import AlarmStep
from streams.pipeline.batch import Event, Outputs
from streams.pipeline.checkpoints import DetectorCheckpoints
from streams.pipeline.clean import CleanStep
from streams.pipeline.score import ScoreStep
from streams.pipeline.sink import PointWriter, send_outputs
from streams.pipeline.state import SensorStates
from streams.settings import Settings

log = logging.getLogger(__name__)

CHECKPOINTS_PER_BATCH = 300
"""Most detectors checkpointed between two batches (a few milliseconds of pickling)."""

MAX_BATCH_SECONDS = 60.0
"""A worker that holds a batch longer leaves the group (its consumer's poll interval), and its
partitions go to the others: one whose Kafka sends stall (README, "Guarantees") is out of the
way in a minute rather than Kafka's default five. A longer InfluxDB outage makes the workers
leave and join again as their batches end: their commits are refused, the batches taken again."""

STALL_SECONDS = 60.0
"""A batch still in hand after this long is logged, once, with the stack of each of the worker's
tasks: a stalled worker says where it waits (an outage it waits out shows there too)."""

PASS_STAGE = "pass"
"""The stage of the dead letters of a batch the pass itself failed on (a bug: ``internal_error``)."""


class OnePass:
    """The steps of the pass over one worker's partitions, and the batches through them."""

    def __init__(
        self,
        settings: Settings,
        registry: SiteRegistry,
        counters: PipelineCounters,
        publisher: Publisher,
        writer: PointWriter,
    ) -> None:
        self.settings = settings
        self.names = names = TopicNames.of(settings)
        self.counters = counters
        self.publisher = publisher
        self.writer = writer
        self.states = SensorStates(settings.alarm_rules())
        self.detectors = DetectorCheckpoints(settings, publisher, names.checkpoints, writer)
        cleaner = Cleaner(registry, max_future=timedelta(seconds=settings.max_future_seconds))
        self.clean = CleanStep(
            cleaner, settings.health_rules(), self.states, counters, (names.clean, names.quality)
        )
        self.score = ScoreStep(self.detectors, registry, counters, names.scored)
        self.alarm = AlarmStep(self.states, registry, counters, names)

    async def process(self, events: Sequence[Event]) -> None:
        """Take ``events`` through every step; return once all their outputs were accepted."""
        out = Outputs()
        try:
            self.steps(events, out)
        except Exception as error:
            # A bug in the logic must not lose events: they go to the dead letters with the error.
            log.exception("the pass failed on a batch of %d events", len(events))
            rejection = Rejection(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
            out = Outputs()
            for event in events:
                out.reject(event, rejection, PASS_STAGE)
        await self.send(out)

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
        out.changelog = self.states.changelog()
        timer.lap("changelog")
        self.counters.readings += len(readings)

    async def send(self, out: Outputs) -> None:
        """Send a batch's outputs, the changelog of the sensors' state last
        (:func:`~streams.pipeline.sink.send_outputs` says why that order)."""
        started = time.process_time()
        await send_outputs(
            self.publisher, self.writer, self.counters, out, self.names.deadletter, self.names.state
        )
        self.counters.step_seconds["send"] += time.process_time() - started


class PassWorker(BatchConsumer):
    """Consumes ``readings.raw``, ``alerts.commands`` and ``alerts.neighbours`` in batches as one
    consumer group, and takes each batch through :class:`OnePass` before committing it."""

    def __init__(self, settings: Settings, one_pass: OnePass) -> None:
        names = one_pass.names
        super().__init__(settings, settings.app_id, [names.raw, names.commands, names.neighbours])
        self.one_pass = one_pass

    def consumer_options(self) -> dict[str, Any]:
        """Fetches large enough to fill a batch at once; out of the group when a batch takes over
        ``MAX_BATCH_SECONDS``."""
        return {
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            "max_poll_interval_ms": int(MAX_BATCH_SECONDS * 1000),
        }

    async def prepare(self) -> None:
        # Topics created by a broker on first use would have its default partition count, and
        # the pass needs every topic it consumes and changelogs to have the same.
        await ensure_topics(self.settings)

    async def take(self, events: Sequence[Event]) -> None:
        stalled = asyncio.get_running_loop().call_later(STALL_SECONDS, log_stall, len(events))
        try:
            await self.one_pass.process(events)
            self.one_pass.counters.observe_latency(time.time(), [event.timestamp for event in events])
        finally:
            stalled.cancel()

    async def between_batches(self) -> None:
        try:
            await self.one_pass.detectors.save_due(self.settings.checkpoint_seconds, CHECKPOINTS_PER_BATCH)
        except Exception:
            log.exception("checkpointing the detectors failed; the next batch tries again")

    async def on_revoked(self, partitions: set[int]) -> None:
        """Checkpoint the detectors of ``partitions``."""
        try:
            await self.one_pass.detectors.save_partitions(partitions)
        except Exception:
            log.exception("checkpointing the detectors of revoked partitions failed")

    async def on_assigned(self, gone: set[int], new: set[int]) -> None:
        """Forget the sensors of partitions given up, restore those taken over."""
        one_pass = self.one_pass
        one_pass.counters.active_partitions = len(self.partitions)
        one_pass.states.forget(gone)
        one_pass.detectors.forget(gone)
        if not new:
            return
        try:
            sensors = await one_pass.states.restore(self.settings, one_pass.names.state, new)
            detectors = await one_pass.detectors.restore(new)
        except Exception:
            log.exception("restoring partitions %s failed; their sensors start afresh", sorted(new))
            return
        log.info(
            "partitions %s: restored the state of %d sensors and %d detectors",
            sorted(new),
            sensors,
            detectors,
        )

    def lag(self) -> int:
        """Events in this worker's partitions of ``readings.raw`` not committed yet, as of the
        end offsets the consumer last heard of."""
        consumer = self.consumer
        if consumer is None:
            return 0
        raw = [tp for tp in consumer.assignment() if tp.topic == self.one_pass.names.raw]
        return consumer_lag({tp: consumer.highwater(tp) for tp in raw}, self._committed)


def log_stall(events: int) -> None:
    """Log that a batch of ``events`` has stalled, with the stack of each task of the worker."""
    stacks = []
    for task in asyncio.all_tasks():
        frames = io.StringIO()
        task.print_stack(file=frames)
        stacks.append(frames.getvalue())
    log.warning(
        "a batch of %d events has been in hand for %.0f s; the worker's tasks:\n%s",
        events,
        STALL_SECONDS,
        "\n".join(stacks),
    )
