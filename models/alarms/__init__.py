"""Alarms: a sensor's anomalous readings become one alarm that opens, escalates and clears, without Kafka.

- :mod:`~models.alarms.rules`: when an alarm opens and clears, severities, states and changes.
- :mod:`~models.alarms.alarm`: an alarm as its events publish it, its evidence and its id.
- :mod:`~models.alarms.sensor`: one sensor's alarm state machine, and its changelog record.
- :mod:`~models.alarms.neighbours`: readings judged against their neighbours: a reading standing out
  alone, and a flow or noise level that fell with the speed at its intersection.

A single anomalous reading does not open an alarm unless it is far rarer than the detector's
threshold (``open_rarity`` times: a spike or a dip is one reading); a rule does (:class:`AlarmRules`):
``open_after`` anomalous readings in a row, or anomalous readings in a row that span
``open_after_seconds`` of event time. A sensor's own fault opens a *sensor-fault* alarm
(:data:`SENSOR_FAULT`) through the same lifecycle, whatever its detector says: its readings resuming
after ``gap_readings`` or more went missing (a dropout, judged by event time and the kind's interval), or
a reading the health stage flagged flatlined. Every alarm says why it opened (``reason``). While the
anomaly goes on the sensor has one active alarm (an anomaly or its fault, whichever opened first), which
is updated, never duplicated; it clears itself after ``clear_after`` normal readings in a row
(hysteresis), and an operator may acknowledge or clear it. An alarm that opens after
``flap_limit`` others opened within ``flap_window_seconds`` is *flapping*: it stays open through
the normal spells between anomalous ones and clears only after a whole quiet window, so an
open/clear cycle does not page anyone again and again.

The lifecycle (the states of ThingsBoard's alarms)::

    (rule holds) ──► active_unack ──ack──► active_ack
                          │                    │
            (clear_after normal readings, or an operator's clear)
                          ▼                    ▼
                     cleared_unack ──ack──► cleared_ack

Each change is one event, an :class:`Alarm` (the value of the ``alerts`` topic), with a
``change`` (opened, escalated, cleared, acknowledged) and a ``sequence`` number per alarm. The
alarm id is derived from the sensor, the alarm type and the time of the first anomalous reading,
so a replayed stream gives the same alarms; a reading no later than the last one the sensor's
state has seen is ignored, so a redelivered batch changes nothing. Only event time counts
(``observed_at``, and the time an operator acts), never the clock of the machine.

>>> from datetime import UTC, datetime, timedelta
>>> from models.scoring import ScoredReading
>>> from sensors.site import Site
>>> site = Site(site_id="GJ-00001", name="Bus stop 1", facility="bus_stop", programme="urban_life",
...             district="Dong-gu", latitude=35.146, longitude=126.923, owner_id="owner-01",
...             sensors=[{"sensor_id": "GJ-00001.air_pm25", "kind": "air_pm25"}])
>>> start = datetime(2026, 11, 30, tzinfo=UTC)
>>> def scored(minute, value, probability):
...     return ScoredReading.model_construct(
...         sensor_id="GJ-00001.air_pm25", site_id="GJ-00001", kind="air_pm25", value=value,
...         unit="ug/m3", observed_at=start + timedelta(minutes=minute), seq=minute, quality=(),
...         score=0.0, probability=probability, threshold=0.999, anomalous=probability >= 0.999,
...         warming_up=False, expected_low=10.0, expected_high=35.0, detector="seasonal_likelihood@2")
>>> alarms = SensorAlarms("GJ-00001.air_pm25", AlarmRules(open_after=3, clear_after=2, open_rarity=100.0))
>>> [alarms.observe(scored(m, 300.0, 0.9999), site) for m in range(3)][-1][0].change
<AlarmChange.OPENED: 'opened'>
>>> opened = alarms.current
>>> opened.reason
'3 anomalous readings in a row'
>>> opened.state, opened.severity, opened.first_anomalous_at.isoformat()
(<AlarmState.ACTIVE_UNACK: 'active_unack'>, <Severity.MINOR: 'minor'>, '2026-11-30T00:00:00+00:00')
>>> alarms.observe(scored(3, 900.0, 0.9999), site)  # still anomalous, same severity: nothing new
[]
>>> alarms.observe(scored(4, 20.0, 0.2), site), alarms.observe(scored(5, 21.0, 0.1), site)[0].state
([], <AlarmState.CLEARED_UNACK: 'cleared_unack'>)
>>> alarms.acknowledge(opened.alarm_id, start + timedelta(hours=1)).state
<AlarmState.CLEARED_ACK: 'cleared_ack'>
"""

from models.alarms.alarm import Alarm, Evidence, alarm_id
from models.alarms.rules import (
    ANOMALY,
    SAFETY_KINDS,
    SENSOR_FAULT,
    SUSPECT_FLAGS,
    AlarmChange,
    AlarmRules,
    AlarmState,
    Severity,
    rarity,
    severity_of,
)
from models.alarms.sensor import SensorAlarms

__all__ = [
    "ANOMALY",
    "SAFETY_KINDS",
    "SENSOR_FAULT",
    "SUSPECT_FLAGS",
    "Alarm",
    "AlarmChange",
    "AlarmRules",
    "AlarmState",
    "Evidence",
    "SensorAlarms",
    "Severity",
    "alarm_id",
    "rarity",
    "severity_of",
]
