"""Labelled anomalies: the sensor faults and real-world events the simulator injects, as ground truth.

A ``Label`` says that the readings of one sensor between ``start`` and ``end`` (event time, both
inclusive) are not what the city really was (a sensor *fault*: spike, dip, level shift, drift,
flatline, dropout, noise burst), or that the city itself did something unusual there (a
*real-world event*, ``real_world=True``: an accident that slows a road). A detector is judged by
the labels: faults and events are both anomalies worth flagging; only faults are the sensor's
doing.

>>> from datetime import UTC, datetime
>>> label = Label(sensor_id="GJ-00007.traffic_speed", site_id="GJ-00007", kind="traffic_speed",
...               anomaly=AnomalyType.ACCIDENT, real_world=True,
...               start=datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
...               end=datetime(2026, 11, 29, 1, 40, tzinfo=UTC))
>>> label.model_dump_json()  # doctest: +NORMALIZE_WHITESPACE
'{"sensor_id":"GJ-00007.traffic_speed","site_id":"GJ-00007","kind":"traffic_speed",\
"anomaly":"accident","start":"2026-11-29T01:00:00Z","end":"2026-11-29T01:40:00Z","real_world":true}'
>>> label.covers(datetime(2026, 11, 29, 1, 40, tzinfo=UTC))
True

How the simulator injects them is :class:`~sensors.simulation.anomalies.AnomalyInjector`: a Poisson
process in event time over the city's sensors, independent of the measurement noise, so the same
seed with and without anomalies gives the same readings everywhere outside the labelled spans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, model_validator

from sensors.reading import Identifier

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AnomalyType(StrEnum):
    """What happened to the readings inside a label's span."""

    SPIKE = "spike"
    """One reading far above the truth."""
    DIP = "dip"
    """One reading far below the truth."""
    LEVEL_SHIFT = "level_shift"
    """Every reading offset by the same amount (a knock, a recalibration gone wrong)."""
    DRIFT = "drift"
    """An offset that grows steadily from (almost) nothing (a fouled or ageing sensor)."""
    FLATLINE = "flatline"
    """The same value repeated: the sensor is stuck at its first reading of the span."""
    DROPOUT = "dropout"
    """No readings at all (the sequence numbers skip: the sensor counted them, nobody received them)."""
    NOISE_BURST = "noise_burst"
    """Much larger random error than the sensor's own (interference, a loose contact)."""
    ACCIDENT = "accident"
    """A real-world event at a road intersection: flow and speed drop, and the noise with the flow."""


REAL_WORLD: frozenset[AnomalyType] = frozenset({AnomalyType.ACCIDENT})
"""The types that are the city's doing, not a sensor fault."""

ACCIDENT_KINDS: frozenset[str] = frozenset({"traffic_flow", "traffic_speed", "noise_level"})
"""The kinds an accident changes, at the intersection where it happens."""


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]


class Label(BaseModel):
    """Ground truth: the readings of ``sensor_id`` from ``start`` to ``end`` (inclusive) are anomalous.

    ``real_world`` is true for events that really happened in the city (an accident), false for
    sensor faults. Written to the ``labels`` topic (key = ``sensor_id``) and to JSON lines.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor_id: Identifier
    site_id: Identifier
    kind: Identifier
    anomaly: AnomalyType
    start: UtcTime
    end: UtcTime
    real_world: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"the span ends ({self.end}) before it starts ({self.start})")
        if self.real_world != (self.anomaly in REAL_WORLD):
            kind = "a real-world event" if self.anomaly in REAL_WORLD else "a sensor fault"
            raise ValueError(f"{self.anomaly.value} is {kind}: real_world must be {not self.real_world}")
        return self

    def covers(self, moment: datetime) -> bool:
        """Whether a reading observed at ``moment`` lies inside the span."""
        return self.start <= moment <= self.end


def as_datetime(micros: int) -> datetime:
    """A UTC time from integer microseconds since the epoch (the simulator's clock)."""
    return _EPOCH + timedelta(microseconds=micros)
