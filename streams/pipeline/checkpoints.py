"""The score step's detectors, one per sensor, checkpointed to a compacted topic.

``detectors.checkpoints`` is keyed by ``sensor_id`` and partitioned like the reading topics, so
partition *p* of it holds the detectors of the sensors whose readings arrive on partition *p*.
A worker checkpoints a detector about ``OPENLAB_CHECKPOINT_SECONDS`` after it first learnt
something new (a few hundred between two batches at most, so as not to pause the pass), all of
them when it stops, and before a rebalance those of the partitions it may give up; after it, it
forgets the detectors of partitions given up and restores those of partitions it was given. A
checkpoint that cannot be read (damaged, or of another detector version) is logged and its sensor
starts a fresh detector: never a crash.

A sensor's detector is its kind's (:func:`~models.detectors.registry.detector_for`), or with
``OPENLAB_DETECTOR``
the one of that name for every sensor (ours, or River's own as ``river.<class>``). Each checkpoint also
writes the detector's summary (:mod:`models.detectors.inspection`: readings learnt, warm-up, probabilities,
drift
of its inputs) to InfluxDB as a ``model`` point; an InfluxDB that does not take it within
:data:`MODEL_WRITE_SECONDS` costs the point (logged), never the checkpoint.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable

from models.detectors.checkpoint import dump_detector, load_detector
from models.detectors.inspection import summarise, summary_fields
from models.detectors.registry import NAMED_DETECTORS
from models.scoring import SensorDetector, detector_for
from sensors import measurements
from sensors.catalog import KINDS
from sensors.reading import Reading
from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, latest_records
from streams.pipeline.sink import PointWriter
from streams.settings import Settings
from streams.sinks.influx import Refused, point_line

log = logging.getLogger(__name__)

_CURRENT = frozenset(detector_for(kind).label for kind in KINDS)
"""The kinds' detectors (name@version) this code builds: a checkpoint of another is not restored."""

MODEL_WRITE_SECONDS = 5.0
"""How long a checkpoint waits for InfluxDB to take its detectors' ``model`` points."""


def fresh_detector(settings: Settings, kind: str) -> SensorDetector:
    """A new detector for a sensor of ``kind``: the one ``OPENLAB_DETECTOR`` names, else the kind's."""
    return NAMED_DETECTORS[settings.detector]() if settings.detector else detector_for(kind)


def model_line(sensor_id: str, detector: SensorDetector) -> str | None:
    """The ``model`` point of ``sensor_id``'s detector, at its latest reading (none before one)."""
    if detector.last_at is None:
        return None
    tags = {"sensor_id": sensor_id, "detector": detector.label}
    return point_line(measurements.MODEL, tags, summary_fields(summarise(detector)), detector.last_at)


class DetectorCheckpoints:
    """The detectors of the partitions this worker scores, and their checkpoints."""

    def __init__(self, settings: Settings, publisher: Publisher, topic: str, writer: PointWriter) -> None:
        self.settings = settings
        self.publisher = publisher
        self.topic = topic
        self.writer = writer
        self.current = (
            frozenset({NAMED_DETECTORS[settings.detector]().label}) if settings.detector else _CURRENT
        )
        """The detectors whose checkpoints are restored."""
        self.detectors: dict[str, SensorDetector] = {}
        self._partition_of: dict[str, int] = {}
        self._dirty: dict[str, float] = {}
        """The detectors that learnt since their last checkpoint, oldest first, with when (monotonic
        clock) they first did."""

    def detector(self, reading: Reading, partition: int) -> SensorDetector:
        """The detector of the sensor of ``reading`` (which is about to learn it)."""
        sensor_id = reading.sensor_id
        detector = self.detectors.get(sensor_id)
        if detector is None:
            detector = self.detectors[sensor_id] = fresh_detector(self.settings, reading.kind)
            self._partition_of[sensor_id] = partition
        if sensor_id not in self._dirty:
            self._dirty[sensor_id] = time.monotonic()
        return detector

    async def save(self, sensors: Iterable[str] | None = None) -> int:
        """Checkpoint the detectors that learnt since their last checkpoint (of ``sensors``
        only, if given); return how many were written once Kafka has them."""
        chosen = list(self._dirty) if sensors is None else [s for s in sensors if s in self._dirty]
        records: dict[int, list[tuple[bytes | None, bytes]]] = {}
        lines = []
        for sensor_id in chosen:
            detector = self.detectors[sensor_id]
            records.setdefault(self._partition_of[sensor_id], []).append(
                (sensor_id.encode(), dump_detector(detector))
            )
            line = model_line(sensor_id, detector)
            if line is not None:
                lines.append(line)
            del self._dirty[sensor_id]
        saved, _ = await asyncio.gather(
            self.publisher.publish_to_partitions(self.topic, records), self._write_models(lines)
        )
        return saved

    async def _write_models(self, lines: list[str]) -> None:
        if not lines:
            return
        try:
            await asyncio.wait_for(self.writer.write(lines), MODEL_WRITE_SECONDS)
        except (TimeoutError, Refused) as error:
            log.warning("the model points of %d detectors were not written: %r", len(lines), error)

    async def save_due(self, age: float, limit: int) -> int:
        """Checkpoint at most ``limit`` of the detectors that learnt ``age`` seconds ago or more
        and were not checkpointed since, oldest first. Called between batches, this spreads the
        checkpoints over time instead of pausing the pass for all of them at once."""
        since = time.monotonic() - age
        due = list(
            itertools.takewhile(
                lambda sensor: self._dirty[sensor] <= since, itertools.islice(self._dirty, limit)
            )
        )
        return await self.save(due) if due else 0

    async def save_partitions(self, partitions: set[int]) -> int:
        """Checkpoint the detectors of ``partitions`` that learnt since their last checkpoint
        (before a rebalance, which may give them to another worker)."""
        return await self.save([s for s, p in self._partition_of.items() if p in partitions])

    def forget(self, partitions: set[int]) -> None:
        """Forget the detectors of ``partitions`` (given up in a rebalance, checkpointed before)."""
        for sensor_id in [s for s, p in self._partition_of.items() if p in partitions]:
            del self.detectors[sensor_id], self._partition_of[sensor_id]
            self._dirty.pop(sensor_id, None)

    async def restore(self, partitions: set[int]) -> int:
        """Load the latest checkpoint of every sensor of ``partitions``; return how many."""
        restored = 0
        for key, (partition, value) in (await latest_records(self.settings, self.topic, partitions)).items():
            sensor_id = key.decode("utf-8", "replace")
            detector = None if value is None else load_detector(value)
            if detector is None or detector.label not in self.current:
                log.warning("checkpoint of sensor %s is unreadable or outdated; it starts afresh", sensor_id)
                continue
            self.detectors[sensor_id] = detector
            self._partition_of[sensor_id] = partition
            restored += 1
        return restored


async def checkpoint_of(settings: Settings, sensor_id: str) -> bytes | None:
    """The latest checkpoint of ``sensor_id`` on ``detectors.checkpoints`` (every partition: a sensor's
    is the one its readings arrive on), or ``None`` if it has none."""
    topic = TopicNames.of(settings).checkpoints
    found = (await latest_records(settings, topic, set(range(settings.partitions)))).get(sensor_id.encode())
    return None if found is None else found[1]
