"""A simulated city: one reading per sensor per tick, with daily rhythms, noise and rare spikes.

Deterministic for a seed. ``corrupt`` turns a good event into one of the malformed kinds that
field gateways really send, for exercising the dead-letter path.

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
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sensors.catalog import KINDS, SensorKind
from sensors.sites import SiteRegistry

_KST = timedelta(hours=9)


def daily_shape(kind: str, local_hour: float) -> float:
    """The typical daily profile of ``kind``, between -1 and 1, at a local (KST) hour."""
    if kind in {"traffic_flow", "traffic_speed", "noise_level", "air_no2", "footfall", "av_track_speed"}:
        # Two rush hours, 08:00 and 18:00, quiet nights.
        morning = math.exp(-((local_hour - 8.0) ** 2) / 3.0)
        evening = math.exp(-((local_hour - 18.0) ** 2) / 4.0)
        night = 1.0 if 0 <= local_hour < 5 else 0.0
        return morning + evening - 0.6 * night
    if kind == "solar_power":
        return max(0.0, math.sin(math.pi * (local_hour - 6.5) / 11.0))
    if kind == "streetlight_power":
        return 1.0 if local_hour < 6.5 or local_hour >= 18.0 else 0.0
    if kind == "humidity":
        return math.cos(2 * math.pi * (local_hour - 5.0) / 24.0)
    # Temperature, load, occupancy and the rest peak mid-afternoon.
    return math.sin(2 * math.pi * (local_hour - 9.0) / 24.0)


def _reading_json(
    sensor_id: str, site_id: str, kind: SensorKind, value: float, stamp: str, seq: int
) -> bytes:
    # Hand-built JSON: this is the simulator's hot path, and every field is already safe.
    return (
        f'{{"sensor_id":"{sensor_id}","site_id":"{site_id}","kind":"{kind.name}",'
        f'"value":{value!r},"unit":"{kind.unit}","observed_at":"{stamp}","seq":{seq}}}'
    ).encode()


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


def corrupt(event: bytes, how: Malformation, at: datetime) -> bytes:
    """A malformed copy of the well-formed event ``event``, broken in the way ``how`` names."""
    if how is Malformation.NOT_JSON:
        return event[: len(event) // 2]
    if how is Malformation.BINARY:
        return b"\xff\xfe\x00" + event[:8]
    fields = json.loads(event)
    match how:
        case Malformation.WRONG_TYPE:
            fields["value"] = str(fields["value"])
        case Malformation.MISSING_FIELD:
            del fields["seq"]
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


class CitySimulator:
    """Readings for every sensor of a registry, tick by tick."""

    def __init__(self, registry: SiteRegistry, seed: int = 0, spike_rate: float = 0.0005) -> None:
        self.rng = random.Random(seed)
        self.spike_rate = spike_rate
        self._sensors = [
            (sensor.sensor_id, site.site_id, KINDS[sensor.kind], self.rng.uniform(0.8, 1.2))
            for site, sensor in registry.sensors()
        ]
        self._seq = [0] * len(self._sensors)

    def tick(self, at: datetime) -> list[tuple[bytes, bytes]]:
        """One reading from every sensor at event time ``at``: ``(key, value)`` pairs."""
        rng = self.rng
        at = at.astimezone(UTC)
        local_hour = ((at + _KST).hour + (at + _KST).minute / 60.0) % 24
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        events = []
        for index, (sensor_id, site_id, kind, scale) in enumerate(self._sensors):
            shape = daily_shape(kind.name, local_hour)
            value = scale * (kind.baseline + kind.daily_swing * shape)
            # Noise rides on a signal; a plant at night or a lamp by day reports a true zero.
            if value > 0 or kind.baseline != 0:
                value += rng.gauss(0.0, kind.noise)
            if rng.random() < self.spike_rate:
                value += rng.choice((-1, 1)) * 12 * (kind.noise + abs(kind.daily_swing) * 0.2)
            value = min(max(value, kind.low), kind.high)
            seq = self._seq[index] = self._seq[index] + 1
            events.append((sensor_id.encode(), _reading_json(sensor_id, site_id, kind, value, stamp, seq)))
        return events
