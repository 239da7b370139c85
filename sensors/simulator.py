"""A simulated city a person would believe: rhythms by kind, weather, cadence, labelled anomalies.

The simulator is driven by event time: ``tick(at)`` returns the readings of every sensor that
was due to report since the previous tick (each sensor reports every ``interval_seconds`` of its
kind, at its own phase), stamped with their own report times and in time order; the first tick
returns one reading per sensor, from the last interval up to ``at``. Event time may run faster
or slower than wall time; that is the feeder's business (``streams/ingest/feed.py``).

What a reading shows (Gwangju, 35.15° N, local time KST = UTC+9):

- traffic at an intersection: flow with two weekday rush hours (08:00, 18:00) and a broad weekend
  day, speed falling as flow rises, noise level following flow; one intersection's sensors share
  its state, including an accident (:mod:`sensors.anomalies`);
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
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from statistics import NormalDist

from sensors.anomalies import AnomalyInjector, Incident, Label, Target
from sensors.catalog import KINDS, SensorKind
from sensors.cleaning import Reason
from sensors.sites import District, Site, SiteRegistry

KST = timezone(timedelta(hours=9), "KST")
LATITUDE = 35.15
"""Gwangju's latitude (degrees north): the sun's path and so solar output and street lights."""
LONGITUDE = 126.85
"""Gwangju's longitude (degrees east): when the sun is highest (about 12:30 KST)."""

PANEL_TILT = 30.0
"""Tilt of the solar panels (degrees, facing south)."""

DEFAULT_ANOMALY_RATE = 0.06
"""New anomalies per sensor-hour of event time: each sensor about once in 17 hours. ``openlab
run``'s default feed (6,256 readings a second for 150 s) plays the whole city (6,256 sensors, 82
readings per event second) for about 3.2 event hours, about 20,000 sensor-hours: about 1,200
anomalies, some 600 of them after their sensor's warm-up, and at least about 20 of each type even
at night (when most dips find no room below the value and become spikes): enough to judge the
pipeline per type (``openlab run``'s table of episodes caught)."""

_MICROS = 1_000_000
_KST_SECONDS = 9 * 3600
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_TWO_PI = 2.0 * math.pi

# --- the sun ---------------------------------------------------------------------------------


def _sun_sine(doy: int, utc_hours: float, latitude: float = LATITUDE, longitude: float = LONGITUDE) -> float:
    """Sine of the sun's elevation (NOAA's approximation: good to a fraction of a degree)."""
    gamma = _TWO_PI / 365.0 * (doy - 1 + (utc_hours - 12.0) / 24.0)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    solar_minutes = utc_hours * 60.0 + eqtime + 4.0 * longitude
    hour_angle = math.radians(solar_minutes / 4.0 - 180.0)
    lat = math.radians(latitude)
    return math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)


def solar_elevation(at: datetime) -> float:
    """The sun's elevation over Gwangju at ``at``, in degrees (negative: below the horizon).

    >>> round(solar_elevation(datetime(2026, 6, 21, 12, 30, tzinfo=KST)))  # midsummer noon
    78
    >>> round(solar_elevation(datetime(2026, 12, 21, 12, 30, tzinfo=KST)))  # midwinter noon
    31
    >>> solar_elevation(datetime(2026, 6, 21, 0, 0, tzinfo=KST)) < 0
    True
    """
    utc = at.astimezone(UTC)
    hours = utc.hour + utc.minute / 60 + utc.second / 3600
    return math.degrees(math.asin(max(-1.0, min(1.0, _sun_sine(utc.timetuple().tm_yday, hours)))))


# --- daily profiles (fraction of the peak, per local hour; 0..23 and back to 0) ----------------

_TRAFFIC = (
    (0.10, 0.07, 0.05, 0.04, 0.05, 0.12, 0.35, 0.80, 1.00, 0.78, 0.60, 0.60,
     0.62, 0.60, 0.60, 0.64, 0.75, 0.92, 0.98, 0.78, 0.55, 0.42, 0.30, 0.18),
    (0.14, 0.10, 0.07, 0.05, 0.05, 0.07, 0.13, 0.22, 0.32, 0.45, 0.58, 0.66,
     0.70, 0.72, 0.72, 0.72, 0.70, 0.66, 0.60, 0.52, 0.44, 0.36, 0.28, 0.20),
)  # fmt: skip
_FOOTFALL = (
    (0.02, 0.01, 0.01, 0.01, 0.02, 0.08, 0.35, 0.85, 1.00, 0.55, 0.35, 0.40,
     0.50, 0.45, 0.38, 0.42, 0.55, 0.85, 0.95, 0.60, 0.40, 0.30, 0.18, 0.08),
    (0.04, 0.02, 0.01, 0.01, 0.01, 0.03, 0.08, 0.15, 0.22, 0.32, 0.45, 0.55,
     0.62, 0.66, 0.68, 0.66, 0.62, 0.58, 0.52, 0.42, 0.32, 0.22, 0.14, 0.08),
)  # fmt: skip
_PARKING = (
    (0.12, 0.10, 0.10, 0.10, 0.10, 0.12, 0.18, 0.35, 0.62, 0.82, 0.90, 0.92,
     0.88, 0.90, 0.92, 0.90, 0.85, 0.72, 0.52, 0.38, 0.30, 0.24, 0.18, 0.14),
    (0.12, 0.10, 0.10, 0.10, 0.10, 0.10, 0.11, 0.14, 0.20, 0.30, 0.42, 0.52,
     0.58, 0.60, 0.60, 0.58, 0.54, 0.48, 0.40, 0.32, 0.25, 0.20, 0.16, 0.13),
)  # fmt: skip
_LOAD = (
    (0.35, 0.30, 0.28, 0.27, 0.28, 0.33, 0.45, 0.62, 0.80, 0.92, 0.97, 1.00,
     0.93, 0.97, 1.00, 0.98, 0.95, 0.90, 0.85, 0.80, 0.72, 0.62, 0.52, 0.42),
    (0.36, 0.31, 0.29, 0.28, 0.28, 0.30, 0.35, 0.42, 0.50, 0.58, 0.63, 0.66,
     0.66, 0.64, 0.63, 0.63, 0.64, 0.67, 0.70, 0.70, 0.65, 0.57, 0.49, 0.41),
)  # fmt: skip


def _profile(table: tuple[float, ...], hour: float) -> float:
    whole = int(hour)
    share = hour - whole
    return table[whole] + (table[(whole + 1) % 24] - table[whole]) * share


def _smooth(x: float) -> float:
    return x * x * (3.0 - 2.0 * x)


# --- weather: rain episodes per district ------------------------------------------------------

_BLOCK = 10 * 86400  # seconds: rain episodes are drawn per ten-day block and district
_RAMP = 900.0  # seconds for a shower to build up and to die away
_WET_DECAY = 6 * 3600.0  # seconds for the streets, the air and the rivers to forget the rain


class Weather:
    """Rain, wetness, cloud and wind per district: a deterministic function of the seed and time.

    Rain comes in episodes (hours long, a few days apart, closer together in the summer
    monsoon); ``wet`` is the rain now or its fading memory, which washes the air and lifts the
    rivers. Draws are per ten-day block of time and district, so any moment costs the same.

    >>> weather = Weather(seed=1)
    >>> rain, wet, cloud, wind = weather.at(0, datetime(2026, 7, 10, tzinfo=UTC).timestamp())
    >>> 0 <= rain <= wet <= 1 and 0 <= cloud <= 1 and wind >= 0
    True
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._episodes: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        phases = random.Random(f"openlab-weather-{seed}")
        self._phases = [tuple(phases.uniform(0, _TWO_PI) for _ in range(3)) for _ in District]

    def episodes(self, district: int, block: int) -> list[tuple[float, float, float]]:
        """``(start, end, intensity)`` of the rain episodes starting in a block (epoch seconds)."""
        key = (district, block)
        found = self._episodes.get(key)
        if found is None:
            rng = random.Random(f"openlab-weather-{self.seed}-{district}-{block}")
            begin = block * _BLOCK
            doy = datetime.fromtimestamp(begin + _BLOCK / 2, UTC).timetuple().tm_yday
            monsoon = math.exp(-(((doy - 200) / 25.0) ** 2))
            dry_mean = 60.0 * 3600 / (1.0 + 1.5 * monsoon)
            found = []
            moment = begin + rng.expovariate(1.0 / dry_mean)
            while moment < begin + _BLOCK:
                length = 3600.0 * (1.0 + 9.0 * rng.random() ** 2)
                found.append((moment, moment + length, rng.uniform(0.3, 1.0)))
                moment += length + rng.expovariate(1.0 / dry_mean)
            if len(self._episodes) > 4096:
                self._episodes.clear()
            self._episodes[key] = found
        return found

    def at(self, district: int, t: float) -> tuple[float, float, float, float]:
        """``(rain, wet, cloud, wind)`` in district ``district`` at epoch second ``t``.

        rain, wet and cloud are 0..1; wind is in m/s at a turbine's hub.
        """
        block = int(t // _BLOCK)
        rain = wet = 0.0
        for episodes in (self.episodes(district, block - 1), self.episodes(district, block)):
            for start, end, intensity in episodes:
                if t < start:
                    break
                if t <= end:
                    ramp = min(1.0, (t - start) / _RAMP, (end - t) / _RAMP)
                    rain = max(rain, intensity * ramp)
                    wet = max(wet, intensity * min(1.0, (t - start) / _RAMP))
                else:
                    wet = max(wet, intensity * math.exp(-(t - end) / _WET_DECAY))
        p1, p2, p3 = self._phases[district]
        base_cloud = 0.35 * (0.5 + 0.5 * math.sin(_TWO_PI * t / (37 * 3600) + p1)) ** 2
        cloud = min(1.0, base_cloud + 0.9 * min(1.0, rain * 2.0))
        local_hour = ((t + _KST_SECONDS) % 86400) / 3600.0
        daytime = max(0.0, math.sin(math.pi * (local_hour - 8.0) / 12.0))
        wind = (
            7.0
            + 2.5 * math.sin(_TWO_PI * t / (29 * 3600) + p2)
            + 1.5 * math.sin(_TWO_PI * t / (7.3 * 3600) + p3)
            + 1.2 * daytime
            + 3.0 * rain
        )
        return rain, max(wet, rain), cloud, max(0.0, wind)


# --- the city at one minute -------------------------------------------------------------------


class _Now:
    """Everything city- or district-wide at one minute, shared by all readings of that minute."""

    __slots__ = (
        "clear_sky",
        "cloud",
        "dimmed",
        "diurnal",
        "footfall",
        "h_season",
        "load",
        "local_hour",
        "panel",
        "parking",
        "pm_season",
        "rain",
        "sun",
        "t_city",
        "t_season",
        "temp_amp",
        "tested",
        "traffic",
        "weekend",
        "wet",
        "wind",
    )

    def __init__(self, minute: int, weather: Weather, days: dict[int, tuple[int, bool]]) -> None:
        t = minute * 60.0
        local = t + _KST_SECONDS
        local_day = int(local // 86400)
        day = days.get(local_day)
        if day is None:
            moment = date.fromordinal(_EPOCH_ORDINAL + local_day)
            day = days[local_day] = (moment.timetuple().tm_yday, moment.weekday() >= 5)
        doy, weekend = day
        hour = (local % 86400) / 3600.0
        self.local_hour = hour
        self.weekend = weekend
        which = 1 if weekend else 0
        self.traffic = _profile(_TRAFFIC[which], hour)
        self.footfall = _profile(_FOOTFALL[which], hour)
        self.parking = _profile(_PARKING[which], hour)
        self.load = _profile(_LOAD[which], hour)
        # The sun's formula counts days in UTC, a day behind KST before 09:00 (day 0 is day 365).
        utc_doy, utc_hours = (doy - 1 if hour < 9.0 else doy), (t % 86400) / 3600.0
        self.sun = _sun_sine(utc_doy, utc_hours)
        # Panels face south, tilted by 30°: the sun meets them as it meets flat ground 30° nearer
        # the equator. The air takes more of the light the lower the sun (air mass).
        # Diffuse light (a fifth) reaches them whenever the sun is up, even from behind.
        beam = max(0.0, _sun_sine(utc_doy, utc_hours, latitude=LATITUDE - PANEL_TILT))
        self.panel = 0.8 * beam + 0.2 * max(0.0, self.sun)
        self.clear_sky = math.pow(0.7, math.pow(1.0 / self.sun, 0.678)) / 0.7 if self.sun > 0.01 else 0.0
        self.dimmed = hour < 5.0
        self.tested = not weekend and (9.0 <= hour < 12.0 or 13.0 <= hour < 18.0)
        season = math.cos(_TWO_PI * (doy - 25) / 365.25)  # 1 in late January, -1 in late July
        self.t_season = 14.0 - 13.0 * season
        self.h_season = 66.0 - 9.0 * season
        self.pm_season = 1.0 + 0.3 * season
        # Coolest near 05:00, warmest near 15:00: warming for 10 hours, cooling for 14.
        if 5.0 <= hour < 15.0:
            self.diurnal = -math.cos(math.pi * (hour - 5.0) / 10.0)
        else:
            self.diurnal = math.cos(math.pi * ((hour - 15.0) % 24.0) / 14.0)
        states = [weather.at(district, t) for district in range(len(District))]
        self.rain = [s[0] for s in states]
        self.wet = [s[1] for s in states]
        self.cloud = [s[2] for s in states]
        self.wind = [s[3] for s in states]
        self.temp_amp = [4.5 * (1.0 - 0.6 * cloud) for cloud in self.cloud]
        mean_amp = sum(self.temp_amp) / len(self.temp_amp)
        self.t_city = self.t_season + mean_amp * self.diurnal


# --- one site's lasting character --------------------------------------------------------------

_VOLUME = {"road_intersection": 1.0, "av_test_track": 0.08}
_EXPOSURE = {"road_intersection": 1.3, "bus_stop": 1.1, "av_test_track": 0.5}
_DISTRICTS = list(District)


@dataclass(slots=True)
class _Site:
    """What makes one site itself: its size, its rhythms' spread, its equipment. Drawn once."""

    index: int
    district: int
    scale: float
    phase: int
    incidents: dict[int, list[Incident]]
    w1: float
    p1: float
    w2: float
    p2: float
    flow_peak: float
    v_free: float
    noise_base: float
    exposure: float
    pm_offset: float
    temp_offset: float
    hum_offset: float
    foot_peak: float
    collect_hour: float
    waste_fill: float
    water_base: float
    water_gain: float
    park_lo: float
    park_hi: float
    ev_rated: float
    ev_fast: bool
    solar_cap: float
    wind_rated: float
    wind_gain: float
    soc: tuple[float, float, float, float]
    grid_base: float
    lamp_watts: float
    lamp_sine: float
    av_base: float
    av_w: float
    av_p: float
    seed: int
    ev_day: int = -(10**9)
    ev_sessions: list[tuple[int, int, float]] = field(default_factory=list)

    @classmethod
    def draw(cls, index: int, site: Site, rng: random.Random, incidents: dict[int, list[Incident]]) -> _Site:
        scale = rng.uniform(0.8, 1.2)
        volume = _VOLUME.get(site.facility, 0.5)
        fast = rng.random() < 0.5
        return cls(
            index=index,
            district=_DISTRICTS.index(site.district),
            scale=scale,
            phase=rng.randrange(900 * _MICROS),
            incidents=incidents,
            w1=_TWO_PI / rng.uniform(900.0, 2400.0),
            p1=rng.uniform(0, _TWO_PI),
            w2=_TWO_PI / rng.uniform(3600.0, 10800.0),
            p2=rng.uniform(0, _TWO_PI),
            flow_peak=1250.0 * scale * volume,
            v_free=rng.uniform(45.0, 65.0),
            noise_base=rng.uniform(41.0, 47.0),
            exposure=_EXPOSURE.get(site.facility, rng.uniform(0.6, 1.2)),
            pm_offset=rng.uniform(-2.0, 3.0),
            temp_offset=rng.uniform(-0.6, 0.9),
            hum_offset=rng.uniform(-4.0, 4.0),
            foot_peak=80.0 * scale,
            collect_hour=rng.uniform(4.0, 7.0),
            waste_fill=rng.uniform(0.55, 0.95),
            water_base=1.2 * scale,
            water_gain=rng.uniform(0.6, 1.4),
            park_lo=rng.uniform(0.03, 0.12),
            park_hi=rng.uniform(0.85, 0.99),
            ev_rated=rng.choice((50.0, 100.0, 200.0)) if fast else rng.choice((7.0, 11.0, 22.0)),
            ev_fast=fast,
            solar_cap=450.0 * scale,
            wind_rated=1500.0 * scale,
            wind_gain=rng.uniform(0.85, 1.15),
            soc=(rng.uniform(28, 36), rng.uniform(18, 26), rng.uniform(85, 95), rng.uniform(30, 40)),
            grid_base=1800.0 * scale,
            lamp_watts=rng.choice((70.0, 100.0, 150.0, 250.0)),
            lamp_sine=math.sin(math.radians(rng.uniform(-1.0, 2.0))),
            av_base=rng.uniform(24.0, 34.0),
            av_w=_TWO_PI / rng.uniform(150.0, 240.0),
            av_p=rng.uniform(0, _TWO_PI),
            seed=rng.getrandbits(32),
        )

    def fluct(self, t: float) -> float:
        """The site's own slow wobble around the city's rhythm (about ±10 %)."""
        return 0.07 * math.sin(self.w1 * t + self.p1) + 0.04 * math.sin(self.w2 * t + self.p2)

    def sessions(self, at: int) -> list[tuple[int, int, float]]:
        """The EV charging sessions ``(start, end, level)`` (µs) of the charging day holding ``at``.

        A charging day runs from 04:00 to 04:00 local time; sessions are drawn once per day.
        """
        day = (at // _MICROS + _KST_SECONDS - 4 * 3600) // 86400
        if day != self.ev_day:
            rng = random.Random(self.seed * 100_003 + day)
            begin = (day * 86400 + 4 * 3600 - _KST_SECONDS) * _MICROS
            end = begin + 86400 * _MICROS
            gap, shortest, longest = (80.0, 20.0, 50.0) if self.ev_fast else (240.0, 60.0, 360.0)
            sessions = []
            moment = begin + int(rng.expovariate(1.0 / gap) * 60 * _MICROS)
            while moment < end:
                length = int(rng.uniform(shortest, longest) * 60 * _MICROS)
                hour = ((moment // _MICROS + _KST_SECONDS) % 86400) / 3600.0
                level = rng.uniform(0.75, 1.0) if self.ev_fast else rng.uniform(0.9, 1.0)
                # Few drivers arrive between midnight and 06:00.
                if not hour < 6.0 or rng.random() < 0.2:
                    sessions.append((moment, min(moment + length, end), level))
                moment += length + int(rng.expovariate(1.0 / gap) * 60 * _MICROS)
            self.ev_day, self.ev_sessions = day, sessions
        return self.ev_sessions


# --- one model per kind: the noise-free value of a sensor at a site, at a moment -----------------

Model = Callable[[_Site, _Now, int], float]


def _incident(site: _Site, at: int) -> tuple[float, float]:
    for incident in site.incidents.get(site.index, ()):
        if incident.start <= at <= incident.end:
            return incident.factors(at)
    return 1.0, 1.0


def _flow(site: _Site, now: _Now, at: int) -> float:
    flow = (
        site.flow_peak
        * now.traffic
        * (1.0 + site.fluct(at / _MICROS))
        * (1.0 - 0.12 * now.rain[site.district])
    )
    if site.incidents:
        flow *= _incident(site, at)[0]
    return flow


def _speed(site: _Site, now: _Now, at: int) -> float:
    load = now.traffic * (1.0 + site.fluct(at / _MICROS))
    speed = site.v_free * (1.0 - 0.45 * min(load, 1.2) ** 2) * (1.0 - 0.15 * now.rain[site.district])
    if site.incidents:
        speed *= _incident(site, at)[1]
    return speed


def _noise_level(site: _Site, now: _Now, at: int) -> float:
    return (
        site.noise_base + 10.0 * math.log10(1.0 + _flow(site, now, at) / 15.0) + 1.5 * now.rain[site.district]
    )


def _pm25(site: _Site, now: _Now, at: int) -> float:
    traffic = site.exposure * now.traffic * (1.0 + site.fluct(at / _MICROS))
    return (9.0 + 22.0 * traffic) * now.pm_season * (1.0 - 0.6 * now.wet[site.district]) + site.pm_offset


def _pm10(site: _Site, now: _Now, at: int) -> float:
    return 1.55 * _pm25(site, now, at) + 5.0 * (1.0 - now.wet[site.district])


def _no2(site: _Site, now: _Now, at: int) -> float:
    traffic = site.exposure * now.traffic * (1.0 + 2.0 * site.fluct(at / _MICROS))
    return (10.0 + 38.0 * traffic) * now.pm_season * (1.0 - 0.35 * now.wet[site.district])


def _temperature(site: _Site, now: _Now, at: int) -> float:
    d = site.district
    wobble = 0.3 * math.sin(site.w2 * at / _MICROS + site.p2)
    return now.t_season + site.temp_offset + now.temp_amp[d] * now.diurnal - 1.5 * now.rain[d] + wobble


def _humidity(site: _Site, now: _Now, at: int) -> float:
    d = site.district
    humidity = now.h_season + site.hum_offset - 2.6 * now.temp_amp[d] * now.diurnal + 25.0 * now.wet[d]
    return 92.0 + (humidity - 92.0) * 0.3 if humidity > 92.0 else humidity


def _footfall(site: _Site, now: _Now, at: int) -> float:
    rain = now.rain[site.district]
    return site.foot_peak * now.footfall * (1.0 + site.fluct(at / _MICROS)) * (1.0 - 0.4 * rain)


def _waste_fill(site: _Site, now: _Now, at: int) -> float:
    since = ((now.local_hour - site.collect_hour) % 24.0) / 24.0
    return 4.0 + 100.0 * site.waste_fill * math.pow(since, 0.9)


def _water_level(site: _Site, now: _Now, at: int) -> float:
    return (
        site.water_base + site.water_gain * now.wet[site.district] + 0.03 * math.sin(site.w2 * at / _MICROS)
    )


def _parking(site: _Site, now: _Now, at: int) -> float:
    share = now.parking * (1.0 + 0.3 * site.fluct(at / _MICROS))
    return 100.0 * (site.park_lo + (site.park_hi - site.park_lo) * share)


def _ev_power(site: _Site, now: _Now, at: int) -> float:
    sessions = site.sessions(at)
    for start, end, level in sessions:
        if start > at:
            break
        if at < end:
            left = (end - at) / (end - start)
            taper = 1.0 if left > 0.25 else 0.4 + 0.6 * left / 0.25  # the battery is nearly full
            return site.ev_rated * level * taper
    return 0.0


def _av_speed(site: _Site, now: _Now, at: int) -> float:
    if not now.tested:
        return 0.0
    return max(3.0, site.av_base + 12.0 * math.sin(site.av_w * at / _MICROS + site.av_p))


def _solar(site: _Site, now: _Now, at: int) -> float:
    if now.sun <= 0.0:
        return 0.0
    passing = 1.0 + 1.5 * site.fluct(at / _MICROS)  # passing clouds
    return site.solar_cap * now.panel * now.clear_sky * (1.0 - 0.75 * now.cloud[site.district]) * passing


def _wind(site: _Site, now: _Now, at: int) -> float:
    wind = now.wind[site.district] * site.wind_gain * (1.0 + site.fluct(at / _MICROS))
    if wind < 3.0 or wind > 25.0:
        return 0.0  # below cut-in, or stopped in a storm
    return site.wind_rated * min(1.0, (wind - 3.0) / 9.0) ** 2


def _battery_soc(site: _Site, now: _Now, at: int) -> float:
    midnight, morning, full, evening = site.soc
    if now.weekend:
        evening += 15.0  # less drawn on a weekend evening
    hour = now.local_hour
    if hour < 7.0:
        return midnight + (morning - midnight) * hour / 7.0
    if hour < 9.5:
        return morning
    if hour < 15.0:
        return morning + (full - morning) * _smooth((hour - 9.5) / 5.5)
    if hour < 17.0:
        return full
    if hour < 22.0:
        return full + (evening - full) * _smooth((hour - 17.0) / 5.0)
    return evening + (midnight - evening) * (hour - 22.0) / 2.0


def _grid_load(site: _Site, now: _Now, at: int) -> float:
    weather = 1.0 + 0.012 * abs(now.t_city - 18.0)  # heating in winter, cooling in summer
    return site.grid_base * (0.5 + 0.5 * now.load) * weather * (1.0 + 0.5 * site.fluct(at / _MICROS))


def _streetlight(site: _Site, now: _Now, at: int) -> float:
    if now.sun >= site.lamp_sine:
        return 0.0
    return site.lamp_watts * (0.6 if now.dimmed else 1.0)


def _generic(kind: SensorKind) -> Model:
    def model(site: _Site, now: _Now, at: int) -> float:
        return site.scale * (
            kind.baseline + kind.daily_swing * math.sin(_TWO_PI * (now.local_hour - 9.0) / 24.0)
        )

    return model


MODELS: dict[str, Model] = {
    "traffic_flow": _flow,
    "traffic_speed": _speed,
    "noise_level": _noise_level,
    "air_pm25": _pm25,
    "air_pm10": _pm10,
    "air_no2": _no2,
    "temperature": _temperature,
    "humidity": _humidity,
    "footfall": _footfall,
    "waste_fill": _waste_fill,
    "water_level": _water_level,
    "parking_occupancy": _parking,
    "ev_charging_power": _ev_power,
    "av_track_speed": _av_speed,
    "solar_power": _solar,
    "wind_power": _wind,
    "battery_soc": _battery_soc,
    "grid_load": _grid_load,
    "streetlight_power": _streetlight,
}
"""The model of each kind of the catalog (a kind without one follows a plain daily sine)."""

GATED: frozenset[str] = frozenset(
    {"solar_power", "streetlight_power", "ev_charging_power", "av_track_speed", "wind_power"}
)
"""Kinds whose zero is a true zero (nothing running): reported exactly, without noise."""


# --- malformed events -------------------------------------------------------------------------


class Malformation(StrEnum):
    """Ways a field event goes wrong."""

    NOT_JSON = "not_json"
    WRONG_TYPE = "wrong_type"
    MISSING_FIELD = "missing_field"
    NOT_A_NUMBER = "nan"
    INFINITE = "infinite"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_SENSOR = "unknown_sensor"
    FUTURE = "future"
    WRONG_UNIT = "wrong_unit"
    BINARY = "binary"

    @property
    def reason(self) -> Reason:
        """The reason the cleaner must give for an event broken this way."""
        return _REASON_OF[self]


_REASON_OF = {
    Malformation.NOT_JSON: Reason.NOT_JSON,
    Malformation.BINARY: Reason.NOT_JSON,
    Malformation.WRONG_TYPE: Reason.SCHEMA,
    Malformation.MISSING_FIELD: Reason.SCHEMA,
    Malformation.NOT_A_NUMBER: Reason.NON_FINITE,
    Malformation.INFINITE: Reason.NON_FINITE,
    Malformation.OUT_OF_RANGE: Reason.OUT_OF_RANGE,
    Malformation.UNKNOWN_SENSOR: Reason.UNKNOWN_SENSOR,
    Malformation.FUTURE: Reason.FUTURE_TIMESTAMP,
    Malformation.WRONG_UNIT: Reason.UNIT_UNKNOWN,
}


def corrupt(event: bytes, how: Malformation, at: datetime) -> bytes:
    """A malformed copy of the well-formed event ``event``, broken in the way ``how`` names.

    ``at`` is the wall-clock time of the check (a ``FUTURE`` event is two days past it).
    """
    if how is Malformation.NOT_JSON:
        return event[: len(event) // 2]
    if how is Malformation.BINARY:
        return b"\xff\xfe\x00" + event[:8]
    fields = json.loads(event)
    match how:
        case Malformation.WRONG_TYPE:
            fields["value"] = str(fields["value"])
        case Malformation.MISSING_FIELD:
            del fields["value"]
        case Malformation.NOT_A_NUMBER:
            fields["value"] = math.nan
        case Malformation.INFINITE:
            fields["value"] = -math.inf
        case Malformation.OUT_OF_RANGE:
            fields["value"] = KINDS[fields["kind"]].high * 10 + 1
        case Malformation.UNKNOWN_SENSOR:
            fields["sensor_id"] = "XX-00000.ghost"
        case Malformation.FUTURE:
            fields["observed_at"] = (at + timedelta(days=2)).isoformat()
        case Malformation.WRONG_UNIT:
            fields["unit"] = "furlong"
    return json.dumps(fields).encode()


# --- the simulator ----------------------------------------------------------------------------

_NORMAL_BITS = 14
_NORMAL = list(map(NormalDist().inv_cdf, ((i + 0.5) / 2**_NORMAL_BITS for i in range(2**_NORMAL_BITS))))
"""Standard normal deviates at 16,384 evenly spaced quantiles: measurement noise is one of them,
drawn with a single ``getrandbits`` (several times cheaper than ``random.gauss``)."""


def _micros(at: datetime) -> int:
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * _MICROS + delta.microseconds


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
        self._minutes: dict[int, _Now] = {}
        self._stamps: dict[int, str] = {}
        self._targets: list[Target] = []
        # Per sensor: key, JSON before the value, JSON between value and time, model, site, noise,
        # low, high, gated.
        self._sensors: list[tuple[bytes, str, str, Model, _Site, float, float, float, bool]] = []
        groups: dict[int, list[tuple[int, int]]] = {}
        for site_index, site in enumerate(registry.sites):
            state = _Site.draw(site_index, site, character, self._incidents)
            for sensor in site.sensors:
                kind = KINDS[sensor.kind]
                index = len(self._sensors)
                interval = round(kind.interval_seconds * _MICROS)
                phase = state.phase % interval
                groups.setdefault(interval, []).append((phase, index))
                self._sensors.append(
                    (
                        sensor.sensor_id.encode(),
                        f'{{"sensor_id":"{sensor.sensor_id}","site_id":"{site.site_id}",'
                        f'"kind":"{kind.name}","value":',
                        f',"unit":"{kind.unit}","observed_at":"',
                        MODELS.get(kind.name) or _generic(kind),
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
        self._longest = max((interval for interval, _, _ in self._groups), default=_MICROS)
        self._seq = [0] * len(self._sensors)
        self._origin: int | None = None
        self._last = 0
        self._injector: AnomalyInjector | None = None
        self._labels: list[Label] = []

    @property
    def readings_per_second(self) -> float:
        """Readings per second of event time from the whole registry, at its sensors' cadences."""
        return sum(len(indexes) * _MICROS / interval for interval, _, indexes in self._groups)

    @property
    def longest_interval(self) -> float:
        """The longest cadence of the registry's sensors, in seconds: how far back a first tick reaches."""
        return self._longest / _MICROS

    def take_labels(self) -> list[Label]:
        """The labels of the anomalies that started up to the last tick, each once, in start order."""
        labels, self._labels = self._labels, []
        return labels

    def clean_value(self, index: int, at: int) -> float:
        """Sensor ``index``'s noise-free value at ``at`` (µs since the epoch), in its physical range."""
        _, _, _, model, site, _, low, high, _ = self._sensors[index]
        return min(max(model(site, self._now(at // 60_000_000), at), low), high)

    def _now(self, minute: int) -> _Now:
        now = self._minutes.get(minute)
        if now is None:
            if len(self._minutes) > 2048:
                self._minutes.clear()
            now = self._minutes[minute] = _Now(minute, self._weather, self._days)
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
            second, micros = divmod(moment, _MICROS)
            stamp = stamps.get(second) or self._stamp(second)
            events.append((key_bytes, f'{head}{value!r}{middle}{stamp}{micros:06d}Z","seq":{seq}}}'.encode()))
        return events
