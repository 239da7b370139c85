"""The data-quality dashboard (``openlab-quality``): what the pipeline dead-letters and why, the
duplicates and late readings it turns away, and the sensors gone stale or flatlined."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.influxql import InfluxQL, equals, label, latest, name, one_of, select
from dashboards.parts import (
    CLEAN,
    NO_REASON,
    QUALITY_UID,
    REJECTED,
    board,
    events_per_second,
    links,
    organize,
    panel,
    site_link,
    sort_rows,
)
from sensors import measurements
from sensors.cleaning import Reason
from sensors.health import OUT_OF_ORDER, Problem

TURNED_AWAY = (Reason.DUPLICATE, Reason.TOO_LATE)
"""The clean stage's reasons for refusing a reading that is well-formed but a duplicate or late."""

LET_THROUGH = ("accepted", OUT_OF_ORDER, "replayed")
"""The clean stage's outcomes for a reading it passes on (:class:`sensors.health.Admission`)."""

LISTED = 200
"""How many episodes, the latest first, the table of stale and flatlined sensors lists."""


def dead_letters_by_reason() -> timeseries.Panel:
    return (
        panel(
            timeseries.Panel(),
            "Dead letters by reason",
            "Events sent to the dead-letter topic per second, by reason (schema, not_json, out_of_range, "
            "unknown_sensor, ...). A new reason, or one that jumps, is a feed or a gateway sending something "
            "new.",
            events_per_second(equals("outcome", REJECTED), by=("reason",), alias="$tag_reason"),
            width=12,
            height=8,
        )
        .unit("short")
        .min(0)
    )


def duplicates_and_late() -> timeseries.Panel:
    which = f"({one_of('reason', TURNED_AWAY)} OR {one_of('outcome', LET_THROUGH)})"
    built = (
        panel(
            timeseries.Panel(),
            "Duplicates and late readings",
            "Readings per second the clean stage turned away as duplicate (a sequence number seen before: a "
            "gateway retrying) or too_late (further behind the sensor's latest reading than allowed: a feed "
            "that buffers), and, on the right axis for scale, those it let through: accepted, out_of_order "
            "(late but within the allowed lateness, kept and marked) and replayed (read again after a worker "
            "restart).",
            events_per_second(
                equals("stage", CLEAN), which, by=("outcome", "reason"), alias="$tag_outcome $tag_reason"
            ),
            width=24,
            height=8,
        )
        .unit("short")
        .min(0)
    )
    for reason in TURNED_AWAY:
        built.override_by_name(f"{REJECTED} {reason}", [model.DynamicConfigValue("displayName", reason)])
    for outcome in LET_THROUGH:
        built.override_by_name(
            f"{outcome} {NO_REASON}",
            [
                model.DynamicConfigValue("displayName", outcome),
                model.DynamicConfigValue("custom.axisPlacement", "right"),
            ],
        )
    return built


def dead_letters_by_stage() -> table.Panel:
    query = select(
        f"sum({name('events')}) AS {label('dead letters')}",
        measurements.PIPELINE,
        equals("outcome", REJECTED),
        by=("stage", "reason"),
    )
    return panel(
        table.Panel(),
        "Dead letters by stage and reason",
        "How many events each stage sent to the dead-letter topic in the time range, by reason, most "
        "first. The clean stage turns away bad input; a rejection at a later stage (score, sink, "
        "health, operator) is a fault of the pipeline itself.",
        InfluxQL(query).table(),
        width=12,
        height=8,
    ).transformations([sort_rows("dead letters"), organize(hidden=("Time",))])


def health_episodes() -> timeseries.Panel:
    query = select(
        f"count({name('detail')}) AS {label('episodes')}",
        measurements.SENSOR_HEALTH,
        every=True,
        by=("problem",),
        fill="0",
    )
    return (
        panel(
            timeseries.Panel(),
            "Sensor health episodes",
            "Episodes of sensor ill health starting in each interval, by problem: stale (silent too long), "
            "flatline (the same value too long), gap (sequence numbers that never arrived). A burst across "
            "many sensors points at a gateway or a network, not the sensors.",
            InfluxQL(query).alias("$tag_problem"),
            width=12,
            height=8,
        )
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .min(0)
    )


def stale_and_flatlined() -> table.Panel:
    columns = ("problem", "sensor_id", "site_id", "district", "kind", "open", "duration_seconds", "detail")
    query = latest(
        columns,
        measurements.SENSOR_HEALTH,
        one_of("problem", (Problem.STALE, Problem.FLATLINE)),
        limit=LISTED,
    )
    return panel(
        table.Panel(),
        "Stale and flatlined sensors",
        f"The latest {LISTED} stale or flatline episodes: which sensor, whether the episode is still "
        "open, how long it lasted. An open one is a sensor to send someone to. Click a site to open its "
        "drill-down.",
        InfluxQL(query).table(),
        width=12,
        height=8,
    ).override_by_name("site_id", [links(site_link())])


def dashboard() -> board_builder.Dashboard:
    """The data-quality dashboard."""
    return board(
        QUALITY_UID,
        "openlab: data quality",
        "What the pipeline turns away and why, and which sensors are unwell: dead letters, duplicates, late "
        "readings, stale and flatlined sensors.",
        [
            (
                "Dead letters",
                [
                    dead_letters_by_reason(),
                    dead_letters_by_stage(),
                ],
            ),
            ("Duplicates and late readings", [duplicates_and_late()]),
            ("Sensor health", [health_episodes(), stale_and_flatlined()]),
        ],
    )
