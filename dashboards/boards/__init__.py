"""The dashboards, one module each.

- ``city``: the city overview (``openlab-city``).
- ``district``: a district's sites ranked by anomaly activity (``openlab-district``).
- ``site``: a site and its sensors (``openlab-site``).
- ``quality``: what the pipeline dead-letters and why (``openlab-quality``).
- ``pipeline``: the pipeline's health (``openlab-pipeline``).
"""
