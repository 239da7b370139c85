"""openlab's Grafana dashboards as code, and what proves them.

- ``boards``: one module per dashboard (city, district, site, quality, pipeline).
- ``parts``, ``variables``, ``states``, ``influxql``: what the dashboards are made of.
- ``build``: every dashboard's JSON, the data source, the provisioning files.
- ``checks``: checks of the JSON (ids, data sources, variables, links).
- ``deploy``: into a running Grafana through its HTTP API.
- ``preview``: PNGs from the same queries, with Grafana's macros and transformations.

It reads only the schema in :mod:`sensors.measurements`, never ``streams``.
"""
