"""openlab's Grafana dashboards as code, and what proves them.

- one module per dashboard: :mod:`dashboards.boards.city`, :mod:`dashboards.boards.district`,
  :mod:`dashboards.boards.site`, :mod:`dashboards.boards.quality`, :mod:`dashboards.boards.pipeline`, built
  from
  :mod:`dashboards.parts`, :mod:`dashboards.variables`, :mod:`dashboards.states` and the InfluxQL
  query type of :mod:`dashboards.influxql`;
- :mod:`dashboards.build`: every dashboard's JSON, the data source, the provisioning files;
- :mod:`dashboards.checks`: checks of the JSON (ids, data sources, variables, links);
- :mod:`dashboards.deploy`: into a running Grafana through its HTTP API;
- :mod:`dashboards.preview.macros`: the queries as Grafana sends them (macros, template variables);
- :mod:`dashboards.preview.draw` and :mod:`dashboards.preview.transformations`: PNGs from the same queries.

It reads only the schema in :mod:`sensors.measurements`, never ``streams``.
"""
