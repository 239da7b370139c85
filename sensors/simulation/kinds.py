"""One model per kind: the noise-free value of a sensor at a site, at a moment."""

from __future__ import annotations

import math
from collections.abc import Callable

from sensors.catalog import SensorKind
from sensors.simulation.character import SiteCharacter
from sensors.simulation.minute import CityMinute
from sensors.simulation.sky import MICROS, TWO_PI


def _smooth(x: float) -> float:
    return x * x * (3.0 - 2.0 * x)


Model = Callable[[SiteCharacter, CityMinute, int], float]


def _incident(site: SiteCharacter, at: int) -> tuple[float, float]:
    for incident in site.incidents.get(site.index, ()):
        if incident.start <= at <= incident.end:
            return incident.factors(at)
    return 1.0, 1.0


def _flow(site: SiteCharacter, now: CityMinute, at: int) -> float:
    flow = (
        site.flow_peak
        * now.traffic
        * (1.0 + site.fluct(at / MICROS))
        * (1.0 - 0.12 * now.rain[site.district])
    )
    if site.incidents:
        flow *= _incident(site, at)[0]
    return flow


def _speed(site: SiteCharacter, now: CityMinute, at: int) -> float:
    load = now.traffic * (1.0 + site.fluct(at / MICROS))
    speed = site.v_free * (1.0 - 0.45 * min(load, 1.2) ** 2) * (1.0 - 0.15 * now.rain[site.district])
    if site.incidents:
        speed *= _incident(site, at)[1]
    return speed


def _noise_level(site: SiteCharacter, now: CityMinute, at: int) -> float:
    return (
        site.noise_base + 10.0 * math.log10(1.0 + _flow(site, now, at) / 15.0) + 1.5 * now.rain[site.district]
    )


def _pm25(site: SiteCharacter, now: CityMinute, at: int) -> float:
    traffic = site.exposure * now.traffic * (1.0 + site.fluct(at / MICROS))
    return (9.0 + 22.0 * traffic) * now.pm_season * (1.0 - 0.6 * now.wet[site.district]) + site.pm_offset


def _pm10(site: SiteCharacter, now: CityMinute, at: int) -> float:
    return 1.55 * _pm25(site, now, at) + 5.0 * (1.0 - now.wet[site.district])


def _no2(site: SiteCharacter, now: CityMinute, at: int) -> float:
    traffic = site.exposure * now.traffic * (1.0 + 2.0 * site.fluct(at / MICROS))
    return (10.0 + 38.0 * traffic) * now.pm_season * (1.0 - 0.35 * now.wet[site.district])


def _temperature(site: SiteCharacter, now: CityMinute, at: int) -> float:
    d = site.district
    wobble = 0.3 * math.sin(site.w2 * at / MICROS + site.p2)
    return now.t_season + site.temp_offset + now.temp_amp[d] * now.diurnal - 1.5 * now.rain[d] + wobble


def _humidity(site: SiteCharacter, now: CityMinute, at: int) -> float:
    d = site.district
    humidity = now.h_season + site.hum_offset - 2.6 * now.temp_amp[d] * now.diurnal + 25.0 * now.wet[d]
    return 92.0 + (humidity - 92.0) * 0.3 if humidity > 92.0 else humidity


def _footfall(site: SiteCharacter, now: CityMinute, at: int) -> float:
    rain = now.rain[site.district]
    return site.foot_peak * now.footfall * (1.0 + site.fluct(at / MICROS)) * (1.0 - 0.4 * rain)


def _waste_fill(site: SiteCharacter, now: CityMinute, at: int) -> float:
    since = ((now.local_hour - site.collect_hour) % 24.0) / 24.0
    return 4.0 + 100.0 * site.waste_fill * math.pow(since, 0.9)


def _water_level(site: SiteCharacter, now: CityMinute, at: int) -> float:
    return site.water_base + site.water_gain * now.wet[site.district] + 0.03 * math.sin(site.w2 * at / MICROS)


def _parking(site: SiteCharacter, now: CityMinute, at: int) -> float:
    share = now.parking * (1.0 + 0.3 * site.fluct(at / MICROS))
    return 100.0 * (site.park_lo + (site.park_hi - site.park_lo) * share)


def _ev_power(site: SiteCharacter, now: CityMinute, at: int) -> float:
    sessions = site.sessions(at)
    for start, end, level in sessions:
        if start > at:
            break
        if at < end:
            left = (end - at) / (end - start)
            taper = 1.0 if left > 0.25 else 0.4 + 0.6 * left / 0.25  # the battery is nearly full
            return site.ev_rated * level * taper
    return 0.0


def _av_speed(site: SiteCharacter, now: CityMinute, at: int) -> float:
    if not now.tested:
        return 0.0
    return max(3.0, site.av_base + 12.0 * math.sin(site.av_w * at / MICROS + site.av_p))


def _solar(site: SiteCharacter, now: CityMinute, at: int) -> float:
    if now.sun <= 0.0:
        return 0.0
    passing = 1.0 + 1.5 * site.fluct(at / MICROS)  # passing clouds
    return site.solar_cap * now.panel * now.clear_sky * (1.0 - 0.75 * now.cloud[site.district]) * passing


def _wind(site: SiteCharacter, now: CityMinute, at: int) -> float:
    wind = now.wind[site.district] * site.wind_gain * (1.0 + site.fluct(at / MICROS))
    if wind < 3.0 or wind > 25.0:
        return 0.0  # below cut-in, or stopped in a storm
    return site.wind_rated * min(1.0, (wind - 3.0) / 9.0) ** 2


def _battery_soc(site: SiteCharacter, now: CityMinute, at: int) -> float:
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


def _grid_load(site: SiteCharacter, now: CityMinute, at: int) -> float:
    weather = 1.0 + 0.012 * abs(now.t_city - 18.0)  # heating in winter, cooling in summer
    return site.grid_base * (0.5 + 0.5 * now.load) * weather * (1.0 + 0.5 * site.fluct(at / MICROS))


def _streetlight(site: SiteCharacter, now: CityMinute, at: int) -> float:
    if now.sun >= site.lamp_sine:
        return 0.0
    return site.lamp_watts * (0.6 if now.dimmed else 1.0)


def generic_model(kind: SensorKind) -> Model:
    def model(site: SiteCharacter, now: CityMinute, at: int) -> float:
        return site.scale * (
            kind.baseline + kind.daily_swing * math.sin(TWO_PI * (now.local_hour - 9.0) / 24.0)
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
