"""Template variables: tag values from InfluxDB, chained (district -> owner -> site -> kind -> sensor).

Each variable offers "All" as the regex ``.*`` (``allValue``) and queries filter with
``"tag" =~ /^$variable$/``, so All over 3,300 sites never becomes a 3,300-way regex.

>>> site_filters("reading")
['"district" =~ /^$district$/', '"site_id" =~ /^$site$/', '"kind" =~ /^$kind$/', '"sensor_id" =~ /^$sensor$/']
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as board_builder
from grafana_foundation_sdk.models import dashboard

from dashboards.influxql import DATASOURCE, SCHEMA, matches, name
from sensors import measurements

ALL = ".*"

SITE_CHAIN = (
    ("district", "District", "district"),
    ("owner", "Owner", "owner_id"),
    ("site", "Site", "site_id"),
    ("kind", "Kind", "kind"),
    ("sensor", "Sensor", "sensor_id"),
)
"""The site drill-down's variables, each narrowed by those before it: name, label, tag."""

_CHAIN_SOURCE = measurements.SENSOR_STATUS
"""The one measurement carrying every tag of the chain, owner included."""


def tag_variable(
    variable: str,
    label: str,
    measurement: str,
    tag: str,
    *narrowed_by: tuple[str, str],
    multi: bool = False,
) -> board_builder.QueryVariable:
    """``$variable``: the values of ``tag`` in ``measurement`` where the ``(tag, variable)`` pairs
    ``narrowed_by`` match (one value, or several if ``multi``), with "All" (``.*``) chosen when the
    dashboard opens."""
    query = f"SHOW TAG VALUES FROM {name(measurement)} WITH KEY = {name(tag)}"
    if narrowed_by:
        query += " WHERE " + " AND ".join(matches(key, value) for key, value in narrowed_by)
    return (
        board_builder.QueryVariable(variable)
        .label(label)
        .query(query)
        .datasource(DATASOURCE)
        .include_all(True)
        .all_value(ALL)
        .multi(multi)
        .current(
            dashboard.VariableOption(text=["All"], value=["$__all"])
            if multi
            else dashboard.VariableOption(text="All", value="$__all")
        )
        .refresh(dashboard.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dashboard.VariableSort.NATURAL_ASC)
    )


def district_variable() -> board_builder.QueryVariable:
    """``$district``, the first link of the chain."""
    variable, label, tag = SITE_CHAIN[0]
    return tag_variable(variable, label, _CHAIN_SOURCE, tag)


def site_variables() -> list[board_builder.QueryVariable]:
    """``$district``, ``$owner``, ``$site``, ``$kind`` and ``$sensor``, each narrowed by the ones before."""
    return [
        tag_variable(
            variable, label, _CHAIN_SOURCE, tag, *((key, before) for before, _, key in SITE_CHAIN[:position])
        )
        for position, (variable, label, tag) in enumerate(SITE_CHAIN)
    ]


def site_filters(measurement: str) -> list[str]:
    """The chain's conditions on ``measurement``, for the tags it has (``reading`` has no owner:
    there the owner narrows the choice of site, not the query)."""
    tags = SCHEMA[measurement][0]
    return [matches(tag, variable) for variable, _, tag in SITE_CHAIN if tag in tags]
