"""Sensor health: duplicates, event time, sequence gaps, flatlines and silence, judged per sensor.

Every reading that passed the cleaning rules meets its sensor's :class:`SensorState` before it
is published clean. The state remembers what the sensor sent lately and answers four questions:

- Is it a **duplicate**? A sequence number already taken (or, for a sensor that sends none, an
  event time already taken), within the last ``dedup_window`` sequence numbers, is refused. So
  is a reading at the event time of the sensor's latest under another sequence number (a stuck
  or coarse clock, a reading sent again under a new number): a sensor measures one value per
  instant, and the instant is its reading's identity in InfluxDB.
  A number at or below the highest seen, carried by a reading newer than anything the sensor
  sent, is a counter reset (a rebooted sensor), not a duplicate: the window starts again.
- Is it **late**? A reading behind the sensor's latest event time passes marked
  ``out_of_order`` within the allowed lateness and is refused as ``too_late`` beyond it.
  Lateness is measured against the sensor's own clock, so last year's data replayed in order
  passes.
- Did numbers go **missing** (a gap), has the value been **flat** for ``flatline_readings``
  readings where the kind never holds still, or has the sensor been **silent** for
  ``stale_intervals`` times its expected interval? Each is a :class:`HealthEvent` with a start
  and, once over, an end: the value of the ``quality`` topic.

The state also remembers the Kafka offset it last judged, so that a batch replayed after a
worker crash is recognised: a reading already accepted from the same offsets passes again
(its InfluxDB point is overwritten with itself) instead of being taken for its own duplicate.

>>> from datetime import UTC, datetime, timedelta
>>> at = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
>>> def reading(seq, minutes, value=20.0):
...     return Reading(sensor_id="S1-t", site_id="S1", kind="temperature", value=value,
...                    unit="Cel", observed_at=at + timedelta(minutes=minutes), seq=seq)
>>> state, rules = SensorState.of(reading(1, 0), partition=0), HealthRules()
>>> state.admit(reading(1, 0), offset=10, rules=rules).outcome
'accepted'
>>> state.admit(reading(1, 0), offset=11, rules=rules).outcome
'duplicate'
>>> state.admit(reading(2, 0), offset=11, rules=rules).outcome
'duplicate'
>>> gap = state.admit(reading(4, 15), offset=12, rules=rules)
>>> gap.outcome, gap.events[0].problem, gap.events[0].readings
('accepted', <Problem.GAP: 'gap'>, 2)
>>> state.admit(reading(3, 10), offset=13, rules=rules).reading.quality
('out_of_order',)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from sensors.catalog import KINDS
from sensors.cleaning import Reason, Rejection
from sensors.event_time import from_micros, to_micros
from sensors.reading import Reading

OUT_OF_ORDER = "out_of_order"
"""The quality flag of a reading that arrived after a later one from its sensor."""

FLATLINE = "flatline"
"""The quality flag of a reading taken while its sensor is flatlined."""

SEQUENCE_RESET = "seq_reset"
"""The quality flag of the first reading after a sensor restarted its sequence numbers."""

SEQLESS_MEMORY = 32
"""How many recent event times are kept, for deduplication, of a sensor that sends no ``seq``."""

_STATE_VERSION = 1


class Problem(StrEnum):
    """What can ail a sensor, as opposed to the street it watches."""

    STALE = "stale"
    FLATLINE = "flatline"
    GAP = "gap"


class HealthEvent(BaseModel):
    """The value of the ``quality`` topic: one episode of a sensor's ill health.

    An episode that is still going on is ``open`` and has no end yet; the same episode (same
    sensor, problem and start) is published again ``closed``, with its end, once it is over. A
    gap is known only once it is over, so it is published closed at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor_id: str
    site_id: str
    kind: str
    problem: Problem
    status: Literal["open", "closed"]
    start: AwareDatetime
    end: AwareDatetime | None = None
    readings: int | None = None
    """Sequence numbers missing (gap) or readings of the same value (flatline)."""
    detail: str


@dataclass(frozen=True, slots=True)
class HealthRules:
    """How much a sensor may get away with before it is judged unwell."""

    lateness: timedelta = timedelta(hours=1)
    dedup_window: int = 1024
    flatline_readings: int = 10
    stale_intervals: float = 5.0


@dataclass(slots=True)
class Admission:
    """What became of one valid reading at its sensor: passed (perhaps marked) or refused."""

    reading: Reading | Rejection
    outcome: Literal["accepted", "out_of_order", "replayed", "duplicate", "too_late"]
    events: list[HealthEvent] = field(default_factory=list)


@dataclass(slots=True)
class SensorState:
    """What one sensor sent lately: its latest event time, the sequence numbers taken within
    the window, its current run of equal values, and whether it is stale or flatlined."""

    sensor_id: str
    site_id: str
    kind: str
    partition: int
    offset: int = -1
    latest: datetime | None = None
    top_seq: int | None = None
    seen: int = 0
    """Bit ``i`` set: sequence number ``top_seq - 1 - i`` was taken."""
    recent: list[datetime] = field(default_factory=list)
    last_value: float | None = None
    run: int = 0
    run_start: datetime | None = None
    flat: bool = False
    stale: bool = False

    @classmethod
    def of(cls, reading: Reading, partition: int) -> SensorState:
        """A fresh state for the sensor of ``reading``, whose events arrive on ``partition``."""
        return cls(reading.sensor_id, reading.site_id, reading.kind, partition)

    def admit(self, reading: Reading, offset: int, rules: HealthRules) -> Admission:
        """Judge ``reading``, found at ``offset`` of this sensor's partition, and remember it."""
        at = reading.observed_at
        taken = self._taken(reading.seq, at)
        if offset <= self.offset and taken:
            return Admission(reading, "replayed")
        self.offset = max(self.offset, offset)
        latest = self.latest
        if taken and latest is not None and at <= latest:
            return Admission(Rejection(Reason.DUPLICATE, self._duplicate_detail(reading)), "duplicate")
        if at == latest:  # another number at the latest's instant: one point in InfluxDB for both
            detail = self._duplicate_detail(reading) if reading.seq is None else self._same_instant(reading)
            return Admission(Rejection(Reason.DUPLICATE, detail), "duplicate")
        flags: list[str] = []
        if latest is not None and at < latest:
            behind = latest - at
            if behind > rules.lateness:
                detail = (
                    f"observed_at {at.isoformat()} is {behind.total_seconds():.0f} s behind the sensor's"
                    f" latest reading ({latest.isoformat()}); at most"
                    f" {rules.lateness.total_seconds():.0f} s is allowed"
                )
                return Admission(Rejection(Reason.TOO_LATE, detail), "too_late")
            flags.append(OUT_OF_ORDER)
        events: list[HealthEvent] = []
        if self._take(reading.seq, at, rules.dedup_window, events):
            flags.append(SEQUENCE_RESET)
        if latest is None or at >= latest:
            if self.stale and latest is not None:
                self.stale = False
                silence = (at - latest).total_seconds()
                events.append(self._event(Problem.STALE, latest, at, None, f"silent for {silence:.0f} s"))
            self._follow_value(reading.value, at, rules, events)
            self.latest = at
        if self.flat:
            flags.append(FLATLINE)
        if flags:
            reading = reading.model_copy(update={"quality": (*reading.quality, *flags)})
        return Admission(reading, "out_of_order" if OUT_OF_ORDER in flags else "accepted", events)

    def check_stale(self, clock: datetime, rules: HealthRules) -> HealthEvent | None:
        """The opening of a stale episode if, by ``clock`` (the event time its partition has
        reached), the sensor has been silent for ``stale_intervals`` of its intervals."""
        if self.stale or self.latest is None:
            return None
        limit = KINDS[self.kind].interval_seconds * rules.stale_intervals
        silence = (clock - self.latest).total_seconds()
        if silence <= limit:
            return None
        self.stale = True
        return self._event(
            Problem.STALE,
            self.latest,
            None,
            None,
            f"no reading for {silence:.0f} s, more than {rules.stale_intervals:g} times"
            f" its interval of {KINDS[self.kind].interval_seconds:g} s",
        )

    def _taken(self, seq: int | None, at: datetime) -> bool:
        if seq is None:
            return at in self.recent
        top = self.top_seq
        if top is None or seq > top:
            return False
        if seq == top:
            return True
        return bool(self.seen >> (top - 1 - seq) & 1)

    def _take(self, seq: int | None, at: datetime, window: int, events: list[HealthEvent]) -> bool:
        """Remember ``seq`` (or ``at``); note a gap; return whether the sequence restarted."""
        if seq is None:
            self.recent = [*self.recent[-(SEQLESS_MEMORY - 1) :], at]
            return False
        top = self.top_seq
        latest = self.latest
        # Numbers going back while time goes forward: the sensor restarted its counter.
        reset = top is not None and seq <= top and latest is not None and at > latest
        if top is None or reset:
            self.top_seq, self.seen = seq, 0
            return reset
        if seq > top:
            shift = seq - top
            self.seen = ((self.seen << shift) | (1 << (shift - 1))) & ((1 << window) - 1)
            self.top_seq = seq
            if shift > 1 and latest is not None:
                missing = shift - 1
                detail = f"sequence numbers {top + 1}..{seq - 1} never arrived clean ({missing} missing)"
                events.append(self._event(Problem.GAP, latest, max(at, latest), missing, detail))
        elif top - 1 - seq < window:
            self.seen |= 1 << (top - 1 - seq)
        return False

    def _follow_value(
        self, value: float, at: datetime, rules: HealthRules, events: list[HealthEvent]
    ) -> None:
        if value == self.last_value:
            self.run += 1
        else:
            if self.flat and self.run_start is not None:
                self.flat = False
                detail = f"held {self.last_value!r} for {self.run} readings"
                events.append(self._event(Problem.FLATLINE, self.run_start, at, self.run, detail))
            self.last_value, self.run, self.run_start = value, 1, at
        kind = KINDS[self.kind]
        if (
            not self.flat
            and self.run >= rules.flatline_readings
            and self.run_start is not None
            and not kind.may_repeat(value)
        ):
            self.flat = True
            detail = (
                f"the same value {value!r} {self.run} times in a row; a working {kind.name} sensor varies"
            )
            events.append(self._event(Problem.FLATLINE, self.run_start, None, self.run, detail))

    def _event(
        self, problem: Problem, start: datetime, end: datetime | None, readings: int | None, detail: str
    ) -> HealthEvent:
        return HealthEvent.model_construct(
            sensor_id=self.sensor_id,
            site_id=self.site_id,
            kind=self.kind,
            problem=problem,
            status="open" if end is None and problem is not Problem.GAP else "closed",
            start=start,
            end=end,
            readings=readings,
            detail=detail,
        )

    def _duplicate_detail(self, reading: Reading) -> str:
        if reading.seq is None:
            return (
                f"a reading observed at {reading.observed_at.isoformat()} was already taken from this sensor"
            )
        return f"sequence number {reading.seq} was already taken from this sensor"

    @staticmethod
    def _same_instant(reading: Reading) -> str:
        return (
            f"sequence number {reading.seq} is observed_at {reading.observed_at.isoformat()}, the event"
            " time of a reading already taken from this sensor under another number: a sensor measures"
            " one value per instant (the instant is its reading's identity in InfluxDB); check the"
            " device's clock"
        )

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready values (its changelog record)."""
        return {
            "v": _STATE_VERSION,
            "sensor_id": self.sensor_id,
            "site_id": self.site_id,
            "kind": self.kind,
            "partition": self.partition,
            "offset": self.offset,
            "latest": to_micros(self.latest),
            "top_seq": self.top_seq,
            "seen": format(self.seen, "x"),
            "recent": [to_micros(moment) for moment in self.recent],
            "last_value": self.last_value,
            "run": self.run,
            "run_start": to_micros(self.run_start),
            "flat": self.flat,
            "stale": self.stale,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SensorState | None:
        """The state :meth:`to_dict` wrote, or ``None`` if ``data`` is not one (a record of
        another version, or damaged): the sensor then starts afresh rather than the worker
        failing.

        >>> state = SensorState("S1-t", "S1", "temperature", partition=3, top_seq=9, seen=5)
        >>> SensorState.from_dict(state.to_dict()) == state
        True
        >>> SensorState.from_dict({"v": 0}) is None
        True
        """
        try:
            if data["v"] != _STATE_VERSION or data["kind"] not in KINDS:
                return None
            return cls(
                sensor_id=str(data["sensor_id"]),
                site_id=str(data["site_id"]),
                kind=str(data["kind"]),
                partition=int(data["partition"]),
                offset=int(data["offset"]),
                latest=from_micros(data["latest"]),
                top_seq=None if data["top_seq"] is None else int(data["top_seq"]),
                seen=int(data["seen"], 16),
                recent=[from_micros(micros) for micros in data["recent"]],
                last_value=None if data["last_value"] is None else float(data["last_value"]),
                run=int(data["run"]),
                run_start=from_micros(data["run_start"]),
                flat=bool(data["flat"]),
                stale=bool(data["stale"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
