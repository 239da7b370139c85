"""The district dashboard (``openlab-district``): the district's sites ranked by anomaly activity
and by state, and, for each programme (urban life, mobility, energy), how its kinds stand now and
behave over time."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, table, timeseries
from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.models import common

from dashboards.influxql import InfluxQL, equals, label, matches, name, select
from dashboards.parts import (
    DISTRICT_UID,
    SCORED,
    Section,
    bars,
    board,
    group_rows,
    organize,
    panel,
    site_link,
    sort_rows,
    transform,
)
from dashboards.states import sensor_statuses, site_table, state_cells
from dashboards.variables import district_variable
from sensors import measurements
from sensors.catalog import Programme

RANKED = 15
"""How many sites the ranking shows."""

_IN_DISTRICT = matches("district", "district")


def sites_by_anomalies() -> bargauge.Panel:
    anomalous = f"count({name('value')}) AS {label('anomalous readings')}"
    query = select(
        anomalous,
        measurements.READING,
        _IN_DISTRICT,
        f"{name('anomalous')} = true",
        by=("site_id", "district"),
    )
    ranked = panel(
        bargauge.Panel(),
        "Sites by anomaly activity",
        f"The {RANKED} sites of the district with the most anomalous readings in the time range, most "
        "first: where to look first. Click a site to open its drill-down.",
        InfluxQL(query).table(),
        width=10,
        height=12,
    ).transformations([sort_rows("anomalous readings"), transform("limit", {"limitField": RANKED})])
    return (
        bars(ranked)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .data_links([site_link()])
        .no_value("No anomalous readings")
    )


def _title(programme: Programme) -> str:
    return programme.value.replace("_", " ").capitalize()


def kinds_now(programme: Programme) -> table.Panel:
    """How the kinds of ``programme`` stand now in the district: sensors, and the gravest status."""
    return (
        panel(
            table.Panel(),
            f"{_title(programme)}: kinds now",
            f"Each kind the {_title(programme).lower()} programme measures in the district: how many "
            "sensors, and the gravest status among them now (an active alarm's severity, anomalous, a "
            "stale or flatlined sensor, or normal), gravest first.",
            sensor_statuses(_IN_DISTRICT, equals("programme", programme.value)),
            width=8,
            height=8,
        )
        .transformations(
            [
                group_rows("kind", "sensor_id", keeping_max="code"),
                sort_rows("code (max)"),
                organize(renamed={"sensor_id (count)": "sensors", "code (max)": "gravest status"}),
            ]
        )
        .override_by_name("gravest status", state_cells())
    )


def kinds_over_time(programme: Programme) -> timeseries.Panel:
    """The mean anomaly probability of each kind of ``programme`` in the district, over time (the
    peak over hundreds of sensors sits near 1 by chance alone and tells nothing)."""
    query = select(
        f"mean({name('probability')}) AS {name('probability')}",
        measurements.READING,
        _IN_DISTRICT,
        equals("programme", programme.value),
        SCORED,
        every=True,
        by=("kind",),
    )
    return (
        panel(
            timeseries.Panel(),
            f"{_title(programme)}: anomaly probability by kind",
            f"For each kind the {_title(programme).lower()} programme measures in the district, the average "
            "probability the detectors gave its readings of being anomalous, over time. For working sensors "
            "it hovers around one half (a probability here is a rank); a kind whose average climbs has "
            "something unusual across the district (weather, an event), not one sick sensor: single "
            "sensors show in the ranking above.",
            InfluxQL(query).alias("$tag_kind"),
            width=16,
            height=8,
        )
        .unit("percentunit")
        .min(0)
        .max(1)
    )


def programme_section(programme: Programme) -> Section:
    """A row for ``programme``: its kinds now, and over time."""
    return _title(programme), [kinds_now(programme), kinds_over_time(programme)]


def dashboard() -> board_builder.Dashboard:
    """The district dashboard."""
    return board(
        DISTRICT_UID,
        "openlab: district",
        "One district (or All): which of its sites have the most anomalies and where each stands now, and "
        "how the kinds of each programme (urban life, mobility, energy) stand and behave.",
        [
            (
                "Sites",
                [
                    sites_by_anomalies(),
                    site_table(
                        "Sites by state",
                        "Every site of the district where its sensors stand now, gravest first: an active "
                        "alarm (by severity), anomalous readings, a stale or flatlined sensor, or normal. "
                        "Click a site to open its drill-down.",
                        _IN_DISTRICT,
                        attention_only=False,
                        width=14,
                        height=12,
                    ),
                ],
            ),
            *(programme_section(programme) for programme in Programme),
        ],
        variables=[district_variable()],
    )
