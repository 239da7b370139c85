"""The sensor catalog: every kind of quantity the city measures, its unit and its physical range.

Names follow FIWARE Smart Data Models where one exists, so the data can be exchanged with
other city platforms.

>>> kind = KINDS["air_pm25"]
>>> kind.unit, kind.low, kind.high
('ug/m3', 0.0, 1000.0)
>>> kind.fiware_entity
'AirQualityObserved'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Programme(StrEnum):
    """The city's three open-testbed programmes."""

    URBAN_LIFE = "urban_life"
    MOBILITY = "mobility"
    ENERGY = "energy"


@dataclass(frozen=True, slots=True)
class Conversion:
    """How a value in another unit becomes one in the canonical unit: ``value * scale + offset``.

    >>> round(ALTERNATIVE_UNITS["Cel"]["degF"].apply(212.0), 9)
    100.0
    """

    scale: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return value * self.scale + self.offset


ALTERNATIVE_UNITS: dict[str, dict[str, Conversion]] = {
    "Cel": {"degF": Conversion(5 / 9, -32 * 5 / 9), "K": Conversion(1.0, -273.15)},
    "km/h": {"mph": Conversion(1.609344), "m/s": Conversion(3.6)},
    "kW": {"W": Conversion(0.001), "MW": Conversion(1000.0)},
    "W": {"kW": Conversion(1000.0)},
    "%": {"1": Conversion(100.0)},
    "ug/m3": {"mg/m3": Conversion(1000.0)},
    "m": {"cm": Conversion(0.01), "ft": Conversion(0.3048)},
    "veh/h": {"veh/min": Conversion(60.0)},
    "count/min": {"count/h": Conversion(1 / 60)},
}
"""Accepted units other than the canonical one, by canonical unit ("1" is a 0-1 ratio)."""


@dataclass(frozen=True, slots=True)
class SensorKind:
    """One measured quantity: its canonical unit, physically possible range and cadence.

    ``baseline`` and ``daily_swing`` describe a typical day, for the simulator; ``low`` and
    ``high`` bound what a working sensor can report at all.
    """

    name: str
    programme: Programme
    unit: str
    low: float
    high: float
    interval_seconds: float
    baseline: float
    daily_swing: float
    noise: float
    fiware_entity: str | None = None
    fiware_attribute: str | None = None
    steady: bool = False
    """Whether a working sensor of this kind may report the very same value for long (a waste
    bin nobody uses, a lamp drawing its rated power, a small car park): no flatline is flagged."""
    intermittent: bool = False
    """Whether a working sensor of this kind idles at ``low`` for hours, then runs at a level anywhere in
    its range for a while (a charger between charging sessions, a test track between test runs): the
    jump from idle to running, of any size the range allows, is its normal variation."""

    def may_repeat(self, value: float) -> bool:
        """Whether a working sensor may report ``value`` many times over: any value for a steady
        kind, and for every kind a value at the edge of its range (a full car park, a solar
        panel at night, an idle charger).

        >>> KINDS["solar_power"].may_repeat(0.0), KINDS["solar_power"].may_repeat(212.5)
        (True, False)
        """
        return self.steady or value <= self.low or value >= self.high

    @property
    def least_spread(self) -> float:
        """The spread of a working sensor's values that is normal whatever it reported lately: its
        measurement noise, and for an intermittent kind the spread of a running level that may lie
        anywhere in the range (a uniform's, ``(high - low) / sqrt(12)``). A detector that has seen a
        sensor only idle (or only steady) then does not take its normal variation for a rare event.

        >>> KINDS["temperature"].least_spread, round(KINDS["ev_charging_power"].least_spread, 1)
        (0.2, 101.0)
        """
        if self.intermittent:
            return max(self.noise, (self.high - self.low) / math.sqrt(12.0))
        return self.noise

    @property
    def alternative_units(self) -> dict[str, Conversion]:
        """Units a sensor of this kind may also report in, with their conversion."""
        return ALTERNATIVE_UNITS.get(self.unit, {})


_CATALOG: tuple[SensorKind, ...] = (
    # urban life
    SensorKind(
        "air_pm25",
        Programme.URBAN_LIFE,
        "ug/m3",
        0.0,
        1000.0,
        60,
        22.0,
        10.0,
        2.0,
        "AirQualityObserved",
        "pm25",
    ),
    SensorKind(
        "air_pm10",
        Programme.URBAN_LIFE,
        "ug/m3",
        0.0,
        2000.0,
        60,
        38.0,
        15.0,
        3.0,
        "AirQualityObserved",
        "pm10",
    ),
    SensorKind(
        "air_no2",
        Programme.URBAN_LIFE,
        "ug/m3",
        0.0,
        2000.0,
        60,
        30.0,
        14.0,
        2.5,
        "AirQualityObserved",
        "no2",
    ),
    SensorKind(
        "noise_level",
        Programme.URBAN_LIFE,
        "dB(A)",
        0.0,
        160.0,
        60,
        58.0,
        9.0,
        1.5,
        "NoiseLevelObserved",
        "LAeq",
    ),
    SensorKind(
        "temperature",
        Programme.URBAN_LIFE,
        "Cel",
        -50.0,
        60.0,
        300,
        14.0,
        5.0,
        0.2,
        "WeatherObserved",
        "temperature",
    ),
    SensorKind(
        "humidity",
        Programme.URBAN_LIFE,
        "%",
        0.0,
        100.0,
        300,
        62.0,
        12.0,
        1.0,
        "WeatherObserved",
        "relativeHumidity",
    ),
    SensorKind(
        "footfall",
        Programme.URBAN_LIFE,
        "count/min",
        0.0,
        10000.0,
        60,
        40.0,
        35.0,
        4.0,
        "CrowdFlowObserved",
        "peopleCount",
    ),
    SensorKind(
        "waste_fill",
        Programme.URBAN_LIFE,
        "%",
        0.0,
        100.0,
        900,
        45.0,
        10.0,
        1.0,
        "WasteContainer",
        "fillingLevel",
        steady=True,
    ),
    SensorKind(
        "water_level", Programme.URBAN_LIFE, "m", -5.0, 30.0, 300, 1.2, 0.1, 0.02, "WaterObserved", "height"
    ),
    # mobility
    SensorKind(
        "traffic_flow",
        Programme.MOBILITY,
        "veh/h",
        0.0,
        10000.0,
        60,
        700.0,
        550.0,
        40.0,
        "TrafficFlowObserved",
        "intensity",
    ),
    SensorKind(
        "traffic_speed",
        Programme.MOBILITY,
        "km/h",
        0.0,
        250.0,
        60,
        45.0,
        -12.0,
        3.0,
        "TrafficFlowObserved",
        "averageVehicleSpeed",
    ),
    SensorKind(
        "parking_occupancy",
        Programme.MOBILITY,
        "%",
        0.0,
        100.0,
        120,
        50.0,
        30.0,
        2.0,
        "ParkingSpot",
        "occupancy",
        steady=True,
    ),
    SensorKind(
        "ev_charging_power",
        Programme.MOBILITY,
        "kW",
        0.0,
        350.0,
        60,
        40.0,
        25.0,
        5.0,
        "EVChargingStation",
        "power",
        intermittent=True,
    ),
    SensorKind(
        "av_track_speed",
        Programme.MOBILITY,
        "km/h",
        0.0,
        250.0,
        30,
        30.0,
        10.0,
        4.0,
        None,
        None,
        intermittent=True,
    ),
    # renewable energy
    SensorKind(
        "solar_power",
        Programme.ENERGY,
        "kW",
        0.0,
        5000.0,
        60,
        0.0,
        400.0,
        8.0,
        "PhotovoltaicMeasurement",
        "outputCurrent",
    ),
    SensorKind(
        "wind_power",
        Programme.ENERGY,
        "kW",
        0.0,
        5000.0,
        60,
        300.0,
        120.0,
        30.0,
        "WindTurbine",
        "activePower",
    ),
    SensorKind(
        "battery_soc",
        Programme.ENERGY,
        "%",
        0.0,
        100.0,
        60,
        60.0,
        25.0,
        0.5,
        "EnergyStorage",
        "stateOfCharge",
    ),
    SensorKind(
        "grid_load",
        Programme.ENERGY,
        "kW",
        0.0,
        100000.0,
        60,
        1800.0,
        600.0,
        40.0,
        "EnergyConsumption",
        "activePower",
    ),
    SensorKind(
        "streetlight_power",
        Programme.ENERGY,
        "W",
        0.0,
        2000.0,
        300,
        0.0,
        150.0,
        3.0,
        "Streetlight",
        "powerConsumption",
        steady=True,
    ),
)

KINDS: dict[str, SensorKind] = {kind.name: kind for kind in _CATALOG}
