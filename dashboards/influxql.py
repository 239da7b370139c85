"""InfluxQL for the dashboards: the raw-query target the SDK lacks, and the text of the queries.

The foundation SDK's Grafana 11.6 build has no InfluxDB query type, so :class:`Target` is the
query as Grafana's InfluxDB data source stores it (raw InfluxQL, ``rawQuery: true``), with
:class:`InfluxQL` its builder. Every measurement, tag and field a query names goes through
:func:`name`, which refuses a name :mod:`sensors.measurements` does not define: a query cannot
drift from what the pipeline writes.

Only InfluxQL that InfluxDB 1.8, 2.x (through DBRP mappings) and 3.x all answer is written here:
no ``SLIMIT``, ``SOFFSET`` or cardinality ``SHOW`` queries.

>>> select('max("probability")', "reading", matches("site_id", "site"), every=True, by=("sensor_id",))
'SELECT max("probability") FROM "reading" WHERE $timeFilter AND "site_id" =~ /^$site$/ \
GROUP BY time($__interval), "sensor_id" fill(none)'
>>> name("site")
Traceback (most recent call last):
...
ValueError: 'site' is no measurement, tag or field of sensors.measurements
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

from sensors import measurements

DATASOURCE_UID = "openlab-influxdb"
DATASOURCE = dashboard.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
"""The data source every panel, annotation and variable queries (provisioned by ``build.write``)."""

SCHEMA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    measurements.READING: (measurements.READING_TAGS, measurements.READING_FIELDS),
    measurements.SENSOR_HEALTH: (measurements.SENSOR_HEALTH_TAGS, measurements.SENSOR_HEALTH_FIELDS),
    measurements.PIPELINE: (measurements.PIPELINE_TAGS, measurements.PIPELINE_FIELDS),
    measurements.SINK: (measurements.SINK_TAGS, measurements.SINK_FIELDS),
    measurements.WORKER: (measurements.WORKER_TAGS, measurements.WORKER_FIELDS),
    measurements.ALARM: (measurements.ALARM_TAGS, measurements.ALARM_FIELDS),
    measurements.SENSOR_STATUS: (measurements.SENSOR_STATUS_TAGS, measurements.SENSOR_STATUS_FIELDS),
    measurements.MODEL: (measurements.MODEL_TAGS, measurements.MODEL_FIELDS),
    measurements.CONGESTION: (measurements.CONGESTION_TAGS, measurements.CONGESTION_FIELDS),
}
"""Each measurement's tags and fields, as :mod:`sensors.measurements` defines them."""

NAMES = frozenset(SCHEMA) | {n for tags, fields in SCHEMA.values() for n in (*tags, *fields)}
"""Every name a query may use for a measurement, a tag or a field."""

TIME_FILTER = "$timeFilter"
INTERVAL = "$__interval"

ResultFormat = typing.Literal["time_series", "table"]


def name(identifier: str) -> str:
    """A measurement, tag or field of :mod:`sensors.measurements`, double-quoted for InfluxQL."""
    if identifier not in NAMES:
        raise ValueError(f"{identifier!r} is no measurement, tag or field of sensors.measurements")
    return f'"{identifier}"'


def columns(names: Sequence[str]) -> str:
    """The measurement's fields and tags ``names``, for a ``SELECT`` of raw points."""
    return ", ".join(name(each) for each in names)


def label(text: str) -> str:
    """A column's new name (``AS "..."``), double-quoted for InfluxQL."""
    return '"' + text.replace('"', r"\"") + '"'


def literal(value: str) -> str:
    """A string value, single-quoted for InfluxQL."""
    return "'" + value.replace("'", r"\'") + "'"


def equals(key: str, value: str) -> str:
    """The condition that a tag or string field ``key`` holds ``value``."""
    return f"{name(key)} = {literal(value)}"


def one_of(key: str, values: Iterable[str]) -> str:
    """The condition that a tag or string field ``key`` holds one of ``values``."""
    return f"{name(key)} =~ /^({'|'.join(values)})$/"


def matches(tag: str, variable: str) -> str:
    """The condition that ``tag`` matches the template variable ``variable``.

    The variable's "All" is the regex ``.*`` (``allValue``), so choosing All never expands into a
    regex of every value (3,300 sites).
    """
    return f"{name(tag)} =~ /^${variable}$/"


def select(
    columns: str,
    source: str,
    *conditions: str,
    every: bool = False,
    by: Sequence[str] = (),
    fill: str = "none",
    since: bool = True,
    tail: str = "",
) -> str:
    """``SELECT columns FROM source WHERE ...``: a measurement (or a subquery in parentheses).

    ``since`` keeps to the dashboard's time range (``$timeFilter``); ``every`` groups by
    ``time($__interval)`` and fills empty intervals with ``fill``; ``by`` groups by tags.
    """
    where = [TIME_FILTER] if since else []
    where += conditions
    query = f"SELECT {columns} FROM {source if source.startswith('(') else name(source)}"
    if where:
        query += " WHERE " + " AND ".join(where)
    groups = [f"time({INTERVAL})"] if every else []
    groups += [name(tag) for tag in by]
    if groups:
        query += " GROUP BY " + ", ".join(groups)
    if every:
        query += f" fill({fill})"
    return query + (f" {tail}" if tail else "")


def latest(names: Sequence[str], measurement: str, *conditions: str, limit: int) -> str:
    """The fields and tags ``names`` of the ``limit`` latest points of ``measurement`` in the time range."""
    return select(columns(names), measurement, *conditions, tail=f"ORDER BY time DESC LIMIT {limit}")


def per_second(field: str, measurement: str, *conditions: str, by: Sequence[str] = ()) -> str:
    """The rate per second of ``field``, a count per interval (not a running total), in each
    interval of the dashboard: the derivative of its running sum, so the rate stays right
    whatever ``$__interval`` is.
    """
    total = select(
        f"cumulative_sum(sum({name(field)})) AS {name(field)}",
        measurement,
        *conditions,
        every=True,
        by=by,
        fill="0",
    )
    return select(f"derivative({name(field)}, 1s) AS {label('per second')}", f"({total})", since=False, by=by)


class Target(cogvariants.Dataquery):
    """One raw InfluxQL query of a panel or an annotation, as Grafana's InfluxDB data source stores it."""

    def __init__(
        self,
        query: str,
        *,
        ref_id: str = "A",
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
    ) -> None:
        self.query = query
        self.ref_id = ref_id
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": DATASOURCE,
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[Target]):
    """Builds a :class:`Target`: time series by default, one table with :meth:`table`."""

    def __init__(self, query: str) -> None:
        self._internal = Target(query)

    def build(self) -> Target:
        return self._internal

    def ref_id(self, ref_id: str) -> typing.Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> typing.Self:
        """Rows and columns (tags as columns) rather than one series per tag set."""
        self._internal.result_format = "table"
        return self

    def alias(self, alias: str) -> typing.Self:
        """The series' name, with the data source's patterns: ``$tag_<key>``, ``$col``, ``$m``."""
        self._internal.alias = alias
        return self


class Events(dashboard.AnnotationTarget):
    """An annotation's InfluxQL query: an event per row, its text and tags from named columns."""

    def __init__(self, query: str, text: str, tags: Sequence[str]) -> None:
        super().__init__()
        self.query = query
        self.text = text
        self.tag_columns = tuple(tags)

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE,
            "fromAnnotations": True,
            "query": self.query,
            "rawQuery": True,
            "refId": "Anno",
            "resultFormat": "table",
            "tagsColumn": ",".join(self.tag_columns),
            "textColumn": self.text,
            "textEditor": True,
        }


class EventsQuery(cogbuilder.Builder[dashboard.AnnotationTarget]):
    """Builds :class:`Events`, for ``AnnotationQuery.target``."""

    def __init__(self, query: str, text: str, tags: Sequence[str]) -> None:
        self._internal = Events(query, text, tags)

    def build(self) -> Events:
        return self._internal
