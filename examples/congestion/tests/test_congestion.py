"""The congestion agent on the real local stack (Kafka, InfluxDB), through openlab's test helpers:
an intersection flows freely, crawls for four minutes, then flows again; the agent is stopped
halfway through and started again from its changelog."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from openlab_congestion.agent import FLOW, SPEED, congestion

from models.alarms import AlarmChange
from models.scoring import ScoredReading
from sensors.measurements import CONGESTION, CONGESTION_FIELDS
from sensors.site import Site
from streams.agents.testing import run_agent, scored, sites_with
from streams.kafka.topics import TopicNames, read_values
from streams.settings import Settings

FREE, CRAWL = (900.0, 50.0), (800.0, 12.0)
MINUTES = [FREE] * 3 + [CRAWL] * 4 + [FREE] * 6
"""Flow (veh/h) and speed (km/h) of each minute."""


def _minutes(site: Site, start: datetime) -> list[ScoredReading]:
    """Each minute's flow and speed readings, the speed 20 s after the flow."""
    readings = []
    for n, (flow, speed) in enumerate(MINUTES):
        minute = start + timedelta(minutes=n)
        readings.append(scored(site, FLOW, flow, minute + timedelta(seconds=5)))
        readings.append(scored(site, SPEED, speed, minute + timedelta(seconds=25)))
    return readings


def test_an_intersection_that_crawls_is_judged_congested_and_alarmed_across_a_restart(
    openlab_settings: Settings,
) -> None:
    settings = openlab_settings
    site, other = sites_with(settings, FLOW, SPEED)[:2]
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    readings = _minutes(site, start)
    # Another intersection's flow alone: no minute of it is ever complete.
    lonely = [scored(other, FLOW, 500.0, start + timedelta(minutes=n)) for n in range(3)]
    halfway = 2 * 5  # two congested minutes in: the alarm's streak must survive the restart

    first = asyncio.run(run_agent(congestion, settings, readings[:halfway] + lonely))
    run = asyncio.run(run_agent(congestion, settings, readings[halfway:]))

    assert len(first.events["intersections"]) == 5
    events = run.events["intersections"]
    assert [key for key, _ in events] == [site.site_id] * len(MINUTES)
    assert [event["congested"] for _, event in events] == [speed == CRAWL[1] for _, speed in MINUTES]
    assert events[3][1]["free_speed"] == 50.0 and events[3][1]["index"] == 1 - 12.0 / 50.0
    assert {point["site_id"] for point in run.points} == {site.site_id}
    assert sorted(run.points[0]) == sorted(
        ["time", "district", "owner_id", "programme", "site_id", *CONGESTION_FIELDS]
    )
    assert sum(point["congested"] for point in run.points) == 4
    # Three congested minutes open an alarm on the speed sensor, five free ones clear it.
    speed_sensor = next(s.sensor_id for s in site.sensors if s.kind == SPEED)
    assert [(a.sensor_id, a.change) for a in run.alarms] == [
        (speed_sensor, AlarmChange.OPENED),
        (speed_sensor, AlarmChange.CLEARED),
    ]
    opened = run.alarms[0]
    assert opened.alarm_type == "congestion" and opened.severity.value == "minor"
    assert opened.first_anomalous_at == start + timedelta(minutes=3)
    owners = asyncio.run(read_values(settings, TopicNames.of(settings).owner(site.owner_id)))
    assert sorted(owners) == sorted(a.model_dump_json().encode() for a in run.alarms)
    assert run.dead_letters == []
    assert congestion.measurement == CONGESTION
