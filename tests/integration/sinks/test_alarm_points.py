"""Alarm points in the real InfluxDB: an alarm cleared and another opened by one reading, at one
instant and of one severity, are both kept, and the sensor is left with the active one.

Keyed as they were (tags up to the severity, the event time), the two were one point: InfluxDB
merged the opening's fields into the clearing's, so the cleared alarm's point was gone and the
sensor's latest ``alarm`` point said active with the new alarm's id alone.
"""

from __future__ import annotations

from typing import Any

from models.alarms import AlarmChange
from sensors import measurements
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter, alarm_line, influxql
from tests.unit.streams.test_point_identity import SENSOR, cleared_and_opened


async def alarm_rows(settings: Settings) -> list[dict[str, Any]]:
    query = (
        f'SELECT "alarm_id", "active", "sequence", "alarm_type", "change", "severity" '
        f'FROM "{measurements.ALARM}" WHERE "sensor_id" = \'{SENSOR}\''
    )
    return [
        dict(zip(series["columns"], row, strict=True))
        for series in await influxql(settings, query)
        for row in series["values"]
    ]


async def test_an_alarm_cleared_and_another_opened_at_one_instant_both_survive(
    pipeline_settings: Settings,
) -> None:
    cleared, fault = cleared_and_opened()
    assert cleared.updated_at == fault.updated_at and cleared.severity == fault.severity
    writer = InfluxWriter(pipeline_settings)
    try:
        # Both in one write, as the alarm step sends a reading's points; then the same write
        # again, as a batch taken again after a crash sends it.
        for _ in range(2):
            await writer.write([alarm_line(cleared), alarm_line(fault)])
    finally:
        await writer.close()
    rows = await alarm_rows(pipeline_settings)
    found = sorted(
        (row["time"], row["alarm_id"], row["change"], row["alarm_type"], row["active"], row["sequence"])
        for row in rows
    )
    at = int(cleared.updated_at.timestamp()) * 1_000_000_000
    assert found == sorted(
        [
            (at, cleared.alarm_id, AlarmChange.CLEARED.value, "anomaly", False, cleared.sequence),
            (at, fault.alarm_id, AlarmChange.OPENED.value, "sensor_fault", True, 0),
        ]
    )
    # Where the sensor stands: its one active alarm is the fault, and the anomaly's clearing
    # is there for the dashboards' annotations.
    active = [row["alarm_id"] for row in rows if row["active"]]
    assert active == [fault.alarm_id]
