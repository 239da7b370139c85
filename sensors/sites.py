"""The site registry: the city's public test facilities, where they are, who owns them, what they measure.

The registry is generated deterministically from a seed (the same seed gives the same city), or
loaded from a JSON file that a city provides instead.

>>> city = SiteRegistry.generate(count=10, seed=1)
>>> len(city.sites), city.sites[0].site_id
(10, 'GJ-00001')
>>> sensor = city.sites[0].sensors[0]
>>> city.sensor(sensor.sensor_id) == (city.sites[0], sensor)
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, field_validator

from sensors.catalog import KINDS, Programme


class District(StrEnum):
    """Gwangju's five districts."""

    DONG_GU = "Dong-gu"
    SEO_GU = "Seo-gu"
    NAM_GU = "Nam-gu"
    BUK_GU = "Buk-gu"
    GWANGSAN_GU = "Gwangsan-gu"


# A plausible centre (lat, lon) and radius in degrees for each district.
_DISTRICT_AREA: dict[District, tuple[float, float, float]] = {
    District.DONG_GU: (35.1460, 126.9230, 0.020),
    District.SEO_GU: (35.1520, 126.8900, 0.018),
    District.NAM_GU: (35.1330, 126.9020, 0.020),
    District.BUK_GU: (35.1740, 126.9120, 0.030),
    District.GWANGSAN_GU: (35.1390, 126.7930, 0.045),
}


@dataclass(frozen=True, slots=True)
class Facility:
    """A type of facility: which programme it serves and which quantities it measures."""

    name: str
    programme: Programme
    kinds: tuple[str, ...]
    weight: int


FACILITIES: dict[str, Facility] = {
    f.name: f
    for f in (
        Facility(
            "road_intersection", Programme.MOBILITY, ("traffic_flow", "traffic_speed", "noise_level"), 700
        ),
        Facility("car_park", Programme.MOBILITY, ("parking_occupancy",), 420),
        Facility("street_light", Programme.ENERGY, ("streetlight_power",), 600),
        Facility(
            "air_quality_station",
            Programme.URBAN_LIFE,
            ("air_pm25", "air_pm10", "air_no2", "temperature", "humidity"),
            260,
        ),
        Facility("ev_charger", Programme.MOBILITY, ("ev_charging_power",), 380),
        Facility("solar_plant", Programme.ENERGY, ("solar_power",), 230),
        Facility("battery_storage", Programme.ENERGY, ("battery_soc", "grid_load"), 90),
        Facility("wind_turbine", Programme.ENERGY, ("wind_power",), 30),
        Facility("bus_stop", Programme.URBAN_LIFE, ("footfall", "air_pm25"), 330),
        Facility("waste_point", Programme.URBAN_LIFE, ("waste_fill",), 150),
        Facility("river_gauge", Programme.URBAN_LIFE, ("water_level",), 40),
        Facility("av_test_track", Programme.MOBILITY, ("av_track_speed", "traffic_flow"), 12),
    )
}


class Sensor(BaseModel):
    """One sensor measures one quantity (``kind``) at one site."""

    model_config = ConfigDict(frozen=True)

    sensor_id: str
    kind: str

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"{kind!r} is not a kind of the sensor catalog ({', '.join(sorted(KINDS))})")
        return kind

    @property
    def unit(self) -> str:
        return KINDS[self.kind].unit


class Site(BaseModel):
    """A public test facility lent to the testbed."""

    model_config = ConfigDict(frozen=True)

    site_id: str
    name: str
    facility: str
    programme: Programme
    district: District
    latitude: float
    longitude: float
    owner_id: str
    sensors: tuple[Sensor, ...]


_SITES = TypeAdapter(list[Site])


class SiteRegistry:
    """All sites, with a fast lookup from a sensor id to its site."""

    def __init__(self, sites: Sequence[Site]) -> None:
        self.sites: tuple[Site, ...] = tuple(sites)
        self._by_site = {site.site_id: site for site in self.sites}
        self._by_sensor = {s.sensor_id: (site, s) for site in self.sites for s in site.sensors}

    def __len__(self) -> int:
        return len(self.sites)

    def site(self, site_id: str) -> Site | None:
        return self._by_site.get(site_id)

    def sensor(self, sensor_id: str) -> tuple[Site, Sensor] | None:
        return self._by_sensor.get(sensor_id)

    def sensors(self) -> Iterator[tuple[Site, Sensor]]:
        return iter(self._by_sensor.values())

    @classmethod
    def generate(cls, count: int = 3300, seed: int = 0, owners: int = 300) -> SiteRegistry:
        """A deterministic city of ``count`` facilities shared among ``owners`` organisations."""
        rng = random.Random(seed)
        facilities = list(FACILITIES.values())
        weights = [f.weight for f in facilities]
        districts = list(District)
        # A few owners hold many sites (a Zipf-like spread), most hold a handful.
        owner_weights = [1.0 / (rank + 1) ** 0.8 for rank in range(owners)]
        sites = []
        for number in range(1, count + 1):
            facility = rng.choices(facilities, weights)[0]
            district = rng.choice(districts)
            lat, lon, radius = _DISTRICT_AREA[district]
            site_id = f"GJ-{number:05d}"
            owner = rng.choices(range(owners), owner_weights)[0]
            sites.append(
                Site(
                    site_id=site_id,
                    name=f"{district.value} {facility.name.replace('_', ' ')} {number}",
                    facility=facility.name,
                    programme=facility.programme,
                    district=district,
                    latitude=round(lat + rng.uniform(-radius, radius), 6),
                    longitude=round(lon + rng.uniform(-radius, radius), 6),
                    owner_id=f"owner-{owner + 1:03d}",
                    sensors=tuple(
                        Sensor(sensor_id=f"{site_id}.{kind}", kind=kind) for kind in facility.kinds
                    ),
                )
            )
        return cls(sites)

    @classmethod
    def load(cls, path: Path) -> SiteRegistry:
        """Read a registry exported by :meth:`dump` (or written by a city in that format)."""
        return cls(_SITES.validate_json(path.read_bytes()))

    def dump(self, path: Path) -> None:
        path.write_bytes(_SITES.dump_json(list(self.sites), indent=1))
