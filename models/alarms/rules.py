"""The rules of alarms: when one opens, clears and is flapping (:class:`AlarmRules`), how grave an
anomalous reading is (:func:`severity_of`), and the alarm types, severities, states and changes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from models.scoring import ScoredReading
from sensors.catalog import KINDS
from sensors.health import FLATLINE, SEQUENCE_RESET

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
    open_blip: float | None = 8.0
    """Or: one reading that stands out alone, off both its neighbours by more than this many times
    its kind's measurement noise while they agree within half that, opens an alarm as the next
    reading arrives (``None``: no such rule). It catches the spike whose size the detector finds
    usual, such as an idle charger's one-minute jump to a charging session's power. On 1,200
    simulated sites for 4 hours (seeds 1 and 2, started at 3, 14 and 18 o'clock) 6 and 8 both
    raised no false alarm in over 5,000 sensor-hours; 8 leaves room for noise heavier than the
    catalog's."""
    fell_with_speed: float | None = 2.5
    """Or: a traffic flow or noise level sensor whose readings since the speed at its intersection
    began to fall (an alarm on the speed sensor, its value below the expected range) are lower on
    average than its readings before, by more than this many standard errors, opens an alarm
    (``None``: no such rule; see :mod:`models.alarms.neighbours`). It judges 4 readings on each
    side among the ``recent_values``, so it needs at least 8 of them."""
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
        if self.open_blip is not None and self.open_blip <= 0:
            raise ValueError("open_blip must be positive")
        if self.fell_with_speed is not None and self.fell_with_speed <= 0:
            raise ValueError("fell_with_speed must be positive")
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


def fault_shown(
    rules: AlarmRules,
    scored: ScoredReading,
    recent: Sequence[tuple[int, float, tuple[str, ...]]],
    before: datetime | None,
) -> str | None:
    """The sensor's fault that ``scored`` shows, or ``None``: a flatline the health stage flagged,
    or a gap of ``rules.gap_readings`` or more since its previous reading (at ``before``).
    ``recent`` are the sensor's latest readings (event time, value, flags), ``scored`` last."""
    if rules.flatline and FLATLINE in scored.quality:
        same = 0
        for _, value, _ in reversed(recent):
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
