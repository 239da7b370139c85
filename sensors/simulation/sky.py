"""The sky over Gwangju: the sun's position, and rain, cloud and wind per district."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta, timezone

from sensors.site import District

KST = timezone(timedelta(hours=9), "KST")
LATITUDE = 35.15
"""Gwangju's latitude (degrees north): the sun's path and so solar output and street lights."""
LONGITUDE = 126.85
"""Gwangju's longitude (degrees east): when the sun is highest (about 12:30 KST)."""

PANEL_TILT = 30.0
"""Tilt of the solar panels (degrees, facing south)."""


MICROS = 1_000_000
KST_SECONDS = 9 * 3600
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
TWO_PI = 2.0 * math.pi


def sun_sine(doy: int, utc_hours: float, latitude: float = LATITUDE, longitude: float = LONGITUDE) -> float:
    """Sine of the sun's elevation (NOAA's approximation: good to a fraction of a degree)."""
    gamma = TWO_PI / 365.0 * (doy - 1 + (utc_hours - 12.0) / 24.0)
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
    return math.degrees(math.asin(max(-1.0, min(1.0, sun_sine(utc.timetuple().tm_yday, hours)))))


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
        self._phases = [tuple(phases.uniform(0, TWO_PI) for _ in range(3)) for _ in District]

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
        base_cloud = 0.35 * (0.5 + 0.5 * math.sin(TWO_PI * t / (37 * 3600) + p1)) ** 2
        cloud = min(1.0, base_cloud + 0.9 * min(1.0, rain * 2.0))
        local_hour = ((t + KST_SECONDS) % 86400) / 3600.0
        daytime = max(0.0, math.sin(math.pi * (local_hour - 8.0) / 12.0))
        wind = (
            7.0
            + 2.5 * math.sin(TWO_PI * t / (29 * 3600) + p2)
            + 1.5 * math.sin(TWO_PI * t / (7.3 * 3600) + p3)
            + 1.2 * daytime
            + 3.0 * rain
        )
        return rain, max(wet, rain), cloud, max(0.0, wind)
