"""One sensor's alarms: its readings in, alarm events out (:class:`SensorAlarms`), and its state
as a changelog record."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from models.alarms.alarm import Alarm, Evidence, alarm_id, describe, operator_time
from models.alarms.neighbours import fall_judged, lone_reading
from models.alarms.rules import (
    ANOMALY,
    SENSOR_FAULT,
    AlarmChange,
    AlarmRules,
    AlarmState,
    Severity,
    fault_shown,
    rarity,
)
from models.scoring import ScoredReading
from sensors.event_time import from_micros, to_micros
from sensors.site import Site

_STATE_VERSION = 1


@dataclass(slots=True)
class SensorAlarms:
    """One sensor's alarms of one type: the run of anomalous (or normal) readings it is in, the
    times its recent alarms opened, its recent readings, and its current alarm (active or the
    latest cleared one)."""

    sensor_id: str
    rules: AlarmRules = field(default_factory=AlarmRules)
    alarm_type: str = ANOMALY
    latest: datetime | None = None
    """The event time of the latest reading taken; earlier or equal ones are ignored."""
    streak: int = 0
    """Anomalous readings in a row (outside an active alarm: towards opening one)."""
    streak_start: datetime | None = None
    peak: Evidence | None = None
    """The evidence of the streak's latest reading of its gravest severity."""
    normal_run: int = 0
    """Normal readings in a row since the active alarm's latest anomalous one."""
    openings: list[datetime] = field(default_factory=list)
    """When alarms opened, within the flap window."""
    recent: list[tuple[int, float, tuple[str, ...]]] = field(default_factory=list)
    """The latest readings taken (event time in microseconds, value, quality flags), oldest
    first: kept as the state record stores them, since the record is written after every
    reading and an alarm that shows them is rare."""
    current: Alarm | None = None
    speed_fell_at: datetime | None = None
    """When the speed at the sensor's intersection began to fall, as an alarm on it said, while
    this sensor has yet to be judged against it (see :attr:`AlarmRules.fell_with_speed`)."""
    previous: ScoredReading | None = field(default=None, repr=False, compare=False)
    """The latest reading taken, with what the detector said of it, should it turn out to stand alone (see
    :attr:`AlarmRules.open_blip`). Not part of the state record: after a restart the rule waits
    for a reading taken since."""

    def observe(self, scored: ScoredReading, site: Site) -> list[Alarm]:
        """Take the sensor's next scored reading (``site`` is the sensor's site) and return the
        alarm events it causes: an alarm opened, escalated or cleared, or nothing.

        A reading during the detector's warm-up is neither anomalous nor normal here (but may
        show the sensor's fault); a reading no later than the latest taken (a redelivery, or one
        out of order) is ignored.
        """
        at = scored.observed_at
        before = self.latest
        if before is not None and at <= before:
            return []
        self.latest = at
        self.recent = [
            *self.recent[-(self.rules.recent_values - 1) :],
            (to_micros(at), scored.value, scored.quality),
        ]
        fault = fault_shown(self.rules, scored, self.recent, before) if self.alarm_type == ANOMALY else None
        if fault is not None:
            return self._faulty(scored, site, fault)
        events = self._fault_over(at)
        if scored.warming_up:
            return events
        found = [] if scored.anomalous else self._neighbours(scored, site)
        self.previous = scored
        if scored.anomalous:
            return events + self._anomalous(scored, site)
        return events + (found or self._normal(at))

    def acknowledge(self, alarm_id: str, at: datetime) -> Alarm | None:
        """An operator acknowledges the sensor's current alarm at ``at`` (an aware time): the
        event, or ``None`` if ``alarm_id`` is not that alarm or it already was acknowledged."""
        at = operator_time(at)
        if self.current is None or self.current.alarm_id != alarm_id:
            return None
        alarm = self.current.acknowledged(at)
        if alarm is not None:
            self.current = alarm
        return alarm

    def clear(self, alarm_id: str, at: datetime) -> Alarm | None:
        """An operator clears the sensor's active alarm at ``at``: the event, or ``None`` if
        ``alarm_id`` is not that alarm or it is not active. A new alarm then needs the opening
        rule to hold again, on readings after this one."""
        at = operator_time(at)
        alarm = self.current
        if alarm is None or alarm.alarm_id != alarm_id or not alarm.state.active:
            return None
        self._reset()
        self.current = self._cleared(alarm, at, "operator")
        return self.current

    @property
    def active(self) -> Alarm | None:
        """The sensor's active alarm, if any."""
        return self.current if self.current is not None and self.current.state.active else None

    @property
    def status(self) -> str:
        """Where the sensor stands: its active alarm's severity; ``anomalous`` while anomalous
        readings have not (yet) opened one; else ``normal``."""
        alarm = self.active
        if alarm is not None:
            return alarm.severity.value
        return "anomalous" if self.streak else "normal"

    def _anomalous(self, scored: ScoredReading, site: Site) -> list[Alarm]:
        at = scored.observed_at
        evidence = Evidence.of(scored)
        self.normal_run = 0
        if self.streak == 0 or self.streak_start is None:
            self.streak_start = at
        self.streak += 1
        if self.peak is None or evidence.severity.rank >= self.peak.severity.rank:
            self.peak = evidence
        alarm = self.active
        if alarm is not None:
            return self._extend(alarm, evidence)
        reason = self._held(scored, self.streak_start)
        if reason is None:
            return []
        self.current = self._opened(scored, site, self.streak_start, self.peak, ANOMALY, reason, self.streak)
        return [self.current]

    def _held(self, scored: ScoredReading, since: datetime) -> str | None:
        """Why the streak ending with ``scored`` opens an alarm, or ``None`` if no rule holds."""
        rules = self.rules
        if self.streak >= rules.open_after:
            return f"{self.streak} anomalous readings in a row"
        seconds = rules.open_after_seconds
        spanned = (scored.observed_at - since).total_seconds()
        if seconds is not None and spanned >= seconds:
            return f"anomalous readings in a row for {spanned:.0f} s"
        times = rarity(scored)
        if rules.open_rarity is not None and times >= rules.open_rarity:
            return f"one reading {times:.3g} times rarer than the threshold"
        return None

    def speed_fell(self, at: datetime) -> None:
        """The speed at the sensor's intersection began to fall at ``at`` (an alarm opened on it
        with its value below the expected range)."""
        if self.rules.fell_with_speed is not None and self.alarm_type == ANOMALY:
            self.speed_fell_at = at

    def _neighbours(self, scored: ScoredReading, site: Site) -> list[Alarm]:
        """The alarm opened by a rule of :mod:`models.alarms.neighbours`, if one holds and no alarm
        is active; a fall of the speed is judged once."""
        found = lone_reading(self.recent, self.previous, self.rules.open_blip)
        if self.speed_fell_at is not None:
            judged, fell = fall_judged(self.recent, self.speed_fell_at, scored, self.rules.fell_with_speed)
            self.speed_fell_at = None if judged else self.speed_fell_at
            found = found or fell
        if found is None or self.active is not None:
            return []
        first, evidence, reason, readings = found
        self.current = self._opened(scored, site, first, evidence, ANOMALY, reason, readings)
        self._reset_streak()
        self.normal_run = 1  # the reading in hand is a normal one
        return [self.current]

    def _faulty(self, scored: ScoredReading, site: Site, reason: str) -> list[Alarm]:
        """A reading showing the sensor's fault: opens a sensor-fault alarm (of severity
        ``warning``: the sensor needs seeing to, the street may be fine), or keeps the active one.
        An active anomaly alarm is cleared first: the sensor's fault explains it."""
        self._reset()
        alarm = self.active
        events = []
        if alarm is not None and alarm.alarm_type != SENSOR_FAULT:
            events.append(self._cleared(alarm, scored.observed_at, "rule"))
        elif alarm is not None:
            update = {
                "last_anomalous_at": scored.observed_at,
                "anomalous_readings": alarm.anomalous_readings + 1,
            }
            extended = alarm.model_copy(update=update)
            self.current = extended.model_copy(update={"summary": describe(extended)})
            return []
        evidence = replace(Evidence.of(scored), severity=Severity.WARNING)
        self.current = self._opened(scored, site, scored.observed_at, evidence, SENSOR_FAULT, reason, 1)
        return [*events, self.current]

    def _fault_over(self, at: datetime) -> list[Alarm]:
        """A reading at ``at`` that shows no fault clears an active sensor-fault alarm at once: its
        evidence is the sensor's own (a gap, a stuck value), not a verdict that may waver."""
        alarm = self.active
        if alarm is None or alarm.alarm_type != SENSOR_FAULT:
            return []
        self._reset()
        self.current = self._cleared(alarm, at, "rule")
        return [self.current]

    def _extend(self, alarm: Alarm, evidence: Evidence) -> list[Alarm]:
        update: dict[str, Any] = {
            "last_anomalous_at": evidence.at,
            "anomalous_readings": alarm.anomalous_readings + 1,
        }
        escalated = evidence.severity.rank > alarm.severity.rank
        if evidence.severity.rank >= alarm.severity.rank:
            update.update(evidence.fields())
        if escalated:
            update.update(self._recent_fields())
            update.update(change=AlarmChange.ESCALATED, sequence=alarm.sequence + 1, updated_at=evidence.at)
        self.current = alarm.model_copy(update=update)
        self.current = self.current.model_copy(update={"summary": describe(self.current)})
        return [self.current] if escalated else []

    def _normal(self, at: datetime) -> list[Alarm]:
        self._reset_streak()
        alarm = self.active
        if alarm is None:
            return []
        self.normal_run += 1
        if self.normal_run < self.rules.clear_after:
            return []
        quiet = (at - alarm.last_anomalous_at).total_seconds() >= self.rules.flap_window_seconds
        if alarm.flapping and not quiet:
            return []
        self._reset()
        self.current = self._cleared(alarm, at, "rule")
        return [self.current]

    def _reset_streak(self) -> None:
        self.streak, self.streak_start, self.peak = 0, None, None

    def _reset(self) -> None:
        self._reset_streak()
        self.normal_run = 0

    def _recent_fields(self) -> dict[str, Any]:
        flags = sorted({flag for _, _, quality in self.recent for flag in quality})
        return {
            "recent_values": tuple((from_micros(micros), value) for micros, value, _ in self.recent),
            "quality": tuple(flags),
        }

    def _opened(
        self,
        scored: ScoredReading,
        site: Site,
        first: datetime,
        evidence: Evidence,
        kind: str,
        reason: str,
        readings: int,
    ) -> Alarm:
        """The alarm of type ``kind`` opened by ``scored`` (flapping if too many opened lately)."""
        at = scored.observed_at
        window = timedelta(seconds=self.rules.flap_window_seconds)
        self.openings = [moment for moment in self.openings if at - moment < window]
        flapping = len(self.openings) >= self.rules.flap_limit
        self.openings.append(at)
        alarm_type = self.alarm_type if kind == ANOMALY else kind
        alarm = Alarm.model_construct(
            alarm_id=alarm_id(self.sensor_id, alarm_type, first),
            alarm_type=alarm_type,
            change=AlarmChange.OPENED,
            sequence=0,
            sensor_id=self.sensor_id,
            site_id=site.site_id,
            site_name=site.name,
            owner_id=site.owner_id,
            district=str(site.district),
            programme=str(site.programme),
            latitude=site.latitude,
            longitude=site.longitude,
            kind=scored.kind,
            unit=scored.unit,
            state=AlarmState.ACTIVE_UNACK,
            flapping=flapping,
            opened_at=at,
            first_anomalous_at=first,
            last_anomalous_at=at,
            updated_at=at,
            cleared_at=None,
            cleared_by=None,
            acknowledged_at=None,
            anomalous_readings=readings,
            **evidence.fields(),
            **self._recent_fields(),
            summary="",
            reason=reason,
        )
        return alarm.model_copy(update={"summary": describe(alarm)})

    def _cleared(self, alarm: Alarm, at: datetime, by: Literal["rule", "operator"]) -> Alarm:
        cleared = alarm.model_copy(
            update={
                "state": alarm.state.clear(),
                "change": AlarmChange.CLEARED,
                "sequence": alarm.sequence + 1,
                "updated_at": at,
                "cleared_at": at,
                "cleared_by": by,
                **self._recent_fields(),
            }
        )
        return cleared.model_copy(update={"summary": describe(cleared)})

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready values (its changelog record; tuples are JSON arrays). The
        rules are not part of it: they are the stream's settings."""
        return {
            "v": _STATE_VERSION,
            "sensor_id": self.sensor_id,
            "alarm_type": self.alarm_type,
            "latest": to_micros(self.latest),
            "streak": self.streak,
            "streak_start": to_micros(self.streak_start),
            "peak": None if self.peak is None else self.peak.to_list(),
            "normal_run": self.normal_run,
            "openings": [to_micros(moment) for moment in self.openings],
            "recent": list(self.recent),
            "current": None if self.current is None else self.current.model_dump(mode="json"),
            "speed_fell_at": to_micros(self.speed_fell_at),
        }

    @classmethod
    def from_dict(cls, data: Any, rules: AlarmRules | None = None) -> SensorAlarms | None:
        """The state :meth:`to_dict` wrote, under ``rules``, or ``None`` if ``data`` is not one (a
        record of another version, or damaged): the sensor then starts afresh.

        >>> from datetime import UTC
        >>> state = SensorAlarms("S1.t", streak=2, streak_start=datetime(2026, 11, 30, tzinfo=UTC))
        >>> SensorAlarms.from_dict(state.to_dict()) == state
        True
        >>> SensorAlarms.from_dict({"v": 0}) is None, SensorAlarms.from_dict("garbage") is None
        (True, True)
        """
        try:
            if data["v"] != _STATE_VERSION:
                return None
            current = data["current"]
            return cls(
                sensor_id=str(data["sensor_id"]),
                rules=rules or AlarmRules(),
                alarm_type=str(data["alarm_type"]),
                latest=from_micros(data["latest"]),
                streak=int(data["streak"]),
                streak_start=from_micros(data["streak_start"]),
                peak=None if data["peak"] is None else Evidence.from_list(data["peak"]),
                normal_run=int(data["normal_run"]),
                openings=[from_micros(micros) for micros in data["openings"]],
                recent=[
                    (int(micros), float(value), tuple(str(flag) for flag in quality))
                    for micros, value, quality in data["recent"]
                ],
                current=None if current is None else Alarm.model_validate(current),
                speed_fell_at=from_micros(data.get("speed_fell_at")),
            )
        except (KeyError, TypeError, ValueError, OverflowError, ValidationError):
            return None
