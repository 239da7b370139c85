"""The score step's detectors, one per sensor, checkpointed to a compacted topic.

``detectors.checkpoints`` is keyed by ``sensor_id`` and partitioned like the reading topics, so
partition *p* of it holds the detectors of the sensors whose readings arrive on partition *p*.
A worker checkpoints a detector about ``OPENLAB_CHECKPOINT_SECONDS`` after it first learnt
something new (a few hundred between two batches at most, so as not to pause the pass), all of
them when it stops, and before a rebalance those of the partitions it may give up; after it, it
forgets the detectors of partitions given up and restores those of partitions it was given. A
checkpoint that cannot be read (damaged, or of another detector version) is logged and its sensor
starts a fresh detector: never a crash.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterable

from models.checkpoint import dump_detector, load_detector
from models.scoring import SensorDetector, detector_for
from sensors.catalog import KINDS
from sensors.reading import Reading
from streams.publisher import Publisher
from streams.settings import Settings
from streams.topics import latest_records

log = logging.getLogger(__name__)

_CURRENT = frozenset(detector_for(kind).label for kind in KINDS)
"""The detectors (name@version) this code builds: a checkpoint of another is not restored."""


class DetectorCheckpoints:
    """The detectors of the partitions this worker scores, and their checkpoints."""

    def __init__(self, settings: Settings, publisher: Publisher, topic: str) -> None:
        self.settings = settings
        self.publisher = publisher
        self.topic = topic
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
            detector = self.detectors[sensor_id] = detector_for(reading.kind)
            self._partition_of[sensor_id] = partition
        if sensor_id not in self._dirty:
            self._dirty[sensor_id] = time.monotonic()
        return detector

    async def save(self, sensors: Iterable[str] | None = None) -> int:
        """Checkpoint the detectors that learnt since their last checkpoint (of ``sensors``
        only, if given); return how many were written once Kafka has them."""
        chosen = list(self._dirty) if sensors is None else [s for s in sensors if s in self._dirty]
        records: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for sensor_id in chosen:
            records.setdefault(self._partition_of[sensor_id], []).append(
                (sensor_id.encode(), dump_detector(self.detectors[sensor_id]))
            )
            del self._dirty[sensor_id]
        return await self.publisher.publish_to_partitions(self.topic, records)

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
            if detector is None or detector.label not in _CURRENT:
                log.warning("checkpoint of sensor %s is unreadable or outdated; it starts afresh", sensor_id)
                continue
            self.detectors[sensor_id] = detector
            self._partition_of[sensor_id] = partition
            restored += 1
        return restored
