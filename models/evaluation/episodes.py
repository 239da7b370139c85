"""Injected anomaly episodes joined with the alarms raised: what the live pipeline caught, per type.

The simulator's labels (:class:`sensors.simulation.anomalies.Label`) say when each sensor's readings were
made anomalous; the alarm stage says when it raised an alarm on a sensor (an ``opened`` alarm
event). An *episode* is judged when it starts after its sensor's detector warmed up and while
the sensor was watched, at least its grace before the watch ends (an episode in the watch's
last minutes has had no readings to be caught by). It is *caught* when an alarm was raised on
its sensor from its start until its end plus a grace of ``grace_readings`` of the sensor's
readings (an alarm opens only after a few anomalous readings in a row, and a dropout shows only
once the readings come back); its *delay* is the first such alarm's raise time less its start.
An alarm raised outside every episode (with its grace) of its sensor, those that started during
the warm-up included, is a *false alarm*; false alarms are counted per 1,000 sensor-hours of
event time watched after the warm-up.

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2026, 11, 29, tzinfo=UTC)
>>> def minutes(n):
...     return t0 + timedelta(minutes=n)
>>> spike = Label(sensor_id="GJ-00001.air_pm25", site_id="GJ-00001", kind="air_pm25",
...               anomaly=AnomalyType.SPIKE, start=minutes(90), end=minutes(90))
>>> watched = {"GJ-00001.air_pm25": Watch(warm_from=minutes(60), until=minutes(180))}
>>> raised = [Raised("GJ-00001.air_pm25", minutes(92)), Raised("GJ-00001.air_pm25", minutes(150))]
>>> table = judge_episodes([spike], raised, watched)
>>> row = table.row(AnomalyType.SPIKE)
>>> row.episodes, row.caught, row.median_delay_seconds
(1, 1, 120.0)
>>> table.false_alarms, table.sensor_hours, table.false_alarms_per_1000_hours
(1, 2.0, 500.0)
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.alarms import Alarm, AlarmChange
from sensors.catalog import KINDS
from sensors.labels import AnomalyType, Label

GRACE_READINGS = 5
"""Readings of its sensor after an episode's end during which an alarm raised still catches it:
the default alarm rule opens on the third anomalous reading in a row, and a dropout can show
only in the readings after it."""

CATCH_GOAL = 0.8
"""The share of judged episodes the pipeline is meant to catch."""

FALSE_ALARM_GOAL = 1.0
"""The false alarms per 1,000 sensor-hours the pipeline is meant to stay within."""


@dataclass(frozen=True, slots=True)
class Raised:
    """An alarm raised on ``sensor_id`` at ``at`` (event time)."""

    sensor_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Watch:
    """The span of event time during which a sensor's detector could raise alarms: from its first
    reading after the warm-up to its last reading."""

    warm_from: datetime
    until: datetime

    @property
    def hours(self) -> float:
        return max((self.until - self.warm_from).total_seconds(), 0.0) / 3600.0


@dataclass(frozen=True, slots=True)
class TypeRow:
    """The episodes of one anomaly type: how many were judged, caught, and how late."""

    anomaly: AnomalyType
    episodes: int
    delays: tuple[float, ...]
    """Each caught episode's delay in seconds: its first alarm's raise time less its start."""

    @property
    def caught(self) -> int:
        return len(self.delays)

    @property
    def catch_rate(self) -> float:
        return self.caught / self.episodes if self.episodes else 0.0

    @property
    def median_delay_seconds(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None


@dataclass(frozen=True, slots=True)
class EpisodeTable:
    """Every anomaly type's row, and the false alarms over the sensor-hours watched."""

    rows: tuple[TypeRow, ...]
    false_alarms: int
    sensor_hours: float
    grace_readings: int

    def row(self, anomaly: AnomalyType) -> TypeRow:
        return next(row for row in self.rows if row.anomaly is anomaly)

    @property
    def episodes(self) -> int:
        return sum(row.episodes for row in self.rows)

    @property
    def caught(self) -> int:
        return sum(row.caught for row in self.rows)

    @property
    def catch_rate(self) -> float:
        return self.caught / self.episodes if self.episodes else 0.0

    @property
    def median_delay_seconds(self) -> float | None:
        delays = [delay for row in self.rows for delay in row.delays]
        return statistics.median(delays) if delays else None

    @property
    def false_alarms_per_1000_hours(self) -> float:
        return 1000.0 * self.false_alarms / self.sensor_hours if self.sensor_hours else 0.0

    @property
    def title(self) -> str:
        """The table's title: what it judges, and whether the goals are met."""
        verdict = "meets" if self.meets_goals else "misses"
        return (
            f"alarms against injected episodes after warm-up (grace {self.grace_readings} readings):"
            f" {verdict} the goals of {CATCH_GOAL:.0%} caught and at most {FALSE_ALARM_GOAL:g} false"
            " alarm per 1,000 sensor-hours"
        )

    @property
    def meets_goals(self) -> bool:
        """At least :data:`CATCH_GOAL` of the judged episodes caught, and at most
        :data:`FALSE_ALARM_GOAL` false alarms per 1,000 sensor-hours."""
        return (
            self.episodes > 0
            and self.catch_rate >= CATCH_GOAL
            and self.false_alarms_per_1000_hours <= FALSE_ALARM_GOAL
        )


def raised_alarms(alarms: Iterable[Alarm]) -> list[Raised]:
    """The alarms raised among alarm events: each alarm's ``opened`` event, once (a replayed
    batch may publish one twice), at the time it opened."""
    opened = {alarm.alarm_id: alarm for alarm in alarms if alarm.change is AlarmChange.OPENED}
    return [Raised(alarm.sensor_id, alarm.opened_at) for alarm in opened.values()]


def watched_after_warmup(
    warming: Mapping[tuple[str, str], datetime], last: Mapping[tuple[str, str], datetime]
) -> dict[str, Watch]:
    """Each sensor's watch, by sensor id, from the times of its last reading warming up
    (``warming``) and of its last reading (``last``), both by (sensor id, kind): from its reading
    after the last one warming up (one interval of its kind later) to its last reading.

    Not from its first reading past the warm-up: in a store that also holds an earlier run's
    readings of the same stretch of event time (``openlab run``'s ends at the clock), that first
    one may be the earlier run's. An earlier run's warm-up ended before this run's did, and its
    last readings are older than this run's, so neither of these two times is ever one of its.

    >>> from datetime import UTC
    >>> t0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
    >>> flow = ("S.traffic_flow", "traffic_flow")
    >>> spans = watched_after_warmup({flow: t0}, {flow: t0 + timedelta(hours=2)})
    >>> spans["S.traffic_flow"].warm_from - t0, spans["S.traffic_flow"].hours
    (datetime.timedelta(seconds=60), 1.9833333333333334)
    >>> watched_after_warmup({flow: t0}, {flow: t0})  # it never warmed up
    {}
    """
    watched = {}
    for (sensor_id, kind), at in warming.items():
        warm_from = at + timedelta(seconds=KINDS[kind].interval_seconds)
        until = last.get((sensor_id, kind))
        if until is not None and until >= warm_from:
            watched[sensor_id] = Watch(warm_from, until)
    return watched


def grace_of(kind: str, readings: int = GRACE_READINGS) -> timedelta:
    """The grace after an episode of a sensor of ``kind``: ``readings`` of its intervals.

    >>> grace_of("temperature")
    datetime.timedelta(seconds=1500)
    """
    return timedelta(seconds=readings * KINDS[kind].interval_seconds)


def judge_episodes(
    labels: Iterable[Label],
    raised: Iterable[Raised],
    watched: Mapping[str, Watch],
    grace_readings: int = GRACE_READINGS,
) -> EpisodeTable:
    """Join the injected episodes ``labels`` with the alarms ``raised``, per anomaly type, over
    the sensors ``watched`` (by sensor id; a sensor missing there never warmed up)."""
    by_sensor: dict[str, list[datetime]] = {}
    for alarm in raised:
        by_sensor.setdefault(alarm.sensor_id, []).append(alarm.at)
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    judged: dict[AnomalyType, list[float | None]] = {anomaly: [] for anomaly in AnomalyType}
    for label in labels:
        grace = grace_of(label.kind, grace_readings)
        spans.setdefault(label.sensor_id, []).append((label.start, label.end + grace))
        watch = watched.get(label.sensor_id)
        if watch is None or not watch.warm_from <= label.start <= watch.until - grace:
            continue
        inside = [at for at in by_sensor.get(label.sensor_id, ()) if label.start <= at <= label.end + grace]
        judged[label.anomaly].append((min(inside) - label.start).total_seconds() if inside else None)
    false_alarms = sum(
        1
        for sensor_id, times in by_sensor.items()
        if sensor_id in watched
        for at in times
        if not any(start <= at <= end for start, end in spans.get(sensor_id, ()))
    )
    return EpisodeTable(
        rows=tuple(_row(anomaly, delays) for anomaly, delays in judged.items()),
        false_alarms=false_alarms,
        sensor_hours=sum(watch.hours for watch in watched.values()),
        grace_readings=grace_readings,
    )


def _row(anomaly: AnomalyType, delays: Sequence[float | None]) -> TypeRow:
    return TypeRow(anomaly, len(delays), tuple(delay for delay in delays if delay is not None))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table_rows(table: EpisodeTable) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The header and rows of the per-type table, with a row for all types and one for the false
    alarms.

    >>> spikes = TypeRow(AnomalyType.SPIKE, 4, (60.0, 90.0, 300.0))
    >>> header, rows = table_rows(EpisodeTable((spikes, TypeRow(AnomalyType.DROPOUT, 0, ())), 2, 4000.0, 5))
    >>> header
    ('anomaly type', 'episodes', 'caught', 'caught %', 'median delay (s)')
    >>> for row in rows:
    ...     print(row)
    ('spike', '4', '3', '75', '90')
    ('all types', '4', '3', '75', '90')
    ('false alarms', '2', '', '', '0.50 per 1,000 sensor-hours (4,000 h)')
    """
    header: tuple[str, ...] = ("anomaly type", "episodes", "caught", "caught %", "median delay (s)")
    rows: list[tuple[str, ...]] = [
        (
            row.anomaly.value,
            str(row.episodes),
            str(row.caught),
            f"{100 * row.catch_rate:.0f}",
            _seconds(row.median_delay_seconds),
        )
        for row in table.rows
        if row.episodes
    ]
    rows.append(
        (
            "all types",
            str(table.episodes),
            str(table.caught),
            f"{100 * table.catch_rate:.0f}",
            _seconds(table.median_delay_seconds),
        )
    )
    rows.append(
        (
            "false alarms",
            str(table.false_alarms),
            "",
            "",
            f"{table.false_alarms_per_1000_hours:.2f} per 1,000 sensor-hours ({table.sensor_hours:,.0f} h)",
        )
    )
    return header, rows
