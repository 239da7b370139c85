"""Dashboards drawn without Grafana, from the queries Grafana would run.

- ``draw``: a dashboard as one PNG, laid out as Grafana lays it out.
- ``panels``: each panel drawn the way its type shows it.
- ``macros``: Grafana's InfluxQL macros and template variables.
- ``transformations``: Grafana's panel transformations.
"""
