"""The district dashboard (``openlab-district``): the district's sites ranked by anomaly activity
and by state, and how each programme's kinds behave (urban life, mobility, energy)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, timeseries
from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.models import common

from dashboards.influxql import InfluxQL, equals, label, matches, name, select
from dashboards.parts import DISTRICT_UID, bars, board, panel, site_link, sort_rows, transform
from dashboards.states import site_table
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


def programme_kinds(programme: Programme) -> timeseries.Panel:
    """The anomaly probability of each kind of ``programme`` in the district."""
    title = programme.value.replace("_", " ").capitalize()
    query = select(
        f"max({name('probability')}) AS {name('probability')}",
        measurements.READING,
        _IN_DISTRICT,
        equals("programme", programme.value),
        every=True,
        by=("kind",),
    )
    return (
        panel(
            timeseries.Panel(),
            f"{title}: anomaly probability by kind",
            f"For each kind the {title.lower()} programme measures in the district, the highest "
            "probability the detectors gave any of its readings of being anomalous, over time. A kind "
            "close to 1 for long is one to drill into; a spike shared by all kinds points at the district, "
            "not a sensor.",
            InfluxQL(query).alias("$tag_kind"),
            width=8,
            height=9,
        )
        .unit("percentunit")
        .min(0)
        .max(1)
    )


def dashboard() -> board_builder.Dashboard:
    """The district dashboard."""
    return board(
        DISTRICT_UID,
        "openlab: district",
        "One district (or All): which of its sites have the most anomalies and where each stands now, and "
        "how the kinds of each programme behave.",
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
            ("Programmes", [programme_kinds(programme) for programme in Programme]),
        ],
        variables=[district_variable()],
    )
