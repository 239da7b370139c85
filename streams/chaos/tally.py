"""What was sent against what landed, counted without the pipeline's own counters (pure).

>>> from collections import Counter
>>> points = count_points_per_sensor(Counter({b"S1-a": 3, b"S2-b": 2}), {"S1-a": 4, "S2-b": 1},
...                                  {"S1-a": 3, "S2-b": 1})
>>> points.lost, points.doubled
(1, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sensors.cleaning import DeadLetter, Reason


@dataclass(frozen=True, slots=True)
class PointTally:
    """Valid readings sent against the points InfluxDB holds for them."""

    sent: int
    points: int
    distinct: int
    """Points with distinct sequence numbers: each reading is one."""
    lost: int
    """Readings sent of which no point was written."""
    doubled: int
    """Points beyond the first of a reading (the same sensor and sequence number)."""
    unexpected: int
    """Points of readings that were never sent (should be none)."""


def count_points_per_sensor(
    sent: Mapping[bytes, int], points: Mapping[str, int], distinct: Mapping[str, int]
) -> PointTally:
    """Compare, sensor by sensor, the valid readings ``sent`` (by Kafka key) with the ``points``
    and ``distinct`` sequence numbers InfluxDB holds (by sensor id)."""
    lost = unexpected = 0
    for sensor in {key.decode() for key in sent} | set(distinct):
        difference = sent.get(sensor.encode(), 0) - distinct.get(sensor, 0)
        lost += max(0, difference)
        unexpected += max(0, -difference)
    total_points, total_distinct = sum(points.values()), sum(distinct.values())
    return PointTally(
        sent=sum(sent.values()),
        points=total_points,
        distinct=total_distinct,
        lost=lost,
        doubled=total_points - total_distinct,
        unexpected=unexpected,
    )


@dataclass(frozen=True, slots=True)
class LetterTally:
    """Malformed events sent against the dead letters written for them."""

    malformed: int
    dead_lettered: int
    """Malformed events with a dead letter (each counted once)."""
    right_reason: int
    """... of which with the reason its malformation calls for."""
    repeated: int
    """Dead letters written again for the same event (a batch replayed after a fault)."""
    missing: int
    """Malformed events without a dead letter."""
    others: Counter[str] = field(default_factory=Counter)
    """Dead letters of events that were not sent malformed, by reason (should be none)."""


def count_dead_letters(
    malformed: Counter[tuple[bytes, Reason]], letters: Iterable[DeadLetter]
) -> LetterTally:
    """Match the ``malformed`` events sent (exact bytes, expected reason) with ``letters``.

    A dead letter counts once per source event (topic, partition, offset); events are matched
    by their bytes, as the same bytes can be sent more than once.

    >>> import base64
    >>> from datetime import UTC, datetime
    >>> def letter(offset, original, reason=Reason.NOT_JSON):
    ...     return DeadLetter(stage="clean", reason=reason, detail="", rejected_at=datetime.now(UTC),
    ...                       source_topic="raw", source_partition=0, source_offset=offset, key=None,
    ...                       original_b64=base64.b64encode(original).decode())
    >>> sent = Counter({(b"{oops", Reason.NOT_JSON): 2, (b"{}", Reason.SCHEMA): 1})
    >>> tally = count_dead_letters(sent, [letter(1, b"{oops"), letter(1, b"{oops"), letter(2, b"{}")])
    >>> tally.dead_lettered, tally.repeated, tally.missing, tally.right_reason
    (2, 1, 1, 1)
    """
    seen: set[tuple[str, str, int, int]] = set()
    landed: Counter[tuple[bytes, Reason]] = Counter()
    repeated = 0
    for letter in letters:
        source = (letter.stage, letter.source_topic, letter.source_partition, letter.source_offset)
        if letter.source_offset >= 0 and source in seen:
            repeated += 1
            continue
        seen.add(source)
        landed[letter.original, letter.reason] += 1
    sent_bytes = Counter[bytes]()
    for (original, _), count in malformed.items():
        sent_bytes[original] += count
    landed_bytes = Counter[bytes]()
    for (original, _), count in landed.items():
        landed_bytes[original] += count
    matched = sent_bytes & landed_bytes
    surplus = landed_bytes - sent_bytes
    others: Counter[str] = Counter()
    for (original, reason), count in landed.items():
        extra = min(count, surplus[original])
        if extra > 0:
            others[reason.value] += extra
            surplus[original] -= extra
    return LetterTally(
        malformed=malformed.total(),
        dead_lettered=matched.total(),
        right_reason=(malformed & landed).total(),
        repeated=repeated,
        missing=(sent_bytes - landed_bytes).total(),
        others=others,
    )


@dataclass(frozen=True, slots=True)
class AlarmTally:
    """Alarm events on ``alerts`` against those on the owners' topics, by (alarm id, update)."""

    events: int
    """Distinct alarm events on ``alerts``."""
    on_owners_topics: int
    """Distinct alarm events on the owners' topics."""
    repeated: int
    """Records on the owners' topics beyond the first of an event (dropped by deduplication)."""
    missing: int
    """Events on ``alerts`` that no owner's topic has."""
    gaps: int
    """Updates missing within an alarm's numbering (0, 1, 2, ...) on the owners' topics."""


def count_alarm_events(alerts: Iterable[tuple[str, int]], owners: Iterable[tuple[str, int]]) -> AlarmTally:
    """Compare the (alarm id, update number) of every record on ``alerts`` and on the owners'
    topics.

    >>> tally = count_alarm_events([("a", 0), ("a", 1), ("b", 0)], [("a", 0), ("a", 0), ("a", 2)])
    >>> tally.repeated, tally.missing, tally.gaps
    (1, 2, 1)
    """
    published = set(alerts)
    delivered: Counter[tuple[str, int]] = Counter(owners)
    updates: dict[str, set[int]] = {}
    for alarm_id, update in delivered:
        updates.setdefault(alarm_id, set()).add(update)
    gaps = sum(max(numbers) + 1 - len(numbers) for numbers in updates.values())
    return AlarmTally(
        events=len(published),
        on_owners_topics=len(delivered),
        repeated=delivered.total() - len(delivered),
        missing=len(published - set(delivered)),
        gaps=gaps,
    )


@dataclass(frozen=True, slots=True)
class DetectorTally:
    """Detectors that scored a reading while warming up after they had scored warm."""

    warming_again: int
    """Sensors whose detector went back to warming up: restored from a checkpoint taken while it
    still warmed up (the readings it learnt after that checkpoint are learnt again)."""
    readings: int
    """Readings those detectors scored while warming up again."""
    from_scratch: int
    """... of which detectors that warmed up all over again: no checkpoint was restored."""
