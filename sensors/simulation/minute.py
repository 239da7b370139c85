"""The city at one minute: the daily profiles and everything city- or district-wide at that minute."""

from __future__ import annotations

import math
from datetime import date

from sensors.simulation.sky import EPOCH_ORDINAL, KST_SECONDS, LATITUDE, PANEL_TILT, TWO_PI, Weather, sun_sine
from sensors.site import District

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


class CityMinute:
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
        local = t + KST_SECONDS
        local_day = int(local // 86400)
        day = days.get(local_day)
        if day is None:
            moment = date.fromordinal(EPOCH_ORDINAL + local_day)
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
        self.sun = sun_sine(utc_doy, utc_hours)
        # Panels face south, tilted by 30°: the sun meets them as it meets flat ground 30° nearer
        # the equator. The air takes more of the light the lower the sun (air mass).
        # Diffuse light (a fifth) reaches them whenever the sun is up, even from behind.
        beam = max(0.0, sun_sine(utc_doy, utc_hours, latitude=LATITUDE - PANEL_TILT))
        self.panel = 0.8 * beam + 0.2 * max(0.0, self.sun)
        self.clear_sky = math.pow(0.7, math.pow(1.0 / self.sun, 0.678)) / 0.7 if self.sun > 0.01 else 0.0
        self.dimmed = hour < 5.0
        self.tested = not weekend and (9.0 <= hour < 12.0 or 13.0 <= hour < 18.0)
        season = math.cos(TWO_PI * (doy - 25) / 365.25)  # 1 in late January, -1 in late July
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
