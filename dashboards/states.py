"""Where sites and sensors stand now: the present-state queries over ``sensor_status``, and the
colours and transformations that show a state.

A sensor's present is the last value of each field of ``sensor_status``, however long ago it was
written (a point is written only when something changes), so these queries read all of the
measurement rather than the dashboard's time range. A site's state is the largest status code of
its sensors, a stale or flatlined sensor counting as ``STATUS_CODES["unhealthy"]``: InfluxQL finds
each site's largest code and whether any sensor is unwell, Grafana's transformations take the
larger of the two.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import dashboard

from dashboards.influxql import InfluxQL, name, select
from dashboards.parts import (
    district_link,
    keep_rows,
    links,
    organize,
    panel,
    product,
    row_maximum,
    site_link,
    sort_rows,
)
from sensors import measurements
from sensors.measurements import STATUS_CODES

STATUS_COLOURS = {
    "normal": "green",
    "unhealthy": "blue",
    "anomalous": "yellow",
    "indeterminate": "light-orange",
    "warning": "orange",
    "minor": "dark-orange",
    "major": "red",
    "critical": "dark-red",
}
"""Each status's colour: green, blue for a sensor's own ill health, yellow for anomalous readings,
then orange to red by the severity of the active alarm."""

if set(STATUS_COLOURS) != set(STATUS_CODES):
    raise RuntimeError(
        f"STATUS_COLOURS must colour exactly the statuses of STATUS_CODES: {sorted(STATUS_CODES)}"
    )

ALARMED = STATUS_CODES["indeterminate"]
"""The lowest code of a sensor with an active alarm (its severity); lower codes have none."""

STATE = "state"
"""The field the site-state transformations add: a status code."""

_UNWELL = ("stale", "flatline")
_SITE = ("site_id", "district")


def status_mappings() -> list[dashboard.ValueMapping]:
    """A status code shown as its name, in its colour."""
    options = {
        str(code): dashboard.ValueMappingResult(text=status, color=STATUS_COLOURS[status], index=index)
        for index, (status, code) in enumerate(sorted(STATUS_CODES.items(), key=lambda item: item[1]))
    }
    return [dashboard.ValueMap(options=options)]


def _each(aggregate: str, fields: Sequence[str]) -> str:
    """``aggregate`` of each of ``fields``, keeping the field's name."""
    return ", ".join(f"{aggregate}({name(field)}) AS {name(field)}" for field in fields)


def site_states(*conditions: str) -> InfluxQL:
    """One row per site (``site_id``, ``district``): its sensors' largest ``code``, whether any is
    ``stale`` or ``flatline`` (1 or 0), and its ``latitude`` and ``longitude``."""
    position = ("latitude", "longitude")
    per_sensor = select(
        _each("last", ("code", *_UNWELL, *position)),
        measurements.SENSOR_STATUS,
        *conditions,
        since=False,
        by=("sensor_id", *_SITE),
    )
    per_site = f"{_each('max', ('code', *_UNWELL))}, {_each('last', position)}"
    return InfluxQL(select(per_site, f"({per_sensor})", since=False, by=_SITE)).table()


def site_state_transformations() -> list[dashboard.DataTransformerConfig]:
    """From :func:`site_states` to each site's ``state`` code, keeping its id, district and position."""
    return [
        row_maximum(_UNWELL, "unwell"),
        product("unwell", STATUS_CODES["unhealthy"], "unwell code"),
        row_maximum(("code", "unwell code"), STATE),
        organize(hidden=("Time", "code", *_UNWELL, "unwell", "unwell code")),
    ]


def sensor_statuses(*conditions: str) -> InfluxQL:
    """One row per sensor (``sensor_id``, ``kind``, ``district``): its status ``code`` and name
    (``status``), and whether it is ``stale`` or ``flatline`` now."""
    columns = _each("last", ("code", "status", *_UNWELL))
    return InfluxQL(
        select(
            columns,
            measurements.SENSOR_STATUS,
            *conditions,
            since=False,
            by=("sensor_id", "kind", "district"),
        )
    ).table()


def site_table(
    title: str, description: str, *conditions: str, attention_only: bool, width: int, height: int
) -> table.Panel:
    """Sites where ``conditions`` hold, by state, gravest first (only those not normal if
    ``attention_only``), each linked to its drill-down and its district's dashboard."""
    rows = (
        [*site_state_transformations(), keep_rows(STATE, "greater", 0)]
        if attention_only
        else site_state_transformations()
    )
    return (
        panel(table.Panel(), title, description, site_states(*conditions), width=width, height=height)
        .transformations([*rows, sort_rows(STATE), organize(hidden=("latitude", "longitude"))])
        .override_by_name(STATE, state_cells())
        .override_by_name("site_id", [links(site_link())])
        .override_by_name("district", [links(district_link())])
        .no_value("Every site is normal" if attention_only else "No sites")
    )


def state_cells() -> list[dashboard.DynamicConfigValue]:
    """A table column of status codes shown as status names on their colour."""
    return [
        dashboard.DynamicConfigValue("mappings", status_mappings()),
        dashboard.DynamicConfigValue("custom.cellOptions", {"type": "color-background"}),
    ]
