"""The score stage's detectors, one per sensor, checkpointed to a compacted topic.

``detectors.checkpoints`` is keyed by ``sensor_id`` and partitioned like the reading topics, so
partition *p* of it holds the detectors of the sensors whose readings arrive on partition *p*.
A worker saves the detectors that learnt something every ``OPENLAB_CHECKPOINT_SECONDS``; after
a rebalance, before it scores again, it saves and forgets the detectors of partitions it gave up
and restores those of partitions it was given. A checkpoint that cannot be read (damaged, or of another
detector version) is logged and its sensor starts a fresh detector: never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from models.checkpoint import dump_detector, load_detector
from models.scoring import SensorDetector, detector_for
from sensors.catalog import KINDS
from sensors.reading import Reading
from streams.publisher import Publisher
from streams.settings import Settings
from streams.topics import read_records

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
        self._dirty: set[str] = set()
        self._owned: frozenset[int] = frozenset()
        self._assigned: frozenset[int] = frozenset()

    def assign(self, partitions: set[int]) -> None:
        """Record the partitions this worker scores from now on (its whole assignment)."""
        self._assigned = frozenset(partitions)

    async def follow_assignment(self) -> None:
        """Save and forget the detectors of partitions given up, restore those of partitions
        taken over. A failure is logged and the sensors concerned start afresh."""
        assigned = self._assigned
        if assigned == self._owned:
            return
        gone, new = self._owned - assigned, assigned - self._owned
        self._owned = assigned
        try:
            if gone:
                await self.release(set(gone))
            if new:
                restored = await self.restore(set(new))
                log.info(
                    "restored %d detectors of partitions %s from their checkpoints", restored, sorted(new)
                )
        except Exception:
            log.exception("following the new assignment failed; the sensors concerned start afresh")

    def detector(self, reading: Reading, partition: int) -> SensorDetector:
        """The detector of the sensor of ``reading`` (which is about to learn it)."""
        sensor_id = reading.sensor_id
        detector = self.detectors.get(sensor_id)
        if detector is None:
            detector = self.detectors[sensor_id] = detector_for(reading.kind)
            self._partition_of[sensor_id] = partition
        self._dirty.add(sensor_id)
        return detector

    async def save(self, sensors: Iterable[str] | None = None) -> int:
        """Checkpoint the detectors that learnt since their last checkpoint (of ``sensors``
        only, if given); return how many were written once Kafka has them."""
        chosen = self._dirty if sensors is None else self._dirty.intersection(sensors)
        records: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for sensor_id in chosen:
            records.setdefault(self._partition_of[sensor_id], []).append(
                (sensor_id.encode(), dump_detector(self.detectors[sensor_id]))
            )
        self._dirty -= set(chosen)
        return await self.publisher.publish_to_partitions(self.topic, records)

    async def release(self, partitions: set[int]) -> None:
        """Checkpoint and forget the detectors of ``partitions`` (given up in a rebalance)."""
        leaving = [s for s, p in self._partition_of.items() if p in partitions]
        await self.save(leaving)
        for sensor_id in leaving:
            del self.detectors[sensor_id], self._partition_of[sensor_id]

    async def restore(self, partitions: set[int]) -> int:
        """Load the latest checkpoint of every sensor of ``partitions``; return how many."""
        latest: dict[bytes, tuple[int, bytes | None]] = {}
        for partition, key, value in await read_records(self.settings, self.topic, partitions=partitions):
            if key is not None:
                latest[key] = (partition, value)
        restored = 0
        for key, (partition, value) in latest.items():
            sensor_id = key.decode("utf-8", "replace")
            detector = None if value is None else load_detector(value)
            if detector is None or detector.label not in _CURRENT:
                log.warning("checkpoint of sensor %s is unreadable or outdated; it starts afresh", sensor_id)
                continue
            self.detectors[sensor_id] = detector
            self._partition_of[sensor_id] = partition
            restored += 1
        return restored
