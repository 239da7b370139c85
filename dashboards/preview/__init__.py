"""Dashboards drawn without Grafana, from the queries Grafana would run.

- ``draw``: a dashboard as one PNG.
- ``macros``: Grafana's InfluxQL macros and template variables.
- ``transformations``: Grafana's panel transformations.
"""
