"""How readings are laid out in InfluxDB: measurement, tag and field names.

Dashboards and the sink both read these names from here, so a query can never drift from
what the pipeline writes. A point's identity is measurement + tags + event time, so a reading
written twice (a replay, a retried batch) overwrites itself instead of appearing twice.
"""

from __future__ import annotations

READING = "reading"
"""One point per scored reading, at its event time (``observed_at``)."""

READING_TAGS = ("sensor_id", "site_id", "kind", "district", "programme")
READING_FIELDS = (
    "value",
    "seq",
    "score",
    "threshold",
    "anomalous",
    "expected_low",
    "expected_high",
    "probability",
    "warming_up",
    "detector",
)

SENSOR_HEALTH = "sensor_health"
"""One point per health episode of a sensor (stale, flatline, gap), at the episode's start: the
episode's closing overwrites its opening, so a point says how the episode stands."""

SENSOR_HEALTH_TAGS = ("sensor_id", "site_id", "kind", "district", "problem")
SENSOR_HEALTH_FIELDS = ("open", "end", "duration_seconds", "readings", "detail")

PIPELINE = "pipeline"
"""Events each worker's stages took in an interval, by outcome and reason (counts, not totals)."""

PIPELINE_TAGS = ("worker", "stage", "outcome", "reason")
PIPELINE_FIELDS = ("events",)

CLEAN_STAGE = "clean"
"""The ``stage`` of the cleaning stage (the others: score, sink, health, alarm, operator)."""
REJECTED = "rejected"
"""The ``outcome`` of an event sent to the dead letters (its ``reason``: a ``sensors.cleaning.Reason``)."""
NO_REASON = "none"
"""The ``reason`` of an outcome that needs none."""

SINK = "sink"
"""Each worker's InfluxDB writes in an interval: batches, points, retries and time spent."""

SINK_TAGS = ("worker",)
SINK_FIELDS = ("batches", "points", "retries", "write_seconds")

WORKER = "worker"
"""Each worker's standing, every metrics interval: the ``readings.raw`` partitions it owns and its
consumer lag on them (events in the topic it has not read yet)."""

WORKER_TAGS = ("worker",)
WORKER_FIELDS = ("partitions", "lag")

MODEL = "model"
"""Each sensor's detector when it is checkpointed (:mod:`models.detectors.inspection`), at the event time of
the
reading it learnt last: readings learnt, warm-up, threshold, the quantiles of its latest probabilities,
the range it expected, and the drift of its inputs (River's ADWIN on the values)."""

MODEL_TAGS = ("sensor_id", "detector")
MODEL_FIELDS = (
    "readings_learnt",
    "warming_up",
    "threshold",
    "drift_mean",
    "drift_window",
    "drifts",
    "probability_p50",
    "probability_p90",
    "probability_p99",
    "probability_max",
    "expected_low",
    "expected_high",
)

ALARM = "alarm"
"""One point per alarm event (opened, escalated, acknowledged, cleared), at the event time of
the change. The alarm's type and the change are tags: one reading can clear a sensor's alarm
of one type and open one of another (a sensor fault clears the anomaly it explains), and an
operator's command can land at the instant of a reading's event, so without them two events of
one sensor at one instant would be one point. Readings move each alarm type of a sensor at most
once per instant (a reading no later than the sensor's latest is ignored); what could still share
a point is an operator's command stamped at the very microsecond of another alarm's event of the
same sensor, type and change."""

ALARM_TAGS = ("sensor_id", "site_id", "kind", "district", "owner_id", "severity", "alarm_type", "change")
ALARM_FIELDS = (
    "alarm_id",
    "state",
    "sequence",
    "active",
    "flapping",
    "probability",
    "score",
    "value",
    "summary",
)

SENSOR_STATUS = "sensor_status"
"""Where each sensor stands, for maps and "what is wrong right now": a point whenever a sensor's
status changes (field ``code``/``status``, from the alarm agent, at the reading's event time) and
whenever a stale or flatline episode opens or closes (field ``stale``/``flatline``, 1 or 0, from
the health agent, at the episode's start or end). ``last()`` of each field is the sensor's
present; a site's state is the largest code of its sensors, an unhealthy sensor counting as
``STATUS_CODES["unhealthy"]``."""

SENSOR_STATUS_TAGS = ("sensor_id", "site_id", "kind", "district", "programme", "owner_id")
SENSOR_STATUS_FIELDS = ("code", "status", "stale", "flatline", "latitude", "longitude")

STATUS_CODES = {
    "normal": 0,
    "unhealthy": 1,
    "anomalous": 2,
    "indeterminate": 3,
    "warning": 4,
    "minor": 5,
    "major": 6,
    "critical": 7,
}
"""A sensor's (and a site's) status as a number, graver is higher: anomalous readings without
an alarm yet, then an active alarm by its severity."""

AGENT_PREFIX = "agent_"
"""A stream agent's points go to a measurement of its own: this prefix and its name."""


def agent_measurement(name: str) -> str:
    """The measurement of the stream agent ``name``.

    >>> agent_measurement("congestion")
    'agent_congestion'
    """
    return f"{AGENT_PREFIX}{name}"


CONGESTION = agent_measurement("congestion")
"""The example agent's (``examples/congestion``): one point per road intersection and minute of
event time in which both its flow and its speed sensors reported, at the minute's start."""

CONGESTION_TAGS = ("site_id", "district", "programme", "owner_id")
CONGESTION_FIELDS = ("flow", "speed", "free_speed", "index", "congested")
