"""Readings judged against their neighbours rather than by the detector alone: a reading that
stands out alone between the readings before and after it (:func:`stands_out_alone`), and a
sensor whose readings fell when the speed at its intersection did (:func:`fell_with_speed`).

>>> stands_out_alone(0.0, 80.0, 0.0, noise=5.0, times=8.0)
16.0
>>> stands_out_alone(0.0, 80.0, 79.0, noise=5.0, times=8.0) is None  # a charging session began
True
>>> before = [(minute, 120.0 + (-1) ** minute * 30.0, ()) for minute in range(5)]
>>> after = [(minute, 40.0 + (-1) ** minute * 10.0, ()) for minute in range(5, 9)]
>>> fell_with_speed([*before, *after], since=5, noise=40.0, z=3.0)
(126.0, 40.0)
>>> fell_with_speed([*before, *after[:2]], since=5, noise=40.0, z=3.0) is None  # too soon to say
True
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime

from pydantic import AwareDatetime, BaseModel

from models.alarms.alarm import Alarm, Evidence
from models.scoring import ScoredReading
from sensors.catalog import KINDS
from sensors.event_time import to_micros
from sensors.site import Site

Recent = tuple[int, float, tuple[str, ...]]
"""A sensor's recent reading as its alarm state keeps it: event time (µs), value, quality flags."""

Finding = tuple[datetime, Evidence, str, int]
"""What a rule here found: since when the sensor was anomalous, the evidence, why, and over how
many readings."""

FELL_WITH_SPEED_KINDS: frozenset[str] = frozenset({"traffic_flow", "noise_level"})
"""Kinds judged against their own recent past when the speed at their intersection falls: an
accident there slows the traffic, thins it and quietens it, but at a quiet intersection the
thinner flow (and the quieter street) is within its usual noise reading by reading."""

SPEED_KIND = "traffic_speed"


class SpeedFell(BaseModel):
    """What an alarm on a site's speed sensor tells another sensor of the site: the speed there
    began to fall at ``at`` (the record of ``alerts.neighbours``, keyed by ``sensor_id``)."""

    sensor_id: str
    site_id: str
    at: AwareDatetime
    alarm_id: str


SPEED_FELL_READINGS = 2
"""Anomalous readings in a row below the expected range after which a speed sensor's alarm tells
its site: an accident holds the speed down for many minutes, a dip (one reading) does not."""


def told_by(
    scored: ScoredReading, alarm: Alarm | None, streak: int, opened: bool, site: Site
) -> list[SpeedFell]:
    """What a speed sensor's reading ``scored`` tells the other sensors of its ``site``: once its
    active ``alarm`` holds :data:`SPEED_FELL_READINGS` anomalous readings in a row (``streak``)
    below the expected range, or opened (``opened``) on more, every sensor of
    :data:`FELL_WITH_SPEED_KINDS` hears that the speed fell when the alarm's anomaly began."""
    if alarm is None or scored.kind != SPEED_KIND or not scored.anomalous:
        return []
    if not scored.value < scored.expected_low:
        return []
    if not (streak == SPEED_FELL_READINGS or (opened and streak > SPEED_FELL_READINGS)):
        return []
    return [
        SpeedFell(
            sensor_id=sensor.sensor_id,
            site_id=site.site_id,
            at=alarm.first_anomalous_at,
            alarm_id=alarm.alarm_id,
        )
        for sensor in site.sensors
        if sensor.kind in FELL_WITH_SPEED_KINDS
    ]


LEAST_READINGS = 4
"""Readings needed on each side of the speed's fall to judge whether a sensor fell with it."""


def stands_out_alone(before: float, value: float, after: float, noise: float, times: float) -> float | None:
    """By how many times ``noise`` ``value`` is off both ``before`` and ``after``, if by more than
    ``times`` while they agree within half of ``times`` (else ``None``)."""
    jump = times * noise
    if abs(value - before) > jump and abs(value - after) > jump and abs(after - before) < jump / 2:
        return min(abs(value - before), abs(value - after)) / noise
    return None


def fell_with_speed(
    recent: Sequence[Recent], since: int, noise: float, z: float
) -> tuple[float, float] | None:
    """The mean of a sensor's readings before ``since`` (when the speed at its intersection began
    to fall) and from then on, if it fell by more than ``z`` standard errors; ``None`` if not, or
    if either side has fewer than :data:`LEAST_READINGS`; the spread is that of the readings
    before, at least the kind's ``noise``."""
    before = [value for at, value, _ in recent if at < since]
    after = [value for at, value, _ in recent if at >= since]
    if len(before) < LEAST_READINGS or len(after) < LEAST_READINGS:
        return None
    was, now = statistics.fmean(before), statistics.fmean(after)
    spread = max(statistics.stdev(before), noise)
    if was - now > z * spread * math.sqrt(1.0 / len(before) + 1.0 / len(after)):
        return was, now
    return None


def lone_reading(
    recent: Sequence[Recent], previous: ScoredReading | None, times: float | None
) -> Finding | None:
    """Whether the sensor's reading before the latest, ``previous``, stood out alone among its
    ``recent`` readings, by more than ``times`` its kind's noise (``None``: no such rule). Only
    while ``previous`` is the second latest of ``recent``."""
    if times is None or previous is None or len(recent) < 3:
        return None
    spec = KINDS.get(previous.kind)
    if spec is None:
        return None
    (_, before, _), (at, value, _), (_, after, _) = recent[-3:]
    off = stands_out_alone(before, value, after, spec.noise, times)
    if off is None or at != to_micros(previous.observed_at):
        return None
    reason = f"one reading off both its neighbours by {off:.3g} times the noise of its kind"
    return previous.observed_at, Evidence.of(previous), reason, 1


def fall_judged(
    recent: Sequence[Recent], since: datetime, scored: ScoredReading, z: float | None
) -> tuple[bool, Finding | None]:
    """Whether a fall of the speed at ``since`` can be judged for the sensor of ``scored`` yet
    (:data:`LEAST_READINGS` of its ``recent`` readings came after it, or it is of a kind not
    judged so), and what was found if the sensor fell with it (``z``: see :func:`fell_with_speed`)."""
    spec = KINDS.get(scored.kind)
    if z is None or spec is None or scored.kind not in FELL_WITH_SPEED_KINDS:
        return True, None
    start = to_micros(since)
    after = sum(1 for at, _, _ in recent if at >= start)
    if after < LEAST_READINGS:
        return False, None
    fell = fell_with_speed(recent, start, spec.noise, z)
    if fell is None:
        return True, None
    reason = f"fell from {fell[0]:.3g} to {fell[1]:.3g} on average as the speed at its intersection did"
    return True, (since, Evidence.of(scored), reason, after)
