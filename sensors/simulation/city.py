"""A simulated city a person would believe: rhythms by kind, weather, cadence, labelled anomalies.

The simulator is driven by event time: ``tick(at)`` returns the readings of every sensor that
was due to report since the previous tick (each sensor reports every ``interval_seconds`` of its
kind, at its own phase), stamped with their own report times and in time order; the first tick
returns one reading per sensor, from the last interval up to ``at``. Event time may run faster
or slower than wall time; that is the feeder's business (``streams/ingest/feed.py``).

What a reading shows (Gwangju, 35.15° N, local time KST = UTC+9):

- traffic at an intersection: flow with two weekday rush hours (08:00, 18:00) and a broad weekend
  day, speed falling as flow rises, noise level following flow; one intersection's sensors share
  its state, including an accident (:mod:`sensors.simulation.anomalies`);
- car parks full by day on weekdays, less so at weekends; footfall at bus stops with rush hours
  and a weekend shape; waste bins filling between daily collections;
- solar output from the sun's position for the date and hour (:func:`solar_elevation`) on
  south-facing panels tilted 30°, through more air the lower the sun, less under cloud, exactly 0
  between sunset and sunrise; street lights on from dusk to dawn (dimmed after midnight), exactly
  0 by day;
- temperature: a seasonal level by day of year and a daily cycle (coolest near 05:00, warmest
  near 15:00, flatter under cloud); humidity inverse to it and high in rain;
- PM2.5, PM10 and NO2 rising with the site's traffic and washed out by rain; river levels rising
  after rain; wind by district; rain comes in episodes, per district, from a deterministic
  weather process (wetter in the summer monsoon);
- EV chargers in sessions (on/off blocks at a power level that tapers at the end), batteries
  charging by day and discharging in the evening, grid load with the working day.

Each reading adds the kind's measurement noise (``SensorKind.noise``), except a true zero (a
plant at night, a lamp by day, an idle charger). Anomalies are injected at ``anomaly_rate`` new
anomalies per sensor-hour of event time and labelled; ``take_labels()`` drains the labels of the
anomalies that have started. Values always stay in the kind's physical range.

Deterministic: the same registry, seed, ``anomaly_rate`` and tick times give byte-identical
readings and labels (in fact the same first tick is enough: how the time after it is cut into
ticks changes nothing). Measurement noise and anomalies draw from separate generators, so the
same seed with ``anomaly_rate=0`` gives the very same readings outside the labelled spans: the
counterfactual of every anomaly. A sensor reports at ``first tick - phase + k * interval``, so
runs started at different moments stamp their readings at different microseconds (unless they
started a whole number of intervals apart, to the microsecond): a rerun over the same hour adds
points to InfluxDB rather than overwriting the last run's.

``corrupt`` turns a good event into one of the malformed kinds that field gateways really send,
for exercising the dead-letter path.

>>> from datetime import UTC, datetime
>>> city = SiteRegistry.generate(count=2, seed=3)
>>> sim = CitySimulator(city, seed=3)
>>> events = sim.tick(datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
>>> len(events) == sum(len(site.sensors) for site in city.sites)
True
>>> key, value = events[0]
>>> from sensors.reading import Reading
>>> Reading.model_validate_json(value).sensor_id == key.decode()
True
>>> sim.take_labels()
[]
"""

from __future__ import annotations

import bisect
import random
import time
from datetime import UTC, datetime
from statistics import NormalDist

from sensors.catalog import KINDS
from sensors.labels import Label
from sensors.simulation.anomalies import AnomalyInjector, Incident, Target
from sensors.simulation.character import SiteCharacter
from sensors.simulation.kinds import GATED, MODELS, Model, generic_model
from sensors.simulation.minute import CityMinute
from sensors.simulation.sky import MICROS, Weather
from sensors.sites import SiteRegistry

DEFAULT_ANOMALY_RATE = 0.06
"""New anomalies per sensor-hour of event time: each sensor about once in 17 hours. ``openlab
run``'s default feed (6,256 readings a second for 150 s) plays the whole city (6,256 sensors, 82
readings per event second) for about 3.2 event hours, about 20,000 sensor-hours: about 1,200
anomalies, some 600 of them after their sensor's warm-up, and at least about 20 of each type even
at night (when most dips find no room below the value and become spikes): enough to judge the
pipeline per type (``openlab run``'s table of episodes caught)."""


_NORMAL_BITS = 14
_NORMAL = list(map(NormalDist().inv_cdf, ((i + 0.5) / 2**_NORMAL_BITS for i in range(2**_NORMAL_BITS))))
"""Standard normal deviates at 16,384 evenly spaced quantiles: measurement noise is one of them,
drawn with a single ``getrandbits`` (several times cheaper than ``random.gauss``)."""


def _micros(at: datetime) -> int:
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * MICROS + delta.microseconds


class CitySimulator:
    """Readings for every sensor of a registry, driven by event time, with labelled anomalies.

    ``anomaly_rate`` is the expected number of new anomalies per sensor-hour of event time
    (``0``: none; see :data:`DEFAULT_ANOMALY_RATE`).
    """

    def __init__(
        self, registry: SiteRegistry, seed: int = 0, anomaly_rate: float = DEFAULT_ANOMALY_RATE
    ) -> None:
        if anomaly_rate < 0:
            raise ValueError(f"anomaly_rate must be >= 0, not {anomaly_rate}")
        self.seed = seed
        self.anomaly_rate = anomaly_rate
        self.rng = random.Random(seed)  # measurement noise only (see _NORMAL)
        character = random.Random(f"openlab-sites-{seed}")
        self._incidents: dict[int, list[Incident]] = {}
        self._weather = Weather(seed)
        self._days: dict[int, tuple[int, bool]] = {}
        self._minutes: dict[int, CityMinute] = {}
        self._stamps: dict[int, str] = {}
        self._targets: list[Target] = []
        # Per sensor: key, JSON before the value, JSON between value and time, model, site, noise,
        # low, high, gated.
        self._sensors: list[tuple[bytes, str, str, Model, SiteCharacter, float, float, float, bool]] = []
        groups: dict[int, list[tuple[int, int]]] = {}
        for site_index, site in enumerate(registry.sites):
            state = SiteCharacter.draw(site_index, site, character, self._incidents)
            for sensor in site.sensors:
                kind = KINDS[sensor.kind]
                index = len(self._sensors)
                interval = round(kind.interval_seconds * MICROS)
                phase = state.phase % interval
                groups.setdefault(interval, []).append((phase, index))
                self._sensors.append(
                    (
                        sensor.sensor_id.encode(),
                        f'{{"sensor_id":"{sensor.sensor_id}","site_id":"{site.site_id}",'
                        f'"kind":"{kind.name}","value":',
                        f',"unit":"{kind.unit}","observed_at":"',
                        MODELS.get(kind.name) or generic_model(kind),
                        state,
                        kind.noise,
                        kind.low,
                        kind.high,
                        kind.name in GATED,
                    )
                )
                self._targets.append(
                    Target(
                        index=index,
                        sensor_id=sensor.sensor_id,
                        site_id=site.site_id,
                        site_index=site_index,
                        kind=kind,
                        interval=interval,
                        phase=phase,
                        road=site.facility == "road_intersection",
                    )
                )
        # Per cadence: the sensors' phases, sorted, and their indexes in the same order.
        self._groups: list[tuple[int, list[int], list[int]]] = []
        for interval, members in sorted(groups.items()):
            members.sort()
            self._groups.append((interval, [p for p, _ in members], [i for _, i in members]))
        self._longest = max((interval for interval, _, _ in self._groups), default=MICROS)
        self._seq = [0] * len(self._sensors)
        self._origin: int | None = None
        self._last = 0
        self._injector: AnomalyInjector | None = None
        self._labels: list[Label] = []

    @property
    def readings_per_second(self) -> float:
        """Readings per second of event time from the whole registry, at its sensors' cadences."""
        return sum(len(indexes) * MICROS / interval for interval, _, indexes in self._groups)

    @property
    def longest_interval(self) -> float:
        """The longest cadence of the registry's sensors, in seconds: how far back a first tick reaches."""
        return self._longest / MICROS

    def take_labels(self) -> list[Label]:
        """The labels of the anomalies that started up to the last tick, each once, in start order."""
        labels, self._labels = self._labels, []
        return labels

    def clean_value(self, index: int, at: int) -> float:
        """Sensor ``index``'s noise-free value at ``at`` (µs since the epoch), in its physical range."""
        _, _, _, model, site, _, low, high, _ = self._sensors[index]
        return min(max(model(site, self._now(at // 60_000_000), at), low), high)

    def _now(self, minute: int) -> CityMinute:
        now = self._minutes.get(minute)
        if now is None:
            if len(self._minutes) > 2048:
                self._minutes.clear()
            now = self._minutes[minute] = CityMinute(minute, self._weather, self._days)
        return now

    def _stamp(self, second: int) -> str:
        stamp = self._stamps.get(second)
        if stamp is None:
            if len(self._stamps) > 4096:
                self._stamps.clear()
            t = time.gmtime(second)
            stamp = self._stamps[second] = (
                f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}."
            )
        return stamp

    def _due(self, after: int | None, until: int) -> list[int]:
        """Keys ``(time - base) * n + index`` of the reports in ``(after, until]``, sorted."""
        origin = self._origin
        assert origin is not None
        count = len(self._sensors)
        base = origin - self._longest
        b = until - origin
        keys: list[int] = []
        for interval, phases, indexes in self._groups:
            # A sensor reports at origin - phase + k * interval, k >= 0.
            a = -interval if after is None else after - origin
            for k in range(max(0, a // interval), b // interval + 2):
                lo = bisect.bisect_left(phases, k * interval - b)
                hi = bisect.bisect_left(phases, k * interval - a, lo)
                offset = (origin + k * interval - base) * count
                keys.extend(offset - phases[j] * count + indexes[j] for j in range(lo, hi))
        keys.sort()
        return keys

    def tick(self, at: datetime) -> list[tuple[bytes, bytes]]:
        """The readings due since the previous tick, up to event time ``at``: ``(key, value)`` pairs.

        Keys are sensor ids; values are ``Reading`` JSON stamped with each report's own time,
        in time order. The first tick gives one reading per sensor (its last report up to
        ``at``); a tick at or before the previous one gives none.
        """
        if at.tzinfo is None:
            raise ValueError(f"the event time {at} has no time zone")
        until = _micros(at)
        after: int | None = self._last
        if self._origin is None:
            self._origin, after = until, None
            self._injector = AnomalyInjector(
                targets=self._targets,
                seed=self.seed,
                rate=self.anomaly_rate,
                origin=until,
                clean_value=self.clean_value,
                incidents=self._incidents,
            )
        elif until <= self._last:
            return []
        self._last = until
        injector = self._injector
        assert injector is not None
        self._labels.extend(injector.advance(until))
        faults = injector.faults
        keys = self._due(after, until)
        count = len(self._sensors)
        base = self._origin - self._longest
        sensors, seqs, normal, draw = self._sensors, self._seq, _NORMAL, self.rng.getrandbits
        minutes, stamps = self._minutes, self._stamps
        events = []
        for key in keys:
            moment, index = divmod(key, count)
            moment += base
            key_bytes, head, middle, model, site, noise, low, high, gated = sensors[index]
            now = minutes.get(moment // 60_000_000) or self._now(moment // 60_000_000)
            value = model(site, now, moment)
            if value != 0.0 or not gated:
                value += normal[draw(_NORMAL_BITS)] * noise
            seq = seqs[index] = seqs[index] + 1
            if faults and index in faults:
                fault = injector.fault_at(index, moment)
                if fault is not None:
                    changed = fault.apply(value, moment)
                    if changed is None:
                        continue  # a dropout: counted by the sensor, never received
                    value = changed
            if value < low:
                value = low
            elif value > high:
                value = high
            second, micros = divmod(moment, MICROS)
            stamp = stamps.get(second) or self._stamp(second)
            events.append((key_bytes, f'{head}{value!r}{middle}{stamp}{micros:06d}Z","seq":{seq}}}'.encode()))
        return events
