"""An agent's state in the worker that owns its partitions, and its changelog.

Two kinds of entry, in one compacted topic per agent (``agents.<name>.state``): the agent's own
state by key (a sensor's or a site's id; record key ``s:<key>``, value: the state model's JSON, a
empty once deleted) and the alarm state of every sensor it judged (``a:<sensor_id>``, value:
:meth:`models.alarms.SensorAlarms.to_dict`). Each record goes to the partition of the event that
changed it, after the batch's other outputs were accepted and before its offsets commit; a worker
given that partition restores it (as the pass does the sensors' state, see
:mod:`streams.pipeline.state`).

>>> from pydantic import BaseModel
>>> class Seen(BaseModel):
...     readings: int = 0
>>> table = StateTable(Seen, AlarmRules())
>>> table.apply({"S1": (Seen(readings=2), 3), "S2": (None, 3)})
>>> table.changelog()
{3: [(b's:S1', b'{"readings":2}'), (b's:S2', b'')]}
>>> other = StateTable(Seen, AlarmRules())
>>> other.load(b"s:S1", 3, b'{"readings":2}'), other.get("S1"), other.load(b"s:S9", 3, b"garbage")
(True, Seen(readings=2), False)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from models.alarms import AlarmRules, SensorAlarms
from streams.kafka.publisher import Record
from streams.kafka.topics import latest_records
from streams.settings import Settings

log = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseModel)

Changelog = dict[int, list[Record]]

_STATE, _ALARMS = "s:", "a:"

DELETED = b""
"""The value of a deleted entry's record (a record without a value is not sent, to keep the
changelog's records of one type)."""


class StateTable(Mapping[str, S], Generic[S]):
    """An agent's state of the partitions this worker owns (read-only to its handler, which
    writes through :class:`streams.agents.api.StateView`), and the alarm state of its verdicts."""

    def __init__(self, model: type[S], alarm_rules: AlarmRules, alarm_type: str = "agent") -> None:
        self.model = model
        self.alarm_rules = alarm_rules
        self.alarm_type = alarm_type
        self._values: dict[str, S] = {}
        self._alarms: dict[str, SensorAlarms] = {}
        self._partition_of: dict[str, int] = {}
        self._changed: dict[str, int] = {}

    def __getitem__(self, key: str) -> S:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def apply(self, written: Mapping[str, tuple[S | None, int]]) -> None:
        """Take a batch's writes: by key, the value (``None``: deleted) and the partition of the
        events that bore the key."""
        for key, (value, partition) in written.items():
            if value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = value
            self._touch(_STATE + key, partition)

    def alarms_of(self, sensor_id: str, partition: int) -> SensorAlarms:
        """The alarm state of ``sensor_id`` (which is about to change it)."""
        state = self._alarms.get(sensor_id)
        if state is None:
            state = self._alarms[sensor_id] = SensorAlarms(sensor_id, self.alarm_rules, self.alarm_type)
        self._touch(_ALARMS + sensor_id, partition)
        return state

    def _touch(self, entry: str, partition: int) -> None:
        self._partition_of[entry] = partition
        self._changed[entry] = partition

    def changelog(self) -> Changelog:
        """The records of the entries changed since the last call, by partition."""
        records: Changelog = {}
        for entry, partition in self._changed.items():
            records.setdefault(partition, []).append((entry.encode(), self._value(entry)))
        self._changed.clear()
        return records

    def _value(self, entry: str) -> bytes:
        key = entry[len(_STATE) :]
        if entry.startswith(_STATE):
            value = self._values.get(key)
            return DELETED if value is None else value.model_dump_json().encode()
        return orjson.dumps(self._alarms[key].to_dict())

    def forget(self, partitions: set[int]) -> None:
        """Forget the entries of ``partitions`` (given up in a rebalance)."""
        for entry in [e for e, p in self._partition_of.items() if p in partitions]:
            key = entry[len(_STATE) :]
            if entry.startswith(_STATE):
                self._values.pop(key, None)
            else:
                self._alarms.pop(key, None)
            del self._partition_of[entry]
            self._changed.pop(entry, None)

    async def restore(self, settings: Settings, topic: str, partitions: set[int]) -> int:
        """Load the latest record of every entry of ``partitions``; return how many loaded."""
        latest = await latest_records(settings, topic, partitions)
        return sum(self.load(key, partition, value) for key, (partition, value) in latest.items())

    def load(self, key: bytes, partition: int, value: bytes | None) -> bool:
        """Take one changelog record; a deleted entry's or an unreadable record leaves the entry
        empty (``False``, the latter logged)."""
        entry = key.decode("utf-8", "replace")
        name = entry[len(_STATE) :]
        if not value:
            return False
        loaded: S | SensorAlarms | None = None
        try:
            if entry.startswith(_STATE):
                loaded = self._values[name] = self.model.model_validate_json(value)
            elif entry.startswith(_ALARMS):
                loaded = SensorAlarms.from_dict(orjson.loads(value), self.alarm_rules)
                if loaded is not None:
                    self._alarms[name] = loaded
        except (ValidationError, orjson.JSONDecodeError):
            loaded = None
        if loaded is None:
            log.warning("state record %r of an agent is unreadable; it starts afresh", entry)
            return False
        self._partition_of[entry] = partition
        return True
