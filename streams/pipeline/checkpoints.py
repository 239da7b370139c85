"""The score step's detectors, one per sensor, checkpointed to a compacted topic.

``detectors.checkpoints`` is keyed by ``sensor_id`` and partitioned like the reading topics, so
partition *p* of it holds the detectors of the sensors whose readings arrive on partition *p*.
A worker checkpoints a detector about ``OPENLAB_CHECKPOINT_SECONDS`` after it first learnt
something new (a few hundred between two batches at most, so as not to pause the pass), all of
them when it stops, and before a rebalance those of the partitions it may give up. Each
checkpoint is stored in its partition's transaction between two batches, so it holds what the
committed batches taught the detector and nothing of a batch that was not committed. A worker
given a partition restores its committed checkpoints. A checkpoint that cannot be read (damaged,
or of another detector version) is logged and its sensor starts a fresh detector: never a crash.

A sensor's detector is its kind's (:func:`~models.detectors.registry.detector_for`), or with
``OPENLAB_DETECTOR`` the one of that name for every sensor (ours, or River's own as
``river.<class>``). Each checkpoint also carries the detector's summary
(:mod:`models.detectors.inspection`: readings learnt, warm-up, probabilities, drift of its inputs),
which the sink writes to InfluxDB as a ``model`` point.
"""

from __future__ import annotations

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
from streams.kafka.topics import TopicNames, latest_records
from streams.runtime.batch import Outputs
from streams.settings import Settings
from streams.sinks.influx import point_line

log = logging.getLogger(__name__)

_CURRENT = frozenset(detector_for(kind).label for kind in KINDS)
"""The kinds' detectors (name@version) this code builds: a checkpoint of another is not restored."""


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

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
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

    def checkpoints(self, sensors: Iterable[str] | None = None) -> dict[int, Outputs]:
        """The checkpoints (and ``model`` summaries) of the detectors that learnt since their
        last checkpoint (of ``sensors`` only, if given), by partition, to be stored in that
        partition's transaction; they count as checkpointed from now on (a transaction that fails
        drops the partition's detectors anyway)."""
        chosen = list(self._dirty) if sensors is None else [s for s in sensors if s in self._dirty]
        outputs: dict[int, Outputs] = {}
        for sensor_id in chosen:
            detector = self.detectors[sensor_id]
            out = outputs.setdefault(self._partition_of[sensor_id], Outputs())
            out.tables[self.topic].append((sensor_id.encode(), dump_detector(detector)))
            line = model_line(sensor_id, detector)
            if line is not None:
                out.summaries.append(line)
            del self._dirty[sensor_id]
        return outputs

    def due(self, age: float, limit: int) -> dict[int, Outputs]:
        """The checkpoints of at most ``limit`` of the detectors that learnt ``age`` seconds ago or
        more and were not checkpointed since, oldest first. Taken between batches, this spreads
        the checkpoints over time instead of pausing the pass for all of them at once."""
        since = time.monotonic() - age
        due = list(
            itertools.takewhile(
                lambda sensor: self._dirty[sensor] <= since, itertools.islice(self._dirty, limit)
            )
        )
        return self.checkpoints(due) if due else {}

    def of_partitions(self, partitions: set[int]) -> dict[int, Outputs]:
        """The checkpoints of the detectors of ``partitions`` that learnt since their last
        checkpoint (before a rebalance, which may give them to another worker)."""
        return self.checkpoints([s for s, p in self._partition_of.items() if p in partitions])

    def forget(self, partitions: set[int]) -> None:
        """Forget the detectors of ``partitions``."""
        for sensor_id in [s for s, p in self._partition_of.items() if p in partitions]:
            del self.detectors[sensor_id], self._partition_of[sensor_id]
            self._dirty.pop(sensor_id, None)

    async def restore(self, partitions: set[int]) -> int:
        """Load the latest committed checkpoint of every sensor of ``partitions``; return how many."""
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
