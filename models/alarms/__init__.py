"""Alarms: a sensor's anomalous readings become one alarm that opens, escalates and clears, without Kafka.

A single anomalous reading does not open an alarm unless it is far rarer than the detector's
threshold (``open_rarity`` times: a spike or a dip is one reading); a rule does (:class:`AlarmRules`):
``open_after`` anomalous readings in a row, or anomalous readings in a row that span
``open_after_seconds`` of event time. A sensor's own fault opens a *sensor-fault* alarm
(:data:`SENSOR_FAULT`) through the same lifecycle, whatever its detector says: its readings resuming
after ``gap_readings`` or more went missing (a dropout, judged by event time and the kind's interval), or
a reading the health stage flagged flatlined. Every alarm says why it opened (``reason``). While the
anomaly goes on the sensor has one active alarm (an anomaly or its fault, whichever opened first), which
is updated, never duplicated; it clears itself after ``clear_after`` normal readings in a row
(hysteresis), and an operator may acknowledge or clear it. An alarm that opens after
``flap_limit`` others opened within ``flap_window_seconds`` is *flapping*: it stays open through
the normal spells between anomalous ones and clears only after a whole quiet window, so an
open/clear cycle does not page anyone again and again.

The lifecycle (the states of ThingsBoard's alarms)::

    (rule holds) ──► active_unack ──ack──► active_ack
                          │                    │
            (clear_after normal readings, or an operator's clear)
                          ▼                    ▼
                     cleared_unack ──ack──► cleared_ack

Each change is one event, an :class:`Alarm` (the value of the ``alerts`` topic), with a
``change`` (opened, escalated, cleared, acknowledged) and a ``sequence`` number per alarm. The
alarm id is derived from the sensor, the alarm type and the time of the first anomalous reading,
so a replayed stream gives the same alarms; a reading no later than the last one the sensor's
state has seen is ignored, so a redelivered batch changes nothing. Only event time counts
(``observed_at``, and the time an operator acts), never the clock of the machine.

>>> from datetime import UTC, datetime, timedelta
>>> site = Site(site_id="GJ-00001", name="Bus stop 1", facility="bus_stop", programme="urban_life",
...             district="Dong-gu", latitude=35.146, longitude=126.923, owner_id="owner-01",
...             sensors=[{"sensor_id": "GJ-00001.air_pm25", "kind": "air_pm25"}])
>>> start = datetime(2026, 11, 30, tzinfo=UTC)
>>> def scored(minute, value, probability):
...     return ScoredReading.model_construct(
...         sensor_id="GJ-00001.air_pm25", site_id="GJ-00001", kind="air_pm25", value=value,
...         unit="ug/m3", observed_at=start + timedelta(minutes=minute), seq=minute, quality=(),
...         score=0.0, probability=probability, threshold=0.999, anomalous=probability >= 0.999,
...         warming_up=False, expected_low=10.0, expected_high=35.0, detector="seasonal_likelihood@2")
>>> alarms = SensorAlarms("GJ-00001.air_pm25", AlarmRules(open_after=3, clear_after=2, open_rarity=100.0))
>>> [alarms.observe(scored(m, 300.0, 0.9999), site) for m in range(3)][-1][0].change
<AlarmChange.OPENED: 'opened'>
>>> opened = alarms.current
>>> opened.reason
'3 anomalous readings in a row'
>>> opened.state, opened.severity, opened.first_anomalous_at.isoformat()
(<AlarmState.ACTIVE_UNACK: 'active_unack'>, <Severity.MINOR: 'minor'>, '2026-11-30T00:00:00+00:00')
>>> alarms.observe(scored(3, 900.0, 0.9999), site)  # still anomalous, same severity: nothing new
[]
>>> alarms.observe(scored(4, 20.0, 0.2), site), alarms.observe(scored(5, 21.0, 0.1), site)[0].state
([], <AlarmState.CLEARED_UNACK: 'cleared_unack'>)
>>> alarms.acknowledge(opened.alarm_id, start + timedelta(hours=1)).state
<AlarmState.CLEARED_ACK: 'cleared_ack'>
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from models.scoring import ScoredReading
from sensors.catalog import KINDS
from sensors.event_time import from_micros, to_micros
from sensors.health import FLATLINE, SEQUENCE_RESET
from sensors.site import Site

__all__ = [
    "ANOMALY",
    "SAFETY_KINDS",
    "SENSOR_FAULT",
    "SUSPECT_FLAGS",
    "Alarm",
    "AlarmChange",
    "AlarmRules",
    "AlarmState",
    "Evidence",
    "SensorAlarms",
    "Severity",
    "alarm_id",
    "rarity",
    "severity_of",
]

ANOMALY = "anomaly"
"""The alarm type of a sensor whose detector finds its readings anomalous."""

SENSOR_FAULT = "sensor_fault"
"""The alarm type of a sensor that stopped sending (a gap in its readings) or got stuck (flatlined):
its own fault, seen in its readings' times and the health stage's flags rather than by its detector."""

SAFETY_KINDS: frozenset[str] = frozenset(
    {"grid_load", "battery_soc", "traffic_speed", "av_track_speed", "water_level"}
)
"""Kinds whose anomalies touch safety, one severity level higher: the grid's load and the
batteries' charge (outages, battery fires), speeds on the roads and on the autonomous-driving
test track, the river's level (floods)."""

SUSPECT_FLAGS: frozenset[str] = frozenset({FLATLINE, SEQUENCE_RESET})
"""Data-quality flags under which an anomaly may be the sensor's rather than the street's: its
severity is then ``indeterminate`` (a reading with a converted unit is not suspect)."""

_STATE_VERSION = 1
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://openlab.invalid/alarms")


class Severity(StrEnum):
    """The five severities of ThingsBoard's alarms, from the gravest."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INDETERMINATE = "indeterminate"

    @property
    def rank(self) -> int:
        """Higher is graver: ``indeterminate`` 0 ... ``critical`` 4.

        >>> Severity.CRITICAL.rank > Severity.WARNING.rank > Severity.INDETERMINATE.rank
        True
        """
        return _RANK[self]


_RANK = {
    Severity.INDETERMINATE: 0,
    Severity.WARNING: 1,
    Severity.MINOR: 2,
    Severity.MAJOR: 3,
    Severity.CRITICAL: 4,
}
_BY_RANK = {rank: severity for severity, rank in _RANK.items()}


class AlarmState(StrEnum):
    """Where an alarm is in its lifecycle: active or cleared, acknowledged by an operator or not."""

    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    CLEARED_ACK = "cleared_ack"

    @property
    def active(self) -> bool:
        return self in (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)

    @property
    def acknowledged(self) -> bool:
        return self in (AlarmState.ACTIVE_ACK, AlarmState.CLEARED_ACK)

    def acknowledge(self) -> AlarmState:
        return AlarmState.ACTIVE_ACK if self.active else AlarmState.CLEARED_ACK

    def clear(self) -> AlarmState:
        return AlarmState.CLEARED_ACK if self.acknowledged else AlarmState.CLEARED_UNACK


class AlarmChange(StrEnum):
    """What an alarm event says happened to the alarm."""

    OPENED = "opened"
    ESCALATED = "escalated"
    """Its severity rose (severities never fall while an alarm is active)."""
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True, slots=True)
class AlarmRules:
    """When an alarm opens, clears, and is flapping."""

    open_after: int = 3
    """Anomalous readings in a row that open an alarm."""
    open_after_seconds: float | None = None
    """Or: anomalous readings in a row whose event times span this long (``None``: no such rule)."""
    open_rarity: float | None = 10.0
    """Or: one anomalous reading at least this many times rarer than the detector's threshold (see
    :func:`rarity`) opens an alarm at once (``None``: no such rule). On the simulated city, 10 caught
    most spikes and dips (each one reading) without more false alarms than the rule of three in a row."""
    gap_readings: int | None = 2
    """Readings missing in a row after which the sensor's next reading opens a sensor-fault alarm
    (``None``: no such rule). A single missing reading is no fault."""
    gap_seconds: float = 300.0
    """And the silence must last at least this long: two readings a minute apart, both lost to a
    corrupted transmission (half a percent of the run's events are), are not a dropout."""
    flatline: bool = True
    """Whether a reading flagged :data:`~sensors.health.FLATLINE` opens a sensor-fault alarm."""
    clear_after: int = 5
    """Normal readings in a row that clear an active alarm (hysteresis)."""
    flap_window_seconds: float = 3600.0
    flap_limit: int = 3
    """Alarms that may open within ``flap_window_seconds`` before the next is held as flapping."""
    recent_values: int = 10
    """Recent readings an alarm carries, for explanation."""

    def __post_init__(self) -> None:
        if self.open_after < 1 or self.clear_after < 1 or self.flap_limit < 1 or self.recent_values < 1:
            raise ValueError("open_after, clear_after, flap_limit and recent_values must be at least 1")
        if self.open_after_seconds is not None and self.open_after_seconds < 0:
            raise ValueError("open_after_seconds cannot be negative")
        if self.open_rarity is not None and self.open_rarity < 1:
            raise ValueError("open_rarity must be at least 1")
        if self.gap_readings is not None and self.gap_readings < 2:
            raise ValueError("gap_readings must be at least 2: a single missing reading is no fault")
        if self.gap_seconds < 0:
            raise ValueError("gap_seconds cannot be negative")
        if self.flap_window_seconds < 0:
            raise ValueError("flap_window_seconds cannot be negative")


def severity_of(scored: ScoredReading) -> Severity:
    """The severity of one anomalous reading: how much rarer than the detector's threshold it is,
    one level higher for a kind of :data:`SAFETY_KINDS`, and ``indeterminate`` if the reading
    carries a flag of :data:`SUSPECT_FLAGS`.

    Rarity is ``(1 - threshold) / (1 - probability)``: below 10 ``warning``, from 10 ``minor``,
    from 100 ``major``, from 1,000 (or a probability of 1) ``critical``.

    >>> from datetime import UTC, datetime
    >>> def reading(kind, probability, quality=()):
    ...     return ScoredReading.model_construct(kind=kind, probability=probability, threshold=0.999,
    ...                                          quality=quality)
    >>> [severity_of(reading("air_pm25", p)).value for p in (0.999, 0.9999, 0.99999, 0.999999, 1.0)]
    ['warning', 'minor', 'major', 'critical', 'critical']
    >>> severity_of(reading("water_level", 0.999)).value, severity_of(reading("water_level", 0.9999)).value
    ('minor', 'major')
    >>> severity_of(reading("air_pm25", 1.0, quality=("flatline",))).value
    'indeterminate'
    """
    if SUSPECT_FLAGS.intersection(scored.quality):
        return Severity.INDETERMINATE
    times = rarity(scored)
    level = 1 + sum(times >= bound for bound in (10.0, 100.0, 1000.0))
    if scored.kind in SAFETY_KINDS:
        level += 1
    return _BY_RANK[min(level, _RANK[Severity.CRITICAL])]


def rarity(scored: ScoredReading) -> float:
    """How many times rarer than the detector's threshold a reading is: ``(1 - threshold) / (1 -
    probability)``, infinite for a probability of 1, allowing for the rounding of ``1 - p`` (a
    probability of 0.9999 against 0.999 is 10 times rarer).

    >>> def scored(probability):
    ...     return ScoredReading.model_construct(probability=probability, threshold=0.9999)
    >>> [rarity(scored(p)) for p in (0.9999, 0.99999, 1.0)]
    [1.0, 10.0, inf]
    """
    tail = 1.0 - scored.probability
    allowed = max(1.0 - scored.threshold, 0.0)
    if tail <= 0.0:
        return math.inf
    times = allowed / tail
    return float(round(times)) if abs(times - round(times)) < 1e-6 * times else times


def alarm_id(sensor_id: str, alarm_type: str, first_anomalous_at: datetime) -> str:
    """The id of the alarm of ``sensor_id`` and ``alarm_type`` whose first anomalous reading was
    at ``first_anomalous_at``: a UUID derived from them, so a replay gives the same id.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2026, 11, 30, tzinfo=UTC)
    >>> alarm_id("S1.t", "anomaly", at) == alarm_id("S1.t", "anomaly", at)
    True
    >>> alarm_id("S1.t", "anomaly", at) == alarm_id("S2.t", "anomaly", at)
    False
    """
    name = f"{sensor_id}/{alarm_type}/{first_anomalous_at.astimezone(UTC).isoformat()}"
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the detector said of one anomalous reading: the explanation an alarm carries."""

    at: datetime
    value: float
    score: float
    probability: float
    threshold: float
    expected_low: float
    expected_high: float
    detector: str
    severity: Severity

    @classmethod
    def of(cls, scored: ScoredReading) -> Evidence:
        return cls(
            scored.observed_at,
            scored.value,
            scored.score,
            scored.probability,
            scored.threshold,
            scored.expected_low,
            scored.expected_high,
            scored.detector,
            severity_of(scored),
        )

    def to_list(self) -> list[Any]:
        return [
            to_micros(self.at),
            self.value,
            self.score,
            self.probability,
            self.threshold,
            self.expected_low,
            self.expected_high,
            self.detector,
            self.severity.value,
        ]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> Evidence:
        at, value, score, probability, threshold, low, high, detector, severity = data
        return cls(
            from_micros(at),
            float(value),
            float(score),
            float(probability),
            float(threshold),
            float(low),
            float(high),
            str(detector),
            Severity(severity),
        )


class Alarm(BaseModel):
    """An alarm as one of its events publishes it: who and where, how grave, in which state, since
    when, and why (the detector's evidence, recent values, the data-quality flags of those values).

    ``value``, ``score``, ``probability``, ``threshold``, ``expected_low``, ``expected_high`` and
    ``detector`` are those of the latest anomalous reading of the alarm's severity.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_id: str
    alarm_type: str
    change: AlarmChange
    sequence: int
    """0 when opened, one more with each later event of the same alarm."""
    sensor_id: str
    site_id: str
    site_name: str
    owner_id: str
    district: str
    programme: str
    latitude: float
    longitude: float
    kind: str
    unit: str
    severity: Severity
    state: AlarmState
    flapping: bool
    opened_at: AwareDatetime
    first_anomalous_at: AwareDatetime
    last_anomalous_at: AwareDatetime
    updated_at: AwareDatetime
    """The event time of this event (a reading's, or an operator's action)."""
    cleared_at: AwareDatetime | None = None
    cleared_by: Literal["rule", "operator"] | None = None
    acknowledged_at: AwareDatetime | None = None
    anomalous_readings: int
    value: float
    score: float
    probability: float
    threshold: float
    expected_low: float
    expected_high: float
    detector: str
    recent_values: tuple[tuple[AwareDatetime, float], ...]
    """The sensor's latest readings (event time, value), oldest first, normal ones included."""
    quality: tuple[str, ...]
    """The data-quality flags of those readings."""
    summary: str
    """One sentence for a human."""
    reason: str = ""
    """Why it opened: the rule that held (``3 anomalous readings in a row``, ``one reading 25 times
    rarer than the threshold``) or the sensor's fault (``no reading for 900 s (14 missing)``)."""

    def fiware(self) -> dict[str, Any]:
        """The alarm as a FIWARE Smart Data Models ``Anomaly`` entity (dataModel.Alert), key-values.

        >>> from datetime import UTC, datetime
        >>> at = datetime(2026, 11, 30, tzinfo=UTC)
        >>> alarm = Alarm(alarm_id="a1", alarm_type="anomaly", change="opened", sequence=0,
        ...     sensor_id="S1.t", site_id="S1", site_name="Park", owner_id="o1", district="Dong-gu",
        ...     programme="urban_life", latitude=35.1, longitude=126.9, kind="temperature", unit="Cel",
        ...     severity="major", state="active_unack", flapping=False, opened_at=at,
        ...     first_anomalous_at=at, last_anomalous_at=at, updated_at=at, anomalous_readings=3,
        ...     value=41.0, score=9.0, probability=0.99999, threshold=0.999, expected_low=10.0,
        ...     expected_high=18.0, detector="x@1", recent_values=[(at, 41.0)], quality=(), summary="hot")
        >>> entity = alarm.fiware()
        >>> entity["type"], entity["id"], entity["anomalousProperty"], entity["detectedBy"]
        ('Anomaly', 'urn:ngsi-ld:Anomaly:a1', 'temperature', 'urn:ngsi-ld:Device:S1.t')
        >>> breach = entity["thresholdBreach"][0]
        >>> breach["dateObserved"], breach["measuredValue"], breach["thresholdType"], breach["thresholdValue"]
        ('2026-11-30T00:00:00Z', 41.0, 'UPPER', 18.0)
        """
        spec = KINDS.get(self.kind)
        entity: dict[str, Any] = {
            "id": f"urn:ngsi-ld:Anomaly:{self.alarm_id}",
            "type": "Anomaly",
            "detectedBy": f"urn:ngsi-ld:Device:{self.sensor_id}",
            "anomalousProperty": spec.fiware_attribute if spec and spec.fiware_attribute else self.kind,
            "dateDetected": _iso(self.first_anomalous_at),
            "dateCreated": _iso(self.opened_at),
            "dateModified": _iso(self.updated_at),
            "name": f"{self.kind} {self.alarm_type} at {self.site_name}",
            "description": self.summary,
            "source": self.detector,
            "dataProvider": "openlab",
            "owner": [f"urn:ngsi-ld:Organization:{self.owner_id}"],
            "areaServed": self.district,
            "location": {"type": "Point", "coordinates": [self.longitude, self.latitude]},
        }
        breach = _breach(self.value, self.expected_low, self.expected_high)
        if breach is not None:
            kind_of, threshold = breach
            entity["thresholdBreach"] = [
                {
                    "dateObserved": _iso(self.last_anomalous_at),
                    "measuredValue": self.value,
                    "thresholdType": kind_of,
                    "thresholdValue": threshold,
                }
            ]
        return entity

    def acknowledged(self, at: datetime) -> Alarm | None:
        """This alarm acknowledged by an operator at ``at``, or ``None`` if it already was
        (for an alarm that is no longer its sensor's current one, e.g. an old cleared one)."""
        if self.state.acknowledged:
            return None
        at = _operator_time(at)
        return self.model_copy(
            update={
                "state": self.state.acknowledge(),
                "acknowledged_at": at,
                "change": AlarmChange.ACKNOWLEDGED,
                "sequence": self.sequence + 1,
                "updated_at": at,
            }
        )


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
        fault = self._fault(scored, before) if self.alarm_type == ANOMALY else None
        if fault is not None:
            return self._faulty(scored, site, fault)
        events = self._fault_over(at)
        if scored.warming_up:
            return events
        if scored.anomalous:
            return events + self._anomalous(scored, site)
        return events + self._normal(at)

    def acknowledge(self, alarm_id: str, at: datetime) -> Alarm | None:
        """An operator acknowledges the sensor's current alarm at ``at`` (an aware time): the
        event, or ``None`` if ``alarm_id`` is not that alarm or it already was acknowledged."""
        at = _operator_time(at)
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
        at = _operator_time(at)
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

    def _fault(self, scored: ScoredReading, before: datetime | None) -> str | None:
        """The sensor's fault that ``scored`` shows (its previous reading was at ``before``), or
        ``None``: a flatline the health stage flagged, or a gap of ``gap_readings`` or more."""
        rules = self.rules
        if rules.flatline and FLATLINE in scored.quality:
            same = 0
            for _, value, _ in reversed(self.recent):
                if value != scored.value:
                    break
                same += 1
            return f"flatlined: the value {scored.value:g} unchanged in its last {same} readings"
        spec = KINDS.get(scored.kind)
        if rules.gap_readings is None or before is None or spec is None:
            return None
        silence = (scored.observed_at - before).total_seconds()
        missing = round(silence / spec.interval_seconds) - 1
        if missing < rules.gap_readings or silence < rules.gap_seconds:
            return None
        return f"no reading for {silence:.0f} s ({missing} missing at one every {spec.interval_seconds:g} s)"

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
            self.current = extended.model_copy(update={"summary": _summary(extended)})
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
            update.update(_evidence_fields(evidence))
        if escalated:
            update.update(self._recent_fields())
            update.update(change=AlarmChange.ESCALATED, sequence=alarm.sequence + 1, updated_at=evidence.at)
        self.current = alarm.model_copy(update=update)
        self.current = self.current.model_copy(update={"summary": _summary(self.current)})
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
            **_evidence_fields(evidence),
            **self._recent_fields(),
            summary="",
            reason=reason,
        )
        return alarm.model_copy(update={"summary": _summary(alarm)})

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
        return cleared.model_copy(update={"summary": _summary(cleared)})

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
        }

    @classmethod
    def from_dict(cls, data: Any, rules: AlarmRules | None = None) -> SensorAlarms | None:
        """The state :meth:`to_dict` wrote, under ``rules``, or ``None`` if ``data`` is not one (a
        record of another version, or damaged): the sensor then starts afresh.

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
            )
        except (KeyError, TypeError, ValueError, OverflowError, ValidationError):
            return None


def _evidence_fields(evidence: Evidence) -> dict[str, Any]:
    return {
        "severity": evidence.severity,
        "value": evidence.value,
        "score": evidence.score,
        "probability": evidence.probability,
        "threshold": evidence.threshold,
        "expected_low": evidence.expected_low,
        "expected_high": evidence.expected_high,
        "detector": evidence.detector,
    }


def _breach(value: float, low: float, high: float) -> tuple[Literal["UPPER", "LOWER"], float] | None:
    if value > high:
        return "UPPER", high
    if value < low:
        return "LOWER", low
    return None


def _summary(alarm: Alarm) -> str:
    breach = _breach(alarm.value, alarm.expected_low, alarm.expected_high)
    where = {None: "within", "UPPER": "above", "LOWER": "below"}[None if breach is None else breach[0]]
    text = (
        f"{alarm.severity} {alarm.kind} {alarm.alarm_type} at {alarm.site_name} ({alarm.district}):"
        f"{f' {alarm.reason};' if alarm.reason else ''} {alarm.value:g} {alarm.unit}, {where} the expected"
        f" {alarm.expected_low:g}..{alarm.expected_high:g},"
        f" anomaly probability {alarm.probability:.6g} against {alarm.threshold:g} ({alarm.detector});"
        f" {alarm.anomalous_readings} anomalous reading(s) since {_iso(alarm.first_anomalous_at)}"
    )
    if alarm.flapping:
        text += "; flapping"
    if alarm.cleared_at is not None:
        text += f"; cleared by {alarm.cleared_by} at {_iso(alarm.cleared_at)}"
    return text


def _operator_time(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"an operator's action needs an aware time, not {at.isoformat()}")
    return at.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
