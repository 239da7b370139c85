"""The state of the sensors whose partitions this worker owns, and its changelog.

Each sensor has a health state (:class:`~sensors.health.SensorState`: duplicates, lateness,
gaps, flatlines, silence) and an alarm state (:class:`~models.alarms.SensorAlarms`). A batch
that changed them writes one record per changed sensor to the compacted topic
``sensors.state`` (key = sensor_id, on the partition of the events that changed it), after its
other outputs were accepted and before its offsets commit: a worker that takes the partition
over restores a state that has seen at least everything committed, and no more than what has
all of its outputs stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson

from models.alarms import AlarmRules, SensorAlarms
from sensors.health import SensorState
from sensors.reading import Reading
from streams.kafka.publisher import Record
from streams.kafka.topics import latest_records
from streams.settings import Settings

log = logging.getLogger(__name__)


class SensorStates:
    """Health and alarm state of every sensor of the partitions this worker owns."""

    def __init__(self, alarm_rules: AlarmRules) -> None:
        self.alarm_rules = alarm_rules
        self.health: dict[str, SensorState] = {}
        self.alarms: dict[str, SensorAlarms] = {}
        self._partition_of: dict[str, int] = {}
        self._changed: set[str] = set()

    def health_of(self, reading: Reading, partition: int) -> SensorState:
        """The health state of the sensor of ``reading`` (which is about to change it)."""
        sensor_id = reading.sensor_id
        state = self.health.get(sensor_id)
        if state is None or state.partition != partition:
            state = self.health[sensor_id] = SensorState.of(reading, partition)
        self._touch(sensor_id, partition)
        return state

    def alarms_of(self, sensor_id: str, partition: int) -> SensorAlarms:
        """The alarm state of ``sensor_id`` (which is about to change it)."""
        state = self.alarms.get(sensor_id)
        if state is None:
            state = self.alarms[sensor_id] = SensorAlarms(sensor_id, self.alarm_rules)
        self._touch(sensor_id, partition)
        return state

    def _touch(self, sensor_id: str, partition: int) -> None:
        self._partition_of[sensor_id] = partition
        self._changed.add(sensor_id)

    def in_partitions(self, partitions: set[int]) -> Iterable[SensorState]:
        """The health states of the sensors of ``partitions``."""
        return (state for state in self.health.values() if state.partition in partitions)

    def mark_changed(self, state: SensorState) -> None:
        self._touch(state.sensor_id, state.partition)

    def changelog(self) -> dict[int, list[Record]]:
        """The changelog records of the sensors changed since the last call, by partition."""
        records: dict[int, list[Record]] = {}
        for sensor_id in self._changed:
            health, alarms = self.health.get(sensor_id), self.alarms.get(sensor_id)
            value = {
                "health": None if health is None else health.to_dict(),
                "alarms": None if alarms is None else alarms.to_dict(),
            }
            records.setdefault(self._partition_of[sensor_id], []).append(
                (sensor_id.encode(), orjson.dumps(value))
            )
        self._changed.clear()
        return records

    def forget(self, partitions: set[int]) -> None:
        """Forget the sensors of ``partitions`` (given up in a rebalance)."""
        for sensor_id in [s for s, p in self._partition_of.items() if p in partitions]:
            self.health.pop(sensor_id, None)
            self.alarms.pop(sensor_id, None)
            del self._partition_of[sensor_id]
            self._changed.discard(sensor_id)

    async def restore(self, settings: Settings, topic: str, partitions: set[int]) -> int:
        """Load the latest record of every sensor of ``partitions`` from ``topic``; return how
        many sensors were restored."""
        latest = await latest_records(settings, topic, partitions)
        return sum(self.load(key, partition, value) for key, (partition, value) in latest.items())

    def load(self, key: bytes, partition: int, value: bytes | None) -> bool:
        """Take a sensor's state from its changelog record; an unreadable record is logged and
        the sensor starts afresh (``False``)."""
        sensor_id = key.decode("utf-8", "replace")
        loaded = None if value is None else self._parse(value)
        if loaded is None:
            log.warning("state record of sensor %s is unreadable; it starts afresh", sensor_id)
            return False
        health, alarms = loaded
        if health is not None:
            self.health[sensor_id] = health
        if alarms is not None:
            self.alarms[sensor_id] = alarms
        self._partition_of[sensor_id] = partition
        return True

    def _parse(self, value: bytes) -> tuple[SensorState | None, SensorAlarms | None] | None:
        try:
            data: Any = orjson.loads(value)
            health, alarms = data["health"], data["alarms"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return None
        loaded_health = None if health is None else SensorState.from_dict(health)
        loaded_alarms = None if alarms is None else SensorAlarms.from_dict(alarms, self.alarm_rules)
        if (health is not None and loaded_health is None) or (alarms is not None and loaded_alarms is None):
            return None
        return loaded_health, loaded_alarms
