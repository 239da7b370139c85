"""Detectors judged on the simulated city's labelled stream, per anomaly type.

The simulator (:class:`sensors.simulation.city.CitySimulator`) injects labelled anomalies into a small
city's readings; every sensor gets its kind's detector, as in the pipeline. A label is *caught*
when its sensor's detector flags a reading inside the label's span or within ``GRACE`` readings
after it (a dropout shows only once the readings come back). Consecutive flagged readings of a
sensor are one *alert*; an alert touching a span is true, any other false. Recall per type is
caught labels over labels; precision per type is the type's true alerts over those plus the false
alerts, which belong to no type, shared out in proportion to each type's labels. Labels that start
while their sensor's detector still warms up are left out.

>>> from models.detectors.registry import detector_for
>>> stream = simulate_city(sites=3, days=0.25, seed=2, anomaly_rate=0.5)
>>> result = evaluate_city("detector_for", detector_for, stream)
>>> result.readings == sum(len(readings) for readings in stream.readings.values())
True
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from models.alarms import AlarmChange, AlarmRules, SensorAlarms
from models.alarms.neighbours import SPEED_KIND, told_by
from models.detectors.detector import SensorDetector
from models.evaluation.episodes import EpisodeTable, Raised, Watch, judge_episodes
from models.scoring import score_reading
from sensors.catalog import KINDS
from sensors.health import HealthRules, SensorState
from sensors.labels import AnomalyType, Label
from sensors.reading import Reading
from sensors.simulation.city import CitySimulator
from sensors.sites import SiteRegistry

GRACE = 3
"""Readings after a span's end in which a flag still catches its label."""

START = datetime(2026, 11, 23, tzinfo=UTC)
"""When the simulated stream starts (a Monday)."""


@dataclass(frozen=True, slots=True)
class CityStream:
    """Each sensor's readings (value, time) in time order, its kind, and the labels."""

    readings: dict[str, list[tuple[float, datetime]]]
    kinds: dict[str, str]
    labels: tuple[Label, ...]


def simulate_city(
    sites: int = 40, days: float = 4.0, seed: int = 5, anomaly_rate: float = 0.04, step_minutes: float = 10.0
) -> CityStream:
    """The readings and labels of ``sites`` simulated sites over ``days`` of event time."""
    city = SiteRegistry.generate(count=sites, seed=seed)
    simulator = CitySimulator(city, seed=seed, anomaly_rate=anomaly_rate)
    readings: dict[str, list[tuple[float, datetime]]] = {}
    kinds: dict[str, str] = {}
    labels: list[Label] = []
    step = timedelta(minutes=step_minutes)
    at = START
    for _ in range(round(days * 1440 / step_minutes)):
        at += step
        for _, event in simulator.tick(at):
            reading = Reading.model_validate_json(event)
            readings.setdefault(reading.sensor_id, []).append((reading.value, reading.observed_at))
            kinds[reading.sensor_id] = reading.kind
        labels.extend(simulator.take_labels())
    return CityStream(readings, kinds, tuple(labels))


@dataclass(frozen=True, slots=True)
class TypeResult:
    """How a detector did on one anomaly type."""

    anomaly: AnomalyType
    labels: int
    caught: int
    true_alerts: int
    precision: float
    mean_delay_seconds: float | None

    @property
    def recall(self) -> float:
        return self.caught / self.labels if self.labels else 0.0


@dataclass(frozen=True, slots=True)
class CityResult:
    """A detector over the simulated city: per type, and its false alerts and cost."""

    detector: str
    readings: int
    seconds: float
    types: tuple[TypeResult, ...]
    false_alerts: int
    true_alerts: int

    @property
    def precision(self) -> float:
        alerts = self.true_alerts + self.false_alerts
        return self.true_alerts / alerts if alerts else 0.0

    @property
    def micros_per_reading(self) -> float:
        return 1e6 * self.seconds / self.readings if self.readings else 0.0


def evaluate_city(name: str, detector_of: Callable[[str], SensorDetector], stream: CityStream) -> CityResult:
    """Run a fresh detector per sensor (``detector_of(kind)``) over the stream and judge it per type."""
    by_sensor: dict[str, list[Label]] = {}
    for label in stream.labels:
        by_sensor.setdefault(label.sensor_id, []).append(label)
    labels: Counter[AnomalyType] = Counter()
    caught: Counter[AnomalyType] = Counter()
    true_alerts: Counter[AnomalyType] = Counter()
    delays: dict[AnomalyType, list[float]] = {}
    false_alerts = 0
    readings = 0
    seconds = 0.0
    for sensor_id, series in stream.readings.items():
        detector = detector_of(stream.kinds[sensor_id])
        observe = detector.observe
        started = time.perf_counter()
        verdicts = [observe(value, at) for value, at in series]
        seconds += time.perf_counter() - started
        readings += len(series)
        warm_from = series[detector.warmup][1] if len(series) > detector.warmup else None
        grace = timedelta(seconds=GRACE * KINDS[stream.kinds[sensor_id]].interval_seconds)
        # Labels that start while the detector warms up are not its to catch.
        spans = [label for label in by_sensor.get(sensor_id, ()) if warm_from and label.start >= warm_from]
        first_flag: dict[int, datetime] = {}
        in_alert: set[int] | None = None
        for verdict, (_, at) in zip(verdicts, series, strict=True):
            touched = {i for i, label in enumerate(spans) if label.start <= at <= label.end + grace}
            if not verdict.anomalous:
                if in_alert is not None:
                    false_alerts += not in_alert
                    for i in in_alert:
                        true_alerts[spans[i].anomaly] += 1
                in_alert = None
                continue
            in_alert = touched if in_alert is None else in_alert | touched
            for i in touched:
                first_flag.setdefault(i, at)
        if in_alert is not None:
            false_alerts += not in_alert
            for i in in_alert:
                true_alerts[spans[i].anomaly] += 1
        for i, label in enumerate(spans):
            labels[label.anomaly] += 1
            if i in first_flag:
                caught[label.anomaly] += 1
                delays.setdefault(label.anomaly, []).append((first_flag[i] - label.start).total_seconds())
    total_labels = sum(labels.values())
    types = []
    for anomaly in AnomalyType:
        share = false_alerts * labels[anomaly] / total_labels if total_labels else 0.0
        true = true_alerts[anomaly]
        found = delays.get(anomaly)
        types.append(
            TypeResult(
                anomaly=anomaly,
                labels=labels[anomaly],
                caught=caught[anomaly],
                true_alerts=true,
                precision=true / (true + share) if true + share else 0.0,
                mean_delay_seconds=sum(found) / len(found) if found else None,
            )
        )
    return CityResult(name, readings, seconds, tuple(types), false_alerts, sum(true_alerts.values()))


def judge_city_alarms(
    detector_of: Callable[[str], SensorDetector],
    stream: CityStream,
    registry: SiteRegistry,
    rules: AlarmRules | None = None,
    health: HealthRules | None = None,
) -> EpisodeTable:
    """Score the stream as the pipeline does (each reading past its sensor's health state under
    ``health``, which flags a flatline; a fresh ``detector_of(kind)`` per sensor; each scored
    reading into the sensor's alarm state under ``rules``) and judge the alarms raised against the
    labels, per type (:func:`models.evaluation.episodes.judge_episodes`). A reading's sequence number is its
    place in the sensor's cadence, so a dropout's missing readings are missing numbers, as live.
    The speed sensors go first, so that what their alarms tell the other sensors of their site
    (:func:`models.alarms.neighbours.told_by`) reaches each one from the reading that told it.

    >>> from models.detectors.registry import detector_for
    >>> stream = simulate_city(sites=3, days=0.5, seed=2, anomaly_rate=0.5)
    >>> table = judge_city_alarms(detector_for, stream, SiteRegistry.generate(count=3, seed=2))
    >>> 0 < table.episodes < len(stream.labels), table.sensor_hours > 0
    (True, True)
    """
    raised: list[Raised] = []
    watched: dict[str, Watch] = {}
    told: dict[str, list[tuple[datetime, datetime]]] = {}
    """By sensor: when an alarm at its site told it, and since when the speed there fell."""
    speeds_first = sorted(stream.readings.items(), key=lambda item: stream.kinds[item[0]] != SPEED_KIND)
    for sensor_id, series in speeds_first:
        found = registry.sensor(sensor_id)
        if found is None or not series:
            continue
        site, sensor = found
        detector = detector_of(sensor.kind)
        alarms = SensorAlarms(sensor_id, rules or AlarmRules())
        interval = timedelta(seconds=KINDS[sensor.kind].interval_seconds)
        first = series[0][1]
        state: SensorState | None = None
        warm_from = None
        notices = sorted(told.get(sensor_id, ()))
        for offset, (value, at) in enumerate(series):
            while notices and notices[0][0] <= at:
                alarms.speed_fell(notices.pop(0)[1])
            reading = Reading.model_construct(
                sensor_id=sensor_id,
                site_id=site.site_id,
                kind=sensor.kind,
                value=value,
                unit=sensor.unit,
                observed_at=at,
                seq=1 + round((at - first) / interval),
                quality=(),
            )
            state = state or SensorState.of(reading, partition=0)
            admitted = state.admit(reading, offset, health or HealthRules()).reading
            if not isinstance(admitted, Reading):
                continue
            scored = score_reading(detector, admitted)
            if warm_from is None and not scored.warming_up:
                warm_from = at
            opened = [alarm for alarm in alarms.observe(scored, site) if alarm.change is AlarmChange.OPENED]
            raised += [Raised(sensor_id, alarm.opened_at) for alarm in opened]
            for notice in told_by(scored, alarms.active, alarms.streak, bool(opened), site):
                told.setdefault(notice.sensor_id, []).append((at, notice.at))
        if warm_from is not None:
            watched[sensor_id] = Watch(warm_from, series[-1][1])
    return judge_episodes(stream.labels, raised, watched)
