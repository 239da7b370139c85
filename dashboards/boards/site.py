"""The site and sensor drill-down (``openlab-site``): a site's readings against the range its
models expect, the anomaly probability against the threshold, where its sensors stand, its
alarms (also as annotations: opened, escalated, acknowledged, cleared) and its data-quality events.

Chosen with ``$district``, ``$owner``, ``$site``, ``$kind`` and ``$sensor``, each narrowing the next.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import dashboard as model

from dashboards.influxql import DATASOURCE, EventsQuery, InfluxQL, columns, label, latest, name, select
from dashboards.parts import SCORED, SITE_UID, board, organize, panel
from dashboards.states import sensor_statuses, state_cells
from dashboards.variables import site_filters, site_variables
from sensors import measurements

LISTED = 200
"""How many events, the latest first, an event table lists."""

SERIES = "$tag_sensor_id $col"
"""Series names: the sensor, then the column."""


def _per_sensor(columns: str, *conditions: str) -> InfluxQL:
    """``columns`` of the chosen sensors' readings (those meeting ``conditions``), per interval, one
    series per sensor and column."""
    readings = measurements.READING
    query = select(columns, readings, *site_filters(readings), *conditions, every=True, by=("sensor_id",))
    return InfluxQL(query).alias(SERIES)


def _dashed(pattern: str) -> timeseries.Panel:
    """Overrides the series whose name matches ``pattern`` into thin dashed lines."""
    return timeseries.Panel().override_by_regexp(
        pattern,
        [
            model.DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
            model.DynamicConfigValue("custom.lineWidth", 1),
        ],
    )


def value_against_range() -> timeseries.Panel:
    columns = (
        f"mean({name('value')}) AS {name('value')}, min({name('expected_low')}) AS {label('expected low')}, "
        f"max({name('expected_high')}) AS {label('expected high')}"
    )
    return panel(
        _dashed(".* expected (low|high)$"),
        "Value against expected range",
        "Each chosen sensor's readings (solid) between the lowest and highest value its model expected "
        "(dashed). A reading outside its range is what the detector scores as unlikely; a range that "
        "widens is a model still learning or a sensor turning noisy.",
        _per_sensor(columns),
        width=24,
        height=9,
    )


def probability_against_threshold() -> timeseries.Panel:
    columns = ", ".join(f"max({name(field)}) AS {name(field)}" for field in ("probability", "threshold"))
    return (
        panel(
            _dashed(".* threshold$"),
            "Anomaly probability against threshold",
            "The probability the detector gave each sensor's readings of being anomalous (solid), and the "
            "threshold above which a reading counts as anomalous (dashed). Readings above the threshold in a "
            "row open an alarm.",
            _per_sensor(columns, SCORED),
            width=24,
            height=8,
        )
        .unit("percentunit")
        .min(0)
        .max(1)
    )


def sensors_now() -> table.Panel:
    return (
        panel(
            table.Panel(),
            "Sensors now",
            "Where each chosen sensor stands now: its status (normal, anomalous, or its active alarm's "
            "severity) and whether it is stale (silent) or flatlined (stuck on one value), 1 for yes.",
            sensor_statuses(*site_filters(measurements.SENSOR_STATUS)),
            width=8,
            height=9,
        )
        .transformations([organize(hidden=("Time", "status"))])
        .override_by_name("code", [*state_cells(), model.DynamicConfigValue("displayName", "status")])
    )


def events(title: str, description: str, measurement: str, names: Sequence[str], width: int) -> table.Panel:
    """The latest events of ``measurement`` for the chosen sensors: the fields and tags ``names``."""
    query = latest(names, measurement, *site_filters(measurement), limit=LISTED)
    return panel(table.Panel(), title, description, InfluxQL(query).table(), width=width, height=9)


def alarm_events() -> board_builder.AnnotationQuery:
    """The chosen sensors' alarm events on the time axis: each its summary, tagged with its change
    (opened, escalated, acknowledged, cleared), severity, alarm type and sensor. One query for every
    change, so the annotations stand even where an alarm has not been acknowledged or cleared yet."""
    tags = ("change", "severity", "alarm_type", "sensor_id")
    query = select(
        columns(("summary", *tags)),
        measurements.ALARM,
        *site_filters(measurements.ALARM),
    )
    return (
        board_builder.AnnotationQuery()
        .name("Alarm events")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("red")
        .target(EventsQuery(query, text="summary", tags=tags))
    )


def dashboard() -> board_builder.Dashboard:
    """The site and sensor drill-down."""
    return board(
        SITE_UID,
        "openlab: site and sensor",
        "One site's sensors (or any choice of district, owner, site, kind and sensor): readings against "
        "what the models expect, anomaly probability, alarms and data-quality events.",
        [
            ("Readings", [value_against_range(), probability_against_threshold()]),
            (
                "Status and events",
                [
                    sensors_now(),
                    events(
                        "Alarm events",
                        f"The latest {LISTED} alarm events of the chosen sensors: opened, escalated, "
                        "acknowledged or cleared, with the alarm's type (anomaly, sensor_fault, a stream "
                        "agent's), state, severity and summary.",
                        measurements.ALARM,
                        (
                            "severity",
                            "sensor_id",
                            "alarm_type",
                            "change",
                            "state",
                            "probability",
                            "value",
                            "summary",
                            "alarm_id",
                        ),
                        width=16,
                    ),
                    events(
                        "Data-quality events",
                        f"The latest {LISTED} health episodes of the chosen sensors: stale (silent too "
                        "long), flatline (the same value too long) or gap (sequence numbers that never "
                        "arrived), open or closed, with how long they lasted.",
                        measurements.SENSOR_HEALTH,
                        ("problem", "sensor_id", "kind", "open", "duration_seconds", "readings", "detail"),
                        width=24,
                    ),
                ],
            ),
        ],
        variables=site_variables(),
        annotations=[alarm_events()],
    )
