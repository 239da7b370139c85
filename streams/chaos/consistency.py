"""Whether what landed agrees with itself: the committed records of Kafka's topics, one against
another and against InfluxDB's points, counted without the pipeline's own counters (pure).

Each tally takes records as a ``read_committed`` consumer reads them (JSON values, in offset
order) and InfluxDB's points as InfluxQL returns them. A worker frozen past its session timeout
and then resumed (a zombie) shows in them: it publishes a batch the group had given to another
worker (a reading scored twice, differently; an alarm event repeated), judges its sensors against
the state it had before the freeze (alarms opened over open ones, alarms never cleared, gaps and
silences that never were), and its changelog can win compaction over its successor's.

>>> reading = {"sensor_id": "S1.t", "seq": 1, "value": 1.0}
>>> other = {**reading, "value": 2.0}
>>> log = ScoredLog.of([orjson.dumps(reading), orjson.dumps(reading), orjson.dumps(other)])
>>> log.repeats
Repeats(differing=1, identical=1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from models.alarms import ANOMALY, SENSOR_FAULT, AlarmChange
from sensors import measurements
from sensors.cleaning import DeadLetter
from sensors.event_time import to_micros
from sensors.health import Problem

Record = Mapping[str, Any]
"""A record's JSON value, parsed."""
Key = tuple[str, int]
"""A reading's identity: its sensor and sequence number."""

CLEAR_AFTER = 5
"""Normal readings in a row after which an anomaly alarm must have cleared
(:attr:`models.alarms.AlarmRules.clear_after`)."""

_COMPARED = (*(name for name in measurements.READING_FIELDS if name != "seq"), "site_id", "kind")
"""What a reading's point must share with its record (besides its sensor, sequence number and time)."""


@dataclass(frozen=True, slots=True)
class Repeats:
    """Records that came more than once for one identity."""

    differing: int
    """Identities with records of different content (each counted once)."""
    identical: int
    """Records beyond the first equal to an earlier one of their identity (a harmless resend)."""


def repeats(records: Iterable[tuple[Hashable, bytes]]) -> Repeats:
    """Count the ``(identity, value)`` records that repeat an identity, with or without the same content.

    >>> repeats([("a", b"1"), ("a", b"1"), ("a", b"2"), ("a", b"3"), ("b", b"1")])
    Repeats(differing=1, identical=1)
    """
    contents: dict[Hashable, set[bytes]] = {}
    identical = 0
    for identity, value in records:
        seen = contents.setdefault(identity, set())
        identical += value in seen
        seen.add(value)
    return Repeats(sum(len(seen) > 1 for seen in contents.values()), identical)


def alarm_repeats(events: Iterable[bytes]) -> Repeats:
    """Alarm events on ``alerts`` repeated by (alarm id, update number, change)."""
    keyed = []
    for value in events:
        alarm = orjson.loads(value)
        keyed.append(((alarm["alarm_id"], alarm["sequence"], alarm["change"]), value))
    return repeats(keyed)


@dataclass(frozen=True, slots=True)
class ScoredLog:
    """``readings.scored`` as committed: every distinct record of each (sensor, seq), in offset order."""

    contents: dict[Key, list[bytes]]
    repeats: Repeats

    @classmethod
    def of(cls, values: Iterable[bytes]) -> ScoredLog:
        contents: dict[Key, list[bytes]] = {}
        keyed = []
        for value in values:
            record = orjson.loads(value)
            key = (record["sensor_id"], record["seq"])
            keyed.append((key, value))
            distinct = contents.setdefault(key, [])
            if value not in distinct:
                distinct.append(value)
        return cls(contents, repeats(keyed))

    def readings(self) -> dict[str, list[Record]]:
        """Each sensor's readings (the first record of each sequence number), by sequence number."""
        by_sensor: dict[str, list[Record]] = {}
        for (sensor_id, _), values in sorted(self.contents.items()):
            by_sensor.setdefault(sensor_id, []).append(orjson.loads(values[0]))
        return by_sensor

    def whole(self) -> set[str]:
        """The sensors whose readings all arrived: sequence numbers without a hole from first to last."""
        numbers: dict[str, list[int]] = {}
        for sensor_id, seq in self.contents:
            numbers.setdefault(sensor_id, []).append(seq)
        return {sensor for sensor, seqs in numbers.items() if max(seqs) - min(seqs) + 1 == len(seqs)}


def _point_of(record: Record) -> dict[str, Any]:
    """What a reading's point holds, from its ``readings.scored`` record."""
    point = {name: record[name] for name in _COMPARED}
    point["time"] = to_micros(datetime.fromisoformat(record["observed_at"])) * 1000
    return point


def points_unlike_records(points: Iterable[Record], log: ScoredLog) -> int:
    """InfluxDB's reading points (``sensor_id``, ``seq``, ``time`` in ns and the fields) that are
    not the committed record of their (sensor, seq): none committed, several that disagree (no one
    of them is *the* committed one), or one that differs.

    >>> record = {"sensor_id": "S1.t", "seq": 1, "observed_at": "2026-11-30T00:00:00Z", "site_id": "S1",
    ...           "kind": "t", "value": 1.0, "score": 0.1, "threshold": 0.99, "anomalous": False,
    ...           "expected_low": 0.0, "expected_high": 2.0, "probability": 0.5, "warming_up": False,
    ...           "detector": "d@1"}
    >>> log = ScoredLog.of([orjson.dumps(record)])
    >>> point = {**_point_of(record), "sensor_id": "S1.t", "seq": 1}
    >>> points_unlike_records([point, {**point, "score": 0.2}, {**point, "seq": 2}], log)
    2
    """
    unlike = 0
    for point in points:
        committed = log.contents.get((point["sensor_id"], point["seq"]), [])
        if len(committed) != 1:
            unlike += 1
            continue
        expected = _point_of(orjson.loads(committed[0]))
        unlike += any(point.get(name) != value for name, value in expected.items())
    return unlike


@dataclass(frozen=True, slots=True)
class _Alarm:
    """One alarm id, from all of its events."""

    alarm_id: str
    sensor_id: str
    alarm_type: str
    opened_at: datetime
    cleared_at: datetime | None
    flapping: bool
    last_event_at: datetime
    last_anomalous_at: datetime
    reason: str


def _alarms(events: Iterable[Record]) -> list[_Alarm]:
    """Every alarm id of ``events``, sorted by opening time (then id)."""
    by_id: dict[str, list[Record]] = {}
    for event in events:
        by_id.setdefault(event["alarm_id"], []).append(event)
    alarms = []
    for alarm_id, its in by_id.items():
        latest = max(its, key=lambda event: event["sequence"])
        cleared = [_time(e["cleared_at"]) for e in its if e.get("cleared_at") is not None]
        alarms.append(
            _Alarm(
                alarm_id,
                latest["sensor_id"],
                latest["alarm_type"],
                min(_time(e["opened_at"]) for e in its),
                min(cleared) if cleared else None,
                bool(latest["flapping"]),
                max(_time(e["updated_at"]) for e in its),
                max(_time(e["last_anomalous_at"]) for e in its),
                str(latest.get("reason", "")),
            )
        )
    return sorted(alarms, key=lambda alarm: (alarm.opened_at, alarm.alarm_id))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def opened_over_open(events: Iterable[Record]) -> int:
    """Alarms opened while another alarm id of the same sensor and type was open (opened and not
    yet cleared): a sensor's alarm state forgot its open alarm.

    >>> def event(alarm_id, opened, cleared=None):
    ...     return {"alarm_id": alarm_id, "sensor_id": "S1.t", "alarm_type": "anomaly", "sequence": 0,
    ...             "opened_at": opened, "cleared_at": cleared, "updated_at": cleared or opened,
    ...             "last_anomalous_at": opened, "flapping": False}
    >>> opened_over_open([event("a", "2026-11-30T00:00:00Z", "2026-11-30T00:05:00Z"),
    ...                   event("b", "2026-11-30T00:06:00Z"), event("c", "2026-11-30T00:07:00Z")])
    1
    """
    open_at: dict[tuple[str, str], list[_Alarm]] = {}
    over = 0
    for alarm in _alarms(events):
        earlier = open_at.setdefault((alarm.sensor_id, alarm.alarm_type), [])
        over += any(other.cleared_at is None or other.cleared_at > alarm.opened_at for other in earlier)
        earlier.append(alarm)
    return over


def anomalies_left_open(events: Iterable[Record], readings: Mapping[str, list[Record]]) -> int:
    """Anomaly alarms never cleared although their sensor then sent :data:`CLEAR_AFTER` normal
    readings in a row (neither anomalous nor warming up) after the alarm's last event and last
    anomalous reading. A flapping alarm clears only after a quiet window: it is not counted.
    ``readings`` are each sensor's, by sequence number (:meth:`ScoredLog.readings`)."""
    left = 0
    for alarm in _alarms(events):
        if alarm.alarm_type != ANOMALY or alarm.cleared_at is not None or alarm.flapping:
            continue
        since = max(alarm.last_event_at, alarm.last_anomalous_at)
        run = 0
        for reading in readings.get(alarm.sensor_id, []):
            if _time(reading["observed_at"]) <= since or reading["warming_up"]:
                continue
            run = 0 if reading["anomalous"] else run + 1
            if run >= CLEAR_AFTER:
                left += 1
                break
    return left


def states_behind(states: Iterable[tuple[bytes, bytes | None]], readings: Mapping[str, list[Record]]) -> int:
    """Sensors whose final ``sensors.state`` record (the last of its key: what compaction keeps
    and a restore loads) has not seen the sensor's last committed reading: its highest sequence
    number is below the highest in ``readings.scored``, or it has no record at all.

    >>> state = {"health": {"top_seq": 7}, "alarms": None}
    >>> readings = {"S1.t": [{"seq": 6}, {"seq": 7}], "S2.t": [{"seq": 3}], "S3.t": [{"seq": 1}]}
    >>> states_behind([(b"S1.t", orjson.dumps(state)), (b"S2.t", orjson.dumps(state)),
    ...                (b"S2.t", orjson.dumps({"health": {"top_seq": 2}, "alarms": None}))], readings)
    2
    """
    final: dict[str, int | None] = {}
    for key, value in states:
        health = None if value is None else orjson.loads(value)["health"]
        final[key.decode()] = None if health is None else health["top_seq"]
    behind = 0
    for sensor_id, its in readings.items():
        top = final.get(sensor_id)
        behind += top is None or top < max(reading["seq"] for reading in its)
    return behind


def valid_dead_lettered(
    letters: Iterable[DeadLetter], malformed: Collection[bytes], scored: Collection[tuple[str, int]]
) -> int:
    """Dead letters (each source event once) of events that were not sent ``malformed`` and whose
    reading was never scored: valid readings lost to the dead letters (refused as duplicates of
    themselves, too late, or in a batch that failed). A second copy of a reading that was scored
    (a door sends again what Kafka did not acknowledge in time) is rightly a ``duplicate``.

    >>> from datetime import UTC, datetime
    >>> from sensors.cleaning import Reason, Rejection
    >>> def letter(original: bytes, offset: int) -> DeadLetter:
    ...     return DeadLetter.of(Rejection(Reason.DUPLICATE, ""), stage="clean", original=original,
    ...                          key=None, source=("raw", 0, offset), at=datetime.now(UTC))
    >>> copies = [letter(b'{"sensor_id": "S1", "seq": 7}', 1)]
    >>> valid_dead_lettered(copies, (), {("S1", 7)}), valid_dead_lettered(copies, (), ())
    (0, 1)
    """
    seen: set[tuple[str, str, int, int]] = set()
    valid = 0
    for letter in letters:
        source = (letter.stage, letter.source_topic, letter.source_partition, letter.source_offset)
        if letter.source_offset >= 0 and source in seen:
            continue
        seen.add(source)
        if letter.original in malformed:
            continue
        valid += _reading_key(letter.original) not in scored
    return valid


def _reading_key(original: bytes) -> tuple[str, int] | None:
    try:
        reading = orjson.loads(original)
        return str(reading["sensor_id"]), int(reading["seq"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class HealthTally:
    """Health episodes and sensor faults on sensors whose readings all arrived (in order, each
    once): what a sensor judged against an old state shows. Some come without a fault too (a
    sensor silent at the end of the run; a stuck value the simulated city injects)."""

    sensors: int
    """Sensors whose readings all arrived."""
    gaps: int
    """Gap episodes on them: numbers missing that did arrive (none without a fault)."""
    stale: int
    """Stale episodes on them."""
    sensor_faults: int
    """Sensor-fault alarms opened on them ..."""
    silences: int
    """... of which for readings missing (none without a fault); the others for a stuck value."""


def health_on_whole_sensors(
    health: Iterable[Record], alarm_events: Iterable[Record], whole: Collection[str]
) -> HealthTally:
    """Count the ``quality`` topic's episodes (each once, by sensor, problem and start) and the
    sensor-fault alarms opened on the sensors ``whole`` (:meth:`ScoredLog.whole`).

    >>> episodes = [{"sensor_id": "S1.t", "problem": "gap", "start": "2026-11-30T00:00:00Z"},
    ...             {"sensor_id": "S1.t", "problem": "stale", "start": "2026-11-30T00:00:00Z"},
    ...             {"sensor_id": "S1.t", "problem": "stale", "start": "2026-11-30T00:00:00Z"},
    ...             {"sensor_id": "S2.t", "problem": "gap", "start": "2026-11-30T00:00:00Z"}]
    >>> fault = {"alarm_id": "f", "sensor_id": "S1.t", "alarm_type": "sensor_fault", "change": "opened",
    ...          "reason": "no reading for 900 s (14 missing at one every 60 s)"}
    >>> health_on_whole_sensors(episodes, [fault, fault], {"S1.t"})
    HealthTally(sensors=1, gaps=1, stale=1, sensor_faults=1, silences=1)
    """
    episodes = Counter(
        problem
        for _, problem, _ in {
            (e["sensor_id"], e["problem"], e["start"]) for e in health if e["sensor_id"] in whole
        }
    )
    faults = {
        event["alarm_id"]: str(event.get("reason", ""))
        for event in alarm_events
        if event["alarm_type"] == SENSOR_FAULT
        and event["change"] == AlarmChange.OPENED
        and event["sensor_id"] in whole
    }
    return HealthTally(
        sensors=len(whole),
        gaps=episodes[Problem.GAP],
        stale=episodes[Problem.STALE],
        sensor_faults=len(faults),
        silences=sum(reason.startswith("no reading") for reason in faults.values()),
    )


@dataclass(frozen=True, slots=True)
class Consistency:
    """Every tally of this module for one run."""

    scored: Repeats
    """``readings.scored`` records repeated by (sensor, seq)."""
    alarm_events: Repeats
    """``alerts`` events repeated by (alarm id, update number, change)."""
    opened_over_open: int
    anomalies_left_open: int
    states_behind: int
    points_unlike_records: int
    valid_dead_lettered: int
    health: HealthTally
    points: int = 0
    """Reading points compared with their records."""
    alarms: int = 0
    """Alarm events on ``alerts``."""

    def failures(self) -> list[str]:
        """What must be 0 and is not (the health tally is compared with a run without faults)."""
        found = [
            (self.scored.differing, "readings scored twice with different content"),
            (self.alarm_events.differing, "alarm events repeated with different content"),
            (self.opened_over_open, "alarms opened while another of their sensor and type was open"),
            (self.anomalies_left_open, f"anomaly alarms left open after {CLEAR_AFTER} normal readings"),
            (self.states_behind, "final state records behind their sensor's last committed reading"),
            (self.points_unlike_records, "points in InfluxDB unlike the committed record of their reading"),
            (self.valid_dead_lettered, "valid readings dead-lettered"),
        ]
        return [f"{count:,} {what}" for count, what in found if count]
