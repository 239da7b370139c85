"""The parts every openlab dashboard is made of: the dashboards' uids, a described panel on the
openlab data source, the board that numbers and lays out its panels, links and transformations.

Every dashboard is tagged ``openlab``, opens on the last 6 hours, refreshes every 30 s and links
to the others (a "dashboards" link to the ``openlab`` tag).
"""

from __future__ import annotations

import string
import typing
from collections.abc import Sequence
from itertools import count

from grafana_foundation_sdk.builders import bargauge, geomap, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common, dashboard

from dashboards.influxql import DATASOURCE, InfluxQL, name, per_second
from sensors import measurements

TAG = "openlab"
CITY_UID = "openlab-city"
DISTRICT_UID = "openlab-district"
SITE_UID = "openlab-site"
QUALITY_UID = "openlab-quality"
PIPELINE_UID = "openlab-pipeline"
UIDS = (CITY_UID, DISTRICT_UID, SITE_UID, QUALITY_UID, PIPELINE_UID)

TIME_RANGE = ("now-6h", "now")
REFRESH = "30s"

CLEAN = measurements.CLEAN_STAGE
REJECTED = measurements.REJECTED
NO_REASON = measurements.NO_REASON

SCORED = f"{name('warming_up')} = false"
"""The condition on ``reading`` that a detector past its warm-up scored it: the anomaly probability
of a reading scored during the warm-up means nothing."""

PanelBuilder = timeseries.Panel | stat.Panel | table.Panel | bargauge.Panel | geomap.Panel
P = typing.TypeVar("P", timeseries.Panel, stat.Panel, table.Panel, bargauge.Panel, geomap.Panel)


def panel(kind: P, title: str, description: str, *queries: InfluxQL, width: int, height: int) -> P:
    """``kind`` (a new panel builder) titled, described for the operator, sized on the 24-column
    grid, and querying the openlab data source with ``queries`` (refIds A, B, ...)."""
    kind.title(title).description(description).datasource(DATASOURCE).span(width).height(height)
    for ref_id, query in zip(string.ascii_uppercase, queries, strict=False):
        kind.with_target(query.ref_id(ref_id))
    return kind


def events_per_second(*conditions: str, by: Sequence[str] = (), alias: str | None = None) -> InfluxQL:
    """The pipeline's events matching ``conditions`` per second, one series per value of the ``by``
    tags, named by ``alias``."""
    query = InfluxQL(per_second("events", measurements.PIPELINE, *conditions, by=by))
    return query if alias is None else query.alias(alias)


def reduced(calculation: str) -> common_builder.ReduceDataOptions:
    """A stat's one value: ``calculation`` (``mean``, ``lastNotNull``, ...) over the time range."""
    return common_builder.ReduceDataOptions().calcs([calculation]).values(False)


def bars(built: bargauge.Panel) -> bargauge.Panel:
    """``built`` drawing a horizontal bar, from 0, for each row of its (last) table."""
    return (
        built.reduce_options(
            common_builder.ReduceDataOptions().values(True).calcs(["lastNotNull"]).fields("")
        )
        .orientation(common.VizOrientation.HORIZONTAL)
        .min(0)
        .decimals(0)
    )


Section = tuple[str, Sequence[PanelBuilder]]
"""A row's title and the panels under it, laid out left to right."""


def board(
    uid: str,
    title: str,
    description: str,
    sections: Sequence[Section],
    *,
    variables: Sequence[cogbuilder.Builder[dashboard.VariableModel]] = (),
    annotations: Sequence[cogbuilder.Builder[dashboard.AnnotationQuery]] = (),
) -> board_builder.Dashboard:
    """A dashboard of rows of panels, numbered in order (rows too, so every id is unique)."""
    built = (
        board_builder.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .time(*TIME_RANGE)
        .refresh(REFRESH)
        .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
        .readonly()
        .link(
            board_builder.DashboardLink("openlab")
            .type(dashboard.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .keep_time(True)
            .include_vars(False)
        )
    )
    ids = count(1)
    for row, panels in sections:
        built.with_row(board_builder.Row(row).id(next(ids)))
        for each in panels:
            built.with_panel(each.id(next(ids)))
    for variable in variables:
        built.with_variable(variable)
    for annotation in annotations:
        built.annotation(annotation)
    return built


def data_link(title: str, uid: str, **variables: str) -> board_builder.DashboardLink:
    """A link from a value to dashboard ``uid``, setting its template ``variables`` from the
    clicked row's fields (``site="site_id"`` sets ``$site`` to the row's ``site_id``) and keeping
    the time range."""
    query = "".join(f"var-{variable}=${{__data.fields.{field}}}&" for variable, field in variables.items())
    return board_builder.DashboardLink(title).url(f"/d/{uid}?{query}${{__url_time_range}}")


def site_link() -> board_builder.DashboardLink:
    """To the site drill-down of the clicked row's site (its ``district`` and ``site_id`` fields)."""
    return data_link("Open the site", SITE_UID, district="district", site="site_id")


def district_link() -> board_builder.DashboardLink:
    """To the district dashboard of the clicked row's ``district``."""
    return data_link("Open the district", DISTRICT_UID, district="district")


def links(*targets: board_builder.DashboardLink) -> dashboard.DynamicConfigValue:
    """Data links, as a field override property (on the field that names what they open)."""
    return dashboard.DynamicConfigValue("links", [target.build() for target in targets])


def transform(transformer: str, options: object) -> dashboard.DataTransformerConfig:
    """One of Grafana's transformations (``id`` and its options)."""
    return dashboard.DataTransformerConfig(id_val=transformer, options=options)


def row_maximum(fields: Sequence[str], alias: str) -> dashboard.DataTransformerConfig:
    """A new field ``alias``: the largest of ``fields`` in each row (a missing value counts as 0)."""
    reduce = {"include": list(fields), "reducer": "max", "nullValueMode": "null as zero"}
    return transform(
        "calculateField", {"mode": "reduceRow", "reduce": reduce, "alias": alias, "timeSeries": False}
    )


def product(field: str, factor: float, alias: str) -> dashboard.DataTransformerConfig:
    """A new field ``alias``: ``field`` times ``factor`` in each row."""
    binary = {
        "left": {"matcher": {"id": "byName", "options": field}},
        "operator": "*",
        "right": {"fixed": str(factor)},
    }
    return transform(
        "calculateField", {"mode": "binary", "binary": binary, "alias": alias, "timeSeries": False}
    )


def ratio(numerator: str, denominator: str, alias: str) -> dashboard.DataTransformerConfig:
    """A field ``alias``, ``numerator / denominator`` in each row, in place of all the others."""
    binary = {
        "left": {"matcher": {"id": "byName", "options": numerator}},
        "operator": "/",
        "right": {"matcher": {"id": "byName", "options": denominator}},
    }
    options = {"mode": "binary", "binary": binary, "alias": alias, "replaceFields": True, "timeSeries": False}
    return transform("calculateField", options)


def keep_rows(field: str, comparison: str, value: float) -> dashboard.DataTransformerConfig:
    """Only the rows whose ``field`` compares to ``value`` (``greater``, ``greaterOrEqual``, ...)."""
    condition = {"fieldName": field, "config": {"id": comparison, "options": {"value": value}}}
    return transform("filterByValue", {"filters": [condition], "match": "any", "type": "include"})


def group_rows(by: str, counting: str, keeping_max: str | None = None) -> dashboard.DataTransformerConfig:
    """One row per value of ``by``, counting the rows' ``counting`` field (``"<counting> (count)"``)
    and, if asked, the largest ``keeping_max`` (``"<keeping_max> (max)"``)."""
    fields: dict[str, object] = {
        by: {"operation": "groupby", "aggregations": []},
        counting: {"operation": "aggregate", "aggregations": ["count"]},
    }
    if keeping_max is not None:
        fields[keeping_max] = {"operation": "aggregate", "aggregations": ["max"]}
    return transform("groupBy", {"fields": fields})


def sort_rows(field: str) -> dashboard.DataTransformerConfig:
    """Rows sorted by ``field``, largest first."""
    return transform("sortBy", {"sort": [{"field": field, "desc": True}]})


def organize(
    hidden: Sequence[str] = (), renamed: dict[str, str] | None = None
) -> dashboard.DataTransformerConfig:
    """Fields ``hidden`` left out and fields ``renamed``."""
    return transform(
        "organize",
        {"excludeByName": dict.fromkeys(hidden, True), "renameByName": renamed or {}, "indexByName": {}},
    )


def join_by_time() -> dashboard.DataTransformerConfig:
    """The queries' frames joined into one, row by row on their time."""
    return transform("joinByField", {"byField": "Time", "mode": "outer"})


def totals() -> dashboard.DataTransformerConfig:
    """Each numeric field summed over all its rows, into one row."""
    return transform("reduce", {"mode": "reduceFields", "reducers": ["sum"], "includeTimeField": False})
