"""The city overview (``openlab-city``): every site on a map in the colour of its state, the active
alarms by severity and by district, how much the pipeline takes in and dead-letters, and the
congestion at intersections (the example stream agent's)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, geomap, stat, table
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import geomap as geomap_model

from dashboards.influxql import InfluxQL, equals, label, name, select
from dashboards.parts import (
    CITY_UID,
    CLEAN,
    REJECTED,
    bars,
    board,
    district_link,
    events_per_second,
    group_rows,
    join_by_time,
    keep_rows,
    links,
    organize,
    panel,
    ratio,
    reduced,
    site_link,
    sort_rows,
    totals,
)
from dashboards.states import (
    ALARMED,
    STATE,
    sensor_statuses,
    site_state_transformations,
    site_states,
    site_table,
    status_mappings,
)
from sensors import measurements


def readings_per_second() -> stat.Panel:
    return (
        panel(
            stat.Panel(),
            "Readings per second",
            "Readings the pipeline takes in per second (every outcome of the clean stage), averaged over "
            "the time range; the sparkline shows it over time. A drop to zero means the feeds or the workers "
            "have stopped.",
            events_per_second(equals("stage", CLEAN)),
            width=6,
            height=6,
        )
        .reduce_options(reduced("mean"))
        .graph_mode(common.BigValueGraphMode.AREA)
        .unit("short")
        .decimals(1)
    )


def _events(column: str, condition: str) -> InfluxQL:
    """The pipeline's events matching ``condition``, per interval, in a column named ``column``."""
    events = f"sum({name('events')}) AS {label(column)}"
    return InfluxQL(select(events, measurements.PIPELINE, condition, every=True, fill="0")).table()


def dead_lettered_share() -> stat.Panel:
    return (
        panel(
            stat.Panel(),
            "Readings dead-lettered",
            "The share of the readings taken in that went to the dead-letter topic over the time range "
            "(rejected at any stage, whatever the reason). Above a few percent a feed is sending bad input: "
            "the data-quality dashboard says which reasons.",
            _events("dead-lettered", equals("outcome", REJECTED)),
            _events("taken in", equals("stage", CLEAN)),
            width=6,
            height=6,
        )
        .transformations(
            [join_by_time(), totals(), ratio("dead-lettered", "taken in", "dead-lettered share")]
        )
        .reduce_options(reduced("lastNotNull"))
        .unit("percentunit")
        .decimals(2)
        .thresholds(
            board_builder.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(
                [
                    model.Threshold(value=None, color="green"),
                    model.Threshold(value=0.01, color="yellow"),
                    model.Threshold(value=0.05, color="red"),
                ]
            )
        )
    )


def _active_alarms(title: str, description: str, *grouping: model.DataTransformerConfig) -> bargauge.Panel:
    """Sensors with an active alarm now (status code ``ALARMED`` or graver), counted by ``grouping``."""
    built = panel(bargauge.Panel(), title, description, sensor_statuses(), width=6, height=6).transformations(
        [
            keep_rows("code", "greaterOrEqual", ALARMED),
            *grouping,
            organize(hidden=("code (max)",), renamed={"sensor_id (count)": "active alarms"}),
        ]
    )
    return (
        bars(built)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .color_scheme(
            board_builder.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color("dark-orange")
        )
        .no_value("No active alarms")
    )


def alarms_by_severity() -> bargauge.Panel:
    return _active_alarms(
        "Active alarms by severity",
        "Sensors with an active alarm now, by the alarm's severity, gravest first (a sensor has at most one "
        "active alarm).",
        group_rows("status", "sensor_id", keeping_max="code"),
        sort_rows("code (max)"),
    )


def alarms_by_district() -> bargauge.Panel:
    return _active_alarms(
        "Active alarms by district",
        "Sensors with an active alarm now, by district, most first. Click a district to open its dashboard.",
        group_rows("district", "sensor_id"),
        sort_rows("sensor_id (count)"),
    ).data_links([district_link()])


def site_map() -> geomap.Panel:
    markers = (
        common_builder.MapLayerOptions()
        .type("markers")
        .name("Sites")
        .location(
            common_builder.FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.COORDS)
            .latitude("latitude")
            .longitude("longitude")
        )
        .tooltip(True)
        .config(
            {
                "showLegend": False,
                "style": {
                    "color": {"field": STATE, "fixed": "green"},
                    "opacity": 0.8,
                    "size": {"fixed": 6, "min": 2, "max": 15},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                },
            }
        )
    )
    return (
        panel(
            geomap.Panel(),
            "Sites by state",
            "Every site where its sensors stand now: green normal, blue a sensor stale or flatlined, yellow "
            "anomalous readings without an alarm yet, orange to dark red an active alarm by severity (a site "
            "takes its gravest sensor's colour). Click a site to open its drill-down.",
            site_states(),
            width=16,
            height=16,
        )
        .transformations(site_state_transformations())
        .view(geomap.MapViewConfig().id("fit").padding(20).all_layers(True))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(True).show_scale(True))
        .basemap(common_builder.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers])
        .tooltip(geomap.TooltipOptions().mode(geomap_model.TooltipMode.DETAILS))
        .override_by_name(STATE, [model.DynamicConfigValue("mappings", status_mappings())])
        .data_links([site_link()])
    )


CONGESTION_COLUMNS = ("index", "speed", "free_speed", "flow")


def congested_intersections() -> table.Panel:
    """The example stream agent's output (``examples/congestion``): each intersection's latest
    judged minute, most congested first."""
    latest = ", ".join(f"last({name(field)}) AS {name(field)}" for field in CONGESTION_COLUMNS)
    query = select(latest, measurements.CONGESTION, by=("site_id", "district"))
    return (
        panel(
            table.Panel(),
            "Congestion at intersections",
            "Each road intersection's latest minute as the congestion agent judged it from its flow "
            "and speed sensors together: the congestion index (0 free flow, 1 standstill: one less the "
            "speed over the intersection's free speed), the speed and free speed (km/h) and the flow "
            "(vehicles an hour). From an index of 0.5 with traffic flowing the minute is congested; three "
            "such minutes in a row raise an alarm on the intersection's speed sensor. Empty unless the "
            "worker runs the agent (OPENLAB_AGENTS). Click an intersection to open its drill-down.",
            InfluxQL(query).table(),
            width=24,
            height=8,
        )
        .transformations([sort_rows("index"), organize(hidden=("Time",))])
        .override_by_name("index", [model.DynamicConfigValue("unit", "percentunit")])
        .override_by_name("site_id", [links(site_link())])
        .override_by_name("district", [links(district_link())])
        .no_value("No intersection judged: is the congestion agent running?")
    )


def dashboard() -> board_builder.Dashboard:
    """The city overview."""
    return board(
        CITY_UID,
        "openlab: city overview",
        "The whole city at a glance: which sites need attention, the active alarms, and whether the "
        "pipeline is taking readings in.",
        [
            (
                "Now",
                [
                    readings_per_second(),
                    dead_lettered_share(),
                    alarms_by_severity(),
                    alarms_by_district(),
                ],
            ),
            (
                "Sites",
                [
                    site_map(),
                    site_table(
                        "Sites needing attention",
                        "Sites not in the normal state now, gravest first: an active alarm (by severity), "
                        "anomalous readings, or a stale or flatlined sensor. Click a site to open its "
                        "drill-down.",
                        attention_only=True,
                        width=8,
                        height=16,
                    ),
                ],
            ),
            ("Traffic", [congested_intersections()]),
        ],
    )
