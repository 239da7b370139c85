"""Congestion at road intersections: traffic crawling while it still flows, judged once a minute.

An intersection is judged for a minute (of event time) once both its ``traffic_flow`` and its
``traffic_speed`` sensors reported in it. Its *free speed* is learnt from its free-flowing
minutes (an exponentially weighted mean, raised at once by a faster minute); a minute is
congested when the speed is under half the free speed while at least ``MIN_FLOW`` vehicles an
hour pass. The congestion index is ``1 - speed / free_speed`` (0: free flow, 1: standstill).

>>> from datetime import UTC, datetime, timedelta
>>> start = datetime(2026, 11, 30, 8, tzinfo=UTC)
>>> state = Intersection()
>>> state, judged = observe(state, "traffic_flow", 900.0, start)
>>> judged is None
True
>>> state, judged = observe(state, "traffic_speed", 48.0, start + timedelta(seconds=20))
>>> judged.congested, judged.free_speed
(False, 48.0)
>>> state, _ = observe(state, "traffic_speed", 15.0, start + timedelta(minutes=1))
>>> state, _ = observe(state, "traffic_speed", 50.0, start + timedelta(minutes=2))
>>> state, judged = observe(state, "traffic_flow", 700.0, start + timedelta(minutes=1, seconds=5))
>>> judged.minute.minute, judged.congested, round(judged.index, 3)
(1, True, 0.688)
>>> observe(state, "traffic_flow", 650.0, start + timedelta(minutes=1, seconds=30))[1] is None  # judged
True
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel

from models.scoring import ScoredReading
from sensors.catalog import KINDS
from sensors.measurements import CONGESTION_FIELDS
from streams.agents import Batch, agent

FLOW, SPEED = "traffic_flow", "traffic_speed"

MIN_FLOW = 200.0
"""Vehicles an hour below which a slow intersection is quiet, not congested."""
CONGESTED_INDEX = 0.5
"""The index from which a minute is congested: under half the free speed."""
SEVERE_INDEX = 0.8
"""The index from which congestion is severe (its alarm one level graver)."""
LEARNING = 0.1
"""The weight of a free-flowing minute's speed in the free speed."""
WINDOW = timedelta(minutes=10)
"""How long a minute waits for its other sensor's reading."""


class Intersection(BaseModel):
    """What the agent remembers of one intersection: the flow and the speed of its minutes not
    judged yet, the minutes judged lately, and its free speed."""

    flows: dict[AwareDatetime, float] = {}
    speeds: dict[AwareDatetime, float] = {}
    judged: list[AwareDatetime] = []
    free_speed: float | None = None


class Congestion(BaseModel):
    """One intersection's minute: the event of ``agents.congestion.intersections``."""

    site_id: str = ""
    minute: AwareDatetime
    flow: float
    speed: float
    free_speed: float
    index: float
    congested: bool


def observe(
    state: Intersection, kind: str, value: float, at: datetime
) -> tuple[Intersection, Congestion | None]:
    """Take one reading of an intersection's flow or speed: its new state, and its minute's
    judgement once both sensors reported in that minute (once per minute). Minutes wait for
    their other sensor up to ``WINDOW`` behind the latest; a reading older is ignored."""
    minute = at.replace(second=0, microsecond=0)
    if minute in state.judged:
        return state, None
    horizon = max([*state.flows, *state.speeds, *state.judged, minute]) - WINDOW
    if minute < horizon:
        return state, None
    flows = {m: v for m, v in state.flows.items() if m >= horizon}
    speeds = {m: v for m, v in state.speeds.items() if m >= horizon}
    (flows if kind == FLOW else speeds)[minute] = value
    judged = [m for m in state.judged if m >= horizon]
    if minute not in flows or minute not in speeds:
        return Intersection(flows=flows, speeds=speeds, judged=judged, free_speed=state.free_speed), None
    flow, speed = flows.pop(minute), speeds.pop(minute)
    free = state.free_speed if state.free_speed is not None else speed
    index = max(0.0, 1.0 - speed / free) if free > 0 else 0.0
    congested = index >= CONGESTED_INDEX and flow >= MIN_FLOW
    if speed >= free:
        free = speed
    elif not congested:
        free += LEARNING * (speed - free)
    minute_judged = Congestion(
        minute=minute, flow=flow, speed=speed, free_speed=free, index=index, congested=congested
    )
    return Intersection(flows=flows, speeds=speeds, judged=[*judged, minute], free_speed=free), minute_judged


def verdict(speed_sensor: str, site_id: str, judged: Congestion) -> ScoredReading:
    """The minute as a scored reading of the intersection's speed sensor, for the alarm
    lifecycle: anomalous when congested, graver when severe."""
    probability = (0.9999 if judged.index >= SEVERE_INDEX else 0.999) if judged.congested else judged.index
    return ScoredReading(
        sensor_id=speed_sensor,
        site_id=site_id,
        kind=SPEED,
        value=judged.speed,
        unit=KINDS[SPEED].unit,
        observed_at=judged.minute,
        score=judged.index,
        probability=probability,
        threshold=0.999,
        anomalous=judged.congested,
        warming_up=False,
        expected_low=judged.free_speed * (1 - CONGESTED_INDEX),
        expected_high=judged.free_speed,
        detector="congestion@1",
    )


@agent("congestion", state=Intersection, outputs=("intersections",), kinds=(FLOW, SPEED), keyed_by="site")
def congestion(batch: Batch[Intersection]) -> None:
    """Congestion at road intersections, each minute, from their traffic flow and speed."""
    for item in batch.readings:
        reading, site = item.reading, item.site
        before = batch.state.get(site.site_id) or Intersection()
        state, judged = observe(before, reading.kind, reading.value, reading.observed_at)
        batch.state.put(site.site_id, state)
        if judged is None:
            continue
        judged = judged.model_copy(update={"site_id": site.site_id})
        batch.emit("intersections", site.site_id, judged)
        fields = judged.model_dump(include=set(CONGESTION_FIELDS))
        batch.point(judged.minute, fields, site=site)
        speed_sensor = next(sensor.sensor_id for sensor in site.sensors if sensor.kind == SPEED)
        batch.judge(verdict(speed_sensor, site.site_id, judged))
