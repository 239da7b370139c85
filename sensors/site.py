"""A site of the city: its district, its facility, who owns it, and the sensors it carries.

The site registry (:class:`~sensors.sites.SiteRegistry`) holds them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

from sensors.catalog import KINDS, Programme


class District(StrEnum):
    """Gwangju's five districts."""

    DONG_GU = "Dong-gu"
    SEO_GU = "Seo-gu"
    NAM_GU = "Nam-gu"
    BUK_GU = "Buk-gu"
    GWANGSAN_GU = "Gwangsan-gu"

    @property
    def area(self) -> tuple[float, float, float, float]:
        """The district's area as ``(lat_min, lat_max, lon_min, lon_max)`` in degrees.

        >>> District.DONG_GU.area
        (35.126, 35.166, 126.903, 126.943)
        """
        lat, lon, radius = DISTRICT_AREA[self]
        return (
            round(lat - radius, 6),
            round(lat + radius, 6),
            round(lon - radius, 6),
            round(lon + radius, 6),
        )

    def contains(self, latitude: float, longitude: float) -> bool:
        """Whether a point lies within the district's area (a box of ``radius`` degrees around its centre).

        >>> District.DONG_GU.contains(35.1460, 126.9230), District.DONG_GU.contains(35.30, 126.9230)
        (True, False)
        """
        lat_min, lat_max, lon_min, lon_max = self.area
        return lat_min <= latitude <= lat_max and lon_min <= longitude <= lon_max


# A plausible centre (lat, lon) and radius in degrees for each district.
DISTRICT_AREA: dict[District, tuple[float, float, float]] = {
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
