"""One site's lasting character: its size, its rhythms' spread, its equipment, drawn once."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sensors.simulation.anomalies import Incident
from sensors.simulation.sky import KST_SECONDS, MICROS, TWO_PI
from sensors.site import District, Site

_VOLUME = {"road_intersection": 1.0, "av_test_track": 0.08}
_EXPOSURE = {"road_intersection": 1.3, "bus_stop": 1.1, "av_test_track": 0.5}
_DISTRICTS = list(District)


@dataclass(slots=True)
class SiteCharacter:
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
    def draw(
        cls, index: int, site: Site, rng: random.Random, incidents: dict[int, list[Incident]]
    ) -> SiteCharacter:
        scale = rng.uniform(0.8, 1.2)
        volume = _VOLUME.get(site.facility, 0.5)
        fast = rng.random() < 0.5
        return cls(
            index=index,
            district=_DISTRICTS.index(site.district),
            scale=scale,
            phase=rng.randrange(900 * MICROS),
            incidents=incidents,
            w1=TWO_PI / rng.uniform(900.0, 2400.0),
            p1=rng.uniform(0, TWO_PI),
            w2=TWO_PI / rng.uniform(3600.0, 10800.0),
            p2=rng.uniform(0, TWO_PI),
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
            av_w=TWO_PI / rng.uniform(150.0, 240.0),
            av_p=rng.uniform(0, TWO_PI),
            seed=rng.getrandbits(32),
        )

    def fluct(self, t: float) -> float:
        """The site's own slow wobble around the city's rhythm (about ±10 %)."""
        return 0.07 * math.sin(self.w1 * t + self.p1) + 0.04 * math.sin(self.w2 * t + self.p2)

    def sessions(self, at: int) -> list[tuple[int, int, float]]:
        """The EV charging sessions ``(start, end, level)`` (µs) of the charging day holding ``at``.

        A charging day runs from 04:00 to 04:00 local time; sessions are drawn once per day.
        """
        day = (at // MICROS + KST_SECONDS - 4 * 3600) // 86400
        if day != self.ev_day:
            rng = random.Random(self.seed * 100_003 + day)
            begin = (day * 86400 + 4 * 3600 - KST_SECONDS) * MICROS
            end = begin + 86400 * MICROS
            gap, shortest, longest = (80.0, 20.0, 50.0) if self.ev_fast else (240.0, 60.0, 360.0)
            sessions = []
            moment = begin + int(rng.expovariate(1.0 / gap) * 60 * MICROS)
            while moment < end:
                length = int(rng.uniform(shortest, longest) * 60 * MICROS)
                hour = ((moment // MICROS + KST_SECONDS) % 86400) / 3600.0
                level = rng.uniform(0.75, 1.0) if self.ev_fast else rng.uniform(0.9, 1.0)
                # Few drivers arrive between midnight and 06:00.
                if not hour < 6.0 or rng.random() < 0.2:
                    sessions.append((moment, min(moment + length, end), level))
                moment += length + int(rng.expovariate(1.0 / gap) * 60 * MICROS)
            self.ev_day, self.ev_sessions = day, sessions
        return self.ev_sessions
