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
)
